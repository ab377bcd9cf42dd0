"""SparseAdam on sparse gradients (an embedding bag), both front ends against torch.optim."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _optim_cases import assert_close_to_float32_roundoff

from dlopt import optim_numpy, optim_torch

OPTIONS = [dict(), dict(lr=0.05, betas=(0.5, 0.9), eps=1e-3), dict(lr=0.02, maximize=True)]


def embedding_problem(dtype, seed=0, *, maximize=False):
    """A bag-of-embeddings regression: each batch touches a few rows (with repeats) of a 20 x 3
    table, so the gradient is sparse, with duplicate indices before coalescing."""
    gen = torch.Generator().manual_seed(seed)
    table = torch.randn(20, 3, generator=gen, dtype=dtype).requires_grad_()
    w = torch.randn(3, 2, generator=gen, dtype=dtype).requires_grad_()
    batches = [torch.randint(0, 20, (6, 4), generator=gen) for _ in range(25)]
    targets = [torch.randn(6, 2, generator=gen, dtype=dtype) for _ in range(25)]

    def loss_fn(step):
        rows = torch.nn.functional.embedding(batches[step], table, sparse=True).sum(1)
        loss = ((rows @ w.detach() - targets[step]) ** 2).mean()
        return -loss if maximize else loss

    return table, loss_fn


def run(cls, opts, *, dtype=torch.float64, state_dict_at=None, resume_cls=None):
    table, loss_fn = embedding_problem(dtype, maximize=opts.get("maximize", False))
    opt = cls([table], **opts)
    history = []
    for step in range(25):
        if step == state_dict_at:
            saved = opt.state_dict()
            opt = (resume_cls or cls)([table], **opts)
            opt.load_state_dict(saved)
        opt.zero_grad()
        loss_fn(step).backward()
        assert table.grad.is_sparse
        opt.step()
        history.append(table.detach().clone())
    return torch.stack(history), opt


@pytest.mark.parametrize("opts", OPTIONS)
def test_trajectory_equals_torch_in_float64_and_float32(opts):
    for dtype in (torch.float64, torch.float32):
        ours, _ = run(optim_torch.SparseAdam, opts, dtype=dtype)
        theirs, _ = run(torch.optim.SparseAdam, opts, dtype=dtype)
        if dtype == torch.float64:
            torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
        else:
            assert_close_to_float32_roundoff(ours, theirs)


@pytest.mark.parametrize("opts", OPTIONS)
def test_state_dict_moves_both_ways_mid_run(opts):
    reference, ref_opt = run(torch.optim.SparseAdam, opts)
    for first, second in (
        (optim_torch.SparseAdam, torch.optim.SparseAdam),
        (torch.optim.SparseAdam, optim_torch.SparseAdam),
    ):
        resumed, opt = run(first, opts, state_dict_at=11, resume_cls=second)
        torch.testing.assert_close(resumed, reference, rtol=0, atol=1e-10)
    ours = run(optim_torch.SparseAdam, opts)[1].state_dict()["state"][0]
    theirs = ref_opt.state_dict()["state"][0]
    assert ours["step"] == theirs["step"] == 25 and type(ours["step"]) is int
    torch.testing.assert_close(ours["exp_avg_sq"], theirs["exp_avg_sq"], rtol=0, atol=1e-12)


def test_rows_without_gradient_keep_their_moments():
    table = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    opt = optim_torch.SparseAdam([table], lr=0.1)
    for rows in ([0, 1], [1]):
        opt.zero_grad()
        torch.nn.functional.embedding(torch.tensor(rows), table, sparse=True).sum().backward()
        opt.step()
    m = opt.state[table]["exp_avg"]
    assert m[0, 0] == pytest.approx(0.1) and m[1, 0] == pytest.approx(0.19)
    assert torch.all(m[2:] == 0)


def test_dense_gradients_are_refused_like_torch():
    for module in (torch.optim, optim_torch):
        w = torch.ones(3, requires_grad=True)
        opt = module.SparseAdam([w])
        w.sum().backward()
        with pytest.raises(RuntimeError, match="does not support dense gradients"):
            opt.step()


def test_numpy_front_end_follows_torch_with_coo_gradients():
    table, loss_fn = embedding_problem(torch.float64)
    array = table.detach().numpy().copy()
    opt = optim_numpy.SparseAdam([array], lr=0.05)
    expected, _ = run(torch.optim.SparseAdam, dict(lr=0.05))
    for step in range(25):
        with torch.no_grad():
            table.copy_(torch.from_numpy(array))
        table.grad = None
        loss_fn(step).backward()
        grad = table.grad  # uncoalesced: the NumPy front end sums repeated rows itself
        opt.step([(grad._indices().numpy(), grad._values().numpy())])
        np.testing.assert_allclose(array, expected[step].numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("grad", "error", "match"),
    [
        (np.ones((4, 2)), TypeError, r"grads\[0\] must be a sparse gradient \(indices, values\)"),
        ((np.array([[0, 5]]), np.ones((2, 2))), ValueError, "index out of range"),
        ((np.array([[0, 1]]), np.ones((2, 3))), ValueError, r"values have shape \(2, 3\)"),
        ((np.array([0, 1]), np.ones((2, 2))), ValueError, r"indices must be an integer array"),
    ],
)
def test_numpy_front_end_rejects_malformed_sparse_gradients(grad, error, match):
    opt = optim_numpy.SparseAdam([np.zeros((4, 2))])
    with pytest.raises(error, match=match):
        opt.step([grad])


def test_parameter_groups_with_different_learning_rates_follow_torch():
    trajectories = []
    for module in (optim_torch, torch.optim):
        gen = torch.Generator().manual_seed(1)
        tables = [
            torch.randn(10, 3, generator=gen, dtype=torch.float64).requires_grad_()
            for _ in range(2)
        ]
        opt = module.SparseAdam(
            [{"params": tables[:1]}, {"params": tables[1:], "lr": 0.05}], lr=0.01
        )
        for _ in range(15):
            opt.zero_grad()
            rows = torch.randint(0, 10, (5,), generator=gen)
            loss = sum(
                torch.nn.functional.embedding(rows, t, sparse=True).pow(2).sum() for t in tables
            )
            loss.backward()
            opt.step()
        trajectories.append(torch.cat([t.detach().flatten() for t in tables]))
    torch.testing.assert_close(trajectories[0], trajectories[1], rtol=0, atol=1e-12)
