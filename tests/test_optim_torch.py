"""The torch front end against torch.optim: signatures, validation, trajectories, state_dict."""

from __future__ import annotations

import inspect

import pytest
import torch
from _optim_cases import (
    CASES,
    NAMES,
    OPTION_GRID,
    assert_close_to_float32_roundoff,
    case_id,
    make_problem,
    param_groups,
)

from dlopt import optim_numpy, optim_torch, optimizers

TORCH_NAMES = [name for name in optimizers.DEFINITIONS if hasattr(torch.optim, name)]


def run(
    cls, opts, *, dtype=torch.float64, steps=25, split=False, state_dict_at=None, resume_cls=None
):
    """Trajectory of all parameters; optionally save the state mid-run and resume in a new
    optimizer (of ``resume_cls``, by default the same class)."""
    params, loss_fn = make_problem(dtype, maximize=opts.get("maximize", False))
    opt = cls(param_groups(params, opts, split=split), **opts)
    history = []
    for step in range(steps):
        if step == state_dict_at:
            saved = opt.state_dict()
            opt = (resume_cls or cls)(param_groups(params, opts, split=split), **opts)
            opt.load_state_dict(saved)
        opt.zero_grad()
        loss_fn().backward()
        opt.step()
        history.append(torch.cat([p.detach().flatten() for p in params]).clone())
    return torch.stack(history)


def test_every_torch_optim_optimizer_has_a_dlopt_namesake():
    theirs = {
        name
        for name in dir(torch.optim)
        if isinstance(getattr(torch.optim, name), type)
        and issubclass(getattr(torch.optim, name), torch.optim.Optimizer)
        and name != "Optimizer"
    }
    assert theirs == set(TORCH_NAMES)


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_constructor_signature_matches_torch(name):
    ours = inspect.signature(getattr(optim_torch, name).__init__)
    theirs = inspect.signature(getattr(torch.optim, name).__init__)
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == [
        (p.name, p.kind, p.default) for p in theirs.parameters.values()
    ]


@pytest.mark.parametrize("name", TORCH_NAMES)
def test_defaults_and_param_groups_match_torch(name):
    params, _ = make_problem(torch.float64)
    if name == "Muon":
        params = [p for p in params if p.ndim == 2]
    ours = getattr(optim_torch, name)(params)
    theirs = getattr(torch.optim, name)(params)
    assert ours.defaults == theirs.defaults
    assert ours.param_groups[0].keys() == theirs.param_groups[0].keys()


BAD_ARGUMENTS = [
    ("SGD", dict(lr=-0.1)),
    ("SGD", dict(momentum=-0.5)),
    ("SGD", dict(weight_decay=-1.0)),
    ("SGD", dict(nesterov=True)),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adagrad", dict(lr=-1.0)),
    ("Adagrad", dict(lr_decay=-1.0)),
    ("Adagrad", dict(initial_accumulator_value=-0.1)),
    ("Adagrad", dict(eps=-1e-3)),
    ("Adadelta", dict(rho=1.5)),
    ("Adadelta", dict(eps=-1.0)),
    ("Adadelta", dict(weight_decay=-0.1)),
    ("RMSprop", dict(alpha=-0.5)),
    ("RMSprop", dict(momentum=-0.1)),
    ("RMSprop", dict(eps=-0.1)),
    ("Adam", dict(betas=(1.0, 0.999))),
    ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(eps=-1e-8)),
    ("Adam", dict(weight_decay=-0.1)),
    ("AdamW", dict(betas=(0.9, 1.2))),
    ("AdamW", dict(lr=-1e-3)),
]


@pytest.mark.parametrize(("name", "kwargs"), BAD_ARGUMENTS)
def test_invalid_arguments_raise_the_same_valueerror_as_torch(name, kwargs):
    params, _ = make_problem(torch.float64)
    with pytest.raises(ValueError) as theirs:
        getattr(torch.optim, name)(params, **kwargs)
    with pytest.raises(ValueError) as ours:
        getattr(optim_torch, name)(params, **kwargs)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("name", NAMES)
def test_nan_learning_rate_is_rejected_even_where_torch_accepts_it(name):
    params, _ = make_problem(torch.float64)
    with pytest.raises(ValueError, match=r"[Ll]earning rate.*: nan"):
        getattr(optim_torch, name)(params, lr=float("nan"))


@pytest.mark.parametrize("name", list(optimizers.DEFINITIONS))
def test_empty_parameter_list_is_rejected_like_torch(name):
    with pytest.raises(ValueError, match="empty parameter list"):
        getattr(optim_torch, name)([])
    with pytest.raises(ValueError, match="empty parameter list"):
        getattr(optim_numpy, name)([])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad"])
def test_unimplemented_code_paths_raise_a_clear_error(name):
    params, _ = make_problem(torch.float64)
    with pytest.raises(ValueError, match=r"\(fused=True\) is not implemented"):
        getattr(optim_torch, name)(params, fused=True)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float64_trajectory_equals_torch(case):
    name, opts = case
    ours = run(getattr(optim_torch, name), opts)
    theirs = run(getattr(torch.optim, name), opts)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_float32_trajectory_equals_torch_to_roundoff(case):
    name, opts = case
    ours = run(getattr(optim_torch, name), opts, dtype=torch.float32)
    theirs = run(getattr(torch.optim, name), opts, dtype=torch.float32)
    assert_close_to_float32_roundoff(ours, theirs)


@pytest.mark.parametrize("case", CASES[::2], ids=case_id)
def test_param_groups_with_different_learning_rates_equal_torch(case):
    name, opts = case
    ours = run(getattr(optim_torch, name), opts, split=True)
    theirs = run(getattr(torch.optim, name), opts, split=True)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


@pytest.mark.parametrize("case", CASES[::2], ids=case_id)
def test_state_dict_round_trip_mid_run_continues_the_torch_trajectory(case):
    name, opts = case
    uninterrupted = run(getattr(torch.optim, name), opts, split=True)
    resumed = run(getattr(optim_torch, name), opts, split=True, state_dict_at=12)
    torch.testing.assert_close(resumed, uninterrupted, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_moves_between_torch_optim_and_dlopt(name):
    opts = OPTION_GRID[name][-1]  # the most options switched on
    reference = run(getattr(torch.optim, name), opts)
    torch_to_ours = run(
        getattr(torch.optim, name), opts, state_dict_at=10, resume_cls=getattr(optim_torch, name)
    )
    ours_to_torch = run(
        getattr(optim_torch, name), opts, state_dict_at=10, resume_cls=getattr(torch.optim, name)
    )
    torch.testing.assert_close(torch_to_ours, reference, rtol=0, atol=1e-10)
    torch.testing.assert_close(ours_to_torch, reference, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_state_keys_match_torch(name):
    opts = OPTION_GRID[name][-1]
    keys = []
    for cls in (getattr(optim_torch, name), getattr(torch.optim, name)):
        params, loss_fn = make_problem(torch.float64)
        opt = cls(params, **opts)
        loss_fn().backward()
        opt.step()
        keys.append({k: sorted(v) for k, v in opt.state_dict()["state"].items()})
    assert keys[0] == keys[1]


def test_parameters_without_gradient_are_left_alone():
    params, loss_fn = make_problem(torch.float64)
    frozen = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = optim_torch.Adam(params + [frozen], lr=0.1)
    loss_fn().backward()
    opt.step()
    assert torch.equal(frozen, torch.ones(3, dtype=torch.float64))
    assert frozen not in opt.state


def test_step_calls_the_closure_and_returns_its_loss():
    params, loss_fn = make_problem(torch.float64)
    opt = optim_torch.SGD(params, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    first = opt.step(closure)
    assert opt.step(closure).item() < first.item()


def test_foreach_flag_is_accepted_and_changes_nothing():
    opts = dict(lr=0.05, amsgrad=True)
    plain = run(optim_torch.Adam, opts)
    foreach = run(optim_torch.Adam, dict(opts, foreach=True))
    assert torch.equal(plain, foreach)


def test_a_tensor_learning_rate_works_like_torch():
    # torch does part of its arithmetic in the tensor's float32, hence the float32 tolerance
    ours = run(optim_torch.Adam, dict(lr=torch.tensor(0.05)))
    theirs = run(torch.optim.Adam, dict(lr=torch.tensor(0.05)))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


def test_works_inside_a_torch_training_loop_with_an_lr_scheduler():
    torch.manual_seed(0)
    trajectories = []
    for module in (torch.optim, optim_torch):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
        opt = module.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        x = torch.linspace(-1, 1, 24).reshape(8, 3)
        for _ in range(10):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
            sched.step()
        trajectories.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    torch.testing.assert_close(trajectories[0], trajectories[1], rtol=0, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_state_values_equal_torch_after_a_run(name):
    """Every state entry, not only those that move the parameters (ASGD's average ``ax``,
    NAdam's ``mu_product``, Rprop's step sizes, Adafactor's row and column factors...)."""
    for opts in (OPTION_GRID[name][0], OPTION_GRID[name][-1]):
        states = []
        for cls in (getattr(optim_torch, name), getattr(torch.optim, name)):
            params, loss_fn = make_problem(torch.float64, maximize=opts.get("maximize", False))
            opt = cls(params, **opts)
            for _ in range(15):
                opt.zero_grad()
                loss_fn().backward()
                opt.step()
            states.append(opt.state_dict()["state"])
        assert states[0].keys() == states[1].keys()
        for index, ours in states[0].items():
            theirs = states[1][index]
            assert ours.keys() == theirs.keys()
            for key, value in ours.items():
                assert type(value) is type(theirs[key]), key
                if isinstance(value, torch.Tensor):
                    assert value.dtype == theirs[key].dtype, key
                torch.testing.assert_close(value, theirs[key], rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", NAMES)
def test_a_tensor_learning_rate_is_accepted_like_torch(name):
    # torch does part of its arithmetic in the tensor's float32, hence the float32 tolerance
    opts = dict(OPTION_GRID[name][0], lr=torch.tensor(OPTION_GRID[name][0]["lr"]))
    ours = run(getattr(optim_torch, name), opts)
    theirs = run(getattr(torch.optim, name), opts)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_tensor_betas_are_accepted_like_torch(name):
    opts = dict(lr=0.05, betas=(torch.tensor(0.8), torch.tensor(0.95)))
    ours = run(getattr(optim_torch, name), opts)
    theirs = run(getattr(torch.optim, name), opts)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
