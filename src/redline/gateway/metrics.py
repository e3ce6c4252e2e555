"""Prometheus metrics, in a registry of their own so several apps (tests, workers) never collide."""

from __future__ import annotations

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

    def count_decision(self, decision: Decision, direction: str) -> None:
        for category in decision.categories or ("none",):
            self.decisions.labels(direction, decision.action.value, category).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
