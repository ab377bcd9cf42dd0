"""The hyperparameter chapter's tuning task: a small MLP on the three-arm spirals.

6000 points of :func:`dlopt.data.spirals` (3 classes, noise 0.2, seed 0) are split once
(seed 1) into 300 training, 600 validation and 5100 test points. The network has two hidden
ReLU layers of ``width`` units and is trained with Adam in mini-batches of 32, by default for
9 epochs (90 steps), from one seed that fixes both its initialization and the order of the
mini-batches, so that two configurations differ only by their hyperparameters.

:func:`validation_loss` is the objective the chapter's searches minimize: the cross-entropy
on the validation points after training, :math:`+\\infty` for a run that diverges. It keeps a
cache, since training the same configuration twice gives the same number.
"""

from __future__ import annotations

import functools

import numpy as np

from ._validation import validate_int, validate_real
from .data import spirals, train_val_test_split
from .layers import mlp
from .losses import CrossEntropyLoss
from .optim_numpy import Adam
from .training import evaluate, fit

__all__ = ["FULL_EPOCHS", "spiral_split", "train_mlp", "validation_loss"]

FULL_EPOCHS = 9


@functools.cache
def spiral_split():
    """``((X_train, y_train), (X_val, y_val), (X_test, y_test))``: 300, 600 and 5100 points."""
    X, y = spirals(6000, n_classes=3, noise=0.2, rng=np.random.default_rng(0))
    return train_val_test_split(
        X, y, val_fraction=0.1, test_fraction=0.85, rng=np.random.default_rng(1)
    )


def train_mlp(lr, width, *, seed: int = 0, epochs: int = FULL_EPOCHS):
    """The network trained with learning rate ``lr``, in eval mode. A run that diverges
    raises ``FloatingPointError``."""
    lr = validate_real("lr", lr, low=0.0, low_open=True)
    width = validate_int("width", width, low=1)
    seed = validate_int("seed", seed, low=0)
    epochs = validate_int("epochs", epochs, low=1)
    (X_train, y_train), _, _ = spiral_split()
    rng = np.random.default_rng(seed)
    model = mlp([2, width, width, 3], rng=rng)  # Linear, ReLU, Linear, ReLU, Linear
    optimizer = Adam(model.parameters(), lr=lr)
    fit(
        model,
        CrossEntropyLoss(),
        optimizer,
        X_train,
        y_train,
        epochs=epochs,
        batch_size=32,
        rng=rng,
    )
    return model.eval()


@functools.cache
def _validation_loss(lr: float, width: int, epochs: int) -> float:
    try:
        model = train_mlp(lr, width, epochs=epochs)
    except FloatingPointError:
        return np.inf
    _, (X_val, y_val), _ = spiral_split()
    return float(evaluate(model, CrossEntropyLoss(), X_val, y_val)[0])


def validation_loss(config: dict, epochs: int = FULL_EPOCHS) -> float:
    """Validation cross-entropy of ``config = {"lr": ..., "width": ...}`` after ``epochs``
    epochs from seed 0; ``objective(config)`` or ``objective(config, budget)`` for the
    searches of :mod:`dlopt.search` and :mod:`dlopt.bayesopt`."""
    if not isinstance(config, dict) or not {"lr", "width"} <= set(config):
        raise ValueError(f"config must be a dict with keys 'lr' and 'width', got {config!r}")
    lr = validate_real("lr", config["lr"], low=0.0, low_open=True)
    width = validate_int("width", config["width"], low=1)
    return _validation_loss(lr, width, validate_int("epochs", epochs, low=1))
