"""Derivations of the lecture, written out and checked with sympy.

Each public function returns a :class:`Derivation`: the symbols it uses, the steps a
chapter displays, and the claims a test checks. A claim is an unevaluated ``sympy.Eq``; it holds
when ``simplify(lhs - rhs) == 0``. :meth:`Derivation.check_numerically` substitutes
random admissible values as an independent guard against a simplification that
proves the wrong thing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import sympy as sp
from sympy import stats as sps

__all__ = ["Derivation", "one_dim_example"]


@dataclass(frozen=True)
class Derivation:
    """A derivation: its title, symbols, displayed steps and checkable claims.

    ``steps`` is a list of ``(text, sympy expression or Eq)`` pairs in reading order;
    ``claims`` maps a short name to a ``sympy.Eq`` that must hold identically.
    """

    title: str
    symbols: dict[str, sp.Symbol]
    steps: list[tuple[str, sp.Basic]] = field(default_factory=list)
    claims: dict[str, sp.Eq] = field(default_factory=dict)

    def check(self) -> dict[str, bool]:
        """Each claim's verdict: ``simplify(lhs - rhs) == 0``."""
        return {name: sp.simplify(eq.lhs - eq.rhs) == 0 for name, eq in self.claims.items()}

    def check_numerically(self, trials: int = 5, seed: int = 0, tol: float = 1e-9) -> dict[str, bool]:
        """Each claim evaluated at ``trials`` random points of its symbols' domains.

        Positive symbols get values in [0.5, 5], integer ones in [1, 20], real ones in
        [-3, 3]. A claim passes when |lhs - rhs| <= tol * (1 + |lhs|) at every point.
        """
        rng = random.Random(seed)
        verdicts = {}
        for name, eq in self.claims.items():
            ok = True
            free = sorted(eq.lhs.free_symbols | eq.rhs.free_symbols, key=str)
            for _ in range(trials):
                values = {s: _random_value(s, rng) for s in free}
                lhs = complex(sp.N(eq.lhs.subs(values)))
                rhs = complex(sp.N(eq.rhs.subs(values)))
                ok &= abs(lhs - rhs) <= tol * (1 + abs(lhs))
            verdicts[name] = bool(ok)
        return verdicts

    def _repr_markdown_(self) -> str:
        lines = [f"**{self.title}**", ""]
        for text, expr in self.steps:
            lines.append(f"- {text}: ${sp.latex(expr)}$")
        return "\n".join(lines)


def _eq(lhs, rhs) -> sp.Eq:
    """An unevaluated equation, so that a claim that already holds stays inspectable."""
    return sp.Eq(sp.sympify(lhs), sp.sympify(rhs), evaluate=False)


def _random_value(symbol: sp.Symbol, rng: random.Random):
    if symbol.is_integer:
        return rng.randint(1, 20)
    if symbol.is_positive:
        return sp.Rational(rng.randint(50, 500), 100)
    return sp.Rational(rng.randint(-300, 300), 100)


def one_dim_example(exact_batch_sizes: tuple[int, ...] = (1, 2, 3, 4)) -> Derivation:
    """The lecture's one-dimensional example: loss(β, y) = ½(β − y)².

    With E y = μ and Var y = σ² (per example), the population gradient is
    g = β − μ and the batch gradient is ĝ = β − ȳ with ȳ the mean of B draws.
    Claims: E ĝ = g; at β* = μ, E ĝ = 0; Var ĝ = σ²/B for every B ≥ 1. The variance
    is derived for symbolic B from E ȳ² (independent draws: E y_i y_j = μ² for i ≠ j)
    and confirmed exactly with ``sympy.stats`` for the batch sizes in
    ``exact_batch_sizes``, for Gaussian and for Bernoulli populations (the claim does
    not depend on the distribution).
    """
    beta, y = sp.symbols("beta y", real=True)
    mu = sp.Symbol("mu", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    B = sp.Symbol("B", integer=True, positive=True)

    loss = sp.Rational(1, 2) * (beta - y) ** 2
    dloss = sp.diff(loss, beta)  # β − y, linear in y, so E commutes with d/dβ
    g = dloss.subs(y, mu)
    ybar = sp.Symbol(r"\bar{y}", real=True)
    ghat = dloss.subs(y, ybar)

    # E ȳ² = (1/B²)[Σ_i E y_i² + Σ_{i≠j} E y_i E y_j] = (1/B²)[B(σ² + μ²) + B(B − 1)μ²]
    E_ybar_sq = (B * (sigma**2 + mu**2) + B * (B - 1) * mu**2) / B**2
    var_ghat = sp.simplify(E_ybar_sq - mu**2)  # Var ĝ = Var ȳ (β is not random)
    E_ghat = beta - mu

    claims = {
        "g_is_beta_minus_mean": _eq(g, beta - mu),
        "ghat_unbiased": _eq(E_ghat, g),
        "ghat_zero_mean_at_optimum": _eq(E_ghat.subs(beta, mu), 0),
        "var_ghat_is_sigma2_over_B": _eq(var_ghat, sigma**2 / B),
    }
    p = sp.Symbol("p", positive=True)
    for b in exact_batch_sizes:
        normal = [sps.Normal(f"y_{k}", mu, sigma) for k in range(b)]
        ghat_b = beta - sum(normal) / b
        claims[f"exact_gaussian_B{b}_mean"] = _eq(sp.simplify(sps.E(ghat_b)), beta - mu)
        claims[f"exact_gaussian_B{b}_variance"] = _eq(sp.simplify(sps.variance(ghat_b)), sigma**2 / b)
        coins = [sps.Bernoulli(f"c_{k}", p) for k in range(b)]
        claims[f"exact_bernoulli_B{b}_variance"] = _eq(
            sp.simplify(sps.variance(beta - sum(coins) / b)), p * (1 - p) / b
        )

    steps = [
        (r"loss", _eq(sp.Function("loss")(beta, y), loss)),
        (r"per-example gradient", _eq(sp.Derivative(sp.Function("loss")(beta, y), beta), dloss)),
        (r"population gradient $g$", _eq(sp.Symbol("g"), g)),
        (r"batch gradient $\hat g$", _eq(sp.Symbol(r"\hat{g}"), ghat)),
        (r"second moment of the batch mean", _eq(sp.Symbol(r"E\,\bar{y}^2"), E_ybar_sq)),
        (r"variance of $\hat g$", _eq(sp.Symbol(r"\mathrm{Var}\,\hat{g}"), var_ghat)),
    ]
    return Derivation(
        title="One-dimensional example: E ĝ = g and Var ĝ = σ²/B",
        symbols={"beta": beta, "mu": mu, "sigma": sigma, "B": B, "y": y},
        steps=steps,
        claims=claims,
    )
