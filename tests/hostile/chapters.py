"""The rest of the chapter modules: what is left in rmsprop, momentum, adam, convergence
and running_averages (functions added by the chapters' rework included)."""

PENDING = (
    "lab.rmsprop.sgd_best_lr",
    "lab.rmsprop.rmsprop_nqm_error",
    "lab.rmsprop.rmsprop_moments",
    "lab.rmsprop.s_at_fixed_phi",
    "lab.momentum.optimal_heavy_ball",
    "lab.momentum.momentum_nqm_loss",
    "lab.momentum.momentum_trajectory",
    "lab.adam.adam_nqm",
    "lab.convergence.final_errors",
    "lab.convergence.window_decades",
    "lab.convergence.optimal_final_error",
    "lab.convergence.step_decay_schedule",
    "lab.convergence.cosine_schedule",
    "lab.convergence.warmup_linear_schedule",
    "lab.running_averages.best_memory",
    "lab.running_averages.drift_tracking_mse",
    "lab.running_averages.half_life",
)

OVERRIDES = {
    # a point on the 1-D quadratic (VALID's "phi" is an NQM position)
    "lab.vanilla_sgd.gradient_estimates": {"phi": 0.5},
}
