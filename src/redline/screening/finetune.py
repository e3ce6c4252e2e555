"""LoRA fine-tuning of the stage-2 encoder's top layers (training only; needs torch).

The bottom layers stay frozen, so their outputs are computed once; low-rank adapters on the top layers'
projections are trained with a classification head. Only the adapters ship (a few hundred kB): at load time
`MiniLMEncoder` adds B @ A to the packaged base weights, so inference needs no torch.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from redline.screening.encoder import MiniLMEncoder

TARGETS = ("attention.self.query", "attention.self.value", "intermediate.dense", "output.dense")


def finetune(
    texts: list[str],
    labels: NDArray[np.int64],
    encoder: MiniLMEncoder,
    first_tuned_layer: int = 3,
    rank: int = 8,
    epochs: int = 4,
    batch_size: int = 32,
    max_tokens: int = 128,
    seed: int = 0,
    log: Any = print,
) -> tuple[dict[str, NDArray[np.float32]], NDArray[np.float32], NDArray[np.float32]]:
    """Train adapters on layers >= `first_tuned_layer` with a linear head on the normalised mean-pooled
    embedding. Return the adapters ({"<weight name>.A"/".B": array, "scale"}) and the head's coef and intercept."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    w = {k: torch.from_numpy(v) for k, v in encoder.w.items()}
    heads, dim = encoder.heads, encoder.dim
    head_dim = dim // heads

    def layer_norm(x: torch.Tensor, name: str) -> torch.Tensor:
        return nn.functional.layer_norm(x, (dim,), w[name + ".weight"], w[name + ".bias"], encoder.eps)

    adapters = nn.ParameterDict()
    for layer in range(first_tuned_layer, encoder.layers):
        for target in TARGETS:
            name = f"encoder.layer.{layer}.{target}"
            out_f, in_f = w[name + ".weight"].shape
            a = nn.Parameter(torch.empty(rank, in_f))
            nn.init.kaiming_uniform_(a, a=math.sqrt(5))
            adapters[name.replace(".", "__") + "__A"] = a
            adapters[name.replace(".", "__") + "__B"] = nn.Parameter(torch.zeros(out_f, rank))
    scale = 2.0  # alpha / rank with alpha = 2 * rank
    classifier = nn.Linear(dim, 3)
    temperature = 10.0  # cosine-scale logits train better than raw unit vectors

    def proj(x: torch.Tensor, name: str) -> torch.Tensor:
        y = x @ w[name + ".weight"].T + w[name + ".bias"]
        key = name.replace(".", "__")
        if key + "__A" in adapters:
            y = y + (x @ adapters[key + "__A"].T) @ adapters[key + "__B"].T * scale
        return y

    def run_layers(x: torch.Tensor, mask: torch.Tensor, layers: range) -> torch.Tensor:
        batch, width, _ = x.shape
        bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in layers:
            p = f"encoder.layer.{layer}."

            def split(h: torch.Tensor) -> torch.Tensor:
                return h.view(batch, width, heads, head_dim).transpose(1, 2)

            q, k, v = (split(proj(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(batch, width, dim)
            x = layer_norm(x + proj(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = nn.functional.gelu(proj(x, p + "intermediate.dense"))
            x = layer_norm(x + proj(h, p + "output.dense"), p + "output.LayerNorm")
        return x

    # Frozen bottom: embeddings and the first layers, once.
    tok = encoder.tokenizer
    tok.enable_truncation(max_tokens)
    encodings = tok.encode_batch(texts)
    tok.enable_truncation(encoder.max_tokens)
    order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
    cached: list[tuple[NDArray[np.int64], torch.Tensor, torch.Tensor]] = []
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            idx = np.array(order[start : start + batch_size])
            width = max(len(encodings[i].ids) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros((len(idx), width))
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = torch.tensor(encodings[i].ids)
                mask[row, :n] = 1.0
            x = (
                w["embeddings.word_embeddings.weight"][ids]
                + w["embeddings.position_embeddings.weight"][:width][None]
                + w["embeddings.token_type_embeddings.weight"][0]
            )
            x = layer_norm(x, "embeddings.LayerNorm")
            cached.append((idx, run_layers(x, mask, range(first_tuned_layer)), mask))
    log(f"finetune: cached layers < {first_tuned_layer} for {len(texts)} texts")

    counts = np.bincount(labels, minlength=3).astype(np.float32)
    weights = torch.tensor(counts.sum() / (3 * np.maximum(counts, 1)))
    optimiser = torch.optim.AdamW([*adapters.values(), *classifier.parameters()], lr=1e-3, weight_decay=0.01)
    label_tensor: torch.Tensor = torch.from_numpy(labels)
    steps = epochs * len(cached)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=1e-3, total_steps=steps, pct_start=0.1)
    for epoch in range(epochs):
        total = 0.0
        for b in rng.permutation(len(cached)):
            idx, hidden, mask = cached[b]
            x = run_layers(hidden, mask, range(first_tuned_layer, encoder.layers))
            pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            pooled = nn.functional.normalize(pooled, dim=-1)
            logits = classifier(pooled * temperature)
            loss = nn.functional.cross_entropy(logits, label_tensor[torch.from_numpy(idx)], weight=weights)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
        log(f"finetune: epoch {epoch + 1}/{epochs} loss {total / len(cached):.4f}")
    out: dict[str, NDArray[np.float32]] = {}
    for key, value in adapters.items():
        base, part = key.rsplit("__", 1)
        out[base.replace("__", ".") + "." + part] = value.detach().numpy().astype(np.float32)
    out["scale"] = np.array([scale], dtype=np.float32)
    coef = (classifier.weight.detach().numpy() * temperature).astype(np.float32)
    return out, coef, classifier.bias.detach().numpy().astype(np.float32)


def save_adapters(adapters: dict[str, NDArray[np.float32]], path: Path) -> None:
    stored = {k: v.astype(np.float16) if k != "scale" else v for k, v in adapters.items()}
    np.savez_compressed(path, **stored)  # type: ignore[arg-type]
