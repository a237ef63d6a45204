"""The derivations of Chapter 8, checked with sympy."""

from __future__ import annotations

import functools

import sympy as sp

from lab.derivations.claims import (
    Counterexample,
    Derivation,
    Identity,
    Inequality,
    Limit,
    Series,
    eq,
    identity,
)

# ---------------------------------------------------------------------------------------
# 5. Scaling with the batch size
# ---------------------------------------------------------------------------------------

__all__ = ["batch_scaling_rules", "noise_scale_at_stationarity"]


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
    E = sp.Symbol("E", positive=True)  # examples processed (T is a temperature)
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
            (E / B) * (B * eta1p) * g,
            E * eta1p * g,
            r"\frac{E}{B}\,(B\,\eta'_1)\, g = E\,\eta'_1\, g"
            r"\quad (E/B \text{ steps of } \eta'_B = B\eta'_1)",
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


# ---------------------------------------------------------------------------------------
# 5b. The stability batch size against McCandlish et al.'s noise scale
# ---------------------------------------------------------------------------------------


@functools.cache
def noise_scale_at_stationarity() -> Derivation:
    """B_noise = tr(HΣ)/(GᵀHG) at SGD's stationary point of the noisy quadratic.

    Coordinate i: Φ_{t+1} = (1 − ηh_i)Φ_t + ηξ_t, Var ξ_t = σ_i²/B, so the stationary
    second moment solves m = (1 − ηh_i)² m + η²σ_i²/B: m_i = ησ_i²/(B h_i (2 − ηh_i)),
    attracting for 0 < ηh_i < 2. With H = diag(h_i), Σ = diag(σ_i²) (the per-example
    gradient covariance, independent of Φ) and G = HΦ:

        tr(HΣ) = Σ h_i σ_i²,   E GᵀHG = Σ h_i³ m_i = (η/B) Σ h_i²σ_i²/(2 − ηh_i).

    One approximation: GᵀHG, random at stationarity, is replaced by its mean, i.e.
    B_noise := tr(HΣ)/E GᵀHG (a ratio of expectations, as when numerator and
    denominator are estimated separately). Under linear scaling η/B = η_1, so

        B_noise = Σ h_iσ_i² / (η_1 Σ h_i²σ_i²/(2 − ηh_i))  →  2/(η_1 h̄)  as η → 0,

    with h̄ = Σh_i²σ_i²/Σh_iσ_i² ≤ h_max (a mean of the h_i with weights h_iσ_i²). The
    small-η limit drops ηh_i against 2; exactly, (1 − ηh_max/2)·2/(η_1h̄) ≤ B_noise ≤
    2/(η_1h̄) for 0 < ηh_max < 2, and to first order B_noise = 2/(η_1h̄)(1 − ηh̿/2) with
    h̿ = Σh_i³σ_i²/Σh_i²σ_i². Hence B_noise ≈ 2/(η_1h̄) ≥ 2/(η_1h_max) = B_stab, the
    batch size at which η_B = Bη_1 reaches the stability limit 2/h_max. The limit and
    the first-order term are checked for d = 3 coordinates, the bounds termwise (any d).
    """
    eta, eta1, B, u, v = sp.symbols("eta eta_1 B u v", positive=True)
    h, s, m, hM = sp.symbols(r"h sigma m h_{\max}", positive=True)
    recursion = (1 - eta * h) ** 2 * m + eta**2 * s**2 / B
    m_star = sp.solve(sp.Eq(m, recursion), m)[0]

    hs = sp.symbols("h_1:4", positive=True)
    ss = sp.symbols("sigma_1:4", positive=True)
    h_max = hs[2]
    tr_HS = sum(hi * si**2 for hi, si in zip(hs, ss))
    E_GHG = sum(hi**3 * m_star.subs({h: hi, s: si}) for hi, si in zip(hs, ss))
    B_noise = (tr_HS / E_GHG).subs(B, eta / eta1)  # linear scaling: B = η/η_1
    h_bar = sum(hi**2 * si**2 for hi, si in zip(hs, ss)) / tr_HS
    h_bar2 = sum(hi**3 * si**2 for hi, si in zip(hs, ss)) / sum(
        hi**2 * si**2 for hi, si in zip(hs, ss)
    )
    B_stab = 2 / (eta1 * h_max)
    first_order = sp.series(B_noise, eta, 0, 2).removeO()
    # h_3 = h_max is the largest curvature; η below the stability limit 2/h_max
    largest = {hs[0]: h_max / (1 + u), hs[1]: h_max / (1 + v)}
    claims = {
        "stationary_second_moment": identity(
            m_star,
            eta * s**2 / (B * h * (2 - eta * h)),
            r"m = (1 - \eta h)^2 m + \frac{\eta^2\sigma^2}{B}"
            r" \iff m = \frac{\eta\,\sigma^2}{B\,h\,(2 - \eta h)}",
        ),
        "stationary_point_attracts_below_the_stability_limit": Inequality(
            1 - (1 - eta * h) ** 2, ">=", where={eta: 2 / (h * (1 + u))}
        ),
        "expected_GHG_per_coordinate": identity(
            h**3 * m_star,
            eta * h**2 * s**2 / (B * (2 - eta * h)),
            r"h^3\,\E\,\Phi^2 = \frac{\eta}{B}\,\frac{h^2\sigma^2}{2 - \eta h}",
        ),
        "noise_scale_under_linear_scaling": identity(
            B_noise,
            tr_HS
            / (eta1 * sum(hi**2 * si**2 / (2 - eta * hi) for hi, si in zip(hs, ss))),
            r"\frac{\operatorname{tr}(H\Sigma)}{\E\,G^\top H G}\Big|_{B = \eta/\eta_1}"
            r" = \frac{\sum_i h_i\sigma_i^2}{\eta_1 \sum_i h_i^2\sigma_i^2/(2 - \eta h_i)}",
        ),
        "small_eta_limit_is_two_over_eta1_hbar": Limit(
            B_noise, eta, 0, 2 / (eta1 * h_bar)
        ),
        "first_order_correction": identity(
            first_order,
            2 / (eta1 * h_bar) * (1 - eta * h_bar2 / 2),
            r"B_{\text{noise}} = \frac{2}{\eta_1 \bar h}\Big(1 - \frac{\eta\,"
            r"\bar{\bar h}}{2}\Big) + O(\eta^2),\quad \bar{\bar h} = "
            r"\frac{\sum_i h_i^3\sigma_i^2}{\sum_i h_i^2\sigma_i^2}",
        ),
        # termwise bounds on 1/(2 − ηh_i) in E GᵀHG, so they hold for every d:
        # 1/2 ≤ 1/(2 − ηh_i) gives B_noise ≤ 2/(η_1h̄) ...
        "limit_is_an_upper_bound_termwise": Inequality(
            1 / (2 - eta * h) - sp.Rational(1, 2), ">=", where={eta: 2 / (h * (1 + u))}
        ),
        # ... and 1/(2 − ηh_i) ≤ 1/(2 − ηh_max) gives B_noise ≥ (1 − ηh_max/2)·2/(η_1h̄)
        "relative_error_at_most_eta_h_max_over_2_termwise": Inequality(
            (2 - eta * hM) / (2 - eta * h) - 1,
            "<=",
            where={h: hM / (1 + v), eta: 2 / (hM * (1 + u))},
        ),
        "hbar_at_most_h_max": Inequality(h_max - h_bar, ">=", where=largest),
        "small_eta_noise_scale_at_least_B_stab": Inequality(
            2 / (eta1 * h_bar) - B_stab, ">=", where=largest
        ),
        "equal_when_noise_only_along_h_max": identity(
            (2 / (eta1 * h_bar)).subs({ss[0]: 0, ss[1]: 0}),
            B_stab,
            r"\sigma_i = 0 \text{ for } h_i < h_{\max}"
            r" \implies \frac{2}{\eta_1\bar h} = \frac{2}{\eta_1 h_{\max}} = B_{\text{stab}}",
        ),
    }
    i, d = sp.symbols("i d", integer=True, positive=True)
    hI, sI = sp.IndexedBase("h"), sp.IndexedBase("sigma")

    def total(term):
        return sp.Sum(term, (i, 1, d))

    steps = [
        (
            "stationary $\\E\\,\\Phi_i^2$",
            eq(sp.Symbol("m_i"), m_star.subs({h: hI[i], s: sI[i]})),
        ),
        (
            "numerator",
            eq(sp.Symbol(r"\operatorname{tr}(H\Sigma)"), total(hI[i] * sI[i] ** 2)),
        ),
        (
            "denominator",
            eq(
                sp.Symbol(r"\mathbb{E}\,G^\top H G"),
                eta / B * total(hI[i] ** 2 * sI[i] ** 2 / (2 - eta * hI[i])),
            ),
        ),
        (
            "$\\eta/B = \\eta_1$, then $\\eta \\to 0$",
            eq(sp.Symbol(r"B_{\text{noise}}"), 2 / (eta1 * sp.Symbol(r"\bar h"))),
        ),
        (
            "weighted mean curvature",
            eq(
                sp.Symbol(r"\bar h"),
                total(hI[i] ** 2 * sI[i] ** 2) / total(hI[i] * sI[i] ** 2),
            ),
        ),
        ("stability batch size", eq(sp.Symbol(r"B_{\text{stab}}"), 2 / (eta1 * hM))),
    ]
    return Derivation(
        "B_stab and the noise scale B_noise at SGD's stationary point",
        {"eta": eta, "eta_1": eta1, "B": B, "h": h, "sigma": s, "h_max": hM},
        steps,
        claims,
        label="deriv-noise-scale",
    )
