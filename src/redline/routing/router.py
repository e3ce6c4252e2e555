"""Which providers serve a request, and trying them in turn.

Retries and fallbacks happen only before anything has been sent to the client: a stream is handed over
once its upstream answered with a good status, and is never retried after that. A provider that fails with
a connection error, 429 or 5xx is tried again up to `retries` times, after an exponential backoff with full
jitter (`backoff_s * 2**n`, capped at `max_retry_wait_s`) or, when it sent Retry-After, after exactly that
long; a Retry-After longer than `max_retry_wait_s` is not waited for: the next provider is tried at once
(and, when none is left, the client gets the error with the upstream's Retry-After).

`candidate_filter` is the one seam for routing policy (supply-chain designations, see
redline.policy.hook): given the tenant and the providers serving the model, it returns the providers to use,
the upstream model to ask a successor provider for, extra response headers (a phase-out deadline, say) or a
refusal. A tenant contract's `allowed_providers` bounds whatever it returns.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from redline.exchange import Exchange, Reply
from redline.protocols.base import ApiError
from redline.routing.providers import Provider, UpstreamStream

T = TypeVar("T")


class Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=Named)


@dataclass(frozen=True)
class RouteContext:
    tenant: str
    tenant_class: str
    model: str
    now: datetime
    allowed_providers: frozenset[str] | None = None  # the tenant contract's list; None: any


@dataclass(frozen=True)
class RouteResult(Generic[P]):
    """Providers to try in order; `refusal`, when set, is the reason the request may not be routed at all.
    `models` maps a provider to the upstream model to ask it for, when that is not the requested one (a
    designation's successor serving the model under its own name)."""

    providers: tuple[P, ...]
    headers: Mapping[str, str] = field(default_factory=dict)
    refusal: str | None = None
    models: Mapping[str, str] = field(default_factory=dict)


CandidateFilter = Callable[[RouteContext, list[Provider]], RouteResult[Provider]]


def retry_delay(
    backoff_s: float,
    cap_s: float,
    attempt: int,
    error: ApiError,
    draw: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Seconds to wait before retry `attempt` (0 for the first retry) after `error`, or None to give up on
    this provider: the upstream's Retry-After when it sent one (None when longer than `cap_s`), else a random
    wait in [0, min(cap_s, backoff_s * 2**attempt)] (exponential backoff, full jitter)."""
    if error.retry_after is not None:
        return error.retry_after if error.retry_after <= cap_s else None
    return draw(0.0, min(cap_s, backoff_s * 2**attempt))


class Router:
    def __init__(self, providers: list[Provider], candidate_filter: CandidateFilter | None = None) -> None:
        self.providers = providers
        self.candidate_filter = candidate_filter

    def models(self) -> list[str]:
        return sorted({m for p in self.providers for m in p.settings.models})

    def route(self, context: RouteContext) -> RouteResult[Provider]:
        """The providers for this request, or an ApiError when none is configured or none serves the model."""
        if not self.providers:
            raise ApiError(503, "unavailable", "no upstream provider is configured; only screening is served")
        candidates = [p for p in self.providers if p.serves(context.model)]
        if not candidates:
            raise ApiError(
                404, "not_found", f"model {context.model!r} is not served here", "model", "model_not_found"
            )
        result = RouteResult(tuple(candidates))
        if self.candidate_filter is not None:
            result = self.candidate_filter(context, candidates)
        allowed = context.allowed_providers
        if allowed is None or result.refusal or all(p.name in allowed for p in result.providers):
            return result
        kept = tuple(p for p in result.providers if p.name in allowed)
        refusal = None if kept else f"the tenant's contract allows only providers {sorted(allowed)}"
        return replace(result, providers=kept, refusal=refusal)

    async def _first_success(
        self, providers: tuple[Provider, ...], call: Callable[[Provider], Awaitable[T]]
    ) -> T:
        last: ApiError | None = None
        for provider in providers:
            for attempt in range(1 + provider.settings.retries):
                try:
                    return await call(provider)
                except ApiError as exc:
                    if not exc.retryable:
                        raise
                    last = exc
                if attempt == provider.settings.retries:
                    break  # this provider's last attempt: on to the next one, at once
                delay = retry_delay(provider.settings.backoff_s, provider.settings.max_retry_wait_s, attempt, last)
                if delay is None:
                    break
                await asyncio.sleep(delay)
        raise last or ApiError(503, "unavailable", "no provider may serve this request")

    @staticmethod
    def _for(exchange: Exchange, route: RouteResult[Provider], provider: Provider) -> Exchange:
        model = route.models.get(provider.name)
        return exchange if model is None else replace(exchange, model=model)

    async def complete(self, exchange: Exchange, route: RouteResult[Provider]) -> tuple[Provider, Reply]:
        async def call(provider: Provider) -> tuple[Provider, Reply]:
            return provider, await provider.complete(self._for(exchange, route, provider))

        return await self._first_success(route.providers, call)

    async def open_stream(self, exchange: Exchange, route: RouteResult[Provider]) -> UpstreamStream:
        return await self._first_success(
            route.providers, lambda provider: provider.open_stream(self._for(exchange, route, provider))
        )

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()
