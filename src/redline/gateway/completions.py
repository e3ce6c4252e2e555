"""The model endpoints, /v1/chat/completions and /v1/messages: one flow for both protocols.

parse -> authenticate -> refuse requests asking to skip screening -> the tenant's contract -> route (which
providers, before anything is screened or sent) -> screen and decide the whole conversation -> audit ->
upstream -> note the provider used -> screen the answer -> audit -> answer in the client's protocol.

A denied input is recorded durably before its 403 is sent, and no upstream call is made. An allowed input's
record is committed while the upstream call runs: nothing at all (status, headers, a byte of the answer or
an error) is sent to the client before that record is durable, and if it cannot be made durable the client
gets a 503 and never the answer. So an allowed request may reach the upstream before its input decision is
durable, but no answer reaches the client unrecorded; the output decision is durable before the answer
(or, for a stream, before its final event) is sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import rfc8785
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from redline.audit.records import CanonicalBody
from redline.config import Settings
from redline.exchange import Exchange, reply_view, screening_view
from redline.gateway.auth import Authenticator
from redline.gateway.components import Contracts
from redline.gateway.guard import Clock, Guard, Recording, Subject
from redline.gateway.http import (
    DECISION_HEADER,
    ClientGone,
    error_response,
    read_json,
    respond,
    unless_disconnected,
)
from redline.gateway.metrics import Metrics
from redline.gateway.streaming import guarded_stream
from redline.gateway.tenants import Principal
from redline.gateway.usage import UsageRecorder
from redline.policy.decision import Action, Decision
from redline.policy.guard import refuse_request
from redline.protocols.base import ApiError, WireProtocol
from redline.routing.providers import Provider
from redline.routing.router import RouteContext, Router, RouteResult


@dataclass(frozen=True)
class Services:
    settings: Settings
    authenticator: Authenticator
    router: Router
    guard: Guard
    metrics: Metrics
    clock: Clock
    contracts: Contracts
    record_use: UsageRecorder


def refusal(decision: Decision) -> ApiError:
    """The 403 for a denied decision: which red line, or why routing refused."""
    if decision.categories:
        category = decision.categories[0]
        verb = "requires human approval under" if decision.action is Action.REQUIRE_APPROVAL else "crosses"
        message = f"This request {verb} the red line {category!r} and was refused by policy."
        return ApiError(403, "policy_violation", message, code=f"red_line.{category}", decision_id=decision.id)
    message = "; ".join(decision.reasons) or "refused by policy"
    code = "routing.refused" if "routing" in decision.clauses else "policy.refused"  # e.g. a contract's model list
    return ApiError(403, "policy_violation", message, code=code, decision_id=decision.id)


class ModelEndpoint:
    def __init__(self, protocol: WireProtocol, services: Services) -> None:
        self.protocol, self.services = protocol, services

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        try:
            response = await self.handle(request)
        except ApiError as exc:
            response = error_response(self.protocol, exc)
        except ClientGone:
            return
        await response(scope, receive, send)

    async def _admit(self, request: Request) -> tuple[dict[str, Any], Principal, Exchange]:
        server = self.services.settings.server
        principal = await self.services.authenticator.authenticate(request.headers)
        body = await read_json(request, server.max_body_bytes)
        exchange = self.protocol.parse_request(body)
        if len(exchange.messages) > server.max_messages:
            raise ApiError(400, "invalid_request", f"more than {server.max_messages} messages", "messages")
        if principal.models is not None and exchange.model not in principal.models:
            raise ApiError(403, "permission", f"this key may not use model {exchange.model!r}", "model")
        return body, principal, exchange

    async def _refuse_bypass(self, request: Request, body: dict[str, Any], principal: Principal) -> None:
        """A request asking to skip screening is refused (400) and the attempt audited."""
        guard = self.services.guard
        try:
            found = await refuse_request(
                guard.audit, principal.tenant, request.headers, body, actor=f"key:{principal.key_id}",
                at=guard.clock(),
            )  # fmt: skip
        except Exception as exc:  # the attempt could not be recorded: refuse all the same, as unavailable
            raise ApiError(503, "unavailable", "the request could not be recorded; it was refused") from exc
        if found:
            message = "; ".join(f"{w.clause}: {w.reason}" for w in found)
            raise ApiError(400, "invalid_request", f"refused: {message}", code="weakening_attempt")

    async def handle(self, request: Request) -> Response:
        services, guard = self.services, self.services.guard
        body, principal, exchange = await self._admit(request)
        try:
            canonical = CanonicalBody.of(body)  # what the audit records hash; once per request
        except rfc8785.CanonicalizationError as exc:
            raise ApiError(400, "invalid_request", f"body cannot be canonicalised: {exc}") from exc
        await self._refuse_bypass(request, body, principal)
        contract = await services.contracts.of(principal.tenant)
        allowed = contract.allowed_providers if contract is not None else None
        providers = None if allowed is None else frozenset(allowed)
        context = RouteContext(principal.tenant, principal.tenant_class, exchange.model, services.clock(), providers)
        route = services.router.route(context)
        subject = Subject(principal, request.url.path, exchange.model, canonical, contract)

        decision = await guard.judge(*screening_view(exchange), subject)
        if route.refusal and not decision.denied:
            decision = replace(decision, action=Action.BLOCK, reasons=(route.refusal,), clauses=("routing",))
        if decision.denied:
            error_body = CanonicalBody.of(self.protocol.error_body(refusal(decision)))
            await guard.record(decision, subject, "input", error_body)
            return respond(error_body, decision.id, 403, route.headers)
        recorded = guard.begin_record(decision, subject, "input", None)  # durable before anything is sent

        if exchange.stream:
            return await self._stream(request, exchange, route, subject, decision.id, recorded)
        return await self._complete(request, exchange, route, subject, decision.id, recorded)

    def _served(self, subject: Subject, provider: Provider, started: float) -> Subject:
        """Note which provider served the request (for metrics and designation routing)."""
        services, principal = self.services, subject.principal
        services.metrics.observe_upstream(provider.name, time.perf_counter() - started)
        services.record_use(principal.tenant, principal.key_id, provider.name, subject.model, services.clock())
        return replace(subject, provider=provider.name)

    async def _complete(
        self,
        request: Request,
        exchange: Exchange,
        route: RouteResult[Provider],
        subject: Subject,
        input_decision: str,
        recorded: Recording,
    ) -> Response:
        guard = self.services.guard
        started = time.perf_counter()
        try:
            provider, reply = await unless_disconnected(request, self.services.router.complete(exchange, route))
        except ApiError as exc:
            await recorded.durable()  # the error names the input decision: it must be on record first
            return error_response(self.protocol, exc, input_decision)
        subject = self._served(subject, provider, started)
        decision = await guard.judge(reply_view(reply), screening_view(exchange)[1], subject)
        await recorded.durable()  # long done by now, in the common case; else 503 and no answer
        if decision.denied:
            error_body = CanonicalBody.of(self.protocol.error_body(refusal(decision)))
            await guard.record(decision, subject, "output", error_body)
            return respond(error_body, decision.id, 403, route.headers)
        answer = self.protocol.encode_reply(reply, reply_id=self.protocol.new_id(), model=exchange.model)
        body = CanonicalBody.of(answer)  # hashed for the output record and sent as these bytes
        await guard.record(decision, subject, "output", body)
        return respond(body, input_decision, headers=route.headers)

    async def _stream(
        self,
        request: Request,
        exchange: Exchange,
        route: RouteResult[Provider],
        subject: Subject,
        input_decision: str,
        recorded: Recording,
    ) -> Response:
        started = time.perf_counter()
        try:
            upstream = await unless_disconnected(request, self.services.router.open_stream(exchange, route))
        except ApiError as exc:
            await recorded.durable()
            return error_response(self.protocol, exc, input_decision)
        try:
            await recorded.durable()  # before the status line and headers: nothing goes out unrecorded
        except BaseException:
            await upstream.aclose()
            raise
        subject = self._served(subject, upstream.provider, started)
        reply_id = self.protocol.new_id()
        encoder = self.protocol.stream_encoder(
            reply_id=reply_id, model=exchange.model, include_usage=exchange.include_usage
        )
        window = self.services.settings.screening.output_window_chars
        body = guarded_stream(
            upstream, exchange, self.protocol, encoder, self.services.guard, subject, reply_id, window
        )
        headers = {DECISION_HEADER: input_decision, "cache-control": "no-cache", **route.headers}
        return StreamingResponse(body, media_type="text/event-stream", headers=headers)
