"""Chapter 7, Adam, analysed: the step on a constant gradient, the settled step, and a
fast run of all three bias corrections side by side.

- :func:`adam_constant_gradient_step`: :math:`|\\Delta\\Phi_t|/\\eta` for each bias
  correction when every gradient is the same (closed form);
- :func:`adam_stationary_step`: the mean step once both averages have settled,
  :math:`\\eta g/\\sqrt{g^2 + \\sigma^2/B}`;
- :func:`memory_weights`: the weight each past value carries in a running average
  under each schedule (why ``"min"`` keeps the first gradients in :math:`s` longer than
  ``"adam"``);
- :func:`record_adam_state`: an ``observe`` hook for :func:`lab.simulate.run_nqm` that
  records, besides the loss, :math:`s` and the step of a :class:`lab.optim.Adam` run;
- :func:`adam_nqm`: Adam on the noisy quadratic, the three corrections in one numpy
  loop driven by the same noise: the explorer's fast twin of :class:`lab.optim.Adam`
  run by :func:`lab.simulate.run_nqm` (the tests check that the two agree).
"""

from __future__ import annotations

import numpy as np
import torch

from lab import _checks
from lab.running_averages import running_average_weight

__all__ = [
    "adam_constant_gradient_step",
    "adam_stationary_step",
    "memory_weights",
    "record_adam_state",
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
    bias_correction = _checks.choice(
        "bias_correction", bias_correction, ("min", "adam", "none")
    )
    t = _checks.array("t", t, 1.0)
    if np.any(t != np.round(t)):
        raise ValueError(f"t must be an integer (array) >= 1, got {t!r:.80}")
    if bias_correction in ("min", "adam"):
        return np.ones(t.shape)
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
    g = _checks.real_array("g", g)
    s = _checks.real_array("noise_variance", noise_variance, 0.0, low_open=False)
    eps = _checks.nonnegative("eps", eps)
    lr, g, s = _checks.broadcast(lr=lr, g=g, noise_variance=s)
    # scaled by max |g|, √s so that g² cannot overflow: g/√(g² + s) is scale-free
    scale = np.maximum(np.abs(g), np.sqrt(s))
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt((g / scale) ** 2 + s / scale**2) + eps / scale
        out = lr * np.divide(g / scale, den, out=np.zeros(g.shape), where=scale > 0)
    return _checks.finite_result(out, "lr, g")


def memory_weights(t: int, N: float, bias_correction: str = "none") -> np.ndarray:
    """The weights :math:`c_{t,k}` of :math:`x_1, \\dots, x_t` in the running average
    :math:`\\hat\\mu_t = (1-w_t)\\hat\\mu_{t-1} + w_t x_t` (:math:`\\hat\\mu_0 = 0`), so that
    :math:`\\hat\\mu_t = \\sum_k c_{t,k}\\, x_k`:

    .. math:: c_{t,k} = w_k \\prod_{j=k+1}^{t} (1 - w_j),

    with :math:`w_j` from :func:`lab.running_averages.running_average_weight`.
    ``"min"``: :math:`1/t` for every :math:`k` while :math:`t \\le N` (the plain mean);
    ``"adam"``: :math:`(1-\\beta)\\beta^{t-k}/(1-\\beta^t)`, :math:`\\beta = 1-1/N`; both
    sum to 1. ``"none"``: :math:`\\beta^{t-k}/N`, summing to :math:`1-\\beta^t`. Returns a
    float64 array of length ``t`` (index ``k - 1``). Raises ``ValueError`` for
    ``t`` outside [1, 10⁶], ``N < 1`` or an unknown correction.
    """
    t = _checks.integer_at_least("t", t, 1, 10**6)
    _checks.choice("bias_correction", bias_correction, ("min", "adam", "none"))
    w = np.array(
        [running_average_weight(k, N, bias_correction) for k in range(1, t + 1)]
    )
    # prod_{j>k} (1 - w_j), as a reversed cumulative product; 1 for k = t
    keep = np.append(np.cumprod((1.0 - w[1:])[::-1])[::-1], 1.0)
    return w * keep


def record_adam_state(problem):
    """An ``observe`` hook for :func:`lab.simulate.run_nqm` with a :class:`lab.optim.Adam`
    over one parameter of shape (chains, d): at every step t (0 before the first), the
    loss of every chain, ``loss`` (chains,), and per coordinate, over chains, the mean
    of :math:`s_t`, ``s`` (d,), its standard error, ``s_se`` (d,), and the mean step
    size :math:`|\\Delta\\Phi_t|/\\eta = |\\mu_t|/(\\sqrt{s_t} + \\epsilon)`, ``step`` (d,).

    Before the first step (empty state) ``s``, ``s_se`` and ``step`` are 0. Raises
    ``ValueError`` at a step whose optimizer is not a single-group Adam.
    """

    from lab.optim import Adam

    def observe(t, p, optimizer):
        groups = optimizer.param_groups
        if not isinstance(optimizer, Adam) or len(groups) != 1:
            raise ValueError("optimizer must be a lab.optim.Adam with one param group")
        state = optimizer.state[p]
        zero = torch.zeros_like(p.detach())
        s, mu = state.get("s", zero), state.get("mu", zero)
        chains = s.shape[0]
        step = (mu.abs() / (s.sqrt() + groups[0]["eps"])).mean(0)
        se = s.std(0) / chains**0.5 if chains > 1 else torch.zeros_like(s[0])
        return {
            "loss": problem.population_loss(p.detach()),
            "s": s.mean(0),
            "s_se": se,
            "step": step,
        }

    return observe


def _per_coordinate(name, value, d):
    if value.ndim > 1 or value.size not in (1, d):
        raise ValueError(
            f"{name} must be a number or hold d = {d} numbers (the last axis of z), "
            f"got shape {value.shape}"
        )
    return np.broadcast_to(value.reshape(-1), (d,))


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
    :math:`\\tfrac12\\sum_i h_i\\Phi_i^2` averaged over chains), ``loss_chains``
    ``(K, T + 1, chains)`` (the same, per chain), ``step`` ``(K, T, d)``
    (:math:`|\\Delta\\Phi_t|` averaged over chains), ``first_step`` ``(K, chains, d)``
    (the signed :math:`\\Delta\\Phi_1`) and the state after step T, ``Phi``, ``mu`` and
    ``s``, each ``(K, chains, d)``. Raises ``ValueError`` out of range, for ``z`` of
    more than 10⁷ numbers (T × chains × d), and for a run that overflows.
    """
    lr = _checks.nonnegative("lr", lr)
    N_g = _checks.real_in("N_g", N_g, 1.0)
    N_s = _checks.real_in("N_s", N_s, 1.0)
    eps = _checks.nonnegative("eps", eps)
    z = _checks.array("z", z, ndim=3, max_size=10**7)
    T, C, d = z.shape
    if C == 0 or d == 0:
        raise ValueError(
            f"z must have at least one chain and coordinate, got {z.shape}"
        )
    corrections = tuple(
        _checks.choice("corrections", c, ("min", "adam", "none"))
        for c in _checks.instance("corrections", corrections, (tuple, list), "a tuple")
    )
    if not corrections:
        raise ValueError("corrections must name at least one bias correction")
    h = _per_coordinate("h", _checks.real_array("h", h, 0.0, low_open=False), d)
    sd = _per_coordinate(
        "noise_sd", _checks.real_array("noise_sd", noise_sd, 0.0, low_open=False), d
    )
    phi0 = _per_coordinate("phi0", _checks.array("phi0", phi0), d)
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
    loss_chains = np.empty((K, T + 1, C))
    step = np.empty((K, T, d))
    loss_chains[:, 0] = 0.5 * (h * Phi * Phi).sum(-1)
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
        loss_chains[:, t + 1] = 0.5 * (h * Phi * Phi).sum(-1)
    out = {
        "loss": loss_chains.mean(-1),
        "loss_chains": loss_chains,
        "step": step,
        "first_step": first,
        "Phi": Phi,
        "mu": mu,
        "s": s,
    }
    for value in out.values():
        if value is not None:  # first_step is None for T = 0
            _checks.finite_result(value, "phi0, lr, h, noise_sd", "the run overflowed")
    return out
