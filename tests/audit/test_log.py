"""The audit log on a real database: group commit, checkpoints, proofs, and verify catching tampering."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Executable, delete, func, select, update

from redline.audit.log import AuditLog
from redline.audit.merkle import CompactRange, leaf_hash, verify_consistency, verify_inclusion
from redline.audit.records import RecordError
from redline.audit.schema import checkpoints, entries
from tests.audit.helpers import database, open_log, record


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "audit.pem"


def filled(url: str, key: Path, n: int, **settings: object) -> AuditLog:
    """A log of `n` entries appended one by one (so checkpoint cadence applies), reopened."""
    log = open_log(url, key, **settings)
    assert [log.append_sync(record(i)) for i in range(n)] == list(range(n))
    log.close()
    return open_log(url, key, **settings)


async def test_concurrent_appends_get_distinct_indexes_in_few_commits(url: str, key: Path) -> None:
    log = open_log(url, key)
    indexes = await asyncio.gather(*(log.append(record(i)) for i in range(300)))
    log.close()
    assert sorted(indexes) == list(range(300))
    assert 1 <= log.commits < 100
    assert [log.entry(i).record["decision_id"] for i in indexes] == [f"dec_{i:06d}" for i in range(300)]
    assert log.find("dec_000042") == [indexes[42]]
    assert log.find("dec_missing") == []


def test_proofs_verify_against_signed_checkpoints(url: str, key: Path) -> None:
    log = filled(url, key, 100, checkpoint_every_entries=30)
    latest = log.latest_checkpoint()
    assert latest is not None and latest.checkpoint.size == 100
    root = latest.checkpoint.root_hash
    for index in (0, 41, 99):
        proof = log.inclusion_proof(index, 100)
        assert verify_inclusion(leaf_hash(log.entry(index).data), index, 100, proof, root)
    assert verify_consistency(37, 100, log.root_hash(37), root, log.consistency_proof(37, 100))
    with pytest.raises(LookupError, match="fewer than 101"):
        log.inclusion_proof(3, 101)
    with pytest.raises(ValueError, match="not in a tree"):
        log.inclusion_proof(100, 100)
    assert log.verify() is None


def test_checkpoints_every_m_entries_and_on_close(url: str, key: Path) -> None:
    log = open_log(url, key, checkpoint_every_entries=10, checkpoint_every_s=3600)
    for i in range(35):
        log.append_sync(record(i))
    log.close()
    with log.engine.connect() as conn:
        sizes = list(conn.scalars(select(checkpoints.c.size).order_by(checkpoints.c.id)))
    assert sizes == [1, 11, 21, 31, 35]


def test_checkpoints_every_n_seconds_while_idle(url: str, key: Path) -> None:
    log = open_log(url, key, checkpoint_every_entries=1000, checkpoint_every_s=0.2)
    log.append_sync(record(0))
    log.append_sync(record(1))
    deadline = time.monotonic() + 10
    while (latest := log.latest_checkpoint()) is not None and latest.checkpoint.size < 2:
        assert time.monotonic() < deadline, "no time-based checkpoint"
        time.sleep(0.05)
    log.close()


def test_bad_records_fail_alone(url: str, key: Path) -> None:
    log = open_log(url, key)
    with pytest.raises(RecordError, match="kind"):
        log.submit({"time": "2026-01-01T00:00:00.000000Z"})
    with pytest.raises(RecordError, match="canonical"):
        log.submit({**record(0), "score": float("nan")})
    assert log.append_sync(record(1)) == 0
    log.close()
    with pytest.raises(RuntimeError, match="closed"):
        log.submit(record(2))


def test_a_restarted_writer_continues_the_tree(url: str, key: Path) -> None:
    log = filled(url, key, 21)
    for i in range(21, 40):
        assert log.append_sync(record(i)) == i
    log.close()
    assert log.verify() is None


def test_export_since(url: str, key: Path) -> None:
    log = filled(url, key, 5)
    with log.engine.begin() as conn:
        conn.execute(update(entries).where(entries.c.idx < 2).values(time="2020-01-01T00:00:00.000000Z"))
    assert [e.index for e in log.export(since="2021-01-01T00:00:00.000000Z")] == [2, 3, 4]
    assert len(list(log.export())) == 5


# -- tampering: every kind is caught, and the problem says where ------------------------------------------


@pytest.fixture
def sqlite_log(tmp_path: Path, key: Path) -> Iterator[AuditLog]:
    with database("sqlite", tmp_path) as url:
        yield filled(url, key, 64, checkpoint_every_entries=16)


def tamper(log: AuditLog, *statements: Executable) -> None:
    with log.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def test_untouched_log_verifies(sqlite_log: AuditLog) -> None:
    assert sqlite_log.verify() is None


def test_altered_record_is_named(sqlite_log: AuditLog) -> None:
    forged = sqlite_log.entry(20).data.replace(b"allow", b"block")
    tamper(sqlite_log, update(entries).where(entries.c.idx == 20).values(record=forged))
    problem = sqlite_log.verify()
    assert problem is not None and problem.index == 20, problem


def test_altered_record_with_rehashed_tree_breaks_a_checkpoint(sqlite_log: AuditLog) -> None:
    """A forger who rewrites a record and every stored hash still cannot re-sign the checkpoints."""
    tree = CompactRange()
    rewrites = []
    for entry in sqlite_log.export():
        data = entry.data.replace(b"allow", b"block") if entry.index == 20 else entry.data
        hashes = b"".join(tree.append(leaf_hash(data)))
        row = entries.c.idx == entry.index
        rewrites.append(update(entries).where(row).values(record=data, hashes=hashes))
    tamper(sqlite_log, *rewrites)
    problem = sqlite_log.verify()
    assert problem is not None and problem.checkpoint is not None and "0..32" in problem.message, problem


def test_deleted_record_is_named(sqlite_log: AuditLog) -> None:
    tamper(sqlite_log, delete(entries).where(entries.c.idx == 33))
    problem = sqlite_log.verify()
    assert problem is not None and problem.index == 33 and "missing" in problem.message, problem


def test_swapped_records_are_named(sqlite_log: AuditLog) -> None:
    a, b = sqlite_log.entry(10).data, sqlite_log.entry(50).data
    tamper(
        sqlite_log,
        update(entries).where(entries.c.idx == 10).values(record=b),
        update(entries).where(entries.c.idx == 50).values(record=a),
    )
    problem = sqlite_log.verify()
    assert problem is not None and problem.index == 10, problem


def test_truncation_is_caught(sqlite_log: AuditLog) -> None:
    tamper(sqlite_log, delete(entries).where(entries.c.idx >= 40))
    problem = sqlite_log.verify()
    assert problem is not None and problem.checkpoint is not None and "removed" in problem.message, problem


def test_rollback_and_regrowth_is_caught(sqlite_log: AuditLog, key: Path) -> None:
    tamper(sqlite_log, delete(entries).where(entries.c.idx >= 40))
    regrown = open_log(str(sqlite_log.engine.url), key, checkpoint_every_entries=16)
    for i in range(40, 90):
        regrown.append_sync(record(1000 + i))
    regrown.close()
    with regrown.engine.connect() as conn:
        first_lost = conn.scalar(select(func.min(checkpoints.c.id)).where(checkpoints.c.size > 40))
    problem = regrown.verify()
    assert problem is not None and problem.checkpoint == first_lost, problem
