"""Chapter 6, momentum, analysed: closed forms and exact moment recursions.

The lecture's momentum is

.. math::

    v_t = (1 - \\tfrac1N)\\, v_{t-1} + \\eta\\, \\hat g_t, \\qquad \\Phi_{t+1} = \\Phi_t - v_t ,

and, with :math:`\\mu_t` the running average of :math:`\\hat g` and :math:`\\eta' = N\\eta`,
:math:`\\Phi_{t+1} = \\Phi_t - \\eta'\\mu_t`. On one coordinate of a quadratic with
curvature :math:`h` the error :math:`\\delta_t = \\Phi_t - \\Phi^*` and the velocity form a
linear system, so everything about it has a closed form:

- :func:`momentum_trajectory`: the noise-free path :math:`\\Phi_t` of momentum on a
  quadratic, for many :math:`(\\eta, N)` at once (the chapter's ravine);
- :func:`heavy_ball_matrix`, :func:`heavy_ball_rate`: the 2×2 iteration matrix and its
  spectral radius (the per-step contraction factor of the error);
- :func:`optimal_heavy_ball`: Polyak's optimal :math:`\\eta, N` for curvatures in
  :math:`[h_{\\min}, h_{\\max}]`, checked in sympy by
  :func:`lab.derivations.heavy_ball_tuning`;
- :func:`momentum_nqm_loss`: the exact expected loss :math:`\\E f(\\Phi_t)` of momentum on
  the noisy quadratic model (:class:`lab.problems.NoisyQuadratic`), for a whole grid of
  :math:`(\\eta, N)` at once;
- :func:`momentum_stationary_variance`: the noise floor, in closed form.

Monte Carlo runs of :class:`lab.optim.Momentum` are :func:`lab.simulate.run_nqm`'s; on
the digits, :func:`lab.train.digits_sweep`'s.
"""

from __future__ import annotations

import math

import numpy as np

from lab import _checks

__all__ = [
    "momentum_trajectory",
    "heavy_ball_matrix",
    "heavy_ball_rate",
    "optimal_heavy_ball",
    "momentum_nqm_loss",
    "momentum_stationary_variance",
]


# --------------------------------------------------------------------------------------
# Heavy ball on a quadratic: paths and closed forms
# --------------------------------------------------------------------------------------


def momentum_trajectory(lr, N, h, phi0, steps: int) -> np.ndarray:
    """The path :math:`\\Phi_0, \\dots, \\Phi_S` of momentum on the quadratic
    :math:`f(\\Phi) = \\tfrac12\\sum_i h_i\\Phi_i^2` (optimum :math:`\\Phi^* = 0`), no noise.

    .. math::

        v_t = \\Big(1 - \\frac1N\\Big) v_{t-1} + \\eta\\, h \\odot \\Phi_t, \\qquad
        \\Phi_{t+1} = \\Phi_t - v_t, \\qquad v_0 = 0 .

    ``N = 1`` is plain gradient descent; averaged momentum
    (:math:`\\Phi \\mathrel{-}= \\eta'\\mu_t`) is the same path with :math:`\\eta = \\eta'/N`.
    ``lr`` (:math:`\\eta \\ge 0`) and ``N`` (:math:`\\ge 1`) broadcast against each other
    (configurations, shape ``C``); ``h`` (curvatures, :math:`> 0`) and ``phi0`` (the start,
    a scalar or one value per coordinate) have ``d`` entries; ``steps`` is
    :math:`S \\ge 1`. Returns an array of shape ``(*C, S + 1, d)``. Raises ``ValueError``
    out of range, for ``steps`` over 10⁷ or a path of more than 10⁸ numbers, and for a
    path that overflows.
    """
    S = _checks.steps("steps", steps)
    lr = _checks.real_array("lr", lr, 0.0, low_open=False)
    N = _checks.real_array("N", N, 1.0, low_open=False)
    lr, N = np.broadcast_arrays(lr, N)
    h = _checks.real_array("h", h, 0.0, low_open=True).reshape(-1)
    phi0 = _checks.real_array("phi0", phi0)
    if phi0.ndim > 1 or phi0.size not in (1, h.size):
        raise ValueError(
            f"phi0 must be a scalar or have one entry per curvature ({h.size}), "
            f"got shape {phi0.shape}"
        )
    _checks.work("configurations × (steps + 1) × d", lr.size * (S + 1) * h.size)
    eta, beta = lr[..., None], (1.0 - 1.0 / N)[..., None]
    phi = np.broadcast_to(phi0, lr.shape + h.shape).astype(np.float64)
    v = np.zeros_like(phi)
    path = np.empty(lr.shape + (S + 1,) + h.shape)
    path[..., 0, :] = phi
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, S + 1):
            v = beta * v + eta * h * phi
            phi = phi - v
            path[..., t, :] = phi
    return _checks.finite_result(
        path, "lr, N, h, phi0", "the path overflows (momentum diverges): lower lr"
    )


def heavy_ball_matrix(lr, N, h) -> np.ndarray:
    """The iteration matrix :math:`A` of momentum on one coordinate of curvature :math:`h`.

    With :math:`\\beta = 1 - 1/N` and the state :math:`x_t = (\\delta_t, v_{t-1})`,
    :math:`v_t = \\beta v_{t-1} + \\eta(h\\delta_t + \\xi_t)` and
    :math:`\\delta_{t+1} = \\delta_t - v_t` give :math:`x_{t+1} = A x_t + (-\\eta, \\eta)\\,\\xi_t`,

    .. math:: A = \\begin{pmatrix} 1 - \\eta h & -\\beta \\\\ \\eta h & \\beta \\end{pmatrix}.

    ``lr`` (:math:`\\eta \\ge 0`), ``N`` (:math:`\\ge 1`) and ``h`` (:math:`> 0`) broadcast;
    the result has shape ``(*broadcast, 2, 2)``. Raises ``ValueError`` out of range.
    """
    lr = _checks.real_array("lr", lr, 0.0, low_open=False)
    N = _checks.real_array("N", N, 1.0, low_open=False)
    h = _checks.real_array("h", h, 0.0, low_open=True)
    lr, N, h = _checks.broadcast(lr=lr, N=N, h=h)
    beta = 1.0 - 1.0 / N
    A = np.empty(lr.shape + (2, 2))
    A[..., 0, 0] = 1.0 - lr * h
    A[..., 0, 1] = -beta
    A[..., 1, 0] = lr * h
    A[..., 1, 1] = beta
    return A


def heavy_ball_rate(lr, N, h) -> np.ndarray:
    """The spectral radius :math:`\\rho` of :func:`heavy_ball_matrix`: the error shrinks
    like :math:`\\rho^t`.

    The eigenvalues solve :math:`\\lambda^2 - a\\lambda + \\beta = 0` with
    :math:`a = 1 + \\beta - \\eta h`, :math:`\\beta = 1 - 1/N`. If :math:`a^2 < 4\\beta` they
    are complex with :math:`|\\lambda| = \\sqrt\\beta` (the ball oscillates); otherwise
    :math:`\\rho = (|a| + \\sqrt{a^2 - 4\\beta})/2`. Momentum converges iff
    :math:`\\rho < 1`, that is :math:`0 < \\eta h < 2(1 + \\beta)`. For :math:`N = 1`,
    :math:`\\rho = |1 - \\eta h|`, plain gradient descent. Arguments broadcast (numpy);
    raises ``ValueError`` for ``lr < 0``, ``N < 1`` or ``h <= 0``.
    """
    lr = _checks.real_array("lr", lr, 0.0, low_open=False)
    N = _checks.real_array("N", N, 1.0, low_open=False)
    h = _checks.real_array("h", h, 0.0, low_open=True)
    lr, N, h = _checks.broadcast(lr=lr, N=N, h=h)
    beta = 1.0 - 1.0 / N
    a = 1.0 + beta - lr * h
    disc = a * a - 4.0 * beta
    real = (np.abs(a) + np.sqrt(np.maximum(disc, 0.0))) / 2.0
    out = np.where(disc < 0, np.sqrt(beta) + 0.0 * a, real)
    return _checks.finite_result(out, "lr, h")


def optimal_heavy_ball(h_min: float, h_max: float) -> dict:
    """Polyak's optimal momentum for curvatures in :math:`[h_{\\min}, h_{\\max}]`,
    :math:`\\kappa = h_{\\max}/h_{\\min}`.

    .. math::

        \\eta^* = \\frac{4}{(\\sqrt{h_{\\max}} + \\sqrt{h_{\\min}})^2}, \\quad
        \\beta^* = \\Big(\\frac{\\sqrt\\kappa - 1}{\\sqrt\\kappa + 1}\\Big)^2, \\quad
        N^* = \\frac{1}{1-\\beta^*}, \\quad
        \\eta'^* = N^*\\eta^* = \\frac{1}{\\sqrt{h_{\\min}h_{\\max}}},

    with rate :math:`\\rho^* = (\\sqrt\\kappa - 1)/(\\sqrt\\kappa + 1)` at every curvature in the
    interval; plain gradient descent's best is :math:`\\eta = 2/(h_{\\min} + h_{\\max})`,
    rate :math:`(\\kappa - 1)/(\\kappa + 1)`. Returns a dict with keys ``lr``, ``N``,
    ``lr_prime``, ``beta``, ``rate``, ``sgd_lr``, ``sgd_rate``, ``kappa``. Raises
    ``ValueError`` unless :math:`0 < h_{\\min} \\le h_{\\max}`, and where
    :math:`\\kappa` is too large for floats (:math:`\\beta^*` rounds to 1).
    """
    h_min = _checks.positive("h_min", h_min)
    h_max = _checks.positive("h_max", h_max)
    if h_max < h_min:
        raise ValueError(f"h_max must be >= h_min = {h_min}, got {h_max!r}")
    kappa = h_max / h_min
    sk = math.sqrt(kappa)
    rate = (sk - 1) / (sk + 1)
    beta = rate * rate
    if not math.isfinite(kappa) or beta == 1.0:
        raise ValueError(
            f"h_min, h_max: kappa = h_max/h_min = {kappa:g} is too large for float64 "
            "(the optimal beta rounds to 1)"
        )
    lr = 4.0 / (math.sqrt(h_max) + math.sqrt(h_min)) ** 2
    N = 1.0 / (1.0 - beta)
    return {
        "lr": lr,
        "N": N,
        "lr_prime": N * lr,
        "beta": beta,
        "rate": rate,
        "sgd_lr": 2.0 / (h_min + h_max),
        "sgd_rate": (kappa - 1) / (kappa + 1),
        "kappa": kappa,
    }


# --------------------------------------------------------------------------------------
# Exact moments of momentum on the noisy quadratic model
# --------------------------------------------------------------------------------------

_CAP = 1e30  # second moments past this have diverged; capping keeps arrays finite


def momentum_nqm_loss(
    lr, N, h, noise_variance, phi0, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact :math:`\\E f(\\Phi_t)` for momentum on the noisy quadratic model, :math:`t = 0..T`.

    Per coordinate :math:`i` (curvature :math:`h_i`, gradient noise variance
    :math:`s_i = \\sigma_i^2/B`), the second moments :math:`M_t = \\E x_t x_t^\\top` of
    :math:`x_t = (\\delta_t, v_{t-1})` obey :math:`M_{t+1} = A M_t A^\\top + s_i\\, b b^\\top`
    with :math:`A` from :func:`heavy_ball_matrix`, :math:`b = (-\\eta, \\eta)`,
    :math:`M_0 = \\mathrm{diag}(\\Phi_{0,i}^2, 0)`; then
    :math:`\\E f(\\Phi_t) = \\tfrac12\\sum_i h_i\\,(M_t)_{11}`.

    ``lr`` and ``N`` broadcast against each other (a grid of configurations, shape ``C``);
    ``h``, ``noise_variance`` and ``phi0`` are per-coordinate arrays of length d
    (``noise_variance`` and ``phi0`` may be scalars). Returns ``(loss, diverged)``:
    ``loss`` of shape ``(*C, T + 1)`` and a boolean array of shape ``C``, True where a
    second moment exceeded 1e30 (the loss is then capped there, so arrays stay finite).
    Raises ``ValueError`` for ``lr < 0``, ``N < 1``, ``h <= 0``, a negative noise variance,
    ``steps`` outside [1, 10⁷], configurations × steps × d over 10⁹, or inputs so large
    that even one step overflows the floats (the cap cannot hold it).
    """
    T = _checks.steps("steps", steps)
    lr = _checks.real_array("lr", lr, 0.0, low_open=False)
    N = _checks.real_array("N", N, 1.0, low_open=False)
    lr, N = _checks.broadcast(lr=lr, N=N)
    h = _checks.real_array("h", h, 0.0, low_open=True).reshape(-1)
    if h.size == 0:
        raise ValueError("h must hold at least one curvature (d >= 1)")
    s = _checks.real_array("noise_variance", noise_variance, 0.0, low_open=False)
    phi0 = _checks.array("phi0", phi0)
    for name, v in (("noise_variance", s), ("phi0", phi0)):
        if v.ndim > 1 or v.size not in (1, h.size):
            raise ValueError(f"{name} must be a number or hold d = {h.size} numbers")
    s, phi0 = np.broadcast_to(s.reshape(-1), h.shape), np.broadcast_to(phi0, h.shape)
    _checks.work("configurations × steps × d", lr.size * T * h.size)
    e = lr[..., None]
    beta = (1.0 - 1.0 / N)[..., None]
    a11, a12, a21, a22 = 1.0 - e * h, -beta + 0 * h, e * h, beta + 0 * h
    q = e * e * s  # b b^T s = eta^2 s [[1, -1], [-1, 1]]
    m11 = np.broadcast_to(phi0 * phi0, a11.shape).copy()
    m12 = np.zeros_like(m11)
    m22 = np.zeros_like(m11)
    out = np.empty(lr.shape + (T + 1,))
    with np.errstate(over="ignore", invalid="ignore"):
        out[..., 0] = 0.5 * (h * m11).sum(-1)
        for t in range(1, T + 1):
            n11 = a11 * a11 * m11 + 2 * a11 * a12 * m12 + a12 * a12 * m22 + q
            n12 = a11 * a21 * m11 + (a11 * a22 + a12 * a21) * m12 + a12 * a22 * m22 - q
            n22 = a21 * a21 * m11 + 2 * a21 * a22 * m12 + a22 * a22 * m22 + q
            m11 = np.minimum(n11, _CAP)
            m22 = np.minimum(n22, _CAP)
            m12 = np.clip(n12, -_CAP, _CAP)
            out[..., t] = 0.5 * (h * m11).sum(-1)
    _checks.finite_result(
        out, "lr, h, noise_variance, phi0", "a step overflows float64 (past the cap)"
    )
    diverged = (out >= 0.5 * _CAP * h.min()).any(-1)
    return out, diverged


def momentum_stationary_variance(lr, N, h, noise_variance):
    """:math:`\\lim_t \\Var\\,\\delta_t` for momentum on one coordinate (the noise floor).

    .. math:: \\Var_\\infty = \\frac{\\eta s\\,(1+\\beta)}{h\\,(1-\\beta)\\,(2(1+\\beta) - \\eta h)}
              = \\frac{\\eta' s}{h\\,\\big(2 - \\eta' h/(2N-1)\\big)},

    :math:`\\beta = 1-1/N`, :math:`\\eta' = N\\eta`, :math:`s = \\sigma^2/B`
    (:func:`lab.derivations.stationary_variance` derives it). To first order it is
    :math:`N\\eta s/(2h) = \\eta' s/(2h)`: at fixed :math:`\\eta'` momentum leaves the
    noise floor alone; at fixed :math:`\\eta` it multiplies it by :math:`N`. Arguments
    broadcast; raises ``ValueError`` out of range or where momentum is unstable
    (:math:`\\eta h \\ge 2(1+\\beta)`).
    """
    lr = _checks.real_array("lr", lr, 0.0, low_open=True)
    N = _checks.real_array("N", N, 1.0, low_open=False)
    h = _checks.real_array("h", h, 0.0, low_open=True)
    s = _checks.real_array("noise_variance", noise_variance, 0.0, low_open=False)
    lr, N, h, s = _checks.broadcast(lr=lr, N=N, h=h, noise_variance=s)
    beta = 1.0 - 1.0 / N
    if np.any(lr * h >= 2 * (1 + beta)):
        raise ValueError(
            "lr is too large: momentum is unstable where lr*h >= 2(2 - 1/N)"
        )
    out = lr * s * (1 + beta) / (h * (1 - beta) * (2 * (1 + beta) - lr * h))
    return _checks.finite_result(out, "lr, N, h, noise_variance")
