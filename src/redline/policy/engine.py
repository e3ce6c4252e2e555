"""The decision engine: turns a screening verdict into a decision under the operator policy.

Forbid wins: any red line that applies denies, whatever else permits. This first version knows only the
built-in red lines; tenant contracts and designations extend it.
"""

from __future__ import annotations

import hashlib

from redline.policy.decision import Action, Decision, new_decision_id
from redline.screening.verdict import Verdict

BUILTIN_POLICY_VERSION = hashlib.sha256(b"redline-builtin-red-lines-v1").hexdigest()


def decide(verdict: Verdict, *, decision_id: str | None = None) -> Decision:
    """Decide on one screened input. A flagged red line blocks; nothing can override that here."""
    did = decision_id or new_decision_id()
    if verdict.flagged:
        return Decision(
            id=did,
            action=Action.BLOCK,
            categories=verdict.categories,
            scores=verdict.scores,
            stage=verdict.stage,
            clauses=tuple(f"red_line.{c}" for c in verdict.categories),
            reasons=tuple(f"red line {c} applies" for c in verdict.categories),
            policy_version=BUILTIN_POLICY_VERSION,
        )
    return Decision(
        id=did,
        action=Action.ALLOW,
        scores=verdict.scores,
        stage=verdict.stage,
        policy_version=BUILTIN_POLICY_VERSION,
    )
