"""The decision engine: turns a screening verdict into a decision under the effective policy of a tenant.

Forbid wins: every clause that applies (a red line, a contract or provider restriction, a model the contract
does not allow) denies, whatever permits exist; the strictest action of those that apply is the decision.
An error while evaluating a clause counts as that clause applying, and a category the screener flagged that
no clause covers blocks too (fail closed).

Why not Cedar (`cedarpy`): Cedar's forbid-wins evaluation is exactly this rule, but everything it would decide
here is either a threshold over classifier scores (Cedar has no floating point; its `decimal` extension would
need every score re-encoded per request) or a clock-driven routing outcome with phase-out warnings and
successor providers (`designations.route`), which is not an allow/deny answer. Cedar would add a native
extension and a second policy language to the hot path, to evaluate a dozen comparisons that are plainer,
faster and easier to audit as typed Python over the same YAML documents. The semantics stay Cedar's: default
permit for lawful use, any applying forbid wins, no clause can grant an exception to a forbid.
"""

from __future__ import annotations

from dataclasses import dataclass

from redline.policy.decision import Action, Decision, new_decision_id
from redline.policy.effective import EffectivePolicy, effective
from redline.policy.loader import bundled_operator_policy
from redline.policy.model import STRICTNESS, OperatorPolicy, ProviderUsagePolicy, TenantContract
from redline.screening.verdict import Verdict


@dataclass(frozen=True)
class Hit:
    """A clause that applies, the category it is about (if any), why, and what it does."""

    clause: str
    category: str | None
    reason: str
    action: Action


def evaluate(verdict: Verdict, policy: EffectivePolicy, model: str | None = None) -> list[Hit]:
    """The clauses of `policy` that apply to `verdict`, red lines first."""
    hits: list[Hit] = []
    for clause in policy.clauses:
        try:
            if clause.applies(verdict):
                what = "red line" if clause.red_line else "restriction"
                hits.append(
                    Hit(clause.id, clause.category, f"{what} {clause.category} applies", clause.action)
                )
        except Exception as exc:
            reason = f"{clause.category} could not be evaluated ({exc}); failing closed"
            hits.append(Hit(clause.id, clause.category, reason, Action.BLOCK))
    known = {c.category for c in policy.clauses}
    hits += [
        Hit(
            f"screening.{c}",
            c,
            f"screening flagged {c}, which no clause covers; failing closed",
            Action.BLOCK,
        )
        for c in verdict.categories
        if c not in known
    ]
    if model is not None and policy.allowed_models is not None and model not in policy.allowed_models:
        hits.append(
            Hit(
                "contract.allowed_models", None, f"model {model} is not allowed by the contract", Action.BLOCK
            )
        )
    return hits


def decide(
    verdict: Verdict,
    *,
    tenant: str | None = None,
    policy: OperatorPolicy | None = None,
    contract: TenantContract | None = None,
    provider_policy: ProviderUsagePolicy | None = None,
    model: str | None = None,
    decision_id: str | None = None,
) -> Decision:
    """Decide on one screened input under the operator policy (the bundled one by default) and the
    tenant's contract and provider policy when given. Any applying clause denies; nothing overrides it."""
    did = decision_id or new_decision_id()
    try:
        if contract is not None and tenant is not None and contract.tenant != tenant:
            raise ValueError(f"contract of {contract.tenant} used for tenant {tenant}")
        merged = effective(policy or bundled_operator_policy(), contract, provider_policy)
        hits = evaluate(verdict, merged, model)
        version = merged.version
    except Exception as exc:  # no usable policy means no permit
        hits = [
            Hit("policy.error", None, f"policy could not be evaluated ({exc}); failing closed", Action.BLOCK)
        ]
        version = ""
    return Decision(
        id=did,
        action=max((h.action for h in hits), key=STRICTNESS.__getitem__, default=Action.ALLOW),
        categories=tuple(dict.fromkeys(h.category for h in hits if h.category)),
        scores=verdict.scores,
        stage=verdict.stage,
        clauses=tuple(h.clause for h in hits),
        reasons=tuple(h.reason for h in hits),
        policy_version=version,
    )
