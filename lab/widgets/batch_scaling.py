"""Chapter 8 explorer: the linear scaling rule η_B = B η_1 on the noisy quadratic model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _checks
from ..batch_scaling import (
    nqm_expected_loss,
    nqm_loss_after_examples,
    nqm_stationary_noise_scale,
    stability_batch_size,
)
from ..plots import COLORS, ordered_colors, panels
from ..problems import hessian_noise_nqm
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "BATCH_SCALING_CONTROLS",
    "BATCH_SCALING_GRID",
    "batch_scaling_state",
    "batch_scaling_figure",
    "batch_scaling_explorer",
]

#: Slider ranges of the Chapter 8 explorer.
BATCH_SCALING_CONTROLS = {
    "lr_1": {
        "options": [0.0005, 0.001, 0.002, 0.004, 0.008],
        "value": 0.002,
        "description": "η₁ (rate at B = 1)",
    },
    "noise": {
        "options": [0.1, 0.3, 1.0, 3.0],
        "value": 1.0,
        "description": "noise scale",
    },
    "examples": {
        "options": [1000, 10_000, 100_000, 1_000_000],
        "value": 10_000,
        "description": "budget (examples)",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
BATCH_SCALING_GRID = {
    "lr_1": [0.0005, 0.001, 0.002, 0.004, 0.008],
    "noise": [0.3, 1.0, 3.0],
    "examples": [1000, 10000, 100000, 1000000],
}

#: The batch sizes drawn as curves in the left panel.
CURVE_BATCH_SIZES = (1, 8, 64, 256, 512, 1024)


def batch_scaling_state(
    lr_1: float = 0.002, noise: float = 1.0, examples: int = 10_000, *, dim: int = 50
) -> dict:
    """Everything the Chapter 8 explorer shows, from the closed form (no sampling).

    * ``curves``: E f after E examples (``grid``, shape (6, 120), log-spaced from B to
      10⁶) for each B in ``CURVE_BATCH_SIZES``, with η_B = B η_1, clipped at 10⁶ ×
      the initial loss (``cap``) where the run diverges;
    * ``ratio``: E f after ``examples`` examples at batch B divided by that at B = 1,
      for B on ``batch_sizes`` (1 … 4096), clipped at 10⁶;
    * ``b_stab`` = 2/(η_1 h_max), where η_B = B η_1 reaches the stability limit;
    * ``b_noise``: McCandlish et al.'s noise scale tr(HΣ)/E GᵀHG at the stationary
      point of SGD at B = 1 with η_1 (≈ 2/(η_1 h̄) ≥ ``b_stab``, independent of the
      noise scale, which multiplies Σ and E GᵀHG alike).

    Raises ``ValueError`` for η_1 outside [1e-6, 0.1], noise outside [1e-6, 1000], a budget
    < 1 or ``dim`` outside [2, 1000].
    """
    lr_1 = _checks.real_in("lr_1", lr_1, 1e-6, 0.1)
    noise = _checks.real_in("noise", noise, 1e-6, 1000.0)
    E = _checks.integer_at_least("examples", examples, 1)
    dim = _args.dim(dim, low=2)
    problem = hessian_noise_nqm(noise, dim)
    phi0 = np.ones(problem.dim)
    initial = 0.5 * float(problem.h.sum())
    cap = 1e6 * initial
    # Each curve on its own grid of examples, from one batch to 10⁶; the closed form
    # takes fractional step counts, so the curves are smooth between whole steps.
    grid = np.array([np.geomspace(B, 1e6, 120) for B in CURVE_BATCH_SIZES])
    curves = np.array(
        [
            nqm_expected_loss(problem, phi0, B * lr_1, B, x / B)
            for B, x in zip(CURVE_BATCH_SIZES, grid)
        ]
    )
    batch_sizes = np.unique(np.logspace(0, 12, 61, base=2).round()).astype(int)
    # clipped first: a diverged run (about 1e304) divided by a small loss would overflow
    at_budget = np.minimum(
        nqm_loss_after_examples(problem, phi0, lr_1, batch_sizes, [E])[:, 0], cap
    )
    ratio = at_budget / at_budget[0]
    return {
        "params": {"lr_1": lr_1, "noise": float(noise), "examples": E},
        "grid": grid,
        "curve_batch_sizes": np.array(CURVE_BATCH_SIZES),
        "curves": np.minimum(curves, cap),
        "initial": initial,
        "cap": cap,
        "batch_sizes": batch_sizes,
        "ratio": np.minimum(ratio, 1e6),
        "b_stab": stability_batch_size(lr_1, problem.h.numpy()),
        "b_noise": nqm_stationary_noise_scale(
            problem.h.numpy(), problem.sigma.numpy(), lr_1, 1
        ),
    }


#: What batch_scaling_figure reads from a state.
_BATCH_SCALING_KEYS = (
    "b_noise b_stab batch_sizes curve_batch_sizes curves grid initial ratio".split()
)


def batch_scaling_figure(fig, state: dict):
    """Left: E f against examples for several B with η_B = B η_1. Right: the loss ratio
    to B = 1 after the budget, against B, with B_stab = 2/(η₁h_max) and the stationary
    noise scale B_noise marked. Returns the two axes."""
    _args.figure(fig)
    _args.state(state, _BATCH_SCALING_KEYS, "batch_scaling_state")
    ax_c, ax_r = panels(
        fig, left=0.099, right=0.980, bottom=0.165, top=0.890, wspace=0.404
    )
    p, grid = state["params"], state["grid"]
    colors = ordered_colors(len(state["curve_batch_sizes"]))
    for B, x, curve, color in zip(
        state["curve_batch_sizes"], grid, state["curves"], colors
    ):
        ax_c.loglog(
            x,
            curve,
            color=color,
            lw=1.6,
            label=f"B = {B}" + (" ✗" if B >= state["b_stab"] else ""),
        )
    ax_c.set_ylim(state["curves"].min() / 200, state["initial"] * 30)
    ax_c.axvline(p["examples"], color=COLORS["muted"], lw=1, ls=":")
    ax_c.set_xlabel("examples processed")
    ax_c.set_ylabel(r"expected loss $\mathbb{E}\,f(\Phi)$")
    ax_c.set_title(f"η_B = B·η₁, η₁ = {p['lr_1']:g} (✗ diverges)", fontsize=10)
    ax_c.legend(
        fontsize=10,
        loc="lower left",
        ncol=2,
        frameon=False,
        columnspacing=0.8,
        handlelength=1.2,
    )
    B, r = state["batch_sizes"], state["ratio"]
    ax_r.semilogx(B, r, color=COLORS["data"], lw=2)
    ax_r.axvline(
        state["b_stab"],
        color=COLORS["theory"],
        ls="--",
        lw=1.2,
        label=f"B_stab = {state['b_stab']:.0f}",
    )
    ax_r.axvline(
        state["b_noise"],
        color=COLORS["accent"],
        ls="-.",
        lw=1.2,
        label=f"B_noise = {state['b_noise']:.0f}",
    )
    ax_r.axhline(1.0, color=COLORS["muted"], lw=1)
    ax_r.set_ylim(0.8, 3.0)
    ax_r.set_xlabel("batch size B")
    ax_r.set_ylabel("loss at budget ÷ at B = 1")
    ax_r.set_title(
        f"after {p['examples']:,} examples, noise {p['noise']:g}", fontsize=10
    )
    ax_r.legend(fontsize=10, loc="upper left")
    for ax in (ax_c, ax_r):
        ax.minorticks_off()
    return ax_c, ax_r


def batch_scaling_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 8 explorer: sliders for η_1, the noise scale and the example budget."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        batch_scaling_state,
        batch_scaling_figure,
        BATCH_SCALING_CONTROLS,
        BATCH_SCALING_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "batch_scaling",
    batch_scaling_explorer,
    batch_scaling_state,
    BATCH_SCALING_CONTROLS,
    BATCH_SCALING_GRID,
)
