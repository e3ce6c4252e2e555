"""Shared test helpers for the policy subsystem."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from redline.policy.store import PolicyStore
from redline.store.db import connect, migrate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "policy"


class ListSink:
    """An in-memory AuditSink (the real log is exercised in tests/integration)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    async def append(self, record: Mapping[str, Any]) -> int:
        self.records.append(dict(record))
        return len(self.records) - 1

    def of_type(self, *kinds: str) -> list[dict[str, Any]]:
        """Change records of these kinds, each with its `change` fields lifted beside actor, subject and time."""
        return [{**r, **r["change"]} for r in self.records if r["kind"] in kinds]


def policy_store(tmp_path: Path) -> PolicyStore:
    """A migrated SQLite store in `tmp_path`."""
    engine = connect(f"sqlite:///{tmp_path / 'redline.db'}")
    migrate(engine)
    return PolicyStore(engine)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
