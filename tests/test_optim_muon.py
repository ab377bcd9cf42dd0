"""Muon (weight matrices only) against torch.optim.Muon; its Newton–Schulz map against an SVD."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _optim_cases import pairwise

from dlopt import optim_numpy, optim_torch, rules

OPTIONS = pairwise(
    lr=[0.02],
    weight_decay=[0.1, 0.0],
    momentum=[0.95, 0.5],
    nesterov=[True, False],
    ns_steps=[5, 3],
    ns_coefficients=[(3.4445, -4.775, 2.0315), (1.875, -1.25, 0.375)],
    adjust_lr_fn=[None, "original", "match_rms_adamw"],
)


def matrix_problem(dtype, seed=0):
    """Two weight matrices, one tall and one wide (no biases: Muon takes matrices only)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(16, 4, generator=gen, dtype=dtype)
    y = torch.randn(16, 2, generator=gen, dtype=dtype)
    w1 = torch.randn(8, 4, generator=gen, dtype=dtype).mul_(0.5).requires_grad_()
    w2 = torch.randn(2, 8, generator=gen, dtype=dtype).mul_(0.5).requires_grad_()
    return [w1, w2], lambda: ((torch.tanh(x @ w1.T) @ w2.T - y) ** 2).mean()


def run(
    cls, opts, *, dtype=torch.float64, steps=20, split=False, state_dict_at=None, resume_cls=None
):
    params, loss_fn = matrix_problem(dtype)
    groups = (
        [{"params": params[:1]}, {"params": params[1:], "lr": 0.5 * opts["lr"]}]
        if split
        else params
    )
    opt = cls(groups, **opts)
    history = []
    for step in range(steps):
        if step == state_dict_at:
            saved = opt.state_dict()
            opt = (resume_cls or cls)(groups, **opts)
            opt.load_state_dict(saved)
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        history.append(torch.cat([p.detach().flatten() for p in params]).clone())
    return torch.stack(history)


@pytest.mark.parametrize("opts", OPTIONS)
def test_trajectory_equals_torch_with_groups_and_a_state_dict_reload(opts):
    """Same bfloat16 operations as torch, so the same numbers, in float64 and float32."""
    for dtype in (torch.float64, torch.float32):
        theirs = run(torch.optim.Muon, opts, dtype=dtype, split=True)
        ours = run(
            optim_torch.Muon,
            opts,
            dtype=dtype,
            split=True,
            state_dict_at=8,
            resume_cls=torch.optim.Muon,
        )
        torch.testing.assert_close(
            ours,
            theirs,
            rtol=0,
            atol=1e-10 if dtype == torch.float64 else 4 * torch.finfo(torch.float32).eps,
        )
        resumed = run(
            torch.optim.Muon,
            opts,
            dtype=dtype,
            split=True,
            state_dict_at=8,
            resume_cls=optim_torch.Muon,
        )
        torch.testing.assert_close(
            resumed,
            theirs,
            rtol=0,
            atol=1e-10 if dtype == torch.float64 else 4 * torch.finfo(torch.float32).eps,
        )


def numpy_run(opts, steps=20):
    tparams, loss_fn = matrix_problem(torch.float64)
    arrays = [p.detach().numpy().copy() for p in tparams]
    opt = optim_numpy.Muon(arrays, **opts)
    history = []
    for _ in range(steps):
        with torch.no_grad():
            for tp, a in zip(tparams, arrays):
                tp.copy_(torch.from_numpy(a))
                tp.grad = None
        loss_fn().backward()
        opt.step([tp.grad.numpy().copy() for tp in tparams])
        history.append(np.concatenate([a.ravel() for a in arrays]))
    return np.stack(history)


@pytest.mark.parametrize("opts", OPTIONS)
def test_numpy_front_end_follows_torch(opts):
    """NumPy has no bfloat16: the rule computes each operation in float32 and rounds it to
    bfloat16, which on these matrices gives torch's bfloat16 results exactly (measured: the
    float64 trajectories differ by about 1e-16)."""
    ours = numpy_run(opts)
    theirs = run(torch.optim.Muon, opts).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_newton_schulz_gives_singular_values_near_one_and_the_svds_vectors():
    g = np.random.default_rng(0).normal(size=(6, 10))
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    o = rules.newton_schulz(g, steps=5).astype(np.float64)
    singular = np.linalg.svd(o, compute_uv=False)
    assert np.all((singular > 0.6) & (singular < 1.25))
    # the same singular vectors: U^T O V is diagonal up to bfloat16 round-off
    core = u.T @ o @ vt.T
    assert np.max(np.abs(core - np.diag(np.diag(core)))) < 0.02
    # the NumPy emulation of bfloat16 and torch's bfloat16 give the same matrix
    np.testing.assert_array_equal(rules.newton_schulz(torch.from_numpy(g)).float().numpy(), o)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(lr=-1.0), "Learning rate should be >= 0 but is: -1.0"),
        (dict(momentum=-0.1), "momentum should be >= 0"),
        (dict(adjust_lr_fn="mine"), "Adjust learning rate function mine is not supported"),
    ],
)
def test_bad_arguments_raise_torchs_errors(kwargs, match):
    for module in (torch.optim, optim_torch):
        with pytest.raises(ValueError, match=match):
            module.Muon(matrix_problem(torch.float64)[0], **kwargs)
    with pytest.raises(ValueError, match=match):
        optim_numpy.Muon([np.zeros((2, 3))], **kwargs)


def test_vectors_are_refused_in_both_front_ends():
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        optim_torch.Muon([torch.zeros(3, requires_grad=True)])
    with pytest.raises(ValueError, match=r"Muon only supports 2D parameters.*\(3,\)"):
        optim_numpy.Muon([np.zeros(3)])
