"""The NumPy front end against torch.optim, plus its own contract (in place, errors, state)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from _optim_cases import (
    CASES,
    NAMES,
    OPTION_GRID,
    assert_close_to_float32_roundoff,
    case_id,
    make_problem,
    param_groups,
)

from dlopt import optim_numpy, optim_torch, optimizers, rules


def numpy_trajectory(name, opts, *, dtype=np.float64, steps=25, split=False, state_dict_at=None):
    """Run the NumPy optimizer on make_problem's network, with gradients from autograd."""
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    tparams, loss_fn = make_problem(torch_dtype, maximize=opts.get("maximize", False))
    arrays = [p.detach().numpy().copy() for p in tparams]
    cls = getattr(optim_numpy, name)
    opt = cls(param_groups(arrays, opts, split=split), **opts)
    history = []
    for step in range(steps):
        if step == state_dict_at:
            saved = opt.state_dict()
            opt = cls(param_groups(arrays, opts, split=split), **opts)
            opt.load_state_dict(saved)
        with torch.no_grad():
            for tp, a in zip(tparams, arrays):
                tp.copy_(torch.from_numpy(a))
        for tp in tparams:
            tp.grad = None
        loss_fn().backward()
        opt.step([tp.grad.numpy().copy() for tp in tparams])
        history.append(np.concatenate([a.ravel() for a in arrays]))
    return np.stack(history)


def torch_trajectory(name, opts, *, dtype=torch.float64, steps=25, split=False):
    params, loss_fn = make_problem(dtype, maximize=opts.get("maximize", False))
    opt = getattr(torch.optim, name)(param_groups(params, opts, split=split), **opts)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        history.append(torch.cat([p.detach().flatten() for p in params]).numpy().copy())
    return np.stack(history)


@pytest.mark.parametrize("name", list(optimizers.DEFINITIONS))
def test_constructor_signature_matches_the_torch_front_end(name):
    ours = inspect.signature(getattr(optim_numpy, name).__init__)
    theirs = inspect.signature(getattr(optim_torch, name).__init__)
    assert ours == theirs


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float64_trajectory_equals_torch_optim(case):
    name, opts = case
    np.testing.assert_allclose(
        numpy_trajectory(name, opts), torch_trajectory(name, opts), rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("case", CASES[1::4], ids=case_id)
def test_float32_trajectory_equals_torch_optim_to_roundoff(case):
    name, opts = case
    # Adafactor divides each gradient entry by a root mean square, so entries near zero turn
    # round-off into sizeable steps: on this problem a last-bit difference (NumPy's and torch's
    # norms sum in different orders) grows about fourfold a step from step 19 on (measured);
    # float64 holds the full run to 1e-10
    steps = 18 if name == "Adafactor" else 25
    ours = numpy_trajectory(name, opts, dtype=np.float32, steps=steps)
    assert ours.dtype == np.float32
    assert_close_to_float32_roundoff(
        ours, torch_trajectory(name, opts, dtype=torch.float32, steps=steps)
    )


@pytest.mark.parametrize("case", CASES[1::3], ids=case_id)
def test_param_groups_and_state_dict_round_trip_follow_torch(case):
    name, opts = case
    expected = torch_trajectory(name, opts, split=True)
    np.testing.assert_allclose(
        numpy_trajectory(name, opts, split=True, state_dict_at=11), expected, rtol=0, atol=1e-10
    )


def test_state_dict_is_a_copy_not_a_view():
    w = np.ones(3)
    opt = optim_numpy.Adam([w], lr=0.1)
    opt.step([np.ones(3)])
    saved = opt.state_dict()
    opt.step([np.ones(3)])
    assert saved["state"][0]["step"] == 1
    assert not np.shares_memory(saved["state"][0]["exp_avg"], opt.state[0]["exp_avg"])


def test_step_updates_the_very_arrays_it_was_given():
    w = np.array([1.0, 2.0])
    opt = optim_numpy.SGD([w], lr=0.5)
    opt.step([np.array([1.0, -1.0])])
    np.testing.assert_array_equal(w, [0.5, 2.5])


def test_a_none_gradient_skips_its_parameter():
    a, b = np.ones(2), np.ones(2)
    opt = optim_numpy.Adam([a, b], lr=0.1)
    opt.step([None, np.ones(2)])
    np.testing.assert_array_equal(a, np.ones(2))
    assert opt.state[0] == {} and opt.state[1]["step"] == 1


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ([], ValueError, "empty parameter list"),
        (np.zeros(3), TypeError, "single numpy.ndarray"),
        ([np.zeros(3, dtype=int)], TypeError, r"params\[0\] must be a floating-point"),
        ([[1.0, 2.0]], TypeError, r"params\[0\] must be a floating-point numpy.ndarray"),
    ],
)
def test_bad_parameter_lists_are_rejected_with_a_clear_error(params, error, match):
    with pytest.raises(error, match=match):
        optim_numpy.SGD(params, lr=0.1)


def test_the_same_array_in_two_groups_is_rejected():
    w = np.zeros(2)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim_numpy.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


@pytest.mark.parametrize(
    ("grads", "match"),
    [
        ([np.ones(3)], r"expected 2 gradients"),
        ([np.ones(3), np.ones(4)], r"grads\[1\] has shape \(4,\), expected \(2,\)"),
        ([np.ones(3), np.ones((2, 1))], r"grads\[1\] has shape \(2, 1\)"),
        ([np.ones(3), np.array([1.0, np.nan])], r"grads\[1\] contains NaN"),
    ],
)
def test_bad_gradients_are_rejected_before_anything_changes(grads, match):
    a, b = np.ones(3), np.ones(2)
    opt = optim_numpy.Adam([a, b], lr=0.1)
    with pytest.raises(ValueError, match=match):
        opt.step(grads)
    np.testing.assert_array_equal(a, np.ones(3))
    assert opt.state[0] == {}


@pytest.mark.parametrize("name", NAMES)
def test_validation_matches_torch(name):
    bad = {
        "SGD": dict(lr=-1.0),
        "Adagrad": dict(eps=-1.0),
        "Adadelta": dict(rho=2.0),
        "RMSprop": dict(alpha=-1.0),
        "Adam": dict(betas=(0.9, 1.0)),
        "AdamW": dict(betas=(-0.1, 0.9)),
        "NAdam": dict(momentum_decay=-0.1),
        "RAdam": dict(eps=-1.0),
        "Adamax": dict(betas=(0.9, 1.5)),
        "ASGD": dict(weight_decay=-1.0),
        "Rprop": dict(etas=(1.1, 1.2)),
        "Adafactor": dict(d=0.5),
    }[name]
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **bad)
    with pytest.raises(ValueError) as ours:
        getattr(optim_numpy, name)([np.zeros(1)], **bad)
    assert str(ours.value) == str(theirs.value)


CONVERGENCE = {
    "SGD": dict(lr=0.05, momentum=0.9),
    "Adagrad": dict(lr=0.5),
    "Adadelta": dict(lr=1.0),
    "RMSprop": dict(lr=0.01),
    "Adam": dict(lr=0.05),
    "AdamW": dict(lr=0.05, weight_decay=0.0),
    "NAdam": dict(lr=0.05),
    "RAdam": dict(lr=0.05),
    "Adamax": dict(lr=0.05),
    "ASGD": dict(lr=0.05),
    "Rprop": dict(lr=0.01),
    "Adafactor": dict(lr=0.5),
}


@pytest.mark.parametrize("name", NAMES)
def test_every_optimizer_solves_an_ill_conditioned_quadratic(name):
    """A cheap convergence test in the style of optax: 0.5 w^T A w with condition number 10."""
    a = np.array([1.0, 10.0])
    w = np.array([3.0, -2.0])
    opt = getattr(optim_numpy, name)([w], **CONVERGENCE[name])
    start = 0.5 * np.sum(a * w * w)
    for _ in range(1000):
        opt.step([a * w])
    assert 0.5 * np.sum(a * w * w) < 1e-4 * start


def test_adam_docstring_formula_agrees_with_the_rule():
    """The formula in rules.adam's docstring, written out by hand, gives the same steps."""
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(5, 4))
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    theta, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    param, state = np.zeros(4), {}
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        theta = theta - lr / (1 - b1**t) * m / (np.sqrt(v / (1 - b2**t)) + eps)
        rules.adam(param, g, state, lr=lr, beta1=b1, beta2=b2, eps=eps)
        np.testing.assert_allclose(param, theta, rtol=1e-13, atol=1e-15)


def test_adam_without_bias_correction_takes_tiny_first_steps():
    """With beta1 = 0.9 and no correction the first step is (1 - 0.9) / sqrt(1 - 0.999) ~ 3.2x
    the corrected one's size: the moments start at zero, so m_1 = 0.1 g and sqrt(v_1) = 0.03 |g|."""
    g = np.array([2.0])
    corrected, raw = np.zeros(1), np.zeros(1)
    rules.adam(corrected, g, {}, lr=1.0, eps=0.0)
    rules.adam(raw, g, {}, lr=1.0, eps=0.0, bias_correction=False)
    np.testing.assert_allclose(corrected, [-1.0])
    np.testing.assert_allclose(raw, [-(1 - 0.9) / np.sqrt(1 - 0.999)])


@pytest.mark.parametrize("name", NAMES)
def test_the_rule_gives_the_same_steps_on_numpy_arrays_and_torch_tensors(name):
    opts = OPTION_GRID[name][-1]
    group = getattr(optim_numpy, name)([np.zeros(1)], **opts).param_groups[0]
    rule, hyper = optim_numpy.__dict__[name].rule, optim_numpy.__dict__[name].hyperparameters(group)
    a, t, state_a, state_t = np.ones(3), torch.ones(3, dtype=torch.float64), {}, {}
    for g in np.random.default_rng(1).normal(size=(6, 3)):
        rule(a, g, state_a, **hyper)
        rule(t, torch.from_numpy(g), state_t, **hyper)
    np.testing.assert_allclose(a, t.numpy(), rtol=1e-14)
