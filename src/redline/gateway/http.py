"""HTTP plumbing shared by the endpoints: bounded JSON bodies, errors in protocol format, disconnects."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from redline.audit.records import CanonicalBody
from redline.policy.decision import new_decision_id
from redline.protocols import ANTHROPIC, OPENAI
from redline.protocols.base import ApiError, WireProtocol

DECISION_HEADER = "x-redline-decision"
T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, refusing bodies over `limit` bytes without reading them whole."""
    too_large = ApiError(413, "too_large", f"request body exceeds {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ApiError(400, "invalid_request", f"malformed JSON body: {exc}") from exc
    if not isinstance(parsed, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object")
    return parsed


def client_protocol(request: Request) -> WireProtocol:
    """The protocol a client speaks, where any may call: Anthropic clients send `anthropic-version`."""
    if request.url.path == "/v1/messages" or "anthropic-version" in request.headers:
        return ANTHROPIC
    return OPENAI


def respond(
    body: Mapping[str, Any] | CanonicalBody,
    decision_id: str,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON answer naming its decision. A body already canonicalised for its audit record is sent as those
    bytes (canonical JSON is JSON), not serialised a second time."""
    all_headers = {DECISION_HEADER: decision_id, **(headers or {})}
    if isinstance(body, CanonicalBody):
        return Response(body.data, status, headers=all_headers, media_type="application/json")
    return JSONResponse(dict(body), status, headers=all_headers)


def error_response(protocol: WireProtocol, error: ApiError, decision_id: str | None = None) -> Response:
    """`error` in the client's protocol. Errors before any decision still carry a fresh id for tracing."""
    decision_id = error.decision_id or decision_id or new_decision_id()
    headers = None if error.retry_after is None else {"retry-after": str(math.ceil(error.retry_after))}
    return respond(protocol.error_body(error), decision_id, error.status, headers)


async def unless_disconnected(request: Request, call: Awaitable[T]) -> T:
    """Await `call`, cancelling it if the client goes away (its body must have been read already).

    A watcher task waits for the disconnect and then cancels this task, so `call` runs in the caller's task,
    as it would without the watch (plain asyncio: anyio's task group and cancel scopes cost more than the
    rest of this)."""
    current = asyncio.current_task()
    assert current is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone = True
        current.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await call
    except asyncio.CancelledError:
        if gone and current.uncancel() == 0:  # cancelled by the watcher alone: the client left
            raise ClientGone from None
        raise
    finally:
        watcher.cancel()
