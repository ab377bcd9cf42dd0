"""Lion and schedule-free SGD/AdamW, both front ends, against their authors' packages
(``lion-pytorch``, Meta's ``schedulefree``)."""

from __future__ import annotations

import lion_pytorch
import numpy as np
import pytest
import schedulefree
import torch
from _optim_cases import assert_close_to_float32_roundoff, make_problem, pairwise, param_groups

from dlopt import optim_numpy, optim_torch

REFERENCE = {
    "Lion": lion_pytorch.Lion,
    "SGDScheduleFree": schedulefree.SGDScheduleFree,
    "AdamWScheduleFree": schedulefree.AdamWScheduleFree,
}
OPTIONS = {
    "Lion": pairwise(
        lr=[1e-3, 1e-2],
        betas=[(0.9, 0.99), (0.5, 0.9)],
        weight_decay=[0.0, 0.1],
        decoupled_weight_decay=[False, True],
    ),
    "SGDScheduleFree": pairwise(
        lr=[0.1, 0.5],
        momentum=[0.9, 0.5],
        weight_decay=[0.0, 0.1],
        warmup_steps=[0, 5],
        r=[0.0, 1.0],
        weight_lr_power=[2, 1],
    ),
    "AdamWScheduleFree": pairwise(
        lr=[0.01, 0.05],
        betas=[(0.9, 0.999), (0.5, 0.9)],
        eps=[1e-8, 1e-3],
        weight_decay=[0.0, 0.1],
        warmup_steps=[0, 5],
        r=[0.0, 1.0],
        weight_lr_power=[2.0, 1.0],
    ),
}
CASES = [(name, opts) for name, grid in OPTIONS.items() for opts in grid]
SCHEDULE_FREE = ("SGDScheduleFree", "AdamWScheduleFree")


def make(cls, name, groups, opts):
    if cls is REFERENCE.get(name) and name in SCHEDULE_FREE:
        opts = dict(opts, foreach=False)  # the single-tensor path, as dlopt's
    return cls(groups, **opts)


def run(
    cls,
    name,
    opts,
    *,
    dtype=torch.float64,
    steps=20,
    split=False,
    state_dict_at=None,
    resume_cls=None,
):
    """Parameters after each step, and (schedule-free) the averaged x at the end."""
    params, loss_fn = make_problem(dtype)
    groups = param_groups(params, opts, split=split)
    opt = make(cls, name, groups, opts)
    if name in SCHEDULE_FREE:
        opt.train()
    history = []
    for step in range(steps):
        if step == state_dict_at:
            saved = opt.state_dict()
            opt = make(resume_cls or cls, name, groups, opts)
            opt.load_state_dict(saved)
        for p in params:
            p.grad = None
        loss_fn().backward()
        opt.step()
        history.append(torch.cat([p.detach().flatten() for p in params]).clone())
    if name in SCHEDULE_FREE:
        opt.eval()
        history.append(torch.cat([p.detach().flatten() for p in params]).clone())
    return torch.stack(history)


def case_id(case):
    return case[0] + "-" + "-".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectory_equals_the_reference_package(case):
    name, opts = case
    ours = run(getattr(optim_torch, name), name, opts, split=True)
    theirs = run(REFERENCE[name], name, opts, split=True)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_float32_trajectory_equals_the_reference_to_roundoff(case):
    name, opts = case
    ours = run(getattr(optim_torch, name), name, opts, dtype=torch.float32)
    theirs = run(REFERENCE[name], name, opts, dtype=torch.float32)
    assert_close_to_float32_roundoff(ours, theirs)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_state_dict_moves_both_ways_with_the_reference(name):
    opts = OPTIONS[name][-1]
    reference = run(REFERENCE[name], name, opts, split=True)
    for first, second in (
        (getattr(optim_torch, name), REFERENCE[name]),
        (REFERENCE[name], getattr(optim_torch, name)),
    ):
        resumed = run(first, name, opts, split=True, state_dict_at=9, resume_cls=second)
        torch.testing.assert_close(resumed, reference, rtol=0, atol=1e-10)


def test_schedule_free_foreach_path_of_the_reference_agrees_to_roundoff():
    opts = OPTIONS["AdamWScheduleFree"][0]
    ours = run(optim_torch.AdamWScheduleFree, "AdamWScheduleFree", opts)
    params, loss_fn = make_problem(torch.float64)
    opt = schedulefree.AdamWScheduleFree(params, foreach=True, **opts)
    opt.train()
    for _ in range(20):
        for p in params:
            p.grad = None
        loss_fn().backward()
        opt.step()
    opt.eval()
    torch.testing.assert_close(
        ours[-1], torch.cat([p.detach().flatten() for p in params]), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("case", CASES[::2], ids=case_id)
def test_numpy_front_end_follows_the_reference(case):
    name, opts = case
    tparams, loss_fn = make_problem(torch.float64)
    arrays = [p.detach().numpy().copy() for p in tparams]
    opt = getattr(optim_numpy, name)(param_groups(arrays, opts, split=True), **opts)
    if name in SCHEDULE_FREE:
        opt.train()
    history = []
    for _ in range(20):
        with torch.no_grad():
            for tp, a in zip(tparams, arrays):
                tp.copy_(torch.from_numpy(a))
                tp.grad = None
        loss_fn().backward()
        opt.step([tp.grad.numpy().copy() for tp in tparams])
        history.append(np.concatenate([a.ravel() for a in arrays]))
    if name in SCHEDULE_FREE:
        opt.eval()
        history.append(np.concatenate([a.ravel() for a in arrays]))
    expected = run(REFERENCE[name], name, opts, split=True).numpy()
    np.testing.assert_allclose(np.stack(history), expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", SCHEDULE_FREE)
def test_a_step_outside_train_mode_is_refused(name):
    params, loss_fn = make_problem(torch.float64)
    opt = getattr(optim_torch, name)(params)
    loss_fn().backward()
    with pytest.raises(RuntimeError, match="not in train mode"):
        opt.step()


def test_schedule_free_sgd_without_warmup_averages_z_uniformly():
    """With r = 0 and no warm-up, x is the plain mean of the z iterates (c_{t+1} = 1/(t+1))."""
    w = np.array([1.0, -2.0])
    opt = optim_numpy.SGDScheduleFree([w], lr=0.1, momentum=0.9)
    opt.train()
    zs = []
    for g in np.random.default_rng(0).normal(size=(10, 2)):
        opt.step([g])
        zs.append(opt.state[0]["z"].copy())
    opt.eval()
    # x_1 = z_1 (c_1 = 1), then the running mean: x_T = mean(z_1..z_T)
    np.testing.assert_allclose(w, np.mean(zs, axis=0), rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "kwargs", "match"),
    [
        ("Lion", dict(lr=0.0), "Lion needs lr > 0"),
        ("Lion", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
        ("SGDScheduleFree", dict(momentum=1.0), "Momentum must be between 0 and 1 exclusive"),
        ("AdamWScheduleFree", dict(eps=-1.0), "Invalid epsilon value"),
    ],
)
def test_bad_arguments_get_a_clear_error(name, kwargs, match):
    for module in (optim_torch, optim_numpy):
        params = make_problem(torch.float64)[0] if module is optim_torch else [np.zeros(2)]
        with pytest.raises(ValueError, match=match):
            getattr(module, name)(params, **kwargs)
