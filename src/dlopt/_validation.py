"""Argument validation shared by the whole package.

Every public function validates its input up front and raises an error that
names the argument, states what was expected and shows what came, in the style
of ``torch.optim`` ("Invalid beta parameter at index 0: 1.2").
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np


def validate_real(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float after validating that it is a finite real in range.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open`` is set.
    """
    if isinstance(value, bool) or not isinstance(value, Real | np.generic):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and (value > high or (high_open and value == high))
    if too_low or too_high:
        expected = _interval(low, high, low_open, high_open)
        raise ValueError(f"Invalid {name}: {value} (expected {expected})")
    return value


def _interval(low, high, low_open, high_open) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"a value in {left}{lo}, {hi}{right}"


def validate_int(name: str, value, *, low: int | None = None) -> int:
    """Return ``value`` as an int after validating that it is an integer >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if low is not None and value < low:
        raise ValueError(f"Invalid {name}: {value} (expected an integer >= {low})")
    return value


def validate_probability(name: str, p) -> float:
    """A probability in [0, 1), as dropout's ``p`` must be."""
    return validate_real(name, p, low=0.0, high=1.0, high_open=True)


def validate_array(
    name: str,
    x,
    *,
    ndim: int | tuple[int, ...] | None = None,
    shape: tuple[int | None, ...] | None = None,
    finite: bool = False,
) -> np.ndarray:
    """Return ``x`` as a floating NumPy array after validating its shape.

    ``shape`` may contain ``None`` for a free axis. Integer and boolean input
    is converted to float64; float32 and float64 are kept.
    """
    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach"):  # a torch tensor: be explicit rather than silently copy
            raise TypeError(f"{name} must be a NumPy array, got a torch tensor (use .numpy())")
        x = np.asarray(x)
    if x.dtype.kind in "biu":
        x = x.astype(np.float64)
    elif x.dtype.kind != "f":
        raise TypeError(f"{name} must be a real floating array, got dtype {x.dtype}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            want = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must have {want} dimensions, got shape {x.shape}")
    if shape is not None:
        ok = x.ndim == len(shape) and all(s is None or s == d for s, d in zip(shape, x.shape))
        if not ok:
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {x.shape}")
    if finite and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinity")
    return x


def validate_rng(rng) -> np.random.Generator:
    """Require an explicit ``numpy.random.Generator`` (never a global seed)."""
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator (e.g. np.random.default_rng(0)), got {rng!r}"
        )
    return rng


def validate_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"Invalid {name}: {value!r} (expected one of {sorted(choices)})")
    return value
