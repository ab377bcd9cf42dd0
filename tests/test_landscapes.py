"""Landscapes: exact gradients and Hessians held to torch autograd and finite differences."""

import math

import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt import landscapes
from dlopt.landscapes import LANDSCAPES, by_name

NAMES = [f.name for f in LANDSCAPES]
unit = st.floats(0.0, 1.0)


def point_in(f, u, v):
    """The point at fractions (u, v) of the landscape's plot box."""
    (x0, x1), (y0, y1) = f.bounds
    return np.array([x0 + u * (x1 - x0), y0 + v * (y1 - y0)])


def autograd_grad_and_hessian(f, p):
    t = torch.tensor(p, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(f.value(t), t)
    h = torch.autograd.functional.hessian(f.value, torch.tensor(p, dtype=torch.float64))
    return g.numpy(), h.numpy()


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), u=unit, v=unit)
def test_grad_and_hessian_match_torch_autograd_float64(name, u, v):
    f = by_name(name)
    p = point_in(f, u, v)
    g_torch, h_torch = autograd_grad_and_hessian(f, p)
    g, h = f.grad(p), f.hessian(p)
    np.testing.assert_allclose(g, g_torch, rtol=1e-10, atol=1e-10 * (1 + np.abs(g_torch).max()))
    np.testing.assert_allclose(h, h_torch, rtol=1e-10, atol=1e-10 * (1 + np.abs(h_torch).max()))


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(NAMES), u=unit, v=unit)
def test_grad_and_hessian_match_central_finite_differences(name, u, v):
    f = by_name(name)
    p = point_in(f, u, v)
    h = 1e-5
    E = np.eye(2)
    fd_grad = np.array([(f.value(p + h * e) - f.value(p - h * e)) / (2 * h) for e in E])
    fd_hess = np.stack([(f.grad(p + h * e) - f.grad(p - h * e)) / (2 * h) for e in E])
    scale = 1 + abs(f.value(p)) + np.abs(f.grad(p)).max() + np.abs(f.hessian(p)).max()
    np.testing.assert_allclose(f.grad(p), fd_grad, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(f.hessian(p), fd_hess, rtol=1e-6, atol=1e-6 * scale)


def test_grad_on_torch_tensors_equals_numpy_grad():
    p = np.array([0.3, -1.7])
    for f in LANDSCAPES:
        g_t = f.grad(torch.tensor(p, dtype=torch.float64))
        assert isinstance(g_t, torch.Tensor)
        np.testing.assert_allclose(g_t.numpy(), f.grad(p), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_batch_evaluation_equals_pointwise(name):
    f = by_name(name)
    rng = np.random.default_rng(0)
    (x0, x1), (y0, y1) = f.bounds
    P = np.stack([rng.uniform(x0, x1, (3, 4)), rng.uniform(y0, y1, (3, 4))], axis=-1)
    V, G, H = f.value(P), f.grad(P), f.hessian(P)
    assert V.shape == (3, 4) and G.shape == (3, 4, 2) and H.shape == (3, 4, 2, 2)
    for i in range(3):
        for j in range(4):
            assert V[i, j] == pytest.approx(f.value(P[i, j]), rel=1e-14, abs=1e-14)
            np.testing.assert_allclose(G[i, j], f.grad(P[i, j]), rtol=1e-14, atol=1e-14)
            np.testing.assert_allclose(H[i, j], f.hessian(P[i, j]), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("name", NAMES)
def test_grid_values_equal_value_at_grid_points(name):
    f = by_name(name)
    X, Y, Z = f.grid(7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    assert (X.min(), X.max()) == pytest.approx(f.bounds[0])
    assert (Y.min(), Y.max()) == pytest.approx(f.bounds[1])
    assert Z[2, 5] == pytest.approx(f.value([X[2, 5], Y[2, 5]]))


# --- minima: the known values from the literature -------------------------------------

KNOWN_MINIMA = {
    "quadratic": [(0.0, 0.0)],
    "ravine": [(0.0, 0.0)],
    "rosenbrock": [(1.0, 1.0)],
    "beale": [(3.0, 0.5)],
    "noisy_bowl": [(0.0, 0.0)],
    "saddle": [],
    "monkey_saddle": [],
}


@pytest.mark.parametrize("name", sorted(KNOWN_MINIMA))
def test_listed_minima_are_the_known_minimisers_with_zero_value_and_gradient(name):
    f = by_name(name)
    np.testing.assert_allclose(f.minima.reshape(-1, 2), np.reshape(KNOWN_MINIMA[name], (-1, 2)))
    for m in f.minima:
        assert f.value(m) == pytest.approx(0.0, abs=1e-12)
        np.testing.assert_allclose(f.grad(m), 0.0, atol=1e-10)
        assert np.all(np.linalg.eigvalsh(f.hessian(m)) > 0), "a minimum has a positive Hessian"
    assert (f.min_value is None) == (len(f.minima) == 0)


def test_himmelblau_minima_match_scipy_root_refinement():
    f = landscapes.himmelblau()
    literature = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]

    def residuals(p):  # f = u^2 + v^2 is zero exactly where both squares vanish
        x, y = p
        return [x**2 + y - 11, x + y**2 - 7]

    refined = [scipy.optimize.root(residuals, x0, tol=1e-15).x for x0 in literature]
    assert len(f.minima) == 4
    for r in refined:
        dist = np.linalg.norm(f.minima - r, axis=1)
        assert dist.min() < 1e-12
    for m in f.minima:
        assert f.value(m) == pytest.approx(0.0, abs=1e-20)
        np.testing.assert_allclose(f.grad(m), 0.0, atol=1e-10)


@settings(max_examples=25, deadline=None)
@given(a=st.floats(-3, 3), b=st.floats(0.5, 200))
def test_rosenbrock_minimum_is_at_a_a_squared_for_any_parameters(a, b):
    f = landscapes.rosenbrock(a, b)
    m = np.array([a, a * a])
    np.testing.assert_allclose(f.minima, [m])
    assert f.value(m) == 0.0
    np.testing.assert_allclose(f.grad(m), 0.0, atol=1e-12)
    res = scipy.optimize.minimize(f.value, f.start, jac=f.grad, method="BFGS", tol=1e-12)
    np.testing.assert_allclose(res.x, m, atol=1e-4)


@settings(max_examples=25, deadline=None)
@given(kappa=st.floats(1.0, 1e4), phi=st.floats(-math.pi, math.pi))
def test_quadratic_hessian_has_eigenvalues_one_and_kappa_with_valley_along_angle(kappa, phi):
    f = landscapes.quadratic(kappa, phi)
    lam, vecs = np.linalg.eigh(f.hessian(np.zeros(2)))
    np.testing.assert_allclose(lam, [1.0, kappa], rtol=1e-10)
    if kappa > 1.001:  # the eigenvector is only defined when the eigenvalues differ
        assert abs(vecs[:, 0] @ [math.cos(phi), math.sin(phi)]) == pytest.approx(1.0, abs=1e-6)
    (x0, x1), (y0, y1) = f.bounds
    assert x0 <= f.start[0] <= x1 and y0 <= f.start[1] <= y1


def test_noisy_bowl_is_non_convex_with_nine_local_minima():
    f = landscapes.noisy_bowl()
    starts = np.stack(np.meshgrid(np.linspace(-2, 2, 9), np.linspace(-2, 2, 9)), -1).reshape(-1, 2)
    found = []
    for s in starts:
        res = scipy.optimize.minimize(f.value, s, jac=f.grad, method="BFGS", tol=1e-12)
        if not any(np.linalg.norm(res.x - q) < 1e-4 for q in found):
            found.append(res.x)
    assert len(found) == 9
    assert min(f.value(q) for q in found) == pytest.approx(0.0, abs=1e-12)


def test_noisy_bowl_traps_gradient_descent_from_start():
    f = landscapes.noisy_bowl()
    p = f.start.copy()
    for _ in range(2000):
        p = p - 0.01 * f.grad(p)
    np.testing.assert_allclose(f.grad(p), 0.0, atol=1e-8)
    assert f.value(p) > 0.5  # a local minimum, not the global one at value 0


@pytest.mark.parametrize("make", [landscapes.noisy_bowl, landscapes.saddle])
def test_stochastic_grad_is_unbiased_with_the_requested_noise(make):
    f = make(noise=0.7)
    p = np.array([0.4, -1.1])
    rng = np.random.default_rng(1)
    n = 20000
    samples = np.stack([f.stochastic_grad(p, rng=rng) for _ in range(n)])
    # mean within 5 standard errors; sample std within 5 of its standard errors
    assert np.all(np.abs(samples.mean(0) - f.grad(p)) < 5 * 0.7 / math.sqrt(n))
    assert np.all(np.abs(samples.std(0) - 0.7) < 5 * 0.7 / math.sqrt(2 * n))
    again = f.stochastic_grad(p, rng=np.random.default_rng(1))
    np.testing.assert_array_equal(again, samples[0])


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((4, 1)), np.float64(1.0)])
def test_points_with_wrong_last_dimension_raise(bad):
    f = landscapes.rosenbrock()
    for method in (f.value, f.grad, f.hessian):
        with pytest.raises(ValueError, match=r"p must have shape"):
            method(bad)
    with pytest.raises(ValueError, match=r"p must have shape"):
        f.value(torch.zeros(3))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="p must be a real floating array"):
        landscapes.beale().value(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="condition_number"):
        landscapes.quadratic(condition_number=0.5)
    with pytest.raises(ValueError, match="Invalid b"):
        landscapes.rosenbrock(b=0.0)
    with pytest.raises(ValueError, match="noise"):
        landscapes.noisy_bowl(noise=-1.0)
    with pytest.raises(ValueError, match="Invalid name"):
        by_name("banana")
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        landscapes.noisy_bowl().stochastic_grad(np.zeros(2), rng=0)


def test_by_name_round_trips_every_landscape():
    for f in LANDSCAPES:
        assert by_name(f.name).name == f.name
    assert by_name("rosenbrock", a=2.0).minima.tolist() == [[2.0, 4.0]]
