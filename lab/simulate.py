"""Vectorised runs: many chains at once, on any device.

- :func:`run_nqm`: the one runner of an optimizer on the noisy quadratic model
  (:class:`lab.problems.NoisyQuadratic`), used by every chapter from 5 on; an ``observe``
  hook records what a chapter plots (:func:`record_loss`, :func:`at_steps`);
- :func:`sgd_quadratic_1d`, :func:`sgd_1d`: SGD on the 1-D problems of Chapters 1–3
  and 9, vectorised over chains and learning rates;
- :func:`mean_and_se`, :func:`variance_tolerance`: the statistics every experiment
  states its tolerance with.

Each function takes its randomness as an explicit ``torch.Generator`` (see
:func:`lab.generator`) and computes on that generator's device, so a run is
reproducible from its seed and moves to CUDA by changing one argument.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from .problems import NoisyQuadratic, Quadratic1D

__all__ = [
    "run_nqm",
    "record_loss",
    "at_steps",
    "mean_and_se",
    "sgd_quadratic_1d",
    "sgd_1d",
    "variance_tolerance",
]


def sgd_quadratic_1d(
    problem: Quadratic1D,
    beta0,
    lr,
    batch_size: int,
    steps: int,
    chains: int,
    generator: torch.Generator,
    dtype=torch.float64,
    *,
    sample_batches: bool = True,
) -> torch.Tensor:
    """SGD, β_{t+1} = β_t − η_t ĝ_t, on the 1-D quadratic for ``chains`` independent chains.

    ``lr`` is η: a float; a tensor of shape (chains,) (one constant rate per chain, so one
    call runs several configurations side by side); or a 2-D tensor of shape
    (steps, 1) or (steps, chains) giving η_t for t = 0..steps−1 (a schedule).
    ``beta0`` is a float or a (chains,) tensor. With ``sample_batches`` (the default)
    every step really draws B examples; with ``sample_batches=False`` it draws the batch
    mean ȳ ~ N(μ, σ²/B) directly, which has exactly the same distribution for this
    Gaussian population and costs B times less.

    Returns β_t for t = 0..steps, shape (steps + 1, chains), on the generator's device.
    Raises ``ValueError`` for a batch size, step or chain count < 1, steps > 10⁷,
    chains > 10⁶, steps × chains × B (with ``sample_batches``) over 10⁹, a negative or
    non-finite learning rate, a schedule of the wrong length, or a run that overflows.
    """
    problem = _checks.instance("problem", problem, Quadratic1D)
    B = _checks.batch_size("batch_size", batch_size)
    T = _checks.steps("steps", steps)
    C = _checks.chains("chains", chains)
    generator = _checks.generator("generator", generator)
    dtype = _checks.dtype("dtype", dtype)
    sample_batches = _checks.flag("sample_batches", sample_batches)
    _checks.work("steps × chains × batch_size", T * C * (B if sample_batches else 1))
    dev = generator.device
    lr_t = torch.as_tensor(_checks.array("lr", lr, 0.0, ndim=(0, 1, 2)), dtype=dtype)
    lr_t = lr_t.to(dev)
    if lr_t.dim() == 1 and lr_t.shape[0] != C:
        raise ValueError(
            f"lr as a tensor must have shape ({C},), got {tuple(lr_t.shape)}"
        )
    if lr_t.dim() == 2:
        if lr_t.shape[0] != T or lr_t.shape[1] not in (1, C):
            raise ValueError(
                f"lr as a schedule must have shape ({T}, 1) or ({T}, {C}), "
                f"got {tuple(lr_t.shape)}"
            )
        schedule = lr_t
    else:
        schedule = (
            lr_t.reshape(1, -1).expand(T, -1) if lr_t.dim() else lr_t.expand(T, 1)
        )
    beta0 = _checks.array("beta0", beta0, ndim=(0, 1))
    if beta0.ndim == 1 and beta0.shape[0] != C:
        raise ValueError(
            f"beta0 must be a number or hold {C} numbers, got {beta0.shape}"
        )
    beta = torch.as_tensor(beta0, dtype=dtype, device=dev).expand(C).clone()
    path = torch.empty((T + 1, C), dtype=dtype, device=dev)
    path[0] = beta
    rows = path.unbind(0)
    per_step = C * (B if sample_batches else 1)
    chunk = max(1, 2**22 // per_step)  # draw the noise a few million numbers at a time
    for start in range(0, T, chunk):
        n = min(chunk, T - start)
        if sample_batches:
            ybar = problem.sample((n, C, B), generator, dtype=dtype).mean(-1)
        else:
            noise = torch.randn((n, C), generator=generator, device=dev, dtype=dtype)
            ybar = problem.mean + problem.sigma / B**0.5 * noise
        # β − η(β − ȳ) = (1 − η)β + ηȳ: one fused op per step, written straight into path.
        eta = schedule[start : start + n].expand(n, C)
        drive = (eta * ybar).unbind(0)
        keep = (1.0 - eta).unbind(
            0
        )  # unbind once: per-step indexing costs more than the math
        for k in range(n):
            torch.addcmul(drive[k], keep[k], rows[start + k], out=rows[start + k + 1])
    return _checks.finite_result(path, "lr, beta0", "SGD diverged: lower lr")


def sgd_1d(
    problem,
    beta0,
    lr: float,
    batch_size: int,
    steps: int,
    chains: int,
    generator: torch.Generator,
    *,
    record_every: int = 1,
    dtype=torch.float64,
) -> torch.Tensor:
    """Constant-step SGD, β ← β − η(g(β) + ξ), on any 1-D problem with additive noise.

    ``problem`` supplies ``gradient(beta)`` (g) and ``gradient_variance(B)`` (σ²/B); the
    noise ξ = −(ȳ − E y) is drawn directly as N(0, σ²/B), which is exact for Gaussian
    populations such as :class:`~lab.problems.Quadratic1D` and
    :class:`~lab.problems.DoubleWell1D`. Returns β at t = 0, k, 2k, … (k =
    ``record_every``), shape (steps // k + 1, chains). Raises ``ValueError`` for counts
    < 1, steps > 10⁷, chains > 10⁶, steps × chains > 10⁹ or a learning rate that is not
    > 0, and ``ValueError`` (also a ``FloatingPointError``) if a run diverges.
    """
    problem = _checks.provides(
        "problem", problem, ("gradient", "gradient_variance"), "a 1-D problem"
    )
    lr = _checks.positive("lr", lr)
    B = _checks.batch_size("batch_size", batch_size)
    T = _checks.steps("steps", steps)
    C = _checks.chains("chains", chains)
    generator = _checks.generator("generator", generator)
    k = _checks.integer_at_least("record_every", record_every, 1, _checks.MAX_STEPS)
    dtype = _checks.dtype("dtype", dtype)
    _checks.work("steps × chains", T * C)
    dev = generator.device
    beta0 = _checks.array("beta0", beta0, ndim=(0, 1))
    if beta0.ndim == 1 and beta0.shape[0] != C:
        raise ValueError(
            f"beta0 must be a number or hold {C} numbers, got {beta0.shape}"
        )
    beta = torch.as_tensor(beta0, dtype=dtype, device=dev).expand(C).clone()
    noise_sd = problem.gradient_variance(B) ** 0.5
    out = torch.empty((T // k + 1, C), dtype=dtype, device=dev)
    out[0] = beta
    chunk = max(k, (2**22 // C) // k * k)
    for start in range(0, T, chunk):
        n = min(chunk, T - start)
        kicks = (-lr * noise_sd) * torch.randn(
            (n, C), generator=generator, device=dev, dtype=dtype
        )
        for i, kick in enumerate(kicks.unbind(0)):
            beta = beta - lr * problem.gradient(beta) - kick  # ĝ = g(β) + ξ
            t = start + i + 1
            if t % k == 0:
                out[t // k] = beta
    if not torch.isfinite(out).all():
        raise _checks.Diverged("lr, beta0: SGD diverged (non-finite β): lower lr")
    return out


def variance_tolerance(variance: float, samples: int, z: float = 5.0) -> float:
    """How far a sample variance of ``samples`` Gaussian draws may stray from ``variance``.

    The sample variance of n independent N(m, v) draws has standard error
    v·√(2/(n − 1)); ``z`` standard errors (default 5) are exceeded with probability
    below 10⁻⁶. Used by the book's experiments and by the tests that repeat them.
    """
    v = _checks.nonnegative("variance", variance)
    n = _checks.integer_at_least("samples", samples, 2)
    tol = _checks.positive("z", z) * v * (2.0 / (n - 1)) ** 0.5
    return _checks.finite_result(tol, "variance, z")


def record_loss(problem: NoisyQuadratic):
    """An ``observe`` hook for :func:`run_nqm`: the population loss :math:`f(\\Phi_t)` of
    every chain, at every step (``{"loss": (chains,)}``)."""
    problem = _checks.instance("problem", problem, NoisyQuadratic)

    def observe(t, p, optimizer):
        return {"loss": problem.population_loss(p.detach())}

    return observe


def at_steps(steps, observe):
    """``observe`` called only at the steps in ``steps`` (other steps record nothing)."""
    observe = _checks.function("observe", observe)
    wanted = {int(t) for t in _checks.array("steps", steps, 0, ndim=(0, 1)).reshape(-1)}

    def sparse(t, p, optimizer):
        return observe(t, p, optimizer) if t in wanted else None

    return sparse


def run_nqm(
    problem: NoisyQuadratic,
    make_optimizer,
    steps: int,
    chains: int,
    generator: torch.Generator,
    *,
    batch_size: int = 1,
    phi0=0.0,
    observe=None,
    examples: bool = False,
) -> dict:
    """Run an optimizer on ``chains`` independent copies of the noisy quadratic model.

    All chains live in one parameter ``p`` of shape (chains, d), built by
    ``make_optimizer([p])`` (every optimizer of :mod:`lab.optim` acts coordinate-wise,
    so the rows are independent runs), started at ``phi0`` (a number or a length-d
    array). Each step sets ``p.grad`` to :math:`\\hat g` for a fresh batch of
    ``batch_size`` examples (:meth:`lab.problems.NoisyQuadratic.stochastic_gradient`) or,
    with ``examples=True``, draws the B examples and also sets ``p.grad_sq`` (the batch
    mean of squared per-example gradients, for ``SNR(second_moment="examples")``), then
    calls ``optimizer.step()``, as a training loop does.

    ``observe(t, p, optimizer)`` is called at ``t = 0`` and after every step; each dict
    of tensors (or arrays) it returns is recorded, and ``None`` records nothing. The
    default, :func:`record_loss`, records every chain's loss at every step. Returns numpy
    arrays, each with a leading axis over the recorded steps, and ``t``, those steps.
    Runs on ``generator``'s device. Raises ``ValueError`` for counts < 1, steps > 10⁷,
    chains > 10⁶ or steps × chains × d over 10⁹ (× B with ``examples``).
    """
    problem = _checks.instance("problem", problem, NoisyQuadratic)
    make_optimizer = _checks.function("make_optimizer", make_optimizer)
    T = _checks.steps("steps", steps)
    C = _checks.chains("chains", chains)
    B = _checks.batch_size("batch_size", batch_size)
    generator = _checks.generator("generator", generator)
    examples = _checks.flag("examples", examples)
    if observe is not None:
        observe = _checks.function("observe", observe)
    phi0 = _checks.array("phi0", phi0, ndim=(0, 1, 2))
    try:
        np.broadcast_to(phi0, (C, problem.dim))
    except ValueError:
        raise ValueError(
            f"phi0 must be a number, hold d = {problem.dim} numbers or have shape "
            f"(chains, d) = ({C}, {problem.dim}), got {phi0.shape}"
        ) from None
    _checks.work("steps × chains × d", T * C * problem.dim * (B if examples else 1))
    dev, dtype = generator.device, problem.h.dtype
    if problem.h.device != dev:
        problem = NoisyQuadratic(
            problem.h.to(dev), problem.sigma.to(dev), dtype=dtype, device=dev
        )
    observe = record_loss(problem) if observe is None else observe
    start = (
        torch.as_tensor(phi0, dtype=dtype, device=dev).expand(C, problem.dim).clone()
    )
    p = torch.nn.Parameter(start)
    optimizer = make_optimizer([p])
    records: dict = {"t": []}

    def record(t):
        out = observe(t, p, optimizer)
        if out is None:
            return
        records["t"].append(t)
        for key, value in out.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy().copy()
            records.setdefault(key, []).append(value)

    record(0)
    _checks.finite_result(
        problem.population_loss(p.detach()), "phi0", "f(phi0) overflows: lower |phi0|"
    )
    for t in range(1, T + 1):
        if examples:
            y = problem.sample((C, B), generator)
            per_example = problem.gradient(p.detach()).unsqueeze(1) - y
            p.grad = per_example.mean(1)
            p.grad_sq = (per_example * per_example).mean(1)
        else:
            p.grad = problem.stochastic_gradient(p.detach(), B, generator)
        optimizer.step()
        record(t)
    return {key: np.asarray(value) for key, value in records.items()}


def mean_and_se(x, axis: int = 1):
    """The mean over chains (``axis``) and its standard error, :math:`s/\\sqrt n` (0 for
    one chain): the tolerance every Monte Carlo curve of the book is drawn with."""
    x = _checks.array("x", x)
    if x.ndim == 0:
        raise ValueError("x must have at least one dimension (the chains)")
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(
            f"axis must be in [{-x.ndim}, {x.ndim - 1}] for x of shape {x.shape}, "
            f"got {axis!r}"
        )
    n = x.shape[axis]
    se = x.std(axis, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(x.mean(axis))
    return x.mean(axis), se
