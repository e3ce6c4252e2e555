"""The guard's inline screening path fails closed like the threaded one, and is used only once warm."""

from __future__ import annotations

import time
from typing import Any

import pytest

from redline.gateway.guard import Guard
from redline.gateway.metrics import Metrics
from redline.protocols.base import ApiError
from redline.screening.verdict import Verdict
from tests.gateway.conftest import RecordingSink

CLEAN = Verdict(False, (), {}, "threaded")
QUICK = Verdict(False, (), {}, "inline")
MESSAGES = [{"role": "user", "content": "hello"}]


def guard(settled: Any, timeout_s: float = 1.0) -> tuple[Guard, list[str]]:
    threaded: list[str] = []

    def screener(messages: Any, tools: Any) -> Verdict:
        threaded.append("called")
        return CLEAN

    unused: Any = None  # screening needs neither a clock nor a policy
    return Guard(screener, timeout_s, Metrics(), RecordingSink(), unused, unused, settled=settled), threaded


async def test_a_settled_verdict_is_used_inline_once_warm() -> None:
    g, threaded = guard(lambda messages, tools: QUICK)
    assert await g.screen(MESSAGES, None) is CLEAN  # before warm-up: the screener proper
    await g.warm_up()
    threaded.clear()
    assert await g.screen(MESSAGES, None) is QUICK
    assert threaded == []
    g.close()


async def test_an_unsettled_input_goes_to_the_screener() -> None:
    g, threaded = guard(lambda messages, tools: None)
    await g.warm_up()
    threaded.clear()
    assert await g.screen(MESSAGES, None) is CLEAN
    assert threaded == ["called"]
    g.close()


async def test_inline_failure_and_lateness_refuse() -> None:
    calls = {"n": 0}

    def crashing(messages: Any, tools: Any) -> Verdict:
        calls["n"] += 1
        if calls["n"] > 1:  # the warm-up call passes
            raise RuntimeError("boom")
        return QUICK

    g, _ = guard(crashing)
    await g.warm_up()
    with pytest.raises(ApiError) as info:
        await g.screen(MESSAGES, None)
    assert info.value.status == 503
    g.close()

    def slow(messages: Any, tools: Any) -> Verdict:
        time.sleep(0.06)
        return QUICK

    g, _ = guard(slow, timeout_s=0.05)
    g.warm = True
    with pytest.raises(ApiError) as info:
        await g.screen(MESSAGES, None)
    assert info.value.status == 503 and "timed out" in info.value.message
    g.close()
