"""lab.optimal_batch and lab.gradient_flow."""

PENDING = (
    "lab.optimal_batch.",
    "lab.gradient_flow.",
)
