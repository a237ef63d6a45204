"""The derivations of Chapter 5, checked with sympy."""

from __future__ import annotations

import sympy as sp

from lab.derivations.claims import (
    Derivation,
    _batch_sizes,
    _cached,
    eq,
    expect_iid,
    identity,
)

# ---------------------------------------------------------------------------------------
# 4. RMSProp
# ---------------------------------------------------------------------------------------

__all__ = ["rmsprop_second_moment"]


@_cached(exact_batch_sizes=_batch_sizes)
def rmsprop_second_moment(exact_batch_sizes: tuple[int, ...] = (1, 2, 3)) -> Derivation:
    """E ĝ² = g² + Var ĝ, and Var ĝ = σ²/B when σ is the per-example standard deviation.

    Per-example gradients g_i = g + ξ_i with E ξ = 0, Var ξ = σ²; ĝ is their mean over B.
    So s_t of RMSProp tracks g² + σ²/B: with σ per example the slide's g² + σ² holds only
    for B = 1. Averaging per-example squares instead tracks g² + σ² for every B.
    Confirmed exactly for the batch sizes in ``exact_batch_sizes`` (1 to 16 of them,
    each in [1, 16]).
    """
    g = sp.Symbol("g", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    B = sp.Symbol("B", integer=True, positive=True)
    # ĝ = g + ξ̄ with E ξ̄ = 0, E ξ̄² = σ²/B (see one_dim_example): expand (g + ξ̄)²
    xibar = sp.Symbol(r"\bar{\xi}", real=True)
    second = sp.expand((g + xibar) ** 2)
    E_second = second.subs(xibar**2, sigma**2 / B).subs(xibar, 0)
    claims = {
        "second_moment_is_g2_plus_variance": identity(
            E_second,
            g**2 + sigma**2 / B,
            r"\E\,\ghat^2 = g^2 + 2g\,\E\,\bar\xi + \E\,\bar\xi^2 = g^2 + \frac{\sigma^2}{B}",
        ),
        "mean_of_per_example_squares_is_g2_plus_sigma2": identity(
            (B * (g**2 + sigma**2)) / B,
            g**2 + sigma**2,
            r"\E\,\frac1B\sum_{i=1}^{B} \hat g_i^2 = \frac{B\,(g^2 + \sigma^2)}{B}"
            r" = g^2 + \sigma^2",
        ),
    }
    mu = sp.Symbol("mu", real=True)
    for b in exact_batch_sizes:
        draws = sp.symbols(f"y_0:{b}", real=True)
        ghat_b = sum(draws) / b  # per-example gradients ~ Normal(μ, σ): here g = μ
        claims[f"exact_gaussian_B{b}"] = identity(
            expect_iid(ghat_b**2, draws, "normal"),
            mu**2 + sigma**2 / b,
            rf"\E\,\ghat^2 = {sp.latex(mu**2 + sigma**2 / b)}\quad (B = {b},\ "
            r"\hat g_i \sim \mathcal N(\mu, \sigma^2)\text{ i.i.d.})",
        )
    steps = [
        ("batch gradient", eq(sp.Symbol(r"\hat{g}"), g + xibar)),
        ("its square", eq(sp.Symbol(r"\hat{g}^2"), second)),
        ("expectation", eq(sp.Symbol(r"\mathbb{E}\hat{g}^2"), E_second)),
    ]
    return Derivation(
        "RMSProp: E ĝ² = g² + σ²/B",
        {"g": g, "sigma": sigma, "B": B},
        steps,
        claims,
        label="deriv-rmsprop",
    )
