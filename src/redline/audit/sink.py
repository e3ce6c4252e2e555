"""What the rest of redline needs from the audit log: a durable append."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, Protocol


class AuditSink(Protocol):
    def append(self, record: Mapping[str, Any]) -> Awaitable[int]:
        """Append one record; the awaitable gives its index once it is durable (the caller may then respond).

        `AuditLog.append` queues the record when called and returns a future, so a caller may start an append
        and await it later; a coroutine (`async def append`) starts when it is first awaited or scheduled.
        """
        ...
