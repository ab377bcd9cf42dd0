"""Small data sets that need no download, and the plumbing around them.

Synthetic sets are drawn from an explicit ``rng`` (a ``numpy.random.Generator``),
so the same seed gives the same data on every build. :func:`digits` loads the
8x8 handwritten digits that scikit-learn ships inside its wheel; nothing is ever
fetched from the internet.

Conventions: ``X`` has shape (n, d) and dtype float64; class labels ``y`` have
shape (n,) and dtype int64; regression targets ``y`` have shape (n,), float64.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ._validation import validate_array, validate_int, validate_real, validate_rng

__all__ = [
    "digits",
    "linear_regression",
    "minibatches",
    "one_hot",
    "spirals",
    "split_indices",
    "standardize",
    "train_val_test_split",
    "two_moons",
]


def _seed_from(rng: np.random.Generator) -> int:
    """A seed for libraries that take an int ``random_state`` (scikit-learn)."""
    return int(rng.integers(2**31 - 1))


# --- synthetic data sets -----------------------------------------------------------------


def linear_regression(n_samples: int = 200, n_features: int = 1, noise: float = 0.1, *, rng):
    """A linear model with Gaussian noise: :math:`y = X\\mathbf w + b + \\sigma\\varepsilon`.

    :math:`X_{ij}, w_j, b, \\varepsilon_i \\sim \\mathcal N(0, 1)` independently and
    :math:`\\sigma` = ``noise``. Returns ``(X, y, w_true, b_true)`` with shapes
    (n, d), (n,), (d,) and a float.
    """
    n = validate_int("n_samples", n_samples, low=1)
    d = validate_int("n_features", n_features, low=1)
    sigma = validate_real("noise", noise, low=0.0)
    rng = validate_rng(rng)
    w_true = rng.standard_normal(d)
    b_true = float(rng.standard_normal())
    X = rng.standard_normal((n, d))
    y = X @ w_true + b_true + sigma * rng.standard_normal(n)
    return X, y, w_true, b_true


def two_moons(n_samples: int = 200, noise: float = 0.1, *, rng):
    """Two interleaving half circles (``sklearn.datasets.make_moons``), shuffled.

    ``noise`` is the standard deviation of Gaussian noise added to every coordinate.
    Returns ``(X, y)``: (n, 2) float64 and (n,) int64 in {0, 1}.
    """
    from sklearn.datasets import make_moons

    n = validate_int("n_samples", n_samples, low=2)
    sigma = validate_real("noise", noise, low=0.0)
    rng = validate_rng(rng)
    X, y = make_moons(n_samples=n, noise=sigma, shuffle=True, random_state=_seed_from(rng))
    return X.astype(np.float64), y.astype(np.int64)


def spirals(n_samples: int = 300, n_classes: int = 3, noise: float = 0.2, *, rng):
    """``n_classes`` interleaved spiral arms, one per class, shuffled.

    Arm :math:`k` has points at radius :math:`r \\in [0, 1]` (evenly spaced) and angle
    :math:`\\theta = 2\\pi k / K + 4r + \\sigma\\varepsilon`: a point's position is
    :math:`r(\\sin\\theta, \\cos\\theta)`. No linear classifier separates the arms.
    Classes are as balanced as ``n_samples`` allows. Returns ``(X, y)``:
    (n, 2) float64 and (n,) int64 in {0, ..., K-1}.
    """
    K = validate_int("n_classes", n_classes, low=2)
    n = validate_int("n_samples", n_samples, low=K)
    sigma = validate_real("noise", noise, low=0.0)
    rng = validate_rng(rng)
    counts = [n // K + (k < n % K) for k in range(K)]
    r = np.concatenate([np.linspace(0.0, 1.0, c) for c in counts])
    y = np.repeat(np.arange(K, dtype=np.int64), counts)
    theta = 2 * np.pi * y / K + 4.0 * r + sigma * rng.standard_normal(n)
    X = r[:, None] * np.stack([np.sin(theta), np.cos(theta)], axis=1)
    order = rng.permutation(n)
    return X[order], y[order]


def digits(*, flatten: bool = True, scale: bool = True):
    """The 1797 8x8 handwritten digits bundled with scikit-learn (no download).

    Returns ``(X, y)``: X float64 of shape (1797, 64), or (1797, 8, 8) when
    ``flatten=False``; pixel intensities 0..16 divided by 16 into [0, 1] when
    ``scale``; y int64 in {0, ..., 9}.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = (bunch.data if flatten else bunch.images).astype(np.float64)
    if scale:
        X = X / 16.0  # the pixel values are counts 0..16 of the original 32x32 bitmap
    return X, bunch.target.astype(np.int64)


# --- splitting and batching --------------------------------------------------------------


def _same_length(X, y) -> int:
    n = len(X)
    if len(y) != n:
        raise ValueError(f"X and y must have the same number of samples, got {n} and {len(y)}")
    return n


def split_indices(n: int, val_fraction=0.2, test_fraction=0.2, *, rng, labels=None):
    """Disjoint index arrays ``(train, val, test)`` that together cover ``range(n)``.

    The validation and test sets get ``round(fraction * n)`` samples each (per class,
    ``round(fraction * n_c)``, when ``labels`` is given, so every split keeps the class
    proportions up to rounding); training gets the rest. Each array is sorted.
    """
    n = validate_int("n", n, low=1)
    f_val = validate_real("val_fraction", val_fraction, low=0.0, high=1.0, high_open=True)
    f_test = validate_real("test_fraction", test_fraction, low=0.0, high=1.0, high_open=True)
    if f_val + f_test >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1 to leave training data, "
            f"got {f_val} + {f_test} = {f_val + f_test}"
        )
    rng = validate_rng(rng)
    if labels is None:
        groups = [np.arange(n)]
    else:
        labels = np.asarray(labels)
        if labels.shape != (n,):
            raise ValueError(f"labels must have shape ({n},), got {labels.shape}")
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts: tuple[list, list, list] = ([], [], [])
    for idx in groups:
        idx = rng.permutation(idx)
        n_val, n_test = round(f_val * len(idx)), round(f_test * len(idx))
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
        parts[0].append(idx[n_val + n_test :])
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    if len(train) == 0:
        raise ValueError(f"no samples left for training out of n = {n}")
    return train, val, test


def train_val_test_split(X, y, val_fraction=0.2, test_fraction=0.2, *, rng, stratify: bool = False):
    """Split ``(X, y)`` into training, validation and test sets.

    Returns ``((X_train, y_train), (X_val, y_val), (X_test, y_test))``; the three parts
    are disjoint and cover the data (see :func:`split_indices`). With ``stratify``,
    each part keeps the class proportions of ``y``.
    """
    n = _same_length(X, y)
    train, val, test = split_indices(
        n, val_fraction, test_fraction, rng=rng, labels=y if stratify else None
    )
    X, y = np.asarray(X), np.asarray(y)
    return (X[train], y[train]), (X[val], y[val]), (X[test], y[test])


def minibatches(
    X, y, batch_size: int, *, shuffle: bool = True, rng=None, drop_last: bool = False
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of mini-batches ``(X_b, y_b)``.

    Every sample appears exactly once: :math:`\\lceil n / B \\rceil` batches of size
    :math:`B` = ``batch_size``, the last one smaller when :math:`B` does not divide
    :math:`n`, or :math:`\\lfloor n / B \\rfloor` full batches with ``drop_last``. With
    ``shuffle`` the order is a fresh permutation drawn from ``rng`` (required); without
    it, the data order. Arguments are validated at the call, not at the first ``next``.
    """
    n = _same_length(X, y)
    B = validate_int("batch_size", batch_size, low=1)
    if shuffle:
        if rng is None:
            raise TypeError(
                "minibatches(shuffle=True) needs rng=np.random.default_rng(seed); "
                "pass shuffle=False to keep the data order"
            )
        order = validate_rng(rng).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % B if drop_last else n
    return ((X[order[i : i + B]], y[order[i : i + B]]) for i in range(0, stop, B))


# --- preprocessing -----------------------------------------------------------------------


def standardize(X_train, *others):
    """Centre and scale every feature with the training set's statistics only.

    :math:`\\tilde X = (X - \\mu) / s`, where :math:`\\mu` and :math:`s` (population
    standard deviation, replaced by 1 for a constant feature) are computed on
    ``X_train`` and applied unchanged to ``others`` (validation and test sets), so no
    information leaks from them. Always returns a tuple:
    ``X_train, X_test = standardize(X_train, X_test)``.
    """
    X_train = validate_array("X_train", X_train, ndim=2)
    mu = X_train.mean(axis=0)
    s = X_train.std(axis=0)
    s = np.where(s > 0, s, 1.0)  # a constant feature stays constant (0) instead of NaN
    out = [(X_train - mu) / s]
    for i, X in enumerate(others):
        X = validate_array(f"others[{i}]", X, shape=(None, X_train.shape[1]))
        out.append((X - mu) / s)
    return tuple(out)


def one_hot(y, num_classes: int) -> np.ndarray:
    """Rows of the identity: ``one_hot(y, C)[..., k] = 1`` if ``y == k`` else 0.

    ``y`` holds integers in {0, ..., C-1}, any shape (...); the result has shape
    (..., C) and dtype float64.
    """
    C = validate_int("num_classes", num_classes, low=1)
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= C):
        raise ValueError(
            f"y must lie in [0, {C - 1}] for num_classes={C}, got values in [{y.min()}, {y.max()}]"
        )
    return np.eye(C, dtype=np.float64)[y]
