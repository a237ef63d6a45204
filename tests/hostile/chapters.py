"""The rest of the chapter modules: what is left in rmsprop, momentum, adam, convergence
and running_averages (functions added by the chapters' rework included)."""

import numpy as np

import lab.convergence

PENDING = ()

VALID = {
    # lab.convergence: a schedule factory (peak rate, steps) and a sweep of peak rates
    "make_schedule": lambda c: lab.convergence.cosine_schedule,
    "peaks": lambda c: np.array([0.1, 0.5]),
    "errors": lambda c: np.array([0.3, 0.2]),
    "limit": lambda c: 0.5,
    # lab.running_averages: the drift of the mean per step
    "r": lambda c: 0.01,
}

OVERRIDES = {
    # a point on the 1-D quadratic (VALID's "phi" is an NQM position)
    "lab.vanilla_sgd.gradient_estimates": {"phi": 0.5},
}
