"""Chapter 7, Adam, analysed: the step on a constant gradient, the settled step, and a
fast run of all three bias corrections side by side.

- :func:`adam_constant_gradient_step`: :math:`|\\Delta\\Phi_t|/\\eta` for each bias
  correction when every gradient is the same (closed form);
- :func:`adam_stationary_step`: the mean step once both averages have settled,
  :math:`\\eta g/\\sqrt{g^2 + \\sigma^2/B}`;
- :func:`adam_nqm`: Adam on the noisy quadratic, the three corrections in one numpy
  loop driven by the same noise: the explorer's fast twin of :class:`lab.optim.Adam`
  run by :func:`lab.simulate.run_nqm` (the tests check that the two agree).
"""

from __future__ import annotations

import numpy as np

from lab import _checks
from lab.running_averages import running_average_weight

__all__ = [
    "adam_constant_gradient_step",
    "adam_stationary_step",
    "adam_nqm",
]


def adam_constant_gradient_step(
    t, N_g: float, N_s: float, bias_correction: str = "none"
):
    """The Adam step :math:`|\\Delta\\Phi_t|/\\eta` when every gradient equals the same
    :math:`g \\ne 0` (:math:`\\epsilon = 0`).

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
        raise ValueError(
            "bias_correction must be one of ('min', 'adam', 'none'), "
            f"got {bias_correction!r}"
        )
    t = t.astype(np.float64)
    num = -np.expm1(t * np.log1p(-1.0 / N_g)) if N_g > 1 else np.ones_like(t)
    den = -np.expm1(t * np.log1p(-1.0 / N_s)) if N_s > 1 else np.ones_like(t)
    return num / np.sqrt(den)


def adam_stationary_step(lr, g, noise_variance, eps: float = 0.0):
    """The mean Adam step once both averages have settled:
    :math:`\\eta\\, g/(\\sqrt{g^2 + \\sigma^2/B} + \\epsilon)`.

    :math:`\\mu_t \\approx g` and :math:`s_t \\approx \\E\\hat g^2 = g^2 + \\sigma^2/B`
    (``noise_variance`` is :math:`\\sigma^2/B`). High signal-to-noise
    (:math:`|g| \\gg \\sigma/\\sqrt B`): :math:`\\approx \\eta\\,\\mathrm{sign}\\,g`; noise
    dominated: :math:`\\approx \\eta\\, g\\sqrt B/\\sigma`. Arguments broadcast; raises
    ``ValueError`` for ``lr < 0``, a negative variance or ``eps < 0``.
    """
    lr = _checks.real_array("lr", lr, 0.0, low_open=False)
    g = np.asarray(g, dtype=np.float64)
    s = _checks.real_array("noise_variance", noise_variance, 0.0, low_open=False)
    eps = _checks.nonnegative("eps", eps)
    den = np.sqrt(g * g + s) + eps
    return lr * np.divide(
        g, den, out=np.zeros(np.broadcast(g, den).shape), where=den > 0
    )


def adam_nqm(
    h,
    noise_sd,
    phi0,
    z,
    lr: float,
    N_g: float,
    N_s: float,
    eps: float,
    corrections=("min", "adam", "none"),
) -> dict:
    """Adam on the noisy quadratic model, one run per bias correction, driven by given noise.

    ``h`` (curvatures, :math:`\\ge 0`; 0 gives a gradient that does not depend on
    :math:`\\Phi`), ``noise_sd`` (:math:`\\sigma_i/\\sqrt B`) and ``phi0``: length-d arrays
    (or scalars); ``z``: standard normal draws of shape ``(T, chains, d)``. The gradient
    at step t is :math:`\\hat g_t = h\\Phi_t - \\sigma z_t` (the distribution of
    :meth:`lab.problems.NoisyQuadratic.stochastic_gradient`), and every correction sees
    the same draws. The update is :func:`lab.optim.adam_update` with the weights of
    :func:`lab.running_averages.running_average_weight`, vectorised over the corrections in numpy
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
    h = np.broadcast_to(_checks.real_array("h", h, 0.0, low_open=False), (d,))
    sd = np.broadcast_to(
        _checks.real_array("noise_sd", noise_sd, 0.0, low_open=False), (d,)
    )
    K = len(corrections)
    wg = np.array(
        [
            [running_average_weight(t, N_g, c) for t in range(1, T + 1)]
            for c in corrections
        ]
    )
    ws = np.array(
        [
            [running_average_weight(t, N_s, c) for t in range(1, T + 1)]
            for c in corrections
        ]
    )
    Phi = np.broadcast_to(np.asarray(phi0, dtype=np.float64), (K, C, d)).copy()
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
