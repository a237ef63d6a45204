"""Chapter 3 explorer: SGD on a double well, the learning rate as temperature."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .. import _checks
from .. import generator as make_generator
from ..plots import COLORS, panels, twin
from ..problems import DoubleWell1D
from ..sgd_as_mcmc import temperature
from ..simulate import sgd_1d
from . import _args

if TYPE_CHECKING:
    from ._explorer import Explorer

__all__ = [
    "SGD_AS_MCMC_CONTROLS",
    "SGD_AS_MCMC_GRID",
    "sgd_as_mcmc_state",
    "sgd_as_mcmc_explorer",
    "sgd_as_mcmc_figure",
]

#: Slider ranges of the Chapter 3 explorer.
SGD_AS_MCMC_CONTROLS = {
    "lr": {
        "min": 0.01,
        "max": 0.06,
        "step": 0.005,
        "value": 0.04,
        "description": "learning rate η",
    },
    "batch_size": {"options": [1, 2, 4, 8], "value": 1, "description": "batch size B"},
    "tilt": {
        "min": 0.0,
        "max": 0.5,
        "step": 0.05,
        "value": 0.25,
        "description": "tilt",
    },
}

#: The settings a built page offers without a kernel (the other controls stay at
#: their defaults): what the chapter asks the reader to try is on it.
SGD_AS_MCMC_GRID = {
    "lr": [0.01, 0.02, 0.04, 0.06],
    "batch_size": [1, 2, 4, 8],
    "tilt": [0.0, 0.25, 0.5],
}


def sgd_as_mcmc_state(
    lr: float = 0.04,
    batch_size: int = 1,
    tilt: float = 0.25,
    *,
    sigma: float = 4.0,
    phi0: float = 1.0,
    steps: int = 2000,
    chains: int = 256,
    record_every: int = 20,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Everything the Chapter 3 explorer shows: SGD on :class:`~lab.problems.DoubleWell1D`.

    * ``temperature`` T = ησ²/(2B), the ``gibbs`` density ∝ exp(−f/T) on ``grid`` and its
      mass ``gibbs_left`` in the deep (left) valley Φ < 0;
    * ``final``: Φ of ``chains`` SGD runs after ``steps`` steps from Φ₀ (the shallow
      valley), and ``left_fraction``: the fraction with Φ < 0 at the times ``t``.

    Raises ``ValueError`` for η outside [0.001, 0.06] (the quartic's gradient grows like
    Φ³, and for larger η hot runs that wander far enough overshoot and diverge), a batch
    size < 1, a tilt outside [−5, 5], σ outside [0.001, 100], Φ₀ outside [−100, 100],
    steps outside [1, 10⁴], chains outside [1, 10⁴], steps × chains over 10⁷,
    ``record_every`` outside [1, 10⁴], a negative seed, a device this machine lacks,
    or runs that diverge (``Diverged``, naming the arguments).
    """
    lr = _checks.real_in("lr", lr, 0.001, 0.06)
    B = _checks.batch_size("batch_size", batch_size)
    tilt = _checks.real_in("tilt", tilt, -5.0, 5.0)
    sigma = _checks.real_in("sigma", sigma, 1e-3, 100.0)
    phi0 = _checks.real_in("phi0", phi0, -100.0, 100.0)
    steps, chains = _args.steps(steps), _args.chains(chains)
    record_every = _args.steps(record_every, "record_every")
    _args.draws("steps × chains", steps * chains)
    gen = make_generator(_args.seed(seed), device)  # it checks device
    problem = DoubleWell1D(tilt=tilt, sigma=sigma)
    T = temperature(lr, problem.sigma, B)
    grid = np.linspace(-2.2, 2.2, 441)
    gibbs = problem.gibbs_density(grid, T)
    dx = grid[1] - grid[0]
    try:
        path = sgd_1d(
            problem, phi0, lr, B, steps, chains, gen, record_every=record_every
        )
    except _checks.Diverged:
        raise _checks.Diverged(
            "lr, batch_size, sigma, tilt, phi0: SGD diverged on the double well; "
            "lower lr or sigma, or raise batch_size"
        ) from None
    path = path.cpu().numpy()
    return {
        "params": {"lr": lr, "batch_size": B, "tilt": problem.tilt},
        "temperature": T,
        "grid": grid,
        "loss": problem.population_loss(grid),
        "gibbs": gibbs,
        "gibbs_left": float(gibbs[grid < 0].sum() * dx),
        "steps": steps,
        "t": np.arange(path.shape[0]) * record_every,
        "final": path[-1],
        "left_fraction": (path < 0).mean(axis=1),
    }


def sgd_as_mcmc_explorer(*, mode: str | None = None, **fixed) -> Explorer:
    """The Chapter 3 explorer: sliders for η, B and the tilt over :func:`sgd_as_mcmc_state`."""
    from ._explorer import make_explorer  # ipywidgets only where a view is built

    return make_explorer(
        sgd_as_mcmc_state,
        sgd_as_mcmc_figure,
        SGD_AS_MCMC_CONTROLS,
        SGD_AS_MCMC_GRID,
        mode=mode,
        **fixed,
    )


REGISTRY = (
    "sgd_as_mcmc",
    sgd_as_mcmc_explorer,
    sgd_as_mcmc_state,
    SGD_AS_MCMC_CONTROLS,
    SGD_AS_MCMC_GRID,
)


#: What sgd_as_mcmc_figure reads from a state.
_SGD_AS_MCMC_KEYS = "final gibbs gibbs_left grid left_fraction loss t".split()


def sgd_as_mcmc_figure(fig, state: dict):
    """The Chapter 3 explorer: Gibbs density, SGD histogram, and occupancy of the deep valley.

    ``state`` comes from ``lab.widgets.sgd_as_mcmc_state``. Returns the two axes.
    """
    _args.figure(fig)
    _args.state(state, _SGD_AS_MCMC_KEYS, "sgd_as_mcmc_state")
    ax_den, ax_occ = panels(
        fig, left=0.093, right=0.980, bottom=0.165, top=0.890, wspace=0.357
    )
    p, x = state["params"], state["grid"]
    counts, _, _ = ax_den.hist(
        state["final"],
        bins=60,
        range=(x[0], x[-1]),
        density=True,
        color=COLORS["data"],
        alpha=0.5,
        label=f"SGD after {state['steps']} steps",
    )
    ax_den.plot(
        x,
        state["gibbs"],
        color=COLORS["theory"],
        ls="-",
        lw=2,
        label=r"Gibbs $\propto e^{-f/T}$",
    )
    # head room above the densities, so that the legend covers no data
    ax_den.set_ylim(0, 1.4 * max(counts.max(), state["gibbs"].max()))
    loss_ax = twin(ax_den)
    loss_ax.plot(x, state["loss"], color=COLORS["muted"], lw=1, ls="--")
    loss_ax.set_ylim(state["loss"].min() - 0.2, state["loss"].min() + 3)
    loss_ax.set_yticks([])
    ax_den.set_xlabel(r"$\Phi$ (dashed: the loss $f$)")
    ax_den.set_ylabel("density")
    ax_den.set_title(
        f"η = {p['lr']:.3g}, B = {p['batch_size']}: T = ησ²/2B = "
        f"{state['temperature']:.3g}",
        fontsize=10,
    )
    ax_den.legend(fontsize=10, loc="upper right", ncol=1)
    ax_occ.plot(
        state["t"],
        state["left_fraction"],
        color=COLORS["data"],
        ls="-",
        lw=2,
        label="SGD runs left of the barrier",
    )
    ax_occ.axhline(
        state["gibbs_left"],
        color=COLORS["theory"],
        ls="--",
        label=f"Gibbs: {state['gibbs_left']:.2f}",
    )
    ax_occ.set_ylim(-0.02, 1.02)
    ax_occ.set_xlabel("step $t$")
    ax_occ.set_ylabel(r"fraction with $\Phi_t < 0$")
    ax_occ.set_title("runs start in the shallow valley (Φ₀ = 1)", fontsize=10)
    ax_occ.legend(fontsize=10, loc="center right")
    return ax_den, ax_occ
