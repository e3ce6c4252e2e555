"""Stage 1 of the cascade: hashed character and word n-grams plus the deciding-feature concepts, with a
linear model.

Sub-millisecond per text, no vocabulary to ship (hashing), robust to spelling variants and to any script; the
concept features (see concepts.py) carry the policy's deciding features across languages. It settles clear
traffic on its own; the uncertain band goes on to stage 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from redline.screening.concepts import concept_features

FloatArray = NDArray[np.float32]


class NgramModel:
    """fit / predict_proba over the three labels, storable as two small arrays."""

    concept_weight = 0.5

    def __init__(self, n_features: int = 2**17, c: float = 16.0, seed: int = 0) -> None:
        self.n_features = n_features
        self.c = c
        self.seed = seed
        self.char = HashingVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), n_features=n_features, alternate_sign=False, norm="l2"
        )
        self.word = HashingVectorizer(
            analyzer="word",
            ngram_range=(1, 2),
            n_features=n_features,
            alternate_sign=False,
            norm="l2",
            token_pattern=r"(?u)\b\w+\b",
        )
        self.coef: FloatArray | None = None
        self.intercept: FloatArray | None = None

    def features(self, texts: list[str]) -> sp.csr_matrix:
        concepts = sp.csr_matrix(concept_features(texts) * self.concept_weight)
        return sp.hstack([self.char.transform(texts), self.word.transform(texts), concepts], format="csr")

    def fit(self, texts: list[str], labels: NDArray[np.int64]) -> NgramModel:
        clf = LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced", random_state=self.seed)
        clf.fit(self.features(texts), labels)
        self.coef = clf.coef_.astype(np.float32)
        self.intercept = clf.intercept_.astype(np.float32)
        return self

    def logits(self, texts: list[str]) -> FloatArray:
        if self.coef is None or self.intercept is None:
            raise RuntimeError("model is not fitted")
        return np.asarray(self.features(texts) @ self.coef.T + self.intercept, dtype=np.float32)

    def predict_proba(self, texts: list[str]) -> FloatArray:
        return softmax(self.logits(texts))

    def save(self, path: Path) -> None:
        assert self.coef is not None and self.intercept is not None
        np.savez_compressed(
            path, coef=self.coef.astype(np.float16), intercept=self.intercept, params=np.array([self.n_features])
        )

    @classmethod
    def load(cls, path: Path) -> NgramModel:
        data = np.load(path)
        model = cls(n_features=int(data["params"][0]))
        model.coef = data["coef"].astype(np.float32)
        model.intercept = data["intercept"].astype(np.float32)
        return model


def softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
