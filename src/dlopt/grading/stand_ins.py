"""Stand-ins for the functions a graded answer may call from an earlier exercise.

``sgd_epoch`` calls the student's ``minibatches``, and the scales of
initialization call ``fans``. Each is graded with a correct version in place
of the student's (see :data:`dlopt.grading.tasks.STAND_INS`), so one mistake
costs points in one exercise only. They are written here with NumPy alone
because the sandboxed grading child sees no other ``dlopt`` module; tests hold
them equal to :func:`dlopt.data.minibatches` and
:func:`dlopt.init.calculate_fan_in_and_fan_out`. A child gets this module only
for the exercises that use a stand-in, never for ``minibatches`` or ``fans``.
"""

from __future__ import annotations

import math

import numpy as np


def minibatches(X, y, batch_size: int, *, shuffle: bool = True, rng=None, drop_last: bool = False):
    """One epoch of mini-batches ``(X_b, y_b)``, as :func:`dlopt.data.minibatches`."""
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same number of samples, got {n} and {len(y)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise TypeError(f"batch_size must be an integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"Invalid batch_size: {batch_size} (expected an integer >= 1)")
    if shuffle:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("minibatches(shuffle=True) needs rng=np.random.default_rng(seed)")
        order = rng.permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return (
        (X[order[i : i + batch_size]], y[order[i : i + batch_size]])
        for i in range(0, stop, int(batch_size))
    )


def fans(shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight shaped ``(fan_out, fan_in, *kernel)``."""
    dims = (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(d) for d in shape)
    if len(dims) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for a shape with fewer than "
            f"2 dimensions, got shape {dims}"
        )
    receptive_field = math.prod(dims[2:])
    return dims[1] * receptive_field, dims[0] * receptive_field
