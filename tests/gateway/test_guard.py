"""The guard's screener contract: a screener's first step runs inline once warm-up succeeded, what it hands
over runs in a worker thread, a plain screening function runs wholly in the threads, and every failure or
late verdict, in either step, refuses the request (503)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from redline.gateway.guard import Guard
from redline.gateway.metrics import Metrics
from redline.gateway.screening import Classifier
from redline.protocols.base import ApiError
from redline.screening.verdict import Verdict
from tests.gateway.conftest import RecordingSink

CLEAN = Verdict(False, (), {}, "threaded")
QUICK = Verdict(False, (), {}, "inline")
MESSAGES = [{"role": "user", "content": "hello"}]
ROOT = Path(__file__).resolve().parents[2]


def guard(screener: Any, timeout_s: float = 1.0) -> Guard:
    unused: Any = None  # screening needs neither a clock nor a policy
    return Guard(screener, timeout_s, Metrics(), RecordingSink(), unused, unused)


def where() -> str:
    return "thread" if threading.current_thread().name.startswith("screening") else "inline"


class TwoStep:
    """A screener whose first step settles `settles` inputs and hands the rest over; notes where each ran."""

    def __init__(
        self, settles: bool, first: Callable[[], None] = lambda: None, rest: Callable[[], None] = lambda: None
    ) -> None:
        self.settles, self.first, self.rest = settles, first, rest
        self.calls: list[str] = []

    def begin(self, messages: Any, tools: Any) -> Verdict | Callable[[], Verdict]:
        self.calls.append(f"begin:{where()}")
        self.first()
        if self.settles:
            return QUICK

        def finish() -> Verdict:
            self.calls.append(f"rest:{where()}")
            self.rest()
            return CLEAN

        return finish


async def test_the_first_step_runs_inline_once_warm() -> None:
    screener = TwoStep(settles=True)
    g = guard(screener)
    assert await g.screen(MESSAGES, None) is QUICK
    assert screener.calls == ["begin:thread"]  # before warm-up: not known to work, so in a thread
    await g.warm_up()
    screener.calls.clear()
    assert await g.screen(MESSAGES, None) is QUICK
    assert screener.calls == ["begin:inline"]
    g.close()


async def test_what_the_first_step_hands_over_runs_in_a_thread_once() -> None:
    screener = TwoStep(settles=False)
    g = guard(screener)
    await g.warm_up()
    screener.calls.clear()
    assert await g.screen(MESSAGES, None) is CLEAN
    assert screener.calls == ["begin:inline", "rest:thread"]  # the first step is not done again in the thread
    g.close()


async def test_a_plain_function_runs_wholly_in_the_threads() -> None:
    ran: list[str] = []

    def plain(messages: Any, tools: Any) -> Verdict:
        ran.append(where())
        return CLEAN

    g = guard(plain)
    await g.warm_up()
    assert await g.screen(MESSAGES, None) is CLEAN
    assert ran == ["thread", "thread"]  # warm-up, then the request
    g.close()


def boom() -> None:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    "screener",
    [
        TwoStep(settles=True, first=boom),
        TwoStep(settles=False, first=boom),
        TwoStep(settles=False, rest=boom),
    ],
    ids=["first step", "first step, unsettled", "handed over"],
)
async def test_a_failure_in_either_step_refuses(screener: TwoStep) -> None:
    g = guard(screener)
    g.warm = True  # as if warm-up had passed
    with pytest.raises(ApiError) as info:
        await g.screen(MESSAGES, None)
    assert info.value.status == 503 and "failed" in info.value.message
    g.close()


async def test_a_failing_plain_function_and_a_non_verdict_refuse() -> None:
    def crashing(messages: Any, tools: Any) -> Verdict:
        raise RuntimeError("boom")

    def confused(messages: Any, tools: Any) -> Any:
        return {"flagged": False}

    for screener in (crashing, confused):
        g = guard(screener)
        g.warm = True
        with pytest.raises(ApiError) as info:
            await g.screen(MESSAGES, None)
        assert info.value.status == 503
        g.close()


async def test_a_screener_that_fails_at_warm_up_is_never_run_inline() -> None:
    calls = {"n": 0}

    def fail_once() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("not ready")

    screener = TwoStep(settles=True, first=fail_once)
    g = guard(screener)
    await g.warm_up()
    assert not g.warm
    screener.calls.clear()
    assert await g.screen(MESSAGES, None) is QUICK
    assert screener.calls == ["begin:thread"]
    g.close()


@pytest.mark.parametrize("settles", [True, False], ids=["inline", "handed over"])
async def test_a_late_verdict_refuses(settles: bool) -> None:
    def slow() -> None:
        time.sleep(0.06)

    g = guard(TwoStep(settles, first=slow) if settles else TwoStep(settles, rest=slow), timeout_s=0.05)
    g.warm = True
    with pytest.raises(ApiError) as info:
        await g.screen(MESSAGES, None)
    assert info.value.status == 503 and "timed out" in info.value.message
    g.close()


@pytest.mark.skipif(
    not files("redline.screening").joinpath("model", "model.json").is_file(), reason="the model is not shipped"
)
async def test_the_classifier_through_the_guard_gives_its_own_verdicts() -> None:
    """Inputs stage 1 settles inline and inputs whose stage 2 runs in the thread: the full screener's verdict."""
    from redline.evaluation.corpus import read_jsonl
    from redline.screening.screener import default_screener

    g = guard(Classifier(), timeout_s=60)
    await g.warm_up()
    assert g.warm
    cascade = default_screener()
    seen = {"settled": 0, "handed over": 0}
    for item in read_jsonl(ROOT / "data" / "corpus" / "test.jsonl")[:200]:
        if "messages" not in item or item.get("tools"):
            continue
        step = cascade.begin(item["messages"], None)
        kind = "settled" if isinstance(step, Verdict) else "handed over"
        if seen[kind] >= 5:
            continue
        seen[kind] += 1
        assert await g.screen(item["messages"], None) == cascade.screen(item["messages"])
    assert seen == {"settled": 5, "handed over": 5}
    g.close()
