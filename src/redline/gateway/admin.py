"""Admin API for keys, mounted under /admin/keys: `POST /{key_id}/revoke` revokes a key at once.

Behind the admin bearer token like the rest of /admin. The revocation is recorded in the audit log (as
`redline keys revoke` records it) and, once the answer is sent, this process admits no request with the key;
other processes notice within `auth.REVOCATION_CHECK_S`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from redline.audit.api import Guard, error
from redline.audit.records import KEY_CHANGE, change_record
from redline.audit.sink import AuditSink
from redline.gateway.auth import Authenticator
from redline.gateway.tenants import TenantError

ACTOR = "admin-api"


def key_routes(authenticator: Authenticator, audit: AuditSink, require_admin: Guard) -> list[Route]:
    async def revoke(request: Request) -> Response:
        if (denied := require_admin(request)) is not None:
            return denied
        key_id: str = request.path_params["key_id"]
        try:
            revoked = await authenticator.revoke(key_id)
        except TenantError as exc:
            return error(404, "not_found", str(exc))
        change = {"action": "key revoked", **revoked}
        await audit.append(change_record(KEY_CHANGE, actor=ACTOR, subject=key_id, change=change))
        return JSONResponse({"revoked": key_id, "tenant": revoked["tenant"]})

    return [Route("/{key_id}/revoke", revoke, methods=["POST"])]
