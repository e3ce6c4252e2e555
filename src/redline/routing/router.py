"""Which providers serve a request, and trying them in turn.

Retries and fallbacks happen only before anything has been sent to the client: a stream is handed over
once its upstream answered with a good status, and is never retried after that.

`candidate_filter` is the one seam for routing policy (supply-chain designations): given the tenant and the
providers serving the model, it returns the providers to use, extra response headers (a phase-out deadline,
say) or a refusal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from redline.exchange import Exchange, Reply
from redline.protocols.base import ApiError
from redline.routing.providers import Provider, UpstreamStream

T = TypeVar("T")


@dataclass(frozen=True)
class RouteContext:
    tenant: str
    tenant_class: str
    model: str
    now: datetime


@dataclass(frozen=True)
class RouteResult:
    """Providers to try in order; `refusal`, when set, is the reason the request may not be routed at all."""

    providers: tuple[Provider, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    refusal: str | None = None


CandidateFilter = Callable[[RouteContext, list[Provider]], RouteResult]


class Router:
    def __init__(self, providers: list[Provider], candidate_filter: CandidateFilter | None = None) -> None:
        self.providers = providers
        self.candidate_filter = candidate_filter

    def models(self) -> list[str]:
        return sorted({m for p in self.providers for m in p.settings.models})

    def route(self, context: RouteContext) -> RouteResult:
        """The providers for this request, or an ApiError when none is configured or none serves the model."""
        if not self.providers:
            raise ApiError(503, "unavailable", "no upstream provider is configured; only screening is served")
        candidates = [p for p in self.providers if p.serves(context.model)]
        if not candidates:
            raise ApiError(
                404, "not_found", f"model {context.model!r} is not served here", "model", "model_not_found"
            )
        if self.candidate_filter is None:
            return RouteResult(tuple(candidates))
        return self.candidate_filter(context, candidates)

    @staticmethod
    def _attempts(providers: tuple[Provider, ...]) -> Iterator[Provider]:
        for provider in providers:
            for _ in range(1 + provider.settings.retries):
                yield provider

    async def _first_success(
        self, providers: tuple[Provider, ...], call: Callable[[Provider], Awaitable[T]]
    ) -> T:
        last: ApiError | None = None
        for provider in self._attempts(providers):
            try:
                return await call(provider)
            except ApiError as exc:
                if not exc.retryable:
                    raise
                last = exc
        raise last or ApiError(503, "unavailable", "no provider may serve this request")

    async def complete(self, exchange: Exchange, providers: tuple[Provider, ...]) -> tuple[Provider, Reply]:
        async def call(provider: Provider) -> tuple[Provider, Reply]:
            return provider, await provider.complete(exchange)

        return await self._first_success(providers, call)

    async def open_stream(self, exchange: Exchange, providers: tuple[Provider, ...]) -> UpstreamStream:
        return await self._first_success(providers, lambda provider: provider.open_stream(exchange))

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()
