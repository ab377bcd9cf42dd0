r"""The activations assignment.

Sigmoid, tanh and ReLU layers forward and backward, and the softmax cross-entropy.

Everything the exercises of ``exercises/source/activations/activations.ipynb`` need, in one
place: the **references** (thin calls into the package, which ``tests/`` hold to PyTorch),
the **cases** (how visible and hidden problems are drawn; every random draw comes from the
generator passed in), the :data:`EXERCISES` registered with their contracts, and the
catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this matches
..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlopt import layers, losses
from dlopt.grading.compare import close_mask
from dlopt.grading.core import (
    FLOAT32,
    FLOAT64,
    Case,
    Exercise,
    _m,
)
from dlopt.grading.tasks import CallTask

# --------------------------------------------------------------------------- references


def _activation(layer, x, grad_out):
    """Forward then backward through ``layer``: ``(y, grad_x)``, both of x's shape and dtype,
    new arrays (dropout in evaluation mode would hand back ``x`` and ``grad_out`` themselves)."""
    y = layer(x)
    grad_x = layer.backward(np.asarray(grad_out, dtype=y.dtype))
    return np.array(y, copy=True), np.array(grad_x, copy=True)


def sigmoid_layer(x, grad_out):
    r""":math:`y = \sigma(x)` and :math:`\partial L/\partial x = g \odot y(1-y)`."""
    return _activation(layers.Sigmoid(), x, grad_out)


def tanh_layer(x, grad_out):
    r""":math:`y = \tanh x` and :math:`\partial L/\partial x = g \odot (1-y^2)`."""
    return _activation(layers.Tanh(), x, grad_out)


def relu_layer(x, grad_out):
    r""":math:`y = \max(x, 0)` and :math:`\partial L/\partial x = g \odot [x > 0]`
    (0 at :math:`x = 0`, as PyTorch)."""
    return _activation(layers.ReLU(), x, grad_out)


def softmax_cross_entropy(logits, targets):
    r"""Mean cross-entropy of logits :math:`z` (N, C) and class indices :math:`y` (N,), and
    :math:`\partial L/\partial z = (\operatorname{softmax}(z) - \text{onehot}(y)) / N`."""
    loss = losses.CrossEntropyLoss()
    return loss(logits, targets), loss.backward()


# --------------------------------------------------------------------------- cases


_ACTIVATION_SHAPES = [(6,), (3, 4), (2, 3, 4)]


_LARGE_INPUTS = (15.0, 25.0, 40.0, 100.0, 750.0, 1e3, 1e4, 1e6)


def _activation_cases(function: str) -> Callable:
    """Cases for an elementwise layer ``f(x, grad_out) -> (y, grad_x)``: 3 visible, 6 hidden.

    ``x`` has rank 1, 2 and 3 in turn; each holds a few exact zeros (where ReLU's
    gradient is decided), ordinary values up to about 6 in size, and large ones
    of both signs (:data:`_LARGE_INPUTS`, where exp overflows and clipping shows);
    one visible and two hidden cases are float32.
    """

    def make(rng, hidden: bool) -> list[Case]:
        n = 6 if hidden else 3
        cases = []
        for i in range(n):
            rank = i % 3 + 1
            shape = (
                (
                    tuple(int(k) for k in rng.integers(2, 5, rank))
                    if rank > 1
                    else (int(rng.integers(6, 13)),)
                )
                if hidden
                else _ACTIVATION_SHAPES[i]
            )
            dtype = np.float32 if i in ((1, 4) if hidden else (2,)) else np.float64
            calls, largest = [], 0.0
            for _ in range(2):  # two calls: a buffer reused across calls shows
                x = (rng.uniform(0.5, 3.0) * rng.standard_normal(shape)).astype(dtype)
                where = rng.permutation(x.size)
                n_zero, n_large = max(1, x.size // 5), max(2, x.size // 3)
                x.flat[where[:n_zero]] = 0.0
                large = rng.choice(_LARGE_INPUTS, n_large) * rng.choice([-1.0, 1.0], n_large)
                x.flat[where[n_zero : n_zero + n_large]] = large
                largest = max(largest, float(np.abs(large).max()))
                calls.append(([x, rng.standard_normal(shape).astype(dtype)], {}))
            task = CallTask(function, calls)
            label = (
                f"x of shape {shape}, {np.dtype(dtype).name}, with exact zeros and "
                f"large values up to {largest:g} in size; two calls"
            )
            cases.append(
                Case(
                    label,
                    task,
                    FLOAT32 if dtype == np.float32 else FLOAT64,
                    labels=(
                        tuple(f"call {j + 1}: {function}(x, grad_out)" for j in range(2)),
                        ("y", "grad_x"),
                    ),
                    annotate=_where_in_x,
                )
            )
        return cases

    return make


def _where_in_x(task: CallTask, expected, got) -> str | None:
    """Which input the first differing element of an elementwise layer belongs to."""
    for (args, _), e_call, g_call in zip(task.calls, expected, got):
        x = args[0]
        tol = FLOAT32 if x.dtype == np.float32 else FLOAT64
        for e, g in zip(e_call, g_call if isinstance(g_call, list) else []):
            if not isinstance(g, np.ndarray) or g.shape != x.shape:
                return None
            bad = ~close_mask(e.astype(np.float64), g.astype(np.float64), tol)
            if bad.any():
                value = float(x.flat[int(np.flatnonzero(bad)[0])])
                if value == 0.0:
                    return "There x = 0 exactly: what does your formula give at x = 0?"
                if abs(value) > 10:
                    return (
                        f"There x = {value:g}, a large input: does your formula overflow "
                        "(exp of a large number is inf, and inf / inf is nan) or clip x?"
                    )
                return f"There x = {value:.6g}."
    return None


def _cross_entropy_cases(rng, hidden: bool) -> list[Case]:
    """Logits (N, C) with N >= 2; in every other case one row is shifted by about +-800
    (exp overflows there unless the row's maximum is subtracted first); in the fourth hidden
    case no target is the last class C - 1."""
    sizes = (
        [(4, 3), (3, 5), (2, 4)]
        if not hidden
        else [(int(n), int(c)) for n, c in zip(rng.integers(2, 17, 6), rng.integers(2, 11, 6))]
    )
    cases = []
    for i, (n, c) in enumerate(sizes):
        dtype = np.float32 if i == (2 if hidden else 1) else np.float64
        logits = rng.uniform(0.5, 4.0) * rng.standard_normal((n, c))
        large = i % 2 == 0
        if large:
            logits[int(rng.integers(n))] += rng.choice([-1.0, 1.0]) * rng.uniform(700, 900)
        # in one hidden case the last class is nobody's target: C comes from the logits'
        # shape, not from the largest target
        targets = rng.integers(c - 1 if hidden and i == 3 else c, size=n)
        task = CallTask("softmax_cross_entropy", [([logits.astype(dtype), targets], {})])
        label = f"N = {n} samples, C = {c} classes, {np.dtype(dtype).name}" + (
            ", one row of very large logits" if large else ""
        )
        cases.append(
            Case(
                label,
                task,
                FLOAT32 if dtype == np.float32 else FLOAT64,
                labels=(("softmax_cross_entropy(logits, targets)",), ("the loss", "the gradient")),
            )
        )
    return cases


EXERCISES: list[Exercise] = [
    Exercise(
        "sigmoid_layer", "activations", _activation_cases("sigmoid_layer"), reference=sigmoid_layer
    ),
    Exercise("tanh_layer", "activations", _activation_cases("tanh_layer"), reference=tanh_layer),
    Exercise("relu_layer", "activations", _activation_cases("relu_layer"), reference=relu_layer),
    Exercise(
        "softmax_cross_entropy",
        "activations",
        _cross_entropy_cases,
        reference=softmax_cross_entropy,
    ),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "sigmoid_layer",
        "sigmoid_derivative_of_output",
        "a sigmoid whose derivative is taken at the output a second time "
        "(sigma(y)(1 - sigma(y)) with y = sigma(x), instead of y(1 - y))",
        """
        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-x))
            s = 1 / (1 + np.exp(-y))
            return y, grad_out * s * (1 - s)
        """,
    ),
    _m(
        "sigmoid_layer",
        "sigmoid_clipped_input",
        "a sigmoid that clips its input to [-10, 10] against overflow: at x = -30 the sigmoid "
        "is about 1e-13, not sigmoid(-10) = 4.5e-5 (1 / (1 + exp(-x)) is right without "
        "clipping: exp overflows to inf, and 1 / inf is 0)",
        """
        def sigmoid_layer(x, grad_out):
            s = 1.0 / (1.0 + np.exp(-np.clip(x, -10.0, 10.0)))
            return s, grad_out * s * (1.0 - s)
        """,
    ),
    _m(
        "sigmoid_layer",
        "sigmoid_in_float64",
        "a layer that computes in float64 whatever the input's dtype (float32 in must give "
        "float32 out)",
        """
        def sigmoid_layer(x, grad_out):
            s = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
            return s, np.asarray(grad_out, dtype=np.float64) * s * (1.0 - s)
        """,
    ),
    _m(
        "tanh_layer",
        "tanh_derivative_at_input",
        "a tanh derivative written with the input instead of the output "
        "(1 - x**2 instead of 1 - tanh(x)**2)",
        """
        def tanh_layer(x, grad_out):
            y = np.tanh(x)
            return y, grad_out * (1 - x**2)
        """,
    ),
    _m(
        "tanh_layer",
        "tanh_by_exponentials",
        "tanh by its exponential formula (e^x - e^-x) / (e^x + e^-x): for large |x| both "
        "exponentials overflow and inf / inf is nan (np.tanh does not overflow)",
        """
        def tanh_layer(x, grad_out):
            ep, em = np.exp(x), np.exp(-x)
            t = (ep - em) / (ep + em)
            return t, grad_out * (1.0 - t * t)
        """,
    ),
    _m(
        "relu_layer",
        "relu_gradient_at_zero",
        "a ReLU gradient on the wrong side of zero (x >= 0 instead of x > 0: "
        "the gradient at x = 0 must be 0)",
        """
        def relu_layer(x, grad_out):
            return np.maximum(x, 0), grad_out * (x >= 0)
        """,
    ),
    _m(
        "relu_layer",
        "relu_zeroes_x_in_place",
        "a ReLU that sets the negative entries of x to zero in place and returns x: the "
        "caller's input changes, and the output is the input array itself",
        """
        def relu_layer(x, grad_out):
            np.maximum(x, 0, out=x)
            return x, grad_out * (x > 0)
        """,
    ),
    _m(
        "softmax_cross_entropy",
        "softmax_without_max_shift",
        "a softmax without the max shift: exp overflows on large logits and gives NaN "
        "(subtract each row's maximum first)",
        """
        def softmax_cross_entropy(logits, targets):
            e = np.exp(logits)
            p = e / e.sum(axis=1, keepdims=True)
            n = len(targets)
            loss = -np.mean(np.log(p[np.arange(n), targets]))
            grad = p.copy()
            grad[np.arange(n), targets] -= 1
            return loss, grad / n
        """,
    ),
    _m(
        "softmax_cross_entropy",
        "cross_entropy_gradient_not_averaged",
        "a cross-entropy gradient not divided by the batch size N (the loss is the mean "
        "over the batch, so its gradient is (softmax - onehot) / N)",
        """
        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            n = len(targets)
            loss = -np.mean(log_p[np.arange(n), targets])
            grad = np.exp(log_p)
            grad[np.arange(n), targets] -= 1
            return loss, grad
        """,
    ),
]
