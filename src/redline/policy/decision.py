"""A decision: what redline does with one request or response, and why."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Action(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    REQUIRE_APPROVAL = "require_approval"
    FLAG = "flag"


def new_decision_id() -> str:
    """A time-ordered, unguessable id: 12 hex digits of milliseconds, then 80 random bits."""
    return f"dec_{int(time.time() * 1000):012x}{os.urandom(10).hex()}"


@dataclass(frozen=True)
class Decision:
    """The outcome of the policy engine. `clauses` name the policy clauses that produced it."""

    id: str
    action: Action
    categories: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    stage: str = ""
    clauses: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    policy_version: str = ""

    @property
    def denied(self) -> bool:
        return self.action in (Action.BLOCK, Action.REQUIRE_APPROVAL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action.value,
            "categories": list(self.categories),
            "scores": self.scores,
            "stage": self.stage,
            "clauses": list(self.clauses),
            "reasons": list(self.reasons),
            "policy_version": self.policy_version,
        }
