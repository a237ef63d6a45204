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

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lab import _available_device, _checks, _seed, optim

__all__ = [
    "Digits",
    "load_digits",
    "make_model",
    "train",
    "full_loss",
    "digits_sweep",
    "best_per_row",
]

#: The most hidden units of :func:`make_model` (64·hidden + 11·hidden + 10 weights).
MAX_HIDDEN = 10**5
#: The most configurations of one :func:`digits_sweep`.
MAX_CONFIGS = 10**4


def _examples(x_name: str, X, y_name: str, y) -> None:
    """X: a finite floating tensor (n, features) with n >= 1; y: n integer labels in
    0..9 on the same device."""
    _checks.tensor(x_name, X, ndim=2)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"{x_name} must have at least one example and one feature, got "
            f"{tuple(X.shape)}"
        )
    _checks.tensor(y_name, y, ndim=1, floating=False)
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{y_name} must be an integer tensor of labels, got {y.dtype}")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"{x_name} and {y_name} must hold the same number of examples, got "
            f"{X.shape[0]} and {y.shape[0]}"
        )
    if y.device != X.device:
        raise ValueError(
            f"{x_name} and {y_name} must be on one device, got {X.device} and {y.device}"
        )
    if bool((y < 0).any() | (y > 9).any()):
        raise ValueError(f"{y_name} must hold labels in 0..9")


def _loss_and_accuracy(model, X, y, names: str) -> tuple[float, float]:
    """:func:`full_loss` without the argument checks; an error of the forward pass or
    of the loss becomes a ``ValueError`` naming ``names``."""
    try:
        logits = model(X)
        loss = torch.nn.functional.cross_entropy(logits, y).item()
    except (RuntimeError, IndexError, TypeError, ValueError) as err:
        raise ValueError(
            f"{names}: the model does not take these data: {err}"
        ) from None
    return loss, (logits.argmax(1) == y).double().mean().item()


@dataclass(frozen=True)
class Digits:
    """Standardised digit images: ``X_*`` of shape (n, 64), labels ``y_*`` in 0..9."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    def __post_init__(self):
        _examples("X_train", self.X_train, "y_train", self.y_train)
        _examples("X_test", self.X_test, "y_test", self.y_test)
        if self.X_test.shape[1] != self.X_train.shape[1]:
            raise ValueError(
                "X_train and X_test must have the same number of features, got "
                f"{self.X_train.shape[1]} and {self.X_test.shape[1]}"
            )

    @property
    def n_train(self) -> int:
        return self.X_train.shape[0]


def load_digits(
    device="cpu", dtype=torch.float32, test_fraction: float = 0.25, seed: int = 0
) -> Digits:
    """scikit-learn's digits, shuffled with ``seed``, split, and standardised.

    Pixels are scaled by the training set's per-pixel mean and standard deviation
    (constant pixels are left at 0). Raises ``ValueError`` for a test fraction outside
    (0, 1) or one that leaves fewer than one test or two training examples, a seed
    that is not an integer in [0, 2**64 - 1], a device that is not available or a
    dtype that is not floating.
    """
    from sklearn.datasets import load_digits as _load

    frac = _checks.real_in(
        "test_fraction", test_fraction, 0.0, 1.0, low_open=True, high_open=True
    )
    dev = _available_device("device", device)
    dtype = _checks.dtype("dtype", dtype)
    seed = _seed("seed", seed)
    data = _load()
    X = torch.as_tensor(data.data, dtype=torch.float64)
    y = torch.as_tensor(data.target, dtype=torch.long)
    n_test = int(round(frac * len(y)))
    if not 1 <= n_test <= len(y) - 2:
        raise ValueError(
            "test_fraction must leave at least one test and two training examples "
            f"of {len(y)}, got {test_fraction!r}"
        )
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=g)
    test, tr = order[:n_test], order[n_test:]
    mean, sd = X[tr].mean(0), X[tr].std(0)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    X = (X - mean) / sd
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
    reproducible; drawn on the generator's device, then moved to ``device``). Raises
    ``ValueError`` for ``hidden`` outside [0, 10**5] (``MAX_HIDDEN``), ``TypeError`` for
    a generator that is not a ``torch.Generator`` or a dtype that is not floating, and
    ``ValueError`` for a device that is not available.
    """
    hidden = _checks.integer_at_least("hidden", hidden, 0, MAX_HIDDEN)
    if generator is not None:
        generator = _checks.generator("generator", generator)
    device = _available_device("device", device)
    dtype = _checks.dtype("dtype", dtype)
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
                draw = torch.empty(p.shape, dtype=p.dtype, device=generator.device)
                p.copy_(draw.uniform_(-bound, bound, generator=generator))
    return model.to(device=device, dtype=dtype)


@torch.no_grad()
def full_loss(
    model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on all of (X, y).

    ``X``: a finite floating tensor (n, features), ``y``: n integer labels in 0..9.
    Raises ``TypeError``/``ValueError`` naming the argument otherwise, or when the
    model does not take them, and ``Diverged`` (a ``ValueError`` and
    ``FloatingPointError``) when the loss is not finite.
    """
    model = _checks.instance("model", model, torch.nn.Module)
    _examples("X", X, "y", y)
    loss, accuracy = _loss_and_accuracy(model, X, y, "model, X, y")
    if not math.isfinite(loss):
        raise _checks.Diverged(f"model, X: the loss is not finite ({loss})")
    return loss, accuracy


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
    ``test_loss``, ``test_accuracy``. ``steps`` is at most 10**7 and steps × batch_size
    at most 10**9. Raises ``ValueError``/``TypeError`` naming a bad argument (counts
    < 1, a model that does not take ``data``, ...) and ``FloatingPointError`` if the
    loss becomes non-finite.
    """
    model = _checks.instance("model", model, torch.nn.Module)
    optimizer = _checks.instance("optimizer", optimizer, torch.optim.Optimizer)
    data = _checks.instance("data", data, Digits)
    T = _checks.steps("steps", steps)
    B = _checks.batch_size("batch_size", batch_size)
    _checks.work("steps × batch_size", T * B)
    generator = _checks.generator("generator", generator)
    every = _checks.integer_at_least("eval_every", eval_every, 1)
    if scheduler is not None:
        _checks.provides("scheduler", scheduler, ("step",), "a learning-rate scheduler")
    history = {"step": [], "train_loss": [], "test_loss": [], "test_accuracy": []}

    def record(t):
        train_loss, _ = _loss_and_accuracy(
            model, data.X_train, data.y_train, "model, data"
        )
        test_loss, test_acc = _loss_and_accuracy(
            model, data.X_test, data.y_test, "model, data"
        )
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
    diverged) with ``curve_steps``. Bounds: at most 10**4 configurations, ``hidden`` at
    most 10**5, steps × batch_size × configurations at most 10**9 and configurations ×
    (hidden + 10) × training examples at most 10**8 (the size of one evaluation);
    ``diverge_loss`` >= 5 (a fresh model's loss is about ln 10 ≈ 2.3). Raises
    ``ValueError``/``TypeError`` naming a bad argument (an unknown optimizer or a bad
    hyperparameter as ``configs[i]``).
    """
    T = _checks.steps("steps", steps)
    B = _checks.batch_size("batch_size", batch_size)
    hidden = _checks.integer_at_least("hidden", hidden, 0, MAX_HIDDEN)
    seed = _seed("seed", seed)
    last = _checks.integer_at_least("average_last", average_last, 1)
    diverge_loss = _checks.real_in("diverge_loss", diverge_loss, 5.0)
    dev = _available_device("device", device)
    data = _checks.instance("data", data, Digits)
    configs = _checked_configs(configs)
    C = len(configs)
    _checks.work("steps × batch_size × len(configs)", T * B * C)
    _checks.work(
        "len(configs) × (hidden + 10) × len(data.X_train)",
        C * (hidden + 10) * data.n_train,
        _checks.MAX_ELEMENTS,
    )
    if data.X_train.shape[1] != 64:
        raise ValueError(
            f"data must have 64 features (the digits), got {data.X_train.shape[1]}"
        )
    base = make_model(
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


def _checked_configs(configs) -> list[dict]:
    """``configs`` as a list of dicts, each naming a known optimizer with
    hyperparameters that optimizer accepts (tried on a dummy parameter)."""
    if not isinstance(configs, Sequence) or isinstance(configs, str | bytes):
        raise TypeError(
            f"configs must be a list of dicts {{'optimizer': name, ...}}, got "
            f"{configs!r:.80}"
        )
    if not 1 <= len(configs) <= MAX_CONFIGS:
        raise ValueError(
            f"configs must hold 1 to {MAX_CONFIGS} configurations, got {len(configs)}"
        )
    out = []
    for i, c in enumerate(configs):
        if not isinstance(c, Mapping):
            raise TypeError(f"configs[{i}] must be a dict, got {c!r:.80}")
        c = dict(c)
        name = c.get("optimizer")
        if not isinstance(name, str) or name not in _OPTIMIZERS:
            raise ValueError(
                f"configs[{i}]['optimizer'] must be one of {tuple(_OPTIMIZERS)}, "
                f"got {name!r}"
            )
        hyper = {k: v for k, v in c.items() if k != "optimizer"}
        if "params" in hyper:
            raise ValueError(f"configs[{i}] must not set params")
        try:
            _OPTIMIZERS[name]([torch.zeros(1, requires_grad=True)], **hyper)
        except (TypeError, ValueError) as err:
            raise type(err)(f"configs[{i}] ({name}): {err}") from None
        out.append(c)
    return out


def _table(name: str, value) -> np.ndarray:
    """``value`` as a float64 array: numbers only (NaN and ±inf allowed)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if value is None or isinstance(value, bool | str | bytes):
        raise TypeError(f"{name} must be an array of numbers, got {value!r:.80}")
    try:
        raw = np.asarray(value)
        if raw.dtype == bool or raw.dtype.kind in "OUSV":
            raise TypeError
        return raw.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be an array of numbers, got {value!r:.80}"
        ) from None


def best_per_row(values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a table ``values[i, j]`` (row i, grid value ``grid[j]``): the argmin grid
    value and min per row.

    ``grid``: finite, of shape ``(len(values[0]),)`` or that of ``values`` (a grid per
    row). Non-finite entries of ``values`` (diverged runs) never win. Raises
    ``ValueError`` if a row has no finite entry or the shapes disagree.
    """
    values = _table("values", values)
    grid = _checks.array("grid", grid, ndim=(1, 2))
    if values.ndim != 2 or values.shape[1] < 1:
        raise ValueError(
            f"values must have shape (rows, len(grid)), got {values.shape}"
        )
    if grid.shape not in (values.shape[1:], values.shape):
        raise ValueError(
            f"grid must have shape {values.shape[1:]} or {values.shape} (that of "
            f"values), got {grid.shape}"
        )
    finite = np.isfinite(values)
    if not finite.any(1).all():
        raise ValueError("values: a row has no finite entry (every run diverged)")
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
