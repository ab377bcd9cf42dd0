r"""Comparing a student's output with the reference's, with messages a student can act on.

Outputs are plain data: ``None``, booleans, numbers, strings, NumPy arrays and
(nested) lists of them, as :mod:`dlopt.grading.tasks` produces them. Two
numbers agree when

.. math:: |x_\text{got} - x_\text{expected}| \le \text{atol} + \text{rtol}\,|x_\text{expected}|

elementwise, the test ``numpy.isclose`` makes, written with ufuncs bound at
import time, so that an answer which rebinds ``numpy.isclose`` or
``numpy.abs`` in a notebook changes neither its feedback nor its grade (the
grade itself is decided in a process that never runs student code, see
:mod:`dlopt.grading.sandbox`). :func:`first_mismatch` returns the first place where
two outputs disagree (which batch, which step, which element), or ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ufuncs are C objects: rebinding ``numpy.abs`` later does not change these names' targets
_absolute, _subtract, _multiply, _add = np.absolute, np.subtract, np.multiply, np.add
_less_equal, _isnan, _isinf, _equal = np.less_equal, np.isnan, np.isinf, np.equal
_logical_or, _logical_and, _logical_not = np.logical_or, np.logical_and, np.logical_not


@dataclass(frozen=True)
class Tolerance:
    """``rtol``/``atol`` of the elementwise test above."""

    rtol: float = 1e-7
    atol: float = 1e-10


@dataclass(frozen=True)
class Mismatch:
    """Where two outputs first disagree.

    ``where`` names the place ("batch 2, y", "step 17, element (1, 0)"),
    ``expected`` and ``got`` are short printable values, ``reason`` says what
    kind of difference it is ("values differ", "shape differs", ...).
    """

    where: str
    expected: str
    got: str
    reason: str = "values differ"

    def __str__(self) -> str:
        place = f"{self.where}: " if self.where else ""
        return f"{place}{self.reason}: expected {self.expected}, got {self.got}"


def close_mask(expected: np.ndarray, got: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Boolean array: where ``got`` agrees with ``expected`` (NaN agrees with NaN, inf with inf)."""
    diff = _absolute(_subtract(got, expected))
    bound = _add(tol.atol, _multiply(tol.rtol, _absolute(expected)))
    ok = _less_equal(diff, bound)
    both_nan = _logical_and(_isnan(expected), _isnan(got))
    same_inf = _logical_and(_isinf(expected), _equal(expected, got))
    return _logical_or(ok, _logical_or(both_nan, same_inf))


def _fmt(x) -> str:
    if isinstance(x, float | np.floating):
        return f"{float(x):.10g}"
    if isinstance(x, np.ndarray):
        return np.array2string(x, precision=6, threshold=8, edgeitems=2)
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(x) -> str:
    if x is None:
        return "None"
    if isinstance(x, bool | np.bool_):
        return "bool"
    if isinstance(x, int | float | np.integer | np.floating):
        return "number"
    if isinstance(x, np.ndarray):
        return "array"
    if isinstance(x, list | tuple):
        return "sequence"
    return type(x).__name__


def _join(prefix: str, part: str) -> str:
    return f"{prefix}, {part}" if prefix else part


def first_mismatch(
    expected,
    got,
    tol: Tolerance = Tolerance(),
    *,
    where: str = "",
    labels=(),
    axis0: str | None = None,
) -> Mismatch | None:
    """The first place where ``got`` differs from ``expected``, or ``None`` if they agree.

    ``labels`` names the items of nested sequences, one entry per level: a
    string ``"batch"`` gives "batch 0", "batch 1", ...; a tuple such as
    ``("w", "b")`` names each item; ``None`` gives "item 0", ... ``axis0``
    names the first axis of an array (e.g. ``"step"``): a mismatch in a
    trajectory of shape (K+1, \\*shape) is then reported as "step t, element (i, j)".
    """
    ke, kg = _kind(expected), _kind(got)
    if ke == "number" and kg == "array" and np.shape(got) == ():
        got, kg = got[()], "number"
    if ke == "bool" and kg == "array" and np.shape(got) == () and got.dtype == bool:
        got, kg = bool(got), "bool"
    if ke == "sequence" and kg == "array" and np.ndim(got) >= 1:
        got, kg = _as_sequence(got), "sequence"  # an array where a sequence is accepted
    if ke == "bool" or kg == "bool":
        if ke != kg or bool(expected) != bool(got):
            return Mismatch(
                where,
                _fmt(bool(expected) if ke == "bool" else expected),
                _fmt(got),
                "wrong answer" if ke == kg else "wrong type",
            )
        return None
    if ke != kg:
        return Mismatch(
            where,
            f"a {ke}" if ke != "None" else "None",
            f"a {kg}" + (f" ({_fmt(got)})" if kg in ("number", "None") else ""),
            "wrong type",
        )
    if ke == "None":
        return None
    if ke == "number":
        if isinstance(expected, int | np.integer) and not isinstance(got, int | np.integer):
            return Mismatch(where, f"an int ({expected})", f"a float ({_fmt(got)})", "wrong type")
        ok = bool(close_mask(np.float64(expected), np.float64(got), tol))
        return None if ok else Mismatch(where, _fmt(float(expected)), _fmt(float(got)))
    if ke == "array":
        return _array_mismatch(expected, got, tol, where, axis0)
    if ke == "sequence":
        return _sequence_mismatch(expected, got, tol, where, tuple(labels))
    return None if expected == got else Mismatch(where, _fmt(expected), _fmt(got))


def _as_sequence(a: np.ndarray) -> list:
    """An array as the list of its items (NumPy booleans and numbers as Python ones)."""
    return [_as_sequence(v) if isinstance(v, np.ndarray) else v.item() for v in a]


def _sequence_mismatch(expected, got, tol, where, labels) -> Mismatch | None:
    names, deeper = (labels[0], labels[1:]) if labels else (None, ())
    for i, (e, g) in enumerate(zip(expected, got)):
        found = first_mismatch(e, g, tol, where=_join(where, _label(names, i)), labels=deeper)
        if found is not None:
            return found
    if len(expected) != len(got):
        what = (
            f"{names}es"
            if isinstance(names, str) and names.endswith("h")
            else (f"{names}s" if isinstance(names, str) else "items")
        )
        return Mismatch(where, f"{len(expected)} {what}", f"{len(got)}", "wrong number of items")
    return None


def _label(names, i: int) -> str:
    if isinstance(names, str):
        return f"{names} {i}"
    if names and i < len(names):
        return str(names[i])
    return f"item {i}"


def _array_mismatch(expected, got, tol, where, axis0) -> Mismatch | None:
    if expected.shape != got.shape:
        return Mismatch(where, f"shape {expected.shape}", f"shape {got.shape}", "wrong shape")
    if expected.size == 0:
        return None
    if got.dtype.kind not in "biuf" or (expected.dtype.kind == "f" and got.dtype != expected.dtype):
        return Mismatch(
            where,
            f"dtype {expected.dtype}",
            f"dtype {got.dtype}",
            "wrong dtype (the contract: the result has the dtype of the input, "
            "float32 in gives float32 out)"
            if expected.dtype.kind == "f"
            else "wrong dtype",
        )
    bad = _logical_not(close_mask(expected.astype(np.float64), got.astype(np.float64), tol))
    flat = np.flatnonzero(bad)
    if flat.size == 0:
        return None
    index = tuple(int(i) for i in np.unravel_index(int(flat[0]), expected.shape))
    return Mismatch(
        _join(where, _describe_index(index, axis0)), _fmt(expected[index]), _fmt(got[index])
    )


def _describe_index(index: tuple[int, ...], axis0: str | None) -> str:
    if axis0 is not None:
        head, rest = index[0], index[1:]
        if not rest:
            return f"{axis0} {head}"
        element = rest[0] if len(rest) == 1 else rest
        return f"{axis0} {head}, element {element}"
    if len(index) == 1:
        return f"element {index[0]}"
    return f"element {index}"


def distance(expected, got) -> float:
    """A scale-free distance between two outputs: 0 when equal, inf when shapes differ.

    Used to rank catalogued mistakes by how close their output is to a student's:
    the largest :math:`|x - y| / (1 + |y|)` over all numbers, 1 for a differing
    boolean, inf for a differing structure.
    """
    ke, kg = _kind(expected), _kind(got)
    if ke == "number" and kg == "array" and np.shape(got) == ():
        got, kg = got[()], "number"
    if ke == "sequence" and kg == "array" and np.ndim(got) >= 1:
        got, kg = _as_sequence(got), "sequence"
    if ke != kg:
        return float("inf")
    if ke == "None":
        return 0.0
    if ke == "bool":
        return float(bool(expected) != bool(got))
    if ke in ("number", "array"):
        e, g = np.asarray(expected, np.float64), np.asarray(got, np.float64)
        if e.shape != g.shape:
            return float("inf")
        if e.size == 0:
            return 0.0
        with np.errstate(all="ignore"):
            d = _absolute(_subtract(g, e)) / (1.0 + _absolute(e))
        d = np.where(close_mask(e, g, Tolerance(0.0, 0.0)), 0.0, d)  # equal infs and NaNs agree
        return float(np.nan_to_num(d, nan=np.inf).max())
    if ke == "sequence":
        if len(expected) != len(got):
            return float("inf")
        return max((distance(e, g) for e, g in zip(expected, got)), default=0.0)
    return 0.0 if expected == got else float("inf")
