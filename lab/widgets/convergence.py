"""Chapter 2 explorer: SGD under the power schedules η_t = c/t^p."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import _checks
from .. import generator as make_generator
from ..convergence import power_schedule, quadratic_moments
from ..plots import COLORS, panels
from ..problems import Quadratic1D
from ..simulate import sgd_quadratic_1d
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "CONVERGENCE_CONTROLS",
    "CONVERGENCE_GRID",
    "convergence_state",
    "convergence_explorer",
    "convergence_figure",
]

#: Slider ranges of the Chapter 2 explorer.
CONVERGENCE_CONTROLS = {
    "c": {
        "min": 0.05,
        "max": 1.9,
        "step": 0.05,
        "value": 0.8,
        "description": "c in η_t = c/t^p",
    },
    "p": {"min": 0.0, "max": 1.5, "step": 0.05, "value": 1.0, "description": "power p"},
    "batch_size": {
        "options": [2**k for k in range(9)],
        "value": 1,
        "description": "batch size B",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
CONVERGENCE_GRID = {
    "c": [0.25, 0.5, 0.8, 1.2, 1.5],
    "p": [0.0, 0.25, 0.5, 0.75, 1.0, 1.5],
    "batch_size": [1, 16],
}


def convergence_state(
    c: float = 0.8,
    p: float = 1.0,
    batch_size: int = 1,
    *,
    sigma: float = 1.0,
    phi0: float = 4.0,
    steps: int = 1000,
    chains: int = 48,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Everything the Chapter 2 explorer shows: SGD with η_t = c/t^p on the 1-D quadratic.

    * ``mse``, ``bias2``: the exact 𝔼 δ_t² and (𝔼 δ_t)², δ_t = Φ_t − Φ*, from the moment recursions
      (:func:`lab.convergence.quadratic_moments`); ``mean`` is 𝔼 δ_t;
    * ``paths``, ``sim_mse``: ``chains`` simulated runs and their mean squared error;
    * ``sum_verdict`` / ``sum_sq_verdict``: whether Σ η_t and Σ η_t² diverge ("= ∞")
      or converge ("< ∞") for this p (p ≤ 1 and p ≤ ½ respectively diverge).

    Raises ``ValueError`` for c outside (0, 2) (the first step would diverge), p < 0,
    a batch size < 1, σ outside [0.001, 1000], Φ₀ outside [−1000, 1000], steps outside
    [1, 10⁴], chains outside [1, 10⁴], steps × chains over 10⁷, a negative seed or a
    device this machine lacks.
    """
    c = _checks.real_in("c", c, 0.0, 2.0, low_open=True, high_open=True)
    p = _checks.nonnegative("p", p)
    B = _checks.batch_size("batch_size", batch_size)
    sigma = _checks.real_in("sigma", sigma, 1e-3, 1000.0)
    phi0 = _checks.real_in("phi0", phi0, -1000.0, 1000.0)
    steps, chains = _args.steps(steps), _args.chains(chains)
    _args.draws("steps × chains", steps * chains)
    gen = make_generator(_args.seed(seed), device)  # it checks device
    problem = Quadratic1D(mean=0.0, sigma=sigma)
    schedule = power_schedule(c, p, steps)
    mean, var = quadratic_moments(
        schedule, problem.gradient_variance(B), phi0 - problem.optimum
    )
    paths = (
        sgd_quadratic_1d(
            problem,
            phi0,
            schedule,
            B,
            steps,
            chains,
            gen,
            sample_batches=False,
        )
        .cpu()
        .numpy()
    )
    return {
        "params": {"c": c, "p": p, "batch_size": B},
        "optimum": problem.optimum,
        "t": np.arange(steps + 1, dtype=np.float64),
        "mean": mean,
        "bias2": mean**2,
        "mse": mean**2 + var,
        "paths": paths,
        "sim_mse": ((paths - problem.optimum) ** 2).mean(axis=1),
        "sum_verdict": "= ∞" if p <= 1 else "< ∞",
        "sum_sq_verdict": "= ∞" if p <= 0.5 else "< ∞",
    }


def convergence_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 2 explorer: sliders for c, p and B over :func:`convergence_state`."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        convergence_state,
        convergence_figure,
        CONVERGENCE_CONTROLS,
        CONVERGENCE_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "convergence",
    convergence_explorer,
    convergence_state,
    CONVERGENCE_CONTROLS,
    CONVERGENCE_GRID,
)


#: What convergence_figure reads from a state.
_CONVERGENCE_KEYS = "bias2 mean mse optimum paths sim_mse t".split()


def convergence_figure(fig, state: dict):
    """The Chapter 2 explorer: E e_t² under η_t = c/t^p (log-log) and a few SGD paths.

    ``state`` comes from ``lab.widgets.convergence_state``. Returns the two axes.
    """
    _args.figure(fig)
    _args.state(state, _CONVERGENCE_KEYS, "convergence_state")
    ax_mse, ax_path = panels(
        fig, left=0.106, right=0.980, bottom=0.165, top=0.890, wspace=0.359
    )
    p, t = state["params"], state["t"]
    for ax in (ax_mse, ax_path):  # runs and curves solid, unless a style is given
        ax.set_prop_cycle(color=[COLORS["data"]], linestyle=["-"])
    ax_mse.loglog(
        t[1:],
        state["mse"][1:],
        color=COLORS["theory"],
        lw=2,
        label=r"exact $\mathbb{E}\,\delta_t^2$",
    )
    ax_mse.loglog(
        t[1:],
        state["sim_mse"][1:],
        ".",
        color=COLORS["data"],
        ms=2,
        alpha=0.6,
        label=f"mean over {state['paths'].shape[1]} runs",
    )
    ax_mse.loglog(
        t[1:],
        state["bias2"][1:] + 1e-300,
        color=COLORS["muted"],
        lw=1,
        ls="--",
        label=r"bias$^2$ $(\mathbb{E}\,\delta_t)^2$",
    )
    ax_mse.set_ylim(max(1e-8, state["mse"][1:].min() / 5), state["mse"].max() * 5)
    ax_mse.set_xlabel("step $t$")
    ax_mse.set_ylabel(r"$\mathbb{E}\,\delta_t^2 = \mathbb{E}(\Phi_t-\Phi^*)^2$")
    ax_mse.set_title(
        f"η_t = {p['c']:.2g}/t^{p['p']:.2g}, B = {p['batch_size']}: "
        f"Σ η_t {state['sum_verdict']}, Σ η_t² {state['sum_sq_verdict']}",
        fontsize=10,
    )
    ax_mse.legend(fontsize=10, loc="lower left")
    ax_path.semilogx(
        t[1:], state["paths"][1:, :8], color=COLORS["data"], lw=0.6, alpha=0.5
    )
    ax_path.semilogx(
        t[1:],
        state["mean"][1:] + state["optimum"],
        color=COLORS["theory"],
        lw=2,
        label=r"exact $\mathbb{E}\,\Phi_t$",
    )
    ax_path.axhline(state["optimum"], color="black", lw=1, ls="--", label=r"$\Phi^*$")
    ax_path.set_xlabel("step $t$")
    ax_path.set_ylabel(r"$\Phi_t$")
    ax_path.set_title("eight SGD runs", fontsize=10)
    ax_path.legend(fontsize=10, loc="upper right")
    # Log axes build hundreds of minor-tick artists per draw: skip them to keep updates fast.
    for ax in (ax_mse, ax_path):
        ax.minorticks_off()
    return ax_mse, ax_path
