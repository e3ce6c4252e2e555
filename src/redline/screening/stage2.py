"""Stage 2 of the cascade: all-MiniLM-L6-v2 with LoRA-tuned top layers and a linear classification head.

The encoder gives meaning beyond surface n-grams (paraphrases, euphemisms, code that never names what it
does). Its top layers are adapted to the task (finetune.py); only the adapters and this head ship. Only
windows stage 1 is unsure of reach this stage, and its probability is averaged with stage 1's. The encoder
reads a window longer than its 128 tokens in overlapping pieces (`by_window`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from redline.screening.stage1 import FloatArray, softmax


def by_window(proba: FloatArray, owner: NDArray[np.int64], windows: int) -> FloatArray:
    """Each window's probabilities from those of its pieces (`owner[i]`: the window of piece i): for each red
    line its most likely piece, for `allowed` its least likely. A window is flagged when any of its pieces is,
    as an input is when any of its windows is; training (finetune.py) optimises the same rule."""
    out = np.zeros((windows, proba.shape[1]), dtype=np.float32)
    np.maximum.at(out, owner, proba)
    lowest = np.ones(windows, dtype=np.float32)
    np.minimum.at(lowest, owner, proba[:, -1])
    out[:, -1] = lowest
    return out


class EmbeddingHead:
    """A linear head over L2-normalised sentence embeddings."""

    def __init__(self, coef: FloatArray, intercept: FloatArray) -> None:
        self.coef = coef
        self.intercept = intercept

    def predict_proba(self, embeddings: FloatArray) -> FloatArray:
        return softmax(embeddings @ self.coef.T + self.intercept)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path) -> EmbeddingHead:
        data = np.load(path)
        return cls(data["coef"].astype(np.float32), data["intercept"].astype(np.float32))
