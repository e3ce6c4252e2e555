"""A window the encoder reads in several pieces is judged by its deciding piece, by the same rule in training
(finetune.by_text, on log-probabilities) as at inference (stage2.by_window)."""

import numpy as np
import torch

from redline.screening.finetune import by_text
from redline.screening.stage2 import by_window


def test_each_red_line_takes_its_likeliest_piece_and_allowed_its_least_likely() -> None:
    proba = np.array(
        [[0.1, 0.2, 0.7], [0.6, 0.1, 0.3], [0.2, 0.3, 0.5], [0.05, 0.05, 0.9]],
        dtype=np.float32,
    )
    out = by_window(proba, np.array([0, 0, 0, 1]), 2)
    np.testing.assert_allclose(out, [[0.6, 0.3, 0.3], [0.05, 0.05, 0.9]])


def test_one_piece_windows_are_unchanged() -> None:
    proba = np.random.default_rng(0).dirichlet(np.ones(3), size=5).astype(np.float32)
    np.testing.assert_allclose(by_window(proba, np.arange(5), 5), proba)


def test_training_aggregates_as_inference_does() -> None:
    rng = np.random.default_rng(1)
    owner = np.sort(rng.integers(0, 6, size=20))
    owner = np.searchsorted(np.unique(owner), owner)  # every text has a piece
    texts = int(owner.max()) + 1
    logits = torch.from_numpy(rng.normal(size=(20, 3)).astype(np.float32))
    trained = by_text(torch.log_softmax(logits, dim=-1), torch.from_numpy(owner), texts).exp().numpy()
    inferred = by_window(torch.softmax(logits, dim=-1).numpy(), owner, texts)
    np.testing.assert_allclose(trained, inferred, rtol=1e-5)


def test_the_loss_reaches_only_the_deciding_piece() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]], requires_grad=True)
    log_proba = by_text(torch.log_softmax(logits, dim=-1), torch.tensor([0, 0, 0]), 1)
    (-log_proba[0, 0]).backward()  # a violation of the first red line: only its likeliest piece learns
    assert logits.grad is not None
    assert logits.grad[0].abs().sum() > 0 and logits.grad[1:].abs().sum() == 0
