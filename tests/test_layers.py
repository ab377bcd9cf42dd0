"""dlopt.layers against torch.nn: forward values and autograd gradients in float64."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt import layers as L

RTOL, ATOL = 1e-10, 1e-12
SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)


# --------------------------------------------------------------------------- helpers


def copy_params_to_torch(ours: L.Module, theirs: torch.nn.Module) -> None:
    """Load our parameters into the torch namesake, by torch's own parameter names."""
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    with torch.no_grad():
        for name, value in ours.named_parameters():
            theirs.get_parameter(name).copy_(torch.from_numpy(value))


def assert_matches_torch(ours, theirs, x, rng, *, rtol=RTOL, atol=ATOL):
    """Same output, input gradient and parameter gradients as torch autograd."""
    copy_params_to_torch(ours, theirs)
    theirs.zero_grad()  # torch accumulates .grad over calls; ours overwrites
    x_t = torch.tensor(x, requires_grad=True)
    y_t = theirs(x_t)
    y = ours.forward(x)
    assert y.dtype == x.dtype
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=rtol, atol=atol)
    g = rng.standard_normal(y.shape).astype(x.dtype)
    y_t.backward(torch.from_numpy(g))
    grad_in = ours.backward(g)
    assert grad_in.dtype == x.dtype
    np.testing.assert_allclose(grad_in, x_t.grad.numpy(), rtol=rtol, atol=atol)
    grads = ours.gradients()
    names = [n for n, _ in ours.named_parameters()]
    assert len(grads) == len(names)
    for name, grad in zip(names, grads, strict=True):
        expected = theirs.get_parameter(name).grad.numpy()
        np.testing.assert_allclose(grad, expected, rtol=rtol, atol=atol, err_msg=name)


def sample(rng, shape, *, zeros=0.2, scale=3.0, dtype=np.float64):
    """Normal values with a fraction set to exactly 0 (where ReLU & co. have their kink)."""
    x = scale * rng.standard_normal(shape)
    x[rng.random(shape) < zeros] = 0.0
    return x.astype(dtype)


# --------------------------------------------------------------------------- Linear


@SETTINGS
@given(
    seed=seeds,
    batch=st.integers(1, 7),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
    bias=st.booleans(),
)
def test_linear_forward_backward_match_autograd_float64(seed, batch, n_in, n_out, bias):
    rng = np.random.default_rng(seed)
    ours = L.Linear(n_in, n_out, bias=bias, rng=rng)
    theirs = torch.nn.Linear(n_in, n_out, bias=bias, dtype=torch.float64)
    assert_matches_torch(ours, theirs, rng.standard_normal((batch, n_in)), rng)


def test_linear_accepts_extra_leading_axes_like_torch():
    rng = np.random.default_rng(1)
    ours = L.Linear(4, 3, rng=rng)
    theirs = torch.nn.Linear(4, 3, dtype=torch.float64)
    assert_matches_torch(ours, theirs, rng.standard_normal((2, 5, 4)), rng)


def test_linear_init_has_torch_default_distribution():
    n_in, n_out = 64, 200
    ours = L.Linear(n_in, n_out, rng=np.random.default_rng(2))
    torch_w = torch.empty(n_out, n_in, dtype=torch.float64)
    # nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5))
    torch.nn.init.kaiming_uniform_(
        torch_w, a=math.sqrt(5), generator=torch.Generator().manual_seed(0)
    )
    bound = 1 / math.sqrt(n_in)
    w = ours.params["weight"]
    assert w.shape == (n_out, n_in) and ours.params["bias"].shape == (n_out,)
    assert np.abs(w).max() <= bound and torch_w.abs().max().item() <= bound
    assert scipy.stats.ks_2samp(w.ravel(), torch_w.numpy().ravel()).pvalue > 1e-3
    # bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as in torch's reset_parameters
    assert (
        scipy.stats.kstest(ours.params["bias"], "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3
    )


def test_linear_same_seed_gives_same_weights_and_float32_is_the_rounded_float64():
    w64 = L.Linear(3, 2, rng=np.random.default_rng(5)).params["weight"]
    w32 = L.Linear(3, 2, rng=np.random.default_rng(5), dtype=np.float32).params["weight"]
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


def test_linear_backward_overwrites_gradients_in_place_instead_of_accumulating():
    rng = np.random.default_rng(3)
    layer = L.Linear(3, 2, rng=rng)
    grads_before = layer.gradients()
    x, g = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    layer.forward(x)
    layer.backward(g)
    once = [a.copy() for a in layer.gradients()]
    layer.forward(x)
    layer.backward(g)
    for a, b, same in zip(layer.gradients(), once, grads_before, strict=True):
        np.testing.assert_array_equal(a, b)
        assert a is same  # filled in place: an optimizer may hold on to the list
    np.testing.assert_allclose(once[0], g.T @ x, rtol=RTOL)
    layer.zero_grad()
    assert all(not a.any() for a in layer.gradients())


def test_linear_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(4)
    ours = L.Linear(5, 3, rng=rng, dtype=np.float32)
    theirs = torch.nn.Linear(5, 3, dtype=torch.float32)
    assert ours.params["weight"].dtype == np.float32
    x = rng.standard_normal((4, 5)).astype(np.float32)
    assert_matches_torch(ours, theirs, x, rng, rtol=1e-5, atol=1e-6)
    assert ours.grads["weight"].dtype == np.float32


def test_linear_rejects_input_of_the_wrong_dtype_instead_of_upcasting():
    layer = L.Linear(2, 2, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="x has dtype float32"):
        layer(np.ones((1, 2), dtype=np.float32))


def test_linear_wrong_last_dimension_names_x_and_expected_shape():
    layer = L.Linear(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 3\).*got \(4, 5\)"):
        layer(np.ones((4, 5)))
    with pytest.raises(ValueError, match="x must have shape"):
        layer(np.float64(1.0))


def test_backward_before_forward_raises_runtime_error():
    for layer in (L.Linear(3, 2, rng=np.random.default_rng(0)), L.ReLU(), L.BatchNorm1d(2)):
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.ones((1, 2)))


def test_backward_twice_after_one_forward_raises_runtime_error():
    rng = np.random.default_rng(0)
    for layer in (L.Linear(3, 2, rng=rng), L.ReLU(), L.BatchNorm1d(2), L.Dropout(0.5, rng=rng)):
        x = rng.standard_normal((4, 3 if isinstance(layer, L.Linear) else 2))
        g = np.ones_like(layer.forward(x))
        layer.backward(g)
        with pytest.raises(RuntimeError, match=r"backward\(\) was called twice after one forward"):
            layer.backward(g)
        layer.forward(x)  # a new forward allows the next backward
        layer.backward(g)


def tied_mlp_in_torch(weight, bias):
    """x -> lin -> tanh -> lin with ONE torch.nn.Linear used twice (weights tied)."""
    lin = torch.nn.Linear(*weight.shape[::-1]).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(weight))
        lin.bias.copy_(torch.from_numpy(bias))
    return lin, lambda x: lin(torch.tanh(lin(x)))


def test_a_layer_reused_in_one_forward_pass_refuses_backward_instead_of_wrong_gradients():
    rng = np.random.default_rng(30)
    lin = L.Linear(4, 4, rng=rng)
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    reused = L.Sequential(lin, L.Tanh(), lin)
    reused.forward(x)
    with pytest.raises(RuntimeError, match="used twice in one forward pass"):
        reused.backward(g)
    # the same reuse by hand, outside a Sequential
    y = lin(np.tanh(lin(x)))
    grad_h = lin.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="use a separate layer for each use"):
        lin.backward(grad_h * (1 - np.tanh(x @ lin.params["weight"].T) ** 2))


def test_one_layer_per_use_gives_torch_gradients_of_a_weight_tied_network():
    # what the error message advises: two layers with the same weights, their gradients added,
    # equal torch autograd through one nn.Linear used twice (autograd accumulates both uses)
    rng = np.random.default_rng(31)
    weight, bias = rng.standard_normal((4, 4)), rng.standard_normal(4)
    first, second = L.Linear.from_arrays(weight, bias), L.Linear.from_arrays(weight, bias)
    ours = L.Sequential(first, L.Tanh(), second)
    lin, tied = tied_mlp_in_torch(weight, bias)
    x, g = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    x_t = torch.tensor(x, requires_grad=True)
    y_t = tied(x_t)
    y_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ours.forward(x), y_t.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.backward(g), x_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    for name in ("weight", "bias"):
        tied_grad = getattr(lin, name).grad.numpy()
        np.testing.assert_allclose(
            first.grads[name] + second.grads[name], tied_grad, rtol=RTOL, atol=ATOL
        )
        # each use alone is only part of it: the gradient the old code silently returned
        assert not np.allclose(second.grads[name], tied_grad)


def test_forwards_without_backward_before_a_training_step_do_not_disturb_its_gradients():
    # an evaluation forward (no backward) then a training forward: backward uses the last one
    rng = np.random.default_rng(32)
    ours, theirs = make_mlp(rng)
    ours.forward(rng.standard_normal((9, 4)))
    assert_matches_torch(ours, theirs, rng.standard_normal((7, 4)), rng)


def test_backward_rejects_grad_out_of_the_wrong_shape():
    layer = L.Linear(3, 2, rng=np.random.default_rng(0))
    layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"grad_out must have shape \(4, 2\)"):
        layer.backward(np.ones((4, 3)))


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"in_features": 0, "out_features": 2}, ValueError),
        ({"in_features": 2.5, "out_features": 2}, TypeError),
        ({"in_features": 2, "out_features": 2, "rng": 42}, TypeError),
        ({"in_features": 2, "out_features": 2, "dtype": np.int64}, TypeError),
    ],
)
def test_linear_constructor_validates_arguments(kwargs, error):
    kwargs.setdefault("rng", np.random.default_rng(0))
    with pytest.raises(error):
        L.Linear(**kwargs)


def test_linear_requires_rng_keyword():
    with pytest.raises(TypeError):
        L.Linear(2, 2)


def test_linear_from_arrays_copies_the_given_weights():
    w, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    layer = L.Linear.from_arrays(w, b)
    x = np.ones((1, 3))
    torch_out = torch.nn.functional.linear(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)
    )
    np.testing.assert_allclose(layer(x), torch_out.numpy(), rtol=RTOL)
    w[0, 0] = 100.0
    assert layer.params["weight"][0, 0] == 0.0


# --------------------------------------------------------------------------- activations

ACTIVATIONS = {
    "ReLU": (L.ReLU, torch.nn.ReLU),
    "LeakyReLU": (lambda: L.LeakyReLU(0.1), lambda: torch.nn.LeakyReLU(0.1)),
    "ELU": (lambda: L.ELU(alpha=0.7), lambda: torch.nn.ELU(alpha=0.7)),
    "Sigmoid": (L.Sigmoid, torch.nn.Sigmoid),
    "Tanh": (L.Tanh, torch.nn.Tanh),
    "GELU": (L.GELU, torch.nn.GELU),
    "GELU-tanh": (lambda: L.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "SiLU": (L.SiLU, torch.nn.SiLU),
    "Softmax": (L.Softmax, lambda: torch.nn.Softmax(dim=-1)),
    "Softmax-dim0": (lambda: L.Softmax(dim=0), lambda: torch.nn.Softmax(dim=0)),
    "Identity": (L.Identity, torch.nn.Identity),
    "Flatten": (L.Flatten, torch.nn.Flatten),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@SETTINGS
@given(seed=seeds, batch=st.integers(1, 6), features=st.integers(1, 6), depth=st.integers(1, 3))
def test_activation_forward_backward_match_autograd_float64_including_zeros(
    name, seed, batch, features, depth
):
    ours, theirs = ACTIVATIONS[name]
    rng = np.random.default_rng(seed)
    assert_matches_torch(ours(), theirs(), sample(rng, (batch, features, depth)), rng)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_keeps_float32_and_matches_torch_float32(name):
    ours, theirs = ACTIVATIONS[name]
    rng = np.random.default_rng(7)
    x = sample(rng, (5, 4), dtype=np.float32)
    assert_matches_torch(ours(), theirs(), x, rng, rtol=1e-5, atol=1e-6)


def test_relu_gradient_at_exactly_zero_is_zero_like_torch():
    x = np.array([[-1.0, 0.0, 2.0]])
    relu = L.ReLU()
    relu(x)
    x_t = torch.tensor(x, requires_grad=True)
    torch.relu(x_t).sum().backward()
    grad = relu.backward(np.ones_like(x))
    np.testing.assert_array_equal(grad, x_t.grad.numpy())
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (L.sigmoid, torch.sigmoid),
        (L.softmax, lambda t: torch.softmax(t, dim=-1)),
        (L.log_softmax, lambda t: torch.log_softmax(t, dim=-1)),
        (L.silu, torch.nn.functional.silu),
        (L.elu, torch.nn.functional.elu),
        (L.gelu, torch.nn.functional.gelu),
    ],
    ids=["sigmoid", "softmax", "log_softmax", "silu", "elu", "gelu"],
)
def test_functional_forms_are_stable_for_huge_inputs_and_match_torch(ours, theirs):
    x = np.array([[-1e4, -750.0, -30.0, 0.0, 30.0, 750.0, 1e4]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = ours(x)
    np.testing.assert_allclose(y, theirs(torch.from_numpy(x)).numpy(), rtol=RTOL, atol=0)
    assert np.all(np.isfinite(y))


@SETTINGS
@given(
    seed=seeds,
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    axis=st.sampled_from([0, 1, -1]),
)
def test_softmax_and_log_softmax_match_torch_along_any_axis(seed, shape, axis):
    x = sample(np.random.default_rng(seed), shape, scale=20.0)
    x_t = torch.from_numpy(x)
    np.testing.assert_allclose(
        L.softmax(x, axis), torch.softmax(x_t, axis).numpy(), rtol=RTOL, atol=ATOL
    )
    np.testing.assert_allclose(
        L.log_softmax(x, axis), torch.log_softmax(x_t, axis).numpy(), rtol=RTOL, atol=ATOL
    )


def test_flatten_matches_torch_for_images_and_restores_shape_in_backward():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 4, 5))
    assert_matches_torch(L.Flatten(), torch.nn.Flatten(), x, rng)
    assert_matches_torch(L.Flatten(1, 2), torch.nn.Flatten(1, 2), x, rng)
    with pytest.raises(ValueError, match="Flatten"):
        L.Flatten(start_dim=3)(np.ones((2, 3)))


def test_activation_arguments_are_validated():
    with pytest.raises(ValueError, match="approximate"):
        L.GELU("erf")
    with pytest.raises(TypeError, match="negative_slope"):
        L.LeakyReLU("0.1")
    with pytest.raises(ValueError, match="Softmax"):
        L.Softmax(dim=2)(np.ones((2, 2)))
    with pytest.raises(TypeError, match="torch tensor"):
        L.ReLU()(torch.ones(2))


# --------------------------------------------------------------------------- Dropout


def test_dropout_matches_torch_inverted_dropout_with_the_same_mask():
    rng = np.random.default_rng(9)
    p = 0.3
    layer = L.Dropout(p, rng=rng)
    x = rng.uniform(1.0, 2.0, (20, 30))  # never 0, so the mask is y != 0
    y = layer(x)
    mask = torch.from_numpy((y != 0).astype(np.float64))
    x_t = torch.tensor(x, requires_grad=True)
    # torch's CPU dropout: noise = bernoulli(1 - p) / (1 - p); output = input * noise
    y_t = x_t * (mask / (1 - p))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=RTOL, atol=0)
    g = rng.standard_normal(x.shape)
    y_t.backward(torch.from_numpy(g))
    # backward multiplies by the mask forward drew (torch's), not by a fresh one
    np.testing.assert_allclose(layer.backward(g), x_t.grad.numpy(), rtol=RTOL, atol=0)


def test_dropout_scales_kept_units_by_the_same_factor_as_torch():
    p = 0.25
    x = np.full((50, 50), 3.0)
    ours = L.Dropout(p, rng=np.random.default_rng(10))(x)
    theirs = torch.nn.functional.dropout(torch.from_numpy(x), p=p, training=True).numpy()
    assert np.unique(ours[ours != 0]).tolist() == np.unique(theirs[theirs != 0]).tolist()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_output_is_unbiased_and_keeps_a_fraction_1_minus_p(p):
    n = 200_000
    x = np.ones(n)
    y = L.Dropout(p, rng=np.random.default_rng(11))(x)
    kept = np.mean(y != 0)
    assert abs(kept - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    # each y_i is 0 or 1/(1-p): mean 1, variance p/(1-p)
    assert abs(y.mean() - 1.0) < 5 * math.sqrt(p / (1 - p) / n)


def test_dropout_eval_mode_is_the_identity_in_both_directions():
    layer = L.Dropout(0.5, rng=np.random.default_rng(12)).eval()
    x = np.random.default_rng(13).standard_normal((4, 6))
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(layer.backward(2 * x), 2 * x)
    theirs = torch.nn.Dropout(0.5).eval()
    np.testing.assert_array_equal(theirs(torch.from_numpy(x)).numpy(), x)


def test_dropout_same_seed_same_mask_and_float32_stays_float32():
    x = np.ones((8, 8), dtype=np.float32)
    a = L.Dropout(0.5, rng=np.random.default_rng(14))(x)
    b = L.Dropout(0.5, rng=np.random.default_rng(14))(x)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32


@pytest.mark.parametrize("p, error", [(1.0, ValueError), (-0.1, ValueError), ("0.5", TypeError)])
def test_dropout_validates_p(p, error):
    with pytest.raises(error, match="p"):
        L.Dropout(p, rng=np.random.default_rng(0))


def test_dropout_requires_a_generator():
    with pytest.raises(TypeError, match="rng"):
        L.Dropout(0.5, rng=None)


# --------------------------------------------------------------------------- BatchNorm

BATCHNORM_CASES = {
    "1d-NC": (L.BatchNorm1d, torch.nn.BatchNorm1d, (8, 4), {}),
    "1d-NCL": (L.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3, 5), {}),
    "2d": (L.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 5), {}),
    "2d-eps-momentum": (
        L.BatchNorm2d,
        torch.nn.BatchNorm2d,
        (3, 2, 2, 3),
        {"eps": 1e-3, "momentum": 0.3},
    ),
    "1d-cumulative": (L.BatchNorm1d, torch.nn.BatchNorm1d, (5, 4), {"momentum": None}),
    "1d-no-affine": (L.BatchNorm1d, torch.nn.BatchNorm1d, (7, 3), {"affine": False}),
    "1d-no-running": (L.BatchNorm1d, torch.nn.BatchNorm1d, (7, 3), {"track_running_stats": False}),
}


def assert_same_running_stats(ours, theirs):
    if theirs.running_mean is None:
        assert ours.running_mean is None and ours.running_var is None
        return
    np.testing.assert_allclose(ours.running_mean, theirs.running_mean.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.running_var, theirs.running_var.numpy(), rtol=RTOL, atol=ATOL)
    assert ours.num_batches_tracked == theirs.num_batches_tracked.item()


@pytest.mark.parametrize("case", BATCHNORM_CASES)
def test_batchnorm_matches_torch_over_training_steps_then_in_eval_mode(case):
    ours_cls, torch_cls, shape, kwargs = BATCHNORM_CASES[case]
    rng = np.random.default_rng(15)
    channels = shape[1]
    ours = ours_cls(channels, **kwargs)
    theirs = torch_cls(channels, dtype=torch.float64, **kwargs)
    for value in ours.params.values():  # away from the trivial 1 and 0
        value[...] = rng.uniform(0.5, 2.0, channels)
    for _ in range(4):
        x = rng.normal(2.0, 3.0, shape)
        assert_matches_torch(ours, theirs, x, rng)
        assert_same_running_stats(ours, theirs)
    ours.eval()
    theirs.eval()
    for _ in range(2):
        assert_matches_torch(ours, theirs, rng.normal(2.0, 3.0, shape), rng)
    assert_same_running_stats(ours, theirs)


def test_batchnorm_running_var_uses_the_unbiased_batch_variance():
    x = np.random.default_rng(16).standard_normal((5, 2))
    bn = L.BatchNorm1d(2, momentum=1.0)  # running stats := this batch's
    bn(x)
    np.testing.assert_allclose(
        bn.running_var, torch.from_numpy(x).var(dim=0, unbiased=True).numpy()
    )
    np.testing.assert_allclose(bn.running_mean, torch.from_numpy(x).mean(dim=0).numpy())


def test_batchnorm_train_mode_normalises_with_the_biased_batch_variance():
    x = np.random.default_rng(17).normal(3.0, 2.0, (10, 3))
    y = L.BatchNorm1d(3, eps=1e-12)(x)
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=0), 1.0, rtol=1e-9)  # np.var is the biased one


def test_batchnorm_with_one_value_per_channel_raises_in_train_mode_like_torch():
    x = np.ones((1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3, dtype=torch.float64)(torch.from_numpy(x))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        L.BatchNorm1d(3)(x)
    rng = np.random.default_rng(18)
    assert_matches_torch(
        L.BatchNorm1d(3).eval(), torch.nn.BatchNorm1d(3, dtype=torch.float64).eval(), x, rng
    )


def test_batchnorm_float32_stays_float32_and_matches_torch():
    rng = np.random.default_rng(19)
    ours = L.BatchNorm2d(2, dtype=np.float32)
    theirs = torch.nn.BatchNorm2d(2, dtype=torch.float32)
    x = rng.normal(1.0, 2.0, (4, 2, 3, 3)).astype(np.float32)
    assert_matches_torch(ours, theirs, x, rng, rtol=1e-4, atol=1e-5)
    assert ours.running_var.dtype == np.float32


@pytest.mark.parametrize(
    "layer, shape",
    [(L.BatchNorm1d(3), (4, 2)), (L.BatchNorm1d(3), (4, 3, 2, 2)), (L.BatchNorm2d(3), (4, 3))],
)
def test_batchnorm_rejects_the_wrong_channel_count_or_rank(layer, shape):
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3"):
        layer(np.ones(shape))


def test_batchnorm_validates_arguments():
    with pytest.raises(ValueError, match="num_features"):
        L.BatchNorm1d(0)
    with pytest.raises(ValueError, match="eps"):
        L.BatchNorm1d(2, eps=0.0)
    with pytest.raises(ValueError, match="momentum"):
        L.BatchNorm2d(2, momentum=1.5)


# --------------------------------------------------------------------------- Sequential and Module


def make_mlp(rng):
    ours = L.Sequential(
        L.Linear(4, 6, rng=rng),
        L.Tanh(),
        L.Linear(6, 5, rng=rng),
        L.ReLU(),
        L.Linear(5, 2, rng=rng),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 5),
        torch.nn.ReLU(),
        torch.nn.Linear(5, 2),
    ).double()
    return ours, theirs


def test_sequential_forward_backward_match_torch_with_torch_parameter_names():
    rng = np.random.default_rng(20)
    ours, theirs = make_mlp(rng)
    assert [n for n, _ in ours.named_parameters()] == [
        "0.weight",
        "0.bias",
        "2.weight",
        "2.bias",
        "4.weight",
        "4.bias",
    ]
    assert_matches_torch(ours, theirs, rng.standard_normal((7, 4)), rng)


def test_sequential_with_batchnorm_and_dropout_follows_train_and_eval_of_torch():
    rng = np.random.default_rng(21)
    ours = L.Sequential(
        L.Linear(3, 4, rng=rng), L.BatchNorm1d(4), L.Dropout(0.4, rng=rng), L.Linear(4, 2, rng=rng)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Dropout(0.4), torch.nn.Linear(4, 2)
    ).double()
    assert ours.eval() is ours
    assert not any(layer.training for layer in ours)
    theirs.eval()
    assert_matches_torch(ours, theirs, rng.standard_normal((5, 3)), rng)
    assert ours.train() is ours and all(layer.training for layer in ours)


def test_sequential_indexing_length_iteration_and_slicing():
    rng = np.random.default_rng(22)
    ours, _ = make_mlp(rng)
    assert len(ours) == 5 and isinstance(ours[1], L.Tanh) and ours[-1] is list(ours)[-1]
    head = ours[:2]
    assert isinstance(head, L.Sequential) and len(head) == 2 and head[0] is ours[0]
    assert ours.children() == list(ours)
    with pytest.raises(TypeError, match="argument 1"):
        L.Sequential(L.ReLU(), torch.nn.ReLU())


def test_parameters_and_gradients_are_aligned_and_leave_out_frozen_modules():
    rng = np.random.default_rng(23)
    ours, _ = make_mlp(rng)
    x = rng.standard_normal((3, 4))
    ours.backward(np.ones_like(ours(x)))
    params, grads = ours.parameters(), ours.gradients()
    assert (
        [p.shape for p in params]
        == [g.shape for g in grads]
        == [p.shape for _, p in ours.named_parameters()]
    )
    ours[0].frozen = True
    assert len(ours.parameters()) == len(ours.gradients()) == 4
    assert all(p is not ours[0].params["weight"] for p in ours.parameters())
    assert len(ours.named_parameters()) == 6  # as torch: frozen ones are still parameters


def test_frozen_linear_still_returns_input_gradient_but_leaves_its_grads():
    rng = np.random.default_rng(24)
    layer = L.Linear(3, 2, rng=rng)
    layer.frozen = True
    x, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer(x)
    np.testing.assert_allclose(layer.backward(g), g @ layer.params["weight"], rtol=RTOL)
    assert not layer.grads["weight"].any()


def test_module_is_in_train_mode_and_not_frozen_at_first():
    for layer in (L.ReLU(), L.Linear(1, 1, rng=np.random.default_rng(0)), L.Sequential()):
        assert layer.training and not layer.frozen


def test_mlp_is_the_sequential_of_its_sizes_and_matches_torch():
    rng = np.random.default_rng(40)
    ours = L.mlp([4, 6, 5, 2], rng=np.random.default_rng(1), activation=L.Tanh)
    by_hand_rng = np.random.default_rng(1)
    by_hand = L.Sequential(
        L.Linear(4, 6, rng=by_hand_rng),
        L.Tanh(),
        L.Linear(6, 5, rng=by_hand_rng),
        L.Tanh(),
        L.Linear(5, 2, rng=by_hand_rng),
    )
    assert [type(m) for m in ours] == [type(m) for m in by_hand]
    for (name, a), (_, b) in zip(ours.named_parameters(), by_hand.named_parameters(), strict=True):
        np.testing.assert_array_equal(a, b, err_msg=name)  # the same draws in the same order
    theirs = torch.nn.Sequential(
        torch.nn.Linear(4, 6),
        torch.nn.Tanh(),
        torch.nn.Linear(6, 5),
        torch.nn.Tanh(),
        torch.nn.Linear(5, 2),
    ).double()
    assert_matches_torch(ours, theirs, rng.standard_normal((7, 4)), rng)


def test_mlp_with_dropout_puts_it_after_every_hidden_activation():
    model = L.mlp([2, 8, 8, 3], rng=np.random.default_rng(0), dropout=0.5)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert L.mlp([3, 1], rng=np.random.default_rng(0))[0].params["weight"].shape == (1, 3)


def test_mlp_names_bad_arguments():
    with pytest.raises(ValueError, match="at least an input and an output"):
        L.mlp([3], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"sizes\[1\]"):
        L.mlp([3, 0, 2], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="dropout"):
        L.mlp([3, 2], rng=np.random.default_rng(0), dropout=1.5)
