"""The audit log's admin HTTP API, for the gateway to mount under /admin/audit.

    GET /checkpoint                       the latest signed checkpoint and the key to check it
    GET /entries/{index}                  one record
    GET /proof/inclusion?index=N          a proof bundle (see `bundle`) for entry N ...
    GET /proof/inclusion?decision_id=D    ... or for every record of decision D
    GET /proof/consistency?old=M&new=N    the hashes proving the first M entries are a prefix of the first N

Errors are JSON `{"error": {"type", "message"}}` with a 4xx status.
"""

from __future__ import annotations

import base64
import hmac
import os
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from redline.audit.bundle import make_bundle
from redline.audit.log import AuditError, AuditLog

Guard = Callable[[Request], Response | None]
"""Returns the error response for a request that may not pass, None for one that may."""


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status, headers=headers)


def bearer_guard(token_env: str) -> Guard:
    """Admit requests bearing the token held in environment variable `token_env` (read per request)."""

    def guard(request: Request) -> Response | None:
        expected = os.environ.get(token_env, "")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if expected and scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode()):
            return None
        message = "admin token required" if expected else f"admin API disabled: {token_env} is not set"
        return error(401, "unauthorized", message, {"WWW-Authenticate": "Bearer"})

    return guard


def _int(request: Request, name: str) -> int:
    value = request.query_params.get(name)
    if value is None or not (value.isascii() and value.isdigit()):
        raise ValueError(f"query parameter {name!r} must be a non-negative integer")
    return int(value)


def audit_routes(log: AuditLog, require_admin: Guard) -> list[Route]:
    """The admin routes over `log`, each behind `require_admin`."""

    def checkpoint(_: Request) -> Any:
        latest = log.latest_checkpoint()
        if latest is None:
            raise AuditError("the log has no checkpoint yet")
        return {
            "size": latest.checkpoint.size,
            "root_hash": base64.b64encode(latest.checkpoint.root_hash).decode(),
            "note": latest.note,
            "public_key": log.signer.verifier.vkey,
        }

    def entry(request: Request) -> Any:
        index: int = request.path_params["index"]
        return {"index": index, "record": log.entry(index).record}

    def inclusion(request: Request) -> Any:
        decision_id = request.query_params.get("decision_id")
        if decision_id is None:
            indexes = [_int(request, "index")]
            log.entry(indexes[0])  # a 404 naming the index, rather than a proof error
        elif not (indexes := log.find(decision_id)):
            raise AuditError(f"no record of decision {decision_id!r}")
        return make_bundle(log, indexes)

    def consistency(request: Request) -> Any:
        old, new = _int(request, "old"), _int(request, "new")
        proof = log.consistency_proof(old, new)
        return {"old": old, "new": new, "consistency_proof": [base64.b64encode(h).decode() for h in proof]}

    def endpoint(read: Callable[[Request], Any]) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            if (denied := require_admin(request)) is not None:
                return denied
            try:
                return JSONResponse(await run_in_threadpool(read, request))
            except AuditError as exc:
                return error(404, "not_found", str(exc))
            except ValueError as exc:
                return error(400, "invalid_request", str(exc))

        return handle

    return [
        Route("/checkpoint", endpoint(checkpoint)),
        Route("/entries/{index:int}", endpoint(entry)),
        Route("/proof/inclusion", endpoint(inclusion)),
        Route("/proof/consistency", endpoint(consistency)),
    ]
