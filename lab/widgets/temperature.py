"""Chapter 3 explorer: SGD on a double well, the learning rate as temperature."""

from __future__ import annotations

import numpy as np
import torch

from .. import _checks, plots
from .. import generator as make_generator
from ..problems import DoubleWell1D
from ..simulate import sgd_1d, temperature
from ._explorer import Explorer

__all__ = ["TEMPERATURE_CONTROLS", "temperature_state", "temperature_explorer"]

#: Slider ranges of the Chapter 3 explorer.
TEMPERATURE_CONTROLS = {
    "lr": {"min": 0.01, "max": 0.06, "step": 0.005, "value": 0.04, "description": "learning rate η"},
    "batch_size": {"options": [1, 2, 4, 8], "value": 1, "description": "batch size B"},
    "tilt": {"min": 0.0, "max": 0.5, "step": 0.05, "value": 0.25, "description": "tilt"},
}


def temperature_state(lr: float = 0.04, batch_size: int = 1, tilt: float = 0.25, *,
                      sigma: float = 4.0, beta0: float = 1.0, steps: int = 2000,
                      chains: int = 256, record_every: int = 20, seed: int = 0,
                      device: str | torch.device = "cpu") -> dict:
    """Everything the Chapter 3 explorer shows: SGD on :class:`~lab.problems.DoubleWell1D`.

    * ``temperature`` T = ησ²/(2B), the ``gibbs`` density ∝ exp(−f/T) on ``grid`` and its
      mass ``gibbs_left`` in the deep (left) valley β < 0;
    * ``final``: β of ``chains`` SGD runs after ``steps`` steps from β₀ (the shallow
      valley), and ``left_fraction``: the fraction with β < 0 at the times ``t``.

    Raises ``ValueError`` for η outside [0.001, 0.06] (the quartic's gradient grows like
    β³, and for larger η hot runs that wander far enough overshoot and diverge), a batch
    size < 1 or a non-finite tilt.
    """
    lr = _checks.real_in("lr", lr, 0.001, 0.06)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    problem = DoubleWell1D(tilt=tilt, sigma=sigma)
    T = temperature(lr, problem.sigma, B)
    grid = np.linspace(-2.2, 2.2, 441)
    gibbs = problem.gibbs_density(grid, T)
    dx = grid[1] - grid[0]
    path = sgd_1d(problem, beta0, lr, B, steps, chains, make_generator(seed, device),
                  record_every=record_every).cpu().numpy()
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


def temperature_explorer(**fixed) -> Explorer:
    """The Chapter 3 explorer: sliders for η, B and the tilt over :func:`temperature_state`."""
    return Explorer(temperature_state, plots.temperature_figure, TEMPERATURE_CONTROLS, **fixed)


REGISTRY = ("temperature", temperature_explorer, temperature_state, TEMPERATURE_CONTROLS)
