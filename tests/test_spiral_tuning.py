"""The hyperparameter chapter's tuning task: its split, its determinism, and losses that
behave as cross-entropy must (chance level ln 3 for a network that learns nothing)."""

import math

import numpy as np
import pytest

from dlopt import spiral_tuning
from dlopt.data import spirals
from dlopt.losses import CrossEntropyLoss
from dlopt.training import evaluate


def test_split_sizes_are_disjoint_and_balanced():
    (xt, yt), (xv, yv), (xs, ys) = spiral_tuning.spiral_split()
    assert (len(yt), len(yv), len(ys)) == (300, 600, 5100)
    # together, the three sets are the 6000 spiral points, each used once
    X, y = spirals(6000, n_classes=3, noise=0.2, rng=np.random.default_rng(0))
    split = np.column_stack([np.vstack([xt, xv, xs]), np.concatenate([yt, yv, ys])])
    whole = np.column_stack([X, y])
    np.testing.assert_array_equal(np.unique(split, axis=0), np.unique(whole, axis=0))
    assert len(split) == len(whole) == 6000
    for labels in (yt, yv, ys):  # each class about a third of every set
        assert np.all(np.abs(np.bincount(labels, minlength=3) / len(labels) - 1 / 3) < 0.06)


def test_validation_loss_is_the_loss_of_the_trained_network_and_is_cached():
    config = {"lr": 0.02, "width": 16}
    loss = spiral_tuning.validation_loss(config, epochs=2)
    model = spiral_tuning.train_mlp(0.02, 16, epochs=2)
    _, (xv, yv), _ = spiral_tuning.spiral_split()
    logits = model(xv)
    # cross-entropy from the logits, written out: mean of logsumexp - logit of the label
    shifted = logits - logits.max(axis=1, keepdims=True)
    by_hand = np.mean(np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(yv)), yv])
    assert loss == pytest.approx(by_hand, rel=1e-12)
    assert loss == pytest.approx(evaluate(model, CrossEntropyLoss(), xv, yv)[0], rel=1e-12)
    before = spiral_tuning._validation_loss.cache_info().hits
    assert spiral_tuning.validation_loss(dict(config), epochs=2) == loss
    assert spiral_tuning._validation_loss.cache_info().hits == before + 1


def test_a_tiny_learning_rate_stays_at_chance_and_a_good_one_learns():
    untrained = spiral_tuning.validation_loss({"lr": 1e-6, "width": 16}, epochs=1)
    assert abs(untrained - math.log(3)) < 0.1
    assert spiral_tuning.validation_loss({"lr": 0.05, "width": 32}) < 0.5 * math.log(3)


def test_bad_configs_are_refused_with_the_argument_named():
    with pytest.raises(ValueError, match="keys 'lr' and 'width'"):
        spiral_tuning.validation_loss({"lr": 0.1})
    with pytest.raises(ValueError, match="Invalid lr"):
        spiral_tuning.validation_loss({"lr": 0.0, "width": 8})
    with pytest.raises(TypeError, match="width must be an integer"):
        spiral_tuning.validation_loss({"lr": 0.1, "width": 8.5})
    with pytest.raises(ValueError, match="Invalid epochs"):
        spiral_tuning.validation_loss({"lr": 0.1, "width": 8}, epochs=0)
