"""ULMFiT's slanted triangular learning rates: the paper's formula on hand-computed values,
torch's linear one-cycle schedule over the same steps, and per-block groups."""

import copy

import numpy as np
import pytest
import torch

from dlopt import schedules as S
from dlopt.digit_transfer import DigitTransfer
from dlopt.finetune import discriminative_lr_groups
from dlopt.layers import Sequential
from dlopt.optim_numpy import Adam


def _torch_one_cycle_rates(max_lrs, total_steps, cut_frac, ratio):
    """The rates torch's linear OneCycleLR sets at t = 0 .. T, one column per group.

    From max_lr / ratio up to max_lr at step cut, then down to max_lr / ratio at step T:
    the slanted triangle, when T * cut_frac is a whole number.
    """
    cut = round(total_steps * cut_frac)
    params = [torch.zeros(1, requires_grad=True) for _ in max_lrs]
    optimizer = torch.optim.SGD([{"params": [p]} for p in params], lr=1.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer,
        max_lr=list(max_lrs),
        total_steps=total_steps + 1,
        pct_start=(cut + 1) / (total_steps + 1),  # torch peaks at pct_start * total - 1
        anneal_strategy="linear",
        div_factor=ratio,
        final_div_factor=1.0,
        cycle_momentum=False,
    )
    rates = []
    for _ in range(total_steps + 1):
        rates.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


# Howard & Ruder (2018), eq. 3, with their cut_frac = 0.1, ratio = 32, eta_max = 0.01 and
# T = 1000 iterations: cut = 100. Each rate below is worked out by hand from the formula:
#   t = 0:    p = 0,                    eta = 0.01 / 32                = 3.125e-4
#   t = 50:   p = 50/100 = 0.5,         eta = 0.01 * (1 + 15.5) / 32   = 5.15625e-3
#   t = 100:  p = 1,                    eta = 0.01
#   t = 550:  p = 1 - 450/(100*9) = .5, eta = 5.15625e-3
#   t = 910:  p = 1 - 810/900 = 0.1,    eta = 0.01 * (1 + 3.1) / 32    = 1.28125e-3
#   t = 1000: p = 0,                    eta = 3.125e-4
PAPER_RATES = {0: 3.125e-4, 50: 5.15625e-3, 100: 0.01, 550: 5.15625e-3, 910: 1.28125e-3}
PAPER_RATES[1000] = 3.125e-4


def test_slanted_triangular_gives_the_papers_formula_on_hand_computed_values():
    schedule = S.SlantedTriangularSchedule(total_steps=1000)  # the paper's defaults
    assert schedule.cut == 100
    for t, expected in PAPER_RATES.items():
        assert schedule.lr(t, 0.01) == pytest.approx(expected, rel=1e-12), t
    rates = schedule.lrs(0.01, 1001)
    assert np.argmax(rates) == 100
    assert np.all(np.diff(rates[:101]) > 0) and np.all(np.diff(rates[100:]) < 0)


@pytest.mark.parametrize(
    "total_steps, cut_frac, ratio",
    [(1000, 0.1, 32.0), (180, 0.1, 32.0), (60, 0.25, 10.0), (8, 0.5, 4.0), (100, 0.29, 7.0)],
)
def test_slanted_triangular_equals_torch_linear_one_cycle_over_the_same_steps(
    total_steps, cut_frac, ratio
):
    expected = _torch_one_cycle_rates([0.01, 0.003], total_steps, cut_frac, ratio)
    params = [np.zeros(1), np.zeros(1)]
    optimizer = SimpleGroups([{"params": [params[0]], "lr": 0.01}, {"params": [params[1]]}])
    optimizer.param_groups[1]["lr"] = 0.003
    scheduler = S.SlantedTriangularLR(optimizer, total_steps, cut_frac, ratio)
    got = []
    for _ in range(total_steps + 1):
        got.append([g["lr"] for g in optimizer.param_groups])
        scheduler.step()
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-12, atol=0)


class SimpleGroups:
    """An optimizer reduced to what a scheduler touches: its param groups."""

    def __init__(self, param_groups):
        self.param_groups = param_groups


def test_discriminative_groups_each_follow_the_triangle_at_their_own_peak_like_torch():
    blocks = [[torch.zeros(3, requires_grad=True)] for _ in range(3)]
    groups = discriminative_lr_groups(blocks, base_lr=0.01, decay=2.6)
    optimizer = torch.optim.SGD(groups)
    scheduler = S.SlantedTriangularLR(optimizer, total_steps=60, cut_frac=0.1, ratio=32.0)
    got = []
    for _ in range(61):
        got.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    peaks = [0.01 / 2.6**2, 0.01 / 2.6, 0.01]
    expected = _torch_one_cycle_rates(peaks, 60, 0.1, 32.0)
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-12, atol=0)


def test_slanted_triangular_never_falls_below_the_floor_when_the_cut_is_not_whole():
    # T = 15, cut_frac = 0.1: cut = 1, and the paper's decay, (t - 1) / 9, reaches p = 0 at
    # t = 10; unclipped it would give p = 1 - 14/9 and a negative rate at t = 15.
    schedule = S.SlantedTriangularSchedule(total_steps=15, cut_frac=0.1, ratio=32.0)
    rates = schedule.lrs(1.0, 30)
    assert rates[1] == 1.0
    assert rates[4] == pytest.approx((1 + (1 - 3 / 9) * 31) / 32, rel=1e-12)
    np.testing.assert_allclose(rates[10:], 1 / 32, rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs, exception, match",
    [
        (dict(total_steps=0), ValueError, "total_steps"),
        (dict(total_steps=5), ValueError, r"total_steps: 5 with cut_frac=0.1 gives cut"),
        (dict(total_steps=100, cut_frac=0.0), ValueError, "cut_frac"),
        (dict(total_steps=100, cut_frac=1.0), ValueError, "cut_frac"),
        (dict(total_steps=100, cut_frac=1.5), ValueError, "cut_frac"),
        (dict(total_steps=100, ratio=0.5), ValueError, "ratio"),
        (dict(total_steps=100, ratio=float("inf")), ValueError, "ratio"),
        (dict(total_steps=100.0), TypeError, "total_steps"),
        (dict(total_steps=100, cut_frac="0.1"), TypeError, "cut_frac"),
    ],
)
def test_slanted_triangular_refuses_bad_arguments_naming_them(kwargs, exception, match):
    with pytest.raises(exception, match=match):
        S.SlantedTriangularSchedule(**kwargs)


@pytest.fixture(scope="module")
def task():
    return DigitTransfer()


def _new_model(task):
    return Sequential(copy.deepcopy(task.body), task.make_head(seed=6))


def _weights(model):
    return [p.copy() for _, p in model.named_parameters()]


def test_adapt_with_a_schedule_sets_the_rate_of_each_epoch(task):
    # a rate of zero after the first epoch: 60 epochs end exactly where one epoch at the
    # constant rate ends (Adam's step is the rate times a finite number)
    after_one_epoch = task.adapt(_new_model(task), 3e-3, epochs=1)
    stopped = task.adapt(
        _new_model(task), 3e-3, epochs=60, schedule=S.LambdaSchedule(lambda t: float(t == 0))
    )
    for ours, expected in zip(_weights(stopped), _weights(after_one_epoch), strict=True):
        np.testing.assert_array_equal(ours, expected)
    # and a schedule that changes nothing changes nothing
    constant = task.adapt(_new_model(task), 3e-3, epochs=5)
    scheduled = task.adapt(
        _new_model(task), 3e-3, epochs=5, schedule=S.LambdaSchedule(lambda t: 1.0)
    )
    for ours, expected in zip(_weights(scheduled), _weights(constant), strict=True):
        np.testing.assert_array_equal(ours, expected)


def test_adapt_schedules_every_param_group_from_its_own_peak(task):
    model = _new_model(task)
    blocks = [model[0][0], model[0][1], model[1]]
    optimizer = Adam(discriminative_lr_groups(blocks, base_lr=1e-2, decay=2.6))
    task.adapt(model, optimizer=optimizer, epochs=19, schedule=S.SlantedTriangularSchedule(20))
    # fit steps the scheduler after every epoch: after 19 epochs the rates are those of t = 19
    peaks = [1e-2 / 2.6**2, 1e-2 / 2.6, 1e-2]
    expected = _torch_one_cycle_rates(peaks, 20, 0.1, 32.0)[19]
    assert np.all(expected > np.array(peaks) / 32)  # one step before the floor
    np.testing.assert_allclose([g["lr"] for g in optimizer.param_groups], expected, rtol=1e-12)


def test_adapt_refuses_a_schedule_that_is_not_one(task):
    with pytest.raises(TypeError, match="schedule must be a dlopt.schedules.Schedule"):
        task.adapt(_new_model(task), 3e-3, epochs=1, schedule=lambda t: 1.0)
