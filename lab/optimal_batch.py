"""Chapter 10, the optimal batch size B* and learning rate η*, and the SNR algorithm
built on them.

Closed forms (numpy, broadcasting), in the lecture's one-dimensional notation:

- the lecture's *guarantee*: with :math:`|g - \\hat g| \\le 2\\hat\\sigma/\\sqrt B` and
  loss'' :math:`\\le L`, a step :math:`\\Phi \\mathrel{-}= \\eta\\hat g` lowers the loss by at
  least :math:`\\eta(|\\hat g| - 2\\hat\\sigma/\\sqrt B)|\\hat g| - \\frac12 L\\eta^2\\hat g^2`
  (:func:`guaranteed_decrease`), largest at
  :math:`\\eta^*(B) = \\frac1L(1 - 2\\hat\\sigma/(|\\hat g|\\sqrt B))_+` (:func:`bound_lr`);
  per example it is largest at :math:`B^* = 16\\hat\\sigma^2/\\hat g^2`
  (:func:`bound_batch_size_star`) where :math:`\\eta^* = 1/(2L)`;
- the *expected-value* version: with :math:`\\mathbb E\\hat g^2 = g^2 + \\sigma^2/B`,
  :math:`\\eta(B) = \\frac1L\\,B/(B + B_{\\rm noise})`, :math:`B_{\\rm noise} = \\sigma^2/g^2`
  (:func:`expected_lr`, :func:`expected_decrease`, :func:`noise_scale`).

Experiments: :func:`guarantee_trials` takes the lecture's step on a quadratic and
compares the actual loss change with the guarantee; :func:`guarantee_failure_probability`
is the exact probability that the guarantee fails for Gaussian per-example gradients.
:func:`snr_observer` is the hook with which :func:`lab.simulate.run_nqm` records the SNR
optimizer's :math:`B^*(t)` and :math:`\\eta(t)` on the noisy quadratic model.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import _checks
from .optim import snr_variance
from .problems import NoisyQuadratic

__all__ = [
    "log_steps",
    "snr_observer",
    "bound_lr",
    "guaranteed_decrease",
    "bound_batch_size_star",
    "lecture_lr_B",
    "noise_scale",
    "expected_lr",
    "expected_decrease",
    "guarantee_trials",
    "guarantee_failure_probability",
    "snr_lecture_lambda_eta",
]


# --------------------------------------------------------------------------------------
# The lecture's bound: g = ĝ ± 2σ̂/√B.
# --------------------------------------------------------------------------------------


def bound_lr(batch_size, g_hat, sigma_hat, L):
    """``η*(B) = (1/L)(1 − 2σ̂/(|ĝ|√B))``, or 0 where that is negative (no guaranteed progress).

    The maximiser over η of the guaranteed decrease (:func:`guaranteed_decrease`).
    Broadcasts over arrays; ``batch_size`` > 0 (real, for plotting), ``sigma_hat`` ≥ 0,
    ``L`` > 0. Where ĝ = 0 the result is 0. Raises ``ValueError`` otherwise (and for
    shapes that do not broadcast, or a result that overflows).
    """
    B = _checks.real_array("batch_size", batch_size, 0, low_open=True)
    g = np.abs(_checks.real_array("g_hat", g_hat))
    s = _checks.real_array("sigma_hat", sigma_hat, 0)
    L = _checks.real_array("L", L, 0, low_open=True)
    _checks.broadcast(batch_size=B, g_hat=g, sigma_hat=s, L=L)
    with np.errstate(over="ignore"):
        margin = g - 2 * s / np.sqrt(B)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        eta = np.where(margin > 0, margin / np.where(g > 0, g, 1.0), 0.0) / L
    return _checks.finite_result(eta, "L", "raise L")


def guaranteed_decrease(lr, batch_size, g_hat, sigma_hat, L):
    """The lecture's guarantee: loss(Φ) − loss(Φ − ηĝ) ≥ ``η(|ĝ| − 2σ̂/√B)|ĝ|`` − ½Lη²ĝ².

    The slide writes ĝ for ``|ĝ|`` (it takes ĝ > 0; the sign-symmetric form is this one).
    At η = η*(B) the value is (L/2)η*(B)²ĝ². Broadcasts; ``lr`` ≥ 0. Raises
    ``ValueError`` for shapes that do not broadcast or a result that overflows.
    """
    eta = _checks.real_array("lr", lr, 0)
    B = _checks.real_array("batch_size", batch_size, 0, low_open=True)
    g = np.abs(_checks.real_array("g_hat", g_hat))
    s = _checks.real_array("sigma_hat", sigma_hat, 0)
    L = _checks.real_array("L", L, 0, low_open=True)
    _checks.broadcast(lr=eta, batch_size=B, g_hat=g, sigma_hat=s, L=L)
    with np.errstate(over="ignore", invalid="ignore"):
        out = eta * (g - 2 * s / np.sqrt(B)) * g - 0.5 * L * eta**2 * g**2
    return _checks.finite_result(out, "lr, batch_size, g_hat, sigma_hat, L")


def bound_batch_size_star(g_hat, sigma_hat):
    """B* = 16σ̂²/ĝ², the batch size maximising the guaranteed decrease per example.

    Infinite where ĝ = 0. Broadcasts; raises ``ValueError`` for non-finite input,
    shapes that do not broadcast, or an overflow where ĝ ≠ 0.
    """
    g = _checks.real_array("g_hat", g_hat)
    s = _checks.real_array("sigma_hat", sigma_hat, 0)
    _checks.broadcast(g_hat=g, sigma_hat=s)
    return _ratio_or_inf(16, s, g, "g_hat, sigma_hat")


def _ratio_or_inf(factor, s, g, names: str):
    """factor · s²/g², inf where g = 0 (the documented sentinel); a ``ValueError``
    naming ``names`` where g ≠ 0 and it overflows."""
    with np.errstate(divide="ignore", over="ignore"):
        out = np.where(g != 0, factor * s**2 / np.where(g != 0, g, 1.0) ** 2, np.inf)
    _checks.finite_result(np.where(g != 0, out, 0.0), names)
    return out


def lecture_lr_B(batch_size, g_hat, sigma_hat, L):
    """η_B = (B/B*) η* = B ĝ²/(32 σ̂² L): the lecture's learning rate for B ≪ B*.

    Raises ``ValueError`` for σ̂ ≤ 0 (η_B is then unbounded) or other bad input
    (shapes that do not broadcast, a result that overflows).
    """
    B = _checks.real_array("batch_size", batch_size, 0, low_open=True)
    g = _checks.real_array("g_hat", g_hat)
    s = _checks.real_array("sigma_hat", sigma_hat, 0, low_open=True)
    L = _checks.real_array("L", L, 0, low_open=True)
    _checks.broadcast(batch_size=B, g_hat=g, sigma_hat=s, L=L)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        out = B * g**2 / (32 * s**2 * L)
    return _checks.finite_result(out, "batch_size, g_hat, sigma_hat, L")


# --------------------------------------------------------------------------------------
# The expected-value version: E ĝ² = g² + σ²/B.
# --------------------------------------------------------------------------------------


def noise_scale(g, sigma):
    """B_noise = σ²/g², the simple noise scale of McCandlish et al. (one dimension).

    Equals B*/16 for the lecture's B* with ĝ = g, σ̂ = σ. Infinite where g = 0;
    ``ValueError`` where g ≠ 0 and it overflows, or for shapes that do not broadcast.
    """
    g = _checks.real_array("g", g)
    s = _checks.real_array("sigma", sigma, 0)
    _checks.broadcast(g=g, sigma=s)
    return _ratio_or_inf(1, s, g, "g, sigma")


def expected_lr(batch_size, g, sigma, L):
    """η(B) = (1/L) · B/(B + B_noise): the maximiser of the expected decrease.

    From E loss(Φ − ηĝ) ≤ loss(Φ) − ηg² + ½Lη²(g² + σ²/B). Broadcasts; 0 where g = 0.
    Raises ``ValueError`` for shapes that do not broadcast or a result that overflows.
    """
    B = _checks.real_array("batch_size", batch_size, 0, low_open=True)
    g = _checks.real_array("g", g)
    s = _checks.real_array("sigma", sigma, 0)
    L = _checks.real_array("L", L, 0, low_open=True)
    _checks.broadcast(batch_size=B, g=g, sigma=s, L=L)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        num, den = B * g**2, B * g**2 + s**2
        # den = 0 only where g = σ = 0: no gradient, no step.
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0) / L
    return _checks.finite_result(out, "batch_size, g, sigma, L")


def expected_decrease(batch_size, g, sigma, L, lr=None):
    """The bound on the expected decrease, ηg² − ½Lη²(g² + σ²/B); at η = η(B) (``lr=None``)
    it is (g²/2L) · B/(B + B_noise).

    On a quadratic of curvature exactly L the bound is an equality. Broadcasts; raises
    ``ValueError`` for shapes that do not broadcast or a result that overflows.
    """
    B = _checks.real_array("batch_size", batch_size, 0, low_open=True)
    g = _checks.real_array("g", g)
    s = _checks.real_array("sigma", sigma, 0)
    L = _checks.real_array("L", L, 0, low_open=True)
    arrays = {"batch_size": B, "g": g, "sigma": s, "L": L}
    if lr is not None:
        arrays["lr"] = _checks.real_array("lr", lr, 0)
    _checks.broadcast(**arrays)
    eta = expected_lr(B, g, s, L) if lr is None else arrays["lr"]
    with np.errstate(over="ignore", invalid="ignore"):
        out = eta * g**2 - 0.5 * L * eta**2 * (g**2 + s**2 / B)
    return _checks.finite_result(out, "batch_size, g, sigma, L, lr")


# --------------------------------------------------------------------------------------
# What the guarantee guarantees: Monte Carlo and the exact probability.
# --------------------------------------------------------------------------------------


def guarantee_trials(
    g: float,
    sigma: float,
    batch_size: int,
    L: float,
    trials: int,
    generator: torch.Generator,
    *,
    h: float | None = None,
) -> dict:
    """``trials`` independent single steps with the lecture's η*(B), on a quadratic.

    At a point Φ where the population gradient is ``g`` and the loss has curvature
    ``h`` ≤ L (default h = L), draw B per-example gradients g + σz (z ~ N(0, 1)), form
    ĝ (their mean) and σ̂ (their standard deviation with divisor B, as on the slide),
    step Δ = η*(B) ĝ and compare the actual decrease gΔ − ½hΔ² with the guarantee
    ``η(|ĝ| − 2σ̂/√B)|ĝ|`` − ½Lη²ĝ². Returns numpy arrays ``g_hat``, ``sigma_hat``, ``lr``,
    ``actual``, ``guaranteed`` and the boolean ``holds`` (actual ≥ guaranteed, with a
    float64 round-off allowance). Raises ``ValueError`` for B < 2 (σ̂ needs two
    examples), σ ≤ 0, L ≤ 0, h outside (0, L], trials × B over 10⁸ (the numbers drawn,
    all held at once) or sizes whose products overflow.
    """
    g, sigma, B, L, h, n = _trials_arguments(g, sigma, batch_size, L, trials, h)
    generator = _checks.generator("generator", generator)
    z = torch.randn(
        (n, B), generator=generator, device=generator.device, dtype=torch.float64
    )
    # Every number below is at most about 8 m² max(B, 1/L), m the largest |g + σz|.
    m = abs(g) + sigma * float(z.abs().max())
    scale = 8 * max(m * m, 1.0) * max(B, 1 / L)
    _checks.finite_result(scale, "g, sigma, L", "lower g or sigma, or raise L")
    x = (g + sigma * z).cpu().numpy()
    g_hat = x.mean(axis=1)
    sigma_hat = x.std(axis=1)  # divisor B: the slide's E over the batch
    eta = bound_lr(B, g_hat, sigma_hat, L)
    step = eta * g_hat
    actual = g * step - 0.5 * h * step**2
    guaranteed = guaranteed_decrease(eta, B, g_hat, sigma_hat, L)
    # Both sides are sums of a few float64 products of size ~ (g² + σ²)/L.
    slack = 1e-12 * (g * g + sigma * sigma) / L
    return {
        "g_hat": g_hat,
        "sigma_hat": sigma_hat,
        "lr": eta,
        "actual": actual,
        "guaranteed": guaranteed,
        "holds": actual >= guaranteed - slack,
    }


def _trials_arguments(g, sigma, batch_size, L, trials, h):
    """:func:`guarantee_trials`' numbers, checked."""
    g = _checks.real_in("g", g)
    sigma = _checks.positive("sigma", sigma)
    B = _checks.batch_size("batch_size", batch_size, 2)
    L = _checks.positive("L", L)
    h = L if h is None else _checks.real_in("h", h, 0.0, L, low_open=True)
    n = _checks.size("trials", trials)
    _checks.work("trials × batch_size", n * B, _checks.MAX_ELEMENTS)
    return g, sigma, B, L, h, n


def guarantee_failure_probability(g: float, sigma: float, batch_size: int) -> float:
    """P(the guarantee fails) for one step at η*(B) on a quadratic of curvature exactly L.

    With Gaussian per-example gradients of mean g ≥ 0 and standard deviation σ, the
    step fails its guarantee exactly when ĝ − g > 2σ̂/√B (the overestimate the slide
    rules out) or ĝ < −2σ̂/√B (a confident step the wrong way). With s² the unbiased
    sample variance, σ̂² = (B−1)s²/B and k = 2√((B−1)/B):

    .. math::

        P = 1 - F_{t_{B-1}}(k) + F_{t_{B-1}, \\delta}(-k), \\qquad \\delta = g\\sqrt B/\\sigma,

    Student's t and the noncentral t (scipy). Independent of L. Raises ``ValueError``
    for B < 2 or σ ≤ 0. Far in the tail (δ ≥ 8) scipy's noncentral t can fail (NaN);
    the wrong-way term is then at most Φ(−δ) < 10⁻¹⁵ and is taken as 0.
    """
    from scipy import stats

    g = abs(_checks.real_in("g", g))
    sigma = _checks.positive("sigma", sigma)
    B = _checks.batch_size("batch_size", batch_size, 2)
    k = 2 * math.sqrt((B - 1) / B)
    over = stats.t.sf(k, B - 1)
    delta = g * math.sqrt(B) / sigma
    with np.errstate(all="ignore"):
        wrong_way = stats.nct.cdf(-k, B - 1, delta) if g > 0 else stats.t.cdf(-k, B - 1)
    if not math.isfinite(wrong_way) and delta >= 8:
        wrong_way = 0.0  # P(T < −k) ≤ P(Z + δ < 0) = Φ(−δ)
    return float(_checks.finite_result(over + wrong_way, "g, sigma, batch_size"))


# --------------------------------------------------------------------------------------
# Running optimizers on the noisy quadratic model.
# --------------------------------------------------------------------------------------


def snr_lecture_lambda_eta(batch_size: int, L: float) -> float:
    """λ_η = B/(32L): the lecture's η_B = B g̃²/(32σ̃²L) in the form η = λ_η g̃²/σ̃²."""
    B = _checks.batch_size("batch_size", batch_size)
    return _checks.finite_result(B / (32 * _checks.positive("L", L)), "batch_size, L")


def log_steps(steps: int, count: int = 60) -> np.ndarray:
    """About ``count`` log-spaced steps from 1 to ``steps`` (distinct integers);
    ``steps`` ≤ 10⁷ and ``count`` in [1, 10⁶]."""
    S = _checks.steps("steps", steps)
    count = _checks.integer_at_least("count", count, 1, 10**6)
    return np.unique(np.geomspace(1, S, count).round().astype(int))


def snr_observer(problem: NoisyQuadratic, record_at, *, sum_eta: bool = True):
    """An ``observe`` hook for :func:`lab.simulate.run_nqm` that records, at the steps
    ``record_at``: ``loss`` (chains,) and ``sq_error`` :math:`\\Phi^2` (chains, d), and
    for an optimizer with ``B_star``/``eta`` methods (:class:`lab.optim.SNR`) ``B_star``,
    ``eta``, ``g_tilde``, ``sigma2`` (:math:`\\tilde\\sigma^2`,
    :func:`lab.optim.snr_variance`) and, with ``sum_eta``, :math:`\\sum_{s \\le t}\\eta_s`
    (accumulated at every step, so it costs a little every step), each (chains, d).
    ``record_at`` holds steps ≥ 0 (a number or a 1-D array).
    """
    problem = _checks.instance("problem", problem, NoisyQuadratic)
    steps = _checks.array("record_at", record_at, 0, ndim=(0, 1))
    wanted = {int(t) for t in steps.reshape(-1)}
    sum_eta = _checks.flag("sum_eta", sum_eta)
    total = {}

    def observe(t, p, optimizer):
        snr = hasattr(optimizer, "B_star") and hasattr(optimizer, "eta")
        if snr and sum_eta:
            if t == 0:
                total["eta"] = torch.zeros_like(p.detach())
            else:
                total["eta"] += optimizer.eta(p)
        if t not in wanted:
            return None
        phi = p.detach()
        out = {"loss": problem.population_loss(phi), "sq_error": phi * phi}
        if snr:
            state, group = optimizer.state.get(p), optimizer.param_groups[0]
            out["B_star"] = optimizer.B_star(p)
            out["eta"] = optimizer.eta(p)
            g_tilde = state["g_tilde"] if state else torch.zeros_like(phi)
            s_tilde = state["s_tilde"] if state else torch.zeros_like(phi)
            out["sigma2"] = snr_variance(
                g_tilde, s_tilde, group["batch_size"], group["second_moment"]
            )
            out["g_tilde"] = g_tilde.clone()
            if sum_eta:
                out["sum_eta"] = total["eta"].clone()
        return out

    return observe
