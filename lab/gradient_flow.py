"""Chapter 9, gradient flow and Langevin dynamics: the two continuum limits of SGD.

Gradient flow is dΦ/dt = −η g(Φ). Taking N·t steps Φ ← Φ − (η/N) ĝ and letting N → ∞

* with the batch size B fixed, the noise averages out and the steps follow the flow
  (:func:`sgd_paths` with ``limit="flow"``; on the quadratic the deviation has the exact
  variance :func:`quadratic_deviation_variance` ≤ η² t σ²/(N B));
* with the noise variance scaled up by N (the same temperature T = (η/N)(Nσ²)/(2B) at
  every N), the steps follow the Langevin diffusion dΦ = −∇f dτ + √(2T) dW in the time
  τ = η t (``limit="langevin"``), whose density solves the Fokker–Planck equation
  (:func:`langevin_density`) and settles on exp(−f/T)/Z (:func:`lab.derivations.fokker_planck`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from . import _checks
from .simulate import sgd_1d

__all__ = [
    "LIMITS",
    "flow_path",
    "euler_path",
    "euler_error_quadratic",
    "sgd_paths",
    "quadratic_deviation_variance",
    "ou_variance",
    "langevin_generator",
    "langevin_density",
    "exp_loss_flow",
]

#: The two ways of letting the step size η/N go to zero.
LIMITS = ("flow", "langevin")


def flow_path(problem, Phi0: float, lr: float, times) -> np.ndarray:
    """The gradient flow dΦ/dt = −η g(Φ) of a 1-D ``problem`` at ``times`` (from t = 0).

    Solved by ``scipy.integrate.solve_ivp`` (DOP853, rtol 1e-11): the reference the
    discrete steps are compared with. Raises ``ValueError`` for η ≤ 0 or times < 0.
    """
    from scipy.integrate import solve_ivp

    lr = _checks.positive("lr", lr)
    Phi0 = _checks.real_in("Phi0", Phi0)
    t = np.asarray(times, dtype=np.float64)
    if np.any(t < 0) or not np.all(np.isfinite(t)):
        raise ValueError("times must be finite and >= 0")
    sol = solve_ivp(
        lambda _, b: -lr * problem.gradient(b),
        (0.0, float(t.max()) if t.size else 0.0),
        [Phi0],
        method="DOP853",
        t_eval=np.sort(np.unique(t)),
        rtol=1e-11,
        atol=1e-13,
    )
    return np.interp(t, sol.t, sol.y[0])


def euler_path(problem, Phi0, lr: float, N: int, t: float) -> np.ndarray:
    """N·t steps of total gradient descent Φ ← Φ − (η/N) g(Φ): Euler's method for the flow.

    ``Phi0`` may be an array (several starts). Returns an array of shape
    ``(N·t + 1, *Phi0.shape)``; row k is the value at time k/N. Raises ``ValueError`` for
    η ≤ 0, N < 1, or N·t not a whole number ≥ 1.
    """
    lr = _checks.positive("lr", lr)
    N = _checks.integer_at_least("N", N, 1)
    steps = _checks.integer_at_least("N*t", round(N * _checks.positive("t", t), 9), 1)
    Phi = np.array(Phi0, dtype=np.float64)
    out = np.empty((steps + 1, *Phi.shape))
    out[0] = Phi
    for k in range(steps):
        Phi = Phi - (lr / N) * problem.gradient(Phi)
        out[k + 1] = Phi
    return out


def euler_error_quadratic(Phi0: float, lr: float, h: float, N: int, t: float) -> dict:
    """The error of Euler's method on the quadratic flow dΦ/dt = −η h Φ, exactly.

    N·t steps give Φ₀ (1 − ηh/N)^{Nt}; the flow gives Φ₀ e^{−ηht}. Returns ``error``
    (steps minus flow) and ``leading`` = −Φ₀ e^{−ηht} (ηh)² t /(2N), the first term of
    its expansion in 1/N (from log(1 − x/N)^{Nt} = −xt − x²t/(2N) + O(N⁻²)).
    """
    lr, h = _checks.positive("lr", lr), _checks.positive("h", h)
    N = _checks.integer_at_least("N", N, 1)
    t = _checks.positive("t", t)
    x = lr * h
    flow = Phi0 * math.exp(-x * t)
    return {
        "error": Phi0 * (1 - x / N) ** round(N * t) - flow,
        "leading": -flow * x * x * t / (2 * N),
    }


def sgd_paths(
    problem,
    Phi0: float,
    lr: float,
    N: int,
    t: float,
    batch_size: int,
    chains: int,
    generator: torch.Generator,
    *,
    limit: str = "flow",
    record_every: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """N·t SGD steps Φ ← Φ − (η/N) ĝ on a 1-D ``problem`` with additive noise, many chains.

    ``limit="flow"``: ĝ has its usual variance σ²/B, and the paths converge to the
    gradient flow as N → ∞. ``limit="langevin"``: the noise variance is Nσ²/B (as if
    the batch shrank to B/N), which keeps T = (η/N)(Nσ²/B)/2 = ησ²/(2B) fixed, and the
    paths converge in distribution to the Langevin diffusion. Uses
    :func:`lab.simulate.sgd_1d`. Returns (times, paths) with paths of shape
    (len(times), chains), times in units of t (step k is time k/N).
    """
    if limit not in LIMITS:
        raise ValueError(f"limit must be one of {LIMITS}, got {limit!r}")
    N = _checks.integer_at_least("N", N, 1)
    steps = _checks.integer_at_least("N*t", round(N * _checks.positive("t", t), 9), 1)
    every = _checks.integer_at_least("record_every", record_every, 1)
    if limit == "langevin":
        problem = dataclasses.replace(problem, sigma=problem.sigma * math.sqrt(N))
    paths = (
        sgd_1d(
            problem,
            Phi0,
            lr / N,
            batch_size,
            steps,
            chains,
            generator,
            record_every=every,
        )
        .cpu()
        .numpy()
    )
    return np.arange(paths.shape[0]) * every / N, paths


def quadratic_deviation_variance(
    lr: float,
    h: float,
    sigma: float,
    batch_size: int,
    N: int,
    t: float,
    *,
    limit: str = "flow",
) -> dict:
    """Var(Φ_SGD(t) − Φ_flow(t)) for N·t steps of η/N on ½h(Φ − Φ*)², exactly.

    The deviation obeys D_{k+1} = a D_k + (η/N) ξ_k with a = 1 − ηh/N, plus Euler's
    deterministic error, so Var = (η/N)² s (1 − a^{2Nt})/(1 − a²) with s = σ²/B
    (``limit="flow"``) or Nσ²/B (``"langevin"``). Returns ``variance``, the bound
    ``bound`` = η² t s/N (a² ≤ 1: at most Nt terms of size (η/N)² s; equality when
    h → 0) and, for the Langevin scaling, ``ou`` = T/h (1 − e^{−2ηht}) with
    T = ησ²/(2B), the variance of the Ornstein–Uhlenbeck limit.
    """
    lr, h = _checks.positive("lr", lr), _checks.positive("h", h)
    sigma = _checks.positive("sigma", sigma)
    B = _checks.batch_size("batch_size", batch_size)
    N = _checks.integer_at_least("N", N, 1)
    t = _checks.positive("t", t)
    if limit not in LIMITS:
        raise ValueError(f"limit must be one of {LIMITS}, got {limit!r}")
    s = sigma**2 / B * (N if limit == "langevin" else 1)
    a2 = (1 - lr * h / N) ** 2
    n = round(N * t)
    var = (lr / N) ** 2 * s * (1 - a2**n) / (1 - a2)
    T = lr * sigma**2 / (2 * B)
    return {
        "variance": var,
        "bound": lr**2 * t * s / N,
        "ou": ou_variance(h, T, lr * t),
    }


def ou_variance(h: float, temperature: float, tau) -> np.ndarray:
    """Var Φ(τ) = (T/h)(1 − e^{−2hτ}) for dΦ = −hΦ dτ + √(2T) dW from a fixed Φ(0).

    The Langevin diffusion on the quadratic f = ½hΦ² (Ornstein–Uhlenbeck); its
    stationary variance T/h is that of exp(−f/T).
    """
    h, T = _checks.positive("h", h), _checks.positive("temperature", temperature)
    return T / h * (1 - np.exp(-2 * h * np.asarray(tau, dtype=np.float64)))


def langevin_generator(problem, temperature: float, grid) -> np.ndarray:
    """The generator Q of a jump process on ``grid`` that approximates the Langevin diffusion.

    Neighbouring cells exchange probability at rates (T/Δ²) exp(∓(f_{k+1} − f_k)/(2T)),
    so that drift −f′ and diffusion T are matched to O(Δ²) and exp(−f/T) satisfies
    detailed balance exactly: the Fokker–Planck equation ∂p/∂τ = ∂(f′p)/∂Φ + T ∂²p/∂Φ²
    becomes dp/dτ = Qᵀ p. Returns the (n, n) matrix Q (rows sum to zero).
    """
    T = _checks.positive("temperature", temperature)
    x = np.asarray(grid, dtype=np.float64)
    dx = x[1] - x[0]
    f = problem.population_loss(x)
    df = np.diff(f) / (2 * T)
    up, down = T / dx**2 * np.exp(-df), T / dx**2 * np.exp(df)
    Q = np.diag(up, 1) + np.diag(down, -1)
    Q -= np.diag(Q.sum(1))
    return Q


def langevin_density(problem, temperature: float, Phi0: float, tau, grid) -> np.ndarray:
    """The Langevin density p(Φ, τ) on ``grid``, started at a point mass at ``Phi0``.

    p(τ) = exp(τ Qᵀ) p(0) with Q from :func:`langevin_generator`, by
    ``scipy.linalg.expm`` (scaling and squaring: robust to the stiff rates of a cold,
    steep landscape). ``tau`` is a scalar or a 1-D array of diffusion times (τ = η t).
    Returns densities (Σ p Δ = 1) of shape (len(tau), len(grid)), or (len(grid),) for a
    scalar ``tau``. Raises ``ValueError`` for a negative τ.
    """
    from scipy.linalg import expm

    T = _checks.positive("temperature", temperature)
    x = np.asarray(grid, dtype=np.float64)
    dx = x[1] - x[0]
    Qt = langevin_generator(problem, T, x).T
    p0 = np.zeros(x.size)
    p0[int(np.argmin(np.abs(x - _checks.real_in("Phi0", Phi0))))] = 1.0
    taus = np.atleast_1d(np.asarray(tau, dtype=np.float64))
    if np.any(taus < 0) or not np.all(np.isfinite(taus)):
        raise ValueError("tau must be finite and >= 0")
    # Single-threaded BLAS: on small matrices threads only contend (10x slower here).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        out = np.array([expm(s * Qt) @ p0 for s in taus]) / dx
    out = np.clip(out, 0.0, None)
    return out[0] if np.ndim(tau) == 0 else out


def exp_loss_flow(Phi0: float, lr: float, t) -> dict:
    """Gradient flow on ℓ(Φ) = e^{−Φ}: Φ(t) = log(e^{Φ0} + η t), ℓ(Φ(t)) = 1/(e^{Φ0} + η t).

    The loss decreases to its infimum 0 while Φ grows without bound: a flow whose loss
    converges although Φ does not.
    """
    lr = _checks.positive("lr", lr)
    t = np.asarray(t, dtype=np.float64)
    s = math.exp(_checks.real_in("Phi0", Phi0)) + lr * t
    return {"Phi": np.log(s), "loss": 1.0 / s}
