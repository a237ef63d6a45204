"""The derivations of Chapter 1, checked with sympy."""

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
# 1. The one-dimensional example
# ---------------------------------------------------------------------------------------

__all__ = ["one_dim_example"]


@_cached(exact_batch_sizes=_batch_sizes)
def one_dim_example(exact_batch_sizes: tuple[int, ...] = (1, 2, 3, 4)) -> Derivation:
    """The lecture's one-dimensional example: loss(Φ, y) = ½(Φ − y)².

    The lecture writes β for the parameter Φ. With E y = μ and Var y = σ² (per
    example), the population gradient is g = Φ − μ and the batch gradient is
    ĝ = Φ − ȳ with ȳ the mean of B draws.
    Claims: E ĝ = g; at Φ* = μ, E ĝ = 0; Var ĝ = σ²/B for every B ≥ 1. The variance
    is derived for symbolic B from E ȳ² (independent draws: E y_i y_j = μ² for i ≠ j)
    and confirmed exactly for the batch sizes in ``exact_batch_sizes`` (1 to 16 of
    them, each in [1, 16]), for Gaussian
    and for Bernoulli populations (the claim does not depend on the distribution), by
    expanding ĝ² and taking each draw's moments with ``sympy.stats``.
    """
    phi, y = sp.symbols("Phi y", real=True)
    mu = sp.Symbol("mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    B = sp.Symbol("B", integer=True, positive=True)

    loss = sp.Rational(1, 2) * (phi - y) ** 2
    dloss = sp.diff(loss, phi)  # Φ − y, linear in y, so E commutes with d/dΦ
    g = dloss.subs(y, mu)
    ybar = sp.Symbol(r"\bar{y}", real=True)
    ghat = dloss.subs(y, ybar)

    # E ȳ² = (1/B²)[Σ_i E y_i² + Σ_{i≠j} E y_i E y_j] = (1/B²)[B(σ² + μ²) + B(B − 1)μ²]
    E_ybar_sq = (B * (sigma**2 + mu**2) + B * (B - 1) * mu**2) / B**2
    var_ghat = sp.simplify(E_ybar_sq - mu**2)  # Var ĝ = Var ȳ (Φ is not random)
    E_ghat = phi - mu

    claims = {
        "g_is_phi_minus_mean": identity(
            g,
            phi - mu,
            r"g = \frac{\partial}{\partial\Phi}\,\tfrac12(\Phi - y)^2"
            r"\Big\vert_{y = \mu} = \Phi - \mu",
        ),
        "ghat_unbiased": identity(
            E_ghat, g, r"\E\,\ghat = \Phi - \E\,\bar y = \Phi - \mu = g"
        ),
        "ghat_zero_mean_at_optimum": identity(
            E_ghat.subs(phi, mu), 0, r"\E\,\ghat\,\big\vert_{\Phi = \mu} = 0"
        ),
        "var_ghat_is_sigma2_over_B": identity(
            var_ghat,
            sigma**2 / B,
            r"\Var\,\ghat = \E\,\bar y^2 - \mu^2 = \frac{B(\sigma^2 + \mu^2) + B(B-1)\mu^2}{B^2}"
            r" - \mu^2 = \frac{\sigma^2}{B}",
        ),
    }
    p = sp.Symbol("p", positive=True)
    for b in exact_batch_sizes:
        draws = sp.symbols(f"y_0:{b}", real=True)
        ghat_b = phi - sum(draws) / b
        mean = expect_iid(ghat_b, draws, "normal")
        var = sp.simplify(expect_iid(ghat_b**2, draws, "normal") - mean**2)
        given = rf"\quad (B = {b},\ y_i \sim \mathcal N(\mu, \sigma^2)\text{{ i.i.d.}})"
        claims[f"exact_gaussian_B{b}_mean"] = identity(
            mean, phi - mu, r"\E\,\ghat = \Phi - \mu" + given
        )
        claims[f"exact_gaussian_B{b}_variance"] = identity(
            var, sigma**2 / b, rf"\Var\,\ghat = {sp.latex(sigma**2 / b)}" + given
        )
        mean_c = expect_iid(ghat_b, draws, "bernoulli")
        var_c = sp.factor(expect_iid(ghat_b**2, draws, "bernoulli") - mean_c**2)
        claims[f"exact_bernoulli_B{b}_variance"] = identity(
            var_c,
            p * (1 - p) / b,
            rf"\Var\,\ghat = {sp.latex(p * (1 - p) / b)}\quad (B = {b},\ "
            r"y_i \sim \mathrm{Bernoulli}(p)\text{ i.i.d.})",
        )

    steps = [
        (r"loss", eq(sp.Function("loss")(phi, y), loss)),
        (
            r"per-example gradient",
            eq(sp.Derivative(sp.Function("loss")(phi, y), phi), dloss),
        ),
        (r"population gradient $g$", eq(sp.Symbol("g"), g)),
        (r"batch gradient $\hat g$", eq(sp.Symbol(r"\hat{g}"), ghat)),
        (
            r"second moment of the batch mean",
            eq(sp.Symbol(r"\mathbb{E}\,\bar{y}^2"), E_ybar_sq),
        ),
        (r"variance of $\hat g$", eq(sp.Symbol(r"\mathrm{Var}\,\hat{g}"), var_ghat)),
    ]
    return Derivation(
        title="One-dimensional example: E ĝ = g and Var ĝ = σ²/B",
        symbols={"phi": phi, "mu": mu, "sigma": sigma, "B": B, "y": y},
        steps=steps,
        claims=claims,
        label="deriv-one-dim",
    )
