"""The ASGI application: routes, shared services and their lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from anyio import to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redline.audit.sink import AuditSink
from redline.config import Settings
from redline.gateway import service
from redline.gateway.auth import Authenticator
from redline.gateway.completions import ModelEndpoint, Services
from redline.gateway.guard import Clock, Guard, Screener, default_screener, utc_now
from redline.gateway.metrics import Metrics
from redline.gateway.moderations import moderations
from redline.gateway.tenants import TenantStore
from redline.protocols import ANTHROPIC, OPENAI
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
    """The gateway. `screener` defaults to redline's classifier; `audit` receives every decision before the
    response it governs; `candidate_filter` is routing policy's seam (see redline.routing.router)."""
    engine = connect(settings.database.url)
    metrics = Metrics()
    clock = clock or utc_now
    router = Router([Provider(p) for p in settings.providers], candidate_filter)
    guard = Guard(screener or default_screener, settings.screening.timeout_s, metrics, audit, clock)
    services = Services(settings, Authenticator(TenantStore(engine)), router, guard, metrics, clock)

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
        Route("/v1/models", service.models, methods=["GET"]),
        Route("/v1/moderations", moderations, methods=["POST"]),
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/readyz", service.readyz, methods=["GET"]),
        Route("/metrics", service.metrics, methods=["GET"]),
    ]
    handlers = {HTTPException: service.http_error, Exception: service.http_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.add_middleware(_CountRequests, metrics=metrics, paths=frozenset(r.path for r in routes))
    app.state.services = services
    return app
