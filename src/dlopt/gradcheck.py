"""A finite-difference gradient checker (the one every from-scratch backward pass needs).

Central differences approximate each partial derivative with an error of order
:math:`\\varepsilon^2` (plus round-off of order :math:`10^{-16}/\\varepsilon`):

.. math::

    \\frac{\\partial f}{\\partial x_i} \\approx
    \\frac{f(x + \\varepsilon e_i) - f(x - \\varepsilon e_i)}{2\\varepsilon} .

With :math:`\\varepsilon = 10^{-6}` in float64 a correct backward pass agrees
to a relative error of about :math:`10^{-8}` or better; a wrong one is off by
order one. Float32 has too few digits for this, so the checker refuses it.
"""

from __future__ import annotations

import copy

import numpy as np

from dlopt._validation import validate_real, validate_rng
from dlopt.layers import Module

__all__ = ["numerical_gradient", "relative_error", "check_layer"]


def _require_float64(name: str, x) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        got = type(x).__name__ if not isinstance(x, np.ndarray) else f"dtype {x.dtype}"
        raise TypeError(
            f"{name} must be a float64 NumPy array for finite differences, got {got} "
            "(float32 has too few digits: use .astype(np.float64))"
        )


def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference gradient of the scalar function ``f`` at the float64 array ``x``.

    ``f`` is called as ``f(x)`` with ``x`` perturbed **in place** one entry at a time
    (so ``f`` may also read ``x`` from its closure); every entry is restored, even if
    ``f`` raises. Costs :math:`2\\,\\text{x.size}` calls. Returns an array shaped like ``x``.
    """
    _require_float64("x", x)
    eps = validate_real("eps", eps, low=0.0, low_open=True)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        original = x[i]
        try:
            x[i] = original + eps
            f_plus = _scalar(f(x))
            x[i] = original - eps
            f_minus = _scalar(f(x))
        finally:
            x[i] = original
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def _scalar(value) -> float:
    value = np.asarray(value)
    if value.size != 1:
        raise TypeError(f"f must return a scalar, got an array of shape {value.shape}")
    return float(value.reshape(()))


def relative_error(a, b) -> float:
    """:math:`\\max_i |a_i - b_i| \\,/\\, \\max(\\max_i (|a_i| + |b_i|),\\ \\text{tiny})`.

    The largest absolute difference relative to the largest magnitude, both over
    the whole array (not entry by entry, so entries that are zero up to round-off do
    not blow the ratio up). 0 for equal arrays, at most 1, symmetric, and unchanged
    when both arrays are scaled; ``tiny`` (the smallest normal float64) only avoids
    0/0 when both are zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(a) + np.abs(b))), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b))) / scale


def check_layer(
    layer: Module, x: np.ndarray, *, rng: np.random.Generator, eps: float = 1e-6
) -> dict[str, float]:
    """Relative errors of a layer's backward pass against finite differences.

    The scalar probed is the random projection :math:`L = \\sum y \\odot r` of the
    output :math:`y` = ``layer.forward(x)``, with :math:`r \\sim \\mathcal N(0, 1)` drawn
    from ``rng``: then :math:`\\partial L/\\partial y = r`, so ``layer.backward(r)``
    must equal :math:`\\partial L/\\partial x`, and ``layer.grads`` the derivatives
    with respect to the parameters. Returns ``{"input": err, "<param name>": err, ...}``
    for the input and every trainable parameter (names of ``named_parameters()``).

    The layer passed in is **not modified**. Every evaluation of :math:`L` runs on a
    fresh deep copy of it, taken before anything else: the copies start from the same
    state, so a random layer in train mode (``Dropout``) draws the **same mask** from its
    copied ``rng`` in every evaluation (the mask is fixed, as the finite differences
    need), and BatchNorm's running statistics are left as they were.

    Float64 only: ``x`` and every parameter must be float64 (``TypeError`` otherwise).
    """
    if not isinstance(layer, Module):
        raise TypeError(f"layer must be a dlopt.layers.Module, got {type(layer).__name__}")
    _require_float64("x", x)
    for name, value in layer.named_parameters():
        _require_float64(f"parameter {name!r}", value)
    rng = validate_rng(rng)
    eps = validate_real("eps", eps, low=0.0, low_open=True)

    pristine = copy.deepcopy(layer)
    x = x.copy()
    analytic = copy.deepcopy(pristine)
    r = rng.standard_normal(analytic.forward(x).shape)
    analytic_input = analytic.backward(r)
    analytic_grads = {name: module.grads[key] for name, module, key in analytic.parameter_slots()}

    def projected_loss(_) -> float:
        return float(np.sum(copy.deepcopy(pristine).forward(x) * r))

    errors = {"input": relative_error(analytic_input, numerical_gradient(projected_loss, x, eps))}
    for name, module, key in pristine.parameter_slots():
        if module.frozen:
            continue
        numeric = numerical_gradient(projected_loss, module.params[key], eps)
        errors[name] = relative_error(analytic_grads[name], numeric)
    return errors
