r"""Weight initializers: the bounds and standard deviations of ``torch.nn.init``.

Every initializer returns a **new** NumPy array of the requested ``shape`` and
draws its randomness from a keyword-only ``rng: numpy.random.Generator``. The
names are those of ``torch.nn.init`` without the trailing underscore
(``xavier_uniform`` for ``torch.nn.init.xavier_uniform_``).

Shapes follow torch's convention ``(fan_out, fan_in, *kernel)``: a dense layer
computing ``x @ W.T`` has ``W.shape == (n_out, n_in)``, a 2-D convolution has
``(C_out, C_in, k_h, k_w)``. With receptive field :math:`r = \prod` kernel,

.. math::

    n_\text{in} = \text{shape}[1] \cdot r, \qquad
    n_\text{out} = \text{shape}[0] \cdot r .

The scales (``xavier_std``, ``xavier_bound``, ``kaiming_std``,
``kaiming_bound``) are exposed on their own so a page can show the number it
talks about. A uniform distribution :math:`U(-b, b)` has standard deviation
:math:`b/\sqrt{3}`, so every ``*_bound`` is :math:`\sqrt{3}` times its ``*_std``.
Samples are always drawn in float64 and then cast to ``dtype``, so the same
seed gives the same numbers (up to rounding) in float32 and float64.
"""

from __future__ import annotations

import math
from numbers import Real

import numpy as np

from dlopt._validation import validate_choice, validate_int, validate_real, validate_rng

_LINEAR_FNS = frozenset(
    {
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
    }
)
_FAN_MODES = ("fan_in", "fan_out")


# --------------------------------------------------------------------------- gains and fans


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    r"""The gain :math:`g` that ``torch.nn.init.calculate_gain`` recommends for a nonlinearity.

    ============================  ==========================================
    nonlinearity                  gain :math:`g`
    ============================  ==========================================
    linear, conv*, sigmoid        :math:`1`
    tanh                          :math:`5/3`
    relu                          :math:`\sqrt{2}`
    leaky_relu (slope ``param``)  :math:`\sqrt{2 / (1 + \text{slope}^2)}`, slope 0.01 by default
    selu                          :math:`3/4`
    ============================  ==========================================

    ``param`` is only read for ``leaky_relu`` (as in torch). Unknown names raise
    ``ValueError``.
    """
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else _validate_slope(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    known = sorted(_LINEAR_FNS | {"tanh", "relu", "leaky_relu", "selu"})
    raise ValueError(f"Unsupported nonlinearity {nonlinearity!r} (expected one of {known})")


def _validate_slope(param) -> float:
    # bool is an int subclass; torch rejects it too
    if isinstance(param, bool) or not isinstance(param, Real):
        raise ValueError(f"negative_slope {param!r} not a valid number")
    return float(param)


def calculate_fan_in_and_fan_out(shape) -> tuple[int, int]:
    r"""``(fan_in, fan_out)`` of a weight of shape ``(fan_out, fan_in, *kernel)``.

    :math:`n_\text{in} = \text{shape}[1] \cdot r` and
    :math:`n_\text{out} = \text{shape}[0] \cdot r` with :math:`r` the product of
    the kernel dimensions (1 for a dense layer). Like torch, shapes with fewer
    than two dimensions raise ``ValueError``.
    """
    shape = _validate_shape(shape)
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for a shape with fewer than 2 dimensions, "
            f"got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _validate_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a sequence of ints, got {shape!r}") from None
    return tuple(validate_int(f"shape[{i}]", d, low=0) for i, d in enumerate(dims))


def _validate_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype (float32 or float64), got {dtype}")
    return dtype


def _fan(shape, mode: str) -> int:
    validate_choice("mode", mode, _FAN_MODES)
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"Cannot compute {mode} of a shape with a zero dimension: {tuple(shape)}")
    return fan


# --------------------------------------------------------------------------- scales


def xavier_std(shape, gain: float = 1.0) -> float:
    r"""Glorot & Bengio (2010): :math:`\sigma = g \sqrt{2 / (n_\text{in} + n_\text{out})}`.

    Keeping :math:`\operatorname{Var}(W) = g^2 \cdot 2/(n_\text{in} + n_\text{out})`
    is the compromise between preserving the variance of the activations
    (:math:`n_\text{in} \operatorname{Var}(W) = 1`) and of the gradients
    (:math:`n_\text{out} \operatorname{Var}(W) = 1`).
    """
    gain = validate_real("gain", gain, low=0.0)
    fan_in, fan_out = calculate_fan_in_and_fan_out(shape)
    if fan_in + fan_out == 0:
        raise ValueError(f"Cannot compute the Xavier scale of an empty shape: {tuple(shape)}")
    return gain * math.sqrt(2.0 / float(fan_in + fan_out))


def xavier_bound(shape, gain: float = 1.0) -> float:
    r"""Bound :math:`b = g \sqrt{6 / (n_\text{in} + n_\text{out})}` of Xavier's :math:`U(-b, b)`.

    It equals :math:`\sqrt{3}` times ``xavier_std``.
    """
    return math.sqrt(3.0) * xavier_std(shape, gain)


def kaiming_std(
    shape, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> float:
    r"""He et al. (2015): :math:`\sigma = g / \sqrt{n}` with :math:`n` the fan of ``mode``.

    :math:`g` is ``calculate_gain(nonlinearity, a)``. torch's defaults,
    ``nonlinearity="leaky_relu"`` with ``a=0``, give :math:`g = \sqrt{2}`, the
    ReLU gain: :math:`\operatorname{Var}(W) = 2/n_\text{in}` compensates for
    ReLU zeroing half of its input. ``mode="fan_in"`` preserves the variance of
    the activations in the forward pass, ``"fan_out"`` that of the gradients in
    the backward pass.
    """
    fan = _fan(shape, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_bound(
    shape, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> float:
    r"""Bound :math:`b = g \sqrt{3 / n}` of Kaiming's :math:`U(-b, b)` (see ``kaiming_std``)."""
    return math.sqrt(3.0) * kaiming_std(shape, a, mode, nonlinearity)


# --------------------------------------------------------------------------- plain distributions


def uniform(shape, a: float = 0.0, b: float = 1.0, *, rng, dtype=np.float64) -> np.ndarray:
    r"""Samples of :math:`U(a, b)` with the given ``shape``."""
    a = validate_real("a", a)
    b = validate_real("b", b)
    if a > b:
        raise ValueError(f"uniform expects a <= b, got a={a} > b={b}")
    shape, dtype = _validate_shape(shape), _validate_dtype(dtype)
    return validate_rng(rng).uniform(a, b, size=shape).astype(dtype)


def normal(shape, mean: float = 0.0, std: float = 1.0, *, rng, dtype=np.float64) -> np.ndarray:
    r"""Samples of :math:`\mathcal{N}(\text{mean}, \text{std}^2)` with the given ``shape``."""
    mean = validate_real("mean", mean)
    std = validate_real("std", std, low=0.0)
    shape, dtype = _validate_shape(shape), _validate_dtype(dtype)
    return validate_rng(rng).normal(mean, std, size=shape).astype(dtype)


def constant(shape, val: float, *, dtype=np.float64) -> np.ndarray:
    r"""An array of ``shape`` filled with ``val``."""
    val = validate_real("val", val)
    return np.full(_validate_shape(shape), val, dtype=_validate_dtype(dtype))


def zeros(shape, *, dtype=np.float64) -> np.ndarray:
    r"""An array of zeros (biases; never for weights, which would stay symmetric)."""
    return constant(shape, 0.0, dtype=dtype)


def ones(shape, *, dtype=np.float64) -> np.ndarray:
    r"""An array of ones (e.g. BatchNorm's scale :math:`\gamma`)."""
    return constant(shape, 1.0, dtype=dtype)


# --------------------------------------------------------------------------- scaled initializers


def xavier_uniform(shape, gain: float = 1.0, *, rng, dtype=np.float64) -> np.ndarray:
    r"""Glorot uniform: :math:`W \sim U(-b, b)`,
    :math:`b = g\sqrt{6/(n_\text{in}+n_\text{out})}`.
    """
    bound = xavier_bound(shape, gain)
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def xavier_normal(shape, gain: float = 1.0, *, rng, dtype=np.float64) -> np.ndarray:
    r"""Glorot normal: :math:`W \sim \mathcal{N}(0, \sigma^2)`,
    :math:`\sigma = g\sqrt{2/(n_\text{in}+n_\text{out})}`.
    """
    return normal(shape, 0.0, xavier_std(shape, gain), rng=rng, dtype=dtype)


def kaiming_uniform(
    shape,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng,
    dtype=np.float64,
) -> np.ndarray:
    r"""He uniform: :math:`W \sim U(-b, b)`, :math:`b = g\sqrt{3/n}` (see ``kaiming_std``)."""
    bound = kaiming_bound(shape, a, mode, nonlinearity)
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


def kaiming_normal(
    shape,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    *,
    rng,
    dtype=np.float64,
) -> np.ndarray:
    r"""He normal: :math:`W \sim \mathcal{N}(0, \sigma^2)`, :math:`\sigma = g/\sqrt{n}`."""
    return normal(shape, 0.0, kaiming_std(shape, a, mode, nonlinearity), rng=rng, dtype=dtype)


def lecun_normal(shape, *, rng, dtype=np.float64) -> np.ndarray:
    r"""LeCun normal: :math:`W \sim \mathcal{N}(0, 1/n_\text{in})`. Not in ``torch.nn.init``.

    It is Kaiming with gain 1 (``nonlinearity="linear"``), the scale SELU
    networks need. Keras and JAX call a *truncated* normal with this variance
    ``lecun_normal``; this one is not truncated.
    """
    return kaiming_normal(shape, mode="fan_in", nonlinearity="linear", rng=rng, dtype=dtype)


def lecun_uniform(shape, *, rng, dtype=np.float64) -> np.ndarray:
    r"""LeCun uniform: :math:`W \sim U(-b, b)`, :math:`b = \sqrt{3/n_\text{in}}`. Not in torch.

    The same variance :math:`1/n_\text{in}` as ``lecun_normal``.
    """
    return kaiming_uniform(shape, mode="fan_in", nonlinearity="linear", rng=rng, dtype=dtype)
