r"""The batch norm assignment: Batch normalization forward (training and evaluation) and backward.

Everything the exercises of ``exercises/source/batch_norm/batch_norm.ipynb`` need, in one
place: the **references** (thin calls into the package, which ``tests/`` hold to PyTorch),
the **cases** (how visible and hidden problems are drawn; every random draw comes from the
generator passed in), the :data:`EXERCISES` registered with their contracts, and the
catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this matches
..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

import numpy as np

from dlopt import layers
from dlopt.grading.core import (
    Case,
    Exercise,
    _calls_case,
    _m,
)

# --------------------------------------------------------------------------- references


def _batch_norm(x, gamma, beta, running_mean, running_var, *, training, momentum, eps):
    """A :class:`dlopt.layers.BatchNorm1d` holding copies of the given parameters and statistics."""
    x = np.asarray(x)
    layer = layers.BatchNorm1d(x.shape[1], eps=eps, momentum=momentum, dtype=x.dtype)
    layer.params["weight"][...] = gamma
    layer.params["bias"][...] = beta
    layer.running_mean[...] = running_mean
    layer.running_var[...] = running_var
    return layer.train(training)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum, eps):
    r"""Batch norm of x (N, C): ``(y, new_running_mean, new_running_var)``.

    Training: :math:`y = \gamma (x - \mu_B)/\sqrt{\sigma_B^2 + \epsilon} + \beta` with the
    batch's mean and biased variance, and
    :math:`r \leftarrow (1 - m) r + m\, s` with the unbiased :math:`\sigma_B^2 N/(N-1)` for
    the variance (torch's ``momentum`` :math:`m`). Evaluation: the running statistics, unchanged.
    """
    layer = _batch_norm(
        x, gamma, beta, running_mean, running_var, training=training, momentum=momentum, eps=eps
    )
    y = layer(x)
    return y, layer.running_mean.copy(), layer.running_var.copy()


def batchnorm_backward(grad_out, x, gamma, *, eps):
    r"""Training-mode backward of batch norm on x (N, C): ``(grad_x, grad_gamma, grad_beta)``.

    :math:`\partial L/\partial x = (\hat g - \overline{\hat g} - \hat x\,
    \overline{\hat g \hat x})/\sqrt{\sigma_B^2+\epsilon}` with :math:`\hat g = \gamma g`
    (see :class:`dlopt.layers.BatchNorm1d`).
    """
    x = np.asarray(x)
    zeros = np.zeros(x.shape[1], dtype=x.dtype)
    layer = _batch_norm(x, gamma, zeros, zeros, zeros + 1, training=True, momentum=0.1, eps=eps)
    layer(x)
    grad_x = layer.backward(np.asarray(grad_out, dtype=x.dtype))
    return grad_x, layer.grads["weight"].copy(), layer.grads["bias"].copy()


# --------------------------------------------------------------------------- cases


def _batch(rng, dtype):
    n, c = int(rng.integers(2, 17)), int(rng.integers(1, 6))
    x = rng.uniform(-2, 2, c) + rng.uniform(0.3, 3.0, c) * rng.standard_normal((n, c))
    gamma, beta = rng.uniform(0.5, 2.0, c), rng.standard_normal(c)
    return [a.astype(dtype) for a in (x, gamma, beta)]


def _batchnorm_forward_cases(rng, hidden: bool) -> list[Case]:
    """Calls in training and evaluation mode on (N, C) batches with random running statistics;
    momentum away from 0.5 (so the direction of the running average shows), eps up to 0.1."""
    cases = []
    for i in range(3 if hidden else 2):
        dtype = np.float32 if i == (1 if hidden else 1) else np.float64
        calls = []
        for k in range(6 if hidden else 4):
            x, gamma, beta = _batch(rng, dtype)
            c = x.shape[1]
            running = [rng.standard_normal(c).astype(dtype), rng.uniform(0.2, 3.0, c).astype(dtype)]
            kwargs = {
                "training": k % 2 == 0,
                "momentum": float(rng.uniform(0.05, 0.3)),
                "eps": (1e-5, 1e-3, 0.1)[k % 3],
            }
            calls.append(([x, gamma, beta, *running], kwargs))
        names = tuple(
            f"call {j + 1}: x of shape {a[0].shape}, training={kw['training']}, "
            f"momentum={kw['momentum']:.3g}, eps={kw['eps']:g}"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(
            _calls_case(
                "batchnorm_forward",
                calls,
                names,
                dtype,
                "batches",
                ("y", "running_mean", "running_var"),
            )
        )
    return cases


def _batchnorm_backward_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for i in range(3 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for k in range(4 if hidden else 3):
            x, gamma, _ = _batch(rng, dtype)
            grad_out = rng.standard_normal(x.shape).astype(dtype)
            calls.append(([grad_out, x, gamma], {"eps": (1e-5, 1e-3, 0.1)[k % 3]}))
        names = tuple(
            f"call {j + 1}: x of shape {a[1].shape}, eps={kw['eps']:g}"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(
            _calls_case(
                "batchnorm_backward",
                calls,
                names,
                dtype,
                "batches",
                ("grad_x", "grad_gamma", "grad_beta"),
            )
        )
    return cases


EXERCISES: list[Exercise] = [
    Exercise(
        "batchnorm_forward", "batch_norm", _batchnorm_forward_cases, reference=batchnorm_forward
    ),
    Exercise(
        "batchnorm_backward", "batch_norm", _batchnorm_backward_cases, reference=batchnorm_backward
    ),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "batchnorm_forward",
        "batchnorm_eval_uses_batch_stats",
        "batch norm that uses the batch's statistics in evaluation mode (it must use the "
        "running ones)",
        """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                              momentum, eps):
            mean, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mean) / np.sqrt(var + eps) + beta
            if not training:
                return y, running_mean.copy(), running_var.copy()
            n = x.shape[0]
            new_mean = (1 - momentum) * running_mean + momentum * mean
            new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
            return y, new_mean, new_var
        """,
    ),
    _m(
        "batchnorm_forward",
        "batchnorm_biased_running_var",
        "a running variance updated with the biased batch variance (torch uses the unbiased "
        "one, times N / (N - 1))",
        """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                              momentum, eps):
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                return y, running_mean.copy(), running_var.copy()
            mean, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mean) / np.sqrt(var + eps) + beta
            new_mean = (1 - momentum) * running_mean + momentum * mean
            new_var = (1 - momentum) * running_var + momentum * var
            return y, new_mean, new_var
        """,
    ),
    _m(
        "batchnorm_forward",
        "batchnorm_running_average_reversed",
        "a running average weighted the wrong way round (torch's momentum weights the new "
        "batch: (1 - momentum) * running + momentum * batch)",
        """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                              momentum, eps):
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                return y, running_mean.copy(), running_var.copy()
            mean, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mean) / np.sqrt(var + eps) + beta
            n = x.shape[0]
            new_mean = momentum * running_mean + (1 - momentum) * mean
            new_var = momentum * running_var + (1 - momentum) * var * n / (n - 1)
            return y, new_mean, new_var
        """,
    ),
    _m(
        "batchnorm_forward",
        "batchnorm_running_stats_in_place",
        "batch norm that updates the caller's running_mean and running_var in place: the "
        "contract says the function returns new running statistics and leaves its "
        "arguments unchanged",
        """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                              eps):
            if not training:
                return (gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta,
                        running_mean.copy(), running_var.copy())
            mu, var = x.mean(axis=0), x.var(axis=0)
            running_mean += momentum * (mu - running_mean)
            running_var += momentum * (var * len(x) / (len(x) - 1) - running_var)
            return (gamma * (x - mu) / np.sqrt(var + eps) + beta, running_mean.copy(),
                    running_var.copy())
        """,
    ),
    _m(
        "batchnorm_backward",
        "batchnorm_backward_without_variance_term",
        "a batch-norm backward pass without the term through the batch variance "
        "(- x_hat * mean(g_hat * x_hat))",
        """
        def batchnorm_backward(grad_out, x, gamma, *, eps):
            inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
            x_hat = (x - x.mean(axis=0)) * inv_std
            g_hat = grad_out * gamma
            grad_x = inv_std * (g_hat - g_hat.mean(axis=0))
            return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)
        """,
    ),
    _m(
        "batchnorm_backward",
        "batchnorm_backward_without_mean_term",
        "a batch-norm backward pass without the term through the batch mean (- mean(g_hat))",
        """
        def batchnorm_backward(grad_out, x, gamma, *, eps):
            inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
            x_hat = (x - x.mean(axis=0)) * inv_std
            g_hat = grad_out * gamma
            grad_x = inv_std * (g_hat - x_hat * (g_hat * x_hat).mean(axis=0))
            return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)
        """,
    ),
]
