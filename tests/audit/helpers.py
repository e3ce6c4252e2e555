"""Shared pieces of the audit tests: databases to run against and records to append."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from redline.audit.checkpoint import Signer
from redline.audit.log import AuditLog
from redline.audit.records import DECISION, timestamp
from redline.config import AuditSettings
from redline.store.db import connect, migrate

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextmanager
def database(kind: str, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database URL: SQLite in `tmp_path`, or a throwaway PostgreSQL schema."""
    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
        engine = connect(url)
        migrate(engine)
        engine.dispose()
        yield url
        return
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            schema = f"audit_test_{uuid.uuid4().hex[:12]}"
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES}: {exc.orig}")
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    try:
        engine = connect(url)
        migrate(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


ORIGIN = "test.redline/audit"


def open_log(url: str, key_path: Path, **settings: Any) -> AuditLog:
    signer = Signer.load_or_create(key_path, ORIGIN)
    return AuditLog(connect(url), signer, AuditSettings(log_origin=ORIGIN, **settings))


def record(n: int, prefix: str = "dec") -> dict[str, object]:
    return {"kind": DECISION, "time": timestamp(), "decision_id": f"{prefix}_{n:06d}", "decision": "allow"}
