"""Training real models on real data: scikit-learn's bundled handwritten digits.

The digits (1797 images of 8×8 pixels, 10 classes) ship inside scikit-learn, so nothing
is downloaded. :func:`load_digits` returns standardised train/test tensors on any device;
:func:`make_model` builds softmax regression or a small MLP; :func:`train` runs any
``torch.optim.Optimizer`` (``lab.optim``'s or torch's) for a number of steps and records
the loss curves. Everything takes its randomness from an explicit generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import _checks

__all__ = ["Digits", "load_digits", "make_model", "train", "full_loss"]


@dataclass(frozen=True)
class Digits:
    """Standardised digit images: ``X_*`` of shape (n, 64), labels ``y_*`` in 0..9."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def n_train(self) -> int:
        return self.X_train.shape[0]


def load_digits(device="cpu", dtype=torch.float32, test_fraction: float = 0.25,
                seed: int = 0) -> Digits:
    """scikit-learn's digits, shuffled with ``seed``, split, and standardised.

    Pixels are scaled by the training set's per-pixel mean and standard deviation
    (constant pixels are left at 0). Raises ``ValueError`` for a test fraction outside
    (0, 1).
    """
    from sklearn.datasets import load_digits as _load

    frac = _checks.real_in("test_fraction", test_fraction, 0.0, 1.0, low_open=True,
                           high_open=True)
    data = _load()
    X = torch.as_tensor(data.data, dtype=torch.float64)
    y = torch.as_tensor(data.target, dtype=torch.long)
    g = torch.Generator().manual_seed(_checks.integer_at_least("seed", seed, 0))
    order = torch.randperm(len(y), generator=g)
    n_test = int(round(frac * len(y)))
    test, tr = order[:n_test], order[n_test:]
    mean, sd = X[tr].mean(0), X[tr].std(0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    X = (X - mean) / sd
    dev = torch.device(device)
    return Digits(X[tr].to(dev, dtype), y[tr].to(dev), X[test].to(dev, dtype), y[test].to(dev))


def make_model(hidden: int = 0, generator: torch.Generator | None = None, device="cpu",
               dtype=torch.float32) -> torch.nn.Module:
    """Softmax regression (``hidden=0``) or a one-hidden-layer ReLU MLP on 64 → 10.

    Weights are initialised from ``generator`` (PyTorch's default initialisation, made
    reproducible). Raises ``ValueError`` for a negative ``hidden``.
    """
    hidden = _checks.integer_at_least("hidden", hidden, 0)
    layers = [torch.nn.Linear(64, 10)] if hidden == 0 else [
        torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)]
    model = torch.nn.Sequential(*layers)
    if generator is not None:
        with torch.no_grad():
            for p in model.parameters():
                bound = 1.0 / (p.shape[-1] ** 0.5 if p.dim() > 1 else p.shape[0] ** 0.5)
                p.uniform_(-bound, bound, generator=generator)
    return model.to(device=device, dtype=dtype)


@torch.no_grad()
def full_loss(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on all of (X, y)."""
    logits = model(X)
    return (torch.nn.functional.cross_entropy(logits, y).item(),
            (logits.argmax(1) == y).double().mean().item())


def train(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: Digits, steps: int,
          batch_size: int, generator: torch.Generator, *, eval_every: int = 50,
          scheduler=None) -> dict:
    """SGD-style training: ``steps`` updates on batches of ``batch_size`` drawn with replacement.

    Each step draws a batch (ĝ is the batch mean of per-example gradients of the
    cross-entropy), calls ``optimizer.step()`` and, if given, ``scheduler.step()``.
    Every ``eval_every`` steps (and at the end) records the full training loss, test
    loss and test accuracy. Returns a dict of lists: ``step``, ``train_loss``,
    ``test_loss``, ``test_accuracy``. Raises ``ValueError`` for counts < 1 and
    ``FloatingPointError`` if the loss becomes non-finite.
    """
    T = _checks.integer_at_least("steps", steps, 1)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    every = _checks.integer_at_least("eval_every", eval_every, 1)
    history = {"step": [], "train_loss": [], "test_loss": [], "test_accuracy": []}

    def record(t):
        train_loss, _ = full_loss(model, data.X_train, data.y_train)
        test_loss, test_acc = full_loss(model, data.X_test, data.y_test)
        if not torch.isfinite(torch.tensor(train_loss)):
            raise FloatingPointError(f"training diverged at step {t}: lower the learning rate")
        for key, value in zip(history, (t, train_loss, test_loss, test_acc)):
            history[key].append(value)

    record(0)
    n = data.n_train
    for t in range(1, T + 1):
        idx = torch.randint(n, (B,), generator=generator, device=generator.device)
        idx = idx.to(data.X_train.device)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(data.X_train[idx]), data.y_train[idx])
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if t % every == 0 or t == T:
            record(t)
    return history
