"""The training loop against a hand-written torch loop, and early stopping's best weights."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics
import torch

from dlopt import layers, losses, optim_numpy
from dlopt.data import minibatches
from dlopt.schedules import lr_range_test_values
from dlopt.training import EarlyStopping, evaluate, fit, lr_range_test


def make_data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 > 0.3).astype(np.int64)
    return X, y


def make_model(seed=0, hidden=8):
    rng = np.random.default_rng(seed)
    return layers.Sequential(
        layers.Linear(3, hidden, rng=rng), layers.Tanh(), layers.Linear(hidden, 2, rng=rng)
    )


def to_torch(model):
    mods = []
    for layer in model:
        if isinstance(layer, layers.Linear):
            lin = torch.nn.Linear(layer.params["weight"].shape[1], layer.params["weight"].shape[0])
            lin = lin.double()
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.params["weight"]))
                lin.bias.copy_(torch.from_numpy(layer.params["bias"]))
            mods.append(lin)
        else:
            mods.append(torch.nn.Tanh())
    return torch.nn.Sequential(*mods)


def test_fit_follows_a_hand_written_torch_loop_step_for_step():
    X, y = make_data()
    model = make_model()
    reference = to_torch(model)
    opt = optim_numpy.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(
        model,
        losses.CrossEntropyLoss(),
        opt,
        X,
        y,
        epochs=4,
        batch_size=16,
        rng=np.random.default_rng(7),
    )

    topt = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(7)  # the same permutations, drawn the same way
    for _ in range(4):
        for xb, yb in minibatches(X, y, 16, rng=rng):
            topt.zero_grad()
            torch.nn.functional.cross_entropy(
                reference(torch.from_numpy(xb)), torch.from_numpy(yb)
            ).backward()
            topt.step()
    for ours, theirs in zip(model.parameters(), reference.parameters()):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=1e-12)
    assert len(history.iteration_loss) == 4 * 4  # ceil(60 / 16) iterations per epoch
    with torch.no_grad():
        logits = reference(torch.from_numpy(X))
    assert history.train_loss[-1] == pytest.approx(
        torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).item(), rel=1e-12
    )
    assert history.train_accuracy[-1] == pytest.approx(
        sklearn.metrics.accuracy_score(y, logits.argmax(1).numpy())
    )


def test_early_stopping_restores_the_weights_of_the_best_validation_epoch():
    """A long run records the weights after every epoch; an early-stopped run with the same
    seed must end with the weights of the long run's best validation epoch."""
    X, y = make_data(40, seed=1)
    X_val, y_val = make_data(200, seed=2)
    loss = losses.CrossEntropyLoss()

    def run(**kwargs):
        model = make_model(seed=3, hidden=32)
        opt = optim_numpy.Adam(model.parameters(), lr=0.05)
        snapshots = []
        history = fit(
            model,
            loss,
            opt,
            X,
            y,
            epochs=60,
            batch_size=8,
            rng=np.random.default_rng(4),
            validation=(X_val, y_val),
            on_epoch_end=lambda e, h: snapshots.append([p.copy() for p in model.parameters()]),
            **kwargs,
        )
        return model, history, snapshots

    _, long_history, snapshots = run()
    # the first epoch followed by 5 epochs without a lower validation loss
    best = next(
        e
        for e in range(len(long_history.val_loss) - 5)
        if min(long_history.val_loss[e + 1 : e + 6]) >= min(long_history.val_loss[: e + 1])
        and long_history.val_loss[e] == min(long_history.val_loss[: e + 1])
    )
    assert best + 5 < 60, "the problem must overfit within the budget for the test to mean anything"
    model, history, _ = run(early_stopping=EarlyStopping(patience=5))
    assert history.best_epoch == best
    assert history.stopped_epoch == best + 5
    for ours, expected in zip(model.parameters(), snapshots[best]):
        np.testing.assert_array_equal(ours, expected)
    assert evaluate(model, loss, X_val, y_val)[0] == pytest.approx(long_history.val_loss[best])


def test_parameter_groups_in_another_order_get_their_own_gradients():
    """Weights and biases in separate groups (biases first): the same run as one group."""
    X, y = make_data()
    runs = []
    for grouped in (False, True):
        model = make_model()
        params = model.parameters()
        groups = (
            [
                {"params": [p for p in params if p.ndim == 1]},
                {"params": [p for p in params if p.ndim == 2]},
            ]
            if grouped
            else params
        )
        fit(
            model,
            losses.CrossEntropyLoss(),
            optim_numpy.Adam(groups, lr=0.05),
            X,
            y,
            epochs=3,
            batch_size=16,
            rng=np.random.default_rng(7),
        )
        runs.append(model.parameters())
    for plain, grouped in zip(*runs):
        np.testing.assert_array_equal(plain, grouped)


def test_early_stopping_counts_patience_and_min_delta():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    params = [np.zeros(1)]
    assert not stopper.step(1.0, 0, params)
    assert not stopper.step(0.95, 1, params)  # not better by more than min_delta
    assert stopper.step(0.93, 2, params)
    assert stopper.best_epoch == 0


def test_evaluate_uses_eval_mode_and_restores_the_previous_mode():
    rng = np.random.default_rng(0)
    model = layers.Sequential(layers.Linear(3, 4, rng=rng), layers.Dropout(0.5, rng=rng))
    X, y = rng.normal(size=(10, 3)), rng.normal(size=(10, 4))
    loss_eval, acc = evaluate(model, losses.MSELoss(), X, y)
    assert model.training and acc is None
    assert loss_eval == pytest.approx(losses.MSELoss()(model.eval()(X), y))


def test_lr_range_test_sweeps_geometrically_and_stops_when_the_loss_explodes():
    X, y = make_data()
    model = make_model()
    opt = optim_numpy.SGD(model.parameters(), lr=1e-5)
    lrs, values = lr_range_test(
        model,
        losses.CrossEntropyLoss(),
        opt,
        X,
        y,
        min_lr=1e-4,
        max_lr=1e3,
        num_steps=80,
        rng=np.random.default_rng(0),
    )
    assert len(lrs) == len(values) < 80
    np.testing.assert_allclose(lrs, np.geomspace(1e-4, 1e3, 80)[: len(lrs)])
    assert values[-1] > 4 * values.min() or not np.isfinite(values[-1])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(max_lr=np.inf), "max_lr: inf"),
        (dict(min_lr=0.0), "min_lr"),
        (dict(max_lr=1e-5), "max_lr"),
        (dict(num_steps=1), "num_steps"),
    ],
)
def test_lr_range_test_validates_its_grid_like_schedules_and_leaves_the_model_untouched(
    kwargs, match
):
    X, y = make_data()
    model = make_model()
    before = [p.copy() for p in model.parameters()]
    opt = optim_numpy.SGD(model.parameters(), lr=1e-5)
    args = dict(min_lr=1e-4, max_lr=1.0, num_steps=10, rng=np.random.default_rng(0)) | kwargs
    with pytest.raises(ValueError, match=match):
        lr_range_test(model, losses.CrossEntropyLoss(), opt, X, y, **args)
    for a, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def test_lr_range_test_uses_the_grid_of_schedules():
    X, y = make_data()
    opt_model = make_model()
    opt = optim_numpy.SGD(opt_model.parameters(), lr=1e-5)
    lrs, _ = lr_range_test(
        opt_model,
        losses.CrossEntropyLoss(),
        opt,
        X,
        y,
        min_lr=1e-3,
        max_lr=1e-2,
        num_steps=7,
        rng=np.random.default_rng(0),
    )
    np.testing.assert_array_equal(lrs, lr_range_test_values(1e-3, 1e-2, 7))


def test_an_optimizer_on_other_parameters_is_rejected():
    X, y = make_data()
    model = make_model()
    opt = optim_numpy.SGD(make_model(seed=1).parameters(), lr=0.1)
    with pytest.raises(ValueError, match="built on model.parameters"):
        fit(
            model,
            losses.CrossEntropyLoss(),
            opt,
            X,
            y,
            epochs=1,
            batch_size=8,
            rng=np.random.default_rng(0),
        )


def test_divergence_is_reported_with_advice():
    X, y = make_data()
    X = X * 1e3
    model = make_model()
    opt = optim_numpy.SGD(model.parameters(), lr=1e6)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        with np.errstate(all="ignore"):
            fit(
                model,
                losses.MSELoss(),
                opt,
                X,
                np.zeros((60, 2)),
                epochs=50,
                batch_size=8,
                rng=np.random.default_rng(0),
            )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(epochs=0), "epochs"),
        (dict(batch_size=0), "batch_size"),
        (dict(rng=0), "rng"),
    ],
)
def test_bad_arguments_name_themselves(kwargs, match):
    X, y = make_data()
    model = make_model()
    opt = optim_numpy.SGD(model.parameters(), lr=0.1)
    args = dict(epochs=1, batch_size=8, rng=np.random.default_rng(0)) | kwargs
    with pytest.raises((ValueError, TypeError), match=match):
        fit(model, losses.CrossEntropyLoss(), opt, X, y, **args)
