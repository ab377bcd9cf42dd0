"""Learning-rate schedules held to torch.optim.lr_scheduler, step by step, on two param groups."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt import schedules as S

BASE_LRS = (0.1, 0.03)
NUM_STEPS = 70


def _sgd(lrs=BASE_LRS):
    """torch SGD on dummy parameters, one group per lr, with zero gradients ready for step()."""
    groups = []
    for lr in lrs:
        p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        p.grad = torch.zeros_like(p)
        groups.append({"params": [p], "lr": lr})
    return torch.optim.SGD(groups)


def _trajectory(optimizer, scheduler, num_steps=NUM_STEPS):
    """lr of every group at t = 0 .. num_steps-1, shape (num_steps, groups).

    A torch optimizer steps before its scheduler, the order torch expects.
    """
    lrs = []
    for _ in range(num_steps):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        if isinstance(optimizer, torch.optim.Optimizer):
            optimizer.step()
        scheduler.step()
    return np.array(lrs)


def _torch_vs_ours(make_torch, make_ours, num_steps=NUM_STEPS):
    opt_t, opt_o = _sgd(), _sgd()
    sched_t, sched_o = make_torch(opt_t), make_ours(opt_o)
    return _trajectory(opt_t, sched_t, num_steps), _trajectory(opt_o, sched_o, num_steps), sched_o


def _inverse_time(rate, steps):
    return lambda t: 1.0 / (1.0 + rate * t / steps)


# (class name, keyword arguments): the same name and arguments exist in torch and here
NAMESAKES = [
    ("ConstantLR", {}),
    ("ConstantLR", dict(factor=0.25, total_iters=13)),
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=1, gamma=0.9)),
    ("MultiStepLR", dict(milestones=[3, 10, 11, 40])),
    ("MultiStepLR", dict(milestones=[0, 25], gamma=0.5)),
    ("MultiStepLR", dict(milestones=[5, 5, 9, 30, 30, 30], gamma=0.7)),  # repeats: gamma**count
    ("ExponentialLR", dict(gamma=0.95)),
    ("ExponentialLR", dict(gamma=1.05)),
    ("LinearLR", {}),
    ("LinearLR", dict(start_factor=0.01, end_factor=0.5, total_iters=30)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=50)),
    ("LambdaLR", dict(lr_lambda=lambda t: 0.97**t * (1 + t % 5))),
    ("LambdaLR", dict(lr_lambda=[_inverse_time(0.3, 4), lambda t: math.sin(t) ** 2])),
    ("CosineAnnealingLR", dict(T_max=70)),
    ("CosineAnnealingLR", dict(T_max=20, eta_min=0.005)),
    ("CosineAnnealingLR", dict(T_max=1)),
    ("PolynomialLR", {}),
    ("PolynomialLR", dict(total_iters=50, power=0.9)),
    ("PolynomialLR", dict(total_iters=30, power=2.0)),
    ("PolynomialLR", dict(total_iters=1, power=0.5)),
    ("MultiplicativeLR", dict(lr_lambda=lambda t: 0.95)),
    ("MultiplicativeLR", dict(lr_lambda=[lambda t: 1.0 - 0.01 * (t % 3), lambda t: 1.02])),
    ("CosineAnnealingWarmRestarts", dict(T_0=10)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=1, T_mult=3)),
    ("CosineAnnealingWarmRestarts", dict(T_0=7, T_mult=1, eta_min=0.01)),
]


@pytest.mark.parametrize("name, kwargs", NAMESAKES)
def test_scheduler_matches_torch_namesake_on_two_param_groups(name, kwargs):
    expected, got, _ = _torch_vs_ours(
        lambda opt: getattr(torch.optim.lr_scheduler, name)(opt, **kwargs),
        lambda opt: getattr(S, name)(opt, **kwargs),
    )
    # torch's recursive updates accumulate one rounding per step; cosine also cancels near eta_min
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name, kwargs", NAMESAKES)
def test_pure_schedule_equals_torch_without_an_optimizer(name, kwargs):
    expected, _, scheduler = _torch_vs_ours(
        lambda opt: getattr(torch.optim.lr_scheduler, name)(opt, **kwargs),
        lambda opt: getattr(S, name)(opt, **kwargs),
    )
    for g, base_lr in enumerate(BASE_LRS):
        schedule = scheduler.schedules[g]
        np.testing.assert_allclose(
            schedule.lrs(base_lr, NUM_STEPS), expected[:, g], rtol=1e-12, atol=1e-15
        )
        if isinstance(schedule, S.MultiplicativeSchedule):
            factors = [schedule.factor(t) for t in range(NUM_STEPS)]
            np.testing.assert_allclose(factors, expected[:, g] / base_lr, rtol=1e-12)


@settings(max_examples=30, deadline=None)
@given(T_max=st.integers(1, 40), eta_min=st.floats(0.0, 0.02), base=st.floats(0.02, 1.0))
def test_cosine_closed_form_equals_torch_recursion_to_roundoff(T_max, eta_min, base):
    expected, got, _ = _torch_vs_ours(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max, eta_min),
        lambda opt: S.CosineAnnealingLR(opt, T_max, eta_min),
        num_steps=3 * T_max + 2,  # past T_max, where both rise again
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_sequential_warmup_then_cosine_matches_torch_sequential_lr():
    def make(lib):
        def build(opt):
            warmup = lib.LinearLR(opt, start_factor=0.1, total_iters=10)
            cosine = lib.CosineAnnealingLR(opt, T_max=50, eta_min=1e-3)
            return lib.SequentialLR(opt, [warmup, cosine], milestones=[10])

        return build

    expected, got, _ = _torch_vs_ours(make(torch.optim.lr_scheduler), make(S))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_sequential_of_three_schedulers_matches_torch():
    def make(lib):
        def build(opt):
            parts = [
                lib.ConstantLR(opt, factor=0.5, total_iters=100),
                lib.ExponentialLR(opt, gamma=0.9),
                lib.StepLR(opt, step_size=4, gamma=0.5),
            ]
            return lib.SequentialLR(opt, parts, milestones=[5, 30])

        return build

    expected, got, _ = _torch_vs_ours(make(torch.optim.lr_scheduler), make(S))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("warmup, total, eta_min", [(10, 60, 0.0), (1, 30, 1e-3), (0, 40, 0.0)])
def test_warmup_cosine_equals_torch_linear_then_cosine_and_then_stays_at_eta_min(
    warmup, total, eta_min
):
    def torch_build(opt):
        lib = torch.optim.lr_scheduler
        cosine = lib.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)
        if warmup == 0:
            return cosine
        linear = lib.LinearLR(opt, start_factor=1 / (warmup + 1), total_iters=warmup)
        return lib.SequentialLR(opt, [linear, cosine], milestones=[warmup])

    expected, got, _ = _torch_vs_ours(
        torch_build, lambda opt: S.WarmupCosineLR(opt, warmup, total, eta_min), total + 1
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.all(got[: warmup + 1] > 0)  # the warm-up never wastes a step at lr = 0
    after = S.WarmupCosineSchedule(warmup, total, eta_min).lrs(0.1, total + 20)[total:]
    np.testing.assert_array_equal(after, eta_min)


def test_inverse_time_matches_torch_lambda_lr_with_the_same_lambda():
    expected, got, _ = _torch_vs_ours(
        lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, _inverse_time(0.5, 3)),
        lambda opt: S.InverseTimeLR(opt, decay_rate=0.5, decay_steps=3),
        num_steps=200,
    )
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_lr_range_test_values_equal_torch_exponential_lr_from_min_lr():
    min_lr, max_lr, k = 1e-6, 10.0, 100
    opt = _sgd(lrs=(min_lr,))
    gamma = (max_lr / min_lr) ** (1 / (k - 1))
    expected = _trajectory(opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma), k)[:, 0]
    values = S.lr_range_test_values(min_lr, max_lr, k)
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert values[0] == min_lr and values[-1] == pytest.approx(max_lr, rel=1e-15)


def test_state_dict_round_trip_mid_schedule_continues_like_uninterrupted_torch():
    def build(lib, opt):
        warmup = lib.LinearLR(opt, start_factor=0.2, total_iters=5)
        cosine = lib.CosineAnnealingLR(opt, T_max=40, eta_min=1e-4)
        return lib.SequentialLR(opt, [warmup, cosine], milestones=[5])

    opt_t = _sgd()
    expected = _trajectory(opt_t, build(torch.optim.lr_scheduler, opt_t), 60)

    opt = _sgd()
    sched = build(S, opt)
    first = _trajectory(opt, sched, 25)
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()

    resumed_opt = _sgd()
    resumed = build(S, resumed_opt)  # torch's advice: scheduler first, then optimizer state
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved_sched)
    rest = _trajectory(resumed_opt, resumed, 35)
    np.testing.assert_allclose(np.vstack([first, rest]), expected, rtol=1e-12, atol=1e-15)
    assert resumed.last_epoch == 60


def test_drives_a_duck_typed_optimizer_with_only_param_groups():
    numpy_like = SimpleNamespace(param_groups=[{"lr": 0.5, "momentum": 0.9}, {"lr": 0.05}])
    ours = S.WarmupCosineLR(numpy_like, warmup_steps=5, total_steps=50, eta_min=1e-3)

    def torch_build(opt):
        lib = torch.optim.lr_scheduler
        linear = lib.LinearLR(opt, start_factor=1 / 6, total_iters=5)
        cosine = lib.CosineAnnealingLR(opt, T_max=45, eta_min=1e-3)
        return lib.SequentialLR(opt, [linear, cosine], milestones=[5])

    opt_t = _sgd(lrs=(0.5, 0.05))
    expected = _trajectory(opt_t, torch_build(opt_t), 50)
    got = _trajectory(numpy_like, ours, 50)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert [g["initial_lr"] for g in numpy_like.param_groups] == [0.5, 0.05]
    assert numpy_like.param_groups[0]["momentum"] == 0.9
    assert ours.get_last_lr() == [g["lr"] for g in numpy_like.param_groups]
    assert ours.last_epoch == 50


def test_state_dict_restores_a_duck_typed_optimizer_without_its_own_state():
    def build(opt):
        return S.StepLR(opt, step_size=3, gamma=0.5)

    reference = SimpleNamespace(param_groups=[{"lr": 0.2}])
    expected = _trajectory(reference, build(reference), 20)

    first_opt = SimpleNamespace(param_groups=[{"lr": 0.2}])
    first_sched = build(first_opt)
    first = _trajectory(first_opt, first_sched, 8)
    state = first_sched.state_dict()

    fresh_opt = SimpleNamespace(param_groups=[{"lr": 0.2}])
    fresh = build(fresh_opt)
    fresh.load_state_dict(state)
    rest = _trajectory(fresh_opt, fresh, 12)
    np.testing.assert_array_equal(np.vstack([first, rest]), expected)
    torch_opt = _sgd(lrs=(0.2,))
    torch_expected = _trajectory(
        torch_opt, torch.optim.lr_scheduler.StepLR(torch_opt, step_size=3, gamma=0.5), 20
    )
    np.testing.assert_allclose(expected, torch_expected, rtol=1e-12)


# --------------------------------------------------------------------------- bad arguments


def _opt():
    return SimpleNamespace(param_groups=[{"lr": 0.1}])


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda o: S.StepLR(o, step_size=-1), "step_size"),
        (lambda o: S.StepLR(o, step_size=0), "step_size"),
        (lambda o: S.StepLR(o, step_size=5, gamma=0.0), "gamma"),
        (lambda o: S.ExponentialLR(o, gamma=-0.5), "gamma"),
        (lambda o: S.MultiStepLR(o, milestones=[10, 5]), "milestones"),
        (lambda o: S.MultiStepLR(o, milestones=[-1, 5]), "milestones"),
        (lambda o: S.CosineAnnealingLR(o, T_max=0), "T_max"),
        (lambda o: S.CosineAnnealingLR(o, T_max=10, eta_min=-1.0), "eta_min"),
        (lambda o: S.ConstantLR(o, factor=1.5), "factor"),
        (lambda o: S.LinearLR(o, start_factor=0.0), "start_factor"),
        (lambda o: S.LinearLR(o, end_factor=1.5), "end_factor"),
        (lambda o: S.LinearLR(o, total_iters=0), "total_iters"),
        (lambda o: S.InverseTimeLR(o, decay_rate=0.0), "decay_rate"),
        (lambda o: S.InverseTimeLR(o, decay_rate=1.0, decay_steps=0), "decay_steps"),
        (lambda o: S.WarmupCosineLR(o, warmup_steps=10, total_steps=10), "total_steps"),
        (lambda o: S.WarmupCosineLR(o, warmup_steps=-1, total_steps=10), "warmup_steps"),
        (lambda o: S.LambdaLR(o, [lambda t: 1.0, lambda t: 2.0]), "one per group"),
        (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], [0]), "milestones"),
        (lambda o: S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], [5, 9]), "milestones"),
        (lambda o: S.SequentialLR(o, [S.StepLR(_opt(), 2)], []), "different optimizer"),
        (lambda o: S.SequentialLR(o, [], []), "at least one"),
        (lambda o: S.lr_range_test_values(1e-3, 1e-4, 10), "max_lr"),
        (lambda o: S.lr_range_test_values(0.0, 1.0, 10), "min_lr"),
        (lambda o: S.lr_range_test_values(1e-3, 1.0, 1), "num_steps"),
        (lambda o: S.StepSchedule(3).lr(-1, 0.1), "t"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(build, match):
    with pytest.raises(ValueError, match=match):
        build(_opt())


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: S.StepLR(SimpleNamespace(), step_size=3), "param_groups"),
        (lambda: S.StepLR(SimpleNamespace(param_groups=[{"momentum": 0.9}]), 3), "'lr'"),
        (lambda: S.StepLR(_opt(), step_size=2.5), "step_size"),
        (lambda: S.LambdaLR(_opt(), lr_lambda=0.5), "callable"),
        (lambda: S.SequentialLR(_opt(), [S.StepSchedule(3)], []), "dlopt scheduler"),
        (lambda: S.StepSchedule(3).factor(1.5), "t"),
    ],
)
def test_wrong_types_raise_type_error_naming_them(build, match):
    with pytest.raises(TypeError, match=match):
        build()


def test_resuming_with_last_epoch_needs_initial_lr_like_torch():
    with pytest.raises(KeyError, match="initial_lr"):
        torch.optim.lr_scheduler.StepLR(_sgd(), step_size=3, last_epoch=4)
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(), step_size=3, last_epoch=4)
