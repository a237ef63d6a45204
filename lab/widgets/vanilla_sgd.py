"""Chapter 1 explorer: the distribution of ĝ and SGD trajectories on the 1-D quadratic."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import _checks
from .. import generator as make_generator
from ..plots import COLORS, gradient_histogram, panels, trajectory_bundle
from ..problems import Quadratic1D
from ..simulate import sgd_quadratic_1d
from ..vanilla_sgd import gradient_estimates
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "VANILLA_SGD_CONTROLS",
    "VANILLA_SGD_GRID",
    "vanilla_sgd_state",
    "vanilla_sgd_explorer",
    "vanilla_sgd_figure",
]

#: Slider ranges of the Chapter 1 explorer (the tests sweep every extreme).
VANILLA_SGD_CONTROLS = {
    "batch_size": {
        "options": [2**k for k in range(9)],
        "value": 2,
        "description": "batch size B",
    },
    "lr": {
        "min": 0.02,
        "max": 1.9,
        "step": 0.02,
        "value": 0.2,
        "description": "learning rate η",
    },
    "sigma": {
        "min": 0.1,
        "max": 4.0,
        "step": 0.1,
        "value": 2.0,
        "description": "σ (per example)",
    },
    "phi0": {
        "min": -10.0,
        "max": 10.0,
        "step": 0.5,
        "value": 4.0,
        "description": "start Φ₀",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
VANILLA_SGD_GRID = {
    "batch_size": [1, 2, 4, 16],
    "lr": [0.2, 0.5, 1.5],
    "sigma": [1.0, 2.0],
    "phi0": [4.0, 10.0],
}


def vanilla_sgd_state(
    batch_size: int = 2,
    lr: float = 0.2,
    sigma: float = 2.0,
    phi0: float = 4.0,
    *,
    mean: float = 0.0,
    steps: int = 60,
    chains: int = 24,
    samples: int = 4000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Everything the Chapter 1 explorer shows, for loss(Φ, y) = ½(Φ − y)², y ~ N(μ, σ²).

    * ``ghat``: ``samples`` batch gradients ĝ at Φ* = μ (each from B real draws), with
      ``ghat_variance`` = σ²/B and ``ghat_sample_variance`` their sample variance;
    * ``paths``: ``chains`` SGD runs Φ_t, t = 0..steps, shape (steps + 1, chains);
    * ``mean``, ``sd``: the exact mean and sd of Φ_t; ``stationary_sd`` = √(ησ²/(B(2 − η))).

    Raises ``ValueError`` naming the parameter for a batch size < 1, η outside [1e-4, 2)
    (SGD on this problem diverges for η ≥ 2), σ outside [0.001, 1000], Φ₀ or μ outside
    [−1000, 1000], steps outside [1, 10⁴], chains outside [1, 10⁴], samples outside
    [2, 10⁷], more than 10⁷ examples drawn (samples × B or steps × chains × B), a
    negative seed or a device this machine lacks.
    """
    B = _checks.batch_size("batch_size", batch_size)
    lr = _checks.real_in("lr", lr, 1e-4, 2.0, high_open=True)
    sigma = _checks.real_in("sigma", sigma, 1e-3, 1000.0)
    phi0 = _checks.real_in("phi0", phi0, -1000.0, 1000.0)
    mean = _checks.real_in("mean", mean, -1000.0, 1000.0)
    steps = _args.steps(steps)
    chains = _args.chains(chains)
    samples = _checks.integer_at_least("samples", samples, 2, _args.MAX_DRAWS)
    _args.draws("samples × batch_size", samples * B)
    _args.draws("steps × chains × batch_size", steps * chains * B)
    gen = make_generator(_args.seed(seed), device)  # it checks device
    problem = Quadratic1D(mean=mean, sigma=sigma)
    ghat = gradient_estimates(problem, problem.optimum, B, samples, gen)
    paths = sgd_quadratic_1d(problem, phi0, lr, B, steps, chains, gen)
    t = torch.arange(steps + 1, dtype=torch.float64)
    return {
        "params": {"batch_size": B, "lr": lr, "sigma": problem.sigma, "phi0": phi0},
        "optimum": problem.optimum,
        "ghat": ghat.cpu().numpy(),
        "ghat_variance": problem.gradient_variance(B),
        "ghat_sample_variance": float(ghat.var()),
        "t": t.numpy(),
        "paths": paths.cpu().numpy(),
        "mean": problem.sgd_mean(phi0, lr, t).numpy(),
        "sd": np.sqrt(problem.sgd_variance(lr, B, t).numpy()),
        "stationary_sd": math.sqrt(problem.stationary_variance(lr, B)),
    }


def vanilla_sgd_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 1 explorer: sliders for B, η, σ and Φ₀ over :func:`vanilla_sgd_state`."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        vanilla_sgd_state,
        vanilla_sgd_figure,
        VANILLA_SGD_CONTROLS,
        VANILLA_SGD_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "vanilla_sgd",
    vanilla_sgd_explorer,
    vanilla_sgd_state,
    VANILLA_SGD_CONTROLS,
    VANILLA_SGD_GRID,
)


#: What vanilla_sgd_figure reads from a state.
_VANILLA_SGD_KEYS = "ghat ghat_variance mean optimum paths sd stationary_sd t".split()


def vanilla_sgd_figure(fig, state: dict):
    """The Chapter 1 explorer's picture of ``state`` (from ``lab.widgets.vanilla_sgd_state``).

    Left: the distribution of ĝ at the optimum for the chosen B and σ. Right: a bundle
    of SGD trajectories with the exact mean and spread. Returns the two axes.
    """
    _args.figure(fig)
    _args.state(state, _VANILLA_SGD_KEYS, "vanilla_sgd_state")
    ax_hist, ax_path = panels(
        fig,
        width_ratios=(1, 1.4),
        left=0.093,
        right=0.980,
        bottom=0.165,
        top=0.890,
        wspace=0.313,
    )
    p = state["params"]
    gradient_histogram(ax_hist, state["ghat"], state["ghat_variance"])
    ax_hist.set_title(
        f"B = {p['batch_size']}, σ = {p['sigma']:.2g}: Var ĝ = {state['ghat_variance']:.3g}"
        f" (sampled {state['ghat_sample_variance']:.3g})",
        fontsize=10,
    )
    ax_hist.legend(fontsize=10, loc="upper left")
    # solid lines: the house cycle's line styles are for unordered series, not runs
    ax_path.set_prop_cycle(color=[COLORS["data"]], linestyle=["-"])
    trajectory_bundle(
        ax_path,
        state["t"],
        state["paths"],
        state["mean"],
        state["sd"],
        state["optimum"],
        state["stationary_sd"],
    )
    ax_path.set_title(
        f"SGD from Φ₀ = {p['phi0']:.2g} with η = {p['lr']:.2g}", fontsize=10
    )
    ax_path.legend(fontsize=10, loc="upper right")
    return ax_hist, ax_path
