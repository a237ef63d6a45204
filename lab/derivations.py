"""Derivations of the lecture, written out and checked with sympy.

Each public builder (``one_dim_example``, ``running_average``, ...) returns a
:class:`Derivation`: the symbols it uses, the steps a chapter displays, and the claims
a test checks. A claim is one of

- an identity, written as an unevaluated ``sympy.Eq`` (or :class:`Identity`): it holds
  when ``simplify(lhs - rhs) == 0``;
- a :class:`Limit`: ``limit(expr, var, point) == value``;
- a :class:`Series`: an infinite sum equals a closed form, converges, or diverges;
- an :class:`Inequality`: an expression is >= 0 (or <= 0) on the stated domain;
- an :class:`Induction`: a statement about a recursively defined sequence, proved for
  every t by checking the base case and the induction step symbolically;
- a :class:`Counterexample`: two expressions differ at given values.

:meth:`Derivation.check` returns name -> bool for every kind.
:meth:`Derivation.check_numerically` evaluates every claim at random admissible values
(iterating recursions, summing series, approaching limits), an independent guard
against a simplification that proves the wrong thing.

:class:`Erratum` records a place where the slides are wrong as printed: the printed
form, the corrected form and a verdict computed by sympy (:func:`errata`).
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp
from sympy import stats as sps
from sympy.core.function import AppliedUndef

__all__ = [
    "Derivation",
    "Claim",
    "Identity",
    "Limit",
    "Series",
    "Inequality",
    "Induction",
    "Counterexample",
    "WellTyped",
    "Erratum",
    "Verdict",
    "one_dim_example",
    "running_average",
    "momentum_reparameterization",
    "rmsprop_second_moment",
    "batch_scaling",
    "gradient_flow",
    "convergence_conditions",
    "progress_guarantee",
    "stationary_variance",
    "expected_progress",
    "DERIVATIONS",
    "all_derivations",
    "errata",
    "verdict_table",
    "errata_table",
]


# ---------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------


def _eq(lhs, rhs) -> sp.Eq:
    """An unevaluated equation, so that a claim that already holds stays inspectable."""
    return sp.Eq(sp.sympify(lhs), sp.sympify(rhs), evaluate=False)


def _claim(lhs, rhs, tex: str) -> Identity:
    """``lhs == rhs`` displayed as ``tex``: for a claim whose left side sympy has already
    evaluated (an expectation, a sum, a ratio), so that the page shows what was computed
    rather than ``x = x``."""
    return Identity(sp.sympify(lhs), sp.sympify(rhs), tex=tex)


def _is_zero(expr) -> bool:
    """``expr`` simplifies to zero (scalars and matrices)."""
    if isinstance(expr, sp.MatrixBase):
        return all(_is_zero(e) for e in expr)
    expr = _collapse_sums(expr)
    if expr == 0 or sp.simplify(expr) == 0:
        return True
    if isinstance(expr, sp.Sum) or expr.has(sp.Sum):
        return False
    return sp.simplify(_freeze_powers(expr)) == 0


def _freeze_powers(expr):
    """Write b^(k + c₁t + c₂N) as b^k · P_t^c₁ · P_N^c₂, with P_t standing for b^t (integers k, c).

    ``simplify`` does not see that (1 − 1/N)^t = (1 − 1/N)·(1 − 1/N)^(t − 1); after
    this rewrite the expression is rational in P and cancels.
    """
    frozen: dict = {}

    def rewrite(p):
        terms = sp.expand(p.exp).as_coefficients_dict()
        if not all((k == 1 or k.is_Symbol) and c.is_integer for k, c in terms.items()):
            return p
        out = p.base ** terms.get(sp.Integer(1), 0)
        for k, c in terms.items():
            if k != 1:
                if (p.base, k) not in frozen:
                    frozen[(p.base, k)] = sp.Dummy("P", positive=True)
                out *= frozen[(p.base, k)] ** c
        return out

    return sp.expand(expr).replace(lambda e: isinstance(e, sp.Pow) and e.exp.free_symbols, rewrite)


def _collapse_sums(expr):
    """Combine sums with equal limits into one sum and simplify each summand.

    ``a*Sum(f, L) + Sum(g, L) -> Sum(a*f + g, L)``; sympy's ``simplify`` does not do
    this when the coefficients differ, and induction steps need it.
    """
    expr = sp.sympify(expr)
    if not expr.has(sp.Sum):
        return expr
    groups: dict = {}
    rest = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(expr)):
        sums = [f for f in sp.Mul.make_args(term) if isinstance(f, sp.Sum)]
        if len(sums) == 1 and len(sums[0].limits) == 1:
            s = sums[0]
            groups[s.limits] = groups.get(s.limits, 0) + (term / s) * s.function
        else:
            rest += term
    total = sp.simplify(rest)
    for limits, summand in groups.items():
        summand = sp.simplify(summand)
        if summand != 0 and sp.simplify(_freeze_powers(summand)) == 0:
            summand = sp.Integer(0)
        if summand != 0:
            total += sp.Sum(summand, *limits)
    return total


def _peel_last(expr, t):
    """Rewrite every ``Sum(f, (s, lo, t))`` as ``Sum(f, (s, lo, t - 1)) + f(t)``."""

    def is_target(e):
        return isinstance(e, sp.Sum) and len(e.limits) == 1 and sp.simplify(e.limits[0][2] - t) == 0

    def peel(e):
        s, lo, hi = e.limits[0]
        return sp.Sum(e.function, (s, lo, hi - 1)) + e.function.subs(s, hi)

    return expr.replace(is_target, peel)


def _random_value(symbol: sp.Symbol, rng: random.Random):
    if symbol.is_integer:
        return rng.randint(1, 20)
    if symbol.is_positive:
        return sp.Rational(rng.randint(50, 500), 100)
    if symbol.is_nonnegative:
        return sp.Rational(rng.randint(0, 500), 100)
    return sp.Rational(rng.randint(-300, 300), 100)


def _random_polynomial(nargs: int, rng: random.Random) -> sp.Lambda:
    """A random cubic in ``nargs`` variables, standing in for an unspecified function."""
    xs = sp.symbols(f"_z0:{nargs}")
    poly = sp.Rational(rng.randint(-9, 9), 4)
    for x in xs:
        for k in (1, 2, 3):
            poly += sp.Rational(rng.randint(-9, 9), 4) * x**k
    if nargs > 1:
        poly += sp.Rational(rng.randint(-9, 9), 4) * xs[0] * xs[1]
    return sp.Lambda(xs, poly)


def _random_point(exprs, rng: random.Random) -> dict:
    """Random admissible values for the free symbols and undefined functions of ``exprs``."""
    free, funcs = set(), set()
    for e in exprs:
        e = sp.sympify(e)
        free |= e.free_symbols
        funcs |= {f.func for f in e.atoms(AppliedUndef)}
    labels = set()
    for e in exprs:
        labels |= {i.base.label for i in sp.sympify(e).atoms(sp.Indexed)}
    values = {
        s: _random_value(s, rng)
        for s in sorted(free - labels, key=str)
        if not isinstance(s, sp.Indexed)
    }
    for f in sorted(funcs, key=str):
        values[f] = _random_polynomial(
            len(
                next(
                    iter(a for e in exprs for a in sp.sympify(e).atoms(AppliedUndef) if a.func == f)
                ).args
            ),
            rng,
        )
    return values


def _evaluate(expr, values: dict) -> complex:
    """``expr`` at ``values`` (symbols and undefined functions), as a complex number."""
    expr = sp.sympify(expr)
    funcs = {k: v for k, v in values.items() if not isinstance(k, sp.Basic) or not k.is_Symbol}
    syms = {k: v for k, v in values.items() if k not in funcs}

    # outer functions first: ℓ(φ₁(t), φ₂(t)) must become a polynomial in φ₁(t) (so that
    # derivatives with respect to φ₁(t) evaluate) before φ₁ becomes a polynomial in t
    def depth(f):
        apps = [a for a in expr.atoms(AppliedUndef) if a.func == f]
        return -max((len(a.atoms(AppliedUndef)) for a in apps), default=0)

    for f in sorted(funcs, key=depth):
        expr = expr.replace(f, funcs[f]).doit()
    expr = expr.doit().subs(syms).doit()
    return complex(sp.N(expr, 30))


def _latex_values(values: dict) -> str:
    return ", ".join(f"{sp.latex(k)} = {sp.latex(v)}" for k, v in values.items())


@dataclass(frozen=True)
class Claim:
    """Base class of a checkable statement. ``where`` maps a symbol to an expression
    that parameterizes its admissible domain (e.g. ``{N: 1 + M}`` with ``M > 0``)."""

    def check(self) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_numerically(self, rng: random.Random, trials: int = 5, tol: float = 1e-9) -> bool:
        raise NotImplementedError  # pragma: no cover

    def refute(self) -> str | None:
        """A computed reason (LaTeX) why the claim fails, or None if none is found."""
        return None if self.check() else "does not hold"

    def latex(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def _latex(self, printer=None) -> str:  # so that sympy.latex(claim) works
        return self.latex()

    @property
    def kind(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Identity(Claim):
    """``lhs == rhs`` identically: ``simplify(lhs - rhs) == 0`` (scalars or matrices)."""

    lhs: object
    rhs: object
    where: dict = field(default_factory=dict)
    witness: dict | None = None  # values at which a false identity is shown to fail
    tex: str = ""  # how to display the claim, when the expanded sides would be unreadable

    def _sides(self):
        lhs, rhs = sp.sympify(self.lhs), sp.sympify(self.rhs)
        if self.where:
            lhs, rhs = lhs.subs(self.where), rhs.subs(self.where)
        return lhs, rhs

    def check(self) -> bool:
        lhs, rhs = self._sides()
        return _is_zero(lhs - rhs)

    def check_numerically(self, rng, trials=5, tol=1e-9) -> bool:
        lhs, rhs = self._sides()
        for _ in range(trials):
            values = _random_point([lhs, rhs], rng)
            if isinstance(lhs, sp.MatrixBase):
                pairs = [
                    (_evaluate(a, values), _evaluate(b, values))
                    for a, b in zip(lhs, rhs, strict=True)
                ]
            else:
                pairs = [(_evaluate(lhs, values), _evaluate(rhs, values))]
            if any(abs(a - b) > tol * (1 + abs(a)) for a, b in pairs):
                return False
        return True

    def refute(self) -> str | None:
        lhs, rhs = self._sides()
        points = [self.witness] if self.witness else []
        rng = random.Random(1)
        points += [_random_point([lhs, rhs], rng) for _ in range(5)]
        for values in points:
            a, b = (sp.simplify(sp.sympify(x).subs(values).doit()) for x in (lhs, rhs))
            if sp.simplify(a - b) != 0:
                return (
                    f"counterexample at ${_latex_values(values)}$: "
                    f"left side ${sp.latex(a)}$, right side ${sp.latex(b)}$"
                )
        return None

    def latex(self) -> str:
        return self.tex or f"{sp.latex(self.lhs)} = {sp.latex(self.rhs)}"


@dataclass(frozen=True)
class Counterexample(Claim):
    """``lhs != rhs`` at the values ``at``: a claim that something does *not* hold."""

    lhs: object
    rhs: object
    at: dict

    def _values(self):
        return [sp.simplify(sp.sympify(x).subs(self.at).doit()) for x in (self.lhs, self.rhs)]

    def check(self) -> bool:
        a, b = self._values()
        return sp.simplify(a - b) != 0

    def check_numerically(self, rng, trials=5, tol=1e-9) -> bool:
        a, b = (complex(sp.N(sp.sympify(x).subs(self.at).doit(), 30)) for x in (self.lhs, self.rhs))
        return abs(a - b) > tol * (1 + abs(a))

    def latex(self) -> str:
        a, b = self._values()
        return (
            f"{sp.latex(self.lhs)} \\ne {sp.latex(self.rhs)} \\text{{ at }} "
            f"{_latex_values(self.at)} \\;({sp.latex(a)} \\ne {sp.latex(b)})"
        )


@dataclass(frozen=True)
class Limit(Claim):
    """``limit(expr, var, point, direction) == value`` (value may be ``oo``)."""

    expr: object
    var: sp.Symbol
    point: object
    value: object
    direction: str = "+"
    where: dict = field(default_factory=dict)

    def _expr(self):
        e = sp.sympify(self.expr)
        return e.subs(self.where) if self.where else e

    def computed(self):
        return sp.limit(self._expr(), self.var, self.point, self.direction)

    def _value(self):
        v = sp.sympify(self.value)
        return v.subs(self.where) if self.where else v

    def check(self) -> bool:
        got, want = self.computed(), self._value()
        if want.is_infinite or got.is_infinite:
            return got == want
        return sp.simplify(got - want) == 0

    def check_numerically(self, rng, trials=3, tol=1e-9) -> bool:
        expr, point, want = self._expr(), sp.sympify(self.point), self._value()
        # floats with 40 digits: an exact rational raised to the power 10^12 would not finish
        if point.is_infinite:
            xs = [sp.Float(10**k, 40) for k in (4, 8, 12)]
            xs = xs if point == sp.oo else [-x for x in xs]
        else:
            sign = 1 if self.direction == "+" else -1
            xs = [point + sign * sp.Float(sp.Rational(1, 10**k), 40) for k in (4, 8, 12)]
        for _ in range(trials):
            values = _random_point([expr], rng)
            values.pop(self.var, None)
            if want.is_infinite:
                ys = [float(sp.re(_evaluate(expr, {**values, self.var: x}))) for x in xs]
                ys = ys if want == sp.oo else [-y for y in ys]
                # growing without slowing down much: log T passes, a convergent tail does not
                if not (ys[0] < ys[1] < ys[2] and ys[2] - ys[1] >= 0.5 * (ys[1] - ys[0])):
                    return False
            else:
                target = _evaluate(want, values)
                errs = [abs(_evaluate(expr, {**values, self.var: x}) - target) for x in xs]
                if not (errs[2] <= errs[0] + 1e-12 and errs[2] <= 1e-3 * (1 + abs(target))):
                    return False
        return True

    def refute(self) -> str | None:
        got = self.computed()
        if self.check():
            return None
        return f"the limit is ${sp.latex(got)}$, not ${sp.latex(self._value())}$"

    def latex(self) -> str:
        arrow = sp.latex(self.point)
        return (
            f"\\lim_{{{sp.latex(self.var)} \\to {arrow}}} {sp.latex(self.expr)} = "
            f"{sp.latex(self.value)}"
        )


@dataclass(frozen=True)
class Series(Claim):
    """``Sum(term, (n, start, oo))`` equals ``value``; ``value=oo`` means it diverges to
    +oo, ``value=None`` means it converges (to something)."""

    term: object
    n: sp.Symbol
    start: int = 0
    value: object = None
    where: dict = field(default_factory=dict)

    def _term(self):
        e = sp.sympify(self.term)
        return e.subs(self.where) if self.where else e

    def _sum(self):
        return sp.Sum(self._term(), (self.n, self.start, sp.oo))

    def _value(self):
        v = sp.sympify(self.value)
        return v.subs(self.where) if self.where else v

    def converges(self) -> bool | None:
        """sympy's verdict: ``is_convergent`` where it applies, else the ratio test."""
        s = self._sum()
        try:
            return bool(s.is_convergent())
        except (NotImplementedError, TypeError, ValueError):
            pass
        term = self._term()
        ratio = sp.limit(sp.simplify(term.subs(self.n, self.n + 1) / term), self.n, sp.oo)
        if (sp.Abs(ratio) - 1).is_negative:
            return True
        if (sp.Abs(ratio) - 1).is_positive:
            return False
        return None

    def computed(self):
        value = self._sum().doit()
        if isinstance(value, sp.Piecewise):
            for expr, cond in value.args:
                if cond == sp.true or sp.simplify(cond) == sp.true:
                    return sp.simplify(expr)
            return value
        return sp.simplify(value)

    def check(self) -> bool:
        want = self.value
        if want is None:
            return self.converges() is True
        if sp.sympify(want) == sp.oo:
            positive = sp.simplify(self._term()).is_positive
            return self.converges() is False and bool(positive)
        got = self.computed()
        return not got.has(sp.Sum) and sp.simplify(got - self._value()) == 0

    def check_numerically(self, rng, trials=3, tol=1e-9) -> bool:
        term = self._term()
        for _ in range(trials):
            values = _random_point([term], rng)
            values.pop(self.n, None)
            t = term.subs(values)
            if self.value is not None and sp.sympify(self.value) != sp.oo:
                f = sp.lambdify(self.n, t, "mpmath")
                got = mpmath.nsum(f, [self.start, mpmath.inf])
                want = complex(sp.N(self._value().subs(values), 30))
                if abs(complex(got) - want) > 1e-6 * (1 + abs(want)):
                    return False
                continue
            if _diverges_numerically(t, self.n, self.start) != (self.value is not None):
                return False
        return True

    def refute(self) -> str | None:
        if self.check():
            return None
        conv = self.converges()
        if conv is False and self.value is not None and sp.sympify(self.value) != sp.oo:
            term = self._term()
            ratio = sp.limit(sp.simplify(term.subs(self.n, self.n + 1) / term), self.n, sp.oo)
            return (
                f"the series diverges: the ratio of consecutive terms tends to "
                f"${sp.latex(sp.simplify(ratio))}$, greater than 1"
            )
        if conv is True and self.value is not None and sp.sympify(self.value) == sp.oo:
            return "the series converges"
        if conv is False and self.value is None:
            return f"the series diverges: ${sp.latex(self._sum())} = \\infty$"
        return f"the sum is ${sp.latex(self.computed())}$"

    def latex(self) -> str:
        lhs = f"\\sum_{{{sp.latex(self.n)}={self.start}}}^{{\\infty}} {sp.latex(self.term)}"
        if self.value is None:
            return lhs + " < \\infty"
        return f"{lhs} = {sp.latex(self.value)}"


def _diverges_numerically(term, n, start) -> bool:
    """Cauchy blocks: the block sums over [10^(k-1), 10^k) do not shrink (k = 3..6).

    For sum 1/n each block is about ln 10; for sum 1/n^p, p > 1, they shrink by
    10^(1-p) per decade. A heuristic, good away from the boundary p = 1.
    """
    f = sp.lambdify(n, term, "numpy")
    blocks = []
    with np.errstate(over="ignore", invalid="ignore"):
        for k in (3, 4, 5, 6):
            ns = np.arange(max(start, 10 ** (k - 1)), 10**k, dtype=np.float64)
            vals = np.broadcast_to(np.asarray(f(ns), dtype=np.float64), ns.shape)
            block = float(np.sum(vals))
            if not math.isfinite(block):
                return True
            blocks.append(block)
    return blocks[-1] >= 0.5 * blocks[0]


@dataclass(frozen=True)
class Inequality(Claim):
    """``expr >= 0`` (``sense=">="``) or ``expr <= 0`` on the domain set by the symbols'
    assumptions and ``where``; proved by ``factor``/``simplify`` plus sympy's sign rules."""

    expr: object
    sense: str = ">="
    where: dict = field(default_factory=dict)
    witness: dict | None = None

    def _expr(self):
        e = sp.sympify(self.expr)
        e = e.subs(self.where) if self.where else e
        return e if self.sense == ">=" else -e

    def check(self) -> bool:
        e = self._expr()
        for form in (e, sp.factor(e), sp.simplify(e), sp.factor(sp.simplify(e))):
            if form.is_nonnegative:
                return True
        return False

    def check_numerically(self, rng, trials=10, tol=1e-9) -> bool:
        e = self._expr()
        for _ in range(trials):
            v = _evaluate(e, _random_point([e], rng))
            if v.real < -tol * (1 + abs(v)):
                return False
        return True

    def refute(self) -> str | None:
        e = self._expr()
        points = [self.witness] if self.witness else []
        rng = random.Random(1)
        points += [_random_point([e], rng) for _ in range(20)]
        for values in points:
            v = sp.simplify(e.subs(values))
            if v.is_negative:
                shown = sp.simplify(sp.sympify(self.expr).subs(values))
                return (
                    f"counterexample at ${_latex_values(values)}$: the expression is "
                    f"${sp.latex(shown)}$"
                )
        return None

    def latex(self) -> str:
        rel = "\\ge" if self.sense == ">=" else "\\le"
        return f"{sp.latex(self.expr)} {rel} 0"


@dataclass(frozen=True)
class Induction(Claim):
    """``seq(t) == rhs(t)`` for every integer ``t >= t0``, for sequences given by recursions.

    ``recursions`` maps each sequence (an undefined ``sympy.Function``) to a callable
    ``t -> expression`` in the sequences at ``t - 1`` and the inputs at ``t``; ``initial``
    gives each sequence's value at ``t0``; ``rhs`` is a callable ``t -> expression``.
    ``check()`` proves the base case and the step (hypothesis: the claim at ``t - 1``).
    ``inputs`` are the ``IndexedBase``/``Function`` objects fed in at each step; the
    numerical check iterates the recursions on random inputs and compares at every t.
    """

    seq: object
    rhs: Callable
    recursions: dict
    initial: dict
    t: sp.Symbol
    t0: object = 0
    inputs: tuple = ()
    where: dict = field(default_factory=dict)
    text: str = ""

    def _sub(self, e):
        return sp.sympify(e).subs(self.where) if self.where else sp.sympify(e)

    def base_case(self) -> bool:
        t0 = self._sub(self.t0)
        rhs = self._sub(self.rhs(t0))
        rhs = rhs.xreplace({f(t0): self._sub(v) for f, v in self.initial.items()}).doit()
        return _is_zero(self._sub(self.initial[self.seq]) - rhs)

    def step(self) -> bool:
        t = self.t
        hypothesis = {self.seq(t - 1): self.rhs(t - 1)}
        lhs = self.recursions[self.seq](t).xreplace(hypothesis)
        rhs = self.rhs(t)
        rhs = rhs.xreplace({f(t): r(t) for f, r in self.recursions.items() if f is not self.seq})
        rhs = _peel_last(self._sub(rhs), t)
        lhs = _peel_last(self._sub(lhs), t)
        return _is_zero(lhs - rhs)

    def check(self) -> bool:
        return self.base_case() and self.step()

    def iterate(self, values: dict, inputs: dict, steps: int) -> list[tuple[int, object, object]]:
        """(t, sequence value, claimed value) for t0 .. t0+steps at the given values."""
        t0 = int(self._sub(self.t0).subs(values))
        state = {
            f: self._sub(v).subs(values).doit().xreplace(inputs) for f, v in self.initial.items()
        }
        out = []
        for k in range(steps + 1):
            tk = t0 + k
            if k > 0:
                prev = {f(tk - 1): v for f, v in state.items()}
                state = {
                    f: self._sub(r(sp.Integer(tk))).subs(values).xreplace(prev).xreplace(inputs)
                    for f, r in self.recursions.items()
                }
            now = {f(tk): v for f, v in state.items()}
            claimed = (
                self._sub(self.rhs(sp.Integer(tk)))
                .subs(values)
                .doit()
                .xreplace(now)
                .xreplace(inputs)
            )
            out.append((tk, state[self.seq], claimed))
        return out

    def _inputs_at(self, rng, t_max, numeric=True):
        values = {}
        for x in self.inputs:
            for k in range(0, t_max + 1):
                key = x[k] if isinstance(x, sp.IndexedBase) else x(k)
                values[key] = (
                    sp.Rational(rng.randint(-300, 300), 100) if numeric else sp.Symbol(f"{x}_{k}")
                )
        return values

    def check_numerically(self, rng, trials=2, tol=1e-9, steps: int = 6) -> bool:
        exprs = [self._sub(self.rhs(self.t))] + [
            self._sub(r(self.t)) for r in self.recursions.values()
        ]
        exprs += [self._sub(v) for v in self.initial.values()] + [self._sub(self.t0)]
        for _ in range(trials):
            values = {
                k: v
                for k, v in _random_point(exprs, rng).items()
                if isinstance(k, sp.Symbol) and k != self.t
            }
            t0 = int(self._sub(self.t0).subs(values))
            inputs = self._inputs_at(rng, t0 + steps)
            for _, got, want in self.iterate(values, inputs, steps):
                a, b = complex(sp.N(got, 30)), complex(sp.N(want, 30))
                if abs(a - b) > tol * (1 + abs(a)):
                    return False
        return True

    def refute(self) -> str | None:
        if self.check():
            return None
        rng = random.Random(2)
        exprs = [self._sub(self.rhs(self.t))] + [
            self._sub(r(self.t)) for r in self.recursions.values()
        ]
        values = {s: v for s, v in _random_point(exprs, rng).items() if s != self.t}
        values = {s: (2 if s.is_integer else 2) for s in values if isinstance(s, sp.Symbol)}
        inputs = self._inputs_at(rng, 6, numeric=False)
        for tk, got, want in self.iterate(values, inputs, 4):
            if sp.simplify(got - want) != 0:
                return (
                    f"at ${_latex_values(values)}$, ${sp.latex(self.t)} = {tk}$ the recursion gives "  # noqa: E501
                    f"${sp.latex(sp.simplify(got))}$ but the formula gives "
                    f"${sp.latex(sp.simplify(want))}$"
                )
        return "the induction step fails"

    def latex(self) -> str:
        t = self.t
        head = f"{sp.latex(self.seq(t))} = {sp.latex(self.rhs(t))}"
        return head + f" \\quad \\text{{for all }} {sp.latex(t)} \\ge {sp.latex(self.t0)}"


@dataclass(frozen=True)
class WellTyped(Claim):
    """Both sides can be built and have the same shape (scalar or matrix).

    ``lhs``/``rhs`` are callables returning sympy objects; a ``TypeError`` while
    building (sympy refuses to add a vector and a number) or different shapes fail.
    """

    lhs: Callable
    rhs: Callable
    text: str

    def _build(self):
        try:
            return self.lhs(), self.rhs(), None
        except (TypeError, ValueError, sp.ShapeError) as err:
            return None, None, f"{type(err).__name__}: {err}"

    def check(self) -> bool:
        a, b, err = self._build()
        return err is None and getattr(a, "shape", ()) == getattr(b, "shape", ())

    def check_numerically(self, rng, trials=1, tol=1e-9) -> bool:
        return self.check()

    def refute(self) -> str | None:
        a, b, err = self._build()
        if err is not None:
            return f"sympy refuses to build the right side (`{err}`)"
        if getattr(a, "shape", ()) != getattr(b, "shape", ()):
            return f"the sides have shapes {getattr(a, 'shape', ())} and {getattr(b, 'shape', ())}"
        return None

    def latex(self) -> str:
        return self.text


def _as_claim(claim) -> Claim:
    if isinstance(claim, Claim):
        return claim
    if isinstance(claim, sp.Equality):
        return Identity(claim.lhs, claim.rhs)
    raise TypeError(f"not a claim: {claim!r}")


# ---------------------------------------------------------------------------------------
# Derivation
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Derivation:
    """A derivation: its title, symbols, displayed steps and checkable claims.

    ``steps`` is a list of ``(text, sympy expression or Eq)`` pairs in reading order;
    ``claims`` maps a short name to a ``sympy.Eq`` that must hold identically or to a
    :class:`Claim` (limit, series, inequality, induction, counterexample).
    ``label`` is the book's cross-reference target (``deriv-...``); ``notes`` is prose.
    """

    title: str
    symbols: dict[str, sp.Symbol]
    steps: list[tuple[str, sp.Basic]] = field(default_factory=list)
    claims: dict[str, object] = field(default_factory=dict)
    label: str = ""
    notes: str = ""

    def check(self) -> dict[str, bool]:
        """Each claim's verdict (identities: ``simplify(lhs - rhs) == 0``)."""
        return {name: bool(_as_claim(c).check()) for name, c in self.claims.items()}

    def check_numerically(
        self, trials: int = 5, seed: int = 0, tol: float = 1e-9
    ) -> dict[str, bool]:
        """Each claim evaluated at ``trials`` random points of its symbols' domains.

        Positive symbols get values in [0.5, 5], integer ones in [1, 20], real ones in
        [-3, 3], unspecified functions become random cubics. An identity passes when
        ``|lhs - rhs| <= tol * (1 + |lhs|)`` at every point; a recursion is iterated and
        compared at every step; a series is summed (mpmath) or its Cauchy blocks
        inspected; a limit is approached at 10^4, 10^8, 10^12.
        """
        verdicts = {}
        for name, c in self.claims.items():
            rng = random.Random(f"{seed}-{name}")
            verdicts[name] = bool(_as_claim(c).check_numerically(rng, trials=trials, tol=tol))
        return verdicts

    def claim_latex(self, name: str) -> str:
        return _as_claim(self.claims[name]).latex()

    def _repr_markdown_(self) -> str:
        title = self.title.replace("*", r"\*").replace("_", r"\_")  # literal, not emphasis
        lines = [f"**{title}**", ""]
        for text, expr in self.steps:
            lines.append(f"- {text}: ${sp.latex(expr)}$")
        return "\n".join(lines)


def verdict_table(derivation: Derivation, numerically: bool = True, trials: int = 3) -> str:
    """The claims of ``derivation`` in markdown: for each, its name, kind, symbolic
    verdict and numerical verdict (``trials`` random points), then its statement as
    display math. A list rather than a table, so that long statements get the page's
    full width; a failed check shows as ✗.
    """
    symbolic = derivation.check()
    numeric = derivation.check_numerically(trials=trials) if numerically else {}
    items = []
    for name, claim in derivation.claims.items():
        c = _as_claim(claim)
        num = ("✓" if numeric[name] else "✗") if numerically else "not run"
        statement = c.latex().replace("\n", "\n  ")
        items.append(f"- `{name}` ({c.kind}): sympy {'✓' if symbolic[name] else '✗'}, "
                     f"numeric {num}\n\n  $$\n  {statement}\n  $$")
    return "\n\n".join(items)


# ---------------------------------------------------------------------------------------
# 1. The one-dimensional example
# ---------------------------------------------------------------------------------------


@functools.cache
def _raw_moment(family: str, k: int):
    """E X^k for one draw of the population, computed by ``sympy.stats``."""
    mu, sigma, p = (
        sp.Symbol("mu", real=True),
        sp.Symbol("sigma", positive=True),
        sp.Symbol("p", positive=True),
    )
    X = sps.Normal("Y", mu, sigma) if family == "normal" else sps.Bernoulli("C", p)
    return sp.expand(sps.E(X**k))


def _expect_iid(expr, draws, family: str):
    """E expr for a polynomial in independent draws of one population (exact).

    Independence makes the expectation of a monomial the product of raw moments, so a
    batch of size B costs one ``sympy.stats`` moment per power, not a B-fold integral.
    """
    poly = sp.Poly(sp.expand(expr), *draws)
    total = 0
    for monom, coeff in poly.terms():
        term = coeff
        for k in monom:
            if k:
                term *= _raw_moment(family, k)
        total += term
    return sp.expand(total)


@functools.cache
def one_dim_example(exact_batch_sizes: tuple[int, ...] = (1, 2, 3, 4)) -> Derivation:
    """The lecture's one-dimensional example: loss(β, y) = ½(β − y)².

    With E y = μ and Var y = σ² (per example), the population gradient is
    g = β − μ and the batch gradient is ĝ = β − ȳ with ȳ the mean of B draws.
    Claims: E ĝ = g; at β* = μ, E ĝ = 0; Var ĝ = σ²/B for every B ≥ 1. The variance
    is derived for symbolic B from E ȳ² (independent draws: E y_i y_j = μ² for i ≠ j)
    and confirmed exactly for the batch sizes in ``exact_batch_sizes``, for Gaussian
    and for Bernoulli populations (the claim does not depend on the distribution), by
    expanding ĝ² and taking each draw's moments with ``sympy.stats``.
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
        "g_is_beta_minus_mean": _claim(
            g, beta - mu, r"g = \frac{\partial}{\partial\beta}\,\tfrac12(\beta - y)^2"
            r"\Big\vert_{y = \mu} = \beta - \mu"),
        "ghat_unbiased": _claim(E_ghat, g, r"\E\,\ghat = \beta - \E\,\bar y = \beta - \mu = g"),
        "ghat_zero_mean_at_optimum": _claim(E_ghat.subs(beta, mu), 0,
                                            r"\E\,\ghat\,\big\vert_{\beta = \mu} = 0"),
        "var_ghat_is_sigma2_over_B": _claim(
            var_ghat, sigma**2 / B,
            r"\Var\,\ghat = \E\,\bar y^2 - \mu^2 = \frac{B(\sigma^2 + \mu^2) + B(B-1)\mu^2}{B^2}"
            r" - \mu^2 = \frac{\sigma^2}{B}"),
    }
    p = sp.Symbol("p", positive=True)
    for b in exact_batch_sizes:
        draws = sp.symbols(f"y_0:{b}", real=True)
        ghat_b = beta - sum(draws) / b
        mean = _expect_iid(ghat_b, draws, "normal")
        var = sp.simplify(_expect_iid(ghat_b**2, draws, "normal") - mean**2)
        given = rf"\quad (B = {b},\ y_i \sim \mathcal N(\mu, \sigma^2)\text{{ i.i.d.}})"
        claims[f"exact_gaussian_B{b}_mean"] = _claim(mean, beta - mu,
                                                    r"\E\,\ghat = \beta - \mu" + given)
        claims[f"exact_gaussian_B{b}_variance"] = _claim(
            var, sigma**2 / b, rf"\Var\,\ghat = {sp.latex(sigma**2 / b)}" + given)
        mean_c = _expect_iid(ghat_b, draws, "bernoulli")
        var_c = sp.factor(_expect_iid(ghat_b**2, draws, "bernoulli") - mean_c**2)
        claims[f"exact_bernoulli_B{b}_variance"] = _claim(
            var_c, p * (1 - p) / b,
            rf"\Var\,\ghat = {sp.latex(p * (1 - p) / b)}\quad (B = {b},\ "
            r"y_i \sim \mathrm{Bernoulli}(p)\text{ i.i.d.})")

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
        label="deriv-one-dim",
    )


# ---------------------------------------------------------------------------------------
# 2. Running averages and their bias corrections
# ---------------------------------------------------------------------------------------


def _running_average_symbols():
    N = sp.Symbol("N", positive=True)
    M = sp.Symbol("M", positive=True)  # N = 1 + M: the admissible N > 1
    t = sp.Symbol("t", integer=True, positive=True)
    s = sp.Symbol("s", integer=True, positive=True)
    n = sp.Symbol("n", integer=True, nonnegative=True)
    x = sp.IndexedBase("x")
    mu_hat = sp.Function(r"\hat{\mu}")
    return N, M, t, s, n, x, mu_hat


def ema_closed_form(t, N, x, s, sign: int = 1):
    """μ̂_t = (1/N) Σ_{s=1}^t (1 − 1/N)^{sign·(t−s)} x_s (sign = −1: the slide's print)."""
    return sp.Sum((1 - 1 / N) ** (sign * (t - s)) * x[s], (s, 1, t)) / N


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
    N, M, t, s, n, x, mu_hat = _running_average_symbols()
    mu = sp.Symbol("mu", real=True)
    a = 1 - 1 / N
    ema = {mu_hat: lambda k: a * mu_hat(k - 1) + x[k] / N}
    unrolled = Induction(
        mu_hat, lambda k: ema_closed_form(k, N, x, s), ema, {mu_hat: 0}, t, 0, inputs=(x,)
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
        mu_hat, lambda k: sp.Sum(x[s], (s, 1, k)) / k, mean_avg, {mu_hat: x[1]}, t, 1, inputs=(x,)
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
    min_weights_after_N = ai ** (t - Nint) + sp.Sum(ai ** (t - s), (s, Nint + 1, t)) / Nint

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
        "weights_sum_to_one_minus_bias": _eq(weights_sum.doit(), 1 - a**t),
        "geometric_series_is_N": Series(a**n, n, 0, N, where={N: 1 + M}),
        "first_step_mean_is_mu_over_N": _claim(
            (1 - a**1) * mu, mu / N,
            r"\E\,\hat\mu_1 = \left(1 - \left(1 - \tfrac1N\right)^1\right)\mu = \frac{\mu}{N}"),
        "expected_value_for_all_t": expected_closed,
        "expected_value_is_t_over_N_mu_for_t_much_less_than_N": Limit(
            (1 - a**t) * mu / (t * mu / N), N, sp.oo, 1
        ),
        "one_over_t_average_is_exact_mean": exact_mean,
        "min_schedule_after_N_is_one_over_N_average": after_N,
        "min_schedule_weights_sum_to_one_after_N": _eq(min_weights_after_N.doit(), 1),
        "adam_correction_is_a_weight_schedule": _eq(adam_direct, adam_as_schedule),
        "adam_weights_sum_to_one": _claim(
            adam_weights.doit(), 1,
            r"\sum_{s=1}^{t} \frac{(1-\beta)\,\beta^{t-s}}{1-\beta^t} = 1"),
        "adam_first_weight_is_one": _claim(
            alpha.subs(t, 1), 1, r"w_1 = \frac{1-\beta}{1-\beta^1} = 1"),
        "adam_weight_tends_to_one_over_N": Limit(alpha_N, t, sp.oo, 1 / N, where={N: 1 + M}),
        "adam_weight_is_one_over_t_for_t_much_less_than_N": Limit(t * alpha_N, N, sp.oo, 1),
        "adam_weight_at_t_equal_N": Limit(N * alpha_N.subs(t, N), N, sp.oo, sp.E / (sp.E - 1)),
    }
    steps = [
        ("running average", _eq(mu_hat(t), a * mu_hat(t - 1) + x[t] / N)),
        ("unrolled (induction on $t$)", _eq(mu_hat(t), ema_closed_form(t, N, x, s))),
        ("sum of the weights", _eq(weights_sum, 1 - a**t)),
        ("all weights, $t\\to\\infty$", _eq(sp.Sum(a**n, (n, 0, sp.oo)), N)),
        ("bias", _eq(sp.Symbol(r"\mathbb{E}\hat{\mu}_t"), (1 - a**t) * mu)),
        ("Adam's bias correction as a weight", _eq(sp.Symbol(r"\alpha_t"), alpha)),
        ("Adam with $\\beta = 1 - 1/N$", _eq(sp.Symbol(r"\alpha_t"), alpha_N)),
    ]
    return Derivation(
        title="Running averages: unrolled form, bias, and bias corrections",
        symbols={"N": N, "t": t, "s": s, "x": x, "mu": mu, "beta": beta},
        steps=steps,
        claims=claims,
        label="deriv-running-average",
    )


# ---------------------------------------------------------------------------------------
# 3. Momentum
# ---------------------------------------------------------------------------------------


@functools.cache
def momentum_reparameterization() -> Derivation:
    """v_t = N η μ_t for all t, for v_t = (1 − 1/N) v_{t−1} + η ĝ_t and
    μ_t = (1 − 1/N) μ_{t−1} + ĝ_t/N with v_0 = μ_0 = 0, so Φ_{t+1} = Φ_t − η' μ_t with
    η' = N η. The induction needs η constant: with a schedule η_t it fails at t = 2.
    """
    N, eta = sp.symbols("N eta", positive=True)
    t = sp.Symbol("t", integer=True, positive=True)
    v, mu = sp.Function("v"), sp.Function(r"\mu")
    ghat = sp.IndexedBase(r"\hat{g}")
    a = 1 - 1 / N
    rec = {v: lambda k: a * v(k - 1) + eta * ghat[k], mu: lambda k: a * mu(k - 1) + ghat[k] / N}
    claim = Induction(v, lambda k: N * eta * mu(k), rec, {v: 0, mu: 0}, t, 0, inputs=(ghat,))
    # with a schedule η_t: v_2 against N η_2 μ_2
    e1, e2, g1, g2 = sp.symbols(r"\eta_1 \eta_2 \hat{g}_1 \hat{g}_2", positive=True)
    v2 = a * (e1 * g1) + e2 * g2
    mu2 = a * (g1 / N) + g2 / N
    claims = {
        "v_equals_N_eta_mu_for_all_t": claim,
        "one_step_identity": _eq(
            a * N * eta * sp.Symbol("mu_prev") + eta * sp.Symbol("g"),
            N * eta * (a * sp.Symbol("mu_prev") + sp.Symbol("g") / N),
        ),
        "fails_with_a_learning_rate_schedule": Counterexample(
            v2, N * e2 * mu2, {N: 2, e1: 1, e2: sp.Rational(1, 2), g1: 1, g2: 1}
        ),
    }
    steps = [
        ("momentum", _eq(v(t), a * v(t - 1) + eta * ghat[t])),
        ("rewritten", _eq(v(t), a * v(t - 1) + (N * eta * ghat[t]) / N)),
        ("running average of $\\hat g$", _eq(mu(t), a * mu(t - 1) + ghat[t] / N)),
        ("reparameterization", _eq(v(t), N * eta * mu(t))),
    ]
    return Derivation(
        "Momentum as a running average: v_t = N η μ_t",
        {"N": N, "eta": eta, "t": t},
        steps,
        claims,
        label="deriv-momentum",
    )


# ---------------------------------------------------------------------------------------
# 4. RMSProp
# ---------------------------------------------------------------------------------------


@functools.cache
def rmsprop_second_moment(exact_batch_sizes: tuple[int, ...] = (1, 2, 3)) -> Derivation:
    """E ĝ² = g² + Var ĝ, and Var ĝ = σ²/B when σ is the per-example standard deviation.

    Per-example gradients g_i = g + ξ_i with E ξ = 0, Var ξ = σ²; ĝ is their mean over B.
    So s_t of RMSProp tracks g² + σ²/B: with σ per example the slide's g² + σ² holds only
    for B = 1. Averaging per-example squares instead tracks g² + σ² for every B.
    """
    g = sp.Symbol("g", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    B = sp.Symbol("B", integer=True, positive=True)
    # ĝ = g + ξ̄ with E ξ̄ = 0, E ξ̄² = σ²/B (see one_dim_example): expand (g + ξ̄)²
    xibar = sp.Symbol(r"\bar{\xi}", real=True)
    second = sp.expand((g + xibar) ** 2)
    E_second = second.subs(xibar**2, sigma**2 / B).subs(xibar, 0)
    claims = {
        "second_moment_is_g2_plus_variance": _claim(
            E_second, g**2 + sigma**2 / B,
            r"\E\,\ghat^2 = g^2 + 2g\,\E\,\bar\xi + \E\,\bar\xi^2 = g^2 + \frac{\sigma^2}{B}"),
        "mean_of_per_example_squares_is_g2_plus_sigma2": _claim(
            (B * (g**2 + sigma**2)) / B, g**2 + sigma**2,
            r"\E\,\frac1B\sum_{i=1}^{B} \hat g_i^2 = \frac{B\,(g^2 + \sigma^2)}{B} = g^2 + \sigma^2"),
    }
    mu = sp.Symbol("mu", real=True)
    for b in exact_batch_sizes:
        draws = sp.symbols(f"y_0:{b}", real=True)
        ghat_b = sum(draws) / b  # per-example gradients ~ Normal(μ, σ): here g = μ
        claims[f"exact_gaussian_B{b}"] = _claim(
            _expect_iid(ghat_b**2, draws, "normal"), mu**2 + sigma**2 / b,
            rf"\E\,\ghat^2 = {sp.latex(mu**2 + sigma**2 / b)}\quad (B = {b},\ "
            r"\hat g_i \sim \mathcal N(\mu, \sigma^2)\text{ i.i.d.})")
    steps = [
        ("batch gradient", _eq(sp.Symbol(r"\hat{g}"), g + xibar)),
        ("its square", _eq(sp.Symbol(r"\hat{g}^2"), second)),
        ("expectation", _eq(sp.Symbol(r"\mathbb{E}\hat{g}^2"), E_second)),
    ]
    return Derivation(
        "RMSProp: E ĝ² = g² + σ²/B",
        {"g": g, "sigma": sigma, "B": B},
        steps,
        claims,
        label="deriv-rmsprop",
    )


# ---------------------------------------------------------------------------------------
# 5. Scaling with the batch size
# ---------------------------------------------------------------------------------------


@functools.cache
def batch_scaling() -> Derivation:
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
        "two_steps_minus_one_double_step_second_order": _claim(
            remainder, eta**2 * a1 * sp.Derivative(f(Phi), Phi),
            r"\Phi_{t+2} - \Phi_{B=2} = \eta_1^2\, a_1\, f'(\Phi) + O(\eta_1^3)"),
        "three_steps_remainder_sums_ordered_pairs": _eq(rem3, rem3_expected),
        "quadratic_2d_remainder_is_exact": Identity(exact_rem, eta**2 * H * grad(P, Y1)),
        "N_mu_B_times_B_is_N_mu_1": _claim(NB * B, N1, r"N_{\mu,B}\, B = N_{\mu,1}"),
        "weight_negative_when_N_mu_B_below_1": Inequality(
            1 - 1 / NB, "<=", where={B: N1 * (1 + u)}
        ),
        "weights_still_sum_to_one_when_N_above_half": Series(
            (1 - 1 / (sp.Rational(1, 2) + u)) ** sp.Symbol("n", integer=True, nonnegative=True)
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
        "eta_prime_scales_with_B": _claim(
            (T / B) * (B * eta1p) * g, T * eta1p * g,
            r"\frac{T}{B}\,(B\,\eta'_1)\, g = T\,\eta'_1\, g"
            r"\quad (T/B \text{ steps of } \eta'_B = B\eta'_1)"),
        "eta_in_v_form_scales_with_B_squared": _claim(
            (B * eta1p) / NB, B**2 * (eta1p / N1),
            r"\eta_B = \frac{\eta'_B}{N_{\mu,B}} = \frac{B\,\eta'_1}{N_{\mu,1}/B} = B^2\,\frac{\eta'_1}{N_{\mu,1}}"),
        "per_example_squares_target_is_independent_of_B": _claim(
            (B * (g**2 + sigma**2)) / B, g**2 + sigma**2,
            r"\E\,\frac1B\sum_{i=1}^{B} \hat g_i^2 = g^2 + \sigma^2 \text{ for every } B"),
        "batch_mean_squares_target_depends_on_B": Counterexample(
            g**2 + sigma**2 / B, g**2 + sigma**2, {B: 2, g: 0, sigma: 1}
        ),
    }
    steps = [
        ("two steps at $B=1$", _eq(sp.Symbol(r"\Phi_{t+2}"), two_steps)),
        ("one step at $B=2$, $2\\eta_1$", _eq(sp.Symbol(r"\Phi'_{t+2}"), one_step)),
        ("difference to second order", _eq(sp.Symbol(r"\Phi_{t+2} - \Phi'_{t+2}"), remainder)),
        (
            "2-D quadratic, exact",
            _eq(
                sp.Symbol(r"\Phi_{t+2} - \Phi'_{t+2}"),
                sp.MatMul(eta**2, sp.Symbol("H"), sp.Symbol(r"\nabla\mathrm{loss}_1(\Phi_t)")),
            ),
        ),
        ("momentum constant per example", _eq(sp.Symbol(r"N_{\mu,B}"), NB)),
    ]
    return Derivation(
        "Scaling η, N_μ and N_s with the batch size",
        {"eta_1": eta, "Phi": Phi, "B": B},
        steps,
        claims,
        label="deriv-scaling",
    )


# ---------------------------------------------------------------------------------------
# 6. Gradient flow
# ---------------------------------------------------------------------------------------


@functools.cache
def gradient_flow() -> Derivation:
    """Along dΦ/dt = −η ∇ℓ(Φ): dℓ/dt = −η ‖∇ℓ‖² ≤ 0 (a generic ℓ in two dimensions and
    an explicit quadratic), Euler steps of η/N converge to the flow, and the noise of
    N t batch steps of η/N has variance ≤ η² t σ²/(N B) → 0.
    """
    t = sp.Symbol("t", real=True)
    eta = sp.Symbol("eta", positive=True)
    p1, p2 = sp.Function("phi_1")(t), sp.Function("phi_2")(t)
    ell = sp.Function(r"\ell")(p1, p2)
    grad = [sp.diff(ell, p1), sp.diff(ell, p2)]
    dldt = sp.diff(ell, t)
    flow = {sp.Derivative(p1, t): -eta * grad[0], sp.Derivative(p2, t): -eta * grad[1]}
    dldt_flow = dldt.subs(flow)
    norm2 = grad[0] ** 2 + grad[1] ** 2

    h1, h2, c1, c2 = sp.symbols("h_1 h_2 c_1 c_2", positive=True)
    x1, x2 = c1 * sp.exp(-eta * h1 * t), c2 * sp.exp(-eta * h2 * t)  # solves the flow
    quad = (h1 * x1**2 + h2 * x2**2) / 2
    N = sp.Symbol("N", positive=True)
    h, sigma, B, tt = sp.symbols("h sigma B t", positive=True)
    claims = {
        "chain_rule_along_flow": _eq(dldt_flow, -eta * norm2),
        "quadratic_flow_solves_ode": _claim(
            sp.diff(x1, t), -eta * h1 * x1,
            r"\frac{d}{dt}\,c_1 e^{-\eta h_1 t} = -\eta h_1\, c_1 e^{-\eta h_1 t}"),
        "quadratic_loss_derivative": _eq(
            sp.diff(quad, t), -eta * ((h1 * x1) ** 2 + (h2 * x2) ** 2)
        ),
        "loss_nonincreasing": Inequality(
            -eta
            * norm2.subs(
                {grad[0]: sp.Symbol("d_1", real=True), grad[1]: sp.Symbol("d_2", real=True)}
            ),
            "<=",
        ),
        "euler_steps_converge_to_flow": Limit(
            (1 - eta * h / N) ** (N * tt), N, sp.oo, sp.exp(-eta * h * tt)
        ),
        "batch_noise_vanishes": Limit(N * tt * (eta / N) ** 2 * sigma**2 / B, N, sp.oo, 0),
    }
    steps = [
        ("chain rule", _eq(sp.Derivative(ell, t), dldt)),
        ("along $d\\Phi/dt = -\\eta\\nabla\\ell$", _eq(sp.Derivative(ell, t), dldt_flow)),
        ("so", _eq(sp.Derivative(ell, t), -eta * norm2)),
    ]
    return Derivation(
        "Gradient flow: dℓ/dt = −η‖∇ℓ‖²",
        {"t": t, "eta": eta},
        steps,
        claims,
        label="deriv-gradient-flow",
    )


# ---------------------------------------------------------------------------------------
# 7. Convergence conditions
# ---------------------------------------------------------------------------------------

P_GRID = (sp.Rational(1, 4), sp.Rational(1, 2), sp.Rational(3, 4), sp.Integer(1), sp.Integer(2))


def step_size_conditions(p) -> dict[str, bool]:
    """For η_t = c/t^p: (η_t → 0, Σ η_t = ∞, Σ η_t² < ∞), computed by sympy."""
    t = sp.Symbol("t", integer=True, positive=True)
    c = sp.Symbol("c", positive=True)
    p = sp.sympify(p)
    eta = c / t**p
    return {
        "eta_to_zero": sp.limit(eta, t, sp.oo) == 0,
        "sum_eta_infinite": not bool(sp.Sum(1 / t**p, (t, 1, sp.oo)).is_convergent()),
        "sum_eta_squared_finite": bool(sp.Sum(1 / t ** (2 * p), (t, 1, sp.oo)).is_convergent()),
    }


@functools.cache
def convergence_conditions() -> Derivation:
    """For η_t = c/t^p (c > 0): η_t → 0 iff p > 0; Σ η_t = ∞ iff p ≤ 1 (integral test:
    ∫_1^∞ t^{−p} dt is finite iff p > 1); Σ η_t² < ∞ iff p > 1/2. The slide's conditions
    admit 0 < p ≤ 1; adding Σ η_t² < ∞ leaves 1/2 < p ≤ 1. At p = 1/2 the accumulated
    noise variance σ² Σ η_t² is infinite, yet on a strongly convex quadratic the
    iterate's variance still behaves like η_t σ²/(2hB) → 0 for every p < 1.
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
            c / sp.Symbol("t", positive=True) ** p, sp.Symbol("t", positive=True), 0, sp.oo
        ),
        "integral_test_sum_eta_infinite_for_p_below_1": Limit(
            partial_integral(below), T, sp.oo, sp.oo
        ),
        "integral_test_sum_eta_infinite_at_p_1": Limit(partial_integral(1), T, sp.oo, sp.oo),
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
        claims[f"sum_eta2_p{tag}"] = Series(1 / t ** (2 * pv), t, 1, None if 2 * pv > 1 else sp.oo)
    # with p < 1 the drift of η_t is o(η_t²), so v_t ~ η_t σ²/(2h B) (see the book)
    pp = below
    tp = sp.Symbol("t", positive=True)
    claims["eta_drift_negligible_for_p_below_1"] = Limit(
        (c / tp**pp - c / (tp + 1) ** pp) / (c / tp**pp) ** 2, tp, sp.oo, 0
    )
    steps = [
        ("schedule", _eq(sp.Symbol(r"\eta_t"), eta)),
        (
            "integral test for $\\sum \\eta_t$",
            _eq(sp.Integral(tr ** (-p), (tr, 1, sp.oo)), integral),
        ),
        (
            "integral test for $\\sum \\eta_t^2$",
            _eq(sp.Integral(tr ** (-2 * p), (tr, 1, sp.oo)), integral2),
        ),
    ]
    return Derivation(
        "Convergence conditions for η_t = c/t^p",
        {"t": t, "c": c, "p": p},
        steps,
        claims,
        label="deriv-convergence",
    )


# ---------------------------------------------------------------------------------------
# 8. The progress guarantee and the lecture's B*, η*
# ---------------------------------------------------------------------------------------


def _progress_symbols():
    L, gh, sh, B, eta = sp.symbols(r"L \hat{g} \hat{\sigma} B eta", positive=True)
    g = sp.Symbol("g", real=True)
    return L, gh, sh, B, eta, g


@functools.cache
def progress_guarantee() -> Derivation:
    """From loss'' ≤ L and ``|g − ĝ| ≤ 2σ̂/√B`` (ĝ > 0):
    loss(β − ηĝ) ≤ loss(β) − η(ĝ − 2σ̂/√B)ĝ + ½Lη²ĝ². Maximising over η:
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
        "rewrite_g_as_ghat_minus_error": _claim(
            -g * eta * gh, -eta * (gh - (gh - g)) * gh,
            r"-\eta\, g\,\ghat = -\eta\,\big(\ghat - (\ghat - g)\big)\,\ghat"),
        "error_bound_step_for_positive_ghat": Inequality(
            (-eta * (gh - c) * gh) - (-eta * (gh - (gh - g)) * gh), ">=", where={g: gh - c + u}
        ),
        "eta_star_B": _eq(eta_star_B, (1 - 2 * sh / (gh * sp.sqrt(B))) / L),
        "optimality_condition": _eq(gh * (gh - c), L * eta_star_B * gh**2),
        "bound_at_eta_star": _eq(
            guarantee.subs(eta, eta_star_B), loss0 - L / 2 * eta_star_B**2 * gh**2
        ),
        "progress_per_example": _eq(per_example, inner**2 / L**2),
        "stationarity_in_B": _claim(
            sp.diff(inner, B), -sp.Rational(1, 2) * B ** sp.Rational(-3, 2) + 2 * sh / gh * B**-2,
            r"\frac{d}{dB}\left(\frac{1}{\sqrt B} - \frac{2\sighat}{\ghat B}\right)"
            r" = -\frac12 B^{-3/2} + \frac{2\sighat}{\ghat}\, B^{-2}"),
        "B_star": _claim(
            B_star, 16 * sh**2 / gh**2,
            r"\frac{d}{dB}\frac{\eta^*(B)^2}{B} = 0 \iff B = B^* = \frac{16\sighat^2}{\ghat^2}"),
        "eta_star_is_half_over_L": _claim(
            eta_star, 1 / (2 * L),
            r"\eta^*(B^*) = \frac1L\left(1 - \frac{2\sighat}{\ghat\sqrt{B^*}}\right) = \frac{1}{2L}"),
        "eta_B": _claim(
            eta_B, B * gh**2 / (32 * sh**2 * L),
            r"\eta_B = \frac{B}{B^*}\,\eta^*(B^*) = \frac{B\,\ghat^2}{32\,\sighat^2 L}"),
        "B_star_is_maximum_where_eta_star_nonnegative": Inequality(
            pe_w.subs(w, 2) - pe_w, ">=", where={w: 1 + u}
        ),
        "unconstrained_objective_unbounded_as_B_to_0": Limit(per_example, B, 0, sp.oo),
    }
    steps = [
        (
            "smoothness",
            sp.Le(
                sp.Symbol(r"\mathrm{loss}(\beta - \Delta)"),
                bound.subs(loss0, sp.Symbol(r"\mathrm{loss}(\beta)")),
            ),
        ),
        (
            "guarantee",
            sp.Le(
                sp.Symbol(r"\mathrm{loss}(\beta - \eta\hat{g})"),
                guarantee.subs(loss0, sp.Symbol(r"\mathrm{loss}(\beta)")),
            ),
        ),
        ("best $\\eta$", _eq(sp.Symbol(r"\eta^{*}(B)"), eta_star_B)),
        ("progress per example", _eq(sp.Symbol(r"\eta^{*}(B)^{2}/B"), inner**2 / L**2)),
        ("best $B$", _eq(sp.Symbol("B^*"), B_star)),
        ("then", _eq(sp.Symbol(r"\eta^*"), eta_star)),
        ("scaled down", _eq(sp.Symbol(r"\eta_B"), eta_B)),
    ]
    return Derivation(
        "The progress guarantee, η*(B), B* and η_B",
        {"L": L, "ghat": gh, "sighat": sh, "B": B, "eta": eta, "g": g},
        steps,
        claims,
        label="deriv-progress",
    )


# ---------------------------------------------------------------------------------------
# 9. Stationary variance
# ---------------------------------------------------------------------------------------


def heavy_ball_covariance(eta, h, beta, s2):
    """Stationary covariance of (δ_t, v_{t−1}) for v_t = β v_{t−1} + η(h δ_t + ξ_t),
    δ_{t+1} = δ_t − v_t, Var ξ = s2: the solution of Σ = A Σ Aᵀ + b bᵀ s2."""
    A = sp.Matrix([[1 - eta * h, -beta], [eta * h, beta]])
    b = sp.Matrix([-eta, eta])
    p11, p12, p22 = sp.symbols("p_11 p_12 p_22")
    P = sp.Matrix([[p11, p12], [p12, p22]])
    eqs = A * P * A.T + b * b.T * s2 - P
    sol = sp.solve([eqs[0, 0], eqs[0, 1], eqs[1, 1]], [p11, p12, p22], dict=True)[0]
    return A, b, P.subs(sol).applyfunc(sp.factor)


@functools.cache
def stationary_variance() -> Derivation:
    """Constant-step SGD on loss = ½h(β − β*)² with per-example gradient variance σ²:
    δ_{t+1} = (1 − ηh) δ_t − η ξ̄_t, Var ξ̄ = σ²/B. Var δ_t = a^t v_0 + (1 − a^t) v_∞ with
    a = (1 − ηh)², v_∞ = ησ²/(Bh(2 − ηh)) ≈ ησ²/(2hB): the temperature T = h v_∞ ≈ ησ²/(2B)
    and E[loss − loss*] = h v_∞/2 ≈ ησ²/(4B) = T/2. Momentum (β = 1 − 1/N):
    v_∞ = ησ²(1 + β)/(Bh(1 − β)(2(1 + β) − ηh)) ≈ N ησ²/(2hB); in the form Φ −= η'μ,
    v_∞ = η'σ²/(Bh(2 − η'h/(2N − 1))): to first order the temperature depends on η' only.
    """
    eta, h, sigma, B, N = sp.symbols("eta h sigma B N", positive=True)
    etap = sp.Symbol(r"\eta'", positive=True)
    t = sp.Symbol("t", integer=True, positive=True)
    v = sp.Function("v")
    v0, u = sp.symbols("v_0 u", positive=True)
    s2 = sigma**2 / B
    a = (1 - eta * h) ** 2
    v_inf = sp.simplify(eta**2 * s2 / (1 - a))
    rec = {v: lambda k: a * v(k - 1) + eta**2 * s2}
    closed = Induction(v, lambda k: a**k * v0 + (1 - a**k) * v_inf, rec, {v: v0}, t, 0)
    beta = 1 - 1 / N
    A, b, P = heavy_ball_covariance(eta, h, beta, s2)
    var_hb = sp.factor(P[0, 0])
    var_hb_prime = sp.factor(var_hb.subs(eta, etap / N))
    claims = {
        "fixed_point": _eq(a * v_inf + eta**2 * s2, v_inf),
        "closed_form": _eq(v_inf, eta * sigma**2 / (B * h * (2 - eta * h))),
        "variance_for_all_t": closed,
        "stable_iff_eta_h_below_2": Inequality(1 - a, ">=", where={eta: 2 * (1 - 1 / (1 + u)) / h}),
        "small_eta_limit": Limit(v_inf / eta, eta, 0, sigma**2 / (2 * h * B)),
        "temperature": Limit(h * v_inf / eta, eta, 0, sigma**2 / (2 * B)),
        "excess_loss_small_eta": Limit((h * v_inf / 2) / (eta * sigma**2 / (4 * B)), eta, 0, 1),
        "momentum_lyapunov_solution": Identity(
            A * P * A.T + b * b.T * s2 - P,
            sp.zeros(2, 2),
            tex=r"A\Sigma A^\top + b b^\top \sigma^2/B - \Sigma = 0,\ "
            r"A = \begin{pmatrix}1-\eta h & -\beta\\ \eta h & \beta\end{pmatrix},\ "
            r"b = \begin{pmatrix}-\eta\\ \eta\end{pmatrix}",
        ),
        "momentum_variance": _eq(
            var_hb, eta * sigma**2 * (1 + beta) / (B * h * (1 - beta) * (2 * (1 + beta) - eta * h))
        ),
        "momentum_small_eta": Limit(var_hb / eta, eta, 0, N * sigma**2 / (2 * h * B)),
        "momentum_no_momentum_is_sgd": _claim(
            var_hb.subs(N, 1), v_inf,
            r"\Var_\infty\big\vert_{N = 1} = \frac{\eta\sigma^2}{B h (2 - \eta h)}"
            r"\quad\text{(SGD's)}"),
        "momentum_eta_prime_form": _eq(
            var_hb_prime, etap * sigma**2 / (B * h * (2 - etap * h / (2 * N - 1)))
        ),
        "momentum_eta_prime_small_limit": Limit(
            var_hb_prime / etap, etap, 0, sigma**2 / (2 * h * B)
        ),
        "momentum_eta_prime_large_N": Limit(var_hb_prime, N, sp.oo, etap * sigma**2 / (2 * h * B)),
    }
    steps = [
        (
            "error recursion",
            _eq(
                sp.Symbol(r"\delta_{t+1}"),
                (1 - eta * h) * sp.Symbol(r"\delta_t") - eta * sp.Symbol(r"\bar{\xi}_t"),
            ),
        ),
        ("variance recursion", _eq(v(t), rec[v](t))),
        ("stationary variance", _eq(sp.Symbol(r"v_\infty"), v_inf)),
        ("temperature", _eq(sp.Symbol("T"), sp.Symbol(r"h v_\infty"))),
        ("momentum (form 1)", _eq(sp.Symbol(r"v_\infty^{\mathrm{mom}}"), var_hb)),
        (
            "momentum (form 2, $\\eta = \\eta'/N$)",
            _eq(sp.Symbol(r"v_\infty^{\mathrm{mom}}"), var_hb_prime),
        ),
    ]
    return Derivation(
        "Stationary variance of constant-step SGD: learning rate as temperature",
        {"eta": eta, "h": h, "sigma": sigma, "B": B, "N": N, "eta_prime": etap},
        steps,
        claims,
        label="deriv-stationary",
    )


# ---------------------------------------------------------------------------------------
# 10. Expected progress
# ---------------------------------------------------------------------------------------


@functools.cache
def expected_progress() -> Derivation:
    """With E ĝ = g and E ĝ² = g² + σ²/B in place of the 2σ̂/√B bound:
    E loss(β − ηĝ) ≤ loss(β) − ηg² + ½Lη²(g² + σ²/B); best η(B) = (1/L) B/(B + B_noise)
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
        "expected_bound": _claim(
            loss0 - eta * g * g + L * eta**2 * second / 2, bound,
            r"\E\,\mathrm{loss}(\beta - \eta\ghat) \le \mathrm{loss}_0 - \eta\, g\,\E\,\ghat"
            r" + \frac L2 \eta^2\, \E\,\ghat^2 = \mathrm{loss}_0 - \eta g^2"
            r" + \frac L2 \eta^2 \left(g^2 + \frac{\sigma^2}{B}\right)"),
        "optimal_eta": _eq(eta_B, B / (L * (B + B_noise))),
        "optimal_eta_large_B": Limit(eta_B, B, sp.oo, 1 / L),
        "optimal_eta_small_B_is_linear": Limit(eta_B / B, B, 0, g**2 / (L * sigma**2)),
        "per_step_progress": _eq(best, g**2 / (2 * L) * B / (B + B_noise)),
        "half_of_max_progress_at_B_noise": _claim(
            best.subs(B, B_noise), g**2 / (4 * L),
            r"\mathrm{progress}(\eta_B)\big\vert_{B = B_{\text{noise}}} = \frac{g^2}{4L}"),
        "per_example_progress_decreases_in_B": Inequality(sp.diff(per_example, B), "<="),
        "per_example_progress_sup_at_B_to_0": Limit(per_example, B, 0, g**2 / (2 * L) / B_noise),
        "lecture_eta_B_is_32x_smaller": _claim(
            (g**2 / (L * sigma**2)) / (g**2 / (32 * sigma**2 * L)), 32,
            r"\frac{g^2/(L\sigma^2)}{g^2/(32\,\sigma^2 L)} = 32"),
        "lecture_B_star_is_16_B_noise": _claim(
            (16 * sigma**2 / g**2) / B_noise, 16,
            r"\frac{B^*}{B_{\text{noise}}} = \frac{16\sigma^2/g^2}{\sigma^2/g^2} = 16"),
        "eta_at_lecture_B_star": _claim(
            eta_B.subs(B, 16 * B_noise), sp.Rational(16, 17) / L,
            r"\eta_B\big\vert_{B = 16 B_{\text{noise}}} = \frac{16}{17 L}"),
    }
    steps = [
        (
            "bound in expectation",
            sp.Le(sp.Symbol(r"\mathbb{E}\,\mathrm{loss}(\beta-\eta\hat{g})"), bound),
        ),
        ("best $\\eta$", _eq(sp.Symbol(r"\eta(B)"), eta_B)),
        ("progress per step", _eq(sp.Symbol(r"P(B)"), best)),
        ("progress per example", _eq(sp.Symbol(r"P(B)/B"), per_example)),
    ]
    return Derivation(
        "Expected progress: the B*/η* analysis with E ĝ² = g² + σ²/B",
        {"L": L, "g": g, "sigma": sigma, "B": B, "eta": eta},
        steps,
        claims,
        label="deriv-expected-progress",
    )


DERIVATIONS: dict[str, Callable[[], Derivation]] = {
    "deriv-one-dim": one_dim_example,
    "deriv-running-average": running_average,
    "deriv-momentum": momentum_reparameterization,
    "deriv-rmsprop": rmsprop_second_moment,
    "deriv-scaling": batch_scaling,
    "deriv-gradient-flow": gradient_flow,
    "deriv-convergence": convergence_conditions,
    "deriv-progress": progress_guarantee,
    "deriv-stationary": stationary_variance,
    "deriv-expected-progress": expected_progress,
}


def all_derivations() -> dict[str, Derivation]:
    """Every derivation, keyed by its book label."""
    return {label: build() for label, build in DERIVATIONS.items()}


# ---------------------------------------------------------------------------------------
# Errata
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """sympy's verdict on an erratum: the printed form fails (and why), the fix holds."""

    printed_holds: bool
    reason: str
    corrected_holds: bool

    @property
    def confirmed(self) -> bool:
        return (not self.printed_holds) and self.corrected_holds


@dataclass(frozen=True)
class Erratum:
    """A place where a slide is wrong as printed.

    ``printed_tex``/``corrected_tex`` are the slide's and the corrected formula (LaTeX);
    ``printed``/``corrected`` are the claims sympy checks; ``kind`` says what sort of
    mistake it is ("typo", "sign error", "dropped factor", ...); ``caveat`` marks a slide
    that is defensible as intended but false as literally printed.
    """

    key: str
    slide: str
    kind: str
    printed_tex: str
    corrected_tex: str
    printed: Claim
    corrected: Claim
    explanation: str
    caveat: bool = False

    def verdict(self) -> Verdict:
        """Computed once per erratum and process (sympy is slow; the claims do not change)."""
        if id(self) not in _VERDICTS:
            printed_holds = bool(self.printed.check())
            reason = "" if printed_holds else (self.printed.refute() or "does not hold")
            _VERDICTS[id(self)] = (
                self,
                Verdict(printed_holds, reason, bool(self.corrected.check())),
            )
        return _VERDICTS[id(self)][1]


_VERDICTS: dict[int, tuple[Erratum, Verdict]] = {}


@functools.cache
def errata() -> tuple[Erratum, ...]:
    """Every erratum of the lecture found so far, each with checkable printed/corrected forms."""
    N, M, t, s, n, x, mu_hat = _running_average_symbols()
    a = 1 - 1 / N
    ema = {mu_hat: lambda k: a * mu_hat(k - 1) + x[k] / N}
    out = []

    out.append(
        Erratum(
            "unrolled-exponent",
            "Running Averages",
            "sign error (exponent)",
            r"\hat\mu_t = \frac1N \sum_{1 \le s \le t} \left(1 - \frac1N\right)^{-(t-s)} x_s",
            r"\hat\mu_t = \frac1N \sum_{1 \le s \le t} \left(1 - \frac1N\right)^{t-s} x_s",
            Induction(
                mu_hat,
                lambda k: ema_closed_form(k, N, x, s, sign=-1),
                ema,
                {mu_hat: 0},
                t,
                0,
                inputs=(x,),
            ),
            Induction(
                mu_hat, lambda k: ema_closed_form(k, N, x, s), ema, {mu_hat: 0}, t, 0, inputs=(x,)
            ),
            "Each step multiplies the old average by $1 - 1/N < 1$, so older values get *smaller* "
            "weights. The printed exponent gives the oldest value the largest weight.",
        )
    )
    out.append(
        Erratum(
            "geometric-series-exponent",
            "Running Averages",
            "sign error (exponent)",
            r"\sum_{n \ge 0} \left(1 - \frac1N\right)^{-n} = N",
            r"\sum_{n \ge 0} \left(1 - \frac1N\right)^{n} = N",
            Series(a ** (-n), n, 0, N, where={N: 1 + M}),
            Series(a**n, n, 0, N, where={N: 1 + M}),
            "The same sign as in the unrolled form: with a negative exponent every term is at least 1 "  # noqa: E501
            "and the sum diverges. Written with $N = 1 + M$, $M > 0$ (so that $N > 1$).",
        )
    )
    tp = sp.Symbol("t", positive=True)
    c, p = sp.symbols("c p", positive=True)
    out.append(
        Erratum(
            "physicist-limit",
            "Physicist's Proof of the Convergence Theorem",
            "typo",
            r"\lim_{t \to 0} \eta_t = 0",
            r"\lim_{t \to \infty} \eta_t = 0",
            Limit(c / tp**p, tp, 0, 0),
            Limit(c / tp**p, tp, sp.oo, 0),
            "The theorem's hypothesis, two slides earlier, reads $t \\to \\infty$; "
            "for $\\eta_t = c/t^p$ the limit at $0$ is infinite.",
        )
    )
    eta, h, c0 = sp.symbols("eta h c_0", positive=True)
    tt = sp.Symbol("t", real=True)
    phi = c0 * sp.exp(-eta * h * tt)  # solves dΦ/dt = −η h Φ, the flow of ℓ = ½hΦ²
    ell = h * phi**2 / 2
    out.append(
        Erratum(
            "gradient-flow-eta",
            "Gradient Flow Guarantees Progress",
            "dropped factor",
            r"\frac{d\ell}{dt} = -\|\nabla_\Phi \ell(\Phi)\|^2",
            r"\frac{d\ell}{dt} = -\eta\,\|\nabla_\Phi \ell(\Phi)\|^2",
            Identity(sp.diff(ell, tt), -((h * phi) ** 2), witness={eta: 2, h: 1, c0: 1, tt: 0}),
            Identity(sp.diff(ell, tt), -eta * (h * phi) ** 2),
            "With $d\\Phi/dt = -\\eta g$ (the slide's own definition) the chain rule keeps the "
            "$\\eta$. The conclusion $d\\ell/dt \\le 0$ is unaffected. Checked on "
            "$\\ell = \\tfrac12 h\\Phi^2$, whose flow is $\\Phi(t) = c_0 e^{-\\eta h t}$; "
            "the general case is in {ref}`deriv-gradient-flow`.",
        )
    )
    phi_vec = sp.Matrix(sp.symbols("Phi_t[1] Phi_t[2]", real=True))
    step = sp.Symbol(r"\frac{\eta\,\mu_t[1]}{\sqrt{s_t[1]}+\epsilon}", real=True)
    out.append(
        Erratum(
            "adam-index",
            "Adam (simplified)",
            "typo",
            r"\Phi_{t+1}[i] = \Phi_t - \frac{\eta}{\sqrt{s_t[i]} + \epsilon}\,\mu_t[i]",
            r"\Phi_{t+1}[i] = \Phi_t[i] - \frac{\eta}{\sqrt{s_t[i]} + \epsilon}\,\mu_t[i]",
            WellTyped(
                lambda: phi_vec[0],
                lambda: phi_vec - step,
                r"\Phi_{t+1}[1] = \Phi_t - \tfrac{\eta\,\mu_t[1]}{\sqrt{s_t[1]}+\epsilon}",
            ),
            WellTyped(
                lambda: phi_vec[0],
                lambda: phi_vec[0] - step,
                r"\Phi_{t+1}[1] = \Phi_t[1] - \tfrac{\eta\,\mu_t[1]}{\sqrt{s_t[1]}+\epsilon}",
            ),
            "The left side is one coordinate, the right side subtracts a number from the whole vector. "  # noqa: E501
            "The RMSProp slide has the index. (Adam's $\\sqrt{s} + \\epsilon$ against RMSProp's "
            "$\\sqrt{s + \\epsilon}$ is a convention, not an error: both are in use.)",
        )
    )
    g = sp.Symbol("g", real=True)
    sigma = sp.Symbol("sigma", positive=True)
    B = sp.Symbol("B", integer=True, positive=True)
    E_sq = rmsprop_second_moment().claims["second_moment_is_g2_plus_variance"].lhs  # g² + σ²/B
    out.append(
        Erratum(
            "rmsprop-variance",
            "RMSProp",
            "ambiguous variance (off by B)",
            r"s[i] \approx \E\,\ghat[i]^2 = g[i]^2 + \sigma[i]^2",
            r"s[i] \approx \E\,\ghat[i]^2 = g[i]^2 + \frac{\sigma[i]^2}{B}"
            r"\quad(\sigma[i]\text{ per example})",
            Identity(E_sq, g**2 + sigma**2, witness={B: 2, g: 0, sigma: 1}),
            Identity(E_sq, g**2 + sigma**2 / B),
            "Correct if $\\sigma[i]$ is the standard deviation of the *batch* gradient "
            "$\\ghat[i]$; the slide does not say. Everywhere else the lecture's $\\sigma$ and "
            "$\\sighat$ are per example (the $2\\sighat/\\sqrt{B}$ bound, the $N_s$ slide), and "
            "with that reading the variance term needs $1/B$. The difference is what the "
            '"Scaling $N_s$" slide is about. See {ref}`deriv-rmsprop`.',
        )
    )
    tt_int = sp.Symbol("t", integer=True, positive=True)
    out.append(
        Erratum(
            "robbins-monro",
            "The Classical Convergence Theorem",
            "omitted hypothesis",
            r"\eta_t > 0,\ \lim_{t\to\infty}\eta_t = 0,\ \sum_t \eta_t = \infty",
            r"\eta_t > 0,\ \sum_t \eta_t = \infty,\ \sum_t \eta_t^2 < \infty",
            Series((1 / sp.sqrt(tt_int)) ** 2, tt_int, 1, None),
            Series((1 / tt_int ** sp.Rational(3, 4)) ** 2, tt_int, 1, None),
            "The stochastic-gradient result the slide cites assumes $\\sum_t \\eta_t^2 < \\infty$ "
            "as well {cite}`bertsekas1996neuro,bertsekas2000gradient,robbins1951stochastic`. "
            "The slide's conditions admit $\\eta_t = 1/\\sqrt t$ (checked above: the claim is that "
            "its noise budget $\\sum_t \\eta_t^2$ is finite, and it is not), for which the "
            "accumulated gradient noise has infinite variance $\\sigma^2 \\sum_t \\eta_t^2$, "
            "so the proof does not go through; $\\eta_t = t^{-3/4}$ satisfies all three "
            "conditions. Honest footnote: the missing condition is sufficient, not necessary. On a "
            "strongly convex quadratic the iterate's variance still tends to zero for "
            "$\\eta_t = 1/\\sqrt t$, as $\\eta_t\\sigma^2/(2hB)$ "
            "({ref}`deriv-convergence`).",
        )
    )
    L, gt, sh = sp.symbols(r"L \tilde{g} \hat{\sigma}", positive=True)
    sig_tilde_sq = sh**2 / B  # what s̃ − g̃² estimates: Var ĝ of a batch of B
    out.append(
        Erratum(
            "complete-calculation-B",
            "A Complete Calculation of η (in One Dimension)",
            "variance off by B (inconsistent pair)",
            r"B^*(t) = \frac{16(\sigtil^t)^2}{(\gtil^t)^2 + \epsilon}"
            r"\ \text{ and }\ \eta^t = \frac{(\gtil^t)^2}{32(\sigtil^t)^2 L}",
            r"B^*(t) = \frac{16\,B\,(\sigtil^t)^2}{(\gtil^t)^2 + \epsilon}"
            r"\ \text{ and }\ \eta^t = \frac{(\gtil^t)^2}{32(\sigtil^t)^2 L}",
            Identity(16 * sig_tilde_sq / gt**2, 16 * sh**2 / gt**2, witness={B: 2, sh: 1, gt: 1}),
            Identity(16 * B * sig_tilde_sq / gt**2, 16 * sh**2 / gt**2),
            "$\\stil$ averages squared *batch* gradients, so $\\stil - \\gtil^2$ estimates "
            "$\\Var\\,\\ghat = \\sighat^2/B$, not the per-example $\\sighat^2$ that "
            "$B^* = 16\\sighat^2/\\ghat^2$ needs. With that reading $\\eta^t = "
            "\\gtil^2/(32\\sigtil^2 L) = B\\ghat^2/(32\\sighat^2 L) = \\eta_B$ is right, and "
            "$B^*(t)$ comes out $B$ times too small, so the averaging weight $B/B^*(t)$ is $B$ times "  # noqa: E501
            "too large. With the other reading ($\\sigtil$ per example) $B^*(t)$ is right and "
            "$\\eta^t$ is $\\eta_1$, missing the factor $B$. Either way the pair is inconsistent "
            "for $B > 1$; the fix shown keeps $\\stil$ and multiplies $B^*(t)$ by $B$ (or average "
            'per-example squares, as the "Scaling $N_s$" slide recommends, and multiply $\\eta^t$ '
            'by $B$). In the "Complete Algorithm" the constant $\\lambda_B$ can absorb the factor '
            "only while $B$ is fixed.",
        )
    )
    out.append(
        Erratum(
            "N_s-notation",
            "Scaling N_s",
            "notation slip",
            r"\text{to estimate } \E\, g[i]^2 \text{, average } \ghat_t[i]^2 \text{ over batch elements}",  # noqa: E501
            r"\text{to estimate } \E\, \ghat_1[i]^2 = g[i]^2 + \sigma[i]^2 \text{, average per-example squares}",  # noqa: E501
            Identity(g**2 + sigma**2, g**2, witness={g: 0, sigma: 1}),
            Identity((B * (g**2 + sigma**2)) / B, g**2 + sigma**2),
            "$g$ is not random, so $\\E\\,g[i]^2 = g[i]^2$; the average of per-example squares "
            "estimates the second moment of a *per-example* gradient, $g^2 + \\sigma^2$. The "
            "argument of the slide is right; the symbol is not.",
        )
    )
    # Caveats: defensible as intended, false as literally printed
    v, u, eta_, cc, theta = sp.symbols("v u eta c theta", positive=True)
    gr = sp.Symbol(r"\hat{g}", real=True)
    th = 1 / (1 + u)  # θ ∈ (0, 1]: g = ĝ − c + 2cθ covers |ĝ − g| ≤ c
    g_of = lambda gh: gh - cc + 2 * cc * th  # noqa: E731
    printed_gap = (-eta_ * (gr - cc) * gr) - (-eta_ * g_of(gr) * gr)
    fixed_gap = (-eta_ * (v - cc) * v) - (-eta_ * g_of(-v) * (-v))  # ĝ = −v < 0, |ĝ| = v
    out.append(
        Erratum(
            "progress-sign",
            "A Progress Guarantee",
            "caveat: assumes ĝ > 0",
            r"-\eta(\ghat - (\ghat - g))\ghat \le -\eta\left(\ghat - \frac{2\sighat}{\sqrt B}\right)\ghat",  # noqa: E501
            r"-\eta(\ghat - (\ghat - g))\ghat \le -\eta\left(|\ghat| - \frac{2\sighat}{\sqrt B}\right)|\ghat|",  # noqa: E501
            Inequality(printed_gap, ">=", witness={gr: -1, u: 1, cc: 1, eta_: 1}),
            Inequality(fixed_gap, ">="),
            "Writing $c = 2\\sighat/\\sqrt B$ and $|\\ghat - g| \\le c$: the printed step holds "
            "for $\\ghat > 0$ and fails for $\\ghat < 0$. In one dimension one may take "
            "$\\ghat > 0$ without loss of generality (flip the sign of $\\beta$), so the slide is "
            "defensible; with $|\\ghat|$ the bound holds for both signs (the corrected check is the "  # noqa: E501
            "case $\\ghat = -v < 0$; the case $\\ghat > 0$ is in {ref}`deriv-progress`). $B^*$ and "
            "$\\eta_B$ depend on $\\ghat^2$ only, $\\eta^*(B)$ needs $|\\ghat|$.",
            caveat=True,
        )
    )
    Lp, gh, shp, w = sp.symbols(r"L \hat{g} \hat{\sigma} w", positive=True)
    aa = 2 * shp / gh
    per_example_w = ((1 - aa / (aa * w)) / Lp) ** 2 / (aa**2 * w**2)  # η*(B)²/B at B = a²w²
    out.append(
        Erratum(
            "B-star-domain",
            "Optimizing B",
            "caveat: maximise over η*(B) ≥ 0",
            r"B^* = \arg\max_{B > 0} \frac{\eta^*(B)^2}{B}",
            r"B^* = \arg\max_{B \ge 4\sighat^2/\ghat^2} \frac{\eta^*(B)^2}{B}",
            Inequality(
                per_example_w.subs(w, 2) - per_example_w, ">=", witness={w: sp.Rational(1, 2)}
            ),
            Inequality(per_example_w.subs(w, 2) - per_example_w, ">=", where={w: 1 + u}),
            "Write $B = (2\\sighat/\\ghat)^2 w^2$, so $B^*$ is $w = 2$. For $w < 1$ "
            "($B < 4\\sighat^2/\\ghat^2$) the optimal $\\eta^*(B)$ is negative, the guarantee "
            "promises no progress, and $\\eta^*(B)^2/B$ grows without bound as $B \\to 0$. The "
            "squared objective must be restricted to $\\eta^*(B) \\ge 0$ (or written "
            "$\\max(\\eta^*(B), 0)^2/B$); there $B^*$ is the maximum.",
            caveat=True,
        )
    )
    return tuple(out)


def _cell(tex: str) -> str:
    """LaTeX safe inside a markdown table cell: bars would end the cell."""
    return tex.replace(r"\|", r"\Vert ").replace("|", r"\vert ")


def errata_table(items=None) -> str:
    """A markdown table of the errata with sympy's verdicts, computed now.

    One short row per erratum, narrow enough for a page; the printed and corrected forms
    and sympy's reason are in each entry's full record (:meth:`Erratum.verdict`).
    """
    items = errata() if items is None else items
    rows = [
        "| # | slide | what is wrong | printed form | corrected form |",
        "|---|---|---|---|---|",
    ]
    for i, e in enumerate(items, 1):
        v = e.verdict()
        printed = "holds" if v.printed_holds else "fails ✗"
        fixed = "holds ✓" if v.corrected_holds else "FAILS ✗"
        rows.append(f"| {i} | {e.slide} | {e.kind} | {printed} | {fixed} |")
    return "\n".join(rows)
