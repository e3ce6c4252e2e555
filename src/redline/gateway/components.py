"""The gateway's parts, built from Settings in one place: database, audit log, tenants, policy and routing.

`redline serve` and the tests build the app through `create_app`, which uses this; so do operator tools that
need the same wiring. All parts share one database engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from anyio import to_thread
from cachetools import TTLCache
from sqlalchemy import Engine

from redline.audit.checkpoint import Signer
from redline.audit.log import AuditLog
from redline.audit.sink import AuditSink
from redline.config import Settings
from redline.gateway.caching import read_through
from redline.gateway.tenants import TenantStore
from redline.gateway.usage import UsageRecorder
from redline.policy.hook import DesignationFilter
from redline.policy.loader import load_dir, only, operator_policy, policy_files
from redline.policy.model import Designation, TenantContract
from redline.policy.service import Clock, PolicyService
from redline.policy.store import PolicyStore
from redline.routing.providers import Provider
from redline.routing.router import CandidateFilter, Router
from redline.store import connect, migrate

CONTRACT_TTL_S = 5.0  # like keys: a contract applied by another process takes effect within this time
POLICY_RELOAD_S = 5.0  # designations and the operator policy applied by another process take effect within this
STARTUP_ACTOR = "startup"


class Contracts:
    """Each tenant's contract in force, cached briefly so the hot path does not query per request."""

    def __init__(self, store: PolicyStore, ttl_s: float = CONTRACT_TTL_S) -> None:
        self.store = store
        self.cache: TTLCache[str, TenantContract | None] = TTLCache(maxsize=65536, ttl=ttl_s)

    async def of(self, tenant: str) -> TenantContract | None:
        return await read_through(self.cache, tenant, lambda: self.store.contract(tenant))

    def clear(self) -> None:
        self.cache.clear()


@dataclass
class Components:
    settings: Settings
    engine: Engine
    audit: AuditSink
    owned_log: AuditLog | None  # the log built here, closed with the app; None when the caller gave one
    tenants: TenantStore
    policy: PolicyService
    designations: DesignationFilter[Provider]
    contracts: Contracts
    usage: UsageRecorder
    router: Router

    def refresh(self) -> None:
        """After a policy change: reload designations and forget cached contracts."""
        self.designations.refresh()
        self.contracts.clear()

    async def start(self) -> None:
        """Put the configured policy in force: the operator policy, every contract in contracts_dir, then every
        designation in designations_dir (each is audited only when it changes what is in force)."""
        config = self.settings.policy
        await self.policy.apply_operator_policy(operator_policy(config.operator_policy), STARTUP_ACTOR)
        for path in policy_files(config.contracts_dir):  # as text: a weakening attempt is refused and recorded
            await self.policy.apply_contract(path.read_text(encoding="utf-8"), str(path), STARTUP_ACTOR)
        for designation in only(load_dir(config.designations_dir), Designation):
            await self.policy.declare_designation(designation, STARTUP_ACTOR)
        self.refresh()

    async def reload_policy(self) -> None:
        """Reload designations and the operator policy in force periodically, for changes made outside this
        process (`redline designations ...`, `redline policy apply`); runs until cancelled."""
        while True:
            await anyio.sleep(POLICY_RELOAD_S)
            await to_thread.run_sync(self.designations.refresh)
            await self.policy.reload_operator_policy()

    async def stop(self) -> None:
        """Flush usage, close upstream connections, then the log (commits pending records, signs a last
        checkpoint), then the database."""
        await to_thread.run_sync(self.usage.close)
        await self.router.aclose()
        if self.owned_log is not None:
            await to_thread.run_sync(self.owned_log.close)
        self.engine.dispose()


def open_audit_log(settings: Settings, engine: Engine) -> AuditLog:
    audit = settings.audit
    return AuditLog(engine, Signer.load_or_create(audit.signing_key_path, audit.log_origin), audit)


def build(
    settings: Settings,
    *,
    audit: AuditSink | None = None,
    clock: Clock,
    candidate_filter: CandidateFilter | None = None,
) -> Components:
    """Every part of the gateway over one migrated database. `audit` replaces the configured log (tests);
    `candidate_filter` replaces designation routing (tests of the routing seam)."""
    engine = connect(settings.database.url)
    migrate(engine)
    owned_log: AuditLog | None = None
    if audit is None:
        audit = owned_log = open_audit_log(settings, engine)
    policy_store = PolicyStore(engine)
    providers = [Provider(p) for p in settings.providers]
    designations = DesignationFilter(policy_store, providers)
    tenants = TenantStore(engine)
    operator = operator_policy(settings.policy.operator_policy)
    return Components(
        settings=settings,
        engine=engine,
        audit=audit,
        owned_log=owned_log,
        tenants=tenants,
        policy=PolicyService(policy_store, audit, operator=operator, clock=clock, tenant_classes=tenants.classes),
        designations=designations,
        contracts=Contracts(policy_store),
        usage=UsageRecorder(designations.record_uses),
        router=Router(providers, candidate_filter or designations),
    )
