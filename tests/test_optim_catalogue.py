"""PyTorch's own catalogue of optimizer inputs (``optim_db`` in the torch wheel), run on dlopt.

Every error input that ``torch.testing._internal.common_optimizers`` lists for an optimizer
that dlopt also has must be refused by dlopt's namesake with the same exception type (or
warned about with the same warning), at the same moment (construction or step), with a
message that matches the catalogue's pattern.

Every valid input it lists (the configurations PyTorch's own optimizer tests run), with
``foreach`` unset, off and on, must give dlopt's namesake the trajectory torch gives: to
1e-12 in float64. ``fused`` and ``differentiable`` are not implemented in dlopt: asked for,
it refuses them with an error that names them.
"""

from __future__ import annotations

import copy
import inspect
import re
import warnings

import pytest
import torch
from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db

from dlopt import optim_torch, optimizers


def _error_inputs():
    cases = []
    for info in optim_db:
        name = info.optim_cls.__name__
        if name not in optimizers.DEFINITIONS:
            continue
        for i, error in enumerate(info.optim_error_inputs_func(device="cpu", dtype=torch.float32)):
            cases.append(pytest.param(name, error, id=f"{name}-{i}"))
    return cases


ERROR_INPUTS = _error_inputs()


def _outcome(cls, error):
    """What ``cls`` does with the error input: the exception or warning type it raises, and when."""
    given = error.optimizer_error_input
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            opt = cls(given.params, **given.kwargs)
            if error.error_on == OptimizerErrorEnum.STEP_ERROR:
                opt.step()
        except Exception as exc:  # the type is what is compared
            return type(exc), str(exc)
    for w in caught:
        if issubclass(w.category, error.error_type):
            return w.category, str(w.message)
    return None, ""


def test_the_catalogue_covers_every_optimizer_dlopt_shares_with_torch():
    covered = {p.values[0] for p in ERROR_INPUTS}
    shared = {name for name in optimizers.DEFINITIONS if hasattr(torch.optim, name)}
    assert covered == shared


@pytest.mark.parametrize(("name", "error"), ERROR_INPUTS)
def test_dlopt_refuses_what_torch_refuses_with_the_same_exception_type(name, error):
    theirs, _ = _outcome(getattr(torch.optim, name), error)
    assert theirs is not None and issubclass(theirs, error.error_type)  # the catalogue holds
    ours, message = _outcome(getattr(optim_torch, name), error)
    assert ours is theirs, f"{name}: torch raises {theirs.__name__}, dlopt {ours} ({message})"
    assert re.search(error.error_regex, message), message  # and says what torch's says


def _valid_inputs():
    cases = []
    for info in optim_db:
        name = info.optim_cls.__name__
        if name not in optimizers.DEFINITIONS:
            continue
        for inp in info.optim_inputs_func(device="cpu", dtype=torch.float64):
            for foreach in (None, False, True):
                kwargs = dict(inp.kwargs, **({} if foreach is None else {"foreach": foreach}))
                cases.append(pytest.param(info, kwargs, id=f"{name}-{inp.desc}-foreach={foreach}"))
    return cases


VALID_INPUTS = _valid_inputs()


def _trajectory(cls, info, kwargs, steps=8):
    """Parameters after ``steps`` steps of ``cls`` on a small nonconvex problem (an embedding
    with sparse gradients for SparseAdam), or the exception the constructor raises."""
    gen = torch.Generator().manual_seed(3)
    sparse = info.optim_cls is torch.optim.SparseAdam
    weight = torch.randn(6, 3, dtype=torch.float64, generator=gen).requires_grad_()
    bias = torch.randn(6, dtype=torch.float64, generator=gen).requires_grad_()
    params = [weight] if sparse else [weight, bias]
    x = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    rows = torch.tensor([0, 2, 2, 5])
    try:
        opt = cls(params, **copy.deepcopy(kwargs))
    except Exception as exc:  # the type is what is compared
        return exc

    def closure():
        opt.zero_grad()
        if sparse:
            loss = torch.nn.functional.embedding(rows, weight, sparse=True).sin().pow(2).sum()
        else:
            loss = (x @ weight.T + bias).sin().pow(2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        if info.step_requires_closure:
            opt.step(closure)
        else:
            closure()
            opt.step()
    return [p.detach() for p in params]


def test_the_valid_catalogue_covers_every_optimizer_dlopt_shares_with_torch():
    covered = {p.values[0].optim_cls.__name__ for p in VALID_INPUTS}
    assert covered == {name for name in optimizers.DEFINITIONS if hasattr(torch.optim, name)}


@pytest.mark.parametrize(("info", "kwargs"), VALID_INPUTS)
def test_every_valid_catalogue_input_gives_torchs_trajectory(info, kwargs):
    theirs = _trajectory(info.optim_cls, info, kwargs)
    ours = _trajectory(getattr(optim_torch, info.optim_cls.__name__), info, kwargs)
    if isinstance(theirs, Exception):  # an input for another device (capturable on CUDA)
        assert isinstance(ours, type(theirs)), f"torch refuses ({theirs}), dlopt does not"
        return
    assert not isinstance(ours, Exception), f"dlopt refuses what torch runs: {ours!r}"
    for mine, reference in zip(ours, theirs, strict=True):
        torch.testing.assert_close(mine, reference, rtol=0, atol=1e-12)


@pytest.mark.parametrize("impl", ["fused", "differentiable"])
def test_implementations_dlopt_does_not_have_are_refused_by_name(impl):
    for name in optimizers.DEFINITIONS:
        if impl not in inspect.signature(getattr(torch.optim, name, object)).parameters:
            continue
        params = [torch.zeros(2, requires_grad=True)]
        with pytest.raises(ValueError, match=rf"{name}\({impl}=True\) is not implemented"):
            getattr(optim_torch, name)(params, **{impl: True})
