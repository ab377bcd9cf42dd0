r"""The gradient descent assignment.

Mini-batches, one epoch of SGD on linear regression, and a stopping rule.

Everything the exercises of ``exercises/source/gradient_descent/gradient_descent.ipynb``
need, in one place: the **references** (thin calls into the package, which ``tests/`` hold
to PyTorch), the **cases** (how visible and hidden problems are drawn; every random draw
comes from the generator passed in), the :data:`EXERCISES` registered with their contracts,
and the catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this
matches ..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

import math

import numpy as np

from dlopt import data
from dlopt.grading.compare import Tolerance
from dlopt.grading.core import (
    FLOAT64,
    Case,
    Exercise,
    _loguniform,
    _m,
)
from dlopt.grading.tasks import CallTask, Rng

# --------------------------------------------------------------------------- references


def minibatches(X, y, batch_size, *, rng):
    r"""One shuffled epoch of mini-batches: the order is ``rng.permutation(n)``, the last batch
    keeps the :math:`n \bmod B` samples left over."""
    return data.minibatches(X, y, batch_size, shuffle=True, rng=rng)


def mse_gradient(w, b, X, y):
    r"""Gradient of :math:`L(w, b) = \frac1B \sum_i (x_i^\top w + b - y_i)^2` on a batch.

    :math:`\nabla_w L = \frac2B X^\top r`, :math:`\partial_b L = \frac2B \sum_i r_i`
    with residuals :math:`r = Xw + b - y`. Shapes: X (B, d), y (B,), w (d,).
    """
    r = X @ w + b - y
    return 2.0 * X.T @ r / len(y), 2.0 * float(r.mean())


def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
    r"""One epoch of mini-batch SGD on the mean squared error of a linear model.

    For every batch of ``minibatches(X, y, batch_size, rng=rng)``:
    :math:`w \leftarrow w - \eta\nabla_w L`, :math:`b \leftarrow b - \eta\,\partial_b L`
    (see :func:`mse_gradient`). Returns the new ``(w, b)``: an array (d,) and a float.
    """
    w = np.array(w, dtype=np.float64)
    b = float(b)
    for Xb, yb in minibatches(X, y, batch_size, rng=rng):
        gw, gb = mse_gradient(w, b, Xb, yb)
        w -= lr * gw
        b -= lr * gb
    return w, b


def should_stop(losses, *, tol, max_iters):
    r"""The stopping rule: stop after ``max_iters`` iterations, or when the loss stops changing.

    ``losses`` :math:`= (L_0, L_1, \dots, L_k)` holds the loss before the first
    iteration and after each of the :math:`k` iterations done so far. Stop when
    :math:`k \ge` ``max_iters``, or when :math:`k \ge 1` and
    :math:`|L_k - L_{k-1}| <` ``tol``.
    """
    k = len(losses) - 1
    if k >= max_iters:
        return True
    return k >= 1 and abs(losses[-1] - losses[-2]) < tol


# --------------------------------------------------------------------------- cases


def _minibatch_cases(rng, hidden: bool) -> list[Case]:
    shapes = (
        [(10, 2, 3), (12, 1, 5), (8, 3, 8)]
        if not hidden
        else [
            (int(n), int(d), int(B))
            for n, d, B in zip(
                rng.integers(9, 41, 8), rng.integers(1, 4, 8), [1, 2, 3, 5, 7, 16, 50, 4]
            )
        ]
    )
    cases = []
    for n, d, B in shapes:
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
        seed = int(rng.integers(2**31))
        task = CallTask("minibatches", [([X, y, B], {"rng": Rng(seed)})])
        label = f"n = {n} samples, batch_size = {B}, rng = default_rng({seed})"
        cases.append(Case(label, task, FLOAT64, labels=(("the batches",), "batch", ("X", "y"))))
    return cases


#: An epoch is float64 arithmetic throughout: correct answers differ from the reference by
#: about 1e-14 (relative), while weights kept in float32 on the way are off by 5e-8 or more,
#: which FLOAT64's rtol of 1e-7 lets through for about one student in ten.
_EPOCH = Tolerance(rtol=1e-10, atol=1e-12)


def _sgd_epoch_cases(rng, hidden: bool) -> list[Case]:
    sizes = (
        [(20, 2, 5), (13, 3, 4)]
        if not hidden
        else [
            (int(n), int(d), int(B))
            for n, d, B in zip(rng.integers(10, 60, 6), rng.integers(1, 5, 6), [1, 3, 4, 7, 10, 64])
        ]
    )
    cases = []
    for n, d, B in sizes:
        X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
        w0, b0 = rng.standard_normal(d), float(rng.standard_normal())
        lr, seed = float(rng.uniform(0.01, 0.1)), int(rng.integers(2**31))
        task = CallTask(
            "sgd_epoch",
            [([w0, b0, X, y], {"lr": lr, "batch_size": B, "rng": Rng(seed)})],
            stand_ins=["minibatches"],
        )
        label = (
            f"n = {n}, d = {d}, batch_size = {B}, lr = {lr:.4g}, "
            f"rng = default_rng({seed}); the reference minibatches stands in for yours"
        )
        cases.append(Case(label, task, _EPOCH, labels=(("the result",), ("w", "b"))))
    return cases


def _stopping_calls(rng, n: int) -> list[tuple[list, dict]]:
    """Loss histories around both decision boundaries.

    Call ``i`` has ``k`` iterations done, one of 0, 1, 2, M-1, M, M+1 for
    ``max_iters`` M (``i % 6``), and a last change (``i // 6 % 5``) that is a
    decrease by more than ``tol``, a decrease by less, an increase by more, or a
    decrease or an increase by **exactly** ``tol`` (``tol`` is then the float
    difference of the two losses, so ``<`` and ``<=`` disagree there). The losses
    sit on a level of 2 to 10, so that a relative change differs from the absolute one.
    """
    calls = []
    for i in range(n):
        max_iters = int(rng.integers(3, 9))
        k = (0, 1, 2, max_iters - 1, max_iters, max_iters + 1)[i % 6]
        tol = _loguniform(rng, 1e-4, 1e-1)
        steps = np.exp(rng.uniform(math.log(1.5 * tol), math.log(50 * tol), k))
        level = float(rng.uniform(2.0, 10.0))
        losses = [float(x) for x in level + np.concatenate([[0.0], np.cumsum(steps)])[::-1]]
        change = (i // 6) % 5
        if k >= 1 and change == 1:
            losses[-1] = losses[-2] - 0.5 * tol
        if k >= 1 and change == 2:
            losses[-1] = losses[-2] + 3.0 * tol
        if k >= 1 and change in (3, 4):
            losses[-1] = losses[-2] + (tol if change == 4 else -tol)
            tol = abs(losses[-1] - losses[-2])  # exactly the change: not below tol
        calls.append(([losses], {"tol": tol, "max_iters": max_iters}))
    return calls


def _should_stop_cases(rng, hidden: bool) -> list[Case]:
    calls = _stopping_calls(rng, 60 if hidden else 30)
    if hidden:  # a budget of 0 iterations: stop at once, before any loss change is known
        level = float(rng.uniform(2.0, 10.0))
        calls += [([[level]], {"tol": _loguniform(rng, 1e-4, 1e-1), "max_iters": 0})]
    names = tuple(
        f"should_stop({a[0]}, tol={k['tol']!r}, max_iters={k['max_iters']})" for a, k in calls
    )
    task = CallTask("should_stop", calls)
    return [
        Case(
            f"{len(calls)} loss histories",
            task,
            FLOAT64,
            labels=(names,),
            annotate=_stopping_boundary,
        )
    ]


def _stopping_boundary(task: CallTask, expected, got) -> str | None:
    """What is special about the first history where the answer differs, if anything."""
    for (args, kwargs), e, g in zip(task.calls, expected, got):
        if e == g:
            continue
        losses, k = args[0], len(args[0]) - 1
        if k == kwargs["max_iters"]:
            return (
                f"There k = max_iters = {k} iterations are done: the budget is used up, "
                "stop (k >= max_iters)."
            )
        if k >= 1 and abs(losses[-1] - losses[-2]) == kwargs["tol"]:
            return (
                "There the last change |L_k - L_(k-1)| equals tol exactly: the rule is "
                "strict (< tol), so it does not stop."
            )
        return None
    return None


EXERCISES: list[Exercise] = [
    Exercise("minibatches", "gradient_descent", _minibatch_cases, reference=minibatches),
    Exercise("sgd_epoch", "gradient_descent", _sgd_epoch_cases, reference=sgd_epoch),
    Exercise("should_stop", "gradient_descent", _should_stop_cases, reference=should_stop),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "minibatches",
        "minibatches_drop_last",
        "mini-batches that drop the last, smaller batch (it must be kept)",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            for start in range(0, len(X) - batch_size + 1, batch_size):
                idx = order[start:start + batch_size]
                yield X[idx], y[idx]
        """,
    ),
    _m(
        "minibatches",
        "minibatches_no_shuffle",
        "mini-batches without shuffling (the order must come from rng.permutation(n))",
        """
        def minibatches(X, y, batch_size, *, rng):
            for start in range(0, len(X), batch_size):
                yield X[start:start + batch_size], y[start:start + batch_size]
        """,
    ),
    _m(
        "minibatches",
        "minibatches_separate_permutations",
        "mini-batches that shuffle X and y with two different permutations, so samples lose "
        "their targets",
        """
        def minibatches(X, y, batch_size, *, rng):
            X = X[rng.permutation(len(X))]
            y = y[rng.permutation(len(y))]
            for start in range(0, len(X), batch_size):
                yield X[start:start + batch_size], y[start:start + batch_size]
        """,
    ),
    _m(
        "minibatches",
        "minibatches_permutation_per_batch",
        "mini-batches that draw a new permutation for every batch (samples repeat or go "
        "missing within the epoch)",
        """
        def minibatches(X, y, batch_size, *, rng):
            for start in range(0, len(X), batch_size):
                idx = rng.permutation(len(X))[start:start + batch_size]
                yield X[idx], y[idx]
        """,
    ),
    _m(
        "sgd_epoch",
        "sgd_epoch_sum_not_mean",
        "an epoch that sums the per-sample gradients instead of averaging them over the batch",
        """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r
                b = b - lr * 2 * r.sum()
            return w, b
        """,
    ),
    _m(
        "sgd_epoch",
        "sgd_epoch_no_factor_two",
        "an epoch whose gradient drops the factor 2 of the derivative of the square",
        """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * Xb.T @ r / len(yb)
                b = b - lr * r.mean()
            return w, b
        """,
    ),
    _m(
        "sgd_epoch",
        "sgd_epoch_wrong_sign",
        "an epoch that steps up the gradient (+ instead of -)",
        """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w + lr * 2 * Xb.T @ r / len(yb)
                b = b + lr * 2 * r.mean()
            return w, b
        """,
    ),
    _m(
        "sgd_epoch",
        "sgd_epoch_full_batch_gradient",
        "an epoch that uses the gradient on the whole data set at every step, not the batch's",
        """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = X @ w + b - y
                w = w - lr * 2 * X.T @ r / len(y)
                b = b - lr * 2 * r.mean()
            return w, b
        """,
    ),
    _m(
        "sgd_epoch",
        "sgd_epoch_stale_residual",
        "an epoch that updates w before computing the gradient of b (b's gradient must use the "
        "same w as w's gradient)",
        """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                w = w - lr * 2 * Xb.T @ (Xb @ w + b - yb) / len(yb)
                b = b - lr * 2 * (Xb @ w + b - yb).mean()
            return w, b
        """,
    ),
    _m(
        "should_stop",
        "should_stop_off_by_one",
        "a stopping rule that counts the losses instead of the iterations, so it stops one "
        "iteration early (off by one)",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) >= max_iters:
                return True
            return len(losses) >= 2 and abs(losses[-1] - losses[-2]) < tol
        """,
    ),
    _m(
        "should_stop",
        "should_stop_no_abs",
        "a stopping rule that compares the signed change L_k - L_(k-1) with tol (abs() "
        "forgotten): a decreasing loss stops at once",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) - 1 >= max_iters:
                return True
            return len(losses) >= 2 and losses[-1] - losses[-2] < tol
        """,
    ),
    _m(
        "should_stop",
        "should_stop_loss_not_change",
        "a stopping rule that compares the loss itself with tol instead of its change",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) - 1 >= max_iters:
                return True
            return len(losses) >= 2 and abs(losses[-1]) < tol
        """,
    ),
    _m(
        "should_stop",
        "should_stop_relative_change",
        "a stopping rule on the relative change |L_k - L_(k-1)| / |L_(k-1)|: the rule "
        "compares the absolute change with tol",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) > max_iters:
                return True
            if len(losses) < 2:
                return False
            return abs((losses[-1] - losses[-2]) / losses[-2]) < tol
        """,
    ),
    _m(
        "should_stop",
        "should_stop_change_at_most_tol",
        "a stopping rule that also stops when the change equals tol (<= tol): the rule is "
        "strict, stop when |L_k - L_(k-1)| < tol",
        """
        def should_stop(losses, *, tol, max_iters):
            done = len(losses) - 1
            if done >= max_iters:
                return True
            return done > 0 and not abs(losses[-1] - losses[-2]) > tol
        """,
    ),
]
