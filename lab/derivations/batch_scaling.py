"""The derivations of Chapter 8, checked with sympy."""

from __future__ import annotations

import functools

import sympy as sp

from lab.derivations.claims import (
    Counterexample,
    Derivation,
    Identity,
    Inequality,
    Series,
    eq,
    identity,
)

# ---------------------------------------------------------------------------------------
# 5. Scaling with the batch size
# ---------------------------------------------------------------------------------------

__all__ = ["batch_scaling_rules"]


@functools.cache
def batch_scaling_rules() -> Derivation:
    """Two steps at B = 1 with η_1 against one step at B = 2 with 2η_1.

    In one dimension, with per-example gradients a = ∇loss_1(Φ_t) and f = ∇loss_2,
    Φ_{t+2} − Φ_B2 = −η_1 (f(Φ_t − η_1 a) − f(Φ_t)) = η_1² f'(Φ_t) a + O(η_1³): the
    Hessian of the second example times the first gradient. For quadratic losses in
    two dimensions the remainder is exactly η_1² H ∇loss_1(Φ_t). Three steps give the
    sum over ordered pairs. Then η_B = B η_1, N_{μ,B} = N_{μ,1}/B (negative weights once
    N_{μ,B} < 1, divergence once N_{μ,B} ≤ 1/2), η'_B = B η'_1 in the form Φ −= η' μ
    (so η_B = B² η_1 in the form with v), and N_s counted in examples.
    """
    eta, Phi, a1, a2 = sp.symbols("eta_1 Phi a_1 a_2", real=True)
    f, f2, f3 = sp.Function("f"), sp.Function("f_2"), sp.Function("f_3")
    two_steps = Phi - eta * a1 - eta * f(Phi - eta * a1)
    one_step = Phi - 2 * eta * (a1 + f(Phi)) / 2
    remainder = sp.series(two_steps - one_step, eta, 0, 3).removeO().doit()

    # three steps with per-example gradient functions a1 (constant part), f2, f3
    p1 = Phi - eta * a1
    p2 = p1 - eta * f2(p1)
    p3 = p2 - eta * f3(p2)
    big = Phi - 3 * eta * (a1 + f2(Phi) + f3(Phi)) / 3
    rem3 = sp.series(p3 - big, eta, 0, 3).removeO().doit()
    fp = lambda F: sp.Derivative(F(Phi), Phi)  # noqa: E731
    rem3_expected = eta**2 * (fp(f2) * a1 + fp(f3) * (a1 + f2(Phi)))

    # 2-D quadratics: loss_i(Φ) = ½(Φ − y_i)ᵀ H (Φ − y_i)
    h11, h12, h22 = sp.symbols("h_11 h_12 h_22", real=True)
    H = sp.Matrix([[h11, h12], [h12, h22]])
    P = sp.Matrix(sp.symbols("phi_1 phi_2", real=True))
    Y1 = sp.Matrix(sp.symbols("y_11 y_12", real=True))
    Y2 = sp.Matrix(sp.symbols("y_21 y_22", real=True))
    grad = lambda Q, Y: H * (Q - Y)  # noqa: E731
    q1 = P - eta * grad(P, Y1)
    q2 = q1 - eta * grad(q1, Y2)
    q_big = P - 2 * eta * (grad(P, Y1) + grad(P, Y2)) / 2
    exact_rem = (q2 - q_big).applyfunc(sp.expand)

    N1, B, u = sp.symbols(r"N_{\mu\,1} B u", positive=True)
    NB = N1 / B
    g, sigma = sp.Symbol("g", real=True), sp.Symbol("sigma", positive=True)
    eta1p = sp.Symbol(r"\eta'_1", positive=True)
    T = sp.Symbol("T", positive=True)  # examples processed
    claims = {
        "two_steps_minus_one_double_step_second_order": identity(
            remainder,
            eta**2 * a1 * sp.Derivative(f(Phi), Phi),
            r"\Phi_{t+2} - \Phi_{B=2} = \eta_1^2\, a_1\, f'(\Phi) + O(\eta_1^3)",
        ),
        "three_steps_remainder_sums_ordered_pairs": eq(rem3, rem3_expected),
        "quadratic_2d_remainder_is_exact": Identity(
            exact_rem, eta**2 * H * grad(P, Y1)
        ),
        "N_mu_B_times_B_is_N_mu_1": identity(NB * B, N1, r"N_{\mu,B}\, B = N_{\mu,1}"),
        "weight_negative_when_N_mu_B_below_1": Inequality(
            1 - 1 / NB, "<=", where={B: N1 * (1 + u)}
        ),
        "weights_still_sum_to_one_when_N_above_half": Series(
            (1 - 1 / (sp.Rational(1, 2) + u))
            ** sp.Symbol("n", integer=True, nonnegative=True)
            / (sp.Rational(1, 2) + u),
            sp.Symbol("n", integer=True, nonnegative=True),
            0,
            1,
            where={u: sp.Rational(1, 2) + u},
        ),
        "average_diverges_when_N_at_most_half": Series(
            (1 / (sp.Rational(1, 2) / (1 + u)) - 1)
            ** sp.Symbol("n", integer=True, nonnegative=True),
            sp.Symbol("n", integer=True, nonnegative=True),
            0,
            sp.oo,
        ),
        "eta_prime_scales_with_B": identity(
            (T / B) * (B * eta1p) * g,
            T * eta1p * g,
            r"\frac{T}{B}\,(B\,\eta'_1)\, g = T\,\eta'_1\, g"
            r"\quad (T/B \text{ steps of } \eta'_B = B\eta'_1)",
        ),
        "eta_in_v_form_scales_with_B_squared": identity(
            (B * eta1p) / NB,
            B**2 * (eta1p / N1),
            r"\eta_B = \frac{\eta'_B}{N_{\mu,B}} = \frac{B\,\eta'_1}{N_{\mu,1}/B}"
            r" = B^2\,\frac{\eta'_1}{N_{\mu,1}}",
        ),
        "per_example_squares_target_is_independent_of_B": identity(
            (B * (g**2 + sigma**2)) / B,
            g**2 + sigma**2,
            r"\E\,\frac1B\sum_{i=1}^{B} \hat g_i^2 = g^2 + \sigma^2 \text{ for every } B",
        ),
        "batch_mean_squares_target_depends_on_B": Counterexample(
            g**2 + sigma**2 / B, g**2 + sigma**2, {B: 2, g: 0, sigma: 1}
        ),
    }
    steps = [
        ("two steps at $B=1$", eq(sp.Symbol(r"\Phi_{t+2}"), two_steps)),
        ("one step at $B=2$, $2\\eta_1$", eq(sp.Symbol(r"\Phi'_{t+2}"), one_step)),
        (
            "difference to second order",
            eq(sp.Symbol(r"\Phi_{t+2} - \Phi'_{t+2}"), remainder),
        ),
        (
            "2-D quadratic, exact",
            eq(
                sp.Symbol(r"\Phi_{t+2} - \Phi'_{t+2}"),
                sp.MatMul(
                    eta**2, sp.Symbol("H"), sp.Symbol(r"\nabla\mathrm{loss}_1(\Phi_t)")
                ),
            ),
        ),
        ("momentum constant per example", eq(sp.Symbol(r"N_{\mu,B}"), NB)),
    ]
    return Derivation(
        "Scaling η, N_μ and N_s with the batch size",
        {"eta_1": eta, "Phi": Phi, "B": B},
        steps,
        claims,
        label="deriv-scaling",
    )
