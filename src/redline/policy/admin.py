"""Admin API routes for designations and contracts, for the gateway to mount.

Documents are posted as YAML (JSON is YAML too), so the API reports errors with line and field exactly as
the CLI does. Every route needs the admin bearer token, read from the environment variable named in
`server.admin_token_env`; without it set, the admin API refuses everything.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from redline.policy.loader import PolicyError, Problem, WeakeningError, only, parse
from redline.policy.model import Designation, LegalStatus
from redline.policy.service import Impact, NotFound, PolicyService

Handler = Callable[[Request], Awaitable[Response]]
ACTOR = "admin-api"


def _error(status: int, message: str, kind: str, problems: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "type": kind}
    if problems is not None:
        body["problems"] = problems
    return JSONResponse({"error": body}, status_code=status)


def _guarded(token_env: str, handler: Handler) -> Handler:
    """Require the admin token; turn policy errors into 4xx answers, never a 500."""

    async def endpoint(request: Request) -> Response:
        expected = os.environ.get(token_env)
        if not expected:
            return _error(503, f"admin API disabled: {token_env} is not set", "unavailable")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
            return _error(401, "admin token required", "unauthorized")
        try:
            return await handler(request)
        except WeakeningError as exc:
            return _error(
                422, "refused: weakens a red line", "weakening_attempt", [str(p) for p in exc.problems]
            )
        except PolicyError as exc:
            return _error(422, "invalid policy document", "invalid_policy", [str(p) for p in exc.problems])
        except NotFound as exc:
            return _error(404, str(exc), "not_found")

    return endpoint


async def _text(request: Request) -> str:
    try:
        return (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError([Problem("<request>", 1, "", "the body is not UTF-8")]) from exc


def _impact(report: Impact) -> dict[str, Any]:
    return {
        "designation": report.designation.id,
        "tenants": [
            {
                "tenant": t.tenant,
                "tenant_class": t.tenant_class,
                "provider": t.provider,
                "first_used": t.first_used.isoformat() if t.first_used else None,
                "state": t.state,
                "days_left": t.days_left,
                "traffic": [asdict(row) for row in t.traffic],
                "successors": t.successors,
            }
            for t in report.tenants
        ],
    }


def admin_routes(
    service: PolicyService, token_env: str, on_change: Callable[[], None] = lambda: None
) -> list[Route]:
    """Routes under /admin/designations and /admin/contracts. `on_change` runs after a designation or a
    contract changes (the gateway reloads designations and forgets cached contracts)."""

    async def list_designations(request: Request) -> Response:
        found = await service.designations()
        return JSONResponse([d.model_dump(mode="json") for d in found])

    async def add_designations(request: Request) -> Response:
        docs = parse(await _text(request), "<request>", service.operator)
        designations = only(docs, Designation)
        if len(designations) != len(docs) or not docs:
            return _error(422, "only designations can be added here", "invalid_policy")
        for d in designations:
            await service.add_designation(d, ACTOR)
        on_change()
        return JSONResponse([{"id": d.id, "version_hash": d.version_hash} for d in designations], 201)

    async def show_designation(request: Request) -> Response:
        return JSONResponse((await service.designation(request.path_params["id"])).model_dump(mode="json"))

    async def lift_designation(request: Request) -> Response:
        status = request.query_params.get("status", LegalStatus.ENJOINED.value)
        if status not in (LegalStatus.ENJOINED, LegalStatus.RESCINDED, LegalStatus.ACTIVE):
            return _error(400, "status must be enjoined, rescinded or active", "invalid_request")
        d = await service.set_status(request.path_params["id"], LegalStatus(status), ACTOR)
        on_change()
        return JSONResponse({"id": d.id, "status": d.status.value, "version_hash": d.version_hash})

    async def impact(request: Request) -> Response:
        days = request.query_params.get("days", "30")
        if not days.isdigit():
            return _error(400, "days must be a whole number", "invalid_request")
        return JSONResponse(_impact(await service.impact(request.path_params["id"], int(days))))

    async def apply_contract(request: Request) -> Response:
        contract = await service.apply_contract(await _text(request), "<request>", ACTOR)
        on_change()
        return JSONResponse({"tenant": contract.tenant, "version_hash": contract.version_hash}, 201)

    async def show_contract(request: Request) -> Response:
        contract = await service.contract(request.path_params["tenant"])
        return JSONResponse(contract.model_dump(mode="json") | {"version_hash": contract.version_hash})

    table: list[tuple[str, Handler, str]] = [
        ("/admin/designations", list_designations, "GET"),
        ("/admin/designations", add_designations, "POST"),
        ("/admin/designations/{id}", show_designation, "GET"),
        ("/admin/designations/{id}/lift", lift_designation, "POST"),
        ("/admin/designations/{id}/impact", impact, "GET"),
        ("/admin/contracts", apply_contract, "POST"),
        ("/admin/contracts/{tenant}", show_contract, "GET"),
    ]
    return [Route(path, _guarded(token_env, handler), methods=[method]) for path, handler, method in table]
