"""lab (device, generator, seed_everything), lab.train, lab.batch_scaling, lab.distributed."""

PENDING = (
    "lab.device",
    "lab.generator",
    "lab.seed_everything",
    "lab.train.",
    "lab.batch_scaling.",
    "lab.distributed.",
)
