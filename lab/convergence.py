"""Chapter 2, the classical convergence theorem: learning-rate schedules and the exact
moments of SGD under them.

- :func:`power_schedule`: :math:`\\eta_t = c/t^p`;
- :func:`quadratic_moments`: the exact mean and variance of the error of SGD on a 1-D
  quadratic under any schedule (the recursions the chapter derives).
"""

from __future__ import annotations

import numpy as np
import torch

from lab import _checks

__all__ = [
    "power_schedule",
    "quadratic_moments",
]


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
