"""Screening, deciding and auditing, the way every endpoint must do them.

The screener is CPU-bound. Once it answered at warm-up, its bounded first step (see redline.gateway.screening)
runs inline on the event loop: for redline's classifier, stage 1 on a short input, which settles most traffic
with no thread hop. Whatever it hands over (stage 2 on the windows stage 1 was unsure of, a long input, or all
of a screener without a first step) runs in a worker thread under the deadline; a verdict given inline later
than the deadline is refused all the same. Anything but a verdict in time (an exception in either step, a
timeout) refuses the request: redline fails closed.

Every decision becomes an audit record that is durable before the response it governs is sent: `record`
returns once it is; `begin_record` starts the append and hands back a `Recording` to await before anything is
sent (so the commit can overlap the upstream call).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from redline.audit.records import Body, CanonicalBody, decision_record
from redline.audit.sink import AuditSink
from redline.gateway.metrics import Metrics
from redline.gateway.screening import Messages, Screener, ScreenFunction, Tools, as_screener, screen_through
from redline.gateway.tenants import Principal
from redline.policy import engine
from redline.policy.decision import Decision
from redline.policy.model import OperatorPolicy, TenantContract
from redline.protocols.base import ApiError
from redline.screening.verdict import Verdict

Clock = Callable[[], datetime]
OperatorPolicySource = Callable[[], OperatorPolicy]  # the operator policy in force now

T = TypeVar("T")
log = logging.getLogger(__name__)
# Screening threads of their own: a screener that hangs can exhaust these (and then every request is refused,
# failing closed) but never the threads the rest of the gateway needs, such as key lookups.
SCREENING_THREADS = 8


class Workers:
    """Daemon threads that run blocking calls for an event loop: one queue put to hand a call over and one
    `call_soon_threadsafe` to hand its outcome back. Leaner than anyio's worker threads (no cancel scopes,
    limiter or context copy per call), and a call that hangs cannot hold up the interpreter's exit."""

    def __init__(self, count: int, name: str) -> None:
        self.count, self.name = count, name
        self._calls: queue.SimpleQueue[
            tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], Callable[[], Any]] | None
        ] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def run(self, call: Callable[[], T]) -> asyncio.Future[T]:
        """Run `call` on a worker; the future (of the running loop) gets its result or its exception.
        Cancelling the future abandons the call: a running call runs on, its outcome dropped."""
        if not self._started:
            with self._lock:
                if not self._started:
                    for n in range(self.count):
                        threading.Thread(target=self._work, name=f"{self.name}-{n}", daemon=True).start()
                    self._started = True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, call))
        return future

    def stop(self) -> None:
        """Let the threads end once the calls queued before this are done (a hung call keeps its thread)."""
        with self._lock:
            if self._started:
                for _ in range(self.count):
                    self._calls.put(None)
                self._started = False

    def _work(self) -> None:
        while (item := self._calls.get()) is not None:
            loop, future, call = item
            if future.cancelled():  # abandoned while it waited (a timeout): skip it
                continue
            try:
                outcome: tuple[bool, Any] = (True, call())
            except BaseException as exc:  # handed to the caller, like any other outcome
                outcome = (False, exc)
            try:
                loop.call_soon_threadsafe(_settle, future, outcome)
            except RuntimeError:  # the loop is closed: no one is waiting any more
                pass


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.done():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class Recording:
    """An audit append under way. `durable()` returns once the record is durable, or raises the 503 that
    refuses the request (fail closed): await it before sending anything the decision governs."""

    def __init__(self, pending: asyncio.Future[int]) -> None:
        self.pending = pending
        pending.add_done_callback(_log_failure)

    async def durable(self) -> None:
        try:
            await self.pending
        except Exception as exc:
            raise ApiError(503, "unavailable", "the decision could not be recorded; the request was refused") from exc


def _log_failure(pending: asyncio.Future[int]) -> None:
    """Log a failed append once, whether or not anyone awaits it (a client that left does not)."""
    if not pending.cancelled() and (exc := pending.exception()) is not None:
        log.error("audit append failed", exc_info=exc)


def start_append(audit: AuditSink, record: Mapping[str, Any]) -> Recording:
    """Start appending `record` to `audit` now. A sink whose `append` raises at once (a record it refuses,
    a closed log) gives a Recording that fails, so every caller handles one kind of failure."""
    pending: asyncio.Future[int]
    try:
        awaitable: Awaitable[int] = audit.append(record)
        pending = asyncio.ensure_future(awaitable)
    except Exception as exc:
        pending = asyncio.get_running_loop().create_future()
        pending.set_exception(exc)
    return Recording(pending)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Subject:
    """What a decision is about: who asks for which model under which contract, for deciding and auditing."""

    principal: Principal
    endpoint: str
    model: str
    request: CanonicalBody  # the request body, canonicalised once for every record of its decisions
    contract: TenantContract | None = None
    provider: str | None = None


class Guard:
    def __init__(
        self,
        screener: Screener | ScreenFunction,
        timeout_s: float,
        metrics: Metrics,
        audit: AuditSink,
        clock: Clock,
        operator: OperatorPolicySource,
        retain_content: bool = False,
    ) -> None:
        """`screener`: a Screener, or a plain screening function, which then runs entirely in worker threads."""
        self.screener, self.timeout_s, self.metrics = as_screener(screener), timeout_s, metrics
        self.audit, self.clock, self.operator, self.retain_content = audit, clock, operator, retain_content
        self.warm = False  # the screener answered at warm-up: its first step may run inline
        self.workers = Workers(SCREENING_THREADS, "screening")

    async def warm_up(self) -> None:
        """Screen once at startup, so the first request does not pay (and time out on) loading the model.
        A screener that fails here is logged; requests are then refused until it works (fail closed)."""
        try:
            warm_up = [{"role": "user", "content": "warm-up"}]
            await self.workers.run(partial(screen_through, self.screener, warm_up, None))
            self.warm = True
        except Exception:
            log.exception("the screener failed to start; model requests will be refused with 503")

    def close(self) -> None:
        self.workers.stop()

    async def screen(self, messages: Messages, tools: Tools) -> Verdict:
        started = time.perf_counter()
        try:
            rest: Callable[[], Verdict]
            if self.warm:
                step = self.screener.begin(messages, tools)  # inline: bounded work
                if isinstance(step, Verdict):
                    if time.perf_counter() - started > self.timeout_s:
                        raise TimeoutError  # a verdict, but not in time: refused like any other late one
                    return step
                rest = step
            else:  # not known to work yet: the first step too runs in a thread, under the deadline
                rest = partial(screen_through, self.screener, messages, tools)
            async with asyncio.timeout(self.timeout_s - (time.perf_counter() - started)):
                verdict = await self.workers.run(rest)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"the screener gave {type(verdict).__name__}, not a Verdict")
            return verdict
        except TimeoutError as exc:
            raise ApiError(503, "unavailable", "screening timed out; the request was refused") from exc
        except Exception as exc:
            log.exception("screener failed")
            raise ApiError(503, "unavailable", "screening failed; the request was refused") from exc
        finally:
            self.metrics.screening_seconds.observe(time.perf_counter() - started)

    async def judge(self, messages: Messages, tools: Tools, subject: Subject) -> Decision:
        """Screen, then decide under the operator policy and the subject's tenant contract."""
        return self.decide(await self.screen(messages, tools), subject)

    def decide(self, verdict: Verdict, subject: Subject) -> Decision:
        """Decide on a verdict under the operator policy and the subject's tenant contract."""
        return engine.decide(
            verdict,
            tenant=subject.principal.tenant,
            policy=self.operator(),
            contract=subject.contract,
            model=subject.model,
        )

    async def record(
        self, decision: Decision, subject: Subject, direction: str, response: Body | None
    ) -> None:
        """Count and audit one decision; returns once the audit record is durable (else raises the 503)."""
        await self.begin_record(decision, subject, direction, response).durable()

    def begin_record(
        self, decision: Decision, subject: Subject, direction: str, response: Body | None
    ) -> Recording:
        """Count one decision and start appending its audit record; await `durable()` before responding."""
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
        return start_append(self.audit, record)
