"""Newton and L-BFGS against linear algebra, explicit BFGS matrices and scipy."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt.second_order import lbfgs, newton, two_loop_direction


def rosenbrock(p):
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def test_newton_solves_a_quadratic_in_one_step_like_a_linear_solve():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(4, 4))
    a, b = m @ m.T + 4 * np.eye(4), rng.normal(size=4)
    path = newton(lambda x: a @ x - b, lambda x: a, np.zeros(4), steps=1)
    np.testing.assert_allclose(path[-1], np.linalg.solve(a, b), rtol=1e-12)


def test_newton_reaches_the_rosenbrock_minimum_quickly():
    path = newton(
        scipy.optimize.rosen_der, scipy.optimize.rosen_hess, np.array([-1.2, 1.0]), steps=10
    )
    np.testing.assert_allclose(path[-1], [1.0, 1.0], atol=1e-8)


def test_newton_is_attracted_to_a_saddle_and_damping_changes_the_step():
    grad = lambda p: np.array([2 * p[0], -2 * p[1]])  # noqa: E731  f = x^2 - y^2
    hess = lambda p: np.diag([2.0, -2.0])  # noqa: E731
    path = newton(grad, hess, np.array([1.0, 0.5]), steps=1)
    np.testing.assert_allclose(path[-1], [0.0, 0.0], atol=1e-15)  # jumps onto the saddle
    damped = newton(grad, hess, np.array([1.0, 0.5]), steps=1, damping=3.0)
    assert abs(damped[-1][1]) > 0.5  # escapes along the negative-curvature direction


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), m=st.integers(1, 5))
def test_two_loop_recursion_equals_the_explicit_bfgs_inverse_hessian(seed, m):
    """H_{k+1} = (I - rho s y^T) H_k (I - rho y s^T) + rho s s^T, from H_0 = gamma I."""
    rng = np.random.default_rng(seed)
    d = 6
    a = rng.normal(size=(d, d))
    a = a @ a.T + d * np.eye(d)  # curvature pairs of a convex quadratic: s^T y > 0
    s_hist = [rng.normal(size=d) for _ in range(m)]
    y_hist = [a @ s for s in s_hist]
    gamma = s_hist[-1] @ y_hist[-1] / (y_hist[-1] @ y_hist[-1])
    h = gamma * np.eye(d)
    for s, y in zip(s_hist, y_hist):
        rho = 1.0 / (y @ s)
        left = np.eye(d) - rho * np.outer(s, y)
        h = left @ h @ left.T + rho * np.outer(s, s)
    g = rng.normal(size=d)
    np.testing.assert_allclose(two_loop_direction(g, s_hist, y_hist), h @ g, rtol=1e-9)


def test_lbfgs_finds_the_same_rosenbrock_minimum_as_scipy():
    x0 = np.array([-1.2, 1.0])
    ours = lbfgs(rosenbrock, scipy.optimize.rosen_der, x0, steps=200)[-1]
    theirs = scipy.optimize.minimize(
        rosenbrock, x0, jac=scipy.optimize.rosen_der, method="L-BFGS-B", options={"gtol": 1e-10}
    ).x
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_allclose(ours, [1.0, 1.0], atol=1e-6)


def test_lbfgs_path_decreases_the_loss_monotonically():
    path = lbfgs(rosenbrock, scipy.optimize.rosen_der, np.array([-1.2, 1.0]), steps=60)
    values = [rosenbrock(p) for p in path]
    assert all(b <= a for a, b in zip(values, values[1:]))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(steps=-1), ValueError, "steps"),
        (dict(lr=0.0), ValueError, "lr"),
        (dict(damping=-1.0), ValueError, "damping"),
    ],
)
def test_newton_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        newton(lambda x: x, lambda x: np.eye(2), np.zeros(2), **kwargs)


def test_lbfgs_rejects_a_matrix_start_and_nan():
    with pytest.raises(ValueError, match="x0 must have 1 dimensions"):
        lbfgs(rosenbrock, scipy.optimize.rosen_der, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x0 contains NaN"):
        lbfgs(rosenbrock, scipy.optimize.rosen_der, np.array([np.nan, 1.0]))
