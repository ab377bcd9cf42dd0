r"""The fine tuning assignment.

Gradual unfreezing, a step that leaves frozen layers alone, and LoRA.

:mod:`dlopt.finetune` is imported inside the references that use it: it imports
torch, which would add about two seconds to every notebook kernel that calls ``check``.

Everything the exercises of ``exercises/source/fine_tuning/fine_tuning.ipynb`` need, in one
place: the **references** (thin calls into the package, which ``tests/`` hold to PyTorch),
the **cases** (how visible and hidden problems are drawn; every random draw comes from the
generator passed in), the :data:`EXERCISES` registered with their contracts, and the
catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this matches
..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

import math

import numpy as np

from dlopt import layers
from dlopt.grading.assignments.regularization import sgd_weight_decay_step
from dlopt.grading.core import (
    FLOAT64,
    Case,
    Exercise,
    _call_names,
    _calls_case,
    _m,
)
from dlopt.grading.tasks import CallTask, Rng

# --------------------------------------------------------------------------- references


def trainable_layers(n_layers, epoch, *, every):
    r"""Gradual unfreezing: which of ``n_layers`` layers (input to output) train in ``epoch``.

    The last :math:`\min(n, \lceil (e+1)/\text{every} \rceil)` are trainable
    (:func:`dlopt.finetune.gradual_unfreezing`); a list of ``n_layers`` booleans.
    """
    from dlopt import finetune

    blocks = [layers.ReLU() for _ in range(n_layers)]  # any module: only its flag matters
    finetune.gradual_unfreezing(blocks, epoch, every)
    return [not block.frozen for block in blocks]


def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
    r"""One SGD step with decoupled weight decay on the trainable layers only:
    :math:`W \leftarrow (1-\eta\lambda)W - \eta G` where ``trainable[k]``, unchanged elsewhere.
    Returns ``(new_weights, n_trained)``, ``n_trained`` the number of numbers updated."""
    new = [np.array(w, copy=True) for w in weights]
    for w, g, train in zip(new, grads, trainable, strict=True):
        if train:
            sgd_weight_decay_step(
                w, g, {}, lr=lr, momentum=0.0, weight_decay=weight_decay, decoupled=True
            )
    return new, sum(w.size for w, train in zip(new, trainable) if train)


def lora_init(d_out, d_in, r, *, rng):
    r"""LoRA's factors: :math:`A` (r, d_in) from ``rng.uniform(-1/sqrt(d_in), 1/sqrt(d_in))``
    (as :class:`dlopt.finetune.LoRALinear`) and :math:`B` (d_out, r) zeros."""
    from dlopt import finetune

    base = layers.Linear.from_arrays(np.zeros((d_out, d_in)), None)
    layer = finetune.LoRALinear(base, r, rng=rng)
    return layer.params["lora_A"], layer.params["lora_B"]


def _lora_layer(W, A, B, alpha):
    from dlopt import finetune

    W, A, B = (np.asarray(a) for a in (W, A, B))
    layer = finetune.LoRALinear(
        layers.Linear.from_arrays(W, None), A.shape[0], alpha, rng=np.random.default_rng(0)
    )
    layer.params["lora_A"][...] = A
    layer.params["lora_B"][...] = B
    return layer


def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
    r"""A LoRA linear layer without bias, :math:`y = xW^\top + s\,(xA^\top)B^\top` with
    :math:`s = \alpha/r`, forward then backward: ``(y, grad_x, grad_A, grad_B)``."""
    layer = _lora_layer(W, A, B, alpha)
    y = layer(np.asarray(x))
    grad_x = layer.backward(np.asarray(grad_out, dtype=y.dtype))
    return y, grad_x, layer.grads["lora_A"].copy(), layer.grads["lora_B"].copy()


def lora_merge(W, A, B, *, alpha):
    r"""The merged weight :math:`W + (\alpha/r)\,BA`."""
    return _lora_layer(W, A, B, alpha).merge().params["weight"].copy()


# --------------------------------------------------------------------------- cases


def _trainable_layers_cases(rng, hidden: bool) -> list[Case]:
    settings = [(4, e, 1) for e in range(6)] + [(3, e, 2) for e in range(7)]
    if hidden:
        settings = [
            (int(n), int(e), int(every))
            for n, e, every in zip(
                rng.integers(1, 9, 30), rng.integers(0, 20, 30), rng.integers(1, 4, 30)
            )
        ]
    calls = [([n, e], {"every": every}) for n, e, every in settings]
    return [
        Case(
            f"{len(calls)} calls",
            CallTask("trainable_layers", calls),
            FLOAT64,
            labels=(_call_names("trainable_layers", calls), "layer"),
        )
    ]


def _frozen_step_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for i in range(4 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for _ in range(4 if hidden else 3):
            n = int(rng.integers(2, 6))
            # matrices and bias vectors; hidden networks also hold convolution kernels (rank 3, 4)
            ranks = rng.integers(1, 5 if hidden else 3, n)
            shapes = [tuple(int(k) for k in rng.integers(1, 6, int(rank))) for rank in ranks]
            weights = [rng.standard_normal(s).astype(dtype) for s in shapes]
            grads = [rng.standard_normal(s).astype(dtype) for s in shapes]
            trainable = [bool(b) for b in rng.random(n) < 0.5]
            frozen, trained = rng.choice(n, 2, replace=False)
            trainable[int(frozen)], trainable[int(trained)] = False, True  # one of each at least
            kwargs = {
                "lr": float(rng.uniform(0.01, 0.2)),
                "weight_decay": float(rng.uniform(0.1, 2.0)),
            }
            calls.append(([weights, grads, trainable], kwargs))
        names = tuple(
            f"call {j + 1}: layer shapes {[w.shape for w in a[0]]}, trainable={a[2]}, "
            f"lr={kw['lr']:.4g}, weight_decay={kw['weight_decay']:.4g}"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(
            _calls_case(
                "frozen_sgd_step",
                calls,
                names,
                dtype,
                "networks",
                ("new_weights", "n_trained"),
                "layer",
            )
        )
    return cases


def _lora_sizes(rng, n: int) -> list[tuple[int, int, int]]:
    """(d_out, d_in, r) with d_in != d_out and 1 <= r <= min(d_in, d_out); r > 1 in the first,
    so that alpha and alpha / r differ there."""
    sizes = []
    while len(sizes) < n:
        d_out, d_in = (int(k) for k in rng.integers(2, 12, 2))
        if d_out != d_in:
            sizes.append((d_out, d_in, int(rng.integers(1, min(d_out, d_in) + 1))))
    d_out, d_in, r = sizes[0]
    sizes[0] = (d_out, d_in, r if r > 1 else min(d_out, d_in))
    return sizes


def _lora_init_cases(rng, hidden: bool) -> list[Case]:
    calls = [
        ([d_out, d_in, r], {"rng": Rng(int(rng.integers(2**31)))})
        for d_out, d_in, r in _lora_sizes(rng, 10 if hidden else 5)
    ]
    names = tuple(
        f"lora_init({a[0]}, {a[1]}, {a[2]}, rng=default_rng({kw['rng'].seed}))" for a, kw in calls
    )
    return [
        Case(
            f"{len(calls)} layers",
            CallTask("lora_init", calls),
            FLOAT64,
            labels=(names, ("A", "B")),
        )
    ]


def _lora_arrays(rng, d_out, d_in, r, dtype):
    """W (d_out, d_in) and trained-looking factors: A (r, d_in) and a non-zero B (d_out, r)."""
    W = rng.standard_normal((d_out, d_in)) / math.sqrt(d_in)
    A = rng.uniform(-1, 1, (r, d_in)) / math.sqrt(d_in)
    B = 0.3 * rng.standard_normal((d_out, r))
    return [a.astype(dtype) for a in (W, A, B)]


def _lora_alpha(rng, k: int) -> float:
    return (1.0, 16.0, 4.0, float(rng.uniform(0.5, 8)))[k % 4]


def _lora_layer_cases(rng, hidden: bool) -> list[Case]:
    cases = []
    for i in range(3 if hidden else 2):
        dtype = np.float32 if i == 1 else np.float64
        calls = []
        for k, (d_out, d_in, r) in enumerate(_lora_sizes(rng, 4 if hidden else 3)):
            W, A, B = _lora_arrays(rng, d_out, d_in, r, dtype)
            n = int(rng.integers(1, 7))
            x = rng.standard_normal((n, d_in)).astype(dtype)
            grad_out = rng.standard_normal((n, d_out)).astype(dtype)
            calls.append(([x, W, A, B, grad_out], {"alpha": _lora_alpha(rng, k)}))
        names = tuple(
            f"call {j + 1}: x {a[0].shape}, W {a[1].shape}, r = {a[2].shape[0]}, "
            f"alpha={kw['alpha']:.4g}"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(
            _calls_case(
                "lora_forward_backward",
                calls,
                names,
                dtype,
                "layers",
                ("y", "grad_x", "grad_A", "grad_B"),
            )
        )
    return cases


def _lora_merge_cases(rng, hidden: bool) -> list[Case]:
    """One case of float64 layers; hidden, a second of float32 layers (float32 stays float32)."""
    cases = []
    for dtype in (np.float64, np.float32) if hidden else (np.float64,):
        calls = []
        for k, (d_out, d_in, r) in enumerate(_lora_sizes(rng, 10 if hidden else 5)):
            calls.append(
                ([*_lora_arrays(rng, d_out, d_in, r, dtype)], {"alpha": _lora_alpha(rng, k)})
            )
        names = tuple(
            f"call {j + 1}: W {a[0].shape}, r = {a[1].shape[0]}, alpha={kw['alpha']:.4g}"
            for j, (a, kw) in enumerate(calls)
        )
        cases.append(_calls_case("lora_merge", calls, names, dtype, "layers"))
    return cases


EXERCISES: list[Exercise] = [
    Exercise(
        "trainable_layers", "fine_tuning", _trainable_layers_cases, reference=trainable_layers
    ),
    Exercise(
        "frozen_sgd_step",
        "fine_tuning",
        _frozen_step_cases,
        reference=frozen_sgd_step,
        may_modify=("weights",),
        may_alias=("weights",),
    ),
    Exercise("lora_init", "fine_tuning", _lora_init_cases, reference=lora_init),
    Exercise(
        "lora_forward_backward", "fine_tuning", _lora_layer_cases, reference=lora_forward_backward
    ),
    Exercise("lora_merge", "fine_tuning", _lora_merge_cases, reference=lora_merge),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "trainable_layers",
        "unfreezing_from_the_input",
        "layers unfrozen from the input side (the head, the last layer, trains first, and "
        "unfreezing moves down towards the input)",
        """
        def trainable_layers(n_layers, epoch, *, every):
            n = min(n_layers, (epoch + every) // every)
            return [k < n for k in range(n_layers)]
        """,
    ),
    _m(
        "trainable_layers",
        "unfreezing_nothing_in_epoch_zero",
        "no layer trained in epoch 0 (epoch // every layers instead of ceil((epoch + 1) / every))",
        """
        def trainable_layers(n_layers, epoch, *, every):
            n = min(n_layers, epoch // every)
            return [k >= n_layers - n for k in range(n_layers)]
        """,
    ),
    _m(
        "trainable_layers",
        "unfreezing_ignores_every",
        "one more layer unfrozen every epoch, whatever every says",
        """
        def trainable_layers(n_layers, epoch, *, every):
            n = min(n_layers, epoch + 1)
            return [k >= n_layers - n for k in range(n_layers)]
        """,
    ),
    _m(
        "frozen_sgd_step",
        "freezing_by_zero_gradient",
        "freezing by zeroing the gradient: the decoupled weight decay still shrinks the frozen "
        "layers",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = []
            for w, g, train in zip(weights, grads, trainable):
                g = g if train else np.zeros_like(g)
                new.append((1 - lr * weight_decay) * w - lr * g)
            return new, sum(w.size for w, train in zip(weights, trainable) if train)
        """,
    ),
    _m(
        "frozen_sgd_step",
        "frozen_count_of_layers",
        "n_trained counting the trainable layers instead of the numbers in them",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = [(1 - lr * weight_decay) * w - lr * g if train else w.copy()
                   for w, g, train in zip(weights, grads, trainable)]
            return new, sum(trainable)
        """,
    ),
    _m(
        "frozen_sgd_step",
        "frozen_count_includes_frozen",
        "n_trained counting every parameter, the frozen ones too",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = [(1 - lr * weight_decay) * w - lr * g if train else w.copy()
                   for w, g, train in zip(weights, grads, trainable)]
            return new, sum(w.size for w in weights)
        """,
    ),
    _m(
        "lora_init",
        "lora_nonzero_initial_B",
        "LoRA with a non-zero initial B (B must start at zero, so that the adapted layer "
        "starts as the pretrained one)",
        """
        def lora_init(d_out, d_in, r, *, rng):
            bound = 1 / np.sqrt(d_in)
            A = rng.uniform(-bound, bound, (r, d_in))
            B = rng.uniform(-bound, bound, (d_out, r))
            return A, B
        """,
    ),
    _m(
        "lora_init",
        "lora_A_bound_from_d_out",
        "A drawn with the bound 1 / sqrt(d_out) instead of 1 / sqrt(d_in)",
        """
        def lora_init(d_out, d_in, r, *, rng):
            bound = 1 / np.sqrt(d_out)
            return rng.uniform(-bound, bound, (r, d_in)), np.zeros((d_out, r))
        """,
    ),
    _m(
        "lora_forward_backward",
        "lora_scaling_alpha_not_over_r",
        "LoRA scaled by alpha instead of alpha / r",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha
            h = x @ A.T
            y = x @ W.T + s * h @ B.T
            g_B = grad_out @ B
            grad_x = grad_out @ W + s * g_B @ A
            return y, grad_x, s * g_B.T @ x, s * grad_out.T @ h
        """,
    ),
    _m(
        "lora_forward_backward",
        "lora_backward_without_scaling",
        "a backward pass that leaves out the scaling alpha / r of the low-rank path",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            h = x @ A.T
            y = x @ W.T + s * h @ B.T
            g_B = grad_out @ B
            return y, grad_out @ W + g_B @ A, g_B.T @ x, grad_out.T @ h
        """,
    ),
    _m(
        "lora_forward_backward",
        "lora_grad_x_without_low_rank_path",
        "grad_x through the frozen weight only (the input also reaches the output through "
        "B A, so grad_x needs the term s * (grad_out B) A)",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            h = x @ A.T
            y = x @ W.T + s * h @ B.T
            g_B = grad_out @ B
            return y, grad_out @ W, s * g_B.T @ x, s * grad_out.T @ h
        """,
    ),
    _m(
        "lora_merge",
        "lora_merged_without_scaling",
        "LoRA merged without the alpha / r scaling (the merged layer must compute what the "
        "adapted one did: W + (alpha / r) B A)",
        """
        def lora_merge(W, A, B, *, alpha):
            return W + B @ A
        """,
    ),
    _m(
        "lora_merge",
        "lora_merged_with_alpha",
        "LoRA merged with the scaling alpha instead of alpha / r",
        """
        def lora_merge(W, A, B, *, alpha):
            return W + alpha * B @ A
        """,
    ),
]
