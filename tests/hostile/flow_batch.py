"""lab.optimal_batch and lab.gradient_flow."""

VALID = {
    "Phi0": lambda c: 0.5,
}

PENDING = ()
