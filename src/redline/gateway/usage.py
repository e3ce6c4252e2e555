"""Recording which provider served each request, off the event loop and in batches.

Designation routing needs each tenant's first use of each provider and traffic by key and model. Writing
that per request would put a database transaction on the hot path, so a request only adds its use to an
in-memory batch (a list append under an uncontended lock: no thread is woken per request), and one thread
writes what gathered every `interval_s`, in one transaction whose size depends on how many distinct
(tenant, key, provider, model, day) pairs were seen, not on how many requests (see `PolicyStore.record_uses`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from redline.policy.store import Use

log = logging.getLogger(__name__)
FLUSH_INTERVAL_S = 0.5


class UsageRecorder:
    def __init__(self, record: Callable[[Sequence[Use]], None], interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.record, self.interval_s = record, interval_s
        self._lock = threading.Lock()
        self._batch: list[Use] = []
        self._noted = 0  # uses noted so far; `_written` catches up with it after each write
        self._written = 0
        self._done = threading.Condition(self._lock)
        self._wake = threading.Event()  # set when a batch starts gathering
        self._hurry = threading.Event()  # set by flush and close: write now, without waiting to gather
        self._stop = False
        self.thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self.thread.start()

    def __call__(self, tenant: str, key_id: str, provider: str, model: str, at: datetime) -> None:
        """Note one served request; returns at once."""
        with self._lock:
            self._batch.append((tenant, key_id, provider, model, at))
            self._noted += 1
            first = len(self._batch) == 1
        if first:
            self._wake.set()  # the only cross-thread wake-up: once per batch, not per request

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._hurry.wait(self.interval_s)  # let a batch gather
            with self._lock:
                self._wake.clear()
                self._hurry.clear()
                batch, self._batch = self._batch, []
                noted, stop = self._noted, self._stop
            try:
                if batch:
                    self.record(batch)
            except Exception:  # lost usage counts must not stop the writer
                log.exception("recording provider use failed")
            with self._lock:
                self._written = noted
                self._done.notify_all()
            if stop:
                return

    def flush(self) -> None:
        """Wait until every use noted so far is written."""
        with self._lock:
            target = self._noted
            if self._written >= target:
                return
            self._hurry.set()
            self._wake.set()
            self._done.wait_for(lambda: self._written >= target)

    def close(self) -> None:
        """Write what is queued, then stop."""
        with self._lock:
            self._stop = True
        self._hurry.set()
        self._wake.set()
        self.thread.join()
