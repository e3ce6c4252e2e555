"""The audit log: durable group-committed appends, signed checkpoints, proofs and full verification.

One writer thread per process drains every pending append into a single transaction and resolves the
callers' futures only after it commits, so a record is durable before anyone responds, at one flush per batch.

Several processes (gateway workers) may append to the same database: each batch takes the database's write
lock before reading the tree's tail (`BEGIN IMMEDIATE` on SQLite, a transaction-scoped advisory lock on
PostgreSQL), so batches from different processes serialise and indexes never collide or skip.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from sqlalchemy import Connection, Engine, func, select

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
    """A canonicalised record waiting for its batch, with the fields the log indexes, and who waits for it:
    a `concurrent.futures.Future` (`submit`), or an asyncio future and its loop (`append`)."""

    kind: str
    decision_id: str | None
    time: str
    data: bytes
    future: Future[int] | asyncio.Future[int]
    loop: asyncio.AbstractEventLoop | None = None


@dataclass
class _CheckpointRequest:
    future: Future[int]


_STOP = None
_Item = _Pending | _CheckpointRequest | None


class _Statements:
    """The writer's SQL, in the DB-API driver's own parameter style: the hot path runs these on a raw
    connection it keeps, so a batch costs no SQL compilation, no pool checkout and few round trips."""

    def __init__(self, dialect: str, paramstyle: str) -> None:
        mark = "?" if paramstyle == "qmark" else "%s"
        e, c = entries.name, checkpoints.name
        self.dialect, self.mark = dialect, mark
        self.lock = "BEGIN IMMEDIATE" if dialect == "sqlite" else f"SELECT pg_advisory_xact_lock({_PG_LOCK})"
        # The stored size and the last checkpoint, in one statement (one round trip).
        self.head = (
            f"SELECT (SELECT max(idx) FROM {e}), "
            f"(SELECT size FROM {c} ORDER BY id DESC LIMIT 1), "
            f"(SELECT issued FROM {c} ORDER BY id DESC LIMIT 1)"
        )
        self.insert = (
            f"INSERT INTO {e} (idx, kind, decision_id, time, record, hashes) VALUES ({', '.join([mark] * 6)})"
        )
        self.checkpoint = f"INSERT INTO {c} (size, note, issued) VALUES ({mark}, {mark}, {mark})"
        self.table = e

    def hashes(self, count: int) -> str:
        return f"SELECT idx, hashes FROM {self.table} WHERE idx IN ({', '.join([self.mark] * count)})"


class AuditLog:
    """An append-only Merkle log in the store's database. Implements `redline.audit.sink.AuditSink`."""

    def __init__(
        self, engine: Engine, signer: Signer, settings: AuditSettings, *, max_batch: int = 2000
    ) -> None:
        self.engine = engine
        self.signer = signer
        self.settings = settings
        self.max_batch = max_batch
        self.commits = 0  # transactions committed by this log's writer (batches and checkpoints)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._start_lock = threading.Lock()
        self._tail = CompactRange()  # the tree as this writer last committed it
        self._next_checkpoint: float | None = None  # when unsigned entries of ours become due
        self._sql = _Statements(engine.dialect.name, engine.dialect.paramstyle)
        self._conn: Any = None  # the writer's own DB-API connection, kept between batches

    # -- appending ---------------------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> asyncio.Future[int]:
        """Queue `record` for the next group commit now; the returned future resolves to its index once it is
        committed. The record is validated here: a bad one raises at once, alone, not its batch."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._enqueue(self._pending(record, waiter, loop))
        return waiter

    def append_sync(self, record: Mapping[str, Any]) -> int:
        return self.submit(record).result()

    def submit(self, record: Mapping[str, Any]) -> Future[int]:
        """Queue `record` for the next group commit. Bad records fail here, alone, not their batch."""
        future: Future[int] = Future()
        self._enqueue(self._pending(record, future, None))
        return future

    @staticmethod
    def _pending(
        record: Mapping[str, Any], future: Future[int] | asyncio.Future[int], loop: asyncio.AbstractEventLoop | None
    ) -> _Pending:
        data = records.canonical(record)  # validates kind, time and decision id first
        return _Pending(record["kind"], record.get("decision_id"), record["time"], data, future, loop)

    def _enqueue(self, item: _Pending | _CheckpointRequest) -> None:
        with self._start_lock:
            if self._closed:
                raise RuntimeError("the audit log is closed")
            if self._writer is None:
                self._writer = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._writer.start()
            self._queue.put(item)

    def checkpoint(self) -> None:
        """Sign the current tree head now, unless a checkpoint covers it already.

        Runs on the writer thread (queued behind pending appends), which alone touches the writer's cached
        state; once the log is closed it runs here, as the writer is gone.
        """
        request = _CheckpointRequest(Future())
        try:
            self._enqueue(request)
        except RuntimeError:
            try:
                self._write([], final=True)
            finally:
                self._disconnect()
            return
        request.future.result()

    def close(self) -> None:
        """Commit what is pending, sign a final checkpoint, stop the writer."""
        with self._start_lock:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(_STOP)
            writer.join()

    def _run(self) -> None:
        try:
            while True:
                timeout = None if self._next_checkpoint is None else max(0.0, self._next_checkpoint - time.time())
                try:
                    item = self._queue.get(timeout=timeout)
                except queue.Empty:
                    self._commit([], [], final=False)
                    continue
                batch: list[_Pending] = []
                requests: list[_CheckpointRequest] = []
                while item is not _STOP:
                    if isinstance(item, _CheckpointRequest):
                        requests.append(item)
                    else:
                        batch.append(item)
                    if len(batch) >= self.max_batch:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                self._commit(batch, requests, final=item is _STOP or bool(requests))
                if item is _STOP:
                    return
        finally:
            self._disconnect()

    def _commit(self, batch: Sequence[_Pending], requests: Sequence[_CheckpointRequest], final: bool) -> None:
        """Write `batch` and settle its callers' futures (the writer thread must never die)."""
        try:
            indexes = self._write(batch, final)
        except Exception as exc:
            if not batch:
                _logger.exception("audit checkpoint failed; retrying later")
                self._next_checkpoint = time.time() + self.settings.checkpoint_every_s
            _settle(batch, [exc] * len(batch))
            for request in requests:
                request.future.set_exception(exc)
            return
        _settle(batch, indexes)
        for request in requests:
            request.future.set_result(self._tail.size)

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self.engine.raw_connection()
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                conn.invalidate()  # its transaction state is unknown: close it rather than pool it

    def _write(self, batch: Sequence[_Pending], final: bool) -> list[int]:
        """One transaction: append `batch`, sign a checkpoint if one is due (or `final`), commit.

        Statements: take the database's write lock, read the stored size and the last checkpoint (one
        SELECT), insert the batch (one executemany), maybe insert a checkpoint, commit. The tree's right
        edge comes from this writer's cache unless another process appended since (the stored size differs).
        """
        conn = self._connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(self._sql.lock)
                cursor.execute(self._sql.head)
                last_index, last_size, last_issued = cursor.fetchone()
                tree = self._load_tail(cursor, 0 if last_index is None else last_index + 1)
                first = tree.size
                rows = []
                for pending in batch:
                    completed = tree.append(leaf_hash(pending.data))
                    rows.append(
                        (tree.size - 1, pending.kind, pending.decision_id, pending.time, pending.data,
                         b"".join(completed))
                    )  # fmt: skip
                if rows:
                    cursor.executemany(self._sql.insert, rows)
                note = self._due_checkpoint(tree, last_size, last_issued, final)
                if note is not None:
                    cursor.execute(self._sql.checkpoint, (tree.size, note, time.time()))
            finally:
                cursor.close()
            conn.commit()
        except BaseException:
            self._disconnect()  # a failed batch leaves the stored tree as it was; start afresh next time
            raise
        self.commits += 1
        self._tail = tree  # only once committed
        return list(range(first, tree.size))

    def _load_tail(self, cursor: Any, size: int) -> CompactRange:
        """The current tree's right edge: our cached one unless another process appended since."""
        if size == self._tail.size:
            return CompactRange(size, self._tail.hashes)
        nodes = perfect_subtrees(0, size)
        wanted = sorted({node.last_leaf for node in nodes})
        rows: dict[int, bytes] = {}
        if wanted:
            cursor.execute(self._sql.hashes(len(wanted)), wanted)
            rows = {index: bytes(hashes) for index, hashes in cursor.fetchall()}
        return CompactRange(size, [_subtree(rows, node) for node in nodes])

    def _due_checkpoint(
        self, tree: CompactRange, last_size: int | None, last_issued: float | None, final: bool
    ) -> str | None:
        """The signed note to store now, if a checkpoint is due; else None (and when one will be due)."""
        now = time.time()
        if tree.size == 0 or (last_size is not None and last_size >= tree.size):
            self._next_checkpoint = None
            return None
        if (
            final
            or last_size is None
            or last_issued is None
            or tree.size - last_size >= self.settings.checkpoint_every_entries
            or now - last_issued >= self.settings.checkpoint_every_s
        ):
            self._next_checkpoint = None
            return self.signer.sign(Checkpoint(self.settings.log_origin, tree.size, tree.root()))
        if self._next_checkpoint is None:
            self._next_checkpoint = last_issued + self.settings.checkpoint_every_s
        return None

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
    return {node: _subtree(rows, node) for node in nodes}


def _subtree(rows: Mapping[int, bytes], node: Node) -> bytes:
    """The hash of perfect subtree `node`, from the stored hashes of the entry that completed it."""
    blob = rows.get(node.last_leaf, b"")
    digest = blob[node.level * HASH_SIZE : (node.level + 1) * HASH_SIZE]
    if len(digest) != HASH_SIZE:
        raise AuditError(f"entry {node.last_leaf} lacks its level-{node.level} subtree hash")
    return digest


def _settle(batch: Sequence[_Pending], outcomes: Sequence[int | Exception]) -> None:
    """Resolve each pending append's future with its index or the batch's error. Asyncio futures are
    resolved on their own loop, with one wake-up per loop and batch rather than one per record."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int], int | Exception]]] = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        if pending.loop is None:
            future = pending.future
            assert isinstance(future, Future)
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        else:
            assert isinstance(pending.future, asyncio.Future)
            by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
    for loop, waiting in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a loop closed meanwhile has no one left to tell
            loop.call_soon_threadsafe(_resolve, waiting)


def _resolve(waiting: Sequence[tuple[asyncio.Future[int], int | Exception]]) -> None:
    for future, outcome in waiting:
        if future.done():  # its caller gave up (cancelled); the record is committed all the same
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def open_log(settings: Settings, url: str | None = None) -> AuditLog:
    """The log of `settings`, on `url` or the configured database, migrating it first."""
    engine = connect(url or settings.database.url)
    migrate(engine)
    signer = Signer.load_or_create(settings.audit.signing_key_path, settings.audit.log_origin)
    return AuditLog(engine, signer, settings.audit)
