"""The fine-tuning chapter's transfer task: digits as the source, their negatives as the target.

Both tasks come from scikit-learn's 1797 handwritten digits (8x8 pixels in [0, 1], flattened
to 64 numbers), split once at random (seed 0) into two disjoint sets:

- the **source task**: 1200 digits as they are, 900 to train and 300 to test;
- the **target task**: the other 597 as negatives, :math:`x \\mapsto 1 - x`; a target split
  draws ``per_class`` labelled images of each digit for training, ``n_val`` for validation,
  and leaves the rest for testing.

The network is the chapter's small MLP: a body of two blocks (``Linear`` + ``ReLU``, 64 pixels
to ``hidden`` to ``hidden`` features) and a linear head to the 10 logits. :class:`DigitTransfer`
holds the split and the network pretrained on the source task (Adam, learning rate 3e-3,
30 epochs of mini-batches of 64), so every page of the chapter starts from the same one.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from dlopt._validation import validate_int
from dlopt.data import digits
from dlopt.layers import Linear, ReLU, Sequential
from dlopt.losses import CrossEntropyLoss
from dlopt.optim_numpy import Adam
from dlopt.schedules import LRScheduler, Schedule
from dlopt.training import evaluate, fit

__all__ = ["DigitTransfer", "accuracy"]

N_SOURCE, N_SOURCE_TRAIN = 1200, 900


def accuracy(model, data) -> float:
    """The fraction of the images in ``data`` = (X, y) that ``model`` classifies correctly."""
    return evaluate(model, CrossEntropyLoss(), *data)[1]


class DigitTransfer:
    """The source and target tasks, the chapter's network, and its pretrained weights.

    Attributes
    ----------
    src_train, src_test, tgt_train, tgt_val, tgt_test : tuple of (X, y)
        The source task and the target split of seed 0 (:meth:`target_split`).
    X_tgt, y_tgt : np.ndarray
        All 597 target images (negatives) and their labels.
    source_index, target_index : np.ndarray
        Which of the 1797 digits went to each task (disjoint).
    pretrained : Sequential
        ``Sequential(body, source_head)`` trained on ``src_train``, built on first use.
    """

    accuracy = staticmethod(accuracy)

    def __init__(self, hidden: int = 64) -> None:
        self.hidden = validate_int("hidden", hidden, low=1)
        X, y = digits()
        order = np.random.default_rng(0).permutation(len(X))
        self.source_index, self.target_index = order[:N_SOURCE], order[N_SOURCE:]
        train, test = self.source_index[:N_SOURCE_TRAIN], self.source_index[N_SOURCE_TRAIN:]
        self.src_train, self.src_test = (X[train], y[train]), (X[test], y[test])
        self.X_tgt, self.y_tgt = 1.0 - X[self.target_index], y[self.target_index]
        self.tgt_train, self.tgt_val, self.tgt_test = self.target_split(seed=0)

    def target_split(self, seed: int, per_class: int = 3, n_val: int = 150):
        """(train, validation, test) pairs (X, y) of the target images: ``per_class`` labelled
        images of each digit for training, ``n_val`` for validation, the rest for testing."""
        per_class = validate_int("per_class", per_class, low=1)
        n_val = validate_int("n_val", n_val, low=0)
        split_rng = np.random.default_rng(seed)
        labelled = np.concatenate(
            [split_rng.permutation(np.flatnonzero(self.y_tgt == c))[:per_class] for c in range(10)]
        )
        rest = split_rng.permutation(np.setdiff1d(np.arange(len(self.y_tgt)), labelled))
        val, test = rest[:n_val], rest[n_val:]
        return tuple((self.X_tgt[i], self.y_tgt[i]) for i in (labelled, val, test))

    def make_body(self, seed: int) -> Sequential:
        """Two blocks (Linear + ReLU): 64 pixels -> hidden -> hidden features."""
        layer_rng = np.random.default_rng(seed)
        return Sequential(
            Sequential(Linear(64, self.hidden, rng=layer_rng), ReLU()),
            Sequential(Linear(self.hidden, self.hidden, rng=layer_rng), ReLU()),
        )

    def make_head(self, seed: int) -> Linear:
        """A linear classifier on the features: one logit per digit."""
        return Linear(self.hidden, 10, rng=np.random.default_rng(seed))

    @cached_property
    def pretrained(self) -> Sequential:
        network = Sequential(self.make_body(seed=1), self.make_head(seed=2))
        optimizer = Adam(network.parameters(), lr=3e-3)
        fit(
            network,
            CrossEntropyLoss(),
            optimizer,
            *self.src_train,
            epochs=30,
            batch_size=64,
            rng=np.random.default_rng(3),
        )
        return network

    @property
    def body(self) -> Sequential:
        """The pretrained body (the same object as ``pretrained[0]``: copy it to train it)."""
        return self.pretrained[0]

    @property
    def source_head(self) -> Linear:
        """The pretrained head, ``pretrained[1]``."""
        return self.pretrained[1]

    def source_accuracy(self, body) -> float:
        """Accuracy on the source test set of ``body`` followed by the ORIGINAL source head."""
        return accuracy(Sequential(body, self.source_head), self.src_test)

    def adapt(
        self,
        model,
        lr=None,
        data=None,
        *,
        optimizer=None,
        epochs=60,
        seed=4,
        source_curve=None,
        schedule=None,
    ):
        """Train the trainable parameters of ``model`` on labelled target images; returns it.

        Mini-batches of 10 from ``data`` (``tgt_train`` by default) for ``epochs`` epochs,
        shuffled by ``default_rng(seed)``, with Adam at ``lr`` unless an ``optimizer`` is
        given. If ``source_curve`` is a list, ``source_accuracy(model[0])`` is appended to it
        after every epoch (how much of the source task the body still knows). A ``schedule``
        (a :class:`dlopt.schedules.Schedule`) sets every param group's rate in epoch
        :math:`t` to ``schedule.lr(t, group's lr)``: the optimizer's rates are the peaks.
        """
        if optimizer is None:
            if lr is None:
                raise ValueError("adapt needs lr (for Adam) or an optimizer, got neither")
            optimizer = Adam(model.parameters(), lr=lr)
        scheduler = None
        if schedule is not None:
            if not isinstance(schedule, Schedule):
                raise TypeError(
                    f"schedule must be a dlopt.schedules.Schedule, got {type(schedule).__name__}"
                )
            scheduler = LRScheduler(optimizer, schedule)

        def track(epoch, history):
            source_curve.append(self.source_accuracy(model[0]))

        fit(
            model,
            CrossEntropyLoss(),
            optimizer,
            *(self.tgt_train if data is None else data),
            epochs=epochs,
            batch_size=10,
            rng=np.random.default_rng(seed),
            scheduler=scheduler,
            on_epoch_end=None if source_curve is None else track,
        )
        return model
