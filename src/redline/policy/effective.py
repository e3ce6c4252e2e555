"""The effective policy of one tenant: the operator's red lines, tightened by its contract and provider.

Merging only ever tightens (lower thresholds, stricter actions, more restrictions); `guard` has already
refused any document that tries otherwise, and `min`/`max` here keep that true even if it had not.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from redline.policy.decision import Action
from redline.policy.model import (
    STRICTNESS,
    OperatorPolicy,
    ProviderUsagePolicy,
    Restriction,
    TenantContract,
)
from redline.screening.verdict import Verdict


@dataclass(frozen=True)
class Origin:
    """Where a clause came from: the document (`operator`, `contract`, `provider`) and the path in it."""

    document: str
    path: tuple[str | int, ...]

    def __str__(self) -> str:
        return f"{self.document}:{'.'.join(str(p) for p in self.path)}"


@dataclass(frozen=True)
class Clause:
    """One denying clause: a category, the score that triggers it and what it does."""

    id: str
    category: str
    threshold: float
    action: Action
    red_line: bool
    origins: tuple[Origin, ...]
    description: str = ""

    def applies(self, verdict: Verdict) -> bool:
        """Whether the verdict triggers this clause: flagged by the screener or scored at the threshold."""
        score = verdict.scores.get(self.category, 0.0)
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score of {self.category} out of range: {score!r}")
        return self.category in verdict.categories or score >= self.threshold


@dataclass(frozen=True)
class EffectivePolicy:
    clauses: tuple[Clause, ...]
    allowed_models: tuple[str, ...] | None
    allowed_providers: tuple[str, ...] | None
    retain_content: bool
    version: str


def _restrictions(document: str, owner: str, restrictions: list[Restriction]) -> list[Clause]:
    """Clauses of a contract's or provider's restricted uses; a described use is scored under its id."""
    return [
        Clause(
            id=f"{document}.{owner}.restriction.{r.id}",
            category=r.category or r.id,
            threshold=r.threshold,
            action=r.action,
            red_line=False,
            origins=(Origin(document, ("restricted_uses", i)),),
            description=r.description or "",
        )
        for i, r in enumerate(restrictions)
    ]


def _stricter(a: Action, b: Action | None) -> Action:
    return a if b is None or STRICTNESS[a] >= STRICTNESS[b] else b


@lru_cache(maxsize=1024)
def effective(
    operator: OperatorPolicy,
    contract: TenantContract | None = None,
    provider: ProviderUsagePolicy | None = None,
) -> EffectivePolicy:
    """Merge the operator policy with a tenant's contract and a provider's usage policy (memoised by
    content, so the per-request cost is one lookup)."""
    clauses: list[Clause] = []
    for name, line in operator.red_lines.items():
        overlay = contract.red_lines.get(name) if contract else None
        origins = [Origin("operator", ("red_lines", name))]
        threshold, action = line.threshold, line.action
        if overlay is not None:
            origins.append(Origin("contract", ("red_lines", name)))
            threshold = min(threshold, overlay.threshold or threshold)
            action = _stricter(action, overlay.action)
        clauses.append(
            Clause(f"red_line.{name}", name, threshold, action, True, tuple(origins), line.description)
        )
    if contract:
        clauses += _restrictions("contract", contract.tenant, contract.restricted_uses)
    if provider:
        clauses += _restrictions("provider", provider.provider, provider.restricted_uses)
    versions = [operator.version_hash, *(d.version_hash for d in (contract, provider) if d is not None)]
    return EffectivePolicy(
        clauses=tuple(clauses),
        allowed_models=tuple(contract.allowed_models)
        if contract and contract.allowed_models is not None
        else None,
        allowed_providers=(
            tuple(contract.allowed_providers) if contract and contract.allowed_providers is not None else None
        ),
        retain_content=bool(contract and contract.retain_content),
        version=versions[0]
        if len(versions) == 1
        else hashlib.sha256("|".join(versions).encode()).hexdigest(),
    )
