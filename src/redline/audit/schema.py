"""The audit log's tables (created by the `audit` Alembic branch).

An entry row holds the record's canonical bytes and the hashes of every perfect subtree that this leaf
completes, level 0 (the leaf) first: the subtree Node(level, position) is stored with the entry at
`Node.last_leaf`, so any proof is one indexed read of O(log n) rows, and no separate node table is needed.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

# INTEGER on SQLite makes the primary key the rowid itself.
_INDEX = BigInteger().with_variant(Integer(), "sqlite")

entries = Table(
    "audit_entries",
    metadata,
    Column("idx", _INDEX, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("decision_id", String(64), index=True),
    Column("time", String(32), nullable=False, index=True),
    Column("record", LargeBinary, nullable=False),
    Column("hashes", LargeBinary, nullable=False),
)

checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("size", BigInteger, nullable=False),
    Column("note", Text, nullable=False),
    Column("issued", Float, nullable=False),
)
