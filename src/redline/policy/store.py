"""Policy state in the database: designations, applied contract and operator-policy versions, provider usage.

Synchronous SQLAlchemy Core, like the rest of the store; async callers run it in a worker thread.
Applied documents are kept as an append-only history (`policy_documents`), so `contracts show` and
`contracts diff` can say what was in force and every version stays on record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from redline.policy.model import Designation, LegalStatus, OperatorPolicy, PolicyDocument, TenantContract

Use = tuple[str, str, str, str, datetime]
"""One served request: tenant, key id, provider, model, when."""

D = TypeVar("D", bound=PolicyDocument)

metadata = sa.MetaData()
designations = sa.Table(
    "policy_designations",
    metadata,
    sa.Column("id", sa.String(128), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("version_hash", sa.String(64), nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
documents = sa.Table(
    "policy_documents",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(128), nullable=False),
    sa.Column("version_hash", sa.String(64), nullable=False),
    sa.Column("document", sa.JSON, nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)
provider_usage = sa.Table(
    "policy_provider_usage",
    metadata,
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("provider", sa.String(128), primary_key=True),
    sa.Column("first_used", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used", sa.DateTime(timezone=True), nullable=False),
)
usage_daily = sa.Table(
    "policy_usage_daily",
    metadata,
    sa.Column("provider", sa.String(128), primary_key=True),
    sa.Column("tenant", sa.String(128), primary_key=True),
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("requests", sa.Integer, nullable=False),
)


def _utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive; every timestamp stored here is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Traffic:
    """Requests of one tenant's key to one model of a provider over a period."""

    tenant: str
    key_id: str
    model: str
    requests: int


class PolicyStore:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        dialects: dict[str, Callable[..., Any]] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
        self._insert = dialects[engine.dialect.name]

    # designations

    def put_designation(self, designation: Designation, at: datetime) -> None:
        """Insert or replace a designation (its id is the key)."""
        row = {
            "status": designation.status.value,
            "version_hash": designation.version_hash,
            "document": designation.model_dump(mode="json"),
            "updated_at": at,
        }
        stmt = self._insert(designations).values(id=designation.id, **row)
        with self.engine.begin() as conn:
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=row))

    def designation(self, designation_id: str) -> Designation | None:
        with self.engine.connect() as conn:
            doc = conn.scalar(sa.select(designations.c.document).where(designations.c.id == designation_id))
        return None if doc is None else Designation.model_validate(doc)

    def designations(self) -> list[Designation]:
        with self.engine.connect() as conn:
            docs = conn.scalars(sa.select(designations.c.document).order_by(designations.c.id)).all()
        return [Designation.model_validate(d) for d in docs]

    def set_status(self, designation_id: str, status: LegalStatus, at: datetime) -> Designation:
        """Change a designation's legal status (an injunction, a rescission); KeyError if it is unknown."""
        current = self.designation(designation_id)
        if current is None:
            raise KeyError(designation_id)
        changed = current.model_copy(update={"status": status})
        self.put_designation(changed, at)
        return changed

    # applied documents: contracts and the operator policy

    def record_document(self, kind: str, subject: str, model: PolicyDocument, at: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                documents.insert().values(
                    kind=kind,
                    subject=subject,
                    version_hash=model.version_hash,
                    document=model.model_dump(mode="json"),
                    applied_at=at,
                )
            )

    def current(self, kind: str, subject: str, model: type[D]) -> D | None:
        """The latest applied document of `kind` about `subject`."""
        query = (
            sa.select(documents.c.document)
            .where(documents.c.kind == kind, documents.c.subject == subject)
            .order_by(documents.c.seq.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            doc = conn.scalar(query)
        return None if doc is None else model.model_validate(doc)

    def contract(self, tenant: str) -> TenantContract | None:
        return self.current("contract", tenant, TenantContract)

    def contracts(self) -> list[TenantContract]:
        """The current contract of every tenant."""
        latest = (
            sa.select(sa.func.max(documents.c.seq))
            .where(documents.c.kind == "contract")
            .group_by(documents.c.subject)
        )
        with self.engine.connect() as conn:
            docs = conn.scalars(
                sa.select(documents.c.document)
                .where(documents.c.seq.in_(latest))
                .order_by(documents.c.subject)
            ).all()
        return [TenantContract.model_validate(d) for d in docs]

    def operator_policy(self) -> OperatorPolicy | None:
        return self.current("operator_policy", "operator", OperatorPolicy)

    # provider usage

    def record_use(self, tenant: str, key_id: str, provider: str, model: str, at: datetime) -> None:
        """Count one request of `tenant` to `provider`: first/last use, and per key, model and day."""
        self.record_uses([(tenant, key_id, provider, model, at)])

    def record_uses(self, uses: Sequence[Use]) -> None:
        """Count many requests, `(tenant, key_id, provider, model, at)` each, in one transaction.

        Uses are summed first, so the write is one upsert per distinct (tenant, provider) and per distinct
        (provider, tenant, key, model, day), each statement compiled once and executed for all its rows.
        """
        spans: dict[tuple[str, str], tuple[datetime, datetime]] = {}
        counts: dict[tuple[str, str, str, str, date], int] = {}
        for tenant, key_id, provider, model, at in uses:
            first, last = spans.get((tenant, provider), (at, at))
            spans[tenant, provider] = (min(first, at), max(last, at))
            daily_key = (provider, tenant, key_id, model, at.date())
            counts[daily_key] = counts.get(daily_key, 0) + 1
        if not spans:
            return
        use = self._insert(provider_usage)
        use = use.on_conflict_do_update(
            index_elements=["tenant", "provider"], set_={"last_used": use.excluded.last_used}
        )
        daily = self._insert(usage_daily)
        daily = daily.on_conflict_do_update(
            index_elements=["provider", "tenant", "key_id", "model", "day"],
            set_={"requests": usage_daily.c.requests + daily.excluded.requests},
        )
        use_rows = [
            {"tenant": t, "provider": p, "first_used": first, "last_used": last}
            for (t, p), (first, last) in spans.items()
        ]
        daily_rows = [
            {"provider": p, "tenant": t, "key_id": k, "model": m, "day": d, "requests": n}
            for (p, t, k, m, d), n in counts.items()
        ]
        with self.engine.begin() as conn:
            conn.execute(use, use_rows)
            conn.execute(daily, daily_rows)

    def first_uses(self, tenant: str) -> dict[str, datetime]:
        """When `tenant` first used each provider: what tells existing use from new use."""
        query = sa.select(provider_usage.c.provider, provider_usage.c.first_used).where(
            provider_usage.c.tenant == tenant
        )
        with self.engine.connect() as conn:
            return {p: _utc(t) for p, t in conn.execute(query)}

    def users(self, provider: str) -> dict[str, datetime]:
        """Every tenant that has used `provider`, with its first use."""
        query = sa.select(provider_usage.c.tenant, provider_usage.c.first_used).where(
            provider_usage.c.provider == provider
        )
        with self.engine.connect() as conn:
            return {t: _utc(f) for t, f in conn.execute(query)}

    def traffic(self, provider: str, since: date) -> list[Traffic]:
        """Requests to `provider` since `since`, by tenant, key and model."""
        query = (
            sa.select(
                usage_daily.c.tenant,
                usage_daily.c.key_id,
                usage_daily.c.model,
                sa.func.sum(usage_daily.c.requests),
            )
            .where(usage_daily.c.provider == provider, usage_daily.c.day >= since)
            .group_by(usage_daily.c.tenant, usage_daily.c.key_id, usage_daily.c.model)
            .order_by(usage_daily.c.tenant, usage_daily.c.key_id, usage_daily.c.model)
        )
        with self.engine.connect() as conn:
            return [Traffic(t, k, m, int(n)) for t, k, m, n in conn.execute(query)]
