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


def real_array(name: str, value, low: float = -math.inf, *, low_open: bool = False):
    """``value`` (a number, sequence, numpy array or tensor) as a float64 numpy array,
    checked finite everywhere and, with ``low``, ``>= low`` (``> low`` if ``low_open``)."""
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, on any device
        value = value.detach().cpu()
    a = np.asarray(value, dtype=np.float64)
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


def one_of(name: str, value, allowed: tuple[str, ...]) -> str:
    """``value``, checked to be one of the strings ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


def checked_in_group(where: str, check) -> None:
    """Run ``check()``; a ``ValueError`` it raises is raised again with ``where``
    (e.g. ``"Adam param group 1"``) in front of its message."""
    try:
        check()
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
