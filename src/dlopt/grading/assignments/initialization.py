r"""The initialization assignment: Fans, the Xavier and Kaiming scales, and drawing a weight.

Everything the exercises of ``exercises/source/initialization/initialization.ipynb`` need,
in one place: the **references** (thin calls into the package, which ``tests/`` hold to
PyTorch), the **cases** (how visible and hidden problems are drawn; every random draw comes
from the generator passed in), the :data:`EXERCISES` registered with their contracts, and
the catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this
matches ..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dlopt import init
from dlopt.grading.core import (
    FLOAT64,
    Case,
    Exercise,
    _call_names,
    _m,
)
from dlopt.grading.tasks import CallTask, Rng

# --------------------------------------------------------------------------- references


def fans(shape):
    r"""``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``:
    :math:`n_\text{in} = \text{shape}[1]\,r`, :math:`n_\text{out} = \text{shape}[0]\,r`,
    :math:`r` the product of the kernel dimensions (1 for a dense layer)."""
    return init.calculate_fan_in_and_fan_out(shape)


def xavier_scale(shape, *, gain, distribution):
    r"""Xavier's bound :math:`g\sqrt{6/(n_\text{in}+n_\text{out})}` of :math:`U(-b, b)`
    (``"uniform"``) or std :math:`g\sqrt{2/(n_\text{in}+n_\text{out})}` (``"normal"``)."""
    if distribution == "uniform":
        return init.xavier_bound(shape, gain)
    return init.xavier_std(shape, gain)


def kaiming_scale(shape, *, gain, mode, distribution):
    r"""Kaiming's bound :math:`g\sqrt{3/n}` (``"uniform"``) or std :math:`g/\sqrt n`
    (``"normal"``), :math:`n` the fan of ``mode`` (``"fan_in"`` or ``"fan_out"``)."""
    # the "linear" nonlinearity has gain 1, so the given gain multiplies torch's scale
    if distribution == "uniform":
        return gain * init.kaiming_bound(shape, mode=mode, nonlinearity="linear")
    return gain * init.kaiming_std(shape, mode=mode, nonlinearity="linear")


def sample_weight(shape, scale, *, distribution, rng):
    r"""``rng.uniform(-scale, scale, shape)`` or ``rng.normal(0, scale, shape)``."""
    if distribution == "uniform":
        return init.uniform(shape, -scale, scale, rng=rng)
    return init.normal(shape, 0.0, scale, rng=rng)


# --------------------------------------------------------------------------- cases


def _weight_shapes(rng, n: int, largest: int = 300) -> list[tuple[int, ...]]:
    """Dense (out, in) and convolutional (out, in, *kernel) shapes, fan-in != fan-out."""
    shapes = []
    while len(shapes) < n:
        kernel = tuple(int(k) for k in rng.integers(1, 6, len(shapes) % 4))
        out, inp = (int(k) for k in rng.integers(1, largest, 2))
        if out != inp:
            shapes.append((out, inp, *kernel))
    return shapes


def _scale_calls(rng, n: int, with_mode: bool) -> list[tuple[list, dict]]:
    calls = []
    for i, shape in enumerate(_weight_shapes(rng, n)):
        gain = (1.0, math.sqrt(2.0), 5.0 / 3.0, float(rng.uniform(0.5, 3.0)))[i % 4]
        kwargs = {"gain": gain, "distribution": ("uniform", "normal")[i % 2]}
        if with_mode:
            kwargs["mode"] = ("fan_in", "fan_in", "fan_out", "fan_out")[(i // 2) % 4]
        calls.append(([shape], kwargs))
    return calls


def _init_cases(function: str, make_calls: Callable, stand_ins=()) -> Callable:
    """One visible case of 8 calls, three hidden cases of 12 calls each."""
    note = "; the reference fans stands in for yours" if stand_ins else ""

    def make(rng, hidden: bool) -> list[Case]:
        cases = []
        for _ in range(3 if hidden else 1):
            calls = make_calls(rng, 12 if hidden else 8)
            cases.append(
                Case(
                    f"{len(calls)} weight shapes, dense and convolutional{note}",
                    CallTask(function, calls, stand_ins=list(stand_ins)),
                    FLOAT64,
                    labels=(_call_names(function, calls),),
                )
            )
        return cases

    return make


def _sample_calls(rng, n: int) -> list[tuple[list, dict]]:
    return [
        (
            [shape, float(rng.uniform(0.01, 0.5))],
            {"distribution": ("uniform", "normal")[i % 2], "rng": Rng(int(rng.integers(2**31)))},
        )
        for i, shape in enumerate(_weight_shapes(rng, n, largest=12))
    ]


EXERCISES: list[Exercise] = [
    Exercise(
        "fans",
        "initialization",
        _init_cases("fans", lambda rng, n: [([shape], {}) for shape in _weight_shapes(rng, n)]),
        reference=fans,
    ),
    Exercise(
        "xavier_scale",
        "initialization",
        _init_cases("xavier_scale", lambda rng, n: _scale_calls(rng, n, with_mode=False), ["fans"]),
        reference=xavier_scale,
    ),
    Exercise(
        "kaiming_scale",
        "initialization",
        _init_cases("kaiming_scale", lambda rng, n: _scale_calls(rng, n, with_mode=True), ["fans"]),
        reference=kaiming_scale,
    ),
    Exercise(
        "sample_weight",
        "initialization",
        _init_cases("sample_weight", _sample_calls),
        reference=sample_weight,
    ),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "fans",
        "fans_swapped",
        "fan-in and fan-out swapped (a weight has shape (out, in, *kernel): "
        "fan_in = shape[1] * receptive field)",
        """
        def fans(shape):
            r = math.prod(shape[2:])
            return shape[0] * r, shape[1] * r
        """,
    ),
    _m(
        "fans",
        "fans_without_receptive_field",
        "fans that ignore the kernel: a convolution's fan-in is in_channels times the "
        "product of the kernel sizes",
        """
        def fans(shape):
            return shape[1], shape[0]
        """,
    ),
    _m(
        "xavier_scale",
        "xavier_as_one_over_fan_in",
        "Xavier computed as 1 / fan_in (that is LeCun's scale; Xavier averages the fans: "
        "2 / (fan_in + fan_out))",
        """
        def xavier_scale(shape, *, gain, distribution):
            fan_in = shape[1] * math.prod(shape[2:])
            std = gain * math.sqrt(1.0 / fan_in)
            return math.sqrt(3.0) * std if distribution == "uniform" else std
        """,
    ),
    _m(
        "xavier_scale",
        "xavier_uniform_without_sqrt3",
        "a uniform bound without the factor sqrt(3) (U(-b, b) has std b / sqrt(3), so "
        "b = sqrt(3) * std)",
        """
        def xavier_scale(shape, *, gain, distribution):
            r = math.prod(shape[2:])
            return gain * math.sqrt(2.0 / (shape[0] * r + shape[1] * r))
        """,
    ),
    _m(
        "xavier_scale",
        "xavier_variance_for_std",
        "the variance returned where the standard deviation was asked",
        """
        def xavier_scale(shape, *, gain, distribution):
            r = math.prod(shape[2:])
            var = gain**2 * 2.0 / (shape[0] * r + shape[1] * r)
            return math.sqrt(3.0 * var) if distribution == "uniform" else var
        """,
    ),
    _m(
        "kaiming_scale",
        "kaiming_fan_out_for_fan_in",
        "Kaiming with the fan-out where the fan-in was asked (and the other way round): "
        "a weight has shape (out, in, *kernel)",
        """
        def kaiming_scale(shape, *, gain, mode, distribution):
            r = math.prod(shape[2:])
            fan = shape[0] * r if mode == "fan_in" else shape[1] * r
            std = gain / math.sqrt(fan)
            return math.sqrt(3.0) * std if distribution == "uniform" else std
        """,
    ),
    _m(
        "kaiming_scale",
        "kaiming_uniform_without_sqrt3",
        "a uniform bound without the factor sqrt(3) (U(-b, b) has std b / sqrt(3), so "
        "b = sqrt(3) * std)",
        """
        def kaiming_scale(shape, *, gain, mode, distribution):
            r = math.prod(shape[2:])
            fan = shape[1] * r if mode == "fan_in" else shape[0] * r
            return gain / math.sqrt(fan)
        """,
    ),
    _m(
        "kaiming_scale",
        "kaiming_variance_for_std",
        "the variance returned where the standard deviation was asked",
        """
        def kaiming_scale(shape, *, gain, mode, distribution):
            r = math.prod(shape[2:])
            fan = shape[1] * r if mode == "fan_in" else shape[0] * r
            var = gain**2 / fan
            return math.sqrt(3.0 * var) if distribution == "uniform" else var
        """,
    ),
    _m(
        "sample_weight",
        "sample_uniform_from_zero",
        "uniform samples on [0, b] instead of [-b, b] (every weight positive)",
        """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(0, scale, shape)
            return rng.normal(0, scale, shape)
        """,
    ),
    _m(
        "sample_weight",
        "sample_normal_with_scale_as_variance",
        "normal samples with the scale taken as the variance (rng.normal takes the standard "
        "deviation)",
        """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(-scale, scale, shape)
            return rng.normal(0, math.sqrt(scale), shape)
        """,
    ),
]
