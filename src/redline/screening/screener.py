"""The cascade screener behind `redline.screen`.

normalise -> window -> stage 1 on every window -> (only the uncertain windows) stage 2 -> verdict.
Stage 2's probability is a fixed blend of stage 1's and the tuned encoder's (`stage2_weight` on the latter).
Thresholds come with the shipped model (chosen on the validation split by `redline train`). Reported scores
are mapped so that 0.5 is the decision boundary of the stage that decided: flagged iff score >= 0.5.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from redline.screening.encoder import MiniLMEncoder
from redline.screening.flatten import flatten
from redline.screening.normalize import normalize
from redline.screening.stage1 import FloatArray, NgramModel, softmax
from redline.screening.stage2 import EmbeddingHead, by_window
from redline.screening.verdict import LABELS, RED_LINES, Verdict
from redline.screening.windows import windows

MODEL_DIR = Path(__file__).parent / "model"
Input = str | Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Thresholds:
    """`low`: a window whose red-line probabilities are all below it is settled as allowed by stage 1;
    `stage2[c]`: the threshold on the blended stage-2 probability for red line c."""

    low: float
    stage2: dict[str, float]

    def high(self, category: str, stage2_weight: float) -> float:
        """Stage 2 blends (1 - w) * stage 1 + w * encoder, so from stage2[c] / (1 - w) on, stage 1's probability
        alone decides red line c: stage 1 flags it without the encoder, with the same verdict."""
        return min(self.stage2[category] / (1 - stage2_weight), 0.995)


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
        window_size: int = 100,
        window_stride: int = 75,
        stage2_weight: float = 0.5,
        adapters: Path | None = None,
    ) -> None:
        self.stage1 = stage1
        self.head = head
        self.thresholds = thresholds
        self.stage2_weight = stage2_weight
        self._adapters = adapters
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
            Thresholds(low=t["low"], stage2=t["stage2"]),
            window_size=meta["window"]["size"],
            window_stride=meta["window"]["stride"],
            stage2_weight=meta["stage2_weight"],
            adapters=directory / "adapters.npz",
        )

    @property
    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    self._encoder = MiniLMEncoder(adapters=self._adapters)
        return self._encoder

    def warm_up(self) -> None:
        """Load the encoder and run each stage once, so no request pays for it."""
        self.stage1.logits(["warm up"])
        self.encoder.encode(["warm up"])

    def prepare(self, item: Input, tools: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
        """The normalised windows of one input."""
        return self._windows(normalize(flatten(item, tools)))

    def screen(self, item: Input, tools: Sequence[Mapping[str, Any]] | None = None) -> Verdict:
        return self.screen_many([(item, tools)])[0]

    def screen_many(self, items: Sequence[tuple[Input, Sequence[Mapping[str, Any]] | None]]) -> list[Verdict]:
        """Screen a batch: stage 1 runs over all windows at once, stage 2 over the uncertain ones at once."""
        return self._screen_windows([self.prepare(item, tools) for item, tools in items])

    def begin(
        self, item: Input, tools: Sequence[Mapping[str, Any]] | None = None, max_chars: int = 1200
    ) -> Verdict | Callable[[], Verdict]:
        """`screen` in two steps, so a caller can do the bounded first step inline (the gateway: on its event loop)
        and the rest elsewhere, without doing anything twice. The verdict `screen` gives when stage 1 alone settles
        an input whose windows hold at most `max_chars` characters; else a call that finishes the screening from
        what was prepared: stage 2 on the windows stage 1 was unsure of, or, for a longer input, the rest of it."""
        text = flatten(item, tools)
        if len(text) > max_chars:  # long: even normalising waits for the call
            return lambda: self._screen_windows([self._windows(normalize(text))])[0]
        prepared = self._windows(normalize(text))
        if sum(map(len, prepared)) > max_chars:  # normalising made it long
            return lambda: self._screen_windows([prepared])[0]
        staged = self._stage1([prepared], prepared)
        if staged[3].size:  # stage 2 must look at some windows
            return lambda: self._finish([prepared], prepared, *staged)[0]
        return self._finish([prepared], prepared, *staged)[0]  # settled by stage 1

    def _windows(self, text: str) -> list[str]:
        return list(windows(text, self.window_size, self.window_stride))

    def _screen_windows(self, prepared: list[list[str]]) -> list[Verdict]:
        """Stage 1, then stage 2 where needed, for inputs already normalised and windowed."""
        flat = [w for ws in prepared for w in ws]
        if not flat:
            return []
        return self._finish(prepared, flat, *self._stage1(prepared, flat))

    def _finish(
        self,
        prepared: list[list[str]],
        flat: list[str],
        owner: np.ndarray,
        p1: FloatArray,
        high: FloatArray,
        uncertain: np.ndarray,
    ) -> list[Verdict]:
        """The verdicts, given stage 1's output (see `_stage1`): stage 2 on the uncertain windows, if any."""
        blended = np.zeros_like(p1)
        if uncertain.size:
            full = np.zeros((uncertain.size, len(LABELS)), dtype=np.float32)
            full[:, : len(RED_LINES)] = p1[uncertain]
            full[:, len(RED_LINES) :] = 1 - p1[uncertain].sum(axis=1, keepdims=True)
            blended[uncertain] = self.stage2_proba([flat[i] for i in uncertain], full)[:, : len(RED_LINES)]
        in_band = np.zeros(len(flat), dtype=bool)
        in_band[uncertain] = True
        if len(prepared) == 1:  # one input (the gateway's case): every window is its own, no masks to build
            return [self._verdict(p1, blended, in_band, high)]
        return [
            self._verdict(p1[owner == n], blended[owner == n], in_band[owner == n], high) for n in range(len(prepared))
        ]

    def _stage1(
        self, prepared: list[list[str]], flat: list[str]
    ) -> tuple[np.ndarray, FloatArray, FloatArray, np.ndarray]:
        """Stage 1 over every window: each window's owner (input), red-line probabilities, the thresholds from
        which stage 1 alone flags, and the windows stage 2 must look at."""
        owner = np.repeat(np.arange(len(prepared)), [len(ws) for ws in prepared])
        p1 = softmax(self.stage1.logits(flat))[:, : len(RED_LINES)]
        high = np.array([self.thresholds.high(c, self.stage2_weight) for c in RED_LINES], dtype=np.float32)
        # Per input and red line, stage 1 settles it when some window reaches `high` (flag) or no window reaches
        # `low` (allow); a window goes to stage 2 when stage 1 is unsure of it and its input has an open red line.
        flagged = np.zeros((len(prepared), len(RED_LINES)), dtype=bool)
        np.logical_or.at(flagged, owner, p1 >= high)
        reaches_low = np.zeros_like(flagged)
        np.logical_or.at(reaches_low, owner, p1 >= self.thresholds.low)
        open_input = np.asarray((reaches_low & ~flagged).any(axis=1))
        uncertain = np.flatnonzero((p1.max(axis=1) >= self.thresholds.low) & open_input[owner])
        return owner, p1, high, uncertain

    def stage2_proba(self, windows: list[str], stage1_proba: FloatArray, weight: float | None = None) -> FloatArray:
        """The blend (1 - w) * stage 1 + w * encoder, with w the model's `stage2_weight` unless given."""
        w = self.stage2_weight if weight is None else weight
        if not windows:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        embeddings, owner = self.encoder.encode_pieces(windows)
        tuned = by_window(self.head.predict_proba(embeddings), owner, len(windows))
        return (1 - w) * stage1_proba + w * tuned

    def _verdict(self, p1: FloatArray, blended: FloatArray, in_band: np.ndarray, high: FloatArray) -> Verdict:
        s1 = p1.max(axis=0)
        s2 = blended[in_band].max(axis=0) if in_band.any() else np.zeros_like(s1)
        scores = {}
        for i, category in enumerate(RED_LINES):
            if s1[i] >= high[i]:
                scores[category] = to_score(float(s1[i]), float(high[i]))
            elif in_band.any() and s1[i] >= self.thresholds.low:
                scores[category] = to_score(float(s2[i]), self.thresholds.stage2[category])
            else:
                scores[category] = to_score(float(s1[i]), self.thresholds.low)
        categories = tuple(c for c in RED_LINES if scores[c] >= 0.5)
        return Verdict(
            flagged=bool(categories),
            categories=categories,
            scores=scores,
            stage="stage2" if in_band.any() else "stage1",
            evidence={"windows": int(p1.shape[0])},
        )


@cache
def default_screener() -> CascadeScreener:
    """The shipped model, loaded once per process with both stages warmed, so that no caller (the gateway's
    first request above all) pays the encoder's load inside its screening timeout."""
    screener = CascadeScreener.load()
    screener.warm_up()
    return screener
