"""LoRA fine-tuning of the stage-2 encoder (training only).

Low-rank adapters on the query, value and feed-forward projections are trained with a linear classification
head on the normalised mean-pooled embedding, through the same layers as inference (`MiniLM`), in bfloat16
autocast where the CPU multiplies bf16 natively. A text longer than the encoder's 128 tokens is read in
overlapping pieces, as at inference, and judged by its deciding piece (`by_text`). Layers below
`first_tuned_layer` stay frozen and are computed once (0 by default: adapting all six layers halved the
blended false-positive rate against the top three, see docs/detection.md). Only the adapters ship (about
1 MB): at load time `MiniLMEncoder` adds B @ A to the packaged base weights.

With `early_stopping` (validation texts, labels and a criterion), the adapters and head of the epoch the
criterion scores lowest are kept: early stopping on what the cascade is chosen by, the false-positive rate at
the recall target, rather than on the validation loss, which rises and falls while the encoder grows
confident and its ranking still improves (docs/detection.md).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from tokenizers import Encoding
from torch import nn

from redline.screening.encoder import MiniLM, fast_dtype, load_tokenizer, pad, pieces

TARGETS = ("attention.self.query", "attention.self.value", "intermediate.dense", "output.dense")
# (text indexes, all their pieces' token ids or hidden states, the pieces' mask, the batch-local text index of
# each piece)
PieceBatch = tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]
# Validation texts, their labels, and a criterion of (validation probabilities, labels): lower is better.
EarlyStopping = tuple[list[str], NDArray[np.int64], Callable[[NDArray[np.float32], NDArray[np.int64]], float]]


def finetune(
    texts: list[str],
    labels: NDArray[np.int64],
    first_tuned_layer: int = 0,
    rank: int = 16,
    epochs: int = 5,
    batch_size: int = 32,
    max_tokens: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    log: Any = print,
    early_stopping: EarlyStopping | None = None,
) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.float32], NDArray[np.float32]]:
    """Train adapters on layers >= `first_tuned_layer` and a linear head. Return the adapters
    ({"<weight name>.A"/".B": array, "scale"}) and the head's coef and intercept: those after the last epoch,
    or, with `early_stopping` (validation texts, their labels, and a criterion of the validation probabilities
    and labels, lower is better), those of the epoch the criterion scores lowest."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MiniLM.load()
    for tensor in model.w.values():
        tensor.requires_grad_(False)
    adapters = nn.ParameterDict()
    for layer in range(first_tuned_layer, model.layers):
        for target in TARGETS:
            name = f"encoder.layer.{layer}.{target}"
            out_f, in_f = model.w[name + ".weight"].shape
            a = nn.Parameter(torch.empty(rank, in_f))
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            adapters[name.replace(".", "__") + "__A"] = a
            adapters[name.replace(".", "__") + "__B"] = nn.Parameter(torch.zeros(out_f, rank))
    scale = 2.0  # alpha / rank with alpha = 2 * rank
    classifier = nn.Linear(model.dim, 3)
    temperature = 10.0  # cosine-scale logits train better than raw unit vectors

    def linear(x: torch.Tensor, name: str) -> torch.Tensor:
        y = model.linear(x, name)
        key = name.replace(".", "__")
        if key + "__A" in adapters:
            y = y + (x @ adapters[key + "__A"].T) @ adapters[key + "__B"].T * scale
        return y

    tokenizer = load_tokenizer(max_tokens=max_tokens)
    dtype = fast_dtype()
    autocast = torch.autocast("cpu", dtype=dtype) if dtype != torch.float32 else contextlib.nullcontext()

    def frozen_batches(some: list[str]) -> list[PieceBatch]:
        """Per batch of texts: their indexes, the hidden states of all their pieces after the frozen layers, the
        pieces' mask, and each piece's text within the batch."""
        out = []
        with torch.no_grad(), autocast:
            for idx, ids, mask, owner in piece_batches(tokenizer.encode_batch(some), batch_size):
                frozen = model.run_layers(model.embed(ids), mask, range(first_tuned_layer), model.linear)
                out.append((idx, frozen.float(), mask, owner))
        return out

    batches = frozen_batches(texts)
    held_out = frozen_batches(early_stopping[0]) if early_stopping is not None else []
    log(f"finetune: layers < {first_tuned_layer} computed once for {len(texts)} texts")
    counts = np.bincount(labels, minlength=3).astype(np.float32)
    weights = torch.tensor(counts.sum() / (3 * np.maximum(counts, 1)))
    optimiser = torch.optim.AdamW([*adapters.values(), *classifier.parameters()], lr=lr, weight_decay=0.01)
    label_tensor = torch.from_numpy(labels)
    steps = epochs * len(batches)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.1)
    tuned = range(first_tuned_layer, model.layers)

    def text_log_proba(frozen: torch.Tensor, mask: torch.Tensor, owner: torch.Tensor, texts: int) -> torch.Tensor:
        with autocast:
            pooled = model.pool(model.run_layers(frozen, mask, tuned, linear), mask)
            logits = classifier(pooled.float() * temperature)
        return by_text(torch.log_softmax(logits.float(), dim=-1), owner, texts)

    def validation_proba(count: int) -> NDArray[np.float32]:
        out = np.zeros((count, 3), dtype=np.float32)
        with torch.no_grad():
            for idx, frozen, mask, owner in held_out:
                out[idx] = text_log_proba(frozen, mask, owner, len(idx)).exp().numpy()
        return out

    def snapshot() -> list[torch.Tensor]:
        return [p.detach().clone() for p in [*adapters.values(), *classifier.parameters()]]

    best: tuple[float, int, list[torch.Tensor]] | None = None
    for epoch in range(epochs):
        total = 0.0
        for b in rng.permutation(len(batches)):
            idx, frozen, mask, owner = batches[b]
            log_proba = text_log_proba(frozen, mask, owner, len(idx))
            loss = nn.functional.nll_loss(log_proba, label_tensor[idx], weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
        message = f"finetune: epoch {epoch + 1}/{epochs} loss {total / len(batches):.4f}"
        if early_stopping is not None:
            held_texts, held_labels, criterion = early_stopping
            proba = validation_proba(len(held_texts))
            log_proba = torch.log(torch.from_numpy(proba) + 1e-9)
            held_loss = float(nn.functional.nll_loss(log_proba, torch.from_numpy(held_labels)))
            score = criterion(proba, held_labels)
            message += f", validation loss {held_loss:.4f}, criterion {score:.4f}"
            if best is None or score < best[0]:
                best = (score, epoch + 1, snapshot())
        log(message)
    if best is not None:
        log(f"finetune: keeping epoch {best[1]} (lowest validation criterion)")
        with torch.no_grad():
            for param, kept in zip([*adapters.values(), *classifier.parameters()], best[2], strict=True):
                param.copy_(kept)
    out: dict[str, NDArray[np.float32]] = {}
    for key, value in adapters.items():
        base, part = key.rsplit("__", 1)
        out[base.replace("__", ".") + "." + part] = value.detach().numpy().astype(np.float32)
    out["scale"] = np.array([scale], dtype=np.float32)
    coef = (classifier.weight.detach().numpy() * temperature).astype(np.float32)
    return out, coef, classifier.bias.detach().numpy().astype(np.float32)


def by_text(log_proba: torch.Tensor, owner: torch.Tensor, texts: int) -> torch.Tensor:
    """Each text's log-probabilities from its pieces' (`owner[i]`: the text of piece i), by the rule inference
    applies (stage2.by_window): each red line's most likely piece, `allowed`'s least likely. The loss thus
    falls on the piece that decides: for a long violation the piece that holds it, whichever that is (multiple
    -instance learning), for an allowed text its most suspicious piece. Not normalised: only the label's entry
    enters the loss."""
    index = owner[:, None].expand_as(log_proba)
    start = torch.full((texts, log_proba.shape[1]), -torch.inf)
    highest = start.scatter_reduce(0, index, log_proba, reduce="amax")
    lowest = (-start).scatter_reduce(0, index, log_proba, reduce="amin")
    return torch.cat([highest[:, :-1], lowest[:, -1:]], dim=1)


def piece_batches(encodings: list[Encoding], batch_size: int) -> Iterator[PieceBatch]:
    """Batches of `batch_size` texts (sorted by piece count and length, so each pads little), each with all the
    pieces of its texts: (text indexes, ids, mask, the batch-local text index of each piece)."""
    order = sorted(range(len(encodings)), key=lambda i: (len(encodings[i].overflowing), len(encodings[i].ids)))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        every, owner = pieces([encodings[i] for i in idx])
        ids, mask = pad(every)
        yield idx, ids, mask, torch.from_numpy(owner)


def save_adapters(adapters: dict[str, NDArray[np.float32]], path: Path) -> None:
    stored = {k: v.astype(np.float16) if k != "scale" else v for k, v in adapters.items()}
    np.savez_compressed(path, **stored)  # type: ignore[arg-type]
