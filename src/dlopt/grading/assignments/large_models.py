r"""The large_models assignment.

A Lion step and an Adafactor step (the factored second moment of a matrix).

Everything the exercises of ``exercises/source/large_models/large_models.ipynb`` need, in one
place: the **references** (thin calls into the package, which ``tests/test_grading.py`` holds
to ``lion-pytorch`` and ``torch.optim.Adafactor``), the **cases**, the :data:`EXERCISES` and
the catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this matches
..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

import numpy as np

from dlopt import rules
from dlopt.grading.core import (
    Case,
    Exercise,
    _and_a_restart,
    _loguniform,
    _m,
    _rule_case,
    _rule_cases,
    quadratic_task,
)

# --------------------------------------------------------------------------- references


def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
    r"""Lion (Chen et al., 2023): :math:`\theta \leftarrow (1-\eta\lambda)\theta - \eta\,
    \mathrm{sign}(\beta_1 m + (1-\beta_1) g)`, then :math:`m \leftarrow \beta_2 m + (1-\beta_2) g`
    (see :func:`dlopt.rules.lion`)."""
    rules.lion(param, grad, state, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay)


def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
    r"""Adafactor on a matrix, PyTorch's rule (see :func:`dlopt.rules.adafactor`): row and
    column averages of :math:`G^2` with decay :math:`1 - t^{c}`, a relative step size
    :math:`\max(\epsilon_2, \mathrm{RMS}(\theta)) \min(\eta, 1/\sqrt t)` and update clipping
    at RMS :math:`d`."""
    rules.adafactor(
        param,
        grad,
        state,
        lr=lr,
        beta2_decay=beta2_decay,
        eps1=eps1,
        eps2=eps2,
        d=d,
        weight_decay=weight_decay,
    )


# --------------------------------------------------------------------------- cases


def _lion_hyper(rng, i, grad_scale, eigen_max):
    return {
        "lr": _loguniform(rng, 1e-3, 3e-2),
        "beta1": rng.uniform(0.8, 0.95),
        "beta2": rng.uniform(0.95, 0.999),
        "weight_decay": (0.0, 0.5, 1.0, 2.0)[i % 4],
    }


_MATRIX_SHAPES = [(2, 3), (4, 4), (3, 5), (5, 3), (4, 2), (6, 2)]


def _adafactor_cases(rng, hidden: bool) -> list[Case]:
    """3 visible cases (20-30 steps), 8 hidden (150-300 steps, 2 in float32), matrices of
    several shapes (mostly not square, so rows and columns cannot be confused), the learning
    rate changing at every step in every other case, update clipping at ``d = 1``
    (PyTorch's smallest) in most; the third hidden case (float32) has tiny gradients, about
    1e-4 in size, so that their squares fall below ``eps1``, and the fifth starts at zero."""
    cases = []
    for i in range(8 if hidden else 3):
        shape = (
            _MATRIX_SHAPES[int(rng.integers(len(_MATRIX_SHAPES)))] if hidden else _MATRIX_SHAPES[i]
        )
        dtype = np.float32 if i in ((2, 5) if hidden else (2,)) else np.float64
        steps = int(rng.integers(150, 301)) if hidden else 20 + 5 * i
        grad_scale = 10.0 ** float(rng.uniform(-2, 1)) if hidden else (1.0, 0.1, 1.0)[i]
        if hidden and i == 2:  # float32 gradients of about 1e-4: G**2 < eps1, so the clamp at
            grad_scale = 10.0 ** float(rng.uniform(-5, -4))  # eps1**2 (not eps1) shows
        hyper = {
            "lr": _loguniform(rng, 1e-3, 0.1),
            "beta2_decay": rng.uniform(-0.9, -0.5),
            "eps1": float(np.finfo(dtype).eps) * (1.0, 10.0)[i % 2],
            "eps2": _loguniform(rng, 1e-4, 1e-2),
            "d": (1.0, 1.0, 2.0, 1.0)[i % 4],
            "weight_decay": (0.0, 0.1, 0.0, 0.5)[i % 4],
        }
        task = quadratic_task(
            rng,
            "adafactor_step",
            shape=shape,
            dtype=dtype,
            steps=steps,
            hyper=hyper,
            grad_scale=grad_scale,
        )
        if hidden and i == 4:  # a zero-initialised matrix: the step size starts at eps2 * rho
            task.param0 = np.zeros_like(task.param0)  # (RMS(param) = 0), so the floor eps2 shows
        if i % 2 == 1:
            task.lr_factors = rng.uniform(0.25, 1.25, steps)
        cases.append(_rule_case(task))
    return cases


EXERCISES: list[Exercise] = [
    Exercise(
        "lion_step",
        "large_models",
        _and_a_restart(_rule_cases("lion_step", _lion_hyper)),
        reference=lion_step,
    ),
    Exercise(
        "adafactor_step",
        "large_models",
        _and_a_restart(_adafactor_cases),
        reference=adafactor_step,
    ),
]

# --------------------------------------------------------------------------- mistakes


def _adafactor(
    *,
    row_axis=1,
    col_axis=0,
    normalizer="max(R.mean(), eps1)",
    step_size="max(eps2, rms) * min(lr, 1 / np.sqrt(t))",
    clipping="max(1.0, np.sqrt(np.mean(update**2)) / d)",
) -> str:
    """An Adafactor answer cell, right but for the parts given (each a Python expression)."""
    return f"""
    def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
        if "step" not in state:
            state["step"] = 0
            state["row_var"] = np.zeros(param.shape[0], dtype=param.dtype)
            state["col_var"] = np.zeros(param.shape[1], dtype=param.dtype)
        state["step"] += 1
        t = state["step"]
        beta = 1 - t**beta2_decay
        rms = np.sqrt(np.mean(param**2))
        param *= 1 - lr * weight_decay
        g2 = grad**2
        R = state["row_var"] = beta * state["row_var"] + (1 - beta) * g2.mean(axis={row_axis})
        C = state["col_var"] = beta * state["col_var"] + (1 - beta) * g2.mean(axis={col_axis})
        v_hat = np.outer(R, C) / {normalizer}
        update = grad / np.sqrt(np.maximum(v_hat, eps1**2))
        param -= {step_size} / {clipping} * update
    """


def _lion(
    *,
    decay="1 - lr * weight_decay",
    direction="np.sign(beta1 * m + (1 - beta1) * grad)",
    momentum_decay="beta2",
) -> str:
    """A Lion answer cell, right but for the parts given (each a Python expression)."""
    return f"""
    def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(param)
        m = state["exp_avg"]
        param *= {decay}
        param -= lr * {direction}
        m *= {momentum_decay}
        m += (1 - {momentum_decay}) * grad
    """


MISTAKES = [
    _m(
        "lion_step",
        "lion_sign_before_interpolation",
        "Lion with the sign taken of momentum and gradient separately and then interpolated "
        "(the sign belongs outside: sign(beta1 * m + (1 - beta1) * g))",
        _lion(direction="(beta1 * np.sign(m) + (1 - beta1) * np.sign(grad))"),
    ),
    _m(
        "lion_step",
        "lion_decay_without_lr",
        "Lion whose weight decay is not multiplied by the learning rate "
        "(param *= 1 - weight_decay instead of 1 - lr * weight_decay)",
        _lion(decay="1 - weight_decay"),
    ),
    _m(
        "lion_step",
        "lion_betas_swapped",
        "Lion with beta1 and beta2 swapped (beta1 interpolates the step, beta2 the momentum)",
        _lion(direction="np.sign(beta2 * m + (1 - beta2) * grad)", momentum_decay="beta1"),
    ),
    _m(
        "adafactor_step",
        "adafactor_divides_by_sum",
        "Adafactor that averages rows and columns (means) but normalizes by the sum of the row "
        "averages, as the paper does for row sums: with means, divide by their mean",
        _adafactor(normalizer="max(R.sum(), eps1)"),
    ),
    _m(
        "adafactor_step",
        "adafactor_means_swapped",
        "Adafactor with the row and column means swapped (row_var averages each row over the "
        "columns, axis 1; col_var each column over the rows, axis 0)",
        _adafactor(row_axis=0, col_axis=1),
    ),
    _m(
        "adafactor_step",
        "adafactor_not_normalized",
        "Adafactor without the division by the mean of the row averages (the outer product "
        "of row and column averages counts the overall scale twice)",
        _adafactor(normalizer="1.0"),
    ),
    _m(
        "adafactor_step",
        "adafactor_plain_lr",
        "Adafactor with the plain learning rate as its step size (PyTorch scales it: "
        "max(eps2, RMS(param)) * min(lr, 1 / sqrt(t)))",
        _adafactor(step_size="lr"),
    ),
    _m(
        "adafactor_step",
        "adafactor_no_clipping",
        "Adafactor without update clipping (the update must be divided by max(1, RMS(update) / d))",
        _adafactor(clipping="1.0"),
    ),
]
