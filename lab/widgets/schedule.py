"""Chapter 2 explorer: SGD under the power schedules η_t = c/t^p."""

from __future__ import annotations

import numpy as np
import torch

from .. import _checks, plots
from .. import generator as make_generator
from ..problems import Quadratic1D
from ..simulate import power_schedule, quadratic_moments, sgd_quadratic_1d
from ._explorer import Explorer

__all__ = ["SCHEDULE_CONTROLS", "schedule_state", "schedule_explorer"]

#: Slider ranges of the Chapter 2 explorer.
SCHEDULE_CONTROLS = {
    "c": {"min": 0.05, "max": 1.9, "step": 0.05, "value": 0.8, "description": "c in η_t = c/t^p"},
    "p": {"min": 0.0, "max": 1.5, "step": 0.05, "value": 1.0, "description": "power p"},
    "batch_size": {"options": [2**k for k in range(9)], "value": 1, "description": "batch size B"},
}


def schedule_state(c: float = 0.8, p: float = 1.0, batch_size: int = 1, *,
                   sigma: float = 1.0, beta0: float = 4.0, steps: int = 1000,
                   chains: int = 48, seed: int = 0,
                   device: str | torch.device = "cpu") -> dict:
    """Everything the Chapter 2 explorer shows: SGD with η_t = c/t^p on the 1-D quadratic.

    * ``mse``, ``bias2``: the exact E e_t² and (E e_t)² from the moment recursions
      (:func:`lab.simulate.quadratic_moments`); ``mean`` is E e_t;
    * ``paths``, ``sim_mse``: ``chains`` simulated runs and their mean squared error;
    * ``sum_verdict`` / ``sum_sq_verdict``: whether Σ η_t and Σ η_t² diverge ("= ∞")
      or converge ("< ∞") for this p (p ≤ 1 and p ≤ ½ respectively diverge).

    Raises ``ValueError`` for c outside (0, 2) (the first step would diverge), p < 0, or
    a batch size < 1.
    """
    c = _checks.real_in("c", c, 0.0, 2.0, low_open=True, high_open=True)
    p = _checks.nonnegative("p", p)
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    problem = Quadratic1D(mean=0.0, sigma=sigma)
    schedule = power_schedule(c, p, steps)
    mean, var = quadratic_moments(schedule, problem.gradient_variance(B), beta0 - problem.optimum)
    paths = sgd_quadratic_1d(problem, beta0, schedule, B, steps, chains,
                             make_generator(seed, device), sample_batches=False).cpu().numpy()
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


def schedule_explorer(**fixed) -> Explorer:
    """The Chapter 2 explorer: sliders for c, p and B over :func:`schedule_state`."""
    return Explorer(schedule_state, plots.schedule_mse_figure, SCHEDULE_CONTROLS, **fixed)


REGISTRY = ("schedule", schedule_explorer, schedule_state, SCHEDULE_CONTROLS)
