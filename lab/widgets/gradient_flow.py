"""Chapter 9 explorer: N·t SGD steps of size η/N on the double well, N → ∞ two ways."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import _checks
from .. import generator as make_generator
from ..gradient_flow import LIMITS, flow_path, langevin_density, sgd_paths
from ..plots import COLORS, panels
from ..problems import DoubleWell1D
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "GRADIENT_FLOW_CONTROLS",
    "GRADIENT_FLOW_GRID",
    "gradient_flow_state",
    "gradient_flow_figure",
    "gradient_flow_explorer",
]

#: Slider ranges of the Chapter 9 explorer.
GRADIENT_FLOW_CONTROLS = {
    "N": {
        "options": [1, 2, 4, 8, 16, 32, 64],
        "value": 1,
        "description": "N (step η/N)",
    },
    "batch_size": {"options": [4, 16, 64], "value": 4, "description": "batch size B"},
    "limit": {
        "options": list(LIMITS),
        "value": "flow",
        "description": "noise as N grows",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
GRADIENT_FLOW_GRID = {
    name: spec["options"] for name, spec in GRADIENT_FLOW_CONTROLS.items()
}

_GRID = np.linspace(-2.2, 2.2, 221)


@functools.lru_cache(maxsize=16)
def _langevin_final(
    tilt: float, sigma: float, temperature: float, Phi0: float, tau: float
) -> np.ndarray:
    # One eigendecomposition per temperature: cached, as the sliders revisit the same few.
    return langevin_density(
        DoubleWell1D(tilt=tilt, sigma=sigma), temperature, Phi0, tau, _GRID
    )


def gradient_flow_state(
    N: int = 1,
    batch_size: int = 4,
    limit: str = "flow",
    *,
    lr: float = 0.1,
    t: float = 10.0,
    Phi0: float = 0.3,
    sigma: float = 4.0,
    tilt: float = 0.25,
    chains: int = 400,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Everything the Chapter 9 explorer shows, on :class:`~lab.problems.DoubleWell1D`.

    N·t SGD steps Φ ← Φ − (η/N)ĝ from Φ₀ (just right of the barrier), ``chains`` runs:
    ``times``, ``paths`` (the first 12 runs), ``final`` (all runs at time t), ``left``
    (the fraction that ended in the deep valley Φ < 0); the gradient ``flow`` at
    ``times``; and, for ``limit="langevin"`` (noise variance Nσ²/B, so
    T = ησ²/(2B) at every N), the Langevin ``density`` at τ = ηt on ``grid`` and its
    mass ``density_left`` in Φ < 0. Raises ``ValueError`` for N < 1, B < 1, an
    unknown ``limit``, η outside [1e-4, 10], t outside (0, 10⁴], fewer than one or
    more than 10⁴ steps N·t, N·t × chains over 10⁷, Φ₀ outside [−100, 100], σ outside
    [0.001, 100], a tilt outside [−5, 5], chains outside [1, 10⁴], a negative seed, a
    device this machine lacks, or runs that diverge (``Diverged``, naming the
    arguments).
    """
    N = _checks.integer_at_least("N", N, 1, _args.MAX_STEPS)
    B = _checks.batch_size("batch_size", batch_size)
    limit = _checks.choice("limit", limit, LIMITS)
    lr = _checks.real_in("lr", lr, 1e-4, 10.0)
    t = _checks.real_in("t", t, 0.0, _args.MAX_STEPS, low_open=True)
    if not 1 <= round(N * t, 9) <= _args.MAX_STEPS:
        raise ValueError(
            f"N, t: N·t (the number of steps) must be in [1, {_args.MAX_STEPS:.0e}], "
            f"got {N * t:g}"
        )
    Phi0 = _checks.real_in("Phi0", Phi0, -100.0, 100.0)
    sigma = _checks.real_in("sigma", sigma, 1e-3, 100.0)
    tilt = _checks.real_in("tilt", tilt, -5.0, 5.0)
    chains = _args.chains(chains)
    _args.draws("N·t × chains", N * t * chains)
    gen = make_generator(_args.seed(seed), device)  # it checks device
    problem = DoubleWell1D(tilt=tilt, sigma=sigma)
    try:
        times, paths = sgd_paths(
            problem,
            Phi0,
            lr,
            N,
            t,
            B,
            chains,
            gen,
            limit=limit,
            record_every=max(1, N // 4),
        )
    except _checks.Diverged:
        raise _checks.Diverged(
            "lr, N, t, batch_size, sigma, tilt, Phi0: SGD diverged on the double well; "
            "lower lr or sigma, or raise batch_size"
        ) from None
    T = lr * sigma**2 / (2 * B)
    state = {
        "params": {"N": N, "batch_size": B, "limit": limit, "lr": lr, "t": t},
        "temperature": T,
        "times": times,
        "paths": paths[:, :12],
        "final": paths[-1],
        "left": float((paths[-1] < 0).mean()),
        "flow": flow_path(problem, Phi0, lr, times),
        "grid": _GRID,
    }
    if limit == "langevin":
        density = _langevin_final(float(tilt), float(sigma), T, float(Phi0), lr * t)
        state["density"] = density
        state["density_left"] = float(density[_GRID < 0].sum() * (_GRID[1] - _GRID[0]))
    return state


#: What gradient_flow_figure reads from a state.
_GRADIENT_FLOW_KEYS = "final flow grid paths times".split()


def gradient_flow_figure(fig, state: dict):
    """Left: SGD paths against the gradient flow. Right: where the runs are at time t,
    against the flow's end point (and the Langevin density). Returns the two axes."""
    _args.figure(fig)
    _args.state(state, _GRADIENT_FLOW_KEYS, "gradient_flow_state")
    ax_p, ax_h = panels(
        fig,
        width_ratios=(1.3, 1),
        left=0.099,
        right=0.980,
        bottom=0.165,
        top=0.890,
        wspace=0.284,
    )
    p = state["params"]
    ax_p.plot(
        state["times"], state["paths"], color=COLORS["data"], ls="-", lw=0.7, alpha=0.5
    )
    ax_p.plot(
        state["times"],
        state["flow"],
        color="black",
        ls="-",
        lw=2.2,
        label="gradient flow",
    )
    ax_p.axhline(0.0, color=COLORS["muted"], lw=0.8, ls=":")
    ax_p.set_ylim(-2.2, 1.9)
    ax_p.set_xlabel("time $t$ (one unit = N steps)")
    ax_p.set_ylabel(r"$\Phi$")
    noise = "σ²/B" if p["limit"] == "flow" else "Nσ²/B"
    ax_p.set_title(
        f"{p['N'] * p['t']:.0f} steps of η/N = {p['lr'] / p['N']:.3g}, "
        f"noise {noise}, B = {p['batch_size']}"
    )
    ax_p.legend(loc="lower right")
    heights, _, _ = ax_h.hist(
        state["final"],
        bins=44,
        range=(-2.2, 2.2),
        density=True,
        color=COLORS["data"],
        alpha=0.55,
        label=f"SGD: {state['left']:.0%} in Φ < 0",
    )
    ax_h.axvline(state["flow"][-1], color="black", ls="-", lw=2, label="flow")
    if "density" in state:
        ax_h.plot(
            state["grid"],
            state["density"],
            color=COLORS["theory"],
            lw=2,
            ls="--",
            label=f"Langevin: {state['density_left']:.0%}",
        )
    ax_h.set_xlim(-2.2, 2.2)
    top = max(heights.max(), state["density"].max() if "density" in state else 0.0)
    ax_h.set_ylim(0, 1.6 * top)  # the legend sits in the top part
    ax_h.set_xlabel(r"$\Phi$ at time $t$")
    ax_h.set_title(f"where the runs end (T = {state['temperature']:.3g})")
    ax_h.legend(loc="upper left")
    return ax_p, ax_h


def gradient_flow_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 9 explorer: sliders for N, B and the kind of limit."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        gradient_flow_state,
        gradient_flow_figure,
        GRADIENT_FLOW_CONTROLS,
        GRADIENT_FLOW_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "gradient_flow",
    gradient_flow_explorer,
    gradient_flow_state,
    GRADIENT_FLOW_CONTROLS,
    GRADIENT_FLOW_GRID,
)
