"""POST /v1/moderations in OpenAI's format, with the red lines as the categories."""

from __future__ import annotations

import os
from typing import Any

from redline.gateway.guard import Guard
from redline.policy.decision import new_decision_id
from redline.protocols.base import ApiError
from redline.screening.verdict import RED_LINES

MODEL = "redline-red-lines"


async def moderate(body: dict[str, Any], guard: Guard) -> tuple[dict[str, Any], str]:
    """Screen each input separately; returns the response body and a decision id for the header."""
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise ApiError(
            400, "invalid_request", "input must be a string or a non-empty list of strings", "input"
        )
    results = []
    for text in inputs:
        verdict = await guard.screen([{"role": "user", "content": text}], None)
        results.append(
            {
                "flagged": verdict.flagged,
                "categories": {c: c in verdict.categories for c in RED_LINES},
                "category_scores": {c: float(verdict.scores.get(c, 0.0)) for c in RED_LINES},
            }
        )
    return {"id": f"modr-{os.urandom(12).hex()}", "model": MODEL, "results": results}, new_decision_id()
