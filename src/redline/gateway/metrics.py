"""Prometheus metrics, in a registry of their own so several apps (tests, workers) never collide."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from redline.policy.decision import Decision

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "redline_requests",
            "HTTP requests by endpoint and status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.decisions = Counter(
            "redline_decisions",
            "Decisions by direction (input/output), action and red-line category ('none' when no red line).",
            ["direction", "action", "category"],
            registry=self.registry,
        )
        self.screening_seconds = Histogram(
            "redline_screening_seconds", "Time to screen one input or output window.",
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            "redline_upstream_seconds", "Time until the upstream answered (the first event, for streams).",
            ["provider"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip

        # Labelled children, looked up once each: `.labels()` costs a lock and tuple building on every call.
        self._children: dict[tuple[Any, ...], Any] = {}

    def _child(self, metric: Counter | Histogram, *labels: str) -> Any:
        key = (metric, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def count_request(self, endpoint: str, status: int) -> None:
        self._child(self.requests, endpoint, str(status)).inc()

    def observe_upstream(self, provider: str, seconds: float) -> None:
        self._child(self.upstream_seconds, provider).observe(seconds)

    def count_decision(self, decision: Decision, direction: str) -> None:
        for category in decision.categories or ("none",):
            self._child(self.decisions, direction, decision.action.value, category).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
