"""Chapter 5, RMSProp on the noisy quadratic model: what s_t tracks, and what that does
to the step.

RMSProp keeps, per coordinate :math:`i`, a running average of the squared batch gradient
and divides the step by its square root:

.. math::

    s_t[i] = (1 - \\tfrac{1}{N_s})\\, s_{t-1}[i] + \\tfrac{1}{N_s}\\,\\hat g_t[i]^2, \\qquad
    \\Phi_{t+1}[i] = \\Phi_t[i] - \\frac{\\eta}{\\sqrt{s_t[i] + \\epsilon}}\\,\\hat g_t[i].

This module holds the closed forms the book compares RMSProp with (the second moment
:math:`E\\hat g^2 = g^2 + \\sigma^2/B`, its sampling variance, the exact moment recursion
of SGD on :class:`~lab.problems.NoisyQuadratic`) and a vectorised RMSProp simulation on
that model (many independent chains at once), tested equal to :class:`lab.optim.RMSProp`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from .optim import RMSProp
from .problems import NoisyQuadratic
from .simulate import mean_and_se, run_nqm

__all__ = [
    "s_at_fixed_phi",
    "rmsprop_moments",
    "rmsprop_nqm_error",
    "second_moment",
    "second_moment_variance",
    "sgd_stationary_snr",
    "sgd_nqm_second_moments",
    "sgd_best_lr",
    "steps_to_reach",
]


def second_moment(g, sigma, batch_size: int):
    """:math:`E\\hat g^2 = g^2 + \\sigma^2/B`: what RMSProp's :math:`s_t` tracks at a
    fixed :math:`\\Phi`.

    ``sigma`` is the *per-example* gradient standard deviation, so :math:`\\sigma^2/B` is
    :math:`\\mathrm{Var}\\,\\hat g` for a batch of :math:`B` independent examples (the
    lecture's :math:`g^2 + \\sigma^2` holds for :math:`B = 1`). Numbers or numpy arrays
    (broadcast). Raises ``ValueError`` for ``batch_size < 1``.
    """
    B = _checks.batch_size("batch_size", batch_size)
    g, sigma = _checks.broadcast(
        g=_checks.array("g", g), sigma=_checks.array("sigma", sigma, 0.0)
    )
    return _checks.finite_result(g**2 + sigma**2 / B, "g, sigma")


def second_moment_variance(g, sigma, batch_size: int):
    """:math:`\\mathrm{Var}\\,\\hat g^2 = 2(\\sigma^2/B)^2 + 4g^2\\sigma^2/B`, for Gaussian
    :math:`\\hat g`.

    If :math:`\\hat g \\sim N(g, \\sigma^2/B)` then :math:`\\hat g^2` has variance
    :math:`2(\\sigma^2/B)^2 + 4g^2\\sigma^2/B`;
    with :func:`lab.running_averages.running_average_variance` it gives the spread of
    :math:`s_t` and so the tolerance of any measurement of it. Raises ``ValueError`` for
    ``batch_size < 1``.
    """
    B = _checks.batch_size("batch_size", batch_size)
    g, sigma = _checks.broadcast(
        g=_checks.array("g", g), sigma=_checks.array("sigma", sigma, 0.0)
    )
    v = sigma**2 / B
    return _checks.finite_result(2 * v * v + 4 * g**2 * v, "g, sigma")


def s_at_fixed_phi(
    g: float,
    sigma: float,
    batch_size: int,
    N_s: float,
    steps: int,
    chains: int,
    generator: torch.Generator,
) -> dict:
    """RMSProp's :math:`s_t` at a fixed :math:`\\Phi`, where the :math:`\\hat g_t` are
    independent draws with mean :math:`g` and variance :math:`\\sigma^2/B`.

    Runs :class:`lab.optim.RMSProp` with :math:`\\eta = 0` (it updates :math:`s` but never
    moves :math:`\\Phi`) on a one-dimensional :class:`~lab.problems.NoisyQuadratic`
    (:math:`h = 1`, per-example noise :math:`\\sigma`) held at :math:`\\Phi = g`, for
    ``steps`` steps of ``chains`` independent chains with batch size :math:`B`.
    Returns numpy arrays: ``t`` (:math:`T + 1`,), ``s_mean`` (:math:`T + 1`,), the chain
    mean of :math:`s_t`, ``s_chain`` (:math:`T + 1`,), chain 0's :math:`s_t`,
    ``ghat_sq`` (:math:`T`,), chain 0's :math:`\\hat g_t^2`, and ``s_final``
    (``chains``,), every chain's :math:`s_T`. By
    :func:`lab.running_averages.expected_running_average`,
    :math:`E s_t = (1 - (1 - 1/N_s)^t)(g^2 + \\sigma^2/B)`. Raises ``ValueError`` for
    ``sigma < 0``, :math:`N_s < 1`, ``batch_size`` outside [1, 10¹²], ``steps``
    outside [1, 10⁷], ``chains`` outside [2, 10⁶], steps × chains over 10⁹, or
    :math:`\\hat g^2` or :math:`s_t` overflowing (``g`` or ``sigma`` too large).
    """
    g = _checks.real_in("g", g)
    sigma = _checks.nonnegative("sigma", sigma)
    B = _checks.batch_size("batch_size", batch_size)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    T = _checks.steps("steps", steps)
    C = _checks.chains("chains", chains, 2)
    generator = _checks.generator("generator", generator)
    _checks.work("steps × chains", T * C)
    problem = NoisyQuadratic([1.0], [sigma])
    Phi = torch.full(
        (C, 1), g, dtype=torch.float64, device=generator.device
    )  # g = hΦ with h = 1
    opt = RMSProp([Phi], lr=0.0, N_s=N_s)
    s_mean, s_chain, ghat_sq = [0.0], [0.0], []
    try:
        for _ in range(T):
            Phi.grad = problem.stochastic_gradient(Phi, B, generator)
            ghat = Phi.grad[0, 0].item()
            ghat_sq.append(ghat * ghat)  # inf (not OverflowError) past the floats
            opt.step()
            s = opt.state[Phi]["s"]
            s_mean.append(s.mean().item())
            s_chain.append(s[0, 0].item())
    except FloatingPointError as err:
        raise _checks.Diverged(
            f"g, sigma: the squared gradient overflows ({err})"
        ) from err
    out = {
        "t": np.arange(T + 1),
        "s_mean": np.array(s_mean),
        "s_chain": np.array(s_chain),
        "ghat_sq": np.array(ghat_sq),
        "s_final": opt.state[Phi]["s"][:, 0].cpu().numpy(),
    }
    for value in out.values():
        _checks.finite_result(value, "g, sigma", "ĝ² overflows: use smaller magnitudes")
    return out


def sgd_stationary_snr(lr, h):
    """:math:`E g^2 / \\mathrm{Var}\\,\\hat g = \\eta h/(2 - \\eta h)` for SGD at
    stationarity on a quadratic.

    With curvature :math:`h` and additive gradient noise of variance :math:`\\sigma^2/B`,
    SGD's stationary :math:`\\mathrm{Var}\\,\\Phi = \\eta\\sigma^2/(Bh(2 - \\eta h))`, and
    :math:`g = h\\Phi`, so :math:`E g^2 = \\eta h\\sigma^2/(B(2 - \\eta h))`. Numbers or
    numpy arrays. Raises ``ValueError`` unless every :math:`\\eta h` is in (0, 2)
    (where SGD is stable).
    """
    lr, h = _checks.broadcast(lr=_checks.array("lr", lr), h=_checks.array("h", h))
    r = lr * h
    if not np.all((r > 0) & (r < 2)):
        raise ValueError(f"lr * h must be in (0, 2) (SGD stable), got {r!r}")
    return r / (2 - r)


def sgd_nqm_second_moments(
    problem: NoisyQuadratic, lr, batch_size: int, phi0, steps: int, times=None
):
    """Exact :math:`E\\Phi_{t}[i]^2` of constant-step SGD on the noisy quadratic, :math:`t = 0..T`.

    Per coordinate the error obeys :math:`\\Phi_{t+1} = (1-\\eta h)\\Phi_t + \\eta\\xi_t` with
    :math:`\\mathrm{Var}\\,\\xi = \\sigma^2/B`, so with :math:`\\rho = (1-\\eta h)^2`

    .. math::

        E\\Phi_t^2 = \\rho^t\\Phi_0^2
        + \\eta^2\\frac{\\sigma^2}{B}\\,\\frac{1-\\rho^t}{1-\\rho}

    (:math:`t\\,\\eta^2\\sigma^2/B` where :math:`\\rho = 1`). ``lr`` may be a number or a
    1-d array of learning rates (a leading axis in the result); ``phi0`` a number or
    length-d array. Returns a float64 numpy array of shape ``(T + 1, d)`` or
    ``(len(lr), T + 1, d)``; with ``times`` (non-negative integers) it is evaluated at
    those steps instead of 0..T (``steps`` is then ignored). Raises ``ValueError`` for
    ``lr < 0``, ``batch_size < 1`` or
    ``steps`` outside [0, 10⁷], more than 10⁸ numbers in the result, or a result that
    overflows.
    """
    problem = _checks.instance("problem", problem, NoisyQuadratic)
    B = _checks.batch_size("batch_size", batch_size)
    T = _checks.steps("steps", steps, 0)
    lr = _checks.array("lr", lr, 0.0, ndim=(0, 1))
    lrs = np.atleast_1d(lr)
    h = problem.h.cpu().numpy()
    v = problem.gradient_variance(B).cpu().numpy()
    phi0 = _phi0(phi0, h)
    if times is not None:
        times = _checks.array("times", times, 0.0, _checks.MAX_STEPS, ndim=1)
    n_t = T + 1 if times is None else times.size
    _checks.work("len(lr) × steps × d", lrs.size * n_t * h.size, _checks.MAX_ELEMENTS)
    eta = lrs[:, None, None]
    rho = (1.0 - eta * h) ** 2
    t = (np.arange(T + 1) if times is None else np.asarray(times, dtype=float))[
        None, :, None
    ]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rho_t = rho**t
        geometric = np.where(
            np.isclose(rho, 1.0, rtol=0, atol=1e-14),
            t * 1.0,
            (1.0 - rho_t) / (1.0 - rho),
        )
    out = rho_t * phi0**2 + eta**2 * v * geometric
    out = _checks.finite_result(out, "lr, phi0, steps", "SGD diverges there: lower lr")
    return out if np.ndim(lr) else out[0]


def _unbounded_moments(problem, lrs, batch_size, phi0, steps):
    """:func:`sgd_nqm_second_moments` for each rate, +inf for a rate that overflows."""
    rows = []
    for lr in lrs:
        try:
            rows.append(sgd_nqm_second_moments(problem, lr, batch_size, phi0, steps))
        except ValueError as err:
            if "overflows" not in str(err):
                raise
            rows.append(np.full((steps + 1, problem.dim), np.inf))
    return np.array(rows)


def _phi0(phi0, h):
    phi0 = _checks.array("phi0", phi0, ndim=(0, 1))
    if phi0.ndim == 1 and phi0.shape != h.shape:
        raise ValueError(f"phi0 must be a number or have d = {h.size} entries")
    return np.broadcast_to(phi0, h.shape)


def sgd_best_lr(
    problem: NoisyQuadratic, batch_size: int, phi0, steps: int, lrs, objective="worst"
):
    """The learning rate from ``lrs`` that minimises SGD's exact objective at step ``steps``.

    ``objective``: ``"worst"``, :math:`\\max_i E\\Phi_T[i]^2/\\Phi_0[i]^2` (every coordinate
    must converge), or ``"loss"``, :math:`E f(\\Phi_T) = \\frac12\\sum_i h_i E\\Phi_T[i]^2`.
    Returns ``(lr, curve)`` with ``curve`` the objective at every step for that rate.
    Raises ``ValueError`` for an unknown objective, ``phi0`` with a zero entry (for
    ``"worst"``) or the errors of :func:`sgd_nqm_second_moments`.
    """
    objective = _checks.choice("objective", objective, ("worst", "loss"))
    lrs = _checks.array("lrs", lrs, 0.0, ndim=1)
    if lrs.size == 0:
        raise ValueError("lrs must hold at least one learning rate")
    phi0 = _phi0(phi0, _checks.instance("problem", problem, NoisyQuadratic).h.numpy())
    if objective == "worst" and np.any(phi0 == 0):
        raise ValueError("phi0 must be nonzero in every coordinate for 'worst'")
    steps = _checks.steps("steps", steps, 0)
    moments = _unbounded_moments(problem, lrs, batch_size, phi0, steps)
    curves = _objective(problem, moments, phi0, objective)
    final = np.where(np.isfinite(curves[:, -1]), curves[:, -1], np.inf)
    if not np.isfinite(final).any():
        raise ValueError(
            "lrs, phi0: SGD diverges (or its moments overflow) at every rate; offer "
            "smaller rates or a smaller phi0"
        )
    k = int(np.argmin(final))
    return float(lrs[k]), curves[k]


def _objective(problem, second_moments, phi0, objective):
    h = problem.h.cpu().numpy()
    if objective == "worst":
        phi0 = np.broadcast_to(np.asarray(phi0, dtype=float), h.shape)
        return (second_moments / phi0**2).max(-1)
    if objective == "loss":
        return 0.5 * (h * second_moments).sum(-1)
    raise ValueError(f"objective must be 'worst' or 'loss', got {objective!r}")


def steps_to_reach(curve, target: float, t=None):
    """The first step at which ``curve`` is at or below ``target`` (``inf`` if never).

    ``t`` gives the step of each entry (default 0, 1, 2, ...). Raises ``ValueError``
    for a curve that is not 1-D, NaN entries (inf, a diverged run, never reaches the
    target), a non-finite target or ``t`` of another length.
    """
    curve = _checks.array("curve", np.nan_to_num(_curve(curve), nan=np.nan), ndim=1)
    target = _checks.real("target", target)
    t = np.arange(len(curve)) if t is None else _checks.array("t", t, ndim=1)
    if t.shape != curve.shape:
        raise ValueError(f"t must have one entry per curve entry ({curve.size})")
    hit = np.nonzero(curve <= target)[0]
    return float(t[hit[0]]) if hit.size else math.inf


def _curve(curve):
    """``curve`` with +inf entries (diverged runs) replaced by the largest float."""
    if _checks._not_a_number(curve):
        raise TypeError(f"curve must be a 1-D array, got {curve!r}")
    try:
        c = np.array(curve, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"curve must be a 1-D array of numbers, got {curve!r:.80}"
        ) from None
    return np.where(c == np.inf, np.finfo(np.float64).max, c)


def rmsprop_moments(t, p, optimizer) -> dict:
    """An ``observe`` hook for :func:`lab.simulate.run_nqm` with :class:`lab.optim.RMSProp`:
    :math:`\\Phi_t[i]^2` (``phi_sq``) and the running average :math:`s_t[i]` (``s``) of
    every chain and coordinate, shape (chains, d) each. Raises ``ValueError`` for a
    ``p`` that is not a finite floating tensor, or whose square overflows."""
    p = _checks.tensor("p", p)
    optimizer = _checks.instance("optimizer", optimizer, RMSProp)
    state = optimizer.state.get(p)
    s = state["s"] if state else torch.zeros_like(p)
    phi_sq = _checks.finite_result(p.detach() ** 2, "p", "Phi² overflows")
    return {"phi_sq": phi_sq, "s": s.detach().clone()}


def rmsprop_nqm_error(
    problem: NoisyQuadratic,
    lr: float,
    N_s: float,
    batch_size: int,
    steps: int,
    chains: int,
    generator: torch.Generator,
    *,
    phi0: float = 1.0,
    eps: float = 0.0,
) -> dict:
    """RMSProp's relative error :math:`E\\Phi_t[i]^2/\\Phi_0^2` on the noisy quadratic,
    simulated with ``chains`` independent runs, with its standard error.

    The runs are those of the Chapter 5 explorer (:func:`lab.widgets.rmsprop_state`):
    :class:`lab.optim.RMSProp` with learning rate :math:`\\eta` = ``lr``, memory
    :math:`N_s`, :math:`\\epsilon` = ``eps``, batch size :math:`B`, from
    :math:`\\Phi_0` = ``phi0`` in every coordinate, through :func:`lab.simulate.run_nqm`
    on ``generator`` (the same draws for the same seed and ``chains``). Returns numpy
    arrays: ``t`` (:math:`T + 1`,), ``error`` and ``error_se`` (:math:`T + 1`, d), the
    chain mean and its standard error per coordinate, and ``worst`` and ``worst_se``
    (:math:`T + 1`,), :math:`\\max_i` of the mean and the standard error of the
    coordinate that attains it, and ``s`` (:math:`T + 1`, d), the chain mean of
    RMSProp's :math:`s_t`. Raises ``ValueError`` for ``chains < 2`` (a standard
    error needs two runs), ``lr < 0``, :math:`N_s < 1`, ``phi0 == 0``, the counts of
    :func:`lab.simulate.run_nqm` or a run that overflows.
    """
    C = _checks.chains("chains", chains, 2)
    lr = _checks.nonnegative("lr", lr)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    phi0 = _checks.real_in("phi0", phi0)
    if phi0 == 0:
        raise ValueError("phi0 must be nonzero (the error is relative to it)")
    _checks.finite_result(phi0 * phi0, "phi0", "phi0² overflows: lower |phi0|")
    if phi0 * phi0 < 1 / np.finfo(np.float64).max:
        raise ValueError(f"phi0 is too small: 1/phi0² overflows, got {phi0!r}")
    try:
        run = run_nqm(
            problem,
            lambda ps: RMSProp(ps, lr=lr, N_s=N_s, eps=eps),
            steps,
            C,
            generator,
            batch_size=batch_size,
            phi0=phi0,
            observe=rmsprop_moments,
        )
    except FloatingPointError as err:
        raise _checks.Diverged(f"lr, N_s, phi0: the run diverged ({err})") from err
    _checks.finite_result(run["phi_sq"], "lr, N_s, phi0", "the run overflowed")
    with np.errstate(over="ignore", invalid="ignore"):
        error, se = mean_and_se(run["phi_sq"] / phi0**2)
        s = mean_and_se(run["s"])[0]
    for value in (error, se, s):
        _checks.finite_result(value, "lr, N_s, phi0", "the run overflowed")
    k = error.argmax(-1)
    rows = np.arange(len(k))
    return {
        "t": run["t"],
        "error": error,
        "error_se": se,
        "worst": error[rows, k],
        "worst_se": se[rows, k],
        "s": s,
    }
