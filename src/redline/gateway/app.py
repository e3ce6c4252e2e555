"""The ASGI application: routes, shared services and their lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redline.audit.sink import AuditSink
from redline.config import Settings
from redline.gateway.auth import Authenticator
from redline.gateway.completions import ModelEndpoint, Services
from redline.gateway.guard import Clock, Guard, Screener, default_screener, utc_now
from redline.gateway.http import client_protocol, error_response, read_json, respond
from redline.gateway.metrics import Metrics
from redline.gateway.moderations import moderate
from redline.gateway.tenants import TenantStore
from redline.policy.decision import new_decision_id
from redline.protocols import ANTHROPIC, OPENAI
from redline.protocols.base import ApiError, kind_for_status
from redline.routing.providers import Provider
from redline.routing.router import CandidateFilter, Router
from redline.store import connect, migrate


class _CountRequests:
    """Counts every HTTP response by route path and status; unknown paths share one label."""

    def __init__(self, app: ASGIApp, metrics: Metrics, paths: frozenset[str]) -> None:
        self.app, self.metrics, self.paths = app, metrics, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                path = scope["path"] if scope["path"] in self.paths else "other"
                self.metrics.requests.labels(path, str(message["status"])).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(
    settings: Settings,
    *,
    screener: Screener | None = None,
    audit: AuditSink | None = None,
    clock: Clock | None = None,
    candidate_filter: CandidateFilter | None = None,
) -> Starlette:
    """The gateway. `screener` defaults to redline's classifier; `audit` receives every decision."""
    engine = connect(settings.database.url)
    metrics = Metrics()
    clock = clock or utc_now
    router = Router([Provider(p) for p in settings.providers], candidate_filter)
    guard = Guard(screener or default_screener, settings.screening.timeout_s, metrics, audit, clock)
    services = Services(settings, Authenticator(TenantStore(engine)), router, guard, metrics, clock)

    async def models(request: Request) -> Response:
        protocol = client_protocol(request)
        try:
            await services.authenticator.authenticate(request.headers)
        except ApiError as exc:
            return error_response(protocol, exc)
        names = router.models()
        if protocol is ANTHROPIC:
            data: list[dict[str, Any]] = [
                {"type": "model", "id": m, "display_name": m, "created_at": "1970-01-01T00:00:00Z"}
                for m in names
            ]
            body = {"data": data, "has_more": False, "first_id": names[0] if names else None,
                    "last_id": names[-1] if names else None}  # fmt: skip
        else:
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "redline"} for m in names]
            body = {"object": "list", "data": data}
        return respond(body, new_decision_id())

    async def moderations(request: Request) -> Response:
        try:
            await services.authenticator.authenticate(request.headers)
            body = await read_json(request, settings.server.max_body_bytes)
            return respond(*await moderate(body, guard))
        except ApiError as exc:
            return error_response(OPENAI, exc)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            await to_thread.run_sync(TenantStore(engine).list_tenants)
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
        return JSONResponse({"status": "ready", "providers": len(router.providers)})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(), media_type="text/plain; version=0.0.4")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await to_thread.run_sync(migrate, engine)
        try:
            yield
        finally:
            await router.aclose()
            engine.dispose()

    routes = [
        Route("/v1/chat/completions", ModelEndpoint(OPENAI, services), methods=["POST"]),
        Route("/v1/messages", ModelEndpoint(ANTHROPIC, services), methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/moderations", moderations, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        """Unknown paths, wrong methods and unexpected failures, still in the client's protocol."""
        if isinstance(exc, HTTPException):
            error = ApiError(exc.status_code, kind_for_status(exc.status_code), str(exc.detail))
        else:
            error = ApiError(500, "upstream", "internal error")
        return error_response(client_protocol(request), error)

    handlers = {HTTPException: http_error, Exception: http_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.add_middleware(_CountRequests, metrics=metrics, paths=frozenset(r.path for r in routes))
    app.state.services = services
    return app
