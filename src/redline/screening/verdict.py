"""The result of screening one input: what redline's detection engine concluded and how sure it is."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MASS_DOMESTIC_SURVEILLANCE = "mass_domestic_surveillance"
AUTONOMOUS_WEAPONS = "autonomous_weapons"
RED_LINES: tuple[str, ...] = (MASS_DOMESTIC_SURVEILLANCE, AUTONOMOUS_WEAPONS)
ALLOWED = "allowed"
LABELS: tuple[str, ...] = (*RED_LINES, ALLOWED)


@dataclass(frozen=True)
class Verdict:
    """Screening outcome.

    `scores` holds one probability-like score in [0, 1] per red line; `categories` lists the red lines whose
    score reached its threshold, so `flagged` is true exactly when `categories` is non-empty. `stage` says
    which stage of the cascade settled the input, and `evidence` the window or rule that drove the score.
    """

    flagged: bool
    categories: tuple[str, ...]
    scores: dict[str, float]
    stage: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "flagged": self.flagged,
            "categories": list(self.categories),
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "stage": self.stage,
        }
