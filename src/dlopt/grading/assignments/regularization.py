r"""The regularization assignment.

Dropout, SGD and Adam with an L2 penalty or decoupled decay, and early stopping.

Everything the exercises of ``exercises/source/regularization/regularization.ipynb`` need,
in one place: the **references** (thin calls into the package, which ``tests/`` hold to
PyTorch), the **cases** (how visible and hidden problems are drawn; every random draw comes
from the generator passed in), the :data:`EXERCISES` registered with their contracts, and
the catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this
matches ..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dlopt import layers, rules
from dlopt.grading.assignments.activations import _activation
from dlopt.grading.assignments.optimizers import _adam_hyper, _momentum_hyper
from dlopt.grading.core import (
    FLOAT64,
    Case,
    Exercise,
    _and_a_restart,
    _calls_case,
    _m,
    _rule_cases,
)
from dlopt.grading.tasks import CallTask, Rng
from dlopt.training import EarlyStopping  # a module name would clash with dropout's `training`

# --------------------------------------------------------------------------- references


def dropout_layer(x, grad_out, *, p, training, rng):
    r"""Inverted dropout forward then backward: ``(y, grad_x)``.

    Training: keep :math:`x_i` where ``rng.random(x.shape) >= p`` (one draw, in forward),
    :math:`y = x \odot m/(1-p)` and :math:`\partial L/\partial x = g \odot m/(1-p)` with the
    same mask. Evaluation: the identity, no draw.
    """
    layer = layers.Dropout(p, rng=rng).train(training)
    return _activation(layer, x, grad_out)


def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
    r"""SGD with momentum and an L2 penalty (``decoupled=False``: :math:`g + \lambda\theta`
    enters the buffer, as ``torch.optim.SGD(weight_decay=...)``) or decoupled weight decay
    (``decoupled=True``: :math:`\theta \leftarrow (1-\eta\lambda)\theta`, then the momentum
    step on :math:`g` alone)."""
    if decoupled:
        param *= 1 - lr * weight_decay
        rules.sgd(param, grad, state, lr=lr, momentum=momentum)
    else:
        rules.sgd(param, grad, state, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay, decoupled):
    r"""Adam with an L2 penalty in the gradient (``torch.optim.Adam(weight_decay=...)``) or,
    ``decoupled=True``, with decoupled decay (``torch.optim.AdamW``)."""
    rules.adam(
        param,
        grad,
        state,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        decoupled_weight_decay=decoupled,
    )


def early_stopping(val_losses, weights, *, patience, min_delta):
    r"""Early stopping on a run's validation losses: ``(stop_epoch, best_epoch, best_weights)``.

    Epoch :math:`e` (from 0) improves when it is the first or its loss is below the best so
    far by more than ``min_delta``; training stops at the epoch that makes ``patience``
    epochs in a row without improvement (the last epoch if that never happens). The result
    holds a copy of ``weights[best_epoch]`` (see :class:`dlopt.training.EarlyStopping`).
    """
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    stop = len(val_losses) - 1
    for epoch, (loss, w) in enumerate(zip(val_losses, weights, strict=True)):
        if stopper.step(loss, epoch, [w]):
            stop = epoch
            break
    return stop, stopper.best_epoch, stopper.best_params[0]


# --------------------------------------------------------------------------- cases


def _dropout_cases(rng, hidden: bool) -> list[Case]:
    """Calls in training and evaluation mode; p from 0 to 0.8; one case in float32."""
    cases = []
    for i in range(4 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for k in range(6 if hidden else 4):
            rank = (2, 1, 3)[k % 3]  # any shape: rank 1, 2 and 3
            shape = tuple(int(d) for d in rng.integers(2, 7, rank))
            x = rng.standard_normal(shape).astype(dtype)
            grad_out = rng.standard_normal(shape).astype(dtype)
            p = (0.5, 0.2, 0.8, 0.3, 0.0, 0.65)[k] if hidden else (0.5, 0.25, 0.5, 0.75)[k]
            kwargs = {"p": p, "training": k != 2, "rng": Rng(int(rng.integers(2**31)))}
            calls.append(([x, grad_out], kwargs))
        names = tuple(
            f"call {j + 1}: x of shape {a[0].shape}, p={kw['p']:g}, "
            f"training={kw['training']}, rng=default_rng({kw['rng'].seed})"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(_calls_case("dropout_layer", calls, names, dtype, "calls", ("y", "grad_x")))
    return cases


def _decay_hyper(base: Callable) -> Callable:
    """``base``'s hyperparameters plus a weight decay; odd cases decoupled, even ones L2."""

    def draw(rng, i, grad_scale, eigen_max):
        return {
            **base(rng, i, grad_scale, eigen_max),
            "weight_decay": rng.uniform(0.1, 1.0) * grad_scale,
            "decoupled": i % 2 == 1,
        }

    return draw


_GRID = 1 / 256  # losses and min_delta on this grid: every comparison below is exact


def _validation_curve(rng, epochs: int, min_delta: float) -> list[float]:
    """A noisy U-shaped validation curve with exact ties, near-misses of ``min_delta``,
    epochs exactly ``min_delta`` below the best so far (not an improvement: the test is
    strict) and epochs 1.5 ``min_delta`` below it (an improvement, which a relative
    ``min_delta`` misses: the losses are 2 or more).

    Values are multiples of 1/256, so ``best - min_delta`` is exact in floating point.
    """
    turn = rng.uniform(0.3, 0.7) * epochs
    t = np.arange(epochs)
    level = rng.uniform(2.0, 4.0)  # above 1: a relative min_delta differs from the absolute
    curve = level + 1.5 * np.exp(-t / rng.uniform(2, 6)) + 0.4 * ((t - turn) / epochs).clip(0) ** 2
    curve += 0.03 * rng.standard_normal(epochs)
    values = [round(float(v) / _GRID) * _GRID for v in curve]
    for e in range(1, epochs):
        draw = rng.random()
        if draw < 0.15:
            values[e] = min(values[:e])  # ties the best so far: not an improvement
        elif draw < 0.3 and min_delta > 0:
            values[e] = min(values[:e]) - 0.5 * min_delta  # better, but by less than min_delta
        elif draw < 0.4 and min_delta > 0:
            values[e] = min(values[:e]) - min_delta  # better by exactly min_delta: not enough
        elif draw < 0.5 and min_delta > 0:
            values[e] = min(values[:e]) - 1.5 * min_delta  # better by more: an improvement
    return values


def _early_stopping_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for _ in range(3 if hidden else 1):
        calls = []
        for k in range(12 if hidden else 8):
            epochs = int(rng.integers(6, 31))
            min_delta = (0.0, 2 * _GRID, 0.0, 8 * _GRID)[k % 4]
            losses = _validation_curve(rng, epochs, min_delta)
            shape = ((3,), (2, 3), (2, 1, 2))[k % 3]  # any shape
            weights = [rng.standard_normal(shape) for _ in range(epochs)]
            kwargs = {"patience": (1, 2, 3, 5)[(k // 2) % 4], "min_delta": min_delta}
            calls.append(([losses, weights], kwargs))
        names = tuple(
            f"call {j + 1}: {len(a[0])} epochs, val_losses={a[0]}, "
            f"patience={kw['patience']}, min_delta={kw['min_delta']:g}"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(
            Case(
                f"{len(calls)} validation curves",
                CallTask("early_stopping", calls),
                FLOAT64,
                labels=(names, ("stop_epoch", "best_epoch", "best_weights")),
                annotate=_stopping_boundaries,
            )
        )
    return cases


def _stopping_boundaries(task: CallTask, expected, got) -> str | None:
    """The epochs of the first differing run whose loss is exactly ``min_delta`` below the best
    so far, or ties it: neither is an improvement."""
    for (args, kwargs), e, g in zip(task.calls, expected, got):
        if isinstance(g, list) and len(g) == 3 and e[:2] == g[:2]:
            continue
        losses, min_delta, best = args[0], kwargs["min_delta"], args[0][0]
        exact = []
        for epoch, loss in enumerate(losses[1:], 1):
            if loss == best - min_delta:
                exact.append(epoch)
            if loss < best - min_delta:
                best = loss
        if exact:
            what = (
                "ties the best loss so far"
                if min_delta == 0
                else ("is exactly min_delta below the best loss so far")
            )
            return (
                f"In that run, epoch {exact[0]} {what}: not an improvement (an improvement "
                "is val_loss < best - min_delta, strictly)."
            )
        return None
    return None


EXERCISES: list[Exercise] = [
    Exercise("dropout_layer", "regularization", _dropout_cases, reference=dropout_layer),
    Exercise(
        "sgd_weight_decay_step",
        "regularization",
        _and_a_restart(_rule_cases("sgd_weight_decay_step", _decay_hyper(_momentum_hyper))),
        reference=sgd_weight_decay_step,
    ),
    Exercise(
        "adam_weight_decay_step",
        "regularization",
        _and_a_restart(_rule_cases("adam_weight_decay_step", _decay_hyper(_adam_hyper))),
        reference=adam_weight_decay_step,
    ),
    Exercise("early_stopping", "regularization", _early_stopping_cases, reference=early_stopping),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "dropout_layer",
        "dropout_not_rescaled",
        "dropout without the 1 / (1 - p) rescaling in training (the expected output then "
        "shrinks by 1 - p)",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            keep = rng.random(x.shape) >= p
            return x * keep, grad_out * keep
        """,
    ),
    _m(
        "dropout_layer",
        "dropout_rescaled_in_evaluation",
        "dropout that rescales by 1 / (1 - p) in evaluation too (evaluation is the identity: "
        "inverted dropout already rescaled in training)",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x / (1 - p), grad_out / (1 - p)
            mask = (rng.random(x.shape) >= p) / (1 - p)
            return x * mask, grad_out * mask
        """,
    ),
    _m(
        "dropout_layer",
        "dropout_new_mask_in_backward",
        "a new mask drawn for the backward pass (the gradient must flow through the units "
        "forward kept)",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            y = x * (rng.random(x.shape) >= p) / (1 - p)
            grad_x = grad_out * (rng.random(x.shape) >= p) / (1 - p)
            return y, grad_x
        """,
    ),
    _m(
        "dropout_layer",
        "dropout_mask_below_keep_probability",
        "a mask drawn as rng.random(x.shape) < 1 - p: the right probability, but not the "
        "mask the exercise fixes (keep where rng.random(x.shape) >= p)",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = (rng.random(x.shape) < 1 - p) / (1 - p)
            return x * mask, grad_out * mask
        """,
    ),
    _m(
        "dropout_layer",
        "dropout_eval_returns_its_inputs",
        "dropout that returns x and grad_out themselves in evaluation mode: the contract says "
        "returned arrays are new (return copies)",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if training:
                keep = rng.random(x.shape) >= p
                return np.where(keep, x / (1 - p), 0 * x), np.where(keep, grad_out / (1 - p),
                                                                    0 * grad_out)
            return x, grad_out
        """,
    ),
    _m(
        "sgd_weight_decay_step",
        "sgd_decay_always_coupled",
        "the L2 penalty used where decoupled decay was asked (with momentum the two differ: "
        "the penalty goes through the momentum buffer, decoupled decay does not)",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            g = grad + weight_decay * param
            if "buf" not in state:
                state["buf"] = g.copy()
            else:
                state["buf"] = momentum * state["buf"] + g
            param -= lr * state["buf"]
        """,
    ),
    _m(
        "sgd_weight_decay_step",
        "sgd_penalty_outside_buffer",
        "an L2 penalty added after the momentum buffer (torch adds it to the gradient, so it "
        "enters the buffer)",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            if decoupled:
                param *= 1 - lr * weight_decay
            if "buf" not in state:
                state["buf"] = grad.copy()
            else:
                state["buf"] = momentum * state["buf"] + grad
            step = state["buf"] if decoupled else state["buf"] + weight_decay * param
            param -= lr * step
        """,
    ),
    _m(
        "sgd_weight_decay_step",
        "sgd_decoupled_decay_without_lr",
        "decoupled decay that shrinks by (1 - weight_decay) instead of (1 - lr * weight_decay)",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            g = grad if decoupled else grad + weight_decay * param
            if decoupled:
                param *= 1 - weight_decay
            if "buf" not in state:
                state["buf"] = g.copy()
            else:
                state["buf"] = momentum * state["buf"] + g
            param -= lr * state["buf"]
        """,
    ),
    _m(
        "sgd_weight_decay_step",
        "sgd_decay_rebinds_param",
        "a decoupled decay written param = (1 - lr * weight_decay) * param: it rebinds the "
        "local name, so the caller's array never decays",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            if decoupled:
                param = (1 - lr * weight_decay) * param
                g = grad
            else:
                g = grad + weight_decay * param
            if "momentum_buffer" in state:
                state["momentum_buffer"] = momentum * state["momentum_buffer"] + g
            else:
                state["momentum_buffer"] = np.array(g)
            param -= lr * state["momentum_buffer"]
        """,
    ),
    _m(
        "adam_weight_decay_step",
        "adam_decay_added_to_gradient",
        "weight decay added to the gradient under Adam where decoupled decay was asked (Adam "
        "then divides the decay by sqrt(v) like the gradient: that is the L2 penalty, not "
        "AdamW)",
        """
        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            g = grad + weight_decay * param
            t = state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g**2
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
        """,
    ),
    _m(
        "adam_weight_decay_step",
        "adam_decay_always_decoupled",
        "decoupled decay used where the L2 penalty was asked (decoupled=False adds "
        "weight_decay * param to the gradient, as torch.optim.Adam)",
        """
        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            param *= 1 - lr * weight_decay
            t = state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * grad
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * grad**2
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
        """,
    ),
    _m(
        "adam_weight_decay_step",
        "adam_decoupled_decay_after_step",
        "decoupled decay applied after the Adam step (it shrinks the parameter the gradient "
        "was computed at, before the step)",
        """
        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            g = grad if decoupled else grad + weight_decay * param
            t = state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g**2
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
            if decoupled:
                param *= 1 - lr * weight_decay
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_returns_last_weights",
        "early stopping that returns the last weights (those of the epoch it stopped at) "
        "instead of the best epoch's",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best - min_delta:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[-1].copy()
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_counter_not_reset",
        "a patience counter that is not reset when the loss improves (it must count the "
        "epochs in a row without improvement)",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best - min_delta:
                    best, best_epoch = loss, epoch
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_compares_with_previous_epoch",
        "improvement measured against the previous epoch instead of the best so far",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best_epoch, bad = 0, 0
            for epoch in range(1, len(val_losses)):
                if val_losses[epoch] < val_losses[epoch - 1] - min_delta:
                    bad = 0
                    if val_losses[epoch] < val_losses[best_epoch]:
                        best_epoch = epoch
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_ignores_min_delta",
        "an improvement test that ignores min_delta (a loss must beat the best by more than "
        "min_delta to count)",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_one_epoch_late",
        "stopping one epoch late, after patience + 1 epochs without improvement",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best - min_delta:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad > patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_ties_improve",
        "a tie with the best loss counted as an improvement (<= where < is asked)",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss <= best - min_delta:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_relative_min_delta",
        "early stopping with a relative min_delta (loss < best * (1 - min_delta)): an "
        "improvement is a loss below best - min_delta",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best_epoch, wait = 0, 0
            for epoch in range(1, len(val_losses)):
                if val_losses[epoch] < val_losses[best_epoch] * (1 - min_delta):
                    best_epoch, wait = epoch, 0
                    continue
                wait += 1
                if wait >= patience:
                    return epoch, best_epoch, np.copy(weights[best_epoch])
            return len(val_losses) - 1, best_epoch, np.copy(weights[best_epoch])
        """,
    ),
    _m(
        "early_stopping",
        "early_stopping_returns_the_stored_weights",
        "early stopping that returns weights[best_epoch] itself: the contract asks for a "
        "copy, which later training steps cannot change",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best_epoch, wait = 0, 0
            for epoch in range(1, len(val_losses)):
                if val_losses[epoch] < val_losses[best_epoch] - min_delta:
                    best_epoch, wait = epoch, 0
                    continue
                wait += 1
                if wait >= patience:
                    return epoch, best_epoch, weights[best_epoch]
            return len(val_losses) - 1, best_epoch, weights[best_epoch]
        """,
    ),
]
