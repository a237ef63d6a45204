"""Chapter 2, the classical convergence theorem: learning-rate schedules and the exact
moments of SGD under them.

- :func:`power_schedule`: :math:`\\eta_t = c/t^p`;
- :func:`quadratic_moments`: the exact mean and variance of the error of SGD on a 1-D
  quadratic under any schedule (the recursions the chapter derives);
- the lecture's "rigor police": :func:`saddle_gradient` (a saddle that gradient descent
  converges to), :func:`ring_gradient` (a ring of minima along which SGD under
  η_t = c/√t never settles), :func:`noisy_descent_2d` to run both, and
  :func:`ring_angle_variance` (the predicted spread of the angle).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lab import _checks

__all__ = [
    "power_schedule",
    "quadratic_moments",
    "saddle_loss",
    "saddle_gradient",
    "ring_loss",
    "ring_gradient",
    "noisy_descent_2d",
    "ring_angle_variance",
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


def saddle_loss(phi: torch.Tensor) -> torch.Tensor:
    """f(x, y) = x²/2 + y⁴/4 − y²/2 over the last axis of ``phi``: a saddle at the
    origin (f = 0, curvatures +1 and −1) between two minima at (0, ±1) (f = −1/4)."""
    x, y = phi[..., 0], phi[..., 1]
    return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2


def saddle_gradient(phi: torch.Tensor) -> torch.Tensor:
    """∇f of :func:`saddle_loss`: (x, y³ − y). The x axis (y = 0) is the saddle's
    stable manifold: gradient descent started on it stays on it."""
    x, y = phi[..., 0], phi[..., 1]
    return torch.stack([x, y**3 - y], dim=-1)


def ring_loss(phi: torch.Tensor) -> torch.Tensor:
    """f(Φ) = (‖Φ‖ − 1)²/2 over the last axis of ``phi``: zero on the unit circle, a
    ring of minima."""
    return 0.5 * (phi.norm(dim=-1) - 1.0) ** 2


def ring_gradient(phi: torch.Tensor) -> torch.Tensor:
    """∇f of :func:`ring_loss`: (1 − 1/‖Φ‖)Φ, radial, with curvature 1 across the ring
    (so SGD with η < 2 cannot diverge; the origin, where f has a kink, is taken as
    ‖Φ‖ = 1e-300)."""
    r = phi.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return (1.0 - 1.0 / r) * phi


def noisy_descent_2d(gradient, start, lr, noise: float, chains: int, at, generator):
    """SGD in the plane: Φ_{t+1} = Φ_t − η_t (∇f(Φ_t) + σ ξ_t), ξ_t ~ N(0, I₂).

    ``gradient`` maps (chains, 2) to (chains, 2); ``start`` is Φ₀ (two numbers, shared
    by all chains); ``lr`` the schedule η_1..η_T (a 1-D sequence or a (T, 1) tensor, as
    :func:`power_schedule` returns); ``noise`` σ (0 gives gradient descent); ``at`` the
    steps t (0..T) to record. Returns ``(phi, angle)``: Φ_t at those steps, shape
    (len(at), chains, 2), and the angle of Φ_t about the origin, unwrapped (it counts
    whole turns), shape (len(at), chains). float64, on ``generator``'s device. Raises
    ``ValueError`` for a negative σ, chains < 1, a step outside 0..T or non-finite
    rates, and ``FloatingPointError`` if a run leaves the finite numbers.
    """
    noise = _checks.nonnegative("noise", noise)
    chains = _checks.integer_at_least("chains", chains, 1)
    device = generator.device
    eta = torch.as_tensor(lr, dtype=torch.float64).reshape(-1).tolist()
    if not all(math.isfinite(e) for e in eta):
        raise ValueError("lr must be finite")
    T = len(eta)
    at = [_checks.integer_at_least("at", t, 0, T) for t in at]
    start = _checks.real_array("start", start)
    if start.shape != (2,):
        raise ValueError(f"start must hold two numbers, got shape {start.shape}")
    phi = torch.tensor(start, dtype=torch.float64, device=device).repeat(chains, 1)
    angle = torch.atan2(phi[:, 1], phi[:, 0])
    wanted = {t: i for i, t in enumerate(at)}
    out_phi = torch.empty(len(at), chains, 2, dtype=torch.float64, device=device)
    out_angle = torch.empty(len(at), chains, dtype=torch.float64, device=device)
    for t in range(T + 1):
        if t in wanted:
            out_phi[wanted[t]], out_angle[wanted[t]] = phi, angle
        if t == T:
            break
        g = gradient(phi)
        if noise > 0:
            g = g + noise * torch.randn(
                phi.shape, dtype=torch.float64, device=device, generator=generator
            )
        new = phi - eta[t] * g
        # the turn from Φ_t to Φ_{t+1}, in (−π, π]: summed, it unwraps the angle
        cross = phi[:, 0] * new[:, 1] - phi[:, 1] * new[:, 0]
        angle = angle + torch.atan2(cross, (phi * new).sum(-1))
        phi = new
    if not torch.isfinite(out_phi).all():
        raise FloatingPointError("a run diverged: lower the learning rate")
    return out_phi, out_angle


def ring_angle_variance(lr, noise: float) -> np.ndarray:
    """Predicted Var θ_t of SGD's angle along the ring of :func:`ring_loss`: σ² Σ_{k≤t} η_k².

    On the ring the gradient is radial, so the angle moves only by the noise's
    tangential part, η_k σ ξ_k per step (to first order in η, with ‖Φ‖ ≈ 1): a random
    walk whose variance is the running sum of η_k² σ². It stays bounded when
    Σ η_t² < ∞ (the angle converges) and grows without bound otherwise (the run
    circles the ring forever, while the loss tends to 0). Returns the values for
    t = 0..T (length T + 1).
    """
    noise = _checks.nonnegative("noise", noise)
    eta = np.asarray(lr, dtype=np.float64).reshape(-1)
    return noise**2 * np.concatenate([[0.0], np.cumsum(eta**2)])
