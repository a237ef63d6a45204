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

#: N (the step is η/N) and, in the closed forms, the number of steps N·t: at most
#: 10¹⁵, counts that are still exact floats.
MAX_N = 10**15
#: At most this many gradient evaluations in one :func:`flow_path` (about a second).
MAX_FLOW_EVALUATIONS = 10**5
#: :func:`langevin_density`: at most this many times τ, and len(τ) × len(grid)³ (the
#: work of the matrix exponentials, dense n × n) at most :data:`MAX_EXPM_WORK`.
MAX_TAUS = 1000
MAX_EXPM_WORK = 10**11


def _problem(problem, methods: tuple):
    """``problem``, checked to have the methods a 1-D problem of this module needs."""
    return _checks.provides(
        "problem", problem, methods, "a 1-D problem such as lab.problems.DoubleWell1D"
    )


def _steps(N, t, high: int = MAX_N, *, whole: bool = True) -> tuple[int, float, int]:
    """(N, t, N·t): N·t checked to be at most ``high`` and, with ``whole``, a whole
    number ≥ 1 (else it is rounded, as the closed forms do)."""
    N = _checks.integer_at_least("N", N, 1, MAX_N)
    t = _checks.positive("t", t)
    if whole:
        return N, t, _checks.integer_at_least("N*t", round(N * t, 9), 1, high)
    if not N * t <= high:
        raise ValueError(
            f"N*t (the number of steps) must be <= {high:.0e}, got {N * t}"
        )
    return N, t, round(N * t)


class _TooLong(Exception):
    """Raised inside :func:`flow_path`'s right-hand side when the budget is spent."""


def flow_path(problem, Phi0: float, lr: float, times) -> np.ndarray:
    """The gradient flow dΦ/dt = −η g(Φ) of a 1-D ``problem`` at ``times`` (from t = 0).

    Solved by ``scipy.integrate.solve_ivp`` (DOP853, rtol 1e-11): the reference the
    discrete steps are compared with. ``problem`` needs only ``gradient``. Raises
    ``ValueError`` for η ≤ 0, times < 0 or more than 10⁶ of them, a flow that needs
    more than 10⁵ gradient evaluations (long or stiff: lower η·max(times)), or one that
    leaves the finite numbers.
    """
    from scipy.integrate import solve_ivp

    problem = _problem(problem, ("gradient",))
    lr = _checks.positive("lr", lr)
    Phi0 = _checks.real_in("Phi0", Phi0)
    t = _checks.array("times", times, 0.0, max_size=10**6)
    if t.size == 0 or t.max() == 0:
        return np.full(t.shape, Phi0)
    calls = [0]

    def rhs(_, b):
        calls[0] += 1
        if calls[0] > MAX_FLOW_EVALUATIONS:
            raise _TooLong
        return -lr * problem.gradient(b)

    try:
        with np.errstate(all="ignore"):
            sol = solve_ivp(
                rhs,
                (0.0, float(t.max())),
                [Phi0],
                method="DOP853",
                t_eval=np.sort(np.unique(t)),
                rtol=1e-11,
                atol=1e-13,
            )
    except _TooLong:
        raise ValueError(
            f"lr, times: the flow needs more than {MAX_FLOW_EVALUATIONS:.0e} gradient "
            "evaluations (long or stiff): lower lr * max(times)"
        ) from None
    if not sol.success:
        raise _checks.Diverged(
            f"Phi0, lr, times: the flow could not be solved ({sol.message})"
        )
    return _checks.finite_result(np.interp(t, sol.t, sol.y[0]), "Phi0, lr, times")


def euler_path(problem, Phi0, lr: float, N: int, t: float) -> np.ndarray:
    """N·t steps of total gradient descent Φ ← Φ − (η/N) g(Φ): Euler's method for the flow.

    ``Phi0`` may be an array (several starts). Returns an array of shape
    ``(N·t + 1, *Phi0.shape)``; row k is the value at time k/N. Raises ``ValueError`` for
    η ≤ 0, N < 1, N·t not a whole number in [1, 10⁷], (N·t + 1) × Phi0.size over 10⁸,
    or steps that leave the finite numbers (η/N too large).
    """
    problem = _problem(problem, ("gradient",))
    lr = _checks.positive("lr", lr)
    N, _, steps = _steps(N, t, _checks.MAX_STEPS)
    Phi = _checks.array("Phi0", Phi0)
    _checks.work("N*t × Phi0.size", (steps + 1) * Phi.size, _checks.MAX_ELEMENTS)
    out = np.empty((steps + 1, *Phi.shape))
    out[0] = Phi
    with np.errstate(all="ignore"):
        for k in range(steps):
            Phi = Phi - (lr / N) * problem.gradient(Phi)
            out[k + 1] = Phi
    if not np.all(np.isfinite(out)):
        raise _checks.Diverged(
            "lr, N, Phi0: Euler's steps diverged (non-finite Φ): lower lr or raise N"
        )
    return out


def euler_error_quadratic(Phi0: float, lr: float, h: float, N: int, t: float) -> dict:
    """The error of Euler's method on the quadratic flow dΦ/dt = −η h Φ, exactly.

    N·t steps give Φ₀ (1 − ηh/N)^{Nt}; the flow gives Φ₀ e^{−ηht}. Returns ``error``
    (steps minus flow) and ``leading`` = −Φ₀ e^{−ηht} (ηh)² t /(2N), the first term of
    its expansion in 1/N (from log(1 − x/N)^{Nt} = −xt − x²t/(2N) + O(N⁻²)). Raises
    ``ValueError`` for η, h or t ≤ 0, N outside [1, 10¹⁵], N·t over 10¹⁵ or a result
    that overflows.
    """
    Phi0 = _checks.real("Phi0", Phi0)
    lr, h = _checks.positive("lr", lr), _checks.positive("h", h)
    N, t, n = _steps(N, t, whole=False)
    x = lr * h
    try:
        flow = Phi0 * math.exp(-x * t)
        out = {
            "error": Phi0 * (1 - x / N) ** n - flow,
            "leading": -flow * x * x * t / (2 * N),
        }
    except OverflowError:
        out = {"error": math.inf}  # (1 − x/N)^n beyond the floats: reported below
    _checks.finite_result(list(out.values()), "Phi0, lr, h, N, t", "lower lr * h / N")
    return out


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
    (len(times), chains), times in units of t (step k is time k/N). Raises
    ``ValueError`` for η ≤ 0, N·t not a whole number in [1, 10⁷], N·t × chains over
    10⁹, the other bounds of :func:`~lab.simulate.sgd_1d`, or a run that diverges.
    """
    limit = _checks.choice("limit", limit, LIMITS)
    problem, Phi0, lr, N, steps, every = _sgd_paths_arguments(
        problem, Phi0, lr, N, t, batch_size, chains, generator, limit, record_every
    )
    _checks.work("N*t × chains", steps * _checks.chains("chains", chains))
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


def _sgd_paths_arguments(
    problem, Phi0, lr, N, t, batch_size, chains, generator, limit, record_every
):
    """:func:`sgd_paths`' arguments, checked (those it passes on by their own names)."""
    problem = _problem(problem, ("gradient", "gradient_variance"))
    if limit == "langevin" and not (
        dataclasses.is_dataclass(problem)
        and "sigma" in {f.name for f in dataclasses.fields(problem)}
    ):
        raise TypeError(
            "problem must be a dataclass with a field sigma for limit='langevin' "
            f"(such as lab.problems.DoubleWell1D), got {problem!r:.80}"
        )
    lr = _checks.positive("lr", lr)
    N, _, steps = _steps(N, t, _checks.MAX_STEPS)
    C = _checks.chains("chains", chains)
    _checks.batch_size("batch_size", batch_size)
    _checks.generator("generator", generator)
    every = _checks.integer_at_least("record_every", record_every, 1, _checks.MAX_STEPS)
    Phi0 = _checks.array("Phi0", Phi0, ndim=(0, 1))
    if Phi0.ndim == 1 and Phi0.shape[0] != C:
        raise ValueError(f"Phi0 must be a number or hold {C} numbers, got {Phi0.shape}")
    return problem, Phi0, lr, N, steps, every


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
    T = ησ²/(2B), the variance of the Ornstein–Uhlenbeck limit. Raises ``ValueError``
    for η, h, σ or t ≤ 0, B outside [1, 10¹²], N outside [1, 10¹⁵], N·t over 10¹⁵ or
    a result that overflows.
    """
    lr, h = _checks.positive("lr", lr), _checks.positive("h", h)
    sigma = _checks.positive("sigma", sigma)
    B = _checks.batch_size("batch_size", batch_size)
    N, t, n = _steps(N, t, whole=False)
    limit = _checks.choice("limit", limit, LIMITS)
    names = "lr, h, sigma, batch_size, N, t"
    try:
        s = sigma**2 / B * (N if limit == "langevin" else 1)
        a2 = (1 - lr * h / N) ** 2
        # a² = 1 in floating point (ηh/N below the round-off of 1): the sum is n terms.
        terms = n if a2 == 1 else (1 - a2**n) / (1 - a2)
        var = (lr / N) ** 2 * s * terms
        T = lr * sigma**2 / (2 * B)
        out = {"variance": var, "bound": lr**2 * t * s / N}
    except OverflowError:
        raise ValueError(f"{names}: the variance overflows (not finite)") from None
    _checks.finite_result(list(out.values()), names)
    out["ou"] = _checks.finite_result(_ou(h, T, np.float64(lr * t)), names)
    return out


def ou_variance(h: float, temperature: float, tau) -> np.ndarray:
    """Var Φ(τ) = (T/h)(1 − e^{−2hτ}) for dΦ = −hΦ dτ + √(2T) dW from a fixed Φ(0).

    The Langevin diffusion on the quadratic f = ½hΦ² (Ornstein–Uhlenbeck); its
    stationary variance T/h is that of exp(−f/T). ``tau`` ≥ 0, a number or an array.
    """
    h, T = _checks.positive("h", h), _checks.positive("temperature", temperature)
    tau = _checks.array("tau", tau, 0.0)
    return _checks.finite_result(_ou(h, T, tau), "h, temperature")


def _ou(h: float, T: float, tau):
    with np.errstate(over="ignore"):
        return T / h * (1 - np.exp(-2 * h * tau))


def langevin_generator(problem, temperature: float, grid) -> np.ndarray:
    """The generator Q of a jump process on ``grid`` that approximates the Langevin diffusion.

    Neighbouring cells exchange probability at rates (T/Δ²) exp(∓(f_{k+1} − f_k)/(2T)),
    so that drift −f′ and diffusion T are matched to O(Δ²) and exp(−f/T) satisfies
    detailed balance exactly: the Fokker–Planck equation ∂p/∂τ = ∂(f′p)/∂Φ + T ∂²p/∂Φ²
    becomes dp/dτ = Qᵀ p. Returns the (n, n) matrix Q (rows sum to zero). ``grid`` is
    evenly spaced and increasing, 3 to 4001 points; ``ValueError`` for rates that
    overflow (a cold, steep landscape on a coarse grid).
    """
    T = _checks.positive("temperature", temperature)
    x = _checks.grid("grid", grid)
    dx = x[1] - x[0]
    f = _loss_on_grid(problem, x)
    df = np.diff(f) / (2 * T)
    up, down = T / dx**2 * np.exp(-df), T / dx**2 * np.exp(df)
    Q = np.diag(up, 1) + np.diag(down, -1)
    Q -= np.diag(Q.sum(1))
    return _checks.finite_result(
        Q,
        "problem, temperature, grid",
        "the rates overflow: raise T or refine the grid",
    )


def _loss_on_grid(problem, x: np.ndarray) -> np.ndarray:
    """``problem.population_loss`` on the grid, checked finite and of the grid's shape."""
    problem = _problem(problem, ("population_loss",))
    with np.errstate(all="ignore"):
        f = np.asarray(problem.population_loss(x), dtype=np.float64)
    if f.shape != x.shape:
        raise ValueError(f"problem.population_loss(grid) must have shape {x.shape}")
    return _checks.finite_result(f, "problem, grid", "the loss overflows on the grid")


def langevin_density(problem, temperature: float, Phi0: float, tau, grid) -> np.ndarray:
    """The Langevin density p(Φ, τ) on ``grid``, started at a point mass at ``Phi0``.

    p(τ) = exp(τ Qᵀ) p(0) with Q from :func:`langevin_generator`, by
    ``scipy.linalg.expm`` (scaling and squaring: robust to the stiff rates of a cold,
    steep landscape). ``tau`` is a scalar or a 1-D array of diffusion times (τ = η t).
    Returns densities (Σ p Δ = 1) of shape (len(tau), len(grid)), or (len(grid),) for a
    scalar ``tau``. Raises ``ValueError`` for a negative τ, more than 1000 times,
    len(tau) × len(grid)³ over 10¹¹ (the work of the dense matrix exponentials) or a
    density that overflows (τ times the rates too large).
    """
    from scipy.linalg import expm

    T = _checks.positive("temperature", temperature)
    x = _checks.grid("grid", grid)
    dx = x[1] - x[0]
    Qt = langevin_generator(problem, T, x).T
    p0 = np.zeros(x.size)
    p0[int(np.argmin(np.abs(x - _checks.real_in("Phi0", Phi0))))] = 1.0
    tau = _checks.array("tau", tau, 0.0, ndim=(0, 1), max_size=MAX_TAUS)
    taus = np.atleast_1d(tau)
    _checks.work("len(tau) × len(grid)³", taus.size * x.size**3, MAX_EXPM_WORK)
    # Single-threaded BLAS: on small matrices threads only contend (10x slower here).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1), np.errstate(all="ignore"):
        out = np.array([expm(s * Qt) @ p0 for s in taus]) / dx
    _checks.finite_result(
        out, "tau, temperature", "the density overflows: lower tau or temperature"
    )
    out = np.clip(out, 0.0, None)
    return out[0] if tau.ndim == 0 else out


def exp_loss_flow(Phi0: float, lr: float, t) -> dict:
    """Gradient flow on ℓ(Φ) = e^{−Φ}: Φ(t) = log(e^{Φ0} + η t), ℓ(Φ(t)) = 1/(e^{Φ0} + η t).

    The loss decreases to its infimum 0 while Φ grows without bound: a flow whose loss
    converges although Φ does not. ``t`` ≥ 0 (a number or an array); raises
    ``ValueError`` for Φ0 > 709 (e^Φ0 overflows) or η t that overflows.
    """
    lr = _checks.positive("lr", lr)
    t = _checks.array("t", t, 0.0)
    s = math.exp(_checks.real_in("Phi0", Phi0, high=709.0)) + lr * t
    with np.errstate(all="ignore"):
        out = {"Phi": np.log(s), "loss": 1.0 / s}
    _checks.finite_result(list(out.values()), "Phi0, lr, t")
    return out
