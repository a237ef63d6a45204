"""Momentum and Adam, analysed: closed forms, exact moment recursions, batched sweeps.

The lecture's momentum (Chapter 6) is

.. math::

    v_t = (1 - \\tfrac1N)\\, v_{t-1} + \\eta\\, \\hat g_t, \\qquad \\Phi_{t+1} = \\Phi_t - v_t ,

and, with :math:`\\mu_t` the running average of :math:`\\hat g` and :math:`\\eta' = N\\eta`,
:math:`\\Phi_{t+1} = \\Phi_t - \\eta'\\mu_t`. On one coordinate of a quadratic with
curvature :math:`h` the error :math:`\\delta_t = \\Phi_t - \\Phi^*` and the velocity form a
linear system, so everything about it has a closed form:

- :func:`heavy_ball_matrix`, :func:`heavy_ball_rate`: the 2×2 iteration matrix and its
  spectral radius (the per-step contraction factor of the error);
- :func:`optimal_heavy_ball`: Polyak's optimal :math:`\\eta, N` for curvatures in
  :math:`[h_{\\min}, h_{\\max}]`, checked in sympy by :func:`heavy_ball_derivation`;
- :func:`momentum_nqm_loss`: the exact expected loss :math:`\\E f(\\Phi_t)` of momentum on
  the noisy quadratic model (:class:`lab.problems.NoisyQuadratic`), for a whole grid of
  :math:`(\\eta, N)` at once.

For Adam (Chapter 7): :func:`adam_constant_gradient_step` (the step of each bias
correction on a constant gradient) and :func:`adam_stationary_step` (the mean step
:math:`\\eta g/\\sqrt{g^2 + \\sigma^2}` once the averages have settled).

For experiments on real data, :func:`digits_sweep` trains many copies of a small model
on :mod:`lab.train`'s digits at once, one configuration (optimizer and hyperparameters)
per copy, with the same initial weights and the same batches for all, stepped by the
optimizers of :mod:`lab.optim`.
"""

from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch

from lab import _checks, optim
from lab.averages import running_average_weight

__all__ = [
    "heavy_ball_matrix",
    "heavy_ball_rate",
    "optimal_heavy_ball",
    "heavy_ball_derivation",
    "momentum_nqm_loss",
    "momentum_stationary_variance",
    "adam_constant_gradient_step",
    "adam_stationary_step",
    "adam_nqm",
    "nqm_run",
    "digits_sweep",
    "best_per_row",
]


# --------------------------------------------------------------------------------------
# Heavy ball on a quadratic: closed forms
# --------------------------------------------------------------------------------------


def _array(name: str, x, low: float, *, low_open: bool) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {x!r}")
    bad = a <= low if low_open else a < low
    if np.any(bad):
        rel = ">" if low_open else ">="
        raise ValueError(f"{name} must be {rel} {low}, got {x!r}")
    return a


def heavy_ball_matrix(lr, N, h) -> np.ndarray:
    """The iteration matrix :math:`A` of momentum on one coordinate of curvature :math:`h`.

    With :math:`\\beta = 1 - 1/N` and the state :math:`x_t = (\\delta_t, v_{t-1})`,
    :math:`v_t = \\beta v_{t-1} + \\eta(h\\delta_t + \\xi_t)` and
    :math:`\\delta_{t+1} = \\delta_t - v_t` give :math:`x_{t+1} = A x_t + (-\\eta, \\eta)\\,\\xi_t`,

    .. math:: A = \\begin{pmatrix} 1 - \\eta h & -\\beta \\\\ \\eta h & \\beta \\end{pmatrix}.

    ``lr`` (:math:`\\eta \\ge 0`), ``N`` (:math:`\\ge 1`) and ``h`` (:math:`> 0`) broadcast;
    the result has shape ``(*broadcast, 2, 2)``. Raises ``ValueError`` out of range.
    """
    lr = _array("lr", lr, 0.0, low_open=False)
    N = _array("N", N, 1.0, low_open=False)
    h = _array("h", h, 0.0, low_open=True)
    lr, N, h = np.broadcast_arrays(lr, N, h)
    beta = 1.0 - 1.0 / N
    A = np.empty(lr.shape + (2, 2))
    A[..., 0, 0] = 1.0 - lr * h
    A[..., 0, 1] = -beta
    A[..., 1, 0] = lr * h
    A[..., 1, 1] = beta
    return A


def heavy_ball_rate(lr, N, h) -> np.ndarray:
    """The spectral radius :math:`\\rho` of :func:`heavy_ball_matrix`: the error shrinks like :math:`\\rho^t`.

    The eigenvalues solve :math:`\\lambda^2 - a\\lambda + \\beta = 0` with
    :math:`a = 1 + \\beta - \\eta h`, :math:`\\beta = 1 - 1/N`. If :math:`a^2 < 4\\beta` they
    are complex with :math:`|\\lambda| = \\sqrt\\beta` (the ball oscillates); otherwise
    :math:`\\rho = (|a| + \\sqrt{a^2 - 4\\beta})/2`. Momentum converges iff
    :math:`\\rho < 1`, that is :math:`0 < \\eta h < 2(1 + \\beta)`. For :math:`N = 1`,
    :math:`\\rho = |1 - \\eta h|`, plain gradient descent. Arguments broadcast (numpy);
    raises ``ValueError`` for ``lr < 0``, ``N < 1`` or ``h <= 0``.
    """
    lr = _array("lr", lr, 0.0, low_open=False)
    N = _array("N", N, 1.0, low_open=False)
    h = _array("h", h, 0.0, low_open=True)
    beta = 1.0 - 1.0 / N
    a = 1.0 + beta - lr * h
    disc = a * a - 4.0 * beta
    real = (np.abs(a) + np.sqrt(np.maximum(disc, 0.0))) / 2.0
    return np.where(disc < 0, np.sqrt(beta) + 0.0 * a, real)


def optimal_heavy_ball(h_min: float, h_max: float) -> dict:
    """Polyak's optimal momentum for curvatures in :math:`[h_{\\min}, h_{\\max}]`, :math:`\\kappa = h_{\\max}/h_{\\min}`.

    .. math::

        \\eta^* = \\frac{4}{(\\sqrt{h_{\\max}} + \\sqrt{h_{\\min}})^2}, \\quad
        \\beta^* = \\Big(\\frac{\\sqrt\\kappa - 1}{\\sqrt\\kappa + 1}\\Big)^2, \\quad
        N^* = \\frac{1}{1-\\beta^*}, \\quad \\eta'^* = N^*\\eta^* = \\frac{1}{\\sqrt{h_{\\min}h_{\\max}}},

    with rate :math:`\\rho^* = (\\sqrt\\kappa - 1)/(\\sqrt\\kappa + 1)` at every curvature in the
    interval; plain gradient descent's best is :math:`\\eta = 2/(h_{\\min} + h_{\\max})`,
    rate :math:`(\\kappa - 1)/(\\kappa + 1)`. Returns a dict with keys ``lr``, ``N``,
    ``lr_prime``, ``beta``, ``rate``, ``sgd_lr``, ``sgd_rate``, ``kappa``. Raises
    ``ValueError`` unless :math:`0 < h_{\\min} \\le h_{\\max}`.
    """
    h_min = _checks.positive("h_min", h_min)
    h_max = _checks.positive("h_max", h_max)
    if h_max < h_min:
        raise ValueError(f"h_max must be >= h_min = {h_min}, got {h_max!r}")
    kappa = h_max / h_min
    sk = math.sqrt(kappa)
    rate = (sk - 1) / (sk + 1)
    beta = rate * rate
    lr = 4.0 / (math.sqrt(h_max) + math.sqrt(h_min)) ** 2
    N = 1.0 / (1.0 - beta)
    return {"lr": lr, "N": N, "lr_prime": N * lr, "beta": beta, "rate": rate,
            "sgd_lr": 2.0 / (h_min + h_max), "sgd_rate": (kappa - 1) / (kappa + 1),
            "kappa": kappa}


def heavy_ball_derivation():
    """The heavy-ball facts used in Chapter 6, as a :class:`lab.derivations.Derivation`.

    Claims: the characteristic polynomial of :func:`heavy_ball_matrix`; complex roots have
    modulus :math:`\\sqrt\\beta` (their product is :math:`\\det A = \\beta`); with Polyak's
    :math:`\\eta^*, \\beta^*` both ends of :math:`[h_{\\min}, h_{\\max}]` sit exactly on the
    boundary :math:`a^2 = 4\\beta` (so every curvature between is in the complex region,
    rate :math:`\\sqrt{\\beta^*}`); :math:`\\eta'^* = 1/\\sqrt{h_{\\min}h_{\\max}}`;
    :math:`N^* \\sim \\sqrt\\kappa/4`; and the stability limit :math:`\\eta h < 2(1+\\beta)`
    is where an eigenvalue reaches :math:`-1`.
    """
    from lab.derivations import Derivation, Identity, Limit

    lam, eta, h, beta = sp.symbols("lambda eta h beta", positive=True)
    m, M, kappa, u = sp.symbols("h_min h_max kappa u", positive=True)
    A = sp.Matrix([[1 - eta * h, -beta], [eta * h, beta]])
    charpoly = sp.expand((lam * sp.eye(2) - A).det())
    a = 1 + beta - eta * h
    # optimal parameters, written with r = sqrt(h)
    beta_star = ((sp.sqrt(M) - sp.sqrt(m)) / (sp.sqrt(M) + sp.sqrt(m))) ** 2
    eta_star = 4 / (sp.sqrt(M) + sp.sqrt(m)) ** 2
    N_star = 1 / (1 - beta_star)
    root_beta = (sp.sqrt(M) - sp.sqrt(m)) / (sp.sqrt(M) + sp.sqrt(m))
    claims = {
        "characteristic_polynomial": Identity(charpoly, lam**2 - a * lam + beta),
        "boundary_at_h_min": Identity(1 + beta_star - eta_star * m, 2 * root_beta),
        "boundary_at_h_max": Identity(1 + beta_star - eta_star * M, -2 * root_beta),
        # h_max = h_min (1 + u)^2 with u > 0 encodes h_max > h_min
        "optimal_rate": Identity(sp.sqrt(beta_star),
                                 (sp.sqrt(M) - sp.sqrt(m)) / (sp.sqrt(M) + sp.sqrt(m)),
                                 where={M: m * (1 + u) ** 2}),
        "optimal_lr_prime": Identity(N_star * eta_star, 1 / sp.sqrt(m * M)),
        "optimal_N_grows_like_sqrt_kappa_over_4": Limit(
            N_star.subs(M, kappa * m) / sp.sqrt(kappa), kappa, sp.oo, sp.Rational(1, 4)),
        # the characteristic polynomial at lambda = -1 is 2(1 + beta) - eta h: an
        # eigenvalue reaches -1 exactly at eta h = 2(1 + beta)
        "stability_edge_is_eigenvalue_minus_one": Identity(
            charpoly.subs(lam, -1), 2 * (1 + beta) - eta * h,
            tex=r"\det(-I - A) = 2(1 + \beta) - \eta h"),
    }
    steps = [
        ("characteristic polynomial", sp.Eq(sp.Symbol(r"\det(\lambda I - A)"), charpoly)),
        ("Polyak's learning rate", sp.Eq(sp.Symbol(r"\eta^*"), eta_star)),
        ("Polyak's momentum", sp.Eq(sp.Symbol(r"\beta^*"), beta_star)),
        ("in the lecture's form", sp.Eq(sp.Symbol(r"N^{*}\,\eta^{*}"), 1 / sp.sqrt(m * M))),
    ]
    return Derivation("Heavy ball on a quadratic: eigenvalues, stability, Polyak's optimum",
                      {"lambda": lam, "eta": eta, "h": h, "beta": beta, "h_min": m,
                       "h_max": M}, steps, claims, label="deriv-heavy-ball")


# --------------------------------------------------------------------------------------
# Exact moments of momentum on the noisy quadratic model
# --------------------------------------------------------------------------------------

_CAP = 1e30  # second moments past this have diverged; capping keeps arrays finite


def momentum_nqm_loss(lr, N, h, noise_variance, Phi0, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact :math:`\\E f(\\Phi_t)` for momentum on the noisy quadratic model, :math:`t = 0..T`.

    Per coordinate :math:`i` (curvature :math:`h_i`, gradient noise variance
    :math:`s_i = \\sigma_i^2/B`), the second moments :math:`M_t = \\E x_t x_t^\\top` of
    :math:`x_t = (\\delta_t, v_{t-1})` obey :math:`M_{t+1} = A M_t A^\\top + s_i\\, b b^\\top`
    with :math:`A` from :func:`heavy_ball_matrix`, :math:`b = (-\\eta, \\eta)`,
    :math:`M_0 = \\mathrm{diag}(\\Phi_{0,i}^2, 0)`; then
    :math:`\\E f(\\Phi_t) = \\tfrac12\\sum_i h_i\\,(M_t)_{11}`.

    ``lr`` and ``N`` broadcast against each other (a grid of configurations, shape ``C``);
    ``h``, ``noise_variance`` and ``Phi0`` are per-coordinate arrays of length d
    (``noise_variance`` and ``Phi0`` may be scalars). Returns ``(loss, diverged)``:
    ``loss`` of shape ``(*C, T + 1)`` and a boolean array of shape ``C``, True where a
    second moment exceeded 1e30 (the loss is then capped there, so arrays stay finite).
    Raises ``ValueError`` for ``lr < 0``, ``N < 1``, ``h <= 0``, a negative noise variance
    or ``steps < 1``.
    """
    T = _checks.integer_at_least("steps", steps, 1)
    lr = _array("lr", lr, 0.0, low_open=False)
    N = _array("N", N, 1.0, low_open=False)
    lr, N = np.broadcast_arrays(lr, N)
    h = _array("h", h, 0.0, low_open=True).reshape(-1)
    s = np.broadcast_to(_array("noise_variance", noise_variance, 0.0, low_open=False), h.shape)
    Phi0 = np.broadcast_to(np.asarray(Phi0, dtype=np.float64), h.shape)
    if not np.all(np.isfinite(Phi0)):
        raise ValueError("Phi0 must be finite")
    e = lr[..., None]
    beta = (1.0 - 1.0 / N)[..., None]
    a11, a12, a21, a22 = 1.0 - e * h, -beta + 0 * h, e * h, beta + 0 * h
    q = e * e * s  # b b^T s = eta^2 s [[1, -1], [-1, 1]]
    m11 = np.broadcast_to(Phi0 * Phi0, a11.shape).copy()
    m12 = np.zeros_like(m11)
    m22 = np.zeros_like(m11)
    out = np.empty(lr.shape + (T + 1,))
    out[..., 0] = 0.5 * (h * m11).sum(-1)
    for t in range(1, T + 1):
        n11 = a11 * a11 * m11 + 2 * a11 * a12 * m12 + a12 * a12 * m22 + q
        n12 = a11 * a21 * m11 + (a11 * a22 + a12 * a21) * m12 + a12 * a22 * m22 - q
        n22 = a21 * a21 * m11 + 2 * a21 * a22 * m12 + a22 * a22 * m22 + q
        m11 = np.minimum(n11, _CAP)
        m22 = np.minimum(n22, _CAP)
        m12 = np.clip(n12, -_CAP, _CAP)
        out[..., t] = 0.5 * (h * m11).sum(-1)
    diverged = (out >= 0.5 * _CAP * h.min()).any(-1)
    return out, diverged


def momentum_stationary_variance(lr, N, h, noise_variance):
    """:math:`\\lim_t \\Var\\,\\delta_t` for momentum on one coordinate (the noise floor).

    .. math:: v_\\infty = \\frac{\\eta s\\,(1+\\beta)}{h\\,(1-\\beta)\\,(2(1+\\beta) - \\eta h)}
              = \\frac{\\eta' s}{h\\,\\big(2 - \\eta' h/(2N-1)\\big)},

    :math:`\\beta = 1-1/N`, :math:`\\eta' = N\\eta`, :math:`s = \\sigma^2/B`
    (:func:`lab.derivations.stationary_variance` derives it). To first order it is
    :math:`N\\eta s/(2h) = \\eta' s/(2h)`: at fixed :math:`\\eta'` momentum leaves the
    noise floor alone; at fixed :math:`\\eta` it multiplies it by :math:`N`. Arguments
    broadcast; raises ``ValueError`` out of range or where momentum is unstable
    (:math:`\\eta h \\ge 2(1+\\beta)`).
    """
    lr = _array("lr", lr, 0.0, low_open=True)
    N = _array("N", N, 1.0, low_open=False)
    h = _array("h", h, 0.0, low_open=True)
    s = _array("noise_variance", noise_variance, 0.0, low_open=False)
    beta = 1.0 - 1.0 / N
    if np.any(lr * h >= 2 * (1 + beta)):
        raise ValueError("lr is too large: momentum is unstable where lr*h >= 2(2 - 1/N)")
    return lr * s * (1 + beta) / (h * (1 - beta) * (2 * (1 + beta) - lr * h))


# --------------------------------------------------------------------------------------
# Adam
# --------------------------------------------------------------------------------------

def adam_constant_gradient_step(t, N_g: float, N_s: float, bias_correction: str = "none"):
    """The Adam step :math:`|\\Delta\\Phi_t|/\\eta` when every gradient equals the same :math:`g \\ne 0` (:math:`\\epsilon = 0`).

    With ``"min"`` or ``"adam"`` both averages are exact from the first step,
    :math:`\\mu_t = g`, :math:`s_t = g^2`, so the step is exactly :math:`\\eta`. With
    ``"none"`` (weights :math:`1/N`, :math:`\\beta_1 = 1 - 1/N_g`, :math:`\\beta_2 = 1-1/N_s`):

    .. math:: \\frac{|\\Delta\\Phi_t|}{\\eta} = \\frac{1 - \\beta_1^t}{\\sqrt{1 - \\beta_2^t}},
              \\qquad t = 1:\\ \\frac{\\sqrt{N_s}}{N_g}.

    ``t``: an integer or integer array of steps :math:`\\ge 1`. Raises ``ValueError``
    for ``t < 1``, ``N_g < 1``, ``N_s < 1`` or an unknown correction.
    """
    N_g = _checks.real_in("N_g", N_g, 1.0)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer) or np.any(t < 1):
        raise ValueError(f"t must be an integer (array) >= 1, got {t!r}")
    if bias_correction in ("min", "adam"):
        return np.ones(t.shape)
    if bias_correction != "none":
        raise ValueError("bias_correction must be one of ('min', 'adam', 'none'), "
                         f"got {bias_correction!r}")
    t = t.astype(np.float64)
    num = -np.expm1(t * np.log1p(-1.0 / N_g)) if N_g > 1 else np.ones_like(t)
    den = -np.expm1(t * np.log1p(-1.0 / N_s)) if N_s > 1 else np.ones_like(t)
    return num / np.sqrt(den)


def adam_stationary_step(lr, g, noise_variance, eps: float = 0.0):
    """The mean Adam step once both averages have settled: :math:`\\eta\\, g/(\\sqrt{g^2 + \\sigma^2/B} + \\epsilon)`.

    :math:`\\mu_t \\approx g` and :math:`s_t \\approx \\E\\hat g^2 = g^2 + \\sigma^2/B`
    (``noise_variance`` is :math:`\\sigma^2/B`). High signal-to-noise
    (:math:`|g| \\gg \\sigma/\\sqrt B`): :math:`\\approx \\eta\\,\\mathrm{sign}\\,g`; noise
    dominated: :math:`\\approx \\eta\\, g\\sqrt B/\\sigma`. Arguments broadcast; raises
    ``ValueError`` for ``lr < 0``, a negative variance or ``eps < 0``.
    """
    lr = _array("lr", lr, 0.0, low_open=False)
    g = np.asarray(g, dtype=np.float64)
    s = _array("noise_variance", noise_variance, 0.0, low_open=False)
    eps = _checks.nonnegative("eps", eps)
    den = np.sqrt(g * g + s) + eps
    return lr * np.divide(g, den, out=np.zeros(np.broadcast(g, den).shape), where=den > 0)


def adam_nqm(h, noise_sd, Phi0, z, lr: float, N_g: float, N_s: float, eps: float,
             corrections=("min", "adam", "none")) -> dict:
    """Adam on the noisy quadratic model, one run per bias correction, driven by given noise.

    ``h`` (curvatures, :math:`\\ge 0`; 0 gives a gradient that does not depend on
    :math:`\\Phi`), ``noise_sd`` (:math:`\\sigma_i/\\sqrt B`) and ``Phi0``: length-d arrays
    (or scalars); ``z``: standard normal draws of shape ``(T, chains, d)``. The gradient
    at step t is :math:`\\hat g_t = h\\Phi_t - \\sigma z_t` (the distribution of
    :meth:`lab.problems.NoisyQuadratic.stochastic_gradient`), and every correction sees
    the same draws. The update is :func:`lab.optim.adam_update` with the weights of
    :func:`lab.averages.running_average_weight`, vectorised over the corrections in numpy
    (fast enough for an explorer). Returns ``loss`` ``(K, T + 1)`` (population loss
    :math:`\\tfrac12\\sum_i h_i\\Phi_i^2` averaged over chains), ``step`` ``(K, T, d)``
    (:math:`|\\Delta\\Phi_t|` averaged over chains) and ``first_step`` ``(K, chains, d)``
    (the signed :math:`\\Delta\\Phi_1`). Raises ``ValueError`` out of range.
    """
    lr = _checks.nonnegative("lr", lr)
    N_g = _checks.real_in("N_g", N_g, 1.0)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    eps = _checks.nonnegative("eps", eps)
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 3:
        raise ValueError("z must have shape (T, chains, d)")
    T, C, d = z.shape
    h = np.broadcast_to(_array("h", h, 0.0, low_open=False), (d,))
    sd = np.broadcast_to(_array("noise_sd", noise_sd, 0.0, low_open=False), (d,))
    K = len(corrections)
    wg = np.array([[running_average_weight(t, N_g, c) for t in range(1, T + 1)] for c in corrections])
    ws = np.array([[running_average_weight(t, N_s, c) for t in range(1, T + 1)] for c in corrections])
    Phi = np.broadcast_to(np.asarray(Phi0, dtype=np.float64), (K, C, d)).copy()
    mu = np.zeros_like(Phi)
    s = np.zeros_like(Phi)
    loss = np.empty((K, T + 1))
    step = np.empty((K, T, d))
    loss[:, 0] = 0.5 * (h * Phi * Phi).sum(-1).mean(-1)
    first = None
    for t in range(T):
        g = h * Phi - sd * z[t]
        mu += wg[:, t, None, None] * (g - mu)
        s += ws[:, t, None, None] * (g * g - s)
        den = np.sqrt(s) + eps
        delta = -lr * np.divide(mu, den, out=np.zeros_like(mu), where=den > 0)
        Phi += delta
        if t == 0:
            first = delta.copy()
        step[:, t] = np.abs(delta).mean(1)
        loss[:, t + 1] = 0.5 * (h * Phi * Phi).sum(-1).mean(-1)
    return {"loss": loss, "step": step, "first_step": first}


def nqm_run(problem, make_optimizer, Phi0, steps: int, chains: int, batch_size: int,
            generator: torch.Generator, *, record_steps: bool = False) -> dict:
    """Run a :mod:`lab.optim` optimizer on ``chains`` independent copies of a noisy quadratic.

    ``problem``: a :class:`lab.problems.NoisyQuadratic`; ``make_optimizer(params)`` returns
    the optimizer; ``Phi0``: the start (length d, or a scalar). All chains live in one
    parameter of shape ``(chains, d)`` (the lecture's optimizers act coordinate-wise, so
    chains do not interact). Each step sets ``grad`` to :meth:`lab.problems.NoisyQuadratic.stochastic_gradient`.
    Returns ``loss`` (numpy, ``(steps + 1,)``: the population loss averaged over chains),
    ``loss_se`` (its standard error over chains), ``final`` (the last Φ, ``(chains, d)``)
    and, with ``record_steps``, ``step_size`` (mean over chains of :math:`|\\Delta\\Phi_t|`,
    ``(steps, d)``).
    """
    T = _checks.integer_at_least("steps", steps, 1)
    C = _checks.integer_at_least("chains", chains, 1)
    dev = generator.device
    Phi = torch.zeros((C, problem.dim), dtype=problem.h.dtype, device=dev)
    Phi += torch.as_tensor(Phi0, dtype=problem.h.dtype, device=dev)
    Phi.requires_grad_(True)
    opt = make_optimizer([Phi])
    losses = [problem.population_loss(Phi.detach())]
    steps_taken = []
    for _ in range(T):
        before = Phi.detach().clone() if record_steps else None
        Phi.grad = problem.stochastic_gradient(Phi.detach(), batch_size, generator)
        opt.step()
        losses.append(problem.population_loss(Phi.detach()))
        if record_steps:
            steps_taken.append((Phi.detach() - before).abs().mean(0))
    L = torch.stack(losses).cpu().numpy()
    out = {"loss": L.mean(1), "loss_se": L.std(1, ddof=1) / math.sqrt(C) if C > 1
           else np.zeros(T + 1), "final": Phi.detach().cpu().numpy()}
    if record_steps:
        out["step_size"] = torch.stack(steps_taken).cpu().numpy()
    return out


# --------------------------------------------------------------------------------------
# Many configurations trained at once on the digits
# --------------------------------------------------------------------------------------

_OPTIMIZERS = {"SGD": optim.SGD, "Momentum": optim.Momentum,
               "AveragedMomentum": optim.AveragedMomentum, "RMSProp": optim.RMSProp,
               "Adam": optim.Adam}


def digits_sweep(configs, data, *, steps: int, batch_size: int, hidden: int = 0,
                 seed: int = 0, average_last: int = 50, diverge_loss: float = 20.0,
                 device="cpu") -> dict:
    """Train one copy of a small digits model per configuration, all at once.

    ``configs``: a list of dicts, each ``{"optimizer": name, **hyperparameters}`` with
    name one of ``SGD, Momentum, AveragedMomentum, RMSProp, Adam`` (:mod:`lab.optim`).
    Every copy starts from the same weights (``lab.train.make_model(hidden)`` seeded
    with ``seed``) and sees the same batches of ``batch_size`` training examples (drawn
    with replacement, seed ``seed``), so differences between copies come from the
    hyperparameters alone. The copies' forward passes run as one batched computation;
    each copy's parameters form one param group of a :mod:`lab.optim` optimizer.

    A copy whose batch loss exceeds ``diverge_loss`` or becomes non-finite is marked
    diverged and frozen. Returns numpy arrays over configurations: ``final_loss`` (full
    training loss averaged over evaluations in the last ``average_last`` steps, every 10
    steps; inf if diverged), ``test_accuracy`` (at the end), ``diverged``, and ``curve``
    (full training loss every 10 steps, shape ``(C, steps // 10 + 1)``, NaN once
    diverged) with ``curve_steps``. Raises ``ValueError`` for an unknown optimizer or bad
    counts.
    """
    from lab import train as _train

    T = _checks.integer_at_least("steps", steps, 1)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    last = _checks.integer_at_least("average_last", average_last, 1)
    configs = [dict(c) for c in configs]
    if not configs:
        raise ValueError("configs must not be empty")
    for c in configs:
        if c.get("optimizer") not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {tuple(_OPTIMIZERS)}, got {c.get('optimizer')!r}")
    C = len(configs)
    dev = torch.device(device)
    base = _train.make_model(hidden, generator=torch.Generator().manual_seed(seed),
                             dtype=torch.float32)
    layers = [m for m in base if isinstance(m, torch.nn.Linear)]
    # per config: [W1, b1, (W2, b2)], weights stored as (in, out) for einsum
    params = [[t for lin in layers for t in (lin.weight.detach().T.contiguous().to(dev).requires_grad_(),
                                              lin.bias.detach().clone().to(dev).requires_grad_())]
              for _ in range(C)]
    by_name: dict[str, list] = {}
    for c, ps in zip(configs, params):
        hyper = {k: v for k, v in c.items() if k != "optimizer"}
        by_name.setdefault(c["optimizer"], []).append({"params": ps, **hyper})
    optimizers = []
    for name, groups in by_name.items():
        opt = _OPTIMIZERS[name](groups[0]["params"], **{k: v for k, v in groups[0].items()
                                                         if k != "params"})
        for g in groups[1:]:
            opt.add_param_group(g)
        optimizers.append(opt)

    def forward(X):
        stacked = [torch.stack([p[k] for p in params]) for k in range(len(params[0]))]
        out = torch.einsum("bi,cio->cbo", X, stacked[0]) + stacked[1][:, None, :]
        if hidden:
            out = torch.einsum("cbi,cio->cbo", torch.relu(out), stacked[2]) + stacked[3][:, None, :]
        return out

    Xtr, ytr = data.X_train.to(dev), data.y_train.to(dev)
    gen = torch.Generator().manual_seed(seed)
    alive = torch.ones(C, dtype=torch.bool)
    curve, curve_steps = [], []

    @torch.no_grad()
    def evaluate(t):
        logits = forward(Xtr)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 10), ytr.repeat(C), reduction="none").reshape(C, -1).mean(1)
        loss = torch.where(alive, loss, torch.full_like(loss, float("nan")))
        curve.append(loss.cpu().numpy())
        curve_steps.append(t)

    evaluate(0)
    for t in range(1, T + 1):
        idx = torch.randint(Xtr.shape[0], (B,), generator=gen).to(dev)
        logits = forward(Xtr[idx])
        per = torch.nn.functional.cross_entropy(
            logits.reshape(-1, 10), ytr[idx].repeat(C), reduction="none").reshape(C, B).mean(1)
        bad = ~torch.isfinite(per.detach()).cpu() | (per.detach().cpu() > diverge_loss)
        alive &= ~bad
        total = per[alive.to(dev)].sum()
        for ps in params:
            for p in ps:
                p.grad = None
        if alive.any():
            total.backward()
        for c in torch.nonzero(~alive).flatten().tolist():
            for p in params[c]:
                p.grad = None
        for opt in optimizers:
            opt.step()
        if t % 10 == 0 or t == T:
            evaluate(t)
    curve = np.stack(curve, axis=1)
    curve_steps = np.asarray(curve_steps)
    window = curve_steps >= T - last
    final = curve[:, window].mean(1)
    diverged = (~alive).numpy()
    final = np.where(diverged, np.inf, final)
    with torch.no_grad():
        logits = forward(data.X_test.to(dev))
        acc = (logits.argmax(-1) == data.y_test.to(dev)).float().mean(1).cpu().numpy()
    return {"final_loss": final, "test_accuracy": np.where(diverged, np.nan, acc),
            "diverged": diverged, "curve": curve, "curve_steps": curve_steps}


def best_per_row(values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a table ``values[i, j]`` (row i, grid value ``grid[j]``): the argmin grid value and min per row.

    Non-finite entries (diverged runs) never win. Raises ``ValueError`` if a row has no
    finite entry or the shapes disagree.
    """
    values = np.asarray(values, dtype=np.float64)
    grid = np.asarray(grid, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != grid.shape[-1]:
        raise ValueError("values must have shape (rows, len(grid))")
    finite = np.isfinite(values)
    if not finite.any(1).all():
        raise ValueError("a row has no finite entry: every run diverged")
    v = np.where(finite, values, np.inf)
    j = v.argmin(1)
    g = grid[j] if grid.ndim == 1 else grid[np.arange(len(j)), j]
    return g, v[np.arange(len(j)), j]
