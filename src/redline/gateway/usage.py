"""Recording which provider served each request, off the event loop and in batches.

Designation routing needs each tenant's first use of each provider and traffic by key and model. Writing
that per request would put a database transaction on the hot path (and a synchronous commit per request
on the writer), so requests only enqueue their use and one thread writes what gathered every
`interval_s`, in one transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from redline.policy.store import Use

log = logging.getLogger(__name__)
FLUSH_INTERVAL_S = 0.5


class UsageRecorder:
    def __init__(self, record: Callable[[Sequence[Use]], None], interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.record, self.interval_s = record, interval_s
        self.queue: queue.Queue[Use | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self.thread.start()

    def __call__(self, tenant: str, key_id: str, provider: str, model: str, at: datetime) -> None:
        """Note one served request; returns at once."""
        self.queue.put((tenant, key_id, provider, model, at))

    def _drain(self, first: Use | None) -> tuple[list[Use], bool]:
        """Everything queued after `first`; and whether close was asked for."""
        batch, stop = [], first is None
        if first is not None:
            batch.append(first)
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return batch, stop
            if item is None:
                stop = True
            else:
                batch.append(item)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is not None:
                time.sleep(self.interval_s)  # let a batch gather
            batch, stop = self._drain(first)
            try:
                if batch:
                    self.record(batch)
            except Exception:  # lost usage counts must not stop the writer
                log.exception("recording provider use failed")
            finally:
                for _ in range(len(batch) + stop):
                    self.queue.task_done()

    def flush(self) -> None:
        """Wait until every use noted so far is written."""
        self.queue.join()

    def close(self) -> None:
        """Write what is queued, then stop."""
        self.queue.put(None)
        self.thread.join()
