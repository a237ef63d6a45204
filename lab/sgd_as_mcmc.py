"""Chapter 3, SGD as MCMC: the learning rate as a temperature.

- :func:`temperature`: :math:`T = \\eta\\sigma^2/(2B)`;
- :func:`sgd_stationary_density`: the exact stationary density of the SGD Markov chain
  on a 1-D problem (to set beside the Gibbs density :math:`\\propto e^{-f/T}`).
"""

from __future__ import annotations

import numpy as np

from lab import _checks

__all__ = [
    "temperature",
    "sgd_stationary_density",
    "coordinate_temperatures",
]


def temperature(lr: float, sigma: float, batch_size: int) -> float:
    """T = η σ² / (2B): the temperature of SGD with additive gradient noise.

    Small-η SGD with noise variance σ²/B per step is a discretised Langevin diffusion
    dβ = −f′(β) dt + √(2T) dW with time step η, whose stationary density is
    ∝ exp(−f/T). Raises ``ValueError`` for non-positive arguments.
    """
    lr = _checks.positive("lr", lr)
    sigma = _checks.positive("sigma", sigma)
    B = _checks.batch_size("batch_size", batch_size)
    return _checks.finite_result(lr * sigma * sigma / (2 * B), "lr, sigma")


def sgd_stationary_density(problem, lr: float, batch_size: int, grid):
    """The exact stationary density of the SGD Markov chain on a 1-D problem, on a grid.

    One SGD step maps β to N(β − η g(β), η²σ²/B). Discretising that transition kernel
    on the evenly spaced numpy ``grid`` gives a column-stochastic matrix K; the
    stationary density p solves K p = p with Σ p Δβ = 1. The grid must resolve the step
    noise (spacing below η σ/√B / 3) and contain the bulk of the mass. Returns a numpy
    array the shape of ``grid``. Raises ``ValueError`` for a grid too coarse for the
    noise, one that is not evenly spaced or has more than 4001 points, or a density
    that is not finite.
    """

    problem = _checks.problem_1d("problem", problem)
    lr = _checks.positive("lr", lr)
    B = _checks.batch_size("batch_size", batch_size)
    x = _checks.grid("grid", grid)
    dx = x[1] - x[0]
    s = lr * problem.gradient_variance(B) ** 0.5
    if dx > s / 3:
        raise ValueError(
            f"grid spacing {dx:.3g} must be below a third of the step noise "
            f"η σ/√B = {s:.3g}: use a finer grid"
        )
    drift = x - lr * problem.gradient(x)
    K = np.exp(-((x[:, None] - drift[None, :]) ** 2) / (2 * s * s))
    K /= K.sum(axis=0, keepdims=True)  # mass leaving the grid is returned to it
    n = x.size
    A = K - np.eye(n)
    A[-1, :] = dx  # replace one (redundant) balance equation by the normalisation
    rhs = np.zeros(n)
    rhs[-1] = 1.0
    with np.errstate(all="ignore"):
        p = np.linalg.solve(A, rhs)
    return _checks.finite_result(np.clip(p, 0.0, None), "lr, grid")


def coordinate_temperatures(lr: float, h, sigma, batch_size: int) -> np.ndarray:
    """T_i = h_i Var_∞(Φ_i) = η σ_i² / (B (2 − η h_i)): SGD's temperature per coordinate.

    On the noisy quadratic (curvatures h_i, per-example noise σ_i, independent
    coordinates) constant-step SGD is stationary at Φ_i ~ N(0, η σ_i²/(B h_i (2 − η h_i))).
    The Gibbs law ∝ exp(−f/T) of f = ½ Σ h_i Φ_i² has Var Φ_i = T/h_i, so coordinate i
    looks Gibbs at T_i = h_i Var_∞(Φ_i) ≈ η σ_i²/(2B). All T_i agree only when σ_i² is the
    same in every direction: with anisotropic noise there is no single temperature
    (Mandt, Hoffman and Blei, 2017). Returns a numpy array. Raises ``ValueError`` for
    η ≤ 0, B < 1, non-positive h, negative σ, shapes that do not broadcast, or
    η h_i ≥ 2 (SGD diverges along that coordinate).
    """
    lr = _checks.positive("lr", lr)
    B = _checks.batch_size("batch_size", batch_size)
    h = _checks.real_array("h", h, 0.0, low_open=True)
    sigma = _checks.real_array("sigma", sigma, 0.0)
    try:
        h, sigma = np.broadcast_arrays(h, sigma)
    except ValueError:
        raise ValueError(
            f"h and sigma must have the same length, got {h.shape} and {sigma.shape}"
        ) from None
    if np.any(lr * h >= 2):
        raise ValueError(
            f"lr must be below 2/max(h) = {2 / h.max():.4g}: SGD diverges along the "
            "stiffest coordinate"
        )
    return _checks.finite_result(lr * sigma**2 / (B * (2 - lr * h)), "lr, sigma")
