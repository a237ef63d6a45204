"""The derivations of Chapter 10, checked with sympy."""

from __future__ import annotations

import functools

import sympy as sp

from lab.derivations.claims import Derivation, Inequality, Limit, eq, identity

# ---------------------------------------------------------------------------------------
# 8. The progress guarantee and the lecture's B*, η*
# ---------------------------------------------------------------------------------------

__all__ = ["progress_guarantee", "expected_progress"]


def _progress_symbols():
    L, gh, sh, B, eta = sp.symbols(r"L \hat{g} \hat{\sigma} B eta", positive=True)
    g = sp.Symbol("g", real=True)
    return L, gh, sh, B, eta, g


@functools.cache
def progress_guarantee() -> Derivation:
    """From loss'' ≤ L and ``|g − ĝ| ≤ 2σ̂/√B`` (ĝ > 0):
    loss(Φ − ηĝ) ≤ loss(Φ) − η(ĝ − 2σ̂/√B)ĝ + ½Lη²ĝ². Maximising over η:
    η*(B) = (1/L)(1 − 2σ̂/(ĝ√B)), guaranteed progress (L/2)η*(B)²ĝ². Maximising
    progress per example η*(B)²/B over B ≥ 4σ̂²/ĝ² (where η*(B) ≥ 0): B* = 16σ̂²/ĝ²,
    η* = 1/(2L), η_B = B ĝ²/(32σ̂²L).
    """
    L, gh, sh, B, eta, g = _progress_symbols()
    u, w, h, Delta, loss0 = sp.symbols("u w h Delta loss_0", positive=True)
    c = 2 * sh / sp.sqrt(B)
    # quadratic with curvature h = L − u ≤ L: the Taylor bound
    quad_next = loss0 - g * Delta + h * Delta**2 / 2
    bound = loss0 - g * Delta + L * Delta**2 / 2
    guarantee = loss0 - eta * (gh - c) * gh + L * eta**2 * gh**2 / 2
    progress = eta * (gh - c) * gh - L * eta**2 * gh**2 / 2
    eta_star_B = sp.solve(sp.diff(progress, eta), eta)[0]
    per_example = eta_star_B**2 / B
    inner = 1 / sp.sqrt(B) - 2 * sh / (gh * B)
    B_star = sp.solve(sp.diff(inner, B), B)[0]
    eta_star = sp.simplify(eta_star_B.subs(B, B_star))
    eta_B = sp.simplify(B / B_star * eta_star)
    # B = a² w² with a = 2σ̂/ĝ: η*(B) ≥ 0 iff w ≥ 1; B* is w = 2
    aa = 2 * sh / gh
    pe_w = sp.simplify(per_example.subs(B, aa**2 * w**2))
    claims = {
        "taylor_bound_for_curvature_at_most_L": Inequality(
            quad_next - bound, "<=", where={h: L - u}
        ),
        "rewrite_g_as_ghat_minus_error": identity(
            -g * eta * gh,
            -eta * (gh - (gh - g)) * gh,
            r"-\eta\, g\,\ghat = -\eta\,\big(\ghat - (\ghat - g)\big)\,\ghat",
        ),
        "error_bound_step_for_positive_ghat": Inequality(
            (-eta * (gh - c) * gh) - (-eta * (gh - (gh - g)) * gh),
            ">=",
            where={g: gh - c + u},
        ),
        "eta_star_B": eq(eta_star_B, (1 - 2 * sh / (gh * sp.sqrt(B))) / L),
        "optimality_condition": eq(gh * (gh - c), L * eta_star_B * gh**2),
        "bound_at_eta_star": eq(
            guarantee.subs(eta, eta_star_B), loss0 - L / 2 * eta_star_B**2 * gh**2
        ),
        "progress_per_example": eq(per_example, inner**2 / L**2),
        "stationarity_in_B": identity(
            sp.diff(inner, B),
            -sp.Rational(1, 2) * B ** sp.Rational(-3, 2) + 2 * sh / gh * B**-2,
            r"\frac{d}{dB}\left(\frac{1}{\sqrt B} - \frac{2\sighat}{\ghat B}\right)"
            r" = -\frac12 B^{-3/2} + \frac{2\sighat}{\ghat}\, B^{-2}",
        ),
        "B_star": identity(
            B_star,
            16 * sh**2 / gh**2,
            r"\frac{d}{dB}\frac{\eta^*(B)^2}{B} = 0 \iff B = B^* = \frac{16\sighat^2}{\ghat^2}",
        ),
        "eta_star_is_half_over_L": identity(
            eta_star,
            1 / (2 * L),
            r"\eta^*(B^*) = \frac1L\left(1 - \frac{2\sighat}{\ghat\sqrt{B^*}}\right)"
            r" = \frac{1}{2L}",
        ),
        "eta_B": identity(
            eta_B,
            B * gh**2 / (32 * sh**2 * L),
            r"\eta_B = \frac{B}{B^*}\,\eta^*(B^*) = \frac{B\,\ghat^2}{32\,\sighat^2 L}",
        ),
        "B_star_is_maximum_where_eta_star_nonnegative": Inequality(
            pe_w.subs(w, 2) - pe_w, ">=", where={w: 1 + u}
        ),
        "unconstrained_objective_unbounded_as_B_to_0": Limit(per_example, B, 0, sp.oo),
    }
    steps = [
        (
            "smoothness",
            sp.Le(
                sp.Symbol(r"\mathrm{loss}(\Phi - \Delta)"),
                bound.subs(loss0, sp.Symbol(r"\mathrm{loss}(\Phi)")),
            ),
        ),
        (
            "guarantee",
            sp.Le(
                sp.Symbol(r"\mathrm{loss}(\Phi - \eta\hat{g})"),
                guarantee.subs(loss0, sp.Symbol(r"\mathrm{loss}(\Phi)")),
            ),
        ),
        ("best $\\eta$", eq(sp.Symbol(r"\eta^{*}(B)"), eta_star_B)),
        ("progress per example", eq(sp.Symbol(r"\eta^{*}(B)^{2}/B"), inner**2 / L**2)),
        ("best $B$", eq(sp.Symbol("B^*"), B_star)),
        ("then", eq(sp.Symbol(r"\eta^*"), eta_star)),
        ("scaled down", eq(sp.Symbol(r"\eta_B"), eta_B)),
    ]
    return Derivation(
        "The progress guarantee, η*(B), B* and η_B",
        {"L": L, "ghat": gh, "sighat": sh, "B": B, "eta": eta, "g": g},
        steps,
        claims,
        label="deriv-progress",
    )


# ---------------------------------------------------------------------------------------
# 10. Expected progress
# ---------------------------------------------------------------------------------------


@functools.cache
def expected_progress() -> Derivation:
    """With E ĝ = g and E ĝ² = g² + σ²/B in place of the 2σ̂/√B bound:
    E loss(Φ − ηĝ) ≤ loss(Φ) − ηg² + ½Lη²(g² + σ²/B); best η(B) = (1/L) B/(B + B_noise)
    with B_noise = σ²/g²; per-step progress g²/(2L) · B/(B + B_noise); per-example
    progress decreases in B, so no finite batch size maximises it: the expected-value
    analysis has no B*. Small batches give η_B ≈ B g²/(Lσ²), linear in B like the
    lecture's η_B = B ĝ²/(32σ̂²L) but 32 times larger; B_noise = B*/16.
    """
    L, g, sigma, B, eta, u = sp.symbols("L g sigma B eta u", positive=True)
    loss0 = sp.Symbol("loss_0", real=True)
    second = g**2 + sigma**2 / B
    bound = loss0 - eta * g**2 + L * eta**2 * second / 2
    progress = eta * g**2 - L * eta**2 * second / 2
    eta_B = sp.solve(sp.diff(progress, eta), eta)[0]
    best = sp.simplify(progress.subs(eta, eta_B))
    per_example = sp.simplify(best / B)
    B_noise = sigma**2 / g**2
    claims = {
        "expected_bound": identity(
            loss0 - eta * g * g + L * eta**2 * second / 2,
            bound,
            r"\E\,\mathrm{loss}(\Phi - \eta\ghat) \le \mathrm{loss}_0 - \eta\, g\,\E\,\ghat"
            r" + \frac L2 \eta^2\, \E\,\ghat^2 = \mathrm{loss}_0 - \eta g^2"
            r" + \frac L2 \eta^2 \left(g^2 + \frac{\sigma^2}{B}\right)",
        ),
        "optimal_eta": eq(eta_B, B / (L * (B + B_noise))),
        "optimal_eta_large_B": Limit(eta_B, B, sp.oo, 1 / L),
        "optimal_eta_small_B_is_linear": Limit(eta_B / B, B, 0, g**2 / (L * sigma**2)),
        "per_step_progress": eq(best, g**2 / (2 * L) * B / (B + B_noise)),
        "half_of_max_progress_at_B_noise": identity(
            best.subs(B, B_noise),
            g**2 / (4 * L),
            r"\mathrm{progress}(\eta_B)\big\vert_{B = B_{\text{noise}}} = \frac{g^2}{4L}",
        ),
        "per_example_progress_decreases_in_B": Inequality(
            sp.diff(per_example, B), "<="
        ),
        "per_example_progress_sup_at_B_to_0": Limit(
            per_example, B, 0, g**2 / (2 * L) / B_noise
        ),
        "lecture_eta_B_is_32x_smaller": identity(
            (g**2 / (L * sigma**2)) / (g**2 / (32 * sigma**2 * L)),
            32,
            r"\frac{g^2/(L\sigma^2)}{g^2/(32\,\sigma^2 L)} = 32",
        ),
        "lecture_B_star_is_16_B_noise": identity(
            (16 * sigma**2 / g**2) / B_noise,
            16,
            r"\frac{B^*}{B_{\text{noise}}} = \frac{16\sigma^2/g^2}{\sigma^2/g^2} = 16",
        ),
        "eta_at_lecture_B_star": identity(
            eta_B.subs(B, 16 * B_noise),
            sp.Rational(16, 17) / L,
            r"\eta_B\big\vert_{B = 16 B_{\text{noise}}} = \frac{16}{17 L}",
        ),
    }
    steps = [
        (
            "bound in expectation",
            sp.Le(sp.Symbol(r"\mathbb{E}\,\mathrm{loss}(\Phi-\eta\hat{g})"), bound),
        ),
        ("best $\\eta$", eq(sp.Symbol(r"\eta(B)"), eta_B)),
        ("progress per step", eq(sp.Symbol(r"P(B)"), best)),
        ("progress per example", eq(sp.Symbol(r"P(B)/B"), per_example)),
    ]
    return Derivation(
        "Expected progress: the B*/η* analysis with E ĝ² = g² + σ²/B",
        {"L": L, "g": g, "sigma": sigma, "B": B, "eta": eta},
        steps,
        claims,
        label="deriv-expected-progress",
    )
