"""The small endpoints: model list, health, readiness, metrics, and errors for paths no route serves."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from anyio import to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from redline.gateway.completions import Services
from redline.gateway.http import client_protocol, error_response, respond
from redline.policy.decision import new_decision_id
from redline.protocols import ANTHROPIC
from redline.protocols.base import ApiError, kind_for_status


def services(request: Request) -> Services:
    """The gateway's shared services, kept on the app by `create_app`."""
    found: Services = request.app.state.services
    return found


async def models(request: Request) -> Response:
    """The models clients may ask for, in OpenAI's shape or (given `anthropic-version`) Anthropic's."""
    protocol = client_protocol(request)
    try:
        await services(request).authenticator.authenticate(request.headers)
    except ApiError as exc:
        return error_response(protocol, exc)
    names = services(request).router.models()
    body: dict[str, Any]
    if protocol is ANTHROPIC:
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"} for m in names
        ]
        body = {"data": data, "has_more": False, "first_id": names[0] if names else None}
        body["last_id"] = names[-1] if names else None
    else:
        body = {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "redline"} for m in names],
        }
    return respond(body, new_decision_id())


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _ping(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        conn.execute(sa.select(1))


async def readyz(request: Request) -> Response:
    """Ready when the database answers (keys cannot be checked without it)."""
    try:
        await to_thread.run_sync(_ping, services(request).authenticator.store.engine)
    except Exception as exc:
        return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return JSONResponse({"status": "ready", "providers": len(services(request).router.providers)})


async def metrics(request: Request) -> Response:
    return Response(services(request).metrics.render(), media_type="text/plain; version=0.0.4")


async def http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths, wrong methods and unexpected failures, still in the client's protocol."""
    if isinstance(exc, HTTPException):
        error = ApiError(exc.status_code, kind_for_status(exc.status_code), str(exc.detail))
    else:
        error = ApiError(500, "upstream", "internal error")
    return error_response(client_protocol(request), error)
