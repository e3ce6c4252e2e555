"""Operator acts on policy state, shared by the CLI and the admin API.

Each act is validated, stored, and recorded in the audit log (`policy_change`); a contract that tries to
weaken a red line is refused and recorded too (`weakening_attempt`). Store calls run in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from redline.audit.records import DESIGNATION_CHANGE, POLICY_CHANGE, change_record
from redline.audit.sink import AuditSink
from redline.policy import loader
from redline.policy.designations import Outcome, RouteContext, route
from redline.policy.guard import weakening_record
from redline.policy.model import Designation, LegalStatus, OperatorPolicy, PolicyDocument, TenantContract
from redline.policy.store import PolicyStore, Traffic

T = TypeVar("T")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class NotFound(LookupError):
    """No designation or contract under that name."""


@dataclass(frozen=True)
class AffectedTenant:
    """One tenant in a designation's scope, what the designation does to it now, and its recent traffic."""

    tenant: str
    tenant_class: str
    provider: str
    first_used: datetime | None
    state: str
    days_left: int | None
    traffic: list[Traffic] = field(default_factory=list)
    successors: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Impact:
    designation: Designation
    tenants: list[AffectedTenant]


def _state(
    d: Designation, tenant: str, tenant_class: str, provider: str, first: datetime | None, now: datetime
) -> str:
    """What `d` does to this tenant's use of `provider` now, as routing would apply it."""
    usage = {provider: first} if first else {}
    outcomes = {
        e.outcome for e in route(RouteContext(tenant, tenant_class, ""), [provider], [d], usage, now).events
    }
    if Outcome.PHASEOUT in outcomes:
        return "phasing_out"
    if outcomes:
        return "cut_off" if first and first < d.effective_at else "cannot_start"
    if d.status is not LegalStatus.ACTIVE:
        return d.status.value
    return "pending" if now < d.effective_at else "unaffected"


class PolicyService:
    def __init__(
        self,
        store: PolicyStore,
        sink: AuditSink | None,
        *,
        operator: OperatorPolicy | None = None,
        clock: Clock = utcnow,
        tenant_classes: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        """`tenant_classes` gives every known tenant's class (the gateway's tenants table); a tenant's contract
        names its class too."""
        self.store = store
        self.sink = sink
        self.operator = operator or loader.bundled_operator_policy()
        self.clock = clock
        self.tenant_classes = tenant_classes

    async def _record(self, record: dict[str, Any]) -> None:
        if self.sink is not None:
            await self.sink.append(record)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(partial(fn, *args))

    async def _changed(
        self,
        kind: str,
        subject: str,
        action: str,
        new: PolicyDocument,
        old: PolicyDocument | None,
        actor: str,
    ) -> None:
        change = {
            "document": kind,
            "action": action,
            "version_hash": new.version_hash,
            "previous_version_hash": old.version_hash if old else None,
        }
        record_kind = DESIGNATION_CHANGE if kind == "designation" else POLICY_CHANGE
        await self._record(change_record(record_kind, actor=actor, subject=subject, change=change, at=self.clock()))

    async def designations(self) -> list[Designation]:
        return await self._db(self.store.designations)

    async def designation(self, designation_id: str) -> Designation:
        found = await self._db(self.store.designation, designation_id)
        if found is None:
            raise NotFound(f"no designation {designation_id}")
        return found

    async def contract(self, tenant: str) -> TenantContract:
        found = await self._db(self.store.contract, tenant)
        if found is None:
            raise NotFound(f"no contract applied for {tenant}")
        return found

    async def apply_operator_policy(self, policy: OperatorPolicy, actor: str) -> bool:
        """Make `policy` the operator policy: an explicit operator act, stored as a new version and audited.
        False (nothing recorded) when it is the version already in force, so a restart is not a change."""
        previous = await self._db(self.store.operator_policy)
        self.operator = policy
        if previous is not None and previous.version_hash == policy.version_hash:
            return False
        await self._db(self.store.record_document, "operator_policy", "operator", policy, self.clock())
        await self._changed("operator_policy", "operator", "apply", policy, previous, actor)
        return True

    async def reload_operator_policy(self) -> bool:
        """Adopt the operator policy in force in the store, when another process applied one (`redline policy
        apply`); True if it changed. Nothing is recorded: the applying process recorded the change."""
        stored = await self._db(self.store.operator_policy)
        if stored is None or stored.version_hash == self.operator.version_hash:
            return False
        self.operator = stored
        return True

    async def apply_contract(self, text: str, file: str, actor: str) -> TenantContract:
        """Validate and apply tenant contracts; refuse (and record) any attempt to weaken a red line.
        Re-applying the version in force changes nothing: the gateway may apply `contracts_dir` at start.
        """
        try:
            docs = loader.parse(text, file, self.operator)
        except loader.WeakeningError as exc:
            await self._record(
                weakening_record(
                    exc.weakenings, source="contract", actor=actor, tenant=exc.tenant, file=file, at=self.clock()
                )
            )
            raise
        contracts = loader.only(docs, TenantContract)
        if len(contracts) != len(docs):
            raise loader.PolicyError([loader.Problem(file, 1, "kind", "only contracts can be applied here")])
        for contract in contracts:
            previous = await self._db(self.store.contract, contract.tenant)
            if previous is not None and previous.version_hash == contract.version_hash:
                continue
            await self._db(self.store.record_document, "contract", contract.tenant, contract, self.clock())
            await self._changed("contract", contract.tenant, "apply", contract, previous, actor)
        return contracts[-1]

    async def add_designation(self, designation: Designation, actor: str) -> None:
        previous = await self._db(self.store.designation, designation.id)
        await self._db(self.store.put_designation, designation, self.clock())
        await self._changed(
            "designation", designation.id, "update" if previous else "add", designation, previous, actor
        )

    async def declare_designation(self, designation: Designation, actor: str) -> bool:
        """Put a designation from `designations_dir` in force at startup. One already stored keeps its legal
        status, so a lift (`redline designations lift`) survives a restart; the rest of the file wins. False
        (nothing recorded) when the stored designation already says the same, so a restart is not a change."""
        previous = await self._db(self.store.designation, designation.id)
        if previous is not None:
            designation = designation.model_copy(update={"status": previous.status})
            if previous.version_hash == designation.version_hash:
                return False
        await self.add_designation(designation, actor)
        return True

    async def set_status(self, designation_id: str, status: LegalStatus, actor: str) -> Designation:
        """Lift (enjoin or rescind) or reinstate a designation."""
        previous = await self.designation(designation_id)
        changed = await self._db(self.store.set_status, designation_id, status, self.clock())
        await self._changed("designation", designation_id, status.value, changed, previous, actor)
        return changed

    async def impact(self, designation_id: str, days: int = 30) -> Impact:
        """Who a designation affects: tenants in scope (by contract or by use), their recent traffic by key
        and model, the days left before the phase-out deadline, and each model's successor."""
        d = await self.designation(designation_id)
        now = self.clock()
        classes = {c.tenant: c.tenant_class for c in await self._db(self.store.contracts)}
        classes |= await self._db(self.tenant_classes)
        since = (now - timedelta(days=days)).date()
        days_left = (
            (d.phaseout_deadline - now).days if d.phaseout_deadline and now < d.phaseout_deadline else None
        )
        tenants: list[AffectedTenant] = []
        for provider in d.subject_providers:
            users = await self._db(self.store.users, provider)
            traffic = await self._db(self.store.traffic, provider, since)
            for tenant in sorted(set(classes) | set(users)):
                tenant_class = classes.get(tenant, "unknown")
                if not d.scope.covers(tenant, tenant_class, None):
                    continue
                mine = [t for t in traffic if t.tenant == tenant]
                successors = {t.model: _successor(d, t.model) for t in mine}
                state = _state(d, tenant, tenant_class, provider, users.get(tenant), now)
                tenants.append(
                    AffectedTenant(
                        tenant, tenant_class, provider, users.get(tenant), state, days_left, mine, successors
                    )
                )
        return Impact(d, tenants)


def _successor(d: Designation, model: str) -> str | None:
    s = d.successor_for(model)
    return None if s is None else f"{s.provider}/{s.model or model}"
