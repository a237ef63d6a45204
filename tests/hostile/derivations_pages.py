"""lab.derivations, lab.pages and lab.plots."""

from pathlib import Path

import sympy as sp

_X = sp.Symbol("x", positive=True)

#: A chapter of the book (a MyST page that lab.pages.reading_minutes reads).
_PAGE = Path(__file__).resolve().parents[2] / "book" / "01_vanilla_sgd.md"

VALID = {
    "page": lambda c: _PAGE,
}

OVERRIDES = {
    # the heavy-ball derivations take sympy symbols (or numbers), not a vector h
    "lab.derivations.momentum.heavy_ball_system": {"h": sp.Symbol("h")},
    "lab.derivations.claims.WellTyped": {"lhs": lambda: _X, "rhs": lambda: _X},
}

EXEMPT = {
    "lab.pages.check:passed": "False is a failed check: AssertionError by design",
}

PENDING = ()
