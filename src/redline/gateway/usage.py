"""Recording which provider served each request, off the event loop.

Designation routing needs each tenant's first use of each provider and traffic by key and model. Writing
that per request would put a database transaction on the hot path, so requests only enqueue their use and one
thread writes them in order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime

Use = tuple[str, str, str, str, datetime]  # tenant, key id, provider, model, when
RecordUse = Callable[[str, str, str, str, datetime], None]

log = logging.getLogger(__name__)


class UsageRecorder:
    def __init__(self, record: RecordUse) -> None:
        self.record = record
        self.queue: queue.Queue[Use | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
        self.thread.start()

    def __call__(self, tenant: str, key_id: str, provider: str, model: str, at: datetime) -> None:
        """Note one served request; returns at once."""
        self.queue.put((tenant, key_id, provider, model, at))

    def _run(self) -> None:
        while True:
            use = self.queue.get()
            try:
                if use is None:
                    return
                self.record(*use)
            except Exception:  # a lost usage row must not stop the writer
                log.exception("recording provider use failed")
            finally:
                self.queue.task_done()

    def flush(self) -> None:
        """Wait until every use noted so far is written."""
        self.queue.join()

    def close(self) -> None:
        """Write what is queued, then stop."""
        self.queue.put(None)
        self.thread.join()
