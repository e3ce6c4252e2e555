"""POST /v1/moderations in OpenAI's format, with the red lines as the categories."""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from redline.gateway.guard import Guard
from redline.gateway.http import error_response, read_json, respond
from redline.gateway.service import services
from redline.policy.decision import new_decision_id
from redline.protocols import OPENAI
from redline.protocols.base import ApiError
from redline.screening.verdict import RED_LINES

MODEL = "redline-red-lines"


async def moderate(body: dict[str, Any], guard: Guard) -> dict[str, Any]:
    """Screen each input separately, as OpenAI's endpoint does."""
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
    return {"id": f"modr-{os.urandom(12).hex()}", "model": MODEL, "results": results}


async def moderations(request: Request) -> Response:
    shared = services(request)
    try:
        await shared.authenticator.authenticate(request.headers)
        body = await read_json(request, shared.settings.server.max_body_bytes)
        return respond(await moderate(body, shared.guard), new_decision_id())
    except ApiError as exc:
        return error_response(OPENAI, exc)
