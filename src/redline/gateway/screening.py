"""What the gateway's guard needs of a screener, and the two kinds it is given.

A screener screens in up to two steps. `begin` is bounded work the guard may run on the event loop: it gives
the verdict, or hands over the rest of the screening (a call that gives the verdict) with whatever it has
prepared, which the guard runs in a worker thread under the deadline. Either way the verdict must be the one
screening the input in one go would give. redline's classifier settles most short inputs in the first step
(stage 1) and hands over stage 2 on the windows stage 1 was unsure of; a plain screening function has no
first step (`Threaded`), so all of it runs in the thread.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, runtime_checkable

from redline.screening.verdict import Verdict

Messages = list[dict[str, Any]]
Tools = list[dict[str, Any]] | None
ScreenFunction = Callable[[Messages, Tools], Verdict]  # screens in one go, blocking: a worker thread's job
Rest = Callable[[], Verdict]  # the rest of a screening begun, for a worker thread


@runtime_checkable
class Screener(Protocol):
    def begin(self, messages: Messages, tools: Tools) -> Verdict | Rest:
        """The verdict, or the rest of the screening to run in a worker thread. Bounded work (no model loading,
        no unbounded input), as it may run on the event loop. May raise: the request is then refused."""
        ...


class Threaded:
    """A screening function as a Screener with no first step: all of it runs in the worker thread."""

    def __init__(self, screen: ScreenFunction) -> None:
        self.screen = screen

    def begin(self, messages: Messages, tools: Tools) -> Rest:
        return partial(self.screen, messages, tools)


class Classifier:
    """redline's cascade classifier, loaded on first use (in a worker thread: the guard's warm-up) because
    loading it is heavy. Stage 1 runs in the first step on short inputs; see `CascadeScreener.begin`."""

    def begin(self, messages: Messages, tools: Tools) -> Verdict | Rest:
        from redline.screening.screener import default_screener

        return default_screener().begin(messages, tools)


def as_screener(screener: Screener | ScreenFunction) -> Screener:
    """`screener` itself if it is a Screener, else the screening function without a first step."""
    return screener if isinstance(screener, Screener) else Threaded(screener)


def screen_through(screener: Screener, messages: Messages, tools: Tools) -> Verdict:
    """Both steps, one after the other (in a worker thread)."""
    step = screener.begin(messages, tools)
    return step if isinstance(step, Verdict) else step()
