"""Stage 1 of the cascade: hashed character and word n-grams plus the deciding-feature concepts, with a
linear model.

Tens of microseconds per text, no vocabulary to ship (hashing), robust to spelling variants and to any script;
the concept features (see concepts.py) carry the policy's deciding features across languages. It settles clear
traffic on its own; the uncertain band goes on to stage 2.

The n-grams are sklearn's HashingVectorizer features (its analyzers, MurmurHash3 and index convention), but
hashed here: sklearn's transform spends ~0.4 ms per call validating input, ten times the hashing itself, and
this runs on every request. Tests hold the two to identical output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.utils import murmurhash3_32

from redline.screening.concepts import FEATURE_NAMES, concept_features

FloatArray = NDArray[np.float32]
_INT32_MIN = -(2**31)


def feature_index(gram: str, n_features: int) -> int:
    """The feature index sklearn's FeatureHasher (non-alternating) gives `gram`."""
    h = murmurhash3_32(gram, 0)
    return (2**31 - n_features) % n_features if h == _INT32_MIN else abs(h) % n_features


class GramHasher:
    """Hashed n-gram counts, with each gram's feature index remembered: most n-grams of a request were seen
    before (common words' character n-grams), and a dictionary lookup costs a third of a MurmurHash call from
    Python, which was the largest part of stage 1 on the gateway's event loop. Bounded: forgotten wholesale
    when full. Safe across threads: a lookup or insert is atomic, and an index never changes."""

    def __init__(self, n_features: int, max_grams: int = 200_000) -> None:
        self.n_features, self.max_grams = n_features, max_grams
        self._index: dict[str, int] = {}

    def __call__(self, grams: list[str]) -> tuple[NDArray[np.int64], FloatArray]:
        """The distinct feature indices (ascending) and their counts, exactly as sklearn's FeatureHasher
        (non-alternating) assigns them."""
        known = self._index
        if len(known) > self.max_grams:
            known = self._index = {}
        found = list(map(known.get, grams))
        if None in found:
            for i, gram in enumerate(grams):
                if found[i] is None:
                    found[i] = known[gram] = feature_index(gram, self.n_features)
        indices, counts = np.unique(np.array(found, dtype=np.int64), return_counts=True)
        return indices, counts.astype(np.float32)


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
        self._analyzers = (self.char.build_analyzer(), self.word.build_analyzer())
        self._hashed_counts = GramHasher(n_features)
        self.coef: FloatArray | None = None
        self.intercept: FloatArray | None = None
        self._by_feature: FloatArray | None = None  # coef transposed, C-contiguous: one row per feature

    def sparse_rows(self, texts: list[str]) -> list[tuple[NDArray[np.int64], FloatArray]]:
        """Each text's non-zero features (indices, values): l2-normalised char and word n-gram counts, then the
        weighted concepts, side by side in that order."""
        concepts = concept_features(texts) * self.concept_weight
        offset = 2 * self.n_features
        rows = []
        for text, concept_row in zip(texts, concepts, strict=True):
            indices: list[NDArray[np.int64]] = []
            values: list[FloatArray] = []
            for block, analyzer in enumerate(self._analyzers):
                found, counts = self._hashed_counts(analyzer(text))
                if found.size:
                    indices.append(found + block * self.n_features)
                    values.append(counts / np.linalg.norm(counts))
            present = np.flatnonzero(concept_row)
            indices.append(present + offset)
            values.append(concept_row[present])
            rows.append((np.concatenate(indices).astype(np.int64), np.concatenate(values).astype(np.float32)))
        return rows

    def features(self, texts: list[str]) -> sp.csr_matrix:
        rows = self.sparse_rows(texts)
        indptr = np.cumsum([0, *(len(i) for i, _ in rows)])
        indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        data = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, dtype=np.float32)
        shape = (len(rows), 2 * self.n_features + len(FEATURE_NAMES))
        matrix = sp.csr_matrix((data, indices, indptr), shape=shape)
        matrix.sum_duplicates()
        return matrix

    def fit(self, texts: list[str], labels: NDArray[np.int64]) -> NgramModel:
        clf = LogisticRegression(C=self.c, max_iter=3000, class_weight="balanced", random_state=self.seed)
        clf.fit(self.features(texts), labels)
        self._set_weights(clf.coef_, clf.intercept_)
        return self

    def _set_weights(self, coef: NDArray[np.floating], intercept: NDArray[np.floating]) -> None:
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        self._by_feature = np.ascontiguousarray(self.coef.T)

    def logits(self, texts: list[str]) -> FloatArray:
        if self._by_feature is None or self.intercept is None:
            raise RuntimeError("model is not fitted")
        out = np.empty((len(texts), len(self.intercept)), dtype=np.float32)
        for row, (indices, values) in enumerate(self.sparse_rows(texts)):
            out[row] = values @ self._by_feature[indices] + self.intercept
        return out

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
        model._set_weights(data["coef"], data["intercept"])
        return model


def softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
