"""dlopt.digit_transfer: the fine-tuning chapter's tasks against scikit-learn's digits."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score

from dlopt.digit_transfer import DigitTransfer, accuracy
from dlopt.finetune import freeze, parameter_count
from dlopt.layers import Sequential


@pytest.fixture(scope="module")
def task():
    return DigitTransfer()


def rows_of(images, pool):
    """Index in pool of every image (each image of the digits appears once in pool)."""
    where = {row.tobytes(): i for i, row in enumerate(pool)}
    return np.array([where[row.tobytes()] for row in images])


def test_source_and_target_split_the_digits_of_scikit_learn(task):
    sk = load_digits()
    X, y = sk.data / 16.0, sk.target
    assert len(task.src_train[0]) == 900 and len(task.src_test[0]) == 300
    assert len(task.X_tgt) == 597
    everything = np.concatenate([task.source_index, task.target_index])
    np.testing.assert_array_equal(np.sort(everything), np.arange(1797))  # disjoint, complete
    np.testing.assert_array_equal(task.src_train[0], X[task.source_index[:900]])
    np.testing.assert_array_equal(task.src_test[1], y[task.source_index[900:]])
    np.testing.assert_array_equal(task.X_tgt, 1.0 - X[task.target_index])  # negatives
    np.testing.assert_array_equal(task.y_tgt, y[task.target_index])


@pytest.mark.parametrize("seed", [0, 3])
def test_a_target_split_has_three_labels_per_digit_and_covers_the_target_once(task, seed):
    train, val, test = task.target_split(seed)
    assert np.array_equal(np.bincount(train[1], minlength=10), np.full(10, 3))
    assert (len(train[0]), len(val[0]), len(test[0])) == (30, 150, 417)
    indices = np.concatenate([rows_of(part[0], task.X_tgt) for part in (train, val, test)])
    np.testing.assert_array_equal(np.sort(indices), np.arange(597))
    for part in (train, val, test):
        np.testing.assert_array_equal(part[1], task.y_tgt[rows_of(part[0], task.X_tgt)])


def test_the_split_of_seed_0_is_the_default_and_other_seeds_differ(task):
    train, _, _ = task.target_split(0)
    np.testing.assert_array_equal(train[0], task.tgt_train[0])
    assert not np.array_equal(task.target_split(1)[0][0], train[0])


def test_network_sizes_and_seeds(task):
    body, head = task.make_body(seed=1), task.make_head(seed=2)
    assert parameter_count(body) == 2 * (64 * 64 + 64) and parameter_count(head) == 64 * 10 + 10
    assert body(task.src_test[0]).shape == (300, 64)
    np.testing.assert_array_equal(
        task.make_body(seed=1)[1][0].params["weight"], body[1][0].params["weight"]
    )


def test_accuracy_is_scikit_learns_accuracy_of_the_argmax(task):
    model = Sequential(task.make_body(seed=0), task.make_head(seed=0))
    X, y = task.src_test
    assert accuracy(model, (X, y)) == pytest.approx(accuracy_score(y, model(X).argmax(axis=1)))
    assert task.accuracy is accuracy


def test_the_pretrained_network_knows_the_source_task_and_not_the_target(task):
    assert task.pretrained is task.pretrained  # trained once
    assert task.body is task.pretrained[0] and task.source_head is task.pretrained[1]
    assert task.source_accuracy(task.body) == accuracy(task.pretrained, task.src_test) > 0.95
    assert accuracy(task.pretrained, task.tgt_test) < 0.1  # below chance on the negatives


def test_adapt_trains_only_what_is_trainable_and_records_the_source_curve(task):
    model = Sequential(freeze(copy.deepcopy(task.body)), task.make_head(seed=6))
    head_before = model[1].params["weight"].copy()
    curve = []
    assert task.adapt(model, 1e-2, epochs=3, source_curve=curve) is model
    assert len(curve) == 3 and curve[-1] == task.source_accuracy(model[0])
    for (_, ours), (_, pretrained) in zip(
        model[0].named_parameters(), task.body.named_parameters(), strict=True
    ):
        np.testing.assert_array_equal(ours, pretrained)  # the frozen body did not move
    assert not np.array_equal(model[1].params["weight"], head_before)
    with pytest.raises(ValueError, match="lr"):
        task.adapt(model)
