"""The cascade screener behind `redline.screen`.

normalise -> window -> stage 1 on every window -> (only the uncertain windows) stage 2 -> verdict.
Thresholds come with the shipped model (chosen on the validation split by `redline train`). Reported scores
are mapped so that 0.5 is the decision boundary of the stage that decided: flagged iff score >= 0.5.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from redline.screening.encoder import MiniLMEncoder, default_encoder
from redline.screening.flatten import flatten
from redline.screening.normalize import normalize
from redline.screening.stage1 import FloatArray, NgramModel, softmax
from redline.screening.stage2 import EmbeddingHead
from redline.screening.verdict import RED_LINES, Verdict
from redline.screening.windows import windows

MODEL_DIR = Path(__file__).parent / "model"
Input = str | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Thresholds:
    """`low`: below it on every red line stage 1 allows; `high`: at or above it stage 1 flags;
    `stage2[c]`: stage 2's threshold for red line c."""

    low: float
    high: float
    stage2: dict[str, float]


def to_score(probability: float, threshold: float) -> float:
    """Map a probability onto [0, 1] so that `threshold` lands on 0.5."""
    threshold = min(max(threshold, 1e-6), 1 - 1e-6)
    if probability < threshold:
        return 0.5 * probability / threshold
    return 0.5 + 0.5 * (probability - threshold) / (1 - threshold)


class CascadeScreener:
    def __init__(
        self,
        stage1: NgramModel,
        head: EmbeddingHead,
        thresholds: Thresholds,
        encoder: MiniLMEncoder | None = None,
        window_size: int = 160,
        window_stride: int = 120,
    ) -> None:
        self.stage1 = stage1
        self.head = head
        self.thresholds = thresholds
        self._encoder = encoder
        self._encoder_lock = threading.Lock()
        self.window_size = window_size
        self.window_stride = window_stride

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> CascadeScreener:
        meta = json.loads((directory / "model.json").read_text())
        t = meta["thresholds"]
        return cls(
            NgramModel.load(directory / "stage1.npz"),
            EmbeddingHead.load(directory / "stage2.npz"),
            Thresholds(low=t["low"], high=t["high"], stage2=t["stage2"]),
            window_size=meta["window"]["size"],
            window_stride=meta["window"]["stride"],
        )

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    self._encoder = default_encoder()
        return self._encoder

    def prepare(self, item: Input, tools: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
        """The normalised windows of one input."""
        return list(windows(normalize(flatten(item, tools)), self.window_size, self.window_stride))

    def screen(self, item: Input, tools: Sequence[Mapping[str, Any]] | None = None) -> Verdict:
        return self.screen_many([(item, tools)])[0]

    def screen_many(self, items: Sequence[tuple[Input, Sequence[Mapping[str, Any]] | None]]) -> list[Verdict]:
        """Screen a batch: stage 1 runs over all windows at once, stage 2 over the uncertain ones at once."""
        prepared = [self.prepare(item, tools) for item, tools in items]
        flat = [w for ws in prepared for w in ws]
        owner = np.repeat(np.arange(len(prepared)), [len(ws) for ws in prepared])
        if not flat:
            return []
        logits1 = self.stage1.logits(flat)
        p1 = softmax(logits1)
        red = len(RED_LINES)
        t = self.thresholds
        window_max = p1[:, :red].max(axis=1)
        uncertain = np.flatnonzero((window_max >= t.low) & (window_max < t.high))
        p2 = np.zeros_like(p1)
        if uncertain.size:
            embeddings = self.encoder.encode([flat[i] for i in uncertain])
            p2[uncertain] = self.head.predict_proba(self.head.inputs(embeddings, logits1[uncertain]))
        verdicts = []
        for index in range(len(prepared)):
            rows = np.flatnonzero(owner == index)
            verdicts.append(self._verdict(p1[rows], p2[rows], np.isin(rows, uncertain), rows))
        return verdicts

    def _verdict(self, p1: FloatArray, p2: FloatArray, in_band: np.ndarray, rows: np.ndarray) -> Verdict:
        t = self.thresholds
        s1 = p1[:, : len(RED_LINES)].max(axis=0)
        if s1.max() >= t.high:
            scores = {c: to_score(float(s1[i]), t.high) for i, c in enumerate(RED_LINES)}
            stage = "stage1"
        elif not in_band.any():
            scores = {c: to_score(float(s1[i]), t.low) for i, c in enumerate(RED_LINES)}
            stage = "stage1"
        else:
            s2 = p2[in_band, : len(RED_LINES)].max(axis=0)
            scores = {c: to_score(float(s2[i]), t.stage2[c]) for i, c in enumerate(RED_LINES)}
            stage = "stage2"
        categories = tuple(c for c in RED_LINES if scores[c] >= 0.5)
        return Verdict(
            flagged=bool(categories),
            categories=categories,
            scores=scores,
            stage=stage,
            evidence={"windows": len(rows)},
        )


@cache
def default_screener() -> CascadeScreener:
    """The shipped model, loaded once per process."""
    return CascadeScreener.load()
