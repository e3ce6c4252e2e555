"""A deterministic stand-in for redline's classifier: red lines are marked by test markers in the text."""

from __future__ import annotations

import json
import threading
from typing import Any

from redline.screening.verdict import AUTONOMOUS_WEAPONS, MASS_DOMESTIC_SURVEILLANCE, Verdict

MARKERS = {"REDLINE-TEST-SURVEIL": MASS_DOMESTIC_SURVEILLANCE, "REDLINE-TEST-WEAPON": AUTONOMOUS_WEAPONS}
RELEASE_HANGS = threading.Event()


def marker_screener(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Verdict:
    """Flags a red line when its marker appears anywhere: message text, tool calls or tool definitions."""
    blob = json.dumps([messages, tools])
    if "SCREENER-CRASH" in blob:
        raise RuntimeError("screener exploded")
    if "SCREENER-HANG" in blob:
        RELEASE_HANGS.wait(30)
    categories = tuple(category for marker, category in MARKERS.items() if marker in blob)
    scores = {category: 1.0 if category in categories else 0.0 for category in MARKERS.values()}
    return Verdict(bool(categories), categories, scores, "test-markers")
