"""Vectorised SGD runs: many chains at once, on any device.

Each function takes its randomness as an explicit ``torch.Generator`` (see
:func:`lab.generator`) and computes on that generator's device, so a run is
reproducible from its seed and moves to CUDA by changing one argument.
"""

from __future__ import annotations

import torch

from . import _checks
from .problems import Quadratic1D

__all__ = ["gradient_estimates", "sgd_quadratic_1d", "variance_tolerance"]


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
                     generator: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    """Constant-step SGD, β ← β − η ĝ, on the 1-D quadratic for ``chains`` independent chains.

    ``beta0`` and ``lr`` are floats or tensors broadcastable to (chains,), so one call
    runs several configurations side by side. Returns β_t for t = 0..steps, shape
    (steps + 1, chains). Raises ``ValueError`` for a batch size, step or chain count < 1
    or a negative or non-finite learning rate.
    """
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    T = _checks.integer_at_least("steps", steps, 1)
    C = _checks.integer_at_least("chains", chains, 1)
    dev = generator.device
    lr_t = torch.as_tensor(lr, dtype=dtype, device=dev)
    if not torch.isfinite(lr_t).all() or (lr_t < 0).any():
        raise ValueError(f"lr must be finite and >= 0, got {lr!r}")
    beta = torch.as_tensor(beta0, dtype=dtype, device=dev).expand(C).clone()
    if not torch.isfinite(beta).all():
        raise ValueError(f"beta0 must be finite, got {beta0!r}")
    path = torch.empty((T + 1, C), dtype=dtype, device=dev)
    path[0] = beta
    # Draw all batches at once: T·C·B numbers, then one cheap loop over steps.
    y = problem.sample((T, C, B), generator, dtype=dtype)
    for t in range(T):
        beta = beta - lr_t * problem.batch_gradient(beta, y[t])
        path[t + 1] = beta
    return path


def variance_tolerance(variance: float, samples: int, z: float = 5.0) -> float:
    """How far a sample variance of ``samples`` Gaussian draws may stray from ``variance``.

    The sample variance of n independent N(m, v) draws has standard error
    v·√(2/(n − 1)); ``z`` standard errors (default 5) are exceeded with probability
    below 10⁻⁶. Used by the book's experiments and by the tests that repeat them.
    """
    v = _checks.nonnegative("variance", variance)
    n = _checks.integer_at_least("samples", samples, 2)
    return _checks.positive("z", z) * v * (2.0 / (n - 1)) ** 0.5
