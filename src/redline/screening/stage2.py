"""Stage 2 of the cascade: a trained head over sentence embeddings and stage 1's logits.

The encoder (all-MiniLM-L6-v2) gives meaning beyond surface n-grams — paraphrases, euphemisms, code that
never names what it does; stage 1's logits carry what the n-grams saw. Only windows stage 1 is unsure of
reach this stage.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from redline.screening.stage1 import FloatArray, softmax


class EmbeddingHead:
    def __init__(self, c: float = 2.0, seed: int = 0) -> None:
        self.c = c
        self.seed = seed
        self.coef: FloatArray | None = None
        self.intercept: FloatArray | None = None

    @staticmethod
    def inputs(embeddings: FloatArray, stage1_logits: FloatArray) -> FloatArray:
        centred = stage1_logits - stage1_logits.mean(axis=1, keepdims=True)
        return np.hstack([embeddings, 0.25 * centred]).astype(np.float32)

    def fit(self, x: FloatArray, labels: NDArray[np.int64]) -> EmbeddingHead:
        clf = LogisticRegression(C=self.c, max_iter=5000, class_weight="balanced", random_state=self.seed)
        clf.fit(x, labels)
        self.coef = clf.coef_.astype(np.float32)
        self.intercept = clf.intercept_.astype(np.float32)
        return self

    def predict_proba(self, x: FloatArray) -> FloatArray:
        if self.coef is None or self.intercept is None:
            raise RuntimeError("head is not fitted")
        return softmax(x @ self.coef.T + self.intercept)

    def save(self, path: Path) -> None:
        assert self.coef is not None and self.intercept is not None
        np.savez_compressed(path, coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, path: Path) -> EmbeddingHead:
        data = np.load(path)
        head = cls()
        head.coef = data["coef"].astype(np.float32)
        head.intercept = data["intercept"].astype(np.float32)
        return head
