"""The derivations of Chapter 2, checked with sympy."""

from __future__ import annotations

import functools

import sympy as sp

from lab.derivations.claims import Derivation, Limit, Series, eq, identity

# ---------------------------------------------------------------------------------------
# 7. Convergence conditions
# ---------------------------------------------------------------------------------------

P_GRID = (
    sp.Rational(1, 4),
    sp.Rational(1, 2),
    sp.Rational(3, 4),
    sp.Integer(1),
    sp.Integer(2),
)

__all__ = ["convergence_conditions"]


@functools.cache
def convergence_conditions() -> Derivation:
    """For η_t = c/t^p (c > 0): η_t → 0 iff p > 0; Σ η_t = ∞ iff p ≤ 1 (integral test:
    ∫_1^∞ t^{−p} dt is finite iff p > 1); Σ η_t² < ∞ iff p > 1/2. The slide's conditions
    admit 0 < p ≤ 1; adding Σ η_t² < ∞ leaves 1/2 < p ≤ 1. At p = 1/2 the accumulated
    noise variance σ² Σ η_t² is infinite, yet on a strongly convex quadratic the
    iterate's variance still behaves like η_t σ²/(2hB) → 0 for every p < 1.

    The c/t schedule on a quadratic of curvature h: the ansatz Var δ_t ≈ A/t in
    V_{t+1} = (1 − hc/t)² V_t + c²σ²/(Bt²) matches the 1/t² terms only for
    A = c²σ²/(B(2hc − 1)), which is positive (a variance) only for c > 1/(2h); and each
    step multiplies the bias by 1 − hc/t = exp(−hc/t + O(t⁻²)), so the bias falls like
    t^(−hc) and its square is o(1/t) only for c > 1/(2h).
    """
    t = sp.Symbol("t", integer=True, positive=True)
    tr = sp.Symbol("tau", positive=True)
    c, p, u = sp.symbols("c p u", positive=True)
    eta = c / t**p
    T = sp.Symbol("T", positive=True)
    integral = sp.integrate(tr ** (-p), (tr, 1, sp.oo), conds="piecewise")
    integral2 = sp.integrate(tr ** (-2 * p), (tr, 1, sp.oo), conds="piecewise")

    def partial_integral(power):  # ∫_1^T τ^(−power) dτ, the integral test's partial sum
        return sp.integrate(tr ** (-power), (tr, 1, T))

    below, above = 1 / (1 + u), 1 + u  # p in (0, 1) and p in (1, ∞)
    claims = {
        "eta_to_zero_for_every_p_positive": Limit(eta, t, sp.oo, 0),
        "wrong_limit_t_to_0": Limit(
            c / sp.Symbol("t", positive=True) ** p,
            sp.Symbol("t", positive=True),
            0,
            sp.oo,
        ),
        "integral_test_sum_eta_infinite_for_p_below_1": Limit(
            partial_integral(below), T, sp.oo, sp.oo
        ),
        "integral_test_sum_eta_infinite_at_p_1": Limit(
            partial_integral(1), T, sp.oo, sp.oo
        ),
        "integral_test_sum_eta_finite_for_p_above_1": Limit(
            partial_integral(above), T, sp.oo, 1 / u
        ),
        "integral_test_sum_eta2_infinite_for_p_at_most_half": Limit(
            partial_integral(2 * (below / 2)), T, sp.oo, sp.oo
        ),
        "integral_test_sum_eta2_finite_for_p_above_half": Limit(
            partial_integral(2 * (above / 2)), T, sp.oo, 1 / u
        ),
    }
    for pv in P_GRID:
        tag = str(pv).replace("/", "_over_")
        # the constant c > 0 does not change convergence; leave it out so sympy's test applies
        claims[f"sum_eta_p{tag}"] = Series(1 / t**pv, t, 1, sp.oo if pv <= 1 else None)
        claims[f"sum_eta2_p{tag}"] = Series(
            1 / t ** (2 * pv), t, 1, None if 2 * pv > 1 else sp.oo
        )
    # with p < 1 the drift of η_t is o(η_t²), so v_t ~ η_t σ²/(2h B) (see the book)
    pp = below
    tp = sp.Symbol("t", positive=True)
    claims["eta_drift_negligible_for_p_below_1"] = Limit(
        (c / tp**pp - c / (tp + 1) ** pp) / (c / tp**pp) ** 2, tp, sp.oo, 0
    )
    # c/t on a quadratic of curvature h: Var δ_t ≈ A/t matches at order 1/t² iff
    # A = c²σ²/(B(2hc − 1)) (positive only for c > 1/(2h)); the bias falls like t^(−hc)
    h, A, sigma, B = sp.symbols("h A sigma B", positive=True)
    residual = A / (tp + 1) - (
        (1 - h * c / tp) ** 2 * A / tp + c**2 * sigma**2 / (B * tp**2)
    )
    order_2 = sp.limit(tp**2 * residual, tp, sp.oo)  # the 1/t coefficients cancel
    A_star = c**2 * sigma**2 / (B * (2 * h * c - 1))
    claims["c_over_t_ansatz_cancels_order_1_over_t"] = Limit(
        tp * residual, tp, sp.oo, 0
    )
    claims["c_over_t_variance_constant"] = identity(
        sp.solve(order_2, A)[0],
        A_star,
        r"-A + 2hcA - \frac{c^2\sigma^2}{B} = 0 \iff A = \frac{c^2\sigma^2}{B(2hc-1)}",
    )
    claims["c_over_t_ansatz_matches_order_1_over_t2"] = Limit(
        tp**2 * residual.subs(A, A_star), tp, sp.oo, 0
    )
    claims["c_over_t_bias_factor_per_step"] = Limit(
        tp * sp.log(1 - h * c / tp), tp, sp.oo, -h * c
    )
    steps = [
        ("schedule", eq(sp.Symbol(r"\eta_t"), eta)),
        (
            "integral test for $\\sum \\eta_t$",
            eq(sp.Integral(tr ** (-p), (tr, 1, sp.oo)), integral),
        ),
        (
            "integral test for $\\sum \\eta_t^2$",
            eq(sp.Integral(tr ** (-2 * p), (tr, 1, sp.oo)), integral2),
        ),
        (
            "$c/t$ at curvature $h$: the $1/t^2$ terms of "
            "$V_{t+1} = (1 - hc/t)^2 V_t + c^2\\sigma^2/(Bt^2)$ with $V_t = A/t$",
            eq(order_2, 0),
        ),
        ("so", eq(A, A_star)),
    ]
    return Derivation(
        "Convergence conditions for η_t = c/t^p",
        {"t": t, "c": c, "p": p, "h": h, "A": A, "sigma": sigma, "B": B},
        steps,
        claims,
        label="deriv-convergence",
    )
