"""Tenants and API keys in the database.

A key is `rl_<key_id>_<secret>`: the key id is public (it appears in listings and audit records), the
secret has 256 bits of entropy, and only the SHA-256 of the whole key is stored, so a plain hash suffices.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

metadata = sa.MetaData()
tenants = sa.Table(
    "gateway_tenants",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("tenant_class", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
keys = sa.Table(
    "gateway_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("tenant", sa.String(128), sa.ForeignKey("gateway_tenants.name"), nullable=False),
    sa.Column("models", sa.JSON, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


class TenantError(ValueError):
    """A tenant or key operation that cannot be done (unknown tenant, duplicate name, unknown key)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's tenant and the models the key may use (None: any)."""

    tenant: str
    tenant_class: str
    key_id: str
    models: tuple[str, ...] | None = None


def key_sha256(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


class TenantStore:
    """Synchronous store; async callers run it in a worker thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_tenant(self, name: str, tenant_class: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            if conn.execute(sa.select(tenants.c.name).where(tenants.c.name == name)).first():
                raise TenantError(f"tenant {name!r} already exists")
            conn.execute(tenants.insert().values(name=name, tenant_class=tenant_class, created_at=_now()))
        return {"name": name, "tenant_class": tenant_class}

    def list_tenants(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(sa.select(tenants).order_by(tenants.c.name))]

    def classes(self) -> dict[str, str]:
        """Every tenant's class, by name."""
        with self.engine.connect() as conn:
            return dict(conn.execute(sa.select(tenants.c.name, tenants.c.tenant_class)).tuples().all())

    def create_key(self, tenant: str, models: list[str] | None = None) -> tuple[str, str]:
        """Create a key for `tenant`; return (key_id, key). The key itself is never stored or shown again."""
        key_id = secrets.token_hex(5)
        key = f"rl_{key_id}_{secrets.token_urlsafe(32)}"
        with self.engine.begin() as conn:
            if not conn.execute(sa.select(tenants.c.name).where(tenants.c.name == tenant)).first():
                raise TenantError(f"no tenant {tenant!r}")
            conn.execute(
                keys.insert().values(
                    key_id=key_id, key_sha256=key_sha256(key), tenant=tenant, models=models or None,
                    revoked=False, created_at=_now(),
                )
            )  # fmt: skip
        return key_id, key

    def list_keys(self) -> list[dict[str, Any]]:
        query = sa.select(keys.c.key_id, keys.c.tenant, keys.c.models, keys.c.revoked, keys.c.created_at)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query.order_by(keys.c.created_at))]

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(keys.c.tenant).where(keys.c.key_id == key_id)).first()
            if row is None:
                raise TenantError(f"no key {key_id!r}")
            conn.execute(keys.update().where(keys.c.key_id == key_id).values(revoked=True, revoked_at=_now()))
        return {"key_id": key_id, "tenant": row.tenant}

    def revocation_mark(self) -> tuple[int, Any]:
        """Something that changes whenever a key is revoked: how many are, and the latest revocation time."""
        query = sa.select(sa.func.count(), sa.func.max(keys.c.revoked_at)).where(keys.c.revoked.is_(True))
        with self.engine.connect() as conn:
            count, latest = conn.execute(query).one()
        return count, latest

    def principal(self, key: str) -> Principal | None:
        """The principal holding `key`, or None when the key is unknown or revoked."""
        query = (
            sa.select(keys.c.key_id, keys.c.models, tenants.c.name, tenants.c.tenant_class)
            .join(tenants, tenants.c.name == keys.c.tenant)
            .where(keys.c.key_sha256 == key_sha256(key), keys.c.revoked.is_(False))
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        models = tuple(row.models) if row.models else None
        return Principal(row.name, row.tenant_class, row.key_id, models)
