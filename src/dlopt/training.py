r"""The mini-batch training loop, with validation, early stopping and a learning-rate range test.

Vocabulary, as the book uses it: an **iteration** (or step) is one parameter
update from one mini-batch of :math:`B` samples; an **epoch** is one pass over
all :math:`N` training samples, that is :math:`\lceil N/B \rceil` iterations.

The loop works with any :mod:`dlopt.layers` model, :mod:`dlopt.losses` loss and
:mod:`dlopt.optim_numpy` optimizer built on ``model.parameters()``::

    history = fit(model, CrossEntropyLoss(), Adam(model.parameters(), lr=1e-2),
                  X, y, epochs=50, batch_size=32, rng=np.random.default_rng(0),
                  validation=(X_val, y_val), early_stopping=EarlyStopping(patience=5))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dlopt._validation import validate_int, validate_real, validate_rng
from dlopt.data import minibatches
from dlopt.losses import BCEWithLogitsLoss, CrossEntropyLoss
from dlopt.schedules import lr_range_test_values

__all__ = ["History", "EarlyStopping", "accuracy", "evaluate", "fit", "lr_range_test"]


@dataclass
class History:
    """Per-epoch records of a run. ``val_*`` stay empty without validation data;
    ``*_accuracy`` stay empty for a regression loss. ``iteration_loss`` has one
    entry per mini-batch (the noisy curve); ``lr`` the learning rate of each epoch."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    iteration_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_epoch: int | None = None

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list[float]]:
        return {k: v for k, v in vars(self).items() if isinstance(v, list) and v}


class EarlyStopping:
    """Stop when a monitored value has not improved for ``patience`` epochs.

    An epoch improves on the best so far if its value is lower by more than
    ``min_delta`` (``mode="min"``, for a loss) or higher (``mode="max"``, for an
    accuracy). The parameters of the best epoch are kept, and ``restore`` (which
    :func:`fit` calls when ``restore_best=True``) copies them back into the model,
    so a run that went on past its best ends with the best weights, not the last.
    """

    def __init__(
        self,
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "min",
        restore_best: bool = True,
    ):
        self.patience = validate_int("patience", patience, low=1)
        self.min_delta = validate_real("min_delta", min_delta, low=0.0)
        if mode not in ("min", "max"):
            raise ValueError(f"Invalid mode: {mode!r} (expected 'min' or 'max')")
        self.mode = mode
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.best_params: list[np.ndarray] | None = None
        self.bad_epochs = 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value: float, epoch: int, params: list[np.ndarray]) -> bool:
        """Record this epoch's ``value``; return True when training should stop."""
        if np.isnan(value):
            raise ValueError(f"the monitored value is NaN at epoch {epoch}: the run diverged")
        if self._improved(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_params = [p.copy() for p in params]
            return False
        self.bad_epochs += 1
        return self.bad_epochs >= self.patience

    def restore(self, params: list[np.ndarray]) -> None:
        """Copy the best epoch's values into ``params`` (in place)."""
        if self.best_params is None:
            raise RuntimeError("restore() called before any epoch was recorded")
        for p, best in zip(params, self.best_params, strict=True):
            p[...] = best


def accuracy(prediction: np.ndarray, target: np.ndarray, loss_fn) -> float | None:
    """Fraction of correct predictions for a classification loss, else None.

    Cross-entropy: the class with the largest logit. Binary cross-entropy on
    logits: a positive logit means class 1.
    """
    if isinstance(loss_fn, CrossEntropyLoss):
        return float(np.mean(np.argmax(prediction, axis=1) == target))
    if isinstance(loss_fn, BCEWithLogitsLoss):
        return float(np.mean((prediction > 0) == (target > 0.5)))
    return None


def evaluate(model, loss_fn, X, y) -> tuple[float, float | None]:
    """Loss and accuracy of ``model`` in evaluation mode on the whole of ``(X, y)``.

    The model's previous mode (train or eval) is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        prediction = model(X)
        return loss_fn(prediction, y), accuracy(prediction, y, loss_fn)
    finally:
        model.train(was_training)


def _validate_optimizer_matches(model, optimizer) -> None:
    ours = {id(p) for p in model.parameters()}
    theirs = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if ours != theirs:
        raise ValueError(
            "the optimizer must be built on model.parameters() (after any freezing): "
            f"the model has {len(ours)} trainable parameters, the optimizer {len(theirs)}"
        )


def _gradients_in_optimizer_order(model, optimizer) -> list[np.ndarray]:
    """The model's gradients, listed in the order of the optimizer's parameter groups (which
    may group the parameters differently from ``model.parameters()``)."""
    grad_of = {id(p): g for p, g in zip(model.parameters(), model.gradients(), strict=True)}
    return [grad_of[id(p)] for group in optimizer.param_groups for p in group["params"]]


def fit(
    model,
    loss_fn,
    optimizer,
    X,
    y,
    *,
    epochs: int,
    batch_size: int,
    rng,
    validation: tuple | None = None,
    early_stopping: EarlyStopping | None = None,
    scheduler=None,
    shuffle: bool = True,
    on_epoch_end=None,
) -> History:
    """Train ``model`` with mini-batches and return its :class:`History`.

    Each epoch draws a fresh permutation from ``rng`` (unless ``shuffle=False``),
    steps the optimizer once per mini-batch (the last batch may be smaller),
    then evaluates on the training and validation sets in eval mode.
    ``scheduler`` (from :mod:`dlopt.schedules`) is stepped once per epoch.
    ``early_stopping`` monitors the validation loss (the training loss without
    validation data). ``on_epoch_end(epoch, history)`` may return True to stop.
    A run that diverges (a loss or a gradient becomes inf or NaN) raises
    ``FloatingPointError``, whichever of the two overflows first.
    """
    epochs = validate_int("epochs", epochs, low=1)
    batch_size = validate_int("batch_size", batch_size, low=1)
    rng = validate_rng(rng)
    _validate_optimizer_matches(model, optimizer)
    history = History()
    for epoch in range(epochs):
        model.train()
        for xb, yb in minibatches(X, y, batch_size, shuffle=shuffle, rng=rng):
            loss = loss_fn(model(xb), yb)
            if not np.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss became {loss} at epoch {epoch}: lower the learning rate"
                )
            history.iteration_loss.append(loss)
            model.backward(loss_fn.backward())
            grads = _gradients_in_optimizer_order(model, optimizer)
            if not all(np.isfinite(g).all() for g in grads):
                raise FloatingPointError(
                    f"a gradient became inf or NaN at epoch {epoch}: lower the learning rate"
                )
            optimizer.step(grads)
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        if scheduler is not None:
            scheduler.step()
        _record(history, "train", *evaluate(model, loss_fn, X, y))
        if validation is not None:
            _record(history, "val", *evaluate(model, loss_fn, *validation))
        stop = False
        if early_stopping is not None:
            monitored = history.val_loss[-1] if validation is not None else history.train_loss[-1]
            stop = early_stopping.step(monitored, epoch, model.parameters())
        if on_epoch_end is not None and on_epoch_end(epoch, history):
            stop = True
        if stop:
            history.stopped_epoch = epoch
            break
    if early_stopping is not None:
        history.best_epoch = early_stopping.best_epoch
        if early_stopping.restore_best:
            early_stopping.restore(model.parameters())
    return history


def _record(history: History, prefix: str, loss: float, acc: float | None) -> None:
    getattr(history, f"{prefix}_loss").append(loss)
    if acc is not None:
        getattr(history, f"{prefix}_accuracy").append(acc)


def lr_range_test(
    model,
    loss_fn,
    optimizer,
    X,
    y,
    *,
    min_lr: float = 1e-5,
    max_lr: float = 1.0,
    num_steps: int = 100,
    batch_size: int = 32,
    rng,
    diverge_factor: float = 4.0,
):
    """The learning-rate range test (Smith, 2017): raise the learning rate
    geometrically from ``min_lr`` to ``max_lr``, one mini-batch per value, and
    record the loss. Stops early once the loss exceeds ``diverge_factor`` times
    the best seen. The model is changed: build a fresh one for real training.

    The learning rates are :func:`dlopt.schedules.lr_range_test_values`, which validates
    ``min_lr``, ``max_lr`` (finite) and ``num_steps``. Returns ``(lrs, losses)`` as arrays
    of equal length.
    """
    lrs = lr_range_test_values(min_lr, max_lr, num_steps)
    rng = validate_rng(rng)
    _validate_optimizer_matches(model, optimizer)
    losses: list[float] = []
    batches = iter(())
    model.train()
    for lr in lrs:
        try:
            xb, yb = next(batches)
        except StopIteration:
            batches = minibatches(X, y, batch_size, rng=rng)
            xb, yb = next(batches)
        for group in optimizer.param_groups:
            group["lr"] = float(lr)
        loss = loss_fn(model(xb), yb)
        losses.append(loss)
        if not np.isfinite(loss) or loss > diverge_factor * min(losses):
            break
        model.backward(loss_fn.backward())
        optimizer.step(_gradients_in_optimizer_order(model, optimizer))
    return lrs[: len(losses)], np.array(losses)
