"""POST /v1/moderations in OpenAI's format, with the red lines as the categories.

A moderation call is a screening decision like any other: the inputs are screened (each separately, as
OpenAI's endpoint does), decided once under the operator policy and the tenant's contract, and recorded in the
audit log before the answer is sent; the answer carries the decision's id in `x-redline-decision`.
"""

from __future__ import annotations

import os
from typing import Any

import rfc8785
from starlette.requests import Request
from starlette.responses import Response

from redline.audit.records import CanonicalBody
from redline.gateway.guard import Guard, Subject
from redline.gateway.http import error_response, read_json, respond
from redline.gateway.service import services
from redline.protocols import OPENAI
from redline.protocols.base import ApiError
from redline.screening.verdict import RED_LINES, Verdict

MODEL = "redline-red-lines"


def combined(verdicts: list[Verdict]) -> Verdict:
    """One verdict for a call's inputs: every red line any input crossed, each score at its highest, and the
    stage that settled the highest-scoring input."""
    scores = {c: max(v.scores.get(c, 0.0) for v in verdicts) for c in RED_LINES}
    categories = tuple(dict.fromkeys(c for v in verdicts for c in v.categories))
    top = max(verdicts, key=lambda v: max(v.scores.values(), default=0.0))
    return Verdict(bool(categories), categories, scores, top.stage)


async def moderate(body: dict[str, Any], guard: Guard) -> tuple[dict[str, Any], Verdict]:
    """Screen each input separately, as OpenAI's endpoint does; the answer, and the inputs' verdict."""
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) for i in inputs):
        raise ApiError(
            400, "invalid_request", "input must be a string or a non-empty list of strings", "input"
        )
    results, verdicts = [], []
    for text in inputs:
        verdict = await guard.screen([{"role": "user", "content": text}], None)
        verdicts.append(verdict)
        results.append(
            {
                "flagged": verdict.flagged,
                "categories": {c: c in verdict.categories for c in RED_LINES},
                "category_scores": {c: float(verdict.scores.get(c, 0.0)) for c in RED_LINES},
            }
        )
    return {"id": f"modr-{os.urandom(12).hex()}", "model": MODEL, "results": results}, combined(verdicts)


async def moderations(request: Request) -> Response:
    shared = services(request)
    guard = shared.guard
    try:
        principal = await shared.authenticator.authenticate(request.headers)
        body = await read_json(request, shared.settings.server.max_body_bytes)
        try:
            canonical = CanonicalBody.of(body)
        except rfc8785.CanonicalizationError as exc:
            raise ApiError(400, "invalid_request", f"body cannot be canonicalised: {exc}") from exc
        moderation, verdict = await moderate(body, guard)
        answer = CanonicalBody.of(moderation)  # hashed for the record and sent as these bytes
        contract = await shared.contracts.of(principal.tenant)
        subject = Subject(principal, request.url.path, MODEL, canonical, contract)
        decision = guard.decide(verdict, subject)
        await guard.record(decision, subject, "input", answer)
        return respond(answer, decision.id)
    except ApiError as exc:
        return error_response(OPENAI, exc)
