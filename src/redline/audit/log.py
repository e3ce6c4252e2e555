"""The audit log: durable group-committed appends, signed checkpoints, proofs and full verification.

One writer thread per process drains every pending append into a single transaction and resolves the
callers' futures only after it commits, so a record is durable before anyone responds, at one flush per batch.

Several processes (gateway workers) may append to the same database: each batch takes the database's write
lock before reading the tree's tail (`BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock on
PostgreSQL), so batches from different processes serialise and indexes never collide or skip.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, select, text

from redline.audit import records
from redline.audit.checkpoint import Checkpoint, CheckpointError, Signer
from redline.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    Node,
    consistency_ranges,
    inclusion_ranges,
    leaf_hash,
    perfect_subtrees,
    range_hashes,
)
from redline.audit.schema import checkpoints, entries
from redline.config import AuditSettings, Settings
from redline.store.db import connect, migrate

_logger = logging.getLogger(__name__)
_PG_LOCK = 0x7265646C696E65  # "redline": the advisory lock key serialising appends across processes
_STREAM_ROWS = 10_000


class AuditError(LookupError):
    """A read the log cannot answer: an index or size it does not hold, or storage that is broken."""


@dataclass(frozen=True)
class Entry:
    index: int
    data: bytes

    @property
    def record(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.data)
        return parsed


@dataclass(frozen=True)
class SignedCheckpoint:
    id: int
    checkpoint: Checkpoint
    note: str


@dataclass(frozen=True)
class Problem:
    """Why `verify` failed, naming the first bad entry index or checkpoint id."""

    message: str
    index: int | None = None
    checkpoint: int | None = None


@dataclass
class _Pending:
    """A canonicalised record waiting for its batch, with the fields the log indexes."""

    kind: str
    decision_id: str | None
    time: str
    data: bytes
    future: Future[int]


_STOP = None


class AuditLog:
    """An append-only Merkle log in the store's database. Implements `redline.audit.sink.AuditSink`."""

    def __init__(
        self, engine: Engine, signer: Signer, settings: AuditSettings, *, max_batch: int = 2000
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.settings = settings
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        self._tail = CompactRange()  # the tree as this writer last committed it
        self._next_checkpoint: float | None = None  # when unsigned entries of ours become due

    # -- appending ---------------------------------------------------------------------------------------

    async def append(self, record: Mapping[str, Any]) -> int:
        """Append `record`; return its index once it is committed."""
        return await asyncio.wrap_future(self.submit(record))

    def append_sync(self, record: Mapping[str, Any]) -> int:
        return self.submit(record).result()

    def submit(self, record: Mapping[str, Any]) -> Future[int]:
        """Queue `record` for the next group commit. Bad records fail here, alone, not their batch."""
        data = records.canonical(record)  # validates kind, time and decision id first
        pending = _Pending(record["kind"], record.get("decision_id"), record["time"], data, Future())
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the audit log is closed")
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._writer.start()
            self._queue.put(pending)
        return pending.future

    def checkpoint(self) -> None:
        """Sign the current tree head now, unless a checkpoint covers it already.

        Safe beside the writer thread: the database lock serialises it with batches, and the cached tail
        is only trusted when its size matches the stored one.
        """
        self._write([], final=True)

    def close(self) -> None:
        """Commit what is pending, sign a final checkpoint, stop the writer."""
        with self._start_lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(_STOP)
            writer.join()

    def _run(self) -> None:
        while True:
            timeout = None if self._next_checkpoint is None else max(0.0, self._next_checkpoint - time.time())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                self._commit([], final=False)
                continue
            batch: list[_Pending] = []
            while item is not _STOP:
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            self._commit(batch, final=item is _STOP)
            if item is _STOP:
                return

    def _commit(self, batch: Sequence[_Pending], final: bool) -> None:
        """Write `batch` and settle its callers' futures (the writer thread must never die)."""
        try:
            indexes = self._write(batch, final)
        except Exception as exc:
            if not batch:
                _logger.exception("audit checkpoint failed; retrying later")
                self._next_checkpoint = time.time() + self.settings.checkpoint_every_s
            for pending in batch:
                pending.future.set_exception(exc)
            return
        for pending, index in zip(batch, indexes, strict=True):
            pending.future.set_result(index)

    def _write(self, batch: Sequence[_Pending], final: bool) -> list[int]:
        """One transaction: append `batch`, sign a checkpoint if one is due (or `final`), commit."""
        with self.engine.connect() as conn:
            self._lock(conn)
            tree = self._load_tail(conn)
            first = tree.size
            rows = []
            for pending in batch:
                completed = tree.append(leaf_hash(pending.data))
                rows.append(
                    {
                        "idx": tree.size - 1,
                        "kind": pending.kind,
                        "decision_id": pending.decision_id,
                        "time": pending.time,
                        "record": pending.data,
                        "hashes": b"".join(completed),
                    }
                )
            if rows:
                conn.execute(insert(entries), rows)
            self._maybe_checkpoint(conn, tree, final)
            conn.commit()
        self._tail = tree  # only once committed: a failed batch leaves the stored tree as it was
        return list(range(first, tree.size))

    def _lock(self, conn: Connection) -> None:
        """Take the database's write lock for this transaction, before reading the tail."""
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})

    def _load_tail(self, conn: Connection) -> CompactRange:
        """The current tree's right edge: our cached one unless another process appended since."""
        size = _size(conn)
        if size == self._tail.size:
            return CompactRange(size, self._tail.hashes)
        nodes = perfect_subtrees(0, size)
        stored = _fetch(conn, nodes)
        return CompactRange(size, [stored[node] for node in nodes])

    def _maybe_checkpoint(self, conn: Connection, tree: CompactRange, final: bool) -> None:
        last = conn.execute(
            select(checkpoints.c.size, checkpoints.c.issued).order_by(checkpoints.c.id.desc()).limit(1)
        ).first()
        now = time.time()
        if tree.size == 0 or (last is not None and last.size >= tree.size):
            self._next_checkpoint = None
            return
        if (
            final
            or last is None
            or tree.size - last.size >= self.settings.checkpoint_every_entries
            or now - last.issued >= self.settings.checkpoint_every_s
        ):
            note = self.signer.sign(Checkpoint(self.settings.log_origin, tree.size, tree.root()))
            conn.execute(insert(checkpoints).values(size=tree.size, note=note, issued=now))
            self._next_checkpoint = None
        elif self._next_checkpoint is None:
            self._next_checkpoint = last.issued + self.settings.checkpoint_every_s

    # -- reading -----------------------------------------------------------------------------------------

    def size(self) -> int:
        with self.engine.connect() as conn:
            return _size(conn)

    def entry(self, index: int) -> Entry:
        with self.engine.connect() as conn:
            data = conn.scalar(select(entries.c.record).where(entries.c.idx == index))
        if data is None:
            raise AuditError(f"the log has no entry {index}")
        return Entry(index, data)

    def find(self, decision_id: str) -> list[int]:
        """Indexes of the records of one decision, oldest first."""
        with self.engine.connect() as conn:
            found = conn.scalars(
                select(entries.c.idx).where(entries.c.decision_id == decision_id).order_by(entries.c.idx)
            )
            return list(found)

    def export(self, since: str | None = None) -> Iterator[Entry]:
        """Every entry, in log order, whose record time is at or after `since` (RFC 3339 UTC)."""
        query = select(entries.c.idx, entries.c.record).order_by(entries.c.idx)
        if since is not None:
            query = query.where(entries.c.time >= since)
        with self.engine.connect() as conn:
            for index, data in conn.execution_options(yield_per=_STREAM_ROWS).execute(query):
                yield Entry(index, data)

    def latest_checkpoint(self) -> SignedCheckpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(checkpoints.c.id, checkpoints.c.note).order_by(checkpoints.c.id.desc()).limit(1)
            ).first()
        if row is None:
            return None
        return SignedCheckpoint(row.id, self.signer.verifier.verify(row.note), row.note)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Hashes proving entry `index` is in the tree of the first `size` entries."""
        return self._proof(inclusion_ranges(index, size), size)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        """Hashes proving the tree of the first `old` entries is a prefix of that of the first `new`."""
        return self._proof(consistency_ranges(old, new), new)

    def root_hash(self, size: int) -> bytes:
        return self._proof([(0, size)], size)[0] if size else EMPTY_ROOT

    def _proof(self, ranges: Sequence[tuple[int, int]], size: int) -> list[bytes]:
        with self.engine.connect() as conn:
            if size > _size(conn):
                raise AuditError(f"the log holds fewer than {size} entries")
            return range_hashes(ranges, lambda nodes: _fetch(conn, nodes))

    # -- verification ------------------------------------------------------------------------------------

    def verify(self) -> Problem | None:
        """Recompute the whole tree from the stored records and hold every checkpoint against it.

        Checks each checkpoint's signature and origin, that checkpoint sizes never shrink, that every stored
        subtree hash is what the records give, and that every checkpoint's root is the root of the first
        `size` recomputed entries. Successive checkpoints whose roots are both roots of prefixes of one
        recomputed log are consistent by construction, so no separate consistency proofs are needed.
        """
        with self.engine.connect() as conn:
            due: dict[int, list[tuple[int, bytes]]] = defaultdict(list)
            previous = 0
            for cid, size, note in conn.execute(
                select(checkpoints.c.id, checkpoints.c.size, checkpoints.c.note).order_by(checkpoints.c.id)
            ):
                try:
                    checkpoint = self.signer.verifier.verify(note, self.settings.log_origin)
                    if checkpoint.size != size:
                        raise CheckpointError(f"stored size {size} is not its signed size")
                    if size < previous:
                        raise CheckpointError(f"the log shrank from {previous} to {size} entries")
                except CheckpointError as exc:
                    return Problem(f"checkpoint #{cid}: {exc}", checkpoint=cid)
                previous = size
                due[size].append((cid, checkpoint.root_hash))
            tree = CompactRange()
            if problem := _check_roots(due, tree):
                return problem
            query = select(entries.c.idx, entries.c.record, entries.c.hashes).order_by(entries.c.idx)
            for index, data, hashes in conn.execution_options(yield_per=_STREAM_ROWS).execute(query):
                if index != tree.size:
                    return Problem(f"entry {tree.size} is missing", index=tree.size)
                if b"".join(tree.append(leaf_hash(data))) != hashes:
                    return Problem(f"entry {index} does not match its stored hashes", index=index)
                if problem := _check_roots(due, tree):
                    return problem
        if due:
            cid = min(cid for waiting in due.values() for cid, _ in waiting)
            return Problem(
                f"checkpoint #{cid} signed more entries than the log's {tree.size}: entries were removed",
                checkpoint=cid,
            )
        return None


    def check_held(self, checkpoint: Checkpoint) -> Problem | None:
        """Hold the log against a checkpoint kept outside it (by a client, auditor or witness).

        Catches what `verify` alone cannot: a rollback that also deleted the checkpoints it contradicted.
        Run it after `verify`, which establishes that the stored subtree hashes match the records.
        """
        size = self.size()
        if checkpoint.size > size:
            return Problem(f"the log holds {size} entries, fewer than a held checkpoint's {checkpoint.size}")
        if self.root_hash(checkpoint.size) != checkpoint.root_hash:
            return Problem(f"the log's first {checkpoint.size} entries differ from the held checkpoint's")
        return None

def _check_roots(due: dict[int, list[tuple[int, bytes]]], tree: CompactRange) -> Problem | None:
    root = tree.root()
    for cid, signed in due.pop(tree.size, ()):
        if signed != root:
            return Problem(
                f"checkpoint #{cid} does not match entries 0..{tree.size - 1}: "
                "they were altered, removed, reordered or rolled back",
                checkpoint=cid,
            )
    return None


def _size(conn: Connection) -> int:
    last = conn.scalar(select(func.max(entries.c.idx)))
    return 0 if last is None else last + 1


def _fetch(conn: Connection, nodes: Sequence[Node]) -> dict[Node, bytes]:
    """Stored hashes of perfect subtrees, each kept with the entry that completed it."""
    wanted = select(entries.c.idx, entries.c.hashes).where(entries.c.idx.in_({n.last_leaf for n in nodes}))
    rows = {index: hashes for index, hashes in conn.execute(wanted)}
    found = {}
    for node in nodes:
        blob = rows.get(node.last_leaf, b"")
        digest = blob[node.level * HASH_SIZE : (node.level + 1) * HASH_SIZE]
        if len(digest) != HASH_SIZE:
            raise AuditError(f"entry {node.last_leaf} lacks its level-{node.level} subtree hash")
        found[node] = digest
    return found


def open_log(settings: Settings, url: str | None = None) -> AuditLog:
    """The log of `settings`, on `url` or the configured database, migrating it first."""
    engine = connect(url or settings.database.url)
    migrate(engine)
    signer = Signer.load_or_create(settings.audit.signing_key_path, settings.audit.log_origin)
    return AuditLog(engine, signer, settings.audit)
