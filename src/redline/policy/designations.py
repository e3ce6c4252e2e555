"""Routing under designations: which providers may serve one request, as a pure function of the clock.

`route` has no side effects and takes `now` as an argument, so a timeline (effective time, phase-out,
deadline, injunction) can be tested by moving a clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from redline.policy.model import Designation, Effect, LegalStatus

PHASEOUT_HEADER = "x-redline-phaseout"


@dataclass(frozen=True)
class RouteContext:
    """Who asks for what: the tenant, its class, the model, and the system it works for, if named."""

    tenant: str
    tenant_class: str
    model: str
    system: str | None = None


@dataclass(frozen=True)
class Target:
    """A provider that may serve the request, and the model name to ask it for."""

    provider: str
    model: str


class Outcome(StrEnum):
    PHASEOUT = "phaseout"
    REMOVED = "removed"
    MIGRATED = "migrated"


@dataclass(frozen=True)
class Event:
    """Something a designation did to this request, for metrics and the audit record."""

    designation: str
    provider: str
    outcome: Outcome


@dataclass(frozen=True)
class RouteResult:
    """Providers left to try (in order), headers for the client, and why nothing is left if so."""

    targets: tuple[Target, ...]
    headers: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None
    events: tuple[Event, ...] = ()

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(t.provider for t in self.targets)


def binds(d: Designation, context: RouteContext, provider: str, now: datetime) -> bool:
    """Whether `d` is in force against `provider` for this tenant at `now`."""
    return (
        d.status is LegalStatus.ACTIVE
        and provider in d.subject_providers
        and now >= d.effective_at
        and d.scope.covers(context.tenant, context.tenant_class, context.system)
        and not any(w.tenant == context.tenant and now < w.expires_at for w in d.waivers)
    )


def _check(
    context: RouteContext,
    provider: str,
    designations: Sequence[Designation],
    usage: Mapping[str, datetime],
    now: datetime,
) -> tuple[Designation | None, list[Designation]]:
    """The designation that excludes `provider` (if any) and those that only warn of a phase-out.

    Use begun before a designation took effect is existing use: untouched by `no_new_use` alone, and under
    `remove_existing_use` allowed until the phase-out deadline (none: it stops at once)."""
    warnings: list[Designation] = []
    for d in designations:
        if not binds(d, context, provider, now):
            continue
        first_use = usage.get(provider)
        if first_use is None or first_use >= d.effective_at:
            return d, warnings
        if Effect.REMOVE_EXISTING_USE not in d.effects:
            continue
        if d.phaseout_deadline is None or now >= d.phaseout_deadline:
            return d, warnings
        warnings.append(d)
    return None, warnings


def _refusal(context: RouteContext, excluded: Sequence[tuple[str, Designation]]) -> str:
    reasons = "; ".join(
        f"provider {p} is excluded by designation {d.id} ({d.authority}), in force since "
        f"{d.effective_at.isoformat()}"
        for p, d in excluded
    )
    return f"model {context.model} is not available to tenant {context.tenant}: {reasons}; no successor"


def route(
    context: RouteContext,
    candidates: Sequence[str],
    designations: Sequence[Designation],
    usage: Mapping[str, datetime],
    now: datetime,
) -> RouteResult:
    """Filter `candidates` (providers serving `context.model`, in preference order) by `designations`.

    `usage` maps a provider to this tenant's first use of it. Existing use under phase-out is served with a
    warning header; a provider excluded for this tenant is replaced by the designation's successor for the
    model, if there is one; with nothing left, `refusal` names the designations.
    """
    targets: list[Target] = []
    excluded: list[tuple[str, Designation]] = []
    events: list[Event] = []
    phaseouts: list[str] = []
    for provider in candidates:
        blocker, warnings = _check(context, provider, designations, usage, now)
        if blocker is not None:
            excluded.append((provider, blocker))
            continue
        targets.append(Target(provider, context.model))
        for d in warnings:
            assert d.phaseout_deadline is not None  # a warning exists only before a deadline
            phaseouts.append(f"provider={provider}; deadline={d.phaseout_deadline.isoformat()}")
            events.append(Event(d.id, provider, Outcome.PHASEOUT))
    for provider, d in excluded:
        successor = d.successor_for(context.model)
        if (
            successor is not None
            and successor.provider not in {t.provider for t in targets}
            and _check(context, successor.provider, designations, usage, now)[0] is None
        ):
            targets.append(Target(successor.provider, successor.model or context.model))
        moved = successor is not None and successor.provider in {t.provider for t in targets}
        events.append(Event(d.id, provider, Outcome.MIGRATED if moved else Outcome.REMOVED))
    headers = {PHASEOUT_HEADER: ", ".join(phaseouts)} if phaseouts else {}
    refusal = _refusal(context, excluded) if excluded and not targets else None
    return RouteResult(tuple(targets), headers, refusal, tuple(events))
