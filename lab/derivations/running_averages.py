"""The derivations of Chapter 4, checked with sympy."""

from __future__ import annotations

import functools
import numbers

import sympy as sp

from lab import _checks
from lab.derivations.claims import (
    Derivation,
    Induction,
    Limit,
    Series,
    _expression,
    eq,
    identity,
)

# ---------------------------------------------------------------------------------------
# 2. Running averages and their bias corrections
# ---------------------------------------------------------------------------------------

__all__ = ["running_average", "running_average_symbols", "ema_closed_form"]


def running_average_symbols():
    N = sp.Symbol("N", positive=True)
    M = sp.Symbol("M", positive=True)  # N = 1 + M: the admissible N > 1
    t = sp.Symbol("t", integer=True, positive=True)
    s = sp.Symbol("s", integer=True, positive=True)
    n = sp.Symbol("n", integer=True, nonnegative=True)
    x = sp.IndexedBase("x")
    mu_hat = sp.Function(r"\hat{\mu}")
    return N, M, t, s, n, x, mu_hat


def ema_closed_form(t, N, x, s, sign: int = 1):
    """μ̂_t = (1/N) Σ_{s=1}^t (1 − 1/N)^{sign·(t−s)} x_s (sign = −1: the slide's print).

    ``t`` and ``N`` are sympy expressions or numbers (a number ``t``: an integer in
    [0, 10⁷]; a number ``N``: > 0), ``x`` a ``sympy.IndexedBase``, ``s`` the summation
    index (a ``sympy.Symbol``), ``sign`` 1 or −1.
    """
    t = _expression("t", t, matrix=False)
    if isinstance(t, numbers.Number) or getattr(t, "is_number", False):
        t = sp.Integer(_checks.steps("t", _as_number("t", t), low=0))
    N = _expression("N", N, matrix=False)
    if isinstance(N, numbers.Number) or getattr(N, "is_number", False):
        _checks.positive("N", _as_number("N", N))
    _checks.instance("x", x, sp.IndexedBase, "a sympy IndexedBase")
    _checks.instance("s", s, sp.Symbol, "a sympy Symbol")
    _checks.choice("sign", sign, (1, -1))
    return sp.Sum((1 - 1 / N) ** (sign * (t - s)) * x[s], (s, 1, t)) / N


def _as_number(name: str, value):
    """A number that sympy states (``sp.Integer(3)``, ``sp.Rational(1, 2)``, ...) as a
    Python number, for the range checks of :mod:`lab._checks`."""
    if isinstance(value, numbers.Number):
        return value
    value = sp.sympify(value)
    if value.is_integer:
        return int(value)
    if value.is_real and value.is_finite:
        return float(value)
    raise ValueError(f"{name} must be a real number, got {value!r:.80}")


@functools.cache
def running_average() -> Derivation:
    """Running averages: the unrolled form, its weights, the bias, and three corrections.

    μ̂_t = (1 − 1/N) μ̂_{t−1} + x_t/N, μ̂_0 = 0 unrolls to
    μ̂_t = (1/N) Σ_{s=1}^t (1 − 1/N)^{t−s} x_s; the weights sum to 1 − (1 − 1/N)^t, so
    E μ̂_t = (1 − (1 − 1/N)^t) μ ≈ (t/N) μ for t ≪ N, and Σ_{n≥0} (1 − 1/N)^n = N.
    The 1/t average is the mean of x_1..x_t; the 1/min(N, t) average is that mean for
    t ≤ N and the 1/N average started from it after. Adam's m_t/(1 − β^t) is the
    running average with weight schedule α_t = (1 − β)/(1 − β^t): α_1 = 1, α_t → 1/N,
    α_t ≈ 1/t for t ≪ N, and N α_N → e/(e − 1) at t = N.
    """
    N, M, t, s, n, x, mu_hat = running_average_symbols()
    mu = sp.Symbol("mu", real=True)
    a = 1 - 1 / N
    ema = {mu_hat: lambda k: a * mu_hat(k - 1) + x[k] / N}
    unrolled = Induction(
        mu_hat,
        lambda k: ema_closed_form(k, N, x, s),
        ema,
        {mu_hat: 0},
        t,
        0,
        inputs=(x,),
    )
    weights_sum = sp.Sum(a ** (t - s) / N, (s, 1, t))
    # E μ̂_t: replace each x_s by μ (linearity); the weights' sum in closed form
    expected = sp.Function(r"\mathbb{E}\hat{\mu}")
    expected_rec = {expected: lambda k: a * expected(k - 1) + mu / N}
    expected_closed = Induction(
        expected, lambda k: (1 - a**k) * mu, expected_rec, {expected: 0}, t, 0
    )

    mean_avg = {mu_hat: lambda k: (1 - sp.Integer(1) / k) * mu_hat(k - 1) + x[k] / k}
    # μ̂_1 = (1 − 1/1)·μ̂_0 + x_1 = x_1 whatever μ̂_0 is: start the induction at t = 1
    exact_mean = Induction(
        mu_hat,
        lambda k: sp.Sum(x[s], (s, 1, k)) / k,
        mean_avg,
        {mu_hat: x[1]},
        t,
        1,
        inputs=(x,),
    )
    # after t = N the min(N, t) schedule is the 1/N average, started from the mean of x_1..x_N
    Nint = sp.Symbol("N", integer=True, positive=True)
    ai = 1 - 1 / Nint
    after_N = Induction(
        mu_hat,
        lambda k: (
            ai ** (k - Nint) * sp.Sum(x[s], (s, 1, Nint)) / Nint
            + sp.Sum(ai ** (k - s) * x[s], (s, Nint + 1, k)) / Nint
        ),
        {mu_hat: lambda k: ai * mu_hat(k - 1) + x[k] / Nint},
        {mu_hat: sp.Sum(x[s], (s, 1, Nint)) / Nint},
        t,
        Nint,
        inputs=(x,),
    )
    min_weights_after_N = (
        ai ** (t - Nint) + sp.Sum(ai ** (t - s), (s, Nint + 1, t)) / Nint
    )

    # Adam: m_t = β m_{t−1} + (1 − β) x_t, m̂_t = m_t / (1 − β^t), with β = 1 − 1/N
    beta = sp.Symbol("beta", positive=True)
    m_prev, xt = sp.symbols(r"m_{t-1} x_t", real=True)
    m_hat_prev = m_prev / (1 - beta ** (t - 1))
    alpha = (1 - beta) / (1 - beta**t)
    adam_direct = (beta * m_prev + (1 - beta) * xt) / (1 - beta**t)
    adam_as_schedule = (1 - alpha) * m_hat_prev + alpha * xt
    alpha_N = alpha.subs(beta, a)
    adam_weights = sp.Sum((1 - beta) * beta ** (t - s), (s, 1, t)) / (1 - beta**t)

    claims = {
        "unrolled_form_for_all_t": unrolled,
        "weights_sum_to_one_minus_bias": eq(weights_sum.doit(), 1 - a**t),
        "geometric_series_is_N": Series(a**n, n, 0, N, where={N: 1 + M}),
        "first_step_mean_is_mu_over_N": identity(
            (1 - a**1) * mu,
            mu / N,
            r"\E\,\hat\mu_1 = \left(1 - \left(1 - \tfrac1N\right)^1\right)\mu = \frac{\mu}{N}",
        ),
        "expected_value_for_all_t": expected_closed,
        "expected_value_is_t_over_N_mu_for_t_much_less_than_N": Limit(
            (1 - a**t) * mu / (t * mu / N), N, sp.oo, 1
        ),
        "one_over_t_average_is_exact_mean": exact_mean,
        "min_schedule_after_N_is_one_over_N_average": after_N,
        "min_schedule_weights_sum_to_one_after_N": eq(min_weights_after_N.doit(), 1),
        "adam_correction_is_a_weight_schedule": eq(adam_direct, adam_as_schedule),
        "adam_weights_sum_to_one": identity(
            adam_weights.doit(),
            1,
            r"\sum_{s=1}^{t} \frac{(1-\beta)\,\beta^{t-s}}{1-\beta^t} = 1",
        ),
        "adam_first_weight_is_one": identity(
            alpha.subs(t, 1), 1, r"w_1 = \frac{1-\beta}{1-\beta^1} = 1"
        ),
        "adam_weight_tends_to_one_over_N": Limit(
            alpha_N, t, sp.oo, 1 / N, where={N: 1 + M}
        ),
        "adam_weight_is_one_over_t_for_t_much_less_than_N": Limit(
            t * alpha_N, N, sp.oo, 1
        ),
        "adam_weight_at_t_equal_N": Limit(
            N * alpha_N.subs(t, N), N, sp.oo, sp.E / (sp.E - 1)
        ),
    }
    steps = [
        ("running average", eq(mu_hat(t), a * mu_hat(t - 1) + x[t] / N)),
        ("unrolled (induction on $t$)", eq(mu_hat(t), ema_closed_form(t, N, x, s))),
        ("sum of the weights", eq(weights_sum, 1 - a**t)),
        ("all weights, $t\\to\\infty$", eq(sp.Sum(a**n, (n, 0, sp.oo)), N)),
        ("bias", eq(sp.Symbol(r"\mathbb{E}\hat{\mu}_t"), (1 - a**t) * mu)),
        ("Adam's bias correction as a weight", eq(sp.Symbol(r"\alpha_t"), alpha)),
        ("Adam with $\\beta = 1 - 1/N$", eq(sp.Symbol(r"\alpha_t"), alpha_N)),
    ]
    return Derivation(
        title="Running averages: unrolled form, bias, and bias corrections",
        symbols={"N": N, "t": t, "s": s, "x": x, "mu": mu, "beta": beta},
        steps=steps,
        claims=claims,
        label="deriv-running-average",
    )
