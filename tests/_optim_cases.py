"""Optimizer options to test over, and a small problem with realistic gradients.

Shared by the torch and NumPy front-end tests.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

NAMES = [
    "SGD",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Adam",
    "AdamW",
    "NAdam",
    "RAdam",
    "Adamax",
    "ASGD",
    "Rprop",
    "Adafactor",
]


def grid(**options):
    """Every combination of the given option values, as dicts."""
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


def pairwise(**options):
    """A subset of ``grid(**options)`` in which every pair of values of two options still occurs
    together (greedy covering): all the interactions of two options, in a fraction of the runs."""
    keys = list(options)
    todo = {
        (i, a, j, b)
        for i, j in itertools.combinations(range(len(keys)), 2)
        for a in range(len(options[keys[i]]))
        for b in range(len(options[keys[j]]))
    }
    combos = list(itertools.product(*(range(len(v)) for v in options.values())))
    chosen = []
    while todo:
        best = max(
            combos,
            key=lambda c: sum(
                (i, c[i], j, c[j]) in todo for i, j in itertools.combinations(range(len(c)), 2)
            ),
        )
        todo -= {(i, best[i], j, best[j]) for i, j in itertools.combinations(range(len(best)), 2)}
        chosen.append(best)
    return [{k: options[k][c[n]] for n, k in enumerate(keys)} for c in chosen]


def _sgd_ok(o):
    return not o["nesterov"] or (o["momentum"] > 0 and o["dampening"] == 0)


OPTION_GRID = {
    "SGD": [
        o
        for o in grid(
            lr=[0.05],
            momentum=[0.0, 0.9],
            dampening=[0.0, 0.5],
            weight_decay=[0.0, 0.1],
            nesterov=[False, True],
            maximize=[False, True],
        )
        if _sgd_ok(o)
    ],
    "Adagrad": grid(
        lr=[0.1],
        lr_decay=[0.0, 0.05],
        weight_decay=[0.0, 0.1],
        initial_accumulator_value=[0.0, 0.5],
        eps=[1e-10, 1e-3],
        maximize=[False, True],
    ),
    "Adadelta": grid(
        lr=[1.0, 0.5],
        rho=[0.9, 0.5],
        eps=[1e-6, 1e-3],
        weight_decay=[0.0, 0.1],
        maximize=[False, True],
    ),
    "RMSprop": grid(
        lr=[0.01],
        alpha=[0.99, 0.9],
        eps=[1e-8, 1e-3],
        weight_decay=[0.0, 0.1],
        momentum=[0.0, 0.9],
        centered=[False, True],
        maximize=[False, True],
    ),
    "Adam": grid(
        lr=[0.05],
        betas=[(0.9, 0.999), (0.5, 0.9)],
        eps=[1e-8, 1e-3],
        weight_decay=[0.0, 0.1],
        amsgrad=[False, True],
        maximize=[False, True],
        decoupled_weight_decay=[False, True],
    ),
    "AdamW": grid(
        lr=[0.05],
        betas=[(0.9, 0.999), (0.5, 0.9)],
        weight_decay=[0.0, 0.01, 0.1],
        amsgrad=[False, True],
        maximize=[False, True],
    ),
    "NAdam": pairwise(
        lr=[0.05],
        betas=[(0.9, 0.999), (0.5, 0.9)],
        weight_decay=[0.0, 0.1],
        momentum_decay=[4e-3, 0.1],
        decoupled_weight_decay=[False, True],
        maximize=[False, True],
    ),
    "RAdam": pairwise(
        lr=[0.05],
        betas=[(0.9, 0.999), (0.5, 0.9)],
        eps=[1e-8, 1e-3],
        weight_decay=[0.0, 0.1],
        decoupled_weight_decay=[False, True],
        maximize=[False, True],
    ),
    "Adamax": pairwise(
        lr=[0.05],
        betas=[(0.9, 0.999), (0.5, 0.9)],
        eps=[1e-8, 1e-3],
        weight_decay=[0.0, 0.1],
        maximize=[False, True],
    ),
    "ASGD": pairwise(
        lr=[0.05],
        lambd=[1e-4, 0.1],
        alpha=[0.75, 0.5],
        t0=[1e6, 5.0],
        weight_decay=[0.0, 0.1],
        maximize=[False, True],
    ),
    "Rprop": pairwise(
        lr=[0.01, 0.05],
        etas=[(0.5, 1.2), (0.3, 1.5)],
        step_sizes=[(1e-6, 50), (1e-3, 0.02)],
        maximize=[False, True],
    ),
    "Adafactor": pairwise(
        lr=[0.05, 0.5],
        beta2_decay=[-0.8, -0.5],
        eps=[(None, 1e-3), (1e-4, 0.1)],
        d=[1.0, 1.5],
        weight_decay=[0.0, 0.1],
        maximize=[False, True],
    ),
}
CASES = [(name, opts) for name in NAMES for opts in OPTION_GRID[name]]


def case_id(case):
    name, opts = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in opts.items())


def make_problem(dtype, seed=0, *, maximize=False):
    """A small two-layer regression network with fixed data: realistic, varied gradients.

    With ``maximize`` the loss is negated, so that maximizing it is the same well-posed
    problem (a diverging run would amplify round-off and prove nothing).
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=gen, dtype=dtype)
    y = torch.randn(16, 2, generator=gen, dtype=dtype)
    w1 = torch.randn(8, 4, generator=gen, dtype=dtype).mul_(0.5).requires_grad_()
    b1 = torch.zeros(8, dtype=dtype, requires_grad=True)
    w2 = torch.randn(2, 8, generator=gen, dtype=dtype).mul_(0.5).requires_grad_()
    params = [w1, b1, w2]

    def loss_fn():
        loss = ((torch.tanh(x @ w1.T + b1) @ w2.T - y) ** 2).mean()
        return -loss if maximize else loss

    return params, loss_fn


def param_groups(params, opts, *, split):
    """One group with ``opts``, or two groups whose learning rates differ by 3x."""
    if not split:
        return [{"params": params}]
    lr = opts.get("lr", 1.0)
    return [{"params": params[:2]}, {"params": params[2:], "lr": 3 * lr}]


def assert_close_to_float32_roundoff(actual, expected) -> None:
    """Trajectories agree to float32 round-off: the largest difference is at most 200 float32
    epsilons of the trajectory's scale (25 steps of division and square roots amplify the
    0.5 ulp of one operation by up to about a hundred, most for Adadelta)."""
    actual, expected = (np.asarray(x, dtype=np.float64) for x in (actual, expected))
    scale = np.max(np.abs(expected))
    error = np.max(np.abs(actual - expected))
    assert error <= 200 * np.finfo(np.float32).eps * scale, f"max difference {error:.3g}"
