"""lab.optim's C++ steps for CPU tensors, compiled from ``kernels.cpp`` on first use.

:func:`ops` builds the C++ file with ``torch.utils.cpp_extension.load`` (a few seconds
once per machine; the build is cached under torch's extensions directory,
``TORCH_EXTENSIONS_DIR`` to move it) and returns ``torch.ops.lab_fused``, one named op
per optimizer on lists of float32/float64 CPU tensors (one dtype per call; a
non-contiguous tensor goes through a contiguous copy). Each is the reference function
of :mod:`lab.optim.updates` in one pass over memory:

- ``sgd_step(params, grads, lr, freeze)``: :func:`~lab.optim.sgd_update`;
- ``momentum_step(params, grads, v, lr, decay, freeze)``, ``decay = 1 - 1/N``:
  :func:`~lab.optim.momentum_update`;
- ``averaged_momentum_step(params, grads, mu, lr, weight, freeze)``, ``weight = 1/N``:
  :func:`~lab.optim.averaged_momentum_update`;
- ``rmsprop_step(params, grads, s, lr, weight, eps, freeze)``, ``weight = 1/N_s``:
  :func:`~lab.optim.rmsprop_update`;
- ``adam_step(params, grads, mu, s, lr, w_g, w_s, eps, freeze)``:
  :func:`~lab.optim.adam_update`;
- ``snr_step(params, grads, g_tilde, s_tilde, grad_sq, warm_weight, update_params,
  batch_size, lambda_B, lambda_eta, eps, eta_max, lr, variance_scale, freeze,
  g_tilde_bound, s_tilde_bound)``: :func:`~lab.optim.snr_update` rearranged (equal up
  to round-off; ``warm_weight < 0``: the per-coordinate weight; ``grad_sq`` empty:
  :math:`\\hat g^2`); with ``freeze`` and finite bounds on the state's magnitudes,
  each coordinate's gradient is tested against the largest one for which the step
  cannot leave the finite range (cheaper than testing the new values: this loop is bound
  by arithmetic), else the new values are tested; returns the counts and the largest
  :math:`|\\hat g|` and :math:`|{\\rm sq}|` read (NaN where not read);
- ``all_finite(tensors)``: whether every element is finite, reading each once.

The steps return, per tensor, how many coordinates kept their values; with ``freeze`` a
coordinate keeps its parameter and state where its gradient, a new state value, or its
new parameter (where the old one was finite) is inf or NaN (without it the counts are 0
and NaN propagates, as in torch).

Where the build fails (no C++ compiler or ninja, an unsupported platform) :func:`ops`
warns once and returns None, and :mod:`lab.optim` keeps its foreach paths. The
environment variable ``LAB_FUSED=0`` skips the build (no compiler run, no warning).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

import torch

SOURCE = Path(__file__).with_name("kernels.cpp")

#: Set to "0" to skip the C++ build: every step then takes the foreach path.
DISABLE_ENV = "LAB_FUSED"


def _flags() -> list[str]:
    # -ffp-contract=off: one rounding per torch op, no a*b+c fused behind our back (the
    # kernels fuse only where torch.lerp does); -fno-math-errno, -fno-trapping-math: sqrt
    # and the clamps' selects vectorize (neither changes a result).
    flags = ["-O3", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math"]
    if sys.platform.startswith("linux"):  # at::parallel_for runs on OpenMP threads
        flags.append("-fopenmp")
    # The vector width torch's own kernels use here; torch's AVX2/AVX-512 lerp rounds
    # once (FMA), and so must these.
    capability = torch.backends.cpu.get_cpu_capability()
    if capability == "AVX2":
        flags += ["-mavx2", "-mfma"]
    elif capability == "AVX512":
        flags += [
            "-mavx2",
            "-mfma",
            "-mavx512f",
            "-mavx512vl",
            "-mavx512dq",
            "-mprefer-vector-width=512",
        ]
    return flags


def _load():
    """Compile (or reuse the cached build) and load the library; raises on failure."""
    from torch.utils import cpp_extension

    # A ninja installed with pip sits next to the interpreter, off PATH in an
    # unactivated virtual environment.
    path = os.environ.get("PATH", "")
    if shutil.which("ninja") is None:
        os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), path])
    # One build per torch version and vector width: a cached build never meets another.
    tag = re.sub(
        r"\W", "_", f"{torch.__version__}_{torch.backends.cpu.get_cpu_capability()}"
    )
    flags = _flags()
    try:
        cpp_extension.load(
            name=f"lab_fused_{tag.lower()}",
            sources=[str(SOURCE)],
            extra_cflags=flags,
            extra_ldflags=[f for f in flags if "openmp" in f],
            is_python_module=False,
            verbose=False,
        )
    finally:
        os.environ["PATH"] = path
    return torch.ops.lab_fused


@functools.cache
def ops():
    """``torch.ops.lab_fused`` once built, or None when it cannot be (with one warning)
    or is switched off (``LAB_FUSED=0``)."""
    if os.environ.get(DISABLE_ENV, "").strip() == "0":
        return None
    try:
        return _load()
    except (
        Exception
    ) as error:  # a missing compiler fails in many ways; none may break a step
        last_line = (str(error).strip().splitlines() or [""])[-1]
        warnings.warn(
            f"lab.optim: could not build the fused CPU kernels ({type(error).__name__}: "
            f"{last_line}); using the unfused paths (equal up to round-off, slower).",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
