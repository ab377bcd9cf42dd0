"""Data sets and plumbing, held to scikit-learn, torch and the geometry they promise."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler

from dlopt import data


def rng(seed=0):
    return np.random.default_rng(seed)


GENERATORS = {
    "linear_regression": lambda r: data.linear_regression(50, 3, rng=r),
    "two_moons": lambda r: data.two_moons(50, rng=r),
    "spirals": lambda r: data.spirals(60, rng=r),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_are_deterministic_given_the_seed_and_differ_across_seeds(name):
    make = GENERATORS[name]
    first, again, other = make(rng(3)), make(rng(3)), make(rng(4))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_linear_regression_shapes_and_ols_recovers_the_true_weights():
    n, d, sigma = 4000, 3, 0.1
    X, y, w, b = data.linear_regression(n, d, sigma, rng=rng(1))
    assert X.shape == (n, d) and y.shape == (n,) and w.shape == (d,)
    assert X.dtype == y.dtype == np.float64 and isinstance(b, float)
    ols = LinearRegression().fit(X, y)
    se = sigma / math.sqrt(n)  # standard error of each coefficient for standard normal X
    np.testing.assert_allclose(ols.coef_, w, atol=6 * se)
    assert ols.intercept_ == pytest.approx(b, abs=6 * se)
    residual_std = np.std(y - ols.predict(X))
    assert residual_std == pytest.approx(sigma, rel=0.05)


def test_two_moons_without_noise_lie_on_their_two_unit_half_circles():
    X, y = data.two_moons(201, noise=0.0, rng=rng(2))
    assert X.shape == (201, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1} and abs(np.sum(y == 0) - np.sum(y == 1)) <= 1
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.linalg.norm(upper, axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(lower - [1.0, 0.5], axis=1), 1.0)
    assert np.all(upper[:, 1] >= -1e-12) and np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_spirals_without_noise_follow_their_arms_and_are_balanced():
    K, n = 3, 301
    X, y = data.spirals(n, K, noise=0.0, rng=rng(5))
    assert X.shape == (n, 2) and X.dtype == np.float64 and y.dtype == np.int64
    assert sorted(np.bincount(y)) == [100, 100, 101]
    r = np.linalg.norm(X, axis=1)
    assert r.max() == pytest.approx(1.0) and r.min() == pytest.approx(0.0)
    theta = np.arctan2(X[:, 0], X[:, 1])
    expected = 2 * np.pi * y / K + 4 * r
    gap = np.angle(np.exp(1j * (theta - expected)))  # angle difference modulo 2 pi
    on_arm = r > 1e-9  # the centre point has no angle
    np.testing.assert_allclose(gap[on_arm], 0.0, atol=1e-9)
    assert not np.all(np.diff(y) >= 0), "samples are shuffled, not sorted by class"


def test_digits_is_the_bundled_set_scaled_into_unit_interval():
    X, y = data.digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y)) == set(range(10))
    images, y2 = data.digits(flatten=False, scale=False)
    assert images.shape == (1797, 8, 8) and images.max() == 16.0
    np.testing.assert_array_equal(images.reshape(1797, 64) / 16.0, X)
    np.testing.assert_array_equal(y, y2)


# --- splits ------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(5, 300),
    f_val=st.floats(0.0, 0.45),
    f_test=st.floats(0.0, 0.45),
    seed=st.integers(0, 2**16),
)
def test_split_parts_are_disjoint_cover_the_data_and_have_rounded_sizes(n, f_val, f_test, seed):
    X = np.arange(n, dtype=float)[:, None]
    y = np.arange(n)
    if round(f_val * n) + round(f_test * n) == n:  # rounding up both leaves nothing to train on
        with pytest.raises(ValueError, match="no samples left for training"):
            data.train_val_test_split(X, y, f_val, f_test, rng=rng(seed))
        return
    (Xtr, ytr), (Xva, yva), (Xte, yte) = data.train_val_test_split(
        X, y, f_val, f_test, rng=rng(seed)
    )
    assert len(yva) == round(f_val * n) and len(yte) == round(f_test * n)
    parts = [set(ytr), set(yva), set(yte)]
    assert sum(len(p) for p in parts) == n and set().union(*parts) == set(range(n))
    for Xp, yp in [(Xtr, ytr), (Xva, yva), (Xte, yte)]:
        np.testing.assert_array_equal(Xp[:, 0], yp)  # rows stay paired with their labels


def test_stratified_split_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [500, 300, 200])
    X = np.arange(len(y))[:, None]
    splits = data.train_val_test_split(X, y, 0.2, 0.1, rng=rng(0), stratify=True)
    expected = [[350, 210, 140], [100, 60, 40], [50, 30, 20]]  # 70 / 20 / 10 % of each class
    for (_, yp), counts in zip(splits, expected, strict=True):
        np.testing.assert_array_equal(np.bincount(yp, minlength=3), counts)
    # without stratification the proportions drift: the test above can fail
    _, (_, yv), _ = data.train_val_test_split(X, y, 0.2, 0.1, rng=rng(0))
    assert not np.array_equal(np.bincount(yv, minlength=3), [100, 60, 40])


def test_split_rejects_bad_fractions_and_mismatched_lengths():
    X, y = np.zeros((10, 2)), np.zeros(10, dtype=int)
    with pytest.raises(ValueError, match="val_fraction \\+ test_fraction must be < 1"):
        data.train_val_test_split(X, y, 0.6, 0.4, rng=rng())
    with pytest.raises(ValueError, match="Invalid test_fraction"):
        data.train_val_test_split(X, y, 0.2, -0.1, rng=rng())
    with pytest.raises(ValueError, match="same number of samples"):
        data.train_val_test_split(X, y[:9], rng=rng())
    with pytest.raises(TypeError, match="rng must be"):
        data.train_val_test_split(X, y, rng=42)


# --- mini-batches ------------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 200),
    batch_size=st.integers(1, 64),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
)
def test_minibatches_partition_the_epoch(n, batch_size, drop_last, shuffle):
    X = np.arange(n, dtype=float)[:, None] * [1.0, -1.0]
    y = np.arange(n)
    batches = list(
        data.minibatches(X, y, batch_size, shuffle=shuffle, rng=rng(n), drop_last=drop_last)
    )
    expected = n // batch_size if drop_last else math.ceil(n / batch_size)
    assert len(batches) == expected
    seen = np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=int)
    assert len(seen) == len(set(seen.tolist())), "no sample twice"
    assert len(seen) == (expected * batch_size if drop_last else n), "every sample once"
    assert all(len(yb) == batch_size for _, yb in batches[:-1])
    for Xb, yb in batches:
        np.testing.assert_array_equal(Xb[:, 0], yb)  # inputs stay paired with targets
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))


def test_minibatches_shuffle_changes_order_deterministically():
    X, y = np.zeros((100, 1)), np.arange(100)

    def order(seed):
        return np.concatenate([yb for _, yb in data.minibatches(X, y, 16, rng=rng(seed))])

    assert not np.array_equal(order(0), y)
    np.testing.assert_array_equal(order(0), order(0))
    assert not np.array_equal(order(0), order(1))


def test_minibatches_bad_input_raises_at_call_time():
    X, y = np.zeros((10, 2)), np.zeros(10)
    with pytest.raises(TypeError, match="needs rng"):
        data.minibatches(X, y, 4)
    with pytest.raises(ValueError, match="Invalid batch_size"):
        data.minibatches(X, y, 0, shuffle=False)
    with pytest.raises(ValueError, match="same number of samples"):
        data.minibatches(X, y[:5], 2, shuffle=False)


# --- preprocessing -----------------------------------------------------------------------


def test_standardize_equals_sklearn_standard_scaler_fitted_on_train():
    r = rng(7)
    X_train = r.normal(3.0, 2.0, (50, 4))
    X_train[:, 2] = 5.0  # a constant feature
    X_test = r.normal(3.0, 2.0, (20, 4))
    Z_train, Z_test = data.standardize(X_train, X_test)
    scaler = StandardScaler().fit(X_train)
    np.testing.assert_allclose(Z_train, scaler.transform(X_train), atol=1e-12)
    np.testing.assert_allclose(Z_test, scaler.transform(X_test), atol=1e-12)
    (only,) = data.standardize(X_train)
    np.testing.assert_array_equal(only, Z_train)
    with pytest.raises(ValueError, match=r"others\[0\] must have shape"):
        data.standardize(X_train, np.zeros((3, 5)))


def test_one_hot_equals_torch_one_hot():
    y = np.array([[0, 3], [2, 1], [3, 3]])
    expected = torch.nn.functional.one_hot(torch.from_numpy(y), num_classes=5).double().numpy()
    out = data.one_hot(y, 5)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, expected)


def test_one_hot_rejects_out_of_range_and_non_integer_labels():
    with pytest.raises(ValueError, match=r"y must lie in \[0, 2\]"):
        data.one_hot([0, 3], 3)
    with pytest.raises(ValueError, match=r"y must lie in"):
        data.one_hot([-1, 0], 3)
    with pytest.raises(TypeError, match="integer class labels"):
        data.one_hot([0.0, 1.0], 3)


def test_generators_reject_bad_arguments():
    with pytest.raises(ValueError, match="Invalid noise"):
        data.linear_regression(noise=-0.1, rng=rng())
    with pytest.raises(ValueError, match="Invalid n_samples"):
        data.spirals(2, 3, rng=rng())
    with pytest.raises(TypeError, match="rng must be"):
        data.two_moons(rng=None)
