"""Argument checks shared by every public function: one clear ``ValueError`` per mistake.

Each check names the parameter, the allowed range and the value it got, e.g.
``ValueError: batch_size must be an integer >= 1, got 0``.
"""

from __future__ import annotations

import math
import numbers


def _real(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def real_in(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float, checked to lie in the interval from ``low`` to ``high``."""
    x = _real(name, value)
    too_low = x <= low if low_open else x < low
    too_high = x >= high if high_open else x > high
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {left}{low}, {high}{right}, got {value!r}")
    return x


def positive(name: str, value) -> float:
    """``value`` as a float, checked > 0 and finite."""
    x = _real(name, value)
    if x <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return x


def nonnegative(name: str, value) -> float:
    """``value`` as a float, checked >= 0 and finite."""
    x = _real(name, value)
    if x < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return x


def integer_at_least(name: str, value, low: int = 1, high: int | None = None) -> int:
    """``value`` as an int, checked to be a whole number >= ``low`` (and <= ``high``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    value = int(value)
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {bound}, got {value!r}")
    return value


# --------------------------------------------------------------------------------------
# Hostile input (issue 15): None, bools, strings, shapes, sizes that make work grow,
# results that overflow. One wording for every parameter that many functions share.
# --------------------------------------------------------------------------------------


class Diverged(ValueError, FloatingPointError):
    """A run left the finite numbers: a ``ValueError`` naming the arguments to lower
    (and a ``FloatingPointError``, as code that catches divergence expects)."""


#: Upper bounds on the sizes that make work grow (said in the docstrings that use them).
MAX_STEPS = 10**7
MAX_CHAINS = 10**6
#: Batch sizes enter as σ²/B and √B: bounded so that they stay exact floats.
MAX_BATCH = 10**12
#: steps × chains (× batch size where every example is drawn): numbers drawn in one run.
MAX_WORK = 10**9
#: Elements in one array argument or result (grids, schedules, sequences).
MAX_ELEMENTS = 10**8


def _plain(value) -> bool:
    """A float or int that is not a bool: nothing to convert."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _not_a_number(value) -> bool:
    return value is None or isinstance(value, bool | str | bytes)


def steps(name: str, value, low: int = 1, high: int = MAX_STEPS) -> int:
    """A step count: an integer in [``low``, ``high``] (default at most 10⁷)."""
    return integer_at_least(name, value, low, high)


def batch_size(name: str, value, low: int = 1, high: int = MAX_BATCH) -> int:
    """A batch size B: an integer in [``low``, ``high``] (at most 10¹²)."""
    return integer_at_least(name, value, low, high)


def chains(name: str, value, low: int = 1, high: int = MAX_CHAINS) -> int:
    """A number of independent runs: an integer in [``low``, ``high``] (at most 10⁶)."""
    return integer_at_least(name, value, low, high)


def size(name: str, value, low: int = 1, high: int = MAX_ELEMENTS) -> int:
    """A size that makes work or memory grow: an integer in [``low``, ``high``]."""
    return integer_at_least(name, value, low, high)


def work(names: str, total: float, high: int = MAX_WORK) -> None:
    """Raise ``ValueError`` when ``total`` (a product of sizes) exceeds ``high``."""
    if total > high:
        digits = len(str(int(total)))
        got = str(int(total)) if digits < 16 else f"about 1e{digits - 1}"
        raise ValueError(
            f"{names} must multiply to at most {high:.0e} (the work of one call), "
            f"got {got}"
        )


def choice(name: str, value, options):
    """``value``, checked to be one of ``options`` (same type and equal: ``True`` is
    not ``1``, and an array is never an option)."""
    options = tuple(options)
    if not any(type(value) is type(o) and value == o for o in options):
        raise ValueError(f"{name} must be one of {options}, got {value!r:.80}")
    return value


def flag(name: str, value) -> bool:
    """``value`` as a bool, checked to be True or False (numpy bools too)."""
    import numpy as np

    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def text(name: str, value, *, empty: bool = True) -> str:
    """``value``, checked to be a string (non-empty unless ``empty``)."""
    if not isinstance(value, str) or (not empty and not value.strip()):
        kind = "a string" if empty else "a non-empty string"
        raise TypeError(f"{name} must be {kind}, got {value!r}")
    return value


def instance(name: str, value, cls, what: str | None = None):
    """``value``, checked to be an instance of ``cls`` (a class or tuple of classes)."""
    if not isinstance(value, cls):
        if what is None:
            classes = cls if isinstance(cls, tuple) else (cls,)
            what = " or ".join(f"a {c.__module__}.{c.__qualname__}" for c in classes)
        raise TypeError(f"{name} must be {what}, got {value!r:.80}")
    return value


def provides(name: str, value, methods, what: str):
    """``value``, checked to have the callable attributes ``methods`` (duck typing)."""
    missing = [m for m in methods if not callable(getattr(value, m, None))]
    if missing or _not_a_number(value):
        raise TypeError(
            f"{name} must be {what} (with {', '.join(methods)}), got {value!r:.80}"
        )
    return value


def function(name: str, value):
    """``value``, checked to be callable."""
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {value!r:.80}")
    return value


def generator(name: str, value):
    """``value``, checked to be a ``torch.Generator`` (see :func:`lab.generator`)."""
    import torch

    return instance(name, value, torch.Generator, "a torch.Generator (lab.generator)")


def device(name: str, value):
    """``value`` as a ``torch.device``: a device or a string such as ``"cpu"``."""
    import torch

    if isinstance(value, torch.device):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a torch device or a string, got {value!r}")
    try:
        return torch.device(value)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{name} must name a torch device, got {value!r}") from err


def dtype(name: str, value):
    """``value``, checked to be a floating ``torch.dtype``."""
    import torch

    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise TypeError(f"{name} must be a floating torch dtype, got {value!r}")
    return value


def real(name: str, value) -> float:
    """``value`` as a float, checked finite (no None, bool or string)."""
    return real_in(name, value)


def array(
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    ndim: int | tuple | None = None,
    max_size: int = MAX_ELEMENTS,
):
    """``value`` (a number, sequence, numpy array or tensor) as a float64 numpy array,
    checked: numbers only (no None, bool, string), finite, within [``low``, ``high``]
    (open ends with ``low_open``/``high_open``), with ``ndim`` dimensions (an int or a
    tuple of allowed ones) and at most ``max_size`` elements."""
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu()
    if _not_a_number(value):
        raise TypeError(f"{name} must be a real number or array, got {value!r}")
    try:
        raw = np.asarray(value)
        if (
            raw.dtype == bool
            or raw.dtype.kind in "OUSV"
            and raw.size
            and any(_not_a_number(v) for v in raw.reshape(-1))
        ):
            raise TypeError
        a = raw.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise TypeError(
            f"{name} must be a real number or array, got {value!r:.80}"
        ) from None
    if ndim is not None and a.ndim not in (
        ndim if isinstance(ndim, tuple) else (ndim,)
    ):
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {a.shape}")
    if a.size > max_size:
        raise ValueError(
            f"{name} must have at most {max_size:.0e} elements, got {a.size}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {value!r:.80}")
    bad_low = a <= low if low_open else a < low
    bad_high = a >= high if high_open else a > high
    if np.any(bad_low) or np.any(bad_high):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ValueError(
            f"{name} must be in {left}{low:g}, {high:g}{right}, got {value!r:.80}"
        )
    return a


def broadcast(**arrays):
    """The arrays broadcast against each other; ``ValueError`` naming them otherwise."""
    import numpy as np
    import torch

    values = list(arrays.values())
    try:
        if all(isinstance(v, torch.Tensor) for v in values):
            return torch.broadcast_tensors(*values)
        return np.broadcast_arrays(*values)
    except (ValueError, RuntimeError):
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise ValueError(
            f"{', '.join(arrays)} must broadcast together, got {shapes}"
        ) from None


def grid(name: str, value, min_points: int = 3, max_points: int = 4001):
    """An evenly spaced, increasing 1-D grid of ``min_points`` to ``max_points``
    finite numbers, as a float64 numpy array (dense n × n matrices are built on it)."""
    import numpy as np

    x = array(name, value, ndim=1)
    if not min_points <= x.size <= max_points:
        raise ValueError(
            f"{name} must have {min_points} to {max_points} points, got {x.size}"
        )
    step = np.diff(x)
    if not (np.all(step > 0) and np.allclose(step, step[0], rtol=1e-6, atol=0)):
        raise ValueError(f"{name} must be evenly spaced and increasing")
    return x


def problem_1d(name: str, value):
    """A 1-D problem: ``gradient``, ``population_loss`` and ``gradient_variance``, as
    :class:`lab.problems.Quadratic1D` and :class:`lab.problems.DoubleWell1D` have."""
    return provides(
        name,
        value,
        ("gradient", "population_loss", "gradient_variance"),
        "a 1-D problem such as lab.problems.Quadratic1D or DoubleWell1D",
    )


def tensor(name: str, value, *, ndim: int | None = None, floating: bool = True):
    """``value``, checked to be a torch tensor (floating and finite when ``floating``,
    with ``ndim`` dimensions when given)."""
    import torch

    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor, got {value!r:.80}")
    if ndim is not None and value.dim() != ndim:
        raise ValueError(
            f"{name} must have {ndim} dimension(s), got {tuple(value.shape)}"
        )
    if floating:
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got {value.dtype}")
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite")
    return value


def finite_result(value, names: str, hint: str = "use smaller magnitudes"):
    """``value`` (number, array or tensor), checked finite: finite inputs can overflow.

    ``names`` lists the arguments that set the result's size, so that the error names
    them: ``ValueError: g, sigma: the result overflows (not finite); use smaller ...``.
    """
    import numpy as np

    if hasattr(value, "detach"):
        ok = bool(value.detach().isfinite().all())
    else:
        ok = bool(np.all(np.isfinite(np.asarray(value, dtype=np.complex128))))
    if not ok:
        raise ValueError(f"{names}: the result overflows (not finite); {hint}")
    return value


def real_array(name: str, value, low: float = -math.inf, *, low_open: bool = False):
    """``value`` (a number, sequence, numpy array or tensor) as a float64 numpy array,
    checked finite everywhere and, with ``low``, ``>= low`` (``> low`` if ``low_open``)."""
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu()
    a = array(name, value, max_size=MAX_ELEMENTS) if not _plain(value) else value
    a = np.asarray(a, dtype=np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    bad = a <= low if low_open else a < low
    if np.any(bad):
        raise ValueError(
            f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}"
        )
    return a


def real_between(
    name: str, value, low: float, high: float, *, low_open: bool = False
) -> float:
    """``value`` as a float, checked finite, ``>= low`` (``> low`` if ``low_open``) and
    ``<= high``; the message states both sides, e.g.
    ``lr must be >= 0 and <= 1e+06, got -1``."""
    side = ">" if low_open else ">="
    wanted = f"{side} {low:g} and <= {high:g}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number {wanted}, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, {wanted}, got {value!r}")
    if (x <= low if low_open else x < low) or x > high:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")
    return x


def integer_between(name: str, value, low: int, high: int) -> int:
    """``value`` as an int, checked to be a whole number (not a bool) in
    ``[low, high]``; an integral float is accepted (``3.0`` is 3)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{name} must be an integer >= {low} and <= {high}, got {value!r}"
        )
    if not isinstance(value, numbers.Integral):
        x = float(value)
        if not (math.isfinite(x) and x.is_integer()):
            raise ValueError(
                f"{name} must be an integer >= {low} and <= {high}, got {value!r}"
            )
    n = int(value)
    if n < low or n > high:
        raise ValueError(
            f"{name} must be an integer >= {low} and <= {high}, got {value!r}"
        )
    return n


def checked_in_group(where: str, check) -> None:
    """Run ``check()``; a ``ValueError`` it raises is raised again with ``where``
    (e.g. ``"Adam param group 1"``) in front of its message."""
    try:
        check()
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
