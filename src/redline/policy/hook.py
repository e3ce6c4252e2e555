"""The gateway router's `candidate_filter`: designations applied to live traffic.

`route` is pure; this binds it to the stored designations and to each tenant's first use of each provider,
kept in memory (loaded once per tenant, updated as traffic is recorded) so the hot path does no query.
Call `refresh()` after a designation changes (the admin API does).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Generic, Protocol

from prometheus_client import Counter

from redline.policy.designations import RouteContext, route
from redline.policy.store import PolicyStore, Use
from redline.routing.router import P, RouteResult

DESIGNATION_EVENTS = Counter(
    "redline_designation_routing_total",
    "Requests a designation acted on: phase-out warning, provider removed, moved to a successor.",
    ["designation", "provider", "outcome"],
)
DESIGNATION_REFUSALS = Counter(
    "redline_designation_refusals_total", "Requests refused: designations left no provider.", ["tenant"]
)


class Context(Protocol):
    """What the router knows of a request (the gateway's RouteContext)."""

    @property
    def tenant(self) -> str: ...
    @property
    def tenant_class(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def now(self) -> datetime: ...


class DesignationFilter(Generic[P]):
    def __init__(self, store: PolicyStore, providers: Sequence[P]) -> None:
        self.store = store
        self.by_name = {p.name: p for p in providers}
        self.designations = store.designations()
        self._first_uses: dict[str, dict[str, datetime]] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        self.designations = self.store.designations()

    def _usage(self, tenant: str) -> dict[str, datetime]:
        with self._lock:
            if tenant not in self._first_uses:
                self._first_uses[tenant] = self.store.first_uses(tenant)
            return self._first_uses[tenant]

    def __call__(self, context: Context, candidates: list[P]) -> RouteResult[P]:
        ctx = RouteContext(context.tenant, context.tenant_class, context.model)
        result = route(
            ctx, [p.name for p in candidates], self.designations, self._usage(ctx.tenant), context.now
        )
        for event in result.events:
            DESIGNATION_EVENTS.labels(event.designation, event.provider, event.outcome.value).inc()
        if result.refusal:
            DESIGNATION_REFUSALS.labels(ctx.tenant).inc()
        targets = [t for t in result.targets if t.provider in self.by_name]
        return RouteResult(
            providers=tuple(self.by_name[t.provider] for t in targets),
            headers=result.headers,
            refusal=result.refusal,
            models={t.provider: t.model for t in targets if t.model != ctx.model},
        )

    def record_use(self, tenant: str, key_id: str, provider: str, model: str, at: datetime) -> None:
        """Count one served request; its first use of a provider is what later tells existing use from new."""
        self.record_uses([(tenant, key_id, provider, model, at)])

    def record_uses(self, uses: Sequence[Use]) -> None:
        """Count many served requests in one write (the gateway batches them off the event loop)."""
        self.store.record_uses(uses)
        with self._lock:
            for tenant, _, provider, _, at in uses:
                if tenant in self._first_uses:
                    self._first_uses[tenant].setdefault(provider, at)
