"""Shared setup of the audit benchmarks: a fresh (or given) database and a log on it."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def bench_log(url: str | None) -> Iterator[AuditLog]:
    """A log on `url` (or a SQLite file) with a throwaway key; the temp dir goes when done."""
    with tempfile.TemporaryDirectory(prefix="redline-audit-bench-") as workdir:
        engine = connect(url or f"sqlite:///{Path(workdir) / 'audit.db'}")
        migrate(engine)
        signer = Signer.load_or_create(Path(workdir) / "key.pem", "bench/audit")
        yield AuditLog(engine, signer, AuditSettings())
        engine.dispose()


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
