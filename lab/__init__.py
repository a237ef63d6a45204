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
    the choice, e.g. ``"cpu"``, ``"cuda:1"``. Raises ``ValueError`` when the requested
    device is not a valid torch device string or is not available on this machine.
    """
    requested = (
        name if name is not None else os.environ.get(DEVICE_ENV, "").strip() or None
    )
    if requested is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(requested)
    except RuntimeError as err:
        raise ValueError(
            f"device: {requested!r} is not a torch device (use 'cpu', 'cuda', 'cuda:N' or 'mps')"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device: {requested!r} was requested but CUDA is not available"
        )
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device: {requested!r} was requested but MPS is not available"
        )
    return dev


def generator(seed: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed``.

    Functions in ``lab`` that draw random numbers take such a generator explicitly,
    so two calls with equal seeds give equal results and nothing global is touched.
    Raises ``ValueError`` for a negative or non-integer seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(int(seed))
    return g


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (for notebooks and scripts).

    ``lab`` itself never relies on these: prefer passing a :func:`generator`.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))
