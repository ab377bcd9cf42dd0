"""dlopt.losses against torch.nn.functional: loss values and autograd gradients in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt.losses import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss

RTOL, ATOL = 1e-10, 1e-12
SETTINGS = settings(max_examples=30, deadline=None)
seeds = st.integers(0, 2**32 - 1)
reductions = st.sampled_from(["mean", "sum"])


def assert_loss_matches_torch(loss, torch_loss, prediction, target, *, rtol=RTOL, atol=ATOL):
    """Same value as ``torch_loss(prediction, target)`` and the same gradient (autograd)."""
    p_t = torch.tensor(prediction, requires_grad=True)
    expected = torch_loss(p_t, torch.from_numpy(target))
    expected.backward()
    value = loss(prediction, target)
    assert isinstance(value, float)
    np.testing.assert_allclose(value, expected.item(), rtol=rtol, atol=atol)
    grad = loss.backward()
    assert grad.shape == prediction.shape and grad.dtype == prediction.dtype
    np.testing.assert_allclose(grad, p_t.grad.numpy(), rtol=rtol, atol=atol)


@SETTINGS
@given(seed=seeds, batch=st.integers(1, 8), features=st.integers(1, 5), reduction=reductions)
def test_mse_value_and_gradient_match_torch(seed, batch, features, reduction):
    rng = np.random.default_rng(seed)
    prediction, target = rng.standard_normal((2, batch, features))
    assert_loss_matches_torch(
        MSELoss(reduction=reduction),
        lambda p, t: F.mse_loss(p, t, reduction=reduction),
        prediction,
        target,
    )


@SETTINGS
@given(seed=seeds, batch=st.integers(1, 8), features=st.integers(1, 5), reduction=reductions)
def test_bce_with_logits_value_and_gradient_match_torch(seed, batch, features, reduction):
    rng = np.random.default_rng(seed)
    logits = 5 * rng.standard_normal((batch, features))
    target = rng.uniform(0, 1, (batch, features))  # soft labels too
    target[rng.random(target.shape) < 0.5] = 1.0
    assert_loss_matches_torch(
        BCEWithLogitsLoss(reduction=reduction),
        lambda p, t: F.binary_cross_entropy_with_logits(p, t, reduction=reduction),
        logits,
        target,
    )


@SETTINGS
@given(
    seed=seeds,
    batch=st.integers(1, 8),
    classes=st.integers(2, 6),
    smoothing=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    reduction=reductions,
)
def test_cross_entropy_value_and_gradient_match_torch(seed, batch, classes, smoothing, reduction):
    rng = np.random.default_rng(seed)
    logits = 4 * rng.standard_normal((batch, classes))
    target = rng.integers(0, classes, batch)
    assert_loss_matches_torch(
        CrossEntropyLoss(label_smoothing=smoothing, reduction=reduction),
        lambda p, t: F.cross_entropy(p, t, label_smoothing=smoothing, reduction=reduction),
        logits,
        target,
    )


@pytest.mark.parametrize("scale", [1e2, 1e4])
def test_losses_from_logits_stay_finite_and_exact_for_huge_logits(scale):
    rng = np.random.default_rng(1)
    logits = scale * rng.standard_normal((6, 4))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert_loss_matches_torch(
            CrossEntropyLoss(), F.cross_entropy, logits, rng.integers(0, 4, 6)
        )
        assert_loss_matches_torch(
            BCEWithLogitsLoss(),
            F.binary_cross_entropy_with_logits,
            logits,
            rng.integers(0, 2, (6, 4)).astype(np.float64),
        )


def test_float32_predictions_give_float32_gradients_matching_torch():
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((5, 3)).astype(np.float32)
    target = rng.integers(0, 3, 5)
    assert_loss_matches_torch(
        CrossEntropyLoss(label_smoothing=0.2),
        lambda p, t: F.cross_entropy(p, t, label_smoothing=0.2),
        logits,
        target,
        rtol=1e-5,
        atol=1e-6,
    )
    prediction, soft = rng.uniform(size=(2, 5, 3)).astype(np.float32)
    assert_loss_matches_torch(MSELoss(), F.mse_loss, prediction, soft, rtol=1e-5, atol=1e-6)


def test_mse_refuses_to_broadcast_a_column_against_a_vector():
    with pytest.raises(ValueError, match=r"target must have the shape of prediction \(4, 1\)"):
        MSELoss()(np.zeros((4, 1)), np.zeros(4))


def test_cross_entropy_rejects_out_of_range_or_non_integer_targets():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"target must hold class indices in \[0, 3\]"):
        CrossEntropyLoss()(logits, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="target"):
        CrossEntropyLoss()(logits, np.array([0, -1, 1]))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        CrossEntropyLoss()(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target must have shape \(3,\)"):
        CrossEntropyLoss()(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="prediction must have 2 dimensions"):
        CrossEntropyLoss()(np.zeros(4), np.array([1]))


def test_bce_rejects_targets_outside_0_1():
    with pytest.raises(ValueError, match=r"target must hold values in \[0, 1\]"):
        BCEWithLogitsLoss()(np.zeros(3), np.array([0.0, 1.5, 1.0]))


def test_loss_arguments_and_order_of_calls_are_validated():
    with pytest.raises(ValueError, match="reduction"):
        MSELoss(reduction="none")
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="before forward"):
        BCEWithLogitsLoss().backward()
    with pytest.raises(ValueError, match="prediction must not be empty"):
        MSELoss()(np.zeros((0, 2)), np.zeros((0, 2)))
