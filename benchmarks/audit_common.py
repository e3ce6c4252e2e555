"""Shared setup of the audit benchmarks: a fresh (or given) database and a log on it."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from redline.audit.checkpoint import Signer
from redline.audit.log import AuditLog
from redline.audit.records import DECISION, timestamp
from redline.config import AuditSettings
from redline.store.db import connect, migrate


def arguments(description: str, **defaults: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    for name, default in defaults.items():
        parser.add_argument(f"--{name}", type=int, default=default)
    return parser.parse_args()


def open_log(url: str | None) -> AuditLog:
    workdir = Path(tempfile.mkdtemp(prefix="redline-audit-bench-"))
    engine = connect(url or f"sqlite:///{workdir / 'audit.db'}")
    migrate(engine)
    return AuditLog(engine, Signer.load_or_create(workdir / "key.pem", "bench/audit"), AuditSettings())


def record(n: int) -> dict[str, object]:
    """A realistic decision record: ids, digests and scores, no content."""
    return {
        "kind": DECISION,
        "time": timestamp(),
        "decision_id": f"dec_{n:024x}",
        "tenant": "acme",
        "key_id": "key_0123456789",
        "endpoint": "/v1/chat/completions",
        "model": "gpt-x",
        "provider": "openai",
        "decision": "allow",
        "categories": [],
        "scores": {"mass_domestic_surveillance": 0.013, "autonomous_weapons": 0.002},
        "stage": "classifier",
        "policy_version": "sha256:" + "ab" * 32,
        "request_sha256": "cd" * 32,
        "response_sha256": "ef" * 32,
    }
