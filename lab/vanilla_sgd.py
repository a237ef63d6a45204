"""Chapter 1, vanilla SGD: the batch gradient as an estimate of the true gradient.

- :func:`gradient_estimates`: many batch gradients :math:`\\hat g`, each from a batch
  really drawn, to compare their spread with :math:`\\sigma^2/B`.

SGD itself on the 1-D quadratic is :func:`lab.simulate.sgd_quadratic_1d`; the
derivation is :func:`lab.derivations.one_dim_example`.
"""

from __future__ import annotations

import torch

from lab import _checks
from lab.problems import Quadratic1D

__all__ = [
    "gradient_estimates",
]


def gradient_estimates(
    problem: Quadratic1D,
    phi: float,
    batch_size: int,
    samples: int,
    generator: torch.Generator,
    dtype=torch.float64,
) -> torch.Tensor:
    """``samples`` independent batch gradients ĝ = Φ − ȳ at Φ, each from a fresh batch of B draws.

    Returns a tensor of shape (samples,) on the generator's device. Every batch is
    really drawn (B examples each), so the spread of the result is an experiment, not
    the formula σ²/B. Raises ``ValueError`` for ``batch_size`` or ``samples`` < 1 or
    samples × batch_size over 10⁹.
    """
    problem = _checks.instance("problem", problem, Quadratic1D)
    B = _checks.batch_size("batch_size", batch_size)
    n = _checks.integer_at_least("samples", samples, 1)
    generator = _checks.generator("generator", generator)
    dtype = _checks.dtype("dtype", dtype)
    _checks.work("samples × batch_size", n * B)
    phi = _checks.real_in("phi", phi)
    y = problem.sample((n, B), generator, dtype=dtype)
    return problem.batch_gradient(torch.as_tensor(phi, dtype=dtype, device=y.device), y)
