"""Interactive explorers: a pure compute function (tested) and a thin ipywidgets view.

Each explorer is three pieces:

* ``<name>_state(**params)``: validates the slider values and computes everything the
  picture shows (numpy arrays). Pure: same arguments, same result.
* a drawing function in :mod:`lab.plots` that turns a state into a figure.
* :class:`Explorer`: sliders plus an ``ipywidgets.Image`` holding the rendered PNG.
  A slider change recomputes the state and replaces the image bytes, so the view works
  in JupyterLab, Voilà, Binder and Colab, and its default image embeds in static HTML.

``EXPLORERS`` maps each explorer's name to its factory (used by tests and benchmarks).
"""

from __future__ import annotations

import io
import math

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import _checks, plots
from . import generator as make_generator
from .problems import DoubleWell1D, Quadratic1D
from .simulate import (gradient_estimates, power_schedule, quadratic_moments, sgd_1d,
                       sgd_quadratic_1d, temperature)

__all__ = ["Explorer", "vanilla_sgd_state", "vanilla_sgd_explorer", "VANILLA_SGD_CONTROLS",
           "schedule_state", "schedule_explorer", "SCHEDULE_CONTROLS", "temperature_state",
           "temperature_explorer", "TEMPERATURE_CONTROLS", "EXPLORERS", "STATES"]


class Explorer(widgets.VBox):
    """Sliders that re-render a matplotlib figure into an ``ipywidgets.Image``.

    ``compute(**values) -> state`` and ``draw(fig, state)`` do the work; ``controls``
    maps each parameter name to the keyword arguments of its slider (``options`` gives
    a ``SelectionSlider``, otherwise a ``FloatSlider``). Attributes: ``sliders`` (name →
    slider), ``image`` (the PNG widget), ``state`` (the last computed state), ``figure``.
    """

    def __init__(self, compute, draw, controls: dict, *, figsize=(9.0, 3.4), dpi: int = 90,
                 **fixed):
        self._compute, self._draw, self._fixed, self._dpi = compute, draw, fixed, dpi
        self.sliders = {}
        for name, spec in controls.items():
            spec = dict(spec)
            description = spec.pop("description", name)
            cls = widgets.SelectionSlider if "options" in spec else widgets.FloatSlider
            self.sliders[name] = cls(description=description, continuous_update=False,
                                     style={"description_width": "initial"}, **spec)
        self.figure = Figure(figsize=figsize)
        FigureCanvasAgg(self.figure)
        self.image = widgets.Image(format="png")
        self.state = None
        for slider in self.sliders.values():
            slider.observe(self.update, names="value")
        self.update()
        controls_box = widgets.HBox(list(self.sliders.values()),
                                    layout=widgets.Layout(flex_flow="row wrap"))
        super().__init__([controls_box, self.image])

    def values(self) -> dict:
        """The current slider values, by parameter name."""
        return {name: slider.value for name, slider in self.sliders.items()}

    def update(self, change=None) -> None:
        """Recompute the state from the sliders and re-render the image."""
        self.state = self._compute(**self.values(), **self._fixed)
        self._draw(self.figure, self.state)
        buffer = io.BytesIO()
        # Fast PNG compression: the image is re-sent on every slider move.
        self.figure.savefig(buffer, format="png", dpi=self._dpi,
                            pil_kwargs={"compress_level": 1})
        self.image.value = buffer.getvalue()


# ---------------------------------------------------------------- Chapter 1: vanilla SGD

#: Slider ranges of the Chapter 1 explorer (the tests sweep every extreme).
VANILLA_SGD_CONTROLS = {
    "batch_size": {"options": [2**k for k in range(9)], "value": 2, "description": "batch size B"},
    "lr": {"min": 0.02, "max": 1.9, "step": 0.02, "value": 0.2, "description": "learning rate η"},
    "sigma": {"min": 0.1, "max": 4.0, "step": 0.1, "value": 2.0, "description": "σ (per example)"},
    "beta0": {"min": -10.0, "max": 10.0, "step": 0.5, "value": 4.0, "description": "start β₀"},
}


def vanilla_sgd_state(batch_size: int = 2, lr: float = 0.2, sigma: float = 2.0,
                      beta0: float = 4.0, *, mean: float = 0.0, steps: int = 60,
                      chains: int = 24, samples: int = 4000, seed: int = 0,
                      device: str | torch.device = "cpu") -> dict:
    """Everything the Chapter 1 explorer shows, for loss(β, y) = ½(β − y)², y ~ N(μ, σ²).

    * ``ghat``: ``samples`` batch gradients ĝ at β* = μ (each from B real draws), with
      ``ghat_variance`` = σ²/B and ``ghat_sample_variance`` their sample variance;
    * ``paths``: ``chains`` SGD runs β_t, t = 0..steps, shape (steps + 1, chains);
    * ``mean``, ``sd``: the exact E β_t and sd β_t; ``stationary_sd`` = √(ησ²/(B(2 − η))).

    Raises ``ValueError`` naming the parameter for a batch size < 1, η outside (0, 2)
    (SGD on this problem diverges for η ≥ 2), σ ≤ 0 or a non-finite β₀.
    """
    B = _checks.integer_at_least("batch_size", batch_size, 1)
    lr = _checks.real_in("lr", lr, 0.0, 2.0, low_open=True, high_open=True)
    beta0 = _checks.real_in("beta0", beta0)
    problem = Quadratic1D(mean=mean, sigma=sigma)
    gen = make_generator(seed, device)
    ghat = gradient_estimates(problem, problem.optimum, B, samples, gen)
    paths = sgd_quadratic_1d(problem, beta0, lr, B, steps, chains, gen)
    t = torch.arange(steps + 1, dtype=torch.float64)
    return {
        "params": {"batch_size": B, "lr": lr, "sigma": problem.sigma, "beta0": beta0},
        "optimum": problem.optimum,
        "ghat": ghat.cpu().numpy(),
        "ghat_variance": problem.gradient_variance(B),
        "ghat_sample_variance": float(ghat.var()),
        "t": t.numpy(),
        "paths": paths.cpu().numpy(),
        "mean": problem.sgd_mean(beta0, lr, t).numpy(),
        "sd": np.sqrt(problem.sgd_variance(lr, B, t).numpy()),
        "stationary_sd": math.sqrt(problem.stationary_variance(lr, B)),
    }


def vanilla_sgd_explorer(**fixed) -> Explorer:
    """The Chapter 1 explorer: sliders for B, η, σ and β₀ over :func:`vanilla_sgd_state`."""
    return Explorer(vanilla_sgd_state, plots.vanilla_sgd_figure, VANILLA_SGD_CONTROLS, **fixed)


# ------------------------------------------------- Chapter 2: decaying learning rates

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


# ------------------------------------------- Chapter 3: the learning rate as temperature

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


#: Every explorer in the book, by name: name → factory returning an :class:`Explorer`.
EXPLORERS = {"vanilla_sgd": vanilla_sgd_explorer, "schedule": schedule_explorer,
             "temperature": temperature_explorer}

#: The pure side of every explorer: name → (compute function, slider controls).
STATES = {
    "vanilla_sgd": (vanilla_sgd_state, VANILLA_SGD_CONTROLS),
    "schedule": (schedule_state, SCHEDULE_CONTROLS),
    "temperature": (temperature_state, TEMPERATURE_CONTROLS),
}
