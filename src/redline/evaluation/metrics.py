"""The figures `redline eval` reports: per red line precision / recall / F1, false-positive rates on allowed
traffic and on hard negatives, the confusion matrix, stage usage and throughput."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from redline.screening.verdict import ALLOWED, LABELS, RED_LINES, Verdict


class BatchScreener(Protocol):
    def screen_many(self, items: Sequence[tuple[Any, Any]]) -> list[Verdict]: ...


def predicted_label(verdict: Verdict) -> str:
    if not verdict.categories:
        return ALLOWED
    return max(verdict.categories, key=lambda c: verdict.scores[c])


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def figures(items: Sequence[dict[str, Any]], verdicts: Sequence[Verdict], seconds: float) -> dict[str, Any]:
    truth = [i["label"] for i in items]
    predicted = [predicted_label(v) for v in verdicts]
    confusion = {t: {p: 0 for p in LABELS} for t in LABELS}
    for t, p in zip(truth, predicted, strict=True):
        confusion[t][p] += 1
    per_category: dict[str, dict[str, float | int]] = {}
    for c in RED_LINES:
        tp = sum(t == c and c in v.categories for t, v in zip(truth, verdicts, strict=True))
        fp = sum(t != c and c in v.categories for t, v in zip(truth, verdicts, strict=True))
        fn = sum(t == c and c not in v.categories for t, v in zip(truth, verdicts, strict=True))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = round(2 * precision * recall / (precision + recall), 4) if precision + recall else 0.0
        per_category[c] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    allowed = [v for i, v in zip(items, verdicts, strict=True) if i["label"] == ALLOWED]
    hard = [v for i, v in zip(items, verdicts, strict=True) if i["label"] == ALLOWED and i.get("hard_negative")]
    return {
        "items": len(items),
        "per_category": per_category,
        "false_positive_rate": {
            "allowed": _ratio(sum(v.flagged for v in allowed), len(allowed)),
            "hard_negatives": _ratio(sum(v.flagged for v in hard), len(hard)),
        },
        "allowed_support": len(allowed),
        "hard_negative_support": len(hard),
        "confusion": confusion,
        "stages": dict(Counter(v.stage for v in verdicts)),
        "throughput_per_s": round(len(items) / seconds, 1) if seconds > 0 else 0.0,
    }


def evaluate(
    screener: BatchScreener,
    items: Sequence[dict[str, Any]],
    batch_size: int = 64,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    verdicts: list[Verdict] = []
    started = time.perf_counter()
    for start in range(0, len(items), batch_size):
        batch = items[start : start + batch_size]
        verdicts += screener.screen_many([(i.get("text") or i.get("messages") or "", i.get("tools")) for i in batch])
        if progress:
            progress(len(batch))
    return figures(items, verdicts, time.perf_counter() - started)
