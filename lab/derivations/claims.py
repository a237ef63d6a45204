"""The claim engine: what a derivation states, and how sympy (and numbers) check it.

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

:meth:`~lab.derivations.Derivation.check` returns name -> bool for every kind.
:meth:`~lab.derivations.Derivation.check_numerically` evaluates every claim at random
admissible values (iterating recursions, summing series, approaching limits), an
independent guard against a simplification that proves the wrong thing.

:class:`~lab.derivations.Erratum` (in :mod:`lab.derivations`) records a place where the
slides are wrong as printed: the printed form, the corrected form and a verdict computed
by sympy (:func:`lab.derivations.errata`).
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp
from sympy import stats as sps
from sympy.core.function import AppliedUndef, UndefinedFunction

from lab import _checks

# ---------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------

__all__ = [
    "Claim",
    "Identity",
    "Counterexample",
    "Limit",
    "Series",
    "Inequality",
    "Induction",
    "WellTyped",
    "Derivation",
    "claims_markdown",
    "eq",
    "identity",
    "expect_iid",
]


#: Bounds of :func:`expect_iid` (a polynomial in at most 16 draws, of degree at most
#: 4: at most 3 876 monomials, a few seconds): and so of the exact batch sizes.
MAX_DRAWS = 16
MAX_DEGREE = 4
#: Random points per claim in :func:`claims_markdown` (each costs sympy evaluations).
MAX_TRIALS = 100


def _expression(name: str, value, *, matrix: bool = True):
    """``value``, checked to be something sympy reads as one expression: a sympy
    expression (or, with ``matrix``, a sympy matrix) or a finite real number. ``None``,
    bools, strings, arrays, tensors and ``nan``/``zoo`` get an error naming ``name``."""
    kinds = "a sympy expression" + (", a sympy matrix" if matrix else "")
    if isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_):
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return value
    if isinstance(value, sp.MatrixBase) and matrix:
        bad = any(e.has(sp.nan, sp.zoo) for e in value)
    elif isinstance(value, sp.Expr):
        bad = value.has(sp.nan, sp.zoo)
    else:
        raise TypeError(f"{name} must be {kinds} or a real number, got {value!r:.80}")
    if bad:
        raise ValueError(f"{name} must not contain nan or zoo, got {value!r:.80}")
    return value


def _symbol(name: str, value) -> sp.Symbol:
    """``value``, checked to be a ``sympy.Symbol``."""
    return _checks.instance(name, value, sp.Symbol, "a sympy Symbol")


def _mapping(name: str, value, *, optional: bool = False) -> dict | None:
    """``value``, checked to be a dict (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    return _checks.instance(name, value, dict, "a dict" + (" or None" * optional))


def _batch_sizes(name: str, value) -> tuple[int, ...]:
    """``value``, checked to be a tuple or list of 1 to 16 batch sizes, each an integer
    in [1, 16] (the exact expectations of :func:`expect_iid`), as a tuple of ints."""
    if not isinstance(value, tuple | list):
        raise TypeError(f"{name} must be a tuple of integers, got {value!r:.80}")
    if not 1 <= len(value) <= MAX_DRAWS:
        raise ValueError(
            f"{name} must hold 1 to {MAX_DRAWS} batch sizes, got {len(value)}"
        )
    return tuple(_checks.integer_between(name, b, 1, MAX_DRAWS) for b in value)


def _cached(**checks):
    """``functools.cache``, with the named arguments checked first (and made hashable):
    ``@_cached(exact_batch_sizes=_batch_sizes)`` calls ``_batch_sizes(name, value)``."""

    def decorate(fn):
        cached = functools.cache(fn)
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def checked(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, check in checks.items():
                bound.arguments[name] = check(name, bound.arguments[name])
            return cached(*bound.args, **bound.kwargs)

        return checked

    return decorate


def eq(lhs, rhs) -> sp.Eq:
    """An unevaluated equation, so that a claim that already holds stays inspectable.

    ``lhs`` and ``rhs`` are sympy expressions, sympy matrices or finite real numbers
    (``TypeError``/``ValueError`` naming the side otherwise).
    """
    lhs, rhs = _expression("lhs", lhs), _expression("rhs", rhs)
    return sp.Eq(sp.sympify(lhs), sp.sympify(rhs), evaluate=False)


def identity(lhs, rhs, tex: str) -> Identity:
    """``lhs == rhs`` displayed as ``tex``: for a claim whose left side sympy has already
    evaluated (an expectation, a sum, a ratio), so that the page shows what was computed
    rather than ``x = x``. The sides are checked as by :func:`eq`; ``tex`` is a string."""
    lhs, rhs = _expression("lhs", lhs), _expression("rhs", rhs)
    return Identity(sp.sympify(lhs), sp.sympify(rhs), tex=_checks.text("tex", tex))


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

    return sp.expand(expr).replace(
        lambda e: isinstance(e, sp.Pow) and e.exp.free_symbols, rewrite
    )


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
        return (
            isinstance(e, sp.Sum)
            and len(e.limits) == 1
            and sp.simplify(e.limits[0][2] - t) == 0
        )

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
                    iter(
                        a
                        for e in exprs
                        for a in sp.sympify(e).atoms(AppliedUndef)
                        if a.func == f
                    )
                ).args
            ),
            rng,
        )
    return values


def _evaluate(expr, values: dict) -> complex:
    """``expr`` at ``values`` (symbols and undefined functions), as a complex number."""
    expr = sp.sympify(expr)
    funcs = {
        k: v
        for k, v in values.items()
        if not isinstance(k, sp.Basic) or not k.is_Symbol
    }
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

    def check_numerically(
        self, rng: random.Random, trials: int = 5, tol: float = 1e-9
    ) -> bool:
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
    tex: str = (
        ""  # how to display the claim, when the expanded sides would be unreadable
    )

    def __post_init__(self):
        _expression("lhs", self.lhs)
        _expression("rhs", self.rhs)
        _mapping("where", self.where)
        _mapping("witness", self.witness, optional=True)
        _checks.text("tex", self.tex)

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

    def __post_init__(self):
        _expression("lhs", self.lhs)
        _expression("rhs", self.rhs)
        _mapping("at", self.at)

    def _values(self):
        return [
            sp.simplify(sp.sympify(x).subs(self.at).doit())
            for x in (self.lhs, self.rhs)
        ]

    def check(self) -> bool:
        a, b = self._values()
        return sp.simplify(a - b) != 0

    def check_numerically(self, rng, trials=5, tol=1e-9) -> bool:
        a, b = (
            complex(sp.N(sp.sympify(x).subs(self.at).doit(), 30))
            for x in (self.lhs, self.rhs)
        )
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

    def __post_init__(self):
        _expression("expr", self.expr, matrix=False)
        _symbol("var", self.var)
        _expression("point", self.point, matrix=False)
        _expression("value", self.value, matrix=False)
        _checks.choice("direction", self.direction, ("+", "-", "+-"))
        _mapping("where", self.where)

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
            xs = [
                point + sign * sp.Float(sp.Rational(1, 10**k), 40) for k in (4, 8, 12)
            ]
        for _ in range(trials):
            values = _random_point([expr], rng)
            values.pop(self.var, None)
            if want.is_infinite:
                ys = [
                    float(sp.re(_evaluate(expr, {**values, self.var: x}))) for x in xs
                ]
                ys = ys if want == sp.oo else [-y for y in ys]
                # growing without slowing down much: log T passes, a convergent tail does not
                if not (
                    ys[0] < ys[1] < ys[2] and ys[2] - ys[1] >= 0.5 * (ys[1] - ys[0])
                ):
                    return False
            else:
                target = _evaluate(want, values)
                errs = [
                    abs(_evaluate(expr, {**values, self.var: x}) - target) for x in xs
                ]
                if not (
                    errs[2] <= errs[0] + 1e-12 and errs[2] <= 1e-3 * (1 + abs(target))
                ):
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

    def __post_init__(self):
        _expression("term", self.term, matrix=False)
        _symbol("n", self.n)
        if isinstance(self.start, bool) or not isinstance(
            self.start, numbers.Integral | sp.Integer
        ):
            raise TypeError(f"start must be an integer, got {self.start!r:.80}")
        if self.value is not None:
            _expression("value", self.value, matrix=False)
        _mapping("where", self.where)

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
        ratio = sp.limit(
            sp.simplify(term.subs(self.n, self.n + 1) / term), self.n, sp.oo
        )
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
            ratio = sp.limit(
                sp.simplify(term.subs(self.n, self.n + 1) / term), self.n, sp.oo
            )
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

    def __post_init__(self):
        _expression("expr", self.expr, matrix=False)
        _checks.choice("sense", self.sense, (">=", "<="))
        _mapping("where", self.where)
        _mapping("witness", self.witness, optional=True)

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

    def __post_init__(self):
        _checks.instance("seq", self.seq, UndefinedFunction, "a sympy Function")
        _checks.function("rhs", self.rhs)
        _mapping("recursions", self.recursions)
        for f, r in self.recursions.items():
            _checks.instance("recursions", f, UndefinedFunction, "keyed by Functions")
            _checks.function("recursions", r)
        _mapping("initial", self.initial)
        if self.seq not in self.recursions or self.seq not in self.initial:
            raise ValueError("recursions and initial must both give seq")
        _symbol("t", self.t)
        _expression("t0", self.t0, matrix=False)
        _checks.instance("inputs", self.inputs, tuple, "a tuple")
        _mapping("where", self.where)
        _checks.text("text", self.text)

    def _sub(self, e):
        return sp.sympify(e).subs(self.where) if self.where else sp.sympify(e)

    def base_case(self) -> bool:
        t0 = self._sub(self.t0)
        rhs = self._sub(self.rhs(t0))
        rhs = rhs.xreplace(
            {f(t0): self._sub(v) for f, v in self.initial.items()}
        ).doit()
        return _is_zero(self._sub(self.initial[self.seq]) - rhs)

    def step(self) -> bool:
        t = self.t
        hypothesis = {self.seq(t - 1): self.rhs(t - 1)}
        lhs = self.recursions[self.seq](t).xreplace(hypothesis)
        rhs = self.rhs(t)
        rhs = rhs.xreplace(
            {f(t): r(t) for f, r in self.recursions.items() if f is not self.seq}
        )
        rhs = _peel_last(self._sub(rhs), t)
        lhs = _peel_last(self._sub(lhs), t)
        return _is_zero(lhs - rhs)

    def check(self) -> bool:
        return self.base_case() and self.step()

    def iterate(
        self, values: dict, inputs: dict, steps: int
    ) -> list[tuple[int, object, object]]:
        """(t, sequence value, claimed value) for t0 .. t0+steps at the given values."""
        t0 = int(self._sub(self.t0).subs(values))
        state = {
            f: self._sub(v).subs(values).doit().xreplace(inputs)
            for f, v in self.initial.items()
        }
        out = []
        for k in range(steps + 1):
            tk = t0 + k
            if k > 0:
                prev = {f(tk - 1): v for f, v in state.items()}
                state = {
                    f: self._sub(r(sp.Integer(tk)))
                    .subs(values)
                    .xreplace(prev)
                    .xreplace(inputs)
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
                    sp.Rational(rng.randint(-300, 300), 100)
                    if numeric
                    else sp.Symbol(f"{x}_{k}")
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
        values = {
            s: (2 if s.is_integer else 2) for s in values if isinstance(s, sp.Symbol)
        }
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
        return (
            head + f" \\quad \\text{{for all }} {sp.latex(t)} \\ge {sp.latex(self.t0)}"
        )


@dataclass(frozen=True)
class WellTyped(Claim):
    """Both sides can be built and have the same shape (scalar or matrix).

    ``lhs``/``rhs`` are callables returning sympy objects; a ``TypeError`` while
    building (sympy refuses to add a vector and a number) or different shapes fail.
    """

    lhs: Callable
    rhs: Callable
    text: str

    def __post_init__(self):
        _checks.function("lhs", self.lhs)
        _checks.function("rhs", self.rhs)
        _checks.text("text", self.text)

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

    def __post_init__(self):
        _checks.text("title", self.title)
        _mapping("symbols", self.symbols)
        _checks.instance("steps", self.steps, list | tuple, "a list of (text, expr)")
        for step in self.steps:
            if not (
                isinstance(step, tuple | list)
                and len(step) == 2
                and isinstance(step[0], str)
            ):
                raise TypeError(f"steps must hold (text, expr) pairs, got {step!r:.80}")
        _mapping("claims", self.claims)
        for name, claim in self.claims.items():
            _checks.text("claims", name)
            if not isinstance(claim, Claim | sp.Equality):
                raise TypeError(
                    f"claims must map names to a Claim or sympy.Eq, got {claim!r:.80}"
                )
        _checks.text("label", self.label)
        _checks.text("notes", self.notes)

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
            verdicts[name] = bool(
                _as_claim(c).check_numerically(rng, trials=trials, tol=tol)
            )
        return verdicts

    def claim_latex(self, name: str) -> str:
        return _as_claim(self.claims[name]).latex()

    def _repr_markdown_(self) -> str:
        title = self.title.replace("*", r"\*").replace(
            "_", r"\_"
        )  # literal, not emphasis
        lines = [f"**{title}**", ""]
        for text, expr in self.steps:
            lines.append(f"- {text}: ${sp.latex(expr)}$")
        return "\n".join(lines)


def claims_markdown(
    derivation: Derivation, numerically: bool = True, trials: int = 3
) -> str:
    """The claims of ``derivation`` in markdown: for each, its name, kind, symbolic
    verdict and numerical verdict (``trials`` random points), then its statement as
    display math. A list rather than a table, so that long statements get the page's
    full width; a failed check shows as ✗. ``trials`` is an integer in [1, 100].
    """
    _checks.instance("derivation", derivation, Derivation, "a Derivation")
    numerically = _checks.flag("numerically", numerically)
    trials = _checks.integer_between("trials", trials, 1, MAX_TRIALS)
    symbolic = derivation.check()
    numeric = derivation.check_numerically(trials=trials) if numerically else {}
    items = []
    for name, claim in derivation.claims.items():
        c = _as_claim(claim)
        num = ("✓" if numeric[name] else "✗") if numerically else "not run"
        statement = c.latex().replace("\n", "\n  ")
        items.append(
            f"- `{name}` ({c.kind}): sympy {'✓' if symbolic[name] else '✗'}, "
            f"numeric {num}\n\n  $$\n  {statement}\n  $$"
        )
    return "\n\n".join(items)


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


def expect_iid(expr, draws, family: str):
    """E expr for a polynomial in independent draws of one population (exact).

    Independence makes the expectation of a monomial the product of raw moments, so a
    batch of size B costs one ``sympy.stats`` moment per power, not a B-fold integral.
    ``draws`` are 1 to 16 distinct sympy Symbols, ``expr`` a polynomial in them of
    total degree at most 4, ``family`` ``"normal"`` (N(μ, σ²)) or ``"bernoulli"`` (p).
    """
    expr = _expression("expr", expr, matrix=False)
    if isinstance(draws, sp.Symbol) or not isinstance(draws, tuple | list):
        raise TypeError(
            f"draws must be a tuple or list of sympy Symbols, got {draws!r:.80}"
        )
    for d in draws:
        _symbol("draws", d)
    if not 1 <= len(set(draws)) == len(draws) <= MAX_DRAWS:
        raise ValueError(
            f"draws must be 1 to {MAX_DRAWS} distinct Symbols, got {len(draws)}"
        )
    _checks.choice("family", family, ("normal", "bernoulli"))
    degree = _degree(sp.sympify(expr), set(draws))
    if degree is None or degree > MAX_DEGREE:
        raise ValueError(
            f"expr must be a polynomial of degree at most {MAX_DEGREE} in draws, "
            f"got {expr!r:.80}"
        )
    poly = sp.Poly(sp.expand(expr), *draws)
    total = 0
    for monom, coeff in poly.terms():
        term = coeff
        for k in monom:
            if k:
                term *= _raw_moment(family, k)
        total += term
    return sp.expand(total)


def _degree(expr, draws: set) -> int | None:
    """An upper bound on the total degree of ``expr`` in ``draws`` without expanding it;
    ``None`` when ``expr`` is not a polynomial in them (a draw under a function, a
    negative or symbolic power)."""
    if not expr.free_symbols & draws:
        return 0
    if expr in draws:
        return 1
    if isinstance(expr, sp.Add | sp.Mul):
        parts = [_degree(a, draws) for a in expr.args]
        if any(p is None for p in parts):
            return None
        return max(parts) if isinstance(expr, sp.Add) else sum(parts)
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp >= 0:
        base = _degree(expr.base, draws)
        return None if base is None else base * int(expr.exp)
    return None
