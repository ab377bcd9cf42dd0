"""Gradient clipping held to torch.nn.utils.clip_grad_norm_ / clip_grad_value_."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt.clipping import clip_grad_norm, clip_grad_value, global_norm

NORM_TYPES = [1.0, 2.0, math.inf]

shapes = st.lists(
    st.lists(st.integers(1, 5), min_size=0, max_size=3).map(tuple), min_size=1, max_size=4
)
settings_ = settings(max_examples=40, deadline=None)


def _random_grads(shapes, scale, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [np.asarray(scale * rng.standard_normal(s), dtype=dtype) for s in shapes]


def _torch_params_with_grads(grads):
    """Parameters whose .grad are torch copies of ``grads``."""
    params = []
    for g in grads:
        p = torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype, requires_grad=True)
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    return params


@settings_
@given(
    shapes=shapes,
    log_scale=st.floats(-3, 3),
    max_norm=st.floats(1e-3, 1e3),
    norm_type=st.sampled_from(NORM_TYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_clip_grad_norm_matches_torch_on_numpy_float64(
    shapes, log_scale, max_norm, norm_type, seed
):
    grads = _random_grads(shapes, 10.0**log_scale, seed)
    params = _torch_params_with_grads(grads)

    total = clip_grad_norm(grads, max_norm, norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)

    assert total == pytest.approx(torch_total.item(), rel=1e-12)
    for g, p in zip(grads, params, strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-12, atol=0)


@settings_
@given(
    shapes=shapes,
    log_scale=st.floats(-3, 3),
    max_norm=st.floats(1e-3, 1e3),
    norm_type=st.sampled_from(NORM_TYPES),
    seed=st.integers(0, 2**32 - 1),
)
def test_clip_grad_norm_on_torch_tensors_matches_torch_float64(
    shapes, log_scale, max_norm, norm_type, seed
):
    grads = _random_grads(shapes, 10.0**log_scale, seed)
    ours = [torch.from_numpy(g.copy()) for g in grads]
    params = _torch_params_with_grads(grads)

    total = clip_grad_norm(ours, max_norm, norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type)

    assert total == pytest.approx(torch_total.item(), rel=1e-12)
    for g, p in zip(ours, params, strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-12, atol=0)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_clip_grad_norm_matches_torch_float32_to_float32_roundoff(norm_type):
    grads = _random_grads([(20, 30), (30,), (5, 3, 3)], 4.0, seed=7, dtype=np.float32)
    params = _torch_params_with_grads(grads)
    ours = [torch.from_numpy(g.copy()) for g in grads]

    total_np = clip_grad_norm(grads, 1.5, norm_type)
    total_t = clip_grad_norm(ours, 1.5, norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(params, 1.5, norm_type).item()

    for total in (total_np, total_t):
        assert total == pytest.approx(torch_total, rel=1e-5)
    for g, o, p in zip(grads, ours, params, strict=True):
        assert g.dtype == np.float32 and o.dtype == torch.float32
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(o.numpy(), p.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("norm_type", NORM_TYPES)
def test_global_norm_equals_norm_of_concatenated_vector(norm_type):
    grads = _random_grads([(4, 3), (2,), (2, 2, 2)], 3.0, seed=1)
    flat = np.concatenate([g.ravel() for g in grads])
    assert global_norm(grads, norm_type) == pytest.approx(
        np.linalg.norm(flat, ord=norm_type), rel=1e-13
    )
    assert global_norm([], norm_type) == 0.0


def test_clip_grad_norm_leaves_small_gradients_unchanged_and_skips_none():
    grads = [np.array([0.3, -0.4]), None]
    total = clip_grad_norm(grads, max_norm=1.0)
    assert total == pytest.approx(0.5, rel=1e-15)
    np.testing.assert_array_equal(grads[0], [0.3, -0.4])


def test_clipped_norm_is_at_most_max_norm():
    grads = _random_grads([(10, 10), (10,)], 100.0, seed=3)
    clip_grad_norm(grads, max_norm=2.0)
    assert global_norm(grads) <= 2.0
    assert global_norm(grads) == pytest.approx(2.0, rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_gradient_raises_runtime_error_like_torch(bad):
    grads = [np.array([1.0, bad]), np.array([2.0])]
    params = _torch_params_with_grads(grads)
    with pytest.raises(RuntimeError, match="non-finite"):
        torch.nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(grads[1], [2.0])  # untouched when it raises


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_gradient_without_error_scales_like_torch(bad):
    grads = [np.array([1.0, bad]), np.array([2.0])]
    params = _torch_params_with_grads(grads)
    torch_total = torch.nn.utils.clip_grad_norm_(params, 1.0).item()
    with np.errstate(invalid="ignore"):  # inf * 0, as torch computes it
        total = clip_grad_norm(grads, 1.0)
    np.testing.assert_equal(total, torch_total)
    for g, p in zip(grads, params, strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())  # NaN == NaN for assert_array_equal


@settings_
@given(
    shapes=shapes,
    log_scale=st.floats(-2, 2),
    clip_value=st.floats(1e-3, 10.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_clip_grad_value_matches_torch_on_numpy_and_tensors(shapes, log_scale, clip_value, seed):
    grads = _random_grads(shapes, 10.0**log_scale, seed)
    ours_t = [torch.from_numpy(g.copy()) for g in grads]
    params = _torch_params_with_grads(grads)

    clip_grad_value(grads, clip_value)
    clip_grad_value(ours_t, clip_value)
    torch.nn.utils.clip_grad_value_(params, clip_value)

    for g, o, p in zip(grads, ours_t, params, strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())
        torch.testing.assert_close(o, p.grad, rtol=0, atol=0)


def test_clip_grad_value_keeps_nan_like_torch():
    g = np.array([np.nan, 5.0, -5.0, 0.5])
    p = _torch_params_with_grads([g])
    clip_grad_value([g], 1.0)
    torch.nn.utils.clip_grad_value_(p, 1.0)
    np.testing.assert_array_equal(g, p[0].grad.numpy())


@pytest.mark.parametrize("max_norm", [0.0, -1.0, np.nan])
def test_clip_grad_norm_rejects_nonpositive_or_nan_max_norm(max_norm):
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm([np.ones(3)], max_norm)


@pytest.mark.parametrize("norm_type", [0.5, 0.0, -2.0])
def test_global_norm_rejects_norm_type_below_one(norm_type):
    with pytest.raises(ValueError, match="norm_type"):
        global_norm([np.ones(3)], norm_type)


def test_clip_grad_value_rejects_nonpositive_clip_value():
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value([np.ones(3)], 0.0)


@pytest.mark.parametrize(
    "grads",
    [
        np.ones(3),  # a bare array, not a list
        [np.ones(3, dtype=np.int64)],  # cannot be scaled in place
        [[1.0, 2.0]],  # a list, not an array
        [torch.ones(3, dtype=torch.int32)],
    ],
)
def test_clip_grad_norm_rejects_grads_it_cannot_scale_in_place(grads):
    with pytest.raises(TypeError, match="grads"):
        clip_grad_norm(grads, 1.0)
