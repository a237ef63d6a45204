"""Derivations of the lecture, written out and checked with sympy.

Each chapter's derivations live in the module of the chapter's name
(:mod:`lab.derivations.vanilla_sgd`, ..., :mod:`lab.derivations.optimal_batch`); each
builder returns a :class:`~lab.derivations.claims.Derivation`: the symbols it uses, the
steps a chapter displays, and the claims a test checks. :mod:`lab.derivations.claims`
is the engine that checks them (symbolically and at random points);
:mod:`lab.derivations.errata` records where the slides are wrong as printed.

:data:`DERIVATIONS` registers every derivation under its book label (``deriv-...``);
the tests check every registered derivation and the derivations appendix shows them all,
so a new derivation is registered here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from lab.derivations.batch_scaling import (
    batch_scaling_rules,
    noise_scale_at_stationarity,
)
from lab.derivations.claims import (
    Claim,
    Counterexample,
    Derivation,
    Identity,
    Induction,
    Inequality,
    Limit,
    Series,
    WellTyped,
    claims_markdown,
)
from lab.derivations.convergence import convergence_conditions
from lab.derivations.errata import Erratum, Verdict, errata, errata_markdown
from lab.derivations.gradient_flow import fokker_planck, gradient_flow_limits
from lab.derivations.momentum import (
    heavy_ball_system,
    heavy_ball_tuning,
    momentum_reparameterization,
    stationary_variance,
)
from lab.derivations.optimal_batch import expected_progress, progress_guarantee
from lab.derivations.rmsprop import rmsprop_second_moment
from lab.derivations.running_averages import running_average
from lab.derivations.vanilla_sgd import one_dim_example

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
    "convergence_conditions",
    "running_average",
    "rmsprop_second_moment",
    "heavy_ball_system",
    "momentum_reparameterization",
    "stationary_variance",
    "heavy_ball_tuning",
    "batch_scaling_rules",
    "noise_scale_at_stationarity",
    "gradient_flow_limits",
    "fokker_planck",
    "progress_guarantee",
    "expected_progress",
    "DERIVATIONS",
    "all_derivations",
    "errata",
    "claims_markdown",
    "errata_markdown",
]

#: Every derivation of the book, in chapter order, under its cross-reference label.
DERIVATIONS: dict[str, Callable[[], Derivation]] = {
    "deriv-one-dim": one_dim_example,
    "deriv-convergence": convergence_conditions,
    "deriv-running-average": running_average,
    "deriv-rmsprop": rmsprop_second_moment,
    "deriv-momentum": momentum_reparameterization,
    "deriv-stationary": stationary_variance,
    "deriv-heavy-ball": heavy_ball_tuning,
    "deriv-scaling": batch_scaling_rules,
    "deriv-noise-scale": noise_scale_at_stationarity,
    "deriv-gradient-flow": gradient_flow_limits,
    "deriv-fokker-planck": fokker_planck,
    "deriv-progress": progress_guarantee,
    "deriv-expected-progress": expected_progress,
}


def all_derivations() -> dict[str, Derivation]:
    """Every derivation, keyed by its book label."""
    return {label: build() for label, build in DERIVATIONS.items()}
