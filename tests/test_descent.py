"""dlopt.descent: paths against torch.optim, settling steps against their definition."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt import landscapes
from dlopt.descent import descend, settles_at
from dlopt.optim_numpy import SGD, Adam


def torch_path(landscape, steps, optimizer_class, **hyperparameters):
    """The same run with torch.optim and autograd through the landscape's torch form."""
    theta = torch.tensor(landscape.start, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([theta], **hyperparameters)
    path = [theta.detach().clone()]
    for _ in range(steps):
        optimizer.zero_grad()
        landscape.value(theta).backward()
        optimizer.step()
        path.append(theta.detach().clone())
    return torch.stack(path).numpy()


@pytest.mark.parametrize(
    ("landscape", "ours", "theirs", "hyperparameters"),
    [
        (landscapes.ravine(), SGD, torch.optim.SGD, {"lr": 0.02, "momentum": 0.9}),
        (landscapes.rosenbrock(), Adam, torch.optim.Adam, {"lr": 0.05, "amsgrad": True}),
        (landscapes.beale(), SGD, torch.optim.SGD, {"lr": 1e-3, "nesterov": True, "momentum": 0.5}),
    ],
    ids=["ravine-momentum", "rosenbrock-amsgrad", "beale-nesterov"],
)
def test_descend_follows_torch_optim_from_the_landscape_start(
    landscape, ours, theirs, hyperparameters
):
    path = descend(landscape, 50, ours, **hyperparameters)
    assert path.shape == (51, 2)
    np.testing.assert_array_equal(path[0], landscape.start)
    np.testing.assert_allclose(
        path, torch_path(landscape, 50, theirs, **hyperparameters), rtol=1e-10, atol=1e-12
    )


def test_descend_on_a_quadratic_is_the_closed_form_of_gradient_descent():
    # L = theta^T H theta / 2: theta_t = (I - lr H)^t theta_0
    bowl = landscapes.quadratic(10.0, angle=0.3)
    hessian = bowl.hessian(np.array(bowl.start, dtype=float))
    step = np.eye(2) - 0.05 * hessian
    expected = [np.linalg.matrix_power(step, t) @ np.array(bowl.start) for t in range(31)]
    np.testing.assert_allclose(descend(bowl, 30, SGD, lr=0.05), expected, rtol=1e-12, atol=1e-14)


def test_descend_with_zero_steps_is_the_start_and_leaves_the_landscape_alone():
    bowl = landscapes.ravine()
    start = np.array(bowl.start, dtype=float)
    np.testing.assert_array_equal(descend(bowl, 0, SGD, lr=0.1), [start])
    np.testing.assert_array_equal(bowl.start, start)


def test_descend_from_another_start_is_the_same_run_from_there():
    ravine = landscapes.ravine()
    path = descend(ravine, 20, SGD, start=(0.5, -1.0), lr=0.02, momentum=0.9)
    np.testing.assert_array_equal(path[0], [0.5, -1.0])
    moved = dataclasses.replace(ravine, start=(0.5, -1.0))
    np.testing.assert_array_equal(path, descend(moved, 20, SGD, lr=0.02, momentum=0.9))


def test_descend_names_bad_arguments():
    with pytest.raises(ValueError, match="steps"):
        descend(landscapes.ravine(), -1, SGD, lr=0.1)
    with pytest.raises(TypeError, match="landscape must be a dlopt.landscapes.Landscape"):
        descend(lambda theta: theta, 5, SGD, lr=0.1)
    with pytest.raises(ValueError, match="start must be a point"):
        descend(landscapes.ravine(), 5, SGD, start=(1.0, 2.0, 3.0), lr=0.1)


def settles_by_definition(losses, target):
    """Straight from the definition: the first t with losses[s] < target for all s >= t."""
    for t in range(len(losses)):
        if all(loss < target for loss in losses[t:]):
            return t
    return None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(0.0, 2.0), st.just(float("nan")), st.just(float("inf"))),
        min_size=1,
        max_size=30,
    ),
    st.floats(0.1, 1.5),
)
def test_settles_at_agrees_with_its_definition(losses, target):
    assert settles_at(np.array(losses), target) == settles_by_definition(losses, target)


def test_settles_at_examples():
    assert settles_at([5.0, 0.5, 2.0, 0.5, 0.1], 1.0) == 3
    assert settles_at([0.1, 0.2], 1.0) == 0
    assert settles_at([0.1, 2.0], 1.0) is None
    assert settles_at([2.0, np.nan, 0.5], 1.0) == 2
    assert settles_at([0.5, 1.0], 1.0) is None  # "below" is strict
    assert isinstance(settles_at(np.array([2.0, 0.5]), 1.0), int)


def test_settles_at_names_bad_arguments():
    with pytest.raises(ValueError, match="losses must have 1 dimensions"):
        settles_at(np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="losses must not be empty"):
        settles_at([], 1.0)
    with pytest.raises((TypeError, ValueError), match="target"):
        settles_at([1.0], "low")
