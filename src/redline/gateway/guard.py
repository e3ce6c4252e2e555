"""Screening, deciding and auditing, the way every endpoint must do them.

The screener is CPU-bound, so it runs in a worker thread under a deadline. Anything but a verdict in time
(an exception, a timeout) refuses the request: redline fails closed. Every decision becomes an audit
record that is durable before the response it governs is sent.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
import rfc8785
from anyio import to_thread

from redline.audit.sink import AuditSink
from redline.gateway.metrics import Metrics
from redline.gateway.tenants import Principal
from redline.policy import engine
from redline.policy.decision import Decision
from redline.protocols.base import ApiError
from redline.screening.verdict import Verdict

Screener = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], Verdict]
Clock = Callable[[], datetime]

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


def content_sha256(body: Any) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of `body`, so equal content always hashes equal."""
    return hashlib.sha256(rfc8785.dumps(body)).hexdigest()


@dataclass(frozen=True)
class Subject:
    """What a decision is about, for its audit record."""

    principal: Principal
    endpoint: str
    model: str
    request_sha256: str
    provider: str | None = None


class Guard:
    def __init__(
        self, screener: Screener, timeout_s: float, metrics: Metrics, audit: AuditSink | None, clock: Clock
    ) -> None:
        self.screener, self.timeout_s, self.metrics = screener, timeout_s, metrics
        self.audit, self.clock = audit, clock
        self.limiter: anyio.CapacityLimiter | None = None  # made on first use: it needs the event loop

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

    async def judge(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Decision:
        """Screen, then decide under the operator policy."""
        return engine.decide(await self.screen(messages, tools))

    async def record(
        self, decision: Decision, subject: Subject, direction: str, response: Mapping[str, Any] | None
    ) -> None:
        """Count and audit one decision; returns once the audit record is durable."""
        self.metrics.count_decision(decision, direction)
        if self.audit is None:
            return
        record = {
            "time": self.clock().astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "decision_id": decision.id,
            "tenant": subject.principal.tenant,
            "key_id": subject.principal.key_id,
            "endpoint": subject.endpoint,
            "model": subject.model,
            "provider": subject.provider,
            "direction": direction,
            "decision": decision.action.value,
            "categories": list(decision.categories),
            "scores": decision.scores,
            "stage": decision.stage,
            "reasons": list(decision.reasons),
            "policy_version": decision.policy_version,
            "request_sha256": subject.request_sha256,
            "response_sha256": content_sha256(response) if response is not None else None,
        }
        try:
            await self.audit.append(record)
        except Exception as exc:
            log.exception("audit append failed")
            raise ApiError(
                503, "unavailable", "the decision could not be recorded; the request was refused"
            ) from exc
