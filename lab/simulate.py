"""Vectorised SGD runs: many chains at once, on any device.

Each function takes its randomness as an explicit ``torch.Generator`` (see
:func:`lab.generator`) and computes on that generator's device, so a run is
reproducible from its seed and moves to CUDA by changing one argument.
"""

from __future__ import annotations

import torch

from . import _checks
from .problems import Quadratic1D

__all__ = ["gradient_estimates", "sgd_quadratic_1d", "power_schedule", "quadratic_moments",
           "sgd_1d", "temperature", "sgd_stationary_density", "variance_tolerance"]


def gradient_estimates(problem: Quadratic1D, beta: float, batch_size: int, samples: int,
                       generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """``samples`` independent batch gradients ĝ = β − ȳ, each from a fresh batch of B draws.

    Returns a tensor of shape (samples,) on the generator's device. Every batch is
    really drawn (B examples each), so the spread of the result is an experiment, not
    the formula σ²/B. Raises ``ValueError`` for ``batch_size`` or ``samples`` < 1.
    """
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    n = _checks.integer_at_least("samples", samples, 1)
    beta = _checks.real_in("beta", beta)
    y = problem.sample((n, B), generator, dtype=dtype)
    return problem.batch_gradient(torch.as_tensor(beta, dtype=dtype, device=y.device), y)


def sgd_quadratic_1d(problem: Quadratic1D, beta0, lr, batch_size: int, steps: int, chains: int,
                     generator: torch.Generator, dtype=torch.float64, *,
                     sample_batches: bool = True) -> torch.Tensor:
    """SGD, β_{t+1} = β_t − η_t ĝ_t, on the 1-D quadratic for ``chains`` independent chains.

    ``lr`` is η: a float; a tensor of shape (chains,) (one constant rate per chain, so one
    call runs several configurations side by side); or a 2-D tensor of shape
    (steps, 1) or (steps, chains) giving η_t for t = 0..steps−1 (a schedule).
    ``beta0`` is a float or a (chains,) tensor. With ``sample_batches`` (the default)
    every step really draws B examples; with ``sample_batches=False`` it draws the batch
    mean ȳ ~ N(μ, σ²/B) directly, which has exactly the same distribution for this
    Gaussian population and costs B times less.

    Returns β_t for t = 0..steps, shape (steps + 1, chains), on the generator's device.
    Raises ``ValueError`` for a batch size, step or chain count < 1, a negative or
    non-finite learning rate, or a schedule of the wrong length.
    """
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    T = _checks.integer_at_least("steps", steps, 1)
    C = _checks.integer_at_least("chains", chains, 1)
    dev = generator.device
    lr_t = torch.as_tensor(lr, dtype=dtype, device=dev)
    if not torch.isfinite(lr_t).all() or (lr_t < 0).any():
        raise ValueError(f"lr must be finite and >= 0, got {lr!r}")
    if lr_t.dim() == 2:
        if lr_t.shape[0] != T or lr_t.shape[1] not in (1, C):
            raise ValueError(f"lr as a schedule must have shape ({T}, 1) or ({T}, {C}), "
                             f"got {tuple(lr_t.shape)}")
        schedule = lr_t
    else:
        schedule = lr_t.reshape(1, -1).expand(T, -1) if lr_t.dim() else lr_t.expand(T, 1)
    beta = torch.as_tensor(beta0, dtype=dtype, device=dev).expand(C).clone()
    if not torch.isfinite(beta).all():
        raise ValueError(f"beta0 must be finite, got {beta0!r}")
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
        eta = schedule[start:start + n].expand(n, C)
        drive = (eta * ybar).unbind(0)
        keep = (1.0 - eta).unbind(0)  # unbind once: per-step indexing costs more than the math
        for k in range(n):
            torch.addcmul(drive[k], keep[k], rows[start + k], out=rows[start + k + 1])
    return path


def power_schedule(c: float, p: float, steps: int) -> torch.Tensor:
    """η_t = c / t^p for t = 1..steps, shape (steps, 1), float64 (a schedule for SGD).

    p = 0 is a constant rate; p = 1 the classical c/t. Raises ``ValueError`` for c <= 0,
    p < 0 or steps < 1.
    """
    c = _checks.positive("c", c)
    p = _checks.nonnegative("p", p)
    T = _checks.integer_at_least("steps", steps, 1)
    t = torch.arange(1, T + 1, dtype=torch.float64)
    return (c / t**p).reshape(T, 1)


def quadratic_moments(lr, noise_variance: float, e0: float, curvature: float = 1.0):
    """Exact mean and variance of the error e_t = β_t − β* of SGD on a 1-D quadratic.

    With curvature h and gradient noise of variance V = σ²/B per step,
    e_{t+1} = (1 − h η_t) e_t + η_t ξ_t gives the recursions
    m_{t+1} = (1 − h η_t) m_t and v_{t+1} = (1 − h η_t)² v_t + η_t² V, from m_0 = e_0,
    v_0 = 0. ``lr`` is a 1-D sequence of η_t (or a (steps, 1) schedule). Returns two
    float64 numpy arrays of length steps + 1; E e_t² = m_t² + v_t. Raises ``ValueError``
    for a negative noise variance or non-finite rates.
    """
    import numpy as np

    V = _checks.nonnegative("noise_variance", noise_variance)
    e0 = _checks.real_in("e0", e0)
    h = _checks.positive("curvature", curvature)
    eta = np.asarray(lr, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(eta)):
        raise ValueError("lr must be finite")
    m = np.empty(eta.size + 1)
    v = np.empty(eta.size + 1)
    m[0], v[0] = e0, 0.0
    mt, vt = e0, 0.0
    # A plain loop over Python floats: exact recursion, ~0.3 µs a step.
    for t, et in enumerate(eta.tolist()):
        a = 1.0 - h * et
        mt, vt = a * mt, a * a * vt + et * et * V
        m[t + 1], v[t + 1] = mt, vt
    return m, v


def sgd_1d(problem, beta0, lr: float, batch_size: int, steps: int, chains: int,
           generator: torch.Generator, *, record_every: int = 1,
           dtype=torch.float64) -> torch.Tensor:
    """Constant-step SGD, β ← β − η(g(β) + ξ), on any 1-D problem with additive noise.

    ``problem`` supplies ``gradient(beta)`` (g) and ``gradient_variance(B)`` (σ²/B); the
    noise ξ = −(ȳ − E y) is drawn directly as N(0, σ²/B), which is exact for Gaussian
    populations such as :class:`~lab.problems.Quadratic1D` and
    :class:`~lab.problems.DoubleWell1D`. Returns β at t = 0, k, 2k, … (k =
    ``record_every``), shape (steps // k + 1, chains). Raises ``ValueError`` for counts
    < 1 or a learning rate that is not > 0.
    """
    lr = _checks.positive("lr", lr)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    T = _checks.integer_at_least("steps", steps, 1)
    C = _checks.integer_at_least("chains", chains, 1)
    k = _checks.integer_at_least("record_every", record_every, 1)
    dev = generator.device
    beta = torch.as_tensor(beta0, dtype=dtype, device=dev).expand(C).clone()
    if not torch.isfinite(beta).all():
        raise ValueError(f"beta0 must be finite, got {beta0!r}")
    noise_sd = problem.gradient_variance(B) ** 0.5
    out = torch.empty((T // k + 1, C), dtype=dtype, device=dev)
    out[0] = beta
    chunk = max(k, (2**22 // C) // k * k)
    for start in range(0, T, chunk):
        n = min(chunk, T - start)
        kicks = (-lr * noise_sd) * torch.randn((n, C), generator=generator, device=dev,
                                               dtype=dtype)
        for i, kick in enumerate(kicks.unbind(0)):
            beta = beta - lr * problem.gradient(beta) - kick  # ĝ = g(β) + ξ
            t = start + i + 1
            if t % k == 0:
                out[t // k] = beta
    if not torch.isfinite(out).all():
        raise FloatingPointError("SGD diverged (non-finite β): lower lr")
    return out


def temperature(lr: float, sigma: float, batch_size: int) -> float:
    """T = η σ² / (2B): the temperature of SGD with additive gradient noise.

    Small-η SGD with noise variance σ²/B per step is a discretised Langevin diffusion
    dβ = −f′(β) dt + √(2T) dW with time step η, whose stationary density is
    ∝ exp(−f/T). Raises ``ValueError`` for non-positive arguments.
    """
    lr = _checks.positive("lr", lr)
    sigma = _checks.positive("sigma", sigma)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    return lr * sigma**2 / (2 * B)


def sgd_stationary_density(problem, lr: float, batch_size: int, grid):
    """The exact stationary density of the SGD Markov chain on a 1-D problem, on a grid.

    One SGD step maps β to N(β − η g(β), η²σ²/B). Discretising that transition kernel
    on the evenly spaced numpy ``grid`` gives a column-stochastic matrix K; the
    stationary density p solves K p = p with Σ p Δβ = 1. The grid must resolve the step
    noise (spacing below η σ/√B / 3) and contain the bulk of the mass. Returns a numpy
    array the shape of ``grid``. Raises ``ValueError`` for a grid too coarse for the noise.
    """
    import numpy as np

    lr = _checks.positive("lr", lr)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    x = np.asarray(grid, dtype=np.float64)
    dx = x[1] - x[0]
    s = lr * problem.gradient_variance(B) ** 0.5
    if dx > s / 3:
        raise ValueError(f"grid spacing {dx:.3g} must be below a third of the step noise "
                         f"η σ/√B = {s:.3g}: use a finer grid")
    drift = x - lr * problem.gradient(x)
    K = np.exp(-((x[:, None] - drift[None, :]) ** 2) / (2 * s * s))
    K /= K.sum(axis=0, keepdims=True)  # mass leaving the grid is returned to it
    n = x.size
    A = K - np.eye(n)
    A[-1, :] = dx  # replace one (redundant) balance equation by the normalisation
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    p = np.linalg.solve(A, rhs)
    return np.clip(p, 0.0, None)


def variance_tolerance(variance: float, samples: int, z: float = 5.0) -> float:
    """How far a sample variance of ``samples`` Gaussian draws may stray from ``variance``.

    The sample variance of n independent N(m, v) draws has standard error
    v·√(2/(n − 1)); ``z`` standard errors (default 5) are exceeded with probability
    below 10⁻⁶. Used by the book's experiments and by the tests that repeat them.
    """
    v = _checks.nonnegative("variance", variance)
    n = _checks.integer_at_least("samples", samples, 2)
    return _checks.positive("z", z) * v * (2.0 / (n - 1)) ** 0.5
