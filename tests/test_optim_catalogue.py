"""PyTorch's own catalogue of bad optimizer inputs (``optim_db`` in the torch wheel), run on dlopt.

Every error input that ``torch.testing._internal.common_optimizers`` lists for an optimizer
that dlopt also has must be refused by dlopt's namesake with the same exception type (or
warned about with the same warning), at the same moment (construction or step), with a
message that matches the catalogue's pattern.
"""

from __future__ import annotations

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
