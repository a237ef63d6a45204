"""lab (device, generator, seed_everything), lab.train, lab.batch_scaling, lab.distributed."""

import itertools
import tempfile
from pathlib import Path

import numpy as np
import torch

PENDING = ()

_FOLDER = tempfile.TemporaryDirectory(prefix="hostile_")  # removed at exit
_COUNT = itertools.count()


def _path(name: str) -> str:
    """A fresh path (digits_worker's init file and output: one group per call)."""
    return str(Path(_FOLDER.name) / f"{next(_COUNT)}_{name}")


VALID = {
    "loss_fn": lambda c: torch.nn.functional.cross_entropy,
    "global_batch": lambda c: 2,
    "n_bytes": lambda c: 1e6,
    "workers": lambda c: 4,
    "bandwidth": lambda c: 1e9,
    "seconds_per_example": lambda c: 1e-4,
    "batch_per_worker": lambda c: 32,
    "lr_effective": lambda c: [0.1],
    "rank": lambda c: 0,
    "world_size": lambda c: 1,
    "init_file": lambda c: _path("init"),
    "out": lambda c: _path("out.pt"),
    "job": lambda c: {
        "optimizers": [{"name": "SGD", "lr": 0.1}],
        "steps": 2,
        "global_batch": 4,
        "hidden": 0,
        "seed": 0,
    },
}

OVERRIDES = {
    # a target below the start's loss, ½ Σ h φ0² = 0.625 (else 0 steps: no B_crit)
    "lab.batch_scaling.nqm_critical_batch": {"target": 0.3},
    # a few steps of a tiny MLP: 16 examples, batches 4 → 8
    "lab.batch_scaling.momentum_scaling_runs": {
        "batch_small": 4,
        "batch_large": 8,
        "examples": 16,
        "seeds": 1,
        "hidden": 4,
    },
    # examples at least the largest batch (2 × 2**(2 - 1))
    "lab.batch_scaling.smith_schedules": {"examples_per_phase": 16},
    "lab.batch_scaling.nqm_schedule_loss": {"phi0": np.array([1.0, 0.5])},
}

EXEMPT = {
    # its arguments are checked, but a valid call joins a process group and waits
    # (wall time, up to job["timeout"]) for world_size workers
    "lab.distributed.digits_worker": "spawn target: waits for its peers",
}

INF_SENTINEL = {
    "lab.batch_scaling.nqm_steps_to_target": "inf where the target is out of reach",
    "lab.batch_scaling.momentum_scaling_runs": "inf where training diverged",
    "lab.train.digits_sweep": "final_loss = inf where a copy diverged",
}
