"""What the rest of redline needs from the audit log: a durable append."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class AuditSink(Protocol):
    async def append(self, record: Mapping[str, Any]) -> int:
        """Append one record; return its index once it is durable (the caller may then respond)."""
        ...
