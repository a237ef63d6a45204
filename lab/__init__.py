"""The code behind the SGD course book: the device, seeded generators, and the modules.

Shared modules: ``problems`` (the losses and populations), ``simulate`` (vectorised runs,
the one noisy-quadratic runner), ``optim`` (the lecture's optimizers as
``torch.optim.Optimizer`` subclasses), ``derivations`` (sympy-checked derivations and
the errata), ``train`` (the digits and a training loop), ``plots``, ``widgets`` (the
explorers) and ``pages`` (display helpers). Each chapter's own analyses live in the
module of the chapter's name (``vanilla_sgd``, ``convergence``, ..., ``optimal_batch``).
This module holds the helpers every page needs: :func:`device` and :func:`generator`.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["device", "generator", "seed_everything", "DEVICE_ENV"]

#: Environment variable that overrides :func:`device` (e.g. ``LAB_DEVICE=cpu``).
DEVICE_ENV = "LAB_DEVICE"


def device(name: str | None = None) -> torch.device:
    """The device to compute on: CUDA if available, else MPS, else CPU.

    ``name`` (or, when it is None, the environment variable ``LAB_DEVICE``) overrides
    the choice, e.g. ``"cpu"``, ``"cuda:1"`` (a ``torch.device`` is accepted too).
    Raises ``TypeError`` for a ``name`` that is neither, and ``ValueError`` when the
    requested device is not a valid torch device string or is not available on this
    machine.
    """
    if name is None:
        name = os.environ.get(DEVICE_ENV, "").strip() or None
        if name is None:
            if torch.cuda.is_available():
                return torch.device("cuda")
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return torch.device("mps")
            return torch.device("cpu")
        return _available_device(DEVICE_ENV, name)
    return _available_device("name", name)


#: Seeds are unsigned 64-bit integers (what ``torch.Generator.manual_seed`` takes).
_MAX_SEED = 2**64 - 1


def _seed(name: str, value) -> int:
    """A seed: an integer in [0, 2**64 - 1] (no bool, no float)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(
            f"{name} must be a non-negative integer (at most 2**64 - 1), got {value!r}"
        )
    if not 0 <= int(value) <= _MAX_SEED:
        raise ValueError(
            f"{name} must be a non-negative integer (at most 2**64 - 1), got {value!r}"
        )
    return int(value)


def _available_device(name: str, value) -> torch.device:
    """``value`` (a ``torch.device`` or a string such as ``"cuda:1"``) as a device that
    exists on this machine; ``TypeError``/``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, torch.device):
        dev = value
    elif not isinstance(value, str):
        raise TypeError(f"{name} must be a torch device or a string, got {value!r:.80}")
    else:
        try:
            dev = torch.device(value)
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"{name}: {value!r} is not a torch device "
                "(use 'cpu', 'cuda', 'cuda:N' or 'mps')"
            ) from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"{name}: {value!r} was requested but CUDA is not available"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}: {value!r} was requested but there are only "
                f"{torch.cuda.device_count()} CUDA devices"
            )
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(
                f"{name}: {value!r} was requested but MPS is not available"
            )
    return dev


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``.

    Functions in ``lab`` that draw random numbers take such a generator explicitly,
    so two calls with equal seeds give equal results and nothing global is touched.
    Raises ``ValueError`` for a seed that is not an integer in [0, 2**64 - 1], and
    ``TypeError``/``ValueError`` for a ``device`` that is not an available torch device.
    """
    seed = _seed("seed", seed)
    dev = _available_device("device", device)
    try:
        g = torch.Generator(device=dev)
    except RuntimeError as err:
        raise ValueError(f"device: no torch.Generator on {dev}: {err}") from None
    g.manual_seed(seed)
    return g


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (for notebooks and scripts).

    ``lab`` itself never relies on these: prefer passing a :func:`generator`. Raises
    ``ValueError`` for a seed that is not an integer in [0, 2**64 - 1].
    """
    seed = _seed("seed", seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
