"""lab.train: the digits data, the models, and the training loop."""

from __future__ import annotations

import pytest
import torch

import lab
from lab import optim, train


def test_digits_are_standardised_and_split():
    d = train.load_digits(test_fraction=0.25)
    assert d.X_train.shape[1] == 64 and d.X_train.shape[0] + d.X_test.shape[0] == 1797
    assert torch.allclose(d.X_train.mean(0), torch.zeros(64), atol=1e-5)
    assert set(d.y_train.unique().tolist()) == set(range(10))
    with pytest.raises(ValueError, match="test_fraction"):
        train.load_digits(test_fraction=1.0)


def test_training_softmax_regression_reduces_loss_and_is_reproducible():
    d = train.load_digits()
    runs = []
    for _ in range(2):
        g = lab.generator(0)
        model = train.make_model(0, g)
        runs.append(
            train.train(
                model,
                optim.SGD(model.parameters(), lr=0.2),
                d,
                150,
                16,
                g,
                eval_every=50,
            )
        )
    h = runs[0]
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["test_accuracy"][-1] > 0.85
    assert runs[0] == runs[1]


def test_divergence_raises():
    d = train.load_digits()
    g = lab.generator(0)
    model = train.make_model(0, g)
    with pytest.raises(FloatingPointError, match="diverged"):
        train.train(
            model,
            torch.optim.SGD(model.parameters(), lr=1e38),
            d,
            100,
            16,
            g,
            eval_every=10,
        )
