"""An optimizer's path on a 2-D landscape, and the step at which its loss settles.

The optimizer chapters race the NumPy optimizers on the surfaces of :mod:`dlopt.landscapes`:
:func:`descend` runs one optimizer from the landscape's start and returns every iterate,
:func:`settles_at` reads off a loss curve the first step after which the loss stays below a
target (the race's finishing line).
"""

from __future__ import annotations

import numpy as np

from dlopt._validation import validate_array, validate_int, validate_real

__all__ = ["descend", "settles_at"]


def descend(landscape, steps: int, optimizer_class, *, start=None, **hyperparameters) -> np.ndarray:
    """The iterates :math:`\\theta_0, \\dots, \\theta_T` of an optimizer on ``landscape``.

    :math:`\\theta_0` is ``start`` (``landscape.start`` by default); each of the
    :math:`T` = ``steps`` steps feeds ``landscape.grad`` at the current point to
    ``optimizer_class([theta], **hyperparameters)`` (a :mod:`dlopt.optim_numpy` class).
    Returns an array of shape (T + 1, 2).
    """
    steps = validate_int("steps", steps, low=0)
    if not callable(getattr(landscape, "grad", None)):
        raise TypeError(
            f"landscape must be a dlopt.landscapes.Landscape, got {type(landscape).__name__}"
        )
    theta = np.array(landscape.start if start is None else start, dtype=float)
    if theta.shape != (2,):
        raise ValueError(f"start must be a point (x, y) of the landscape, got shape {theta.shape}")
    optimizer = optimizer_class([theta], **hyperparameters)
    path = [theta.copy()]
    for _ in range(steps):
        optimizer.step([landscape.grad(theta)])  # updates theta in place
        path.append(theta.copy())
    return np.array(path)


def settles_at(losses, target: float) -> int | None:
    """The first step :math:`t` with :math:`L_s <` ``target`` for every :math:`s \\ge t`.

    ``losses`` is the curve :math:`L_0, \\dots, L_T`; returns None if even :math:`L_T` is not
    below the target. A NaN or infinite loss counts as not below it.
    """
    losses = validate_array("losses", losses, ndim=1)
    target = validate_real("target", target)
    if losses.size == 0:
        raise ValueError("losses must not be empty")
    above = np.flatnonzero(~(losses < target))
    t = 0 if above.size == 0 else int(above[-1]) + 1
    return t if t < losses.size else None
