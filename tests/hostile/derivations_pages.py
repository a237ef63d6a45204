"""lab.derivations, lab.pages and lab.plots."""

PENDING = (
    "lab.derivations.",
    "lab.pages.",
    "lab.plots.",
)
