"""Chapter 10 explorer: the learning rate η*(B) and the progress per example, bound vs
expectation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _checks
from ..optimal_batch import (
    bound_batch_size_star,
    bound_lr,
    expected_decrease,
    expected_lr,
    guaranteed_decrease,
    noise_scale,
)
from ..plots import COLORS, panels
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "OPTIMAL_BATCH_CONTROLS",
    "OPTIMAL_BATCH_GRID",
    "optimal_batch_state",
    "optimal_batch_figure",
    "optimal_batch_explorer",
]

#: Slider ranges of the Chapter 10 explorer.
OPTIMAL_BATCH_CONTROLS = {
    "g_hat": {
        "min": 0.05,
        "max": 2.0,
        "step": 0.05,
        "value": 0.5,
        "description": "gradient ĝ (= g)",
    },
    "sigma_hat": {
        "min": 0.1,
        "max": 10.0,
        "step": 0.1,
        "value": 2.0,
        "description": "noise σ̂ (= σ)",
    },
    "L": {
        "min": 0.2,
        "max": 5.0,
        "step": 0.1,
        "value": 1.0,
        "description": "curvature bound L",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
OPTIMAL_BATCH_GRID = {
    "g_hat": [0.1, 0.25, 0.5, 1.0, 2.0],
    "sigma_hat": [0.5, 1.0, 2.0, 4.0, 8.0],
    "L": [1.0, 2.0],
}


def optimal_batch_state(
    g_hat: float = 0.5,
    sigma_hat: float = 2.0,
    L: float = 1.0,
    *,
    B_min: float = 1.0,
    B_max: float = 1e6,
    points: int = 241,
) -> dict:
    """Everything the Chapter 10 explorer shows, in closed form, on a log grid of B.

    The lecture's bound (ĝ, σ̂): ``lr_bound`` η*(B) = (1/L)(1 − 2σ̂/(ĝ√B))₊,
    ``lr_scaled`` η_B = (B/B*)η* (for B ≤ B*, then η*(B)), ``per_example_bound``
    (L/2)η*(B)²ĝ²/B, ``B_star`` = 16σ̂²/ĝ². The expected-value version (g = ĝ, σ = σ̂):
    ``lr_expected`` (1/L)B/(B + B_noise), ``per_example_expected`` g²/(2L(B + B_noise)),
    ``B_noise`` = σ²/g² = B*/16. Raises ``ValueError`` for ĝ outside [0.01, 100],
    σ̂ outside [0.01, 100], L outside [0.01, 100], ``B_min`` outside [1, 10¹²],
    ``B_max`` outside [1, 10¹²], ``B_min`` > ``B_max`` or ``points`` outside [2, 10⁵].
    """
    g = _checks.real_in("g_hat", g_hat, 0.01, 100.0)
    s = _checks.real_in("sigma_hat", sigma_hat, 0.01, 100.0)
    L = _checks.real_in("L", L, 0.01, 100.0)
    B_min = _checks.real_in("B_min", B_min, 1.0, _checks.MAX_BATCH)
    B_max = _checks.real_in("B_max", B_max, 1.0, _checks.MAX_BATCH)
    if B_min > B_max:
        raise ValueError(f"B_min must be <= B_max, got {B_min:g} > {B_max:g}")
    points = _checks.size("points", points, 2, 10**5)
    B = np.geomspace(B_min, B_max, points)
    B_star = float(bound_batch_size_star(g, s))
    B_noise = float(noise_scale(g, s))
    lr_bound = bound_lr(B, g, s, L)
    lr_scaled = np.where(B <= B_star, B / B_star / (2 * L), lr_bound)
    return {
        "params": {"g_hat": g, "sigma_hat": s, "L": L},
        "B": B,
        "B_star": B_star,
        "B_noise": B_noise,
        "B_zero": 4 * s * s / (g * g),
        "lr_star": 1 / (2 * L),
        "lr_bound": lr_bound,
        "lr_scaled": lr_scaled,
        "lr_expected": expected_lr(B, g, s, L),
        "per_example_bound": guaranteed_decrease(lr_bound, B, g, s, L) / B,
        "per_example_expected": expected_decrease(B, g, s, L) / B,
        "per_example_at_B_star": g * g / (8 * L * B_star),
    }


#: What optimal_batch_figure reads from a state.
_OPTIMAL_BATCH_KEYS = (
    "B B_noise B_star lr_bound lr_expected lr_scaled per_example_at_B_star "
    "per_example_bound per_example_expected"
).split()


def optimal_batch_figure(fig, state: dict):
    """Left: learning rates against B; right: progress per example against B (log-log).

    ``state`` comes from :func:`optimal_batch_state`. Returns the two axes.
    """
    _args.figure(fig)
    _args.state(state, _OPTIMAL_BATCH_KEYS, "optimal_batch_state")
    ax_lr, ax_pe = panels(
        fig, left=0.106, right=0.960, bottom=0.175, top=0.868, wspace=0.439
    )
    B, p = state["B"], state["params"]
    ax_lr.semilogx(
        B,
        state["lr_bound"],
        color=COLORS["theory"],
        lw=2,
        ls="-",
        label=r"bound: $\eta^*(B)$",
    )
    ax_lr.semilogx(
        B,
        state["lr_scaled"],
        color=COLORS["theory"],
        lw=1.2,
        ls="--",
        label=r"lecture: $\eta_B=(B/B^*)\eta^*$",
    )
    ax_lr.semilogx(
        B,
        state["lr_expected"],
        color=COLORS["data"],
        lw=2,
        ls="-",
        label=r"expectation: $\eta(B)$",
    )
    # headroom above the largest rate 1/L keeps the legend off the curves
    ax_lr.set_ylim(0, 1.55 / p["L"])
    ax_lr.set_xlabel("batch size $B$")
    ax_lr.set_ylabel("learning rate")
    ax_lr.legend(fontsize=10, loc="upper left")
    # Zero progress (B below 4σ̂²/ĝ²) has no place on a log axis: leave it out of the line.
    bound = np.where(state["per_example_bound"] > 0, state["per_example_bound"], np.nan)
    ax_pe.loglog(
        B, bound, color=COLORS["theory"], lw=2, ls="--", label="guaranteed (bound)"
    )
    ax_pe.loglog(
        B,
        state["per_example_expected"],
        color=COLORS["data"],
        lw=2,
        ls="-",
        label="expected",
    )
    top = state["per_example_expected"][0]
    # two decades of headroom keep the legend (upper right) off the curves
    ax_pe.set_ylim(state["per_example_at_B_star"] * 1e-3, top * 100)
    ax_pe.set_xlabel("batch size $B$")
    ax_pe.set_ylabel("loss decrease per example")
    ax_pe.legend(fontsize=10, loc="upper right")
    for ax in (ax_lr, ax_pe):
        ax.axvline(state["B_star"], color=COLORS["theory"], lw=1, ls=":")
        ax.axvline(state["B_noise"], color=COLORS["data"], lw=1, ls=":")
        ax.set_xlim(B[0], B[-1])
        ax.minorticks_off()
    ax_lr.set_title(
        f"B* = 16σ̂²/ĝ² = {state['B_star']:.4g},  B_noise = σ²/g² = "
        f"{state['B_noise']:.4g}",
        fontsize=10,
    )
    ax_pe.set_title(
        f"ĝ = {p['g_hat']:.3g}, σ̂ = {p['sigma_hat']:.3g}, L = {p['L']:.3g}", fontsize=10
    )
    return ax_lr, ax_pe


def optimal_batch_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 10 explorer: sliders for ĝ, σ̂ and L over :func:`optimal_batch_state`."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        optimal_batch_state,
        optimal_batch_figure,
        OPTIMAL_BATCH_CONTROLS,
        OPTIMAL_BATCH_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "optimal_batch",
    optimal_batch_explorer,
    optimal_batch_state,
    OPTIMAL_BATCH_CONTROLS,
    OPTIMAL_BATCH_GRID,
)
