"""The ASGI application: routes, shared services and their lifetime."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redline.audit.api import audit_routes, bearer_guard
from redline.audit.log import AuditLog
from redline.audit.sink import AuditSink
from redline.config import Settings
from redline.gateway import components, service
from redline.gateway.admin import key_routes
from redline.gateway.auth import Authenticator
from redline.gateway.completions import ModelEndpoint, Services
from redline.gateway.guard import Clock, Guard, utc_now
from redline.gateway.metrics import Metrics
from redline.gateway.moderations import moderations
from redline.gateway.screening import Classifier, Screener, ScreenFunction
from redline.policy.admin import admin_routes
from redline.protocols import ANTHROPIC, OPENAI
from redline.routing.router import CandidateFilter

default_screener: Screener | ScreenFunction = Classifier()  # redline's classifier, loaded at warm-up


def _freeze_startup_heap() -> None:
    """Keep what startup built (the libraries, the screening model: some 300,000 objects) out of the cyclic
    garbage collector's full collections. Each full collection walks every tracked object while holding the event
    loop: about 180 ms here, once every few thousand requests at concurrency 16, for every request in flight.
    Frozen objects are still freed by reference counting; only cycles among them would stay (startup's
    garbage is collected first)."""
    gc.collect()
    gc.freeze()


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
                self.metrics.count_request(path, message["status"])
            await send(message)

        await self.app(scope, receive, counting_send)


def create_app(
    settings: Settings,
    *,
    screener: Screener | ScreenFunction | None = None,
    audit: AuditSink | None = None,
    clock: Clock | None = None,
    candidate_filter: CandidateFilter | None = None,
) -> Starlette:
    """The gateway. `screener` (a Screener, or a plain screening function, which runs in worker threads) defaults
    to redline's classifier; `audit` defaults to the configured audit log and receives every decision before the
    response it governs; `clock` drives decisions and designation routing; `candidate_filter` replaces
    designation routing (see redline.routing.router)."""
    clock = clock or utc_now
    parts = components.build(settings, audit=audit, clock=clock, candidate_filter=candidate_filter)
    metrics = Metrics()
    guard = Guard(
        screener or default_screener,
        settings.screening.timeout_s,
        metrics,
        parts.audit,
        clock,
        lambda: parts.policy.operator,
        settings.audit.retain_content,
    )
    authenticator = Authenticator(parts.tenants)
    services = Services(settings, authenticator, parts.router, guard, metrics, clock, parts.contracts, parts.usage)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await parts.start()
        await guard.warm_up()
        _freeze_startup_heap()
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(parts.reload_policy)
                background.start_soon(authenticator.watch_revocations)
                try:
                    yield
                finally:
                    background.cancel_scope.cancel()
        finally:
            guard.close()
            await parts.stop()

    model_routes = [
        Route("/v1/chat/completions", ModelEndpoint(OPENAI, services), methods=["POST"]),
        Route("/v1/messages", ModelEndpoint(ANTHROPIC, services), methods=["POST"]),
        Route("/v1/models", service.models, methods=["GET"]),
        Route("/v1/moderations", moderations, methods=["POST"]),
        Route("/healthz", service.healthz, methods=["GET"]),
        Route("/readyz", service.readyz, methods=["GET"]),
        Route("/metrics", service.metrics, methods=["GET"]),
    ]
    require_admin = bearer_guard(settings.server.admin_token_env)
    routes: list[BaseRoute] = [
        *model_routes,
        *admin_routes(parts.policy, settings.server.admin_token_env, parts.refresh),
        Mount("/admin/keys", routes=key_routes(authenticator, parts.audit, require_admin)),
    ]
    if isinstance(parts.audit, AuditLog):
        routes.append(
            Mount("/admin/audit", routes=audit_routes(parts.audit, require_admin))
        )
    handlers = {HTTPException: service.http_error, Exception: service.http_error}
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers=handlers)
    app.add_middleware(_CountRequests, metrics=metrics, paths=frozenset(r.path for r in model_routes))
    app.state.services = services
    app.state.components = parts
    return app
