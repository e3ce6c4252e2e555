"""Screening, deciding and auditing, the way every endpoint must do them.

The screener is CPU-bound, so it runs in a worker thread under a deadline. Anything but a verdict in time
(an exception, a timeout) refuses the request: redline fails closed. Every decision becomes an audit
record that is durable before the response it governs is sent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from anyio import to_thread

from redline.audit.records import decision_record
from redline.audit.sink import AuditSink
from redline.gateway.metrics import Metrics
from redline.gateway.tenants import Principal
from redline.policy import engine
from redline.policy.decision import Decision
from redline.policy.model import OperatorPolicy, TenantContract
from redline.protocols.base import ApiError
from redline.screening.verdict import Verdict

Screener = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], Verdict]
Clock = Callable[[], datetime]
OperatorPolicySource = Callable[[], OperatorPolicy]  # the operator policy in force now

log = logging.getLogger(__name__)
# Screening threads of their own: a screener that hangs can exhaust these (and then every request is refused,
# failing closed) but never the threads the rest of the gateway needs, such as key lookups.
SCREENING_THREADS = 8


def default_screener(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Verdict:
    """redline's own classifier, imported on first use because loading it is heavy."""
    from redline import screen

    return screen(messages, tools)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Subject:
    """What a decision is about: who asks for which model under which contract, for deciding and auditing."""

    principal: Principal
    endpoint: str
    model: str
    request: Mapping[str, Any]
    contract: TenantContract | None = None
    provider: str | None = None


class Guard:
    def __init__(
        self,
        screener: Screener,
        timeout_s: float,
        metrics: Metrics,
        audit: AuditSink,
        clock: Clock,
        operator: OperatorPolicySource,
        retain_content: bool = False,
    ) -> None:
        self.screener, self.timeout_s, self.metrics = screener, timeout_s, metrics
        self.audit, self.clock, self.operator, self.retain_content = audit, clock, operator, retain_content
        self.limiter: anyio.CapacityLimiter | None = None  # made on first use: it needs the event loop

    async def warm_up(self) -> None:
        """Screen once at startup, so the first request does not pay (and time out on) loading the model.
        A screener that fails here is logged; requests are then refused until it works (fail closed)."""
        try:
            await to_thread.run_sync(self.screener, [{"role": "user", "content": "warm-up"}], None)
        except Exception:
            log.exception("the screener failed to start; model requests will be refused with 503")

    async def screen(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Verdict:
        if self.limiter is None:
            self.limiter = anyio.CapacityLimiter(SCREENING_THREADS)
        started = time.perf_counter()
        try:
            with anyio.fail_after(self.timeout_s):
                return await to_thread.run_sync(
                    self.screener, messages, tools, abandon_on_cancel=True, limiter=self.limiter
                )
        except TimeoutError as exc:
            raise ApiError(503, "unavailable", "screening timed out; the request was refused") from exc
        except Exception as exc:
            log.exception("screener failed")
            raise ApiError(503, "unavailable", "screening failed; the request was refused") from exc
        finally:
            self.metrics.screening_seconds.observe(time.perf_counter() - started)

    async def judge(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, subject: Subject
    ) -> Decision:
        """Screen, then decide under the operator policy and the subject's tenant contract."""
        return engine.decide(
            await self.screen(messages, tools),
            tenant=subject.principal.tenant,
            policy=self.operator(),
            contract=subject.contract,
            model=subject.model,
        )

    async def record(
        self, decision: Decision, subject: Subject, direction: str, response: Mapping[str, Any] | None
    ) -> None:
        """Count and audit one decision; returns once the audit record is durable."""
        self.metrics.count_decision(decision, direction)
        record = decision_record(
            decision,
            tenant=subject.principal.tenant,
            key_id=subject.principal.key_id,
            endpoint=subject.endpoint,
            model=subject.model,
            provider=subject.provider,
            direction=direction,
            request=subject.request,
            response=response,
            retain_content=self.retain_content or bool(subject.contract and subject.contract.retain_content),
            at=self.clock(),
        )
        try:
            await self.audit.append(record)
        except Exception as exc:
            log.exception("audit append failed")
            raise ApiError(503, "unavailable", "the decision could not be recorded; the request was refused") from exc
