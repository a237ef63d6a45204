"""Chapter 4, running averages and their bias corrections: the primitive every optimizer
is built from.

The lecture's running average of a sequence :math:`x_1, x_2, \\dots` is

.. math::

    \\hat\\mu_0 = 0, \\qquad \\hat\\mu_t = (1 - w_t)\\,\\hat\\mu_{t-1} + w_t\\, x_t ,

and the lecture's averages differ only in the weight schedule :math:`w_t`
(see :func:`running_average_weight`):

- ``"none"``: :math:`w_t = 1/N`, the running average, biased toward 0 early;
- ``"cumulative"``: :math:`w_t = 1/t`, the mean of :math:`x_1, \\dots, x_t`;
- ``"min"``: :math:`w_t = 1/\\min(N, t)`, the lecture's corrected average;
- ``"adam"``: :math:`w_t = (1-\\beta)/(1-\\beta^t)` with :math:`\\beta = 1 - 1/N`, Adam's
  debiased average.

Momentum averages :math:`\\hat g`, RMSProp averages :math:`\\hat g^2`, Adam averages both
(:mod:`lab.optim`). Functions here take a whole sequence (a torch tensor on any device
or a numpy array, the sequence along ``dim``); :class:`RunningAverage` and
:func:`update_average_` are the streaming forms the optimizers use.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from lab import _checks
from lab._checks import integer_at_least, nonnegative, real_in

__all__ = [
    "CORRECTIONS",
    "running_average_weight",
    "update_average_",
    "weighted_running_average",
    "running_average",
    "cumulative_average",
    "corrected_average",
    "adam_average",
    "window_average",
    "ema_weights",
    "half_life",
    "expected_running_average",
    "running_average_variance",
    "drift_tracking_mse",
    "best_memory",
    "RunningAverage",
]

#: The weight schedules :func:`running_average_weight` knows.
CORRECTIONS = ("none", "cumulative", "min", "adam")


def _check_correction(correction: str) -> str:
    return _checks.choice("correction", correction, CORRECTIONS)


def running_average_weight(t: int, N: float = 1, correction: str = "none") -> float:
    """The weight :math:`w_t` of :math:`x_t` in
    :math:`\\hat\\mu_t = (1-w_t)\\hat\\mu_{t-1} + w_t x_t`.

    ``"none"``: :math:`1/N`; ``"cumulative"``: :math:`1/t`; ``"min"``: :math:`1/\\min(N, t)`;
    ``"adam"``: :math:`(1-\\beta)/(1-\\beta^t)` with :math:`\\beta = 1 - 1/N`, which makes
    the published debiased average :math:`m_t/(1-\\beta^t)` a running average too.
    ``t`` is the 1-based index of the value being added. Raises ``ValueError`` for
    ``t`` outside [1, 10⁷], ``N < 1`` or an unknown ``correction``.
    """
    t = integer_at_least("t", t, 1, _checks.MAX_STEPS)
    N = _check_N("N", N)
    _check_correction(correction)
    if correction == "none":
        return 1.0 / N
    if correction == "cumulative":
        return 1.0 / t
    if correction == "min":
        return 1.0 / min(N, t)
    # 1 - beta**t computed as -expm1(t log beta): accurate when beta is close to 1.
    if N == 1 or t == 1:
        return (
            1.0  # (1 − β)/(1 − β¹) = 1 exactly; the formula below can miss it by an ulp
        )
    # Mathematically at most 1 (exactly 1 at t = 1); round-off can land a hair above it.
    return min(1.0, (1.0 / N) / -math.expm1(t * math.log1p(-1.0 / N)))


def _check_N(name: str, N) -> float:
    return real_in(name, N, 1.0)


def update_average_(average: torch.Tensor, x: torch.Tensor, weight) -> torch.Tensor:
    """One streaming step in place: :math:`\\hat\\mu \\leftarrow (1-w)\\,\\hat\\mu + w\\,x`.

    ``weight`` is a float or a tensor broadcastable to ``average`` (per-coordinate
    weights, as in the lecture's complete algorithm). Implemented as ``torch.lerp``,
    which returns exactly ``x`` when ``w = 1``. Returns ``average``. Unchecked on
    purpose: the optimizers call it on every step, and pass non-finite values through
    it that they mask afterwards.
    """
    return average.lerp_(x, weight)


def _as_tensor(x):
    """``x`` as a floating torch tensor and a function that converts results back.

    Checked finite, with at most 10⁷ values (the sequence is averaged in a loop)."""
    if isinstance(x, torch.Tensor):
        if not (x.is_floating_point() or x.is_complex()):
            x = x.to(torch.get_default_dtype())
        _checks.tensor("x", x)
        if x.numel() > _checks.MAX_STEPS:
            raise ValueError(f"x must have at most 1e+07 values, got {x.numel()}")
        return x, lambda y: y
    arr = _checks.array("x", x, max_size=_checks.MAX_STEPS)
    return torch.from_numpy(arr.copy()), lambda y: y.numpy()


def _check_dim(x: torch.Tensor, dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"dim must be an integer, got {dim!r}")
    if x.dim() == 0:
        raise ValueError("x must have at least one dimension (the sequence)")
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"dim must be in [{-x.dim()}, {x.dim() - 1}], got {dim!r}")
    return dim % x.dim()


def weighted_running_average(x, weights, dim: int = 0):
    """The running average with weights :math:`w_t`:
    :math:`\\hat\\mu_t = (1-w_t)\\hat\\mu_{t-1} + w_t x_t`, :math:`\\hat\\mu_0 = 0`.

    ``x``: a torch tensor (any device, any shape) or numpy array holding the sequence
    :math:`x_1..x_S` along ``dim``; ``weights``: :math:`S` numbers (a sequence, array or
    1-d tensor). Returns :math:`\\hat\\mu_1..\\hat\\mu_S` with the shape, type and device
    of ``x``. Raises ``ValueError`` when ``len(weights)`` is not the length of ``x``
    along ``dim``, a weight is outside [0, 1], ``x`` is not finite or has more than
    10⁷ values, or the average overflows.
    """
    xt, back = _as_tensor(x)
    dim = _check_dim(xt, dim)
    w = _checks.array("weights", weights, ndim=1, max_size=_checks.MAX_STEPS).tolist()
    S = xt.shape[dim]
    if len(w) != S:
        raise ValueError(
            f"weights must have one entry per step of x along dim ({S}), got {len(w)}"
        )
    if any(not (0.0 <= v <= 1.0) for v in w):
        raise ValueError("weights must lie in [0, 1]")
    seq = xt.movedim(dim, 0)
    out = torch.empty_like(seq)
    mu = torch.zeros_like(seq[0]) if S else None
    for t in range(S):
        update_average_(mu, seq[t], w[t])
        out[t] = mu
    _checks.finite_result(out, "x", "the average overflows: scale x down")
    return back(out.movedim(0, dim))


def _weights(S: int, N: float, correction: str) -> list[float]:
    return [running_average_weight(t, N, correction) for t in range(1, S + 1)]


def _length(x, dim: int) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"dim must be an integer, got {dim!r}")
    if _checks._not_a_number(x):
        raise TypeError(f"x must be a sequence (an array or tensor), got {x!r}")
    try:
        shape = x.shape if hasattr(x, "shape") else np.shape(x)
    except ValueError:
        raise ValueError("x must be a rectangular array") from None
    if len(shape) == 0:
        raise ValueError("x must have at least one dimension (the sequence)")
    if not -len(shape) <= dim < len(shape):
        raise ValueError(
            f"dim must be in [{-len(shape)}, {len(shape) - 1}], got {dim!r}"
        )
    return shape[dim]


def running_average(x, N: float, dim: int = 0):
    """The lecture's running average
    :math:`\\hat\\mu_t = (1 - 1/N)\\hat\\mu_{t-1} + x_t/N` from :math:`\\hat\\mu_0 = 0`.

    Unrolled, :math:`\\hat\\mu_t = \\sum_{s \\le t} \\frac1N (1-\\frac1N)^{t-s} x_s`
    (:func:`ema_weights`; the slide prints the exponent as :math:`-(t-s)`, a sign typo),
    so :math:`\\E\\hat\\mu_t = (1-(1-1/N)^t)\\mu`: biased toward 0 for :math:`t \\lesssim N`.
    ``x`` as in :func:`weighted_running_average`. Raises ``ValueError`` for ``N < 1``.
    """
    N = _check_N("N", N)
    return weighted_running_average(x, _weights(_length(x, dim), N, "none"), dim)


def cumulative_average(x, dim: int = 0):
    """The mean of :math:`x_1..x_t`, as the running average with weight :math:`1/t`.

    :math:`\\hat\\mu_t = (1 - 1/t)\\hat\\mu_{t-1} + x_t/t`: unbiased, but it stops
    tracking a moving average for :math:`t \\gg N`. ``x`` as in :func:`weighted_running_average`.
    """
    return weighted_running_average(x, _weights(_length(x, dim), 1, "cumulative"), dim)


def corrected_average(x, N: float, dim: int = 0):
    """The lecture's corrected average: weight :math:`1/\\min(N, t)`.

    :math:`\\hat\\mu_t = (1 - \\frac{1}{\\min(N,t)})\\hat\\mu_{t-1} + \\frac{1}{\\min(N,t)} x_t`:
    exactly the mean of :math:`x_1..x_t` for :math:`t \\le N`, the running average after.
    ``x`` as in :func:`weighted_running_average`. Raises ``ValueError`` for ``N < 1``.
    """
    N = _check_N("N", N)
    return weighted_running_average(x, _weights(_length(x, dim), N, "min"), dim)


def adam_average(x, N: float, dim: int = 0):
    """Adam's published debiased average :math:`\\hat m_t = m_t / (1 - \\beta^t)`,
    :math:`\\beta = 1 - 1/N`.

    Here :math:`m_t = \\beta m_{t-1} + (1-\\beta) x_t`, :math:`m_0 = 0`. It equals the
    running average with weight :math:`w_t = (1-\\beta)/(1-\\beta^t)`, which is how it is
    computed. ``x`` as in :func:`weighted_running_average`. Raises ``ValueError`` for ``N < 1``.
    """
    N = _check_N("N", N)
    return weighted_running_average(x, _weights(_length(x, dim), N, "adam"), dim)


def window_average(x, N: int, dim: int = 0):
    """The mean of the :math:`N` most recent values,
    :math:`\\tilde\\mu_t = \\frac1N\\sum_{s=t-N+1}^{t} x_s`.

    For :math:`t < N` it is the mean of the :math:`t` values there are (so it equals
    :func:`corrected_average` there). ``x`` as in :func:`weighted_running_average`.
    Raises ``ValueError`` unless ``N`` is an integer in [1, 10⁷] (and N × len(x) is
    at most 10⁹), and for sums that overflow.
    """
    xt, back = _as_tensor(x)
    dim = _check_dim(xt, dim)
    N = integer_at_least("N", N, 1, _checks.MAX_STEPS)
    _checks.work("N × len(x)", N * xt.shape[dim])
    seq = xt.movedim(dim, -1)
    S = seq.shape[-1]
    if S == 0:
        return back(xt.clone())  # no values, no means
    padded = torch.nn.functional.pad(seq, (N - 1, 0))
    sums = padded.unfold(-1, N, 1).sum(-1)
    counts = torch.clamp(torch.arange(1, S + 1, device=seq.device), max=N).to(seq.dtype)
    means = _checks.finite_result(sums / counts, "x", "the sums overflow: scale x down")
    return back(means.movedim(-1, dim))


def ema_weights(N: float, t: int) -> np.ndarray:
    """The weights of :math:`x_1..x_t` in the running average :math:`\\hat\\mu_t`:
    :math:`\\frac1N(1-\\frac1N)^{t-s}`.

    Returns a float64 array of length ``t`` (index ``s - 1``); it sums to
    :math:`1 - (1-1/N)^t`. Raises ``ValueError`` for ``N < 1`` or ``t`` outside
    [1, 10⁷].
    """
    N = _check_N("N", N)
    t = integer_at_least("t", t, 1, _checks.MAX_STEPS)
    s = np.arange(1, t + 1)
    return (1.0 / N) * (1.0 - 1.0 / N) ** (t - s)


def half_life(N: float) -> float:
    """The age :math:`k` at which a value's weight in the running average has halved:
    :math:`\\beta^k = 1/2` with :math:`\\beta = 1 - 1/N`, so
    :math:`k = \\ln 2 / (-\\ln(1 - 1/N)) = N\\ln 2 - \\tfrac12\\ln 2 - O(1/N)`,
    about :math:`0.69N`. Raises ``ValueError`` unless ``N > 1`` (with :math:`N = 1`
    older values have no weight at all).
    """
    N = real_in("N", N, 1.0, low_open=True)
    return math.log(2.0) / -math.log1p(-1.0 / N)


def expected_running_average(mu, N: float, t):
    """:math:`\\E\\hat\\mu_t = (1 - (1-1/N)^t)\\,\\mu` for values with mean :math:`\\mu`.

    ``mu`` and ``t`` (``t >= 0``) may be numbers or numpy arrays (broadcast). Raises
    ``ValueError`` for ``N < 1``, non-finite or non-broadcasting input, or overflow.
    """
    N = _check_N("N", N)
    mu = _checks.array("mu", mu)
    t = _checks.array("t", t, 0.0)
    mu, t = _checks.broadcast(mu=mu, t=t)
    out = (1.0 - (1.0 - 1.0 / N) ** t) * mu
    return _checks.finite_result(out, "mu")


def running_average_variance(sigma2, N: float, t=None):
    """:math:`\\Var\\,\\hat\\mu_t = \\frac{\\sigma^2}{2N-1}(1 - (1-1/N)^{2t})`
    for independent values.

    With ``t=None`` the stationary limit :math:`\\sigma^2/(2N-1)`. Raises ``ValueError``
    for ``N < 1``, ``sigma2 < 0``, ``t < 0``, non-finite or non-broadcasting input.
    """
    N = _check_N("N", N)
    stationary = _checks.array("sigma2", sigma2, 0.0) / (2.0 * N - 1.0)
    if t is None:
        return stationary
    t = _checks.array("t", t, 0.0)
    stationary, t = _checks.broadcast(sigma2=stationary, t=t)
    return stationary * (1.0 - (1.0 - 1.0 / N) ** (2 * t))


def drift_tracking_mse(N: float, r, sigma2):
    """The steady-state mean squared error of the running average against a mean drifting
    by :math:`r` per step: :math:`(N-1)^2 r^2 + \\sigma^2/(2N-1)`, lag squared plus
    variance.

    ``r`` and ``sigma2`` (:math:`\\sigma^2`) may be numbers or numpy arrays (broadcast).
    Raises ``ValueError`` for ``N < 1``, ``sigma2 < 0``, non-finite or
    non-broadcasting input, or a result that overflows.
    """
    N = _check_N("N", N)
    r = _checks.array("r", r)
    sigma2 = _checks.array("sigma2", sigma2, 0.0)
    r, sigma2 = _checks.broadcast(r=r, sigma2=sigma2)
    out = (N - 1.0) * (N - 1.0) * r * r + running_average_variance(sigma2, N)
    return _checks.finite_result(out, "N, r, sigma2")


def best_memory(r: float, sigma2: float) -> float:
    """The :math:`N^* \\ge 1` that minimises :func:`drift_tracking_mse`: the root of
    :math:`(N-1)(2N-1)^2 = \\sigma^2/r^2`, about :math:`(\\sigma^2/4r^2)^{1/3}` for slow drift.

    The left side increases from 0 for :math:`N \\ge 1`, so the root is unique; it is
    found by bisection. ``r`` is the drift per step. Raises ``ValueError`` for ``r = 0``
    (no drift: the longest memory is best) or ``sigma2 < 0``.
    """
    r = real_in("r", r)
    if r == 0:
        raise ValueError("r must be nonzero: without drift the longest memory is best")
    if r * r == 0.0:
        raise ValueError(f"r is too small: r² underflows to 0, got {r!r}")
    ratio = nonnegative("sigma2", sigma2) / (r * r)
    if not math.isfinite(ratio) or ratio > 1e300:
        raise ValueError("r, sigma2: sigma2/r² overflows; use a larger |r|")
    lo, hi = 1.0, 2.0 + ratio ** (1 / 3)  # (hi-1)(2hi-1)^2 > 4(hi-1)^3 > ratio
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if (mid - 1.0) * (2.0 * mid - 1.0) ** 2 < ratio:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


class RunningAverage:
    """A streaming running average, updated in place:
    :math:`\\hat\\mu_t = (1-w_t)\\hat\\mu_{t-1} + w_t x_t`.

    ``N`` and ``correction`` choose :math:`w_t` (:func:`running_average_weight`).
    :meth:`update` takes :math:`x_t` (a tensor of any shape on any device; the first
    call fixes shape, dtype and device) and returns ``value``, :math:`\\hat\\mu_t`.
    ``t`` counts the values seen. Raises ``ValueError`` for ``N < 1`` or an unknown
    ``correction``.
    """

    def __init__(self, N: float = 1, correction: str = "none"):
        self.N = _check_N("N", N)
        self.correction = _check_correction(correction)
        self.t = 0
        self.value: torch.Tensor | None = None

    def update(self, x) -> torch.Tensor:
        """Add :math:`x_t` and return :math:`\\hat\\mu_t`."""
        x = torch.as_tensor(x)
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        if self.value is None:
            self.value = torch.zeros_like(x)
        self.t += 1
        return update_average_(
            self.value, x, running_average_weight(self.t, self.N, self.correction)
        )

    def __repr__(self) -> str:
        return f"RunningAverage(N={self.N}, correction={self.correction!r}, t={self.t})"
