"""Argument checks of the explorers' state and figure functions (see :mod:`lab._checks`).

A state is recomputed on every slider move, so the sizes that make its work grow have
tighter bounds than elsewhere in ``lab``: at most :data:`MAX_STEPS` steps,
:data:`MAX_CHAINS` runs and :data:`MAX_DRAWS` random numbers (or grid points × steps)
per state.
"""

from __future__ import annotations

from .. import _checks

#: Steps of one explorer state (sliders ask for hundreds to a few thousand).
MAX_STEPS = 10**4
#: Independent runs of one explorer state.
MAX_CHAINS = 10**4
#: Random numbers drawn (or values computed) by one explorer state.
MAX_DRAWS = 10**7
#: Coordinates of an explorer's noisy quadratic.
MAX_DIM = 1000
#: Largest seed (numpy's and torch's generators take 64-bit seeds).
MAX_SEED = 2**63 - 1


def steps(value, name: str = "steps", low: int = 1) -> int:
    """A step count of an explorer: an integer in [``low``, 10⁴]."""
    return _checks.steps(name, value, low, MAX_STEPS)


def chains(value, name: str = "chains", low: int = 1) -> int:
    """A number of runs of an explorer: an integer in [``low``, 10⁴]."""
    return _checks.chains(name, value, low, MAX_CHAINS)


def dim(value, name: str = "dim", low: int = 1) -> int:
    """A number of coordinates: an integer in [``low``, 1000]."""
    return _checks.integer_at_least(name, value, low, MAX_DIM)


def draws(names: str, total: float) -> None:
    """``ValueError`` naming ``names`` when a state would draw over 10⁷ numbers."""
    _checks.work(names, total, MAX_DRAWS)


def seed(value) -> int:
    """A seed: an integer in [0, 2⁶³ − 1]."""
    return _checks.integer_at_least("seed", value, 0, MAX_SEED)


def figure(value):
    """``value``, checked to be a matplotlib ``Figure`` (what a figure function draws on)."""
    from matplotlib.figure import Figure

    return _checks.instance("fig", value, Figure, "a matplotlib Figure")


def state(value, keys, where: str) -> dict:
    """``value``, checked to be a dict holding ``keys`` (a state made by ``where``)."""
    if not isinstance(value, dict):
        raise TypeError(f"state must be a dict made by {where}, got {value!r:.80}")
    missing = [k for k in keys if k not in value]
    if missing or not isinstance(value.get("params"), dict):
        raise ValueError(
            f"state must be a dict made by {where}; it lacks {missing or ['params']}"
        )
    return value
