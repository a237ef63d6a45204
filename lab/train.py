"""Training real models on real data: scikit-learn's bundled handwritten digits.

The digits (1797 images of 8×8 pixels, 10 classes) ship inside scikit-learn, so nothing
is downloaded. :func:`load_digits` returns standardised train/test tensors on any device;
:func:`make_model` builds softmax regression or a small MLP; :func:`train` runs any
``torch.optim.Optimizer`` (``lab.optim``'s or torch's) for a number of steps and records
the loss curves; :func:`digits_sweep` trains many copies at once, one configuration
(optimizer and hyperparameters) per copy, with the same initial weights and batches for
all, and :func:`best_per_row` picks the best setting of each row of such a sweep.
Everything takes its randomness from an explicit generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lab import _checks, optim

__all__ = [
    "Digits",
    "load_digits",
    "make_model",
    "train",
    "full_loss",
    "digits_sweep",
    "best_per_row",
]


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


def load_digits(
    device="cpu", dtype=torch.float32, test_fraction: float = 0.25, seed: int = 0
) -> Digits:
    """scikit-learn's digits, shuffled with ``seed``, split, and standardised.

    Pixels are scaled by the training set's per-pixel mean and standard deviation
    (constant pixels are left at 0). Raises ``ValueError`` for a test fraction outside
    (0, 1).
    """
    from sklearn.datasets import load_digits as _load

    frac = _checks.real_in(
        "test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True
    )
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
    return Digits(
        X[tr].to(dev, dtype), y[tr].to(dev), X[test].to(dev, dtype), y[test].to(dev)
    )


def make_model(
    hidden: int = 0,
    generator: torch.Generator | None = None,
    device="cpu",
    dtype=torch.float32,
) -> torch.nn.Module:
    """Softmax regression (``hidden=0``) or a one-hidden-layer ReLU MLP on 64 → 10.

    Weights are initialised from ``generator`` (PyTorch's default initialisation, made
    reproducible). Raises ``ValueError`` for a negative ``hidden``.
    """
    hidden = _checks.integer_at_least("hidden", hidden, 0)
    layers = (
        [torch.nn.Linear(64, 10)]
        if hidden == 0
        else [torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10)]
    )
    model = torch.nn.Sequential(*layers)
    if generator is not None:
        with torch.no_grad():
            for p in model.parameters():
                bound = 1.0 / (p.shape[-1] ** 0.5 if p.dim() > 1 else p.shape[0] ** 0.5)
                p.uniform_(-bound, bound, generator=generator)
    return model.to(device=device, dtype=dtype)


@torch.no_grad()
def full_loss(
    model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on all of (X, y)."""
    logits = model(X)
    return (
        torch.nn.functional.cross_entropy(logits, y).item(),
        (logits.argmax(1) == y).double().mean().item(),
    )


def train(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Digits,
    steps: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    eval_every: int = 50,
    scheduler=None,
) -> dict:
    """SGD-style training: ``steps`` updates on batches of ``batch_size`` drawn with replacement.

    Each step draws a batch (ĝ is the batch mean of per-example gradients of the
    cross-entropy), calls ``optimizer.step()`` and, if given, ``scheduler.step()``.
    Every ``eval_every`` steps (and at the end) records the full training loss, test
    loss and test accuracy. Returns a dict of lists: ``step``, ``train_loss``,
    ``test_loss``, ``test_accuracy``. Raises ``ValueError`` for counts < 1 and
    ``FloatingPointError`` if the loss becomes non-finite.
    """
    T = _checks.steps("steps", steps)
    B = _checks.batch_size("batch_size", batch_size)
    every = _checks.integer_at_least("eval_every", eval_every, 1)
    history = {"step": [], "train_loss": [], "test_loss": [], "test_accuracy": []}

    def record(t):
        train_loss, _ = full_loss(model, data.X_train, data.y_train)
        test_loss, test_acc = full_loss(model, data.X_test, data.y_test)
        if not torch.isfinite(torch.tensor(train_loss)):
            raise FloatingPointError(
                f"training diverged at step {t}: lower the learning rate"
            )
        for key, value in zip(history, (t, train_loss, test_loss, test_acc)):
            history[key].append(value)

    record(0)
    n = data.n_train
    for t in range(1, T + 1):
        idx = torch.randint(n, (B,), generator=generator, device=generator.device)
        idx = idx.to(data.X_train.device)
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(
            model(data.X_train[idx]), data.y_train[idx]
        )
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if t % every == 0 or t == T:
            record(t)
    return history


def digits_sweep(
    configs,
    data,
    *,
    steps: int,
    batch_size: int,
    hidden: int = 0,
    seed: int = 0,
    average_last: int = 50,
    diverge_loss: float = 20.0,
    device="cpu",
) -> dict:
    """Train one copy of a small digits model per configuration, all at once.

    ``configs``: a list of dicts, each ``{"optimizer": name, **hyperparameters}`` with
    name one of ``SGD, Momentum, AveragedMomentum, RMSProp, Adam`` (:mod:`lab.optim`).
    Every copy starts from the same weights (``lab.train.make_model(hidden)`` seeded
    with ``seed``) and sees the same batches of ``batch_size`` training examples (drawn
    with replacement, seed ``seed``), so differences between copies come from the
    hyperparameters alone. The copies' forward passes run as one batched computation;
    each copy's parameters form one param group of a :mod:`lab.optim` optimizer.

    A copy whose batch loss exceeds ``diverge_loss`` or becomes non-finite is marked
    diverged and frozen. Returns numpy arrays over configurations: ``final_loss`` (full
    training loss averaged over evaluations in the last ``average_last`` steps, every 10
    steps; inf if diverged), ``test_accuracy`` (at the end), ``diverged``, and ``curve``
    (full training loss every 10 steps, shape ``(C, steps // 10 + 1)``, NaN once
    diverged) with ``curve_steps``. Raises ``ValueError`` for an unknown optimizer or bad
    counts.
    """
    from lab import train as _train

    T = _checks.steps("steps", steps)
    B = _checks.batch_size("batch_size", batch_size)
    last = _checks.integer_at_least("average_last", average_last, 1)
    configs = [dict(c) for c in configs]
    if not configs:
        raise ValueError("configs must not be empty")
    for c in configs:
        if c.get("optimizer") not in _OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {tuple(_OPTIMIZERS)}, got {c.get('optimizer')!r}"
            )
    C = len(configs)
    dev = torch.device(device)
    base = _train.make_model(
        hidden, generator=torch.Generator().manual_seed(seed), dtype=torch.float32
    )
    layers = [m for m in base if isinstance(m, torch.nn.Linear)]
    # per config: [W1, b1, (W2, b2)], weights stored as (in, out) for einsum
    params = [
        [
            t
            for lin in layers
            for t in (
                lin.weight.detach().T.contiguous().to(dev).requires_grad_(),
                lin.bias.detach().clone().to(dev).requires_grad_(),
            )
        ]
        for _ in range(C)
    ]
    by_name: dict[str, list] = {}
    for c, ps in zip(configs, params):
        hyper = {k: v for k, v in c.items() if k != "optimizer"}
        by_name.setdefault(c["optimizer"], []).append({"params": ps, **hyper})
    optimizers = []
    for name, groups in by_name.items():
        opt = _OPTIMIZERS[name](
            groups[0]["params"], **{k: v for k, v in groups[0].items() if k != "params"}
        )
        for g in groups[1:]:
            opt.add_param_group(g)
        optimizers.append(opt)

    def forward(X):
        stacked = [torch.stack([p[k] for p in params]) for k in range(len(params[0]))]
        out = torch.einsum("bi,cio->cbo", X, stacked[0]) + stacked[1][:, None, :]
        if hidden:
            out = (
                torch.einsum("cbi,cio->cbo", torch.relu(out), stacked[2])
                + stacked[3][:, None, :]
            )
        return out

    Xtr, ytr = data.X_train.to(dev), data.y_train.to(dev)
    gen = torch.Generator().manual_seed(seed)
    alive = torch.ones(C, dtype=torch.bool)
    curve, curve_steps = [], []

    @torch.no_grad()
    def evaluate(t):
        logits = forward(Xtr)
        loss = (
            torch.nn.functional.cross_entropy(
                logits.reshape(-1, 10), ytr.repeat(C), reduction="none"
            )
            .reshape(C, -1)
            .mean(1)
        )
        loss = torch.where(alive, loss, torch.full_like(loss, float("nan")))
        curve.append(loss.cpu().numpy())
        curve_steps.append(t)

    evaluate(0)
    for t in range(1, T + 1):
        idx = torch.randint(Xtr.shape[0], (B,), generator=gen).to(dev)
        logits = forward(Xtr[idx])
        per = (
            torch.nn.functional.cross_entropy(
                logits.reshape(-1, 10), ytr[idx].repeat(C), reduction="none"
            )
            .reshape(C, B)
            .mean(1)
        )
        bad = ~torch.isfinite(per.detach()).cpu() | (per.detach().cpu() > diverge_loss)
        alive &= ~bad
        total = per[alive.to(dev)].sum()
        for ps in params:
            for p in ps:
                p.grad = None
        if alive.any():
            total.backward()
        for c in torch.nonzero(~alive).flatten().tolist():
            for p in params[c]:
                p.grad = None
        for opt in optimizers:
            opt.step()
        if t % 10 == 0 or t == T:
            evaluate(t)
    curve = np.stack(curve, axis=1)
    curve_steps = np.asarray(curve_steps)
    window = curve_steps >= T - last
    final = curve[:, window].mean(1)
    diverged = (~alive).numpy()
    final = np.where(diverged, np.inf, final)
    with torch.no_grad():
        logits = forward(data.X_test.to(dev))
        acc = (logits.argmax(-1) == data.y_test.to(dev)).float().mean(1).cpu().numpy()
    return {
        "final_loss": final,
        "test_accuracy": np.where(diverged, np.nan, acc),
        "diverged": diverged,
        "curve": curve,
        "curve_steps": curve_steps,
    }


def best_per_row(values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a table ``values[i, j]`` (row i, grid value ``grid[j]``): the argmin grid
    value and min per row.

    Non-finite entries (diverged runs) never win. Raises ``ValueError`` if a row has no
    finite entry or the shapes disagree.
    """
    values = np.asarray(values, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != grid.shape[-1]:
        raise ValueError("values must have shape (rows, len(grid))")
    finite = np.isfinite(values)
    if not finite.any(1).all():
        raise ValueError("a row has no finite entry: every run diverged")
    v = np.where(finite, values, np.inf)
    j = v.argmin(1)
    g = grid[j] if grid.ndim == 1 else grid[np.arange(len(j)), j]
    return g, v[np.arange(len(j)), j]


_OPTIMIZERS = {
    "SGD": optim.SGD,
    "Momentum": optim.Momentum,
    "AveragedMomentum": optim.AveragedMomentum,
    "RMSProp": optim.RMSProp,
    "Adam": optim.Adam,
}
