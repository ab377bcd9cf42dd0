"""One-cycle, cyclic, warm restarts, plateau, chained: held to torch.optim.lr_scheduler.

Each test runs torch's scheduler and the package's namesake side by side on
fresh optimizers with two param groups and compares, step by step, the rate
and (where the scheduler cycles it) the momentum of every group. The NumPy
front end gets the same schedulers, and two training runs show that the
momentum a scheduler writes is the one the update rule then uses.
"""

import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlopt import optim_numpy, optim_torch
from dlopt import schedules as S

TS = torch.optim.lr_scheduler
BASE_LRS = (0.1, 0.03)


def _torch_opt(kind="SGD", lrs=BASE_LRS):
    """A torch optimizer on dummy float64 parameters, one group per lr, with zero gradients."""
    groups = []
    for lr in lrs:
        p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        p.grad = torch.zeros_like(p)
        groups.append({"params": [p], "lr": lr})
    if kind == "SGD":
        return torch.optim.SGD(groups, momentum=0.5)
    if kind == "Adam":
        return torch.optim.Adam(groups, betas=(0.7, 0.99))
    return getattr(torch.optim, kind)(groups)


def _numpy_opt(kind="SGD", lrs=BASE_LRS):
    groups = [{"params": [np.zeros(2)], "lr": lr} for lr in lrs]
    if kind == "SGD":
        return optim_numpy.SGD(groups, momentum=0.5)
    return optim_numpy.Adam(groups, betas=(0.7, 0.99))


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum", math.nan)


def _run(optimizer, scheduler, num_steps):
    """(lr, momentum) of every group at t = 0 .. num_steps-1: two arrays (num_steps, groups).

    A torch optimizer steps before its scheduler, the order torch expects.
    """
    lrs, moms = [], []
    for t in range(num_steps):
        if t > 0:
            if isinstance(optimizer, torch.optim.Optimizer):
                optimizer.step()
            scheduler.step()
        lrs.append([g["lr"] for g in optimizer.param_groups])
        moms.append([_momentum(g) for g in optimizer.param_groups])
    return np.array(lrs), np.array(moms)


def _same(got, expected):
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def _compare(make_torch, make_ours, num_steps, kind="SGD", numpy_too=True):
    """Run torch's and ours on torch optimizers (and ours on NumPy's); assert them equal."""
    opt_t, opt_o = _torch_opt(kind), _torch_opt(kind)
    sched_t, sched_o = make_torch(opt_t), make_ours(opt_o)
    expected = _run(opt_t, sched_t, num_steps)
    got = _run(opt_o, sched_o, num_steps)
    _same(got[0], expected[0])
    _same(got[1], expected[1])
    # the group entries torch adds (initial_lr, max_lr, min_lr, max_momentum, ...) are ours too
    for g_t, g_o in zip(opt_t.param_groups, opt_o.param_groups, strict=True):
        assert set(g_o) == set(g_t)
        for key in set(g_t) - {"params", "lr", "betas", "momentum"}:
            if isinstance(g_t[key], float):
                assert g_o[key] == pytest.approx(g_t[key], rel=1e-12), key
            else:
                assert g_o[key] == g_t[key], key
    if numpy_too:
        opt_n = _numpy_opt(kind)
        got_n = _run(opt_n, make_ours(opt_n), num_steps)
        _same(got_n[0], expected[0])
        _same(got_n[1], expected[1])
    return expected, sched_o


# --------------------------------------------------------------------------- OneCycleLR

ONE_CYCLE = [
    dict(anneal_strategy=a, three_phase=p, cycle_momentum=m)
    for a in ("cos", "linear")
    for p in (False, True)
    for m in (True, False)
] + [
    dict(pct_start=0.25, div_factor=10.0, final_div_factor=100.0),  # phases end at 8.25, 16.5
    dict(pct_start=0.45, three_phase=True, base_momentum=[0.8, 0.6], max_momentum=[0.9, 0.99]),
    dict(pct_start=0.0),
    dict(pct_start=1.0, anneal_strategy="linear"),
]


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
@pytest.mark.parametrize("kwargs", ONE_CYCLE)
def test_one_cycle_matches_torch_rates_and_momentum_to_the_last_allowed_step(kind, kwargs):
    total = 37
    steps = total if kwargs.get("pct_start") == 1.0 else total + 1  # torch allows t = total_steps

    def build(lib):
        return lambda opt: lib.OneCycleLR(opt, max_lr=[1.0, 0.4], total_steps=total, **kwargs)

    expected, _ = _compare(build(TS), build(S), steps, kind)
    assert expected[0][:, 0].max() <= 1.0 and expected[0][:, 0].max() > 0.99


def test_one_cycle_epochs_times_steps_per_epoch_and_the_step_after_the_end_raises_like_torch():
    def build(lib):
        return lambda opt: lib.OneCycleLR(opt, 0.5, epochs=4, steps_per_epoch=6, total_steps=None)

    _, ours = _compare(build(TS), build(S), 25)  # t = 0 .. 24 = total_steps
    opt = _torch_opt()
    theirs = TS.OneCycleLR(opt, 0.5, epochs=4, steps_per_epoch=6)
    for _ in range(24):
        opt.step()
        theirs.step()
    with pytest.raises(ValueError, match="Tried to step 25 times"):
        theirs.step()
    with pytest.raises(ValueError, match="total_steps"):
        ours.step()


@pytest.mark.parametrize("three_phase", [False, True])
@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
def test_one_cycle_pure_schedule_from_max_lr_over_div_factor_equals_torch(
    three_phase, anneal_strategy
):
    total, max_lr, div = 50, 0.8, 20.0
    opt = _torch_opt(lrs=(0.1,))
    sched = TS.OneCycleLR(
        opt, max_lr, total, div_factor=div, three_phase=three_phase, anneal_strategy=anneal_strategy
    )
    lrs, moms = _run(opt, sched, total + 1)
    schedule = S.OneCycleSchedule(
        total, div_factor=div, three_phase=three_phase, anneal_strategy=anneal_strategy
    )
    _same(schedule.lrs(max_lr / div, total + 1), lrs[:, 0])
    _same([schedule.factor(t) * max_lr / div for t in range(total + 1)], lrs[:, 0])
    _same([schedule.momentum(t, 0.85, 0.95) for t in range(total + 1)], moms[:, 0])
    # the one-cycle shape: from max_lr/div up to max_lr, then below the start by final_div_factor
    assert lrs[0, 0] == pytest.approx(max_lr / div) and lrs[:, 0].max() == pytest.approx(max_lr)
    assert lrs[total - 1, 0] == pytest.approx(max_lr / div / 1e4)


# --------------------------------------------------------------------------- CyclicLR

CYCLIC = [
    dict(mode="triangular"),
    dict(mode="triangular", step_size_down=3),
    dict(mode="triangular2", step_size_down=11),
    dict(mode="exp_range", gamma=0.97),
    dict(mode="exp_range", gamma=0.99, step_size_up=2.5, step_size_down=4.5),  # torch takes floats
    dict(scale_fn=lambda x: 1 / (1 + 0.3 * x), scale_mode="cycle"),
    dict(scale_fn=lambda x: 0.5 * (1 + math.cos(x / 9)), scale_mode="iterations"),
    dict(mode="triangular", cycle_momentum=False),
    dict(mode="triangular2", base_momentum=[0.5, 0.7], max_momentum=[0.95, 0.9]),
]


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
@pytest.mark.parametrize("kwargs", CYCLIC)
def test_cyclic_matches_torch_rates_and_momentum_over_several_cycles(kind, kwargs):
    kwargs = {"step_size_up": 7, **kwargs}

    def build(lib):
        return lambda opt: lib.CyclicLR(opt, base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], **kwargs)

    expected, ours = _compare(build(TS), build(S), 60, kind)
    for g, base in enumerate([0.01, 0.002]):
        _same(ours.schedules[g].lrs(base, 60), expected[0][:, g])  # the pure schedule


# --------------------------------------------------------------------------- warm restarts


@pytest.mark.parametrize(
    "T_0, T_mult, eta_min", [(5, 1, 0.0), (3, 2, 0.001), (2, 3, 0.0), (4, 2, 0.02)]
)
def test_warm_restarts_with_fractional_epochs_per_batch_match_torch(T_0, T_mult, eta_min):
    """The per-batch loop of torch's docs: step(epoch + i / iters), then some plain step()s."""
    iters = 7
    opt_t, opt_o, opt_n = _torch_opt(), _torch_opt(), _numpy_opt()
    sched_t = TS.CosineAnnealingWarmRestarts(opt_t, T_0, T_mult, eta_min)
    sched_o = S.CosineAnnealingWarmRestarts(opt_o, T_0, T_mult, eta_min)
    sched_n = S.CosineAnnealingWarmRestarts(opt_n, T_0, T_mult, eta_min)
    schedule = sched_o.schedules[0]
    rows = []
    calls = [epoch + i / iters for epoch in range(12) for i in range(iters)] + [None] * 15
    for epoch in calls:
        opt_t.step()
        for s in (sched_t, sched_o, sched_n):
            s.step() if epoch is None else s.step(epoch)
        rows.append([[g["lr"] for g in o.param_groups] for o in (opt_t, opt_o, opt_n)])
        assert sched_o.last_epoch == sched_t.last_epoch
        assert (sched_o.T_cur, sched_o.T_i) == pytest.approx((sched_t.T_cur, sched_t.T_i))
        if epoch is not None:  # the pure schedule at fractional t
            assert schedule.lr(epoch, BASE_LRS[0]) == pytest.approx(rows[-1][0][0], rel=1e-12)
    rows = np.array(rows)
    _same(rows[:, 1], rows[:, 0])
    _same(rows[:, 2], rows[:, 0])


def test_warm_restarts_restart_where_torch_step_by_step_does_but_torch_step_epoch_misses():
    """torch's step(epoch) finds the cycle by int(math.log(243, 3)) = 4; plain step()s do not."""
    T_0, T_mult, t = 1, 3, 121  # cycles start at 0, 1, 4, 13, 40, 121
    opt = _torch_opt(lrs=(0.1,))
    stepped = TS.CosineAnnealingWarmRestarts(opt, T_0, T_mult)
    for _ in range(t):
        opt.step()
        stepped.step()
    assert opt.param_groups[0]["lr"] == 0.1  # a restart: back to the base rate
    jumped_opt = _torch_opt(lrs=(0.1,))
    jumped = TS.CosineAnnealingWarmRestarts(jumped_opt, T_0, T_mult)
    jumped_opt.step()
    jumped.step(t)
    assert jumped_opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)  # torch's slip
    ours = S.CosineAnnealingWarmRestarts(SimpleNamespace(param_groups=[{"lr": 0.1}]), T_0, T_mult)
    ours.step(t)
    assert ours.get_last_lr() == [0.1]
    assert S.CosineAnnealingWarmRestartsSchedule(T_0, T_mult).cycle(t) == (0, 243)


# --------------------------------------------------------------------------- ReduceLROnPlateau


def _metrics(mode):
    """A seeded noisy loss curve with long plateaus, exact repeats and one tensor value."""
    rng = np.random.default_rng(0)
    curve = np.concatenate([
        np.linspace(1.0, 0.5, 10),
        np.full(8, 0.5),
        0.5 - 1e-5 * np.arange(6),  # improvements smaller than a relative 1e-4 threshold
        np.linspace(0.5, 0.3, 6),
        0.3 + 0.01 * rng.random(15),
    ])  # fmt: skip
    values = list(curve if mode == "min" else 2.0 - curve)  # "max": an accuracy-like rise
    values[20] = torch.tensor(values[20], dtype=torch.float64)  # torch accepts 0-d tensors
    return values


PLATEAU = [
    dict(mode=m, threshold_mode=tm, patience=p, cooldown=c)
    for m in ("min", "max")
    for tm in ("rel", "abs")
    for p, c in ((0, 0), (2, 3))
] + [
    dict(threshold=0.0, patience=1, factor=0.5),
    *[
        dict(mode=m, threshold=0.08, threshold_mode=tm, patience=1, factor=0.5)
        for m in ("min", "max")
        for tm in ("rel", "abs")
    ],
    dict(threshold=1e-2, threshold_mode="abs", patience=1, min_lr=[0.02, 0.01], factor=0.5),
    dict(patience=0, factor=0.5, min_lr=0.01, eps=1e-3),  # eps: the last small cuts are skipped
    dict(mode="max", patience=1, factor=0.0, min_lr=[0.0, 0.005]),
]


@pytest.mark.parametrize("kwargs", PLATEAU)
def test_reduce_on_plateau_matches_torch_rates_and_counters(kwargs):
    mode = kwargs.get("mode", "min")
    runs = []
    for opt, lib in ((_torch_opt(), TS), (_torch_opt(), S), (_numpy_opt(), S)):
        sched = lib.ReduceLROnPlateau(opt, **kwargs)
        rows = []
        for value in _metrics(mode):
            sched.step(value)
            counters = [sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch]
            rows.append([g["lr"] for g in opt.param_groups] + counters)
            assert sched.get_last_lr() == [g["lr"] for g in opt.param_groups]
        runs.append(np.array(rows, dtype=np.float64))
    _same(runs[1], runs[0])
    _same(runs[2], runs[0])
    assert len(np.unique(runs[0][:, 0])) >= 2  # every case of the grid really cuts the rate
    if isinstance(kwargs.get("min_lr"), list):
        kwargs = {**kwargs, "min_lr": kwargs["min_lr"][0]}
    pure = S.reduce_on_plateau_lrs(_metrics(mode), BASE_LRS[0], **kwargs)
    _same(pure, runs[0][:, 0])


def test_reduce_on_plateau_state_dicts_have_torch_keys_and_load_both_ways():
    kwargs = dict(patience=1, cooldown=2, factor=0.5, min_lr=[0.01, 0.0])
    metrics = _metrics("min")
    opt_t = _torch_opt()
    theirs = TS.ReduceLROnPlateau(opt_t, **kwargs)
    expected = []
    for value in metrics:
        theirs.step(value)
        expected.append([g["lr"] for g in opt_t.param_groups])

    def first_half(lib):
        opt = _torch_opt()
        sched = lib.ReduceLROnPlateau(opt, **kwargs)
        for value in metrics[:17]:
            sched.step(value)
        return opt, sched

    opt_t, sched_t = first_half(TS)
    opt_o, sched_o = first_half(S)
    state_t, state_o = sched_t.state_dict(), sched_o.state_dict()
    assert set(state_o) == set(state_t)
    for key in state_t:
        if state_t[key] is None or isinstance(state_t[key], str):
            assert state_o[key] == state_t[key], key
        else:
            assert state_o[key] == pytest.approx(state_t[key], rel=1e-12), key
    for source, target_lib in ((state_t, S), (state_o, TS), (state_o, S)):
        opt = _torch_opt()
        opt.load_state_dict(opt_t.state_dict())
        resumed = target_lib.ReduceLROnPlateau(opt, mode="max")  # the state dict sets the mode
        resumed.load_state_dict(source)
        rest = []
        for value in metrics[17:]:
            resumed.step(value)
            rest.append([g["lr"] for g in opt.param_groups])
        _same(np.array(rest), np.array(expected[17:]))


# --------------------------------------------------------------------------- chaining, sequencing

CHAINS = [
    lambda lib, o: [lib.ConstantLR(o, factor=0.1, total_iters=20), lib.ExponentialLR(o, 0.9)],
    lambda lib, o: [lib.LinearLR(o, start_factor=0.2, total_iters=8), lib.StepLR(o, 5, 0.5)],
    lambda lib, o: [
        lib.MultiStepLR(o, [3, 12, 12]),
        lib.PolynomialLR(o, total_iters=35, power=1.5),
        lib.MultiplicativeLR(o, lambda t: 1.0 + 0.01 * (t % 4)),
    ],
]


@pytest.mark.parametrize("chain", CHAINS)
@pytest.mark.parametrize("pass_optimizer", [False, True])
def test_chained_scheduler_multiplies_like_torch(chain, pass_optimizer):
    def build(lib):
        def make(opt):
            parts = chain(lib, opt)
            return lib.ChainedScheduler(parts, *([opt] if pass_optimizer else []))

        return make

    expected, ours = _compare(build(TS), build(S), 40)
    for g, base in enumerate(BASE_LRS):
        _same(ours.schedules[g].lrs(base, 40), expected[0][:, g])


def test_chaining_lambda_lr_is_refused_because_torch_does_not_multiply_it():
    opt = _torch_opt()
    chain = TS.ChainedScheduler([TS.LambdaLR(opt, lambda t: 0.5), TS.ExponentialLR(opt, 0.9)])
    for _ in range(3):
        opt.step()
        chain.step()
    # torch: LambdaLR resets to 0.5 * lr0 each step, so ExponentialLR's gamma never compounds
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 * 0.9, rel=1e-12)
    o = _torch_opt()
    with pytest.raises(ValueError, match=r"schedulers\[0\] \(LambdaLR\) cannot be chained"):
        S.ChainedScheduler([S.LambdaLR(o, lambda t: 0.5), S.ExponentialLR(o, 0.9)])


SEQUENCES = [
    lambda lib, o: (
        [lib.LinearLR(o, 0.1, total_iters=6), lib.CosineAnnealingWarmRestarts(o, 5, 2)],
        [6],
    ),
    lambda lib, o: (
        [
            lib.ConstantLR(o, factor=0.5, total_iters=99),
            lib.PolynomialLR(o, total_iters=10, power=2.0),
            lib.MultiplicativeLR(o, lambda t: 0.9),
        ],
        [4, 20],
    ),
    lambda lib, o: (
        [lib.OneCycleLR(o, 0.5, total_steps=20, cycle_momentum=False), lib.ExponentialLR(o, 0.95)],
        [21],
    ),
    lambda lib, o: (
        [lib.CyclicLR(o, 0.01, 0.1, 4, cycle_momentum=False), lib.StepLR(o, 3, 0.5)],
        [17],
    ),
    # schedulers restart from their own base rates, and cycle the momentum in their phase
    lambda lib, o: ([lib.LinearLR(o, 0.2, total_iters=5), lib.OneCycleLR(o, 0.5, 30)], [8]),
    lambda lib, o: (
        [lib.ExponentialLR(o, 0.9), lib.CyclicLR(o, [0.01, 0.002], 0.1, 4), lib.StepLR(o, 4)],
        [6, 30],
    ),
]


@pytest.mark.parametrize("sequence", SEQUENCES)
def test_sequential_lr_of_the_new_schedulers_matches_torch(sequence):
    def build(lib):
        def make(opt):
            parts, milestones = sequence(lib, opt)
            return lib.SequentialLR(opt, parts, milestones)

        return make

    _compare(build(TS), build(S), 39)


# --------------------------------------------------------------------------- state dicts

RESUMABLE = [
    ("PolynomialLR", dict(total_iters=30, power=1.5)),
    ("MultiplicativeLR", dict(lr_lambda=lambda t: 0.97)),
    ("LambdaLR", dict(lr_lambda=lambda t: 1 / (1 + t))),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2, eta_min=1e-3)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=5, mode="triangular2")),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=40, three_phase=True)),
    ("StepLR", dict(step_size=4, gamma=0.5)),
]


@pytest.mark.parametrize("name, kwargs", RESUMABLE)
@pytest.mark.parametrize("source, target", [("ours", "ours"), ("torch", "ours"), ("ours", "torch")])
def test_state_dict_mid_run_resumes_like_uninterrupted_torch_across_libraries(
    name, kwargs, source, target
):
    libs = {"ours": S, "torch": TS}
    opt = _torch_opt()
    expected = _run(opt, getattr(TS, name)(opt, **kwargs), 40)

    first_opt = _torch_opt()
    first = getattr(libs[source], name)(first_opt, **kwargs)
    head = _run(first_opt, first, 17)
    saved_opt, saved = first_opt.state_dict(), first.state_dict()
    if source == "ours":  # ours keeps torch's names, and their values, for what it saves
        twin_opt = _torch_opt()
        twin = getattr(TS, name)(twin_opt, **kwargs)
        _run(twin_opt, twin, 17)
        for key, value in saved.items():
            assert key in twin.state_dict(), key
            if key in ("last_epoch", "base_lrs", "_last_lr", "_step_count", "T_cur", "T_i"):
                assert value == pytest.approx(twin.state_dict()[key], rel=1e-12), key

    resumed_opt = _torch_opt()
    resumed = getattr(libs[target], name)(resumed_opt, **kwargs)  # scheduler first, as torch says
    resumed_opt.load_state_dict(saved_opt)
    resumed.load_state_dict(saved)
    tail = _run(resumed_opt, resumed, 24)  # its first row is t = 16 again, as restored
    _same(np.vstack([head[0], tail[0][1:]]), expected[0])
    _same(np.vstack([head[1], tail[1][1:]]), expected[1])
    _same(tail[0][0], head[0][-1])


@pytest.mark.parametrize("chained", [False, True])
def test_chained_and_sequential_state_dicts_round_trip(chained):
    def build(opt):
        if chained:
            return S.ChainedScheduler([S.LinearLR(opt, 0.1, total_iters=5), S.StepLR(opt, 4)])
        parts = [S.LinearLR(opt, 0.1, total_iters=5), S.CosineAnnealingWarmRestarts(opt, 6)]
        return S.SequentialLR(opt, parts, [5])

    expected = _run(opt := _numpy_opt(), build(opt), 30)[0]
    opt = _numpy_opt()
    sched = build(opt)
    head = _run(opt, sched, 12)[0]
    fresh_opt = _numpy_opt()
    fresh = build(fresh_opt)
    fresh.load_state_dict(sched.state_dict())
    _same(np.vstack([head, _run(fresh_opt, fresh, 19)[0][1:]]), expected)


# --------------------------------------------------------------------------- momentum in training


@pytest.mark.parametrize("kind", ["SGD", "Adam"])
@pytest.mark.parametrize("scheduler", ["OneCycleLR", "CyclicLR"])
def test_cycled_momentum_reaches_the_update_rule_in_both_front_ends(kind, scheduler):
    """20 steps on a quadratic: parameters equal torch.optim + torch's scheduler's to 1e-12."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 4))
    A = A @ A.T / 4 + np.eye(4)
    x0 = rng.normal(size=4)
    kwargs = (
        dict(max_lr=0.2, total_steps=20)
        if scheduler == "OneCycleLR"
        else dict(base_lr=0.01, max_lr=0.2, step_size_up=3, mode="exp_range", gamma=0.9)
    )
    hyper = dict(lr=0.1, momentum=0.5) if kind == "SGD" else dict(lr=0.1, betas=(0.7, 0.99))

    def run_torch(optimizer_class, lib):
        x = torch.tensor(x0, requires_grad=True)
        opt = optimizer_class([x], **hyper)
        sched = getattr(lib, scheduler)(opt, **kwargs)
        for _ in range(20):
            opt.zero_grad()
            (0.5 * x @ torch.tensor(A) @ x).backward()
            opt.step()
            sched.step()
        return x.detach().numpy()

    expected = run_torch(getattr(torch.optim, kind), TS)
    np.testing.assert_allclose(run_torch(getattr(optim_torch, kind), S), expected, rtol=1e-12)
    x = x0.copy()
    opt = getattr(optim_numpy, kind)([x], **hyper)
    sched = getattr(S, scheduler)(opt, **kwargs)
    for _ in range(20):
        opt.step([A @ x])
        sched.step()
    np.testing.assert_allclose(x, expected, rtol=1e-12)
    assert not np.allclose(expected, x0)


# --------------------------------------------------------------------------- refused arguments


def _adagrad():
    return _torch_opt("Adagrad")


# (a call made with torch's lr_scheduler and with ours, text our message must contain, how our
# error may differ from torch's):
# "same" = the same exception class; "type" = ours TypeError where torch raises ValueError for a
# wrong type; "zero" = torch divides by zero, ours says which argument is at fault (ValueError)
REFUSED = [
    (lambda lib, o: lib.OneCycleLR(o, 0.1, total_steps=0), "total_steps", "same"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, total_steps=2.5), "total_steps", "type"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1), "total_steps", "same"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3), "epochs", "same"),
    (
        lambda lib, o: lib.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-1),
        "steps_per_epoch",
        "same",
    ),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, 10, pct_start=1.5), "pct_start", "same"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, 10, pct_start=1), "pct_start", "same"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, 10, pct_start=0.1), "pct_start", "zero"),
    (
        lambda lib, o: lib.OneCycleLR(o, 0.1, 10, anneal_strategy="cosine"),
        "anneal_strategy",
        "same",
    ),
    (lambda lib, o: lib.OneCycleLR(o, [0.1], 10), "max_lr", "same"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, 10, base_momentum=[0.8]), "base_momentum", "same"),
    (lambda lib, o: lib.OneCycleLR(_adagrad(), 0.1, 10), "cycle_momentum", "same"),
    (lambda lib, o: lib.OneCycleLR(o, 0.1, 10, div_factor=0.0), "div_factor", "zero"),
    (lambda lib, o: lib.CyclicLR(o, 0.01, 0.1, mode="triangle"), "mode", "same"),
    (lambda lib, o: lib.CyclicLR(o, [0.01], 0.1), "base_lr", "same"),
    (lambda lib, o: lib.CyclicLR(o, 0.01, [0.1, 0.2, 0.3]), "max_lr", "same"),
    (lambda lib, o: lib.CyclicLR(_adagrad(), 0.01, 0.1), "cycle_momentum", "same"),
    (lambda lib, o: lib.CyclicLR(o, 0.01, 0.1, step_size_up=0), "step_size_up", "zero"),
    (lambda lib, o: lib.CosineAnnealingWarmRestarts(o, T_0=0), "T_0", "same"),
    (lambda lib, o: lib.CosineAnnealingWarmRestarts(o, T_0=2.5), "T_0", "type"),
    (lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 5, T_mult=0), "T_mult", "same"),
    (lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 5, T_mult=1.5), "T_mult", "type"),
    (lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 5, eta_min="0"), "eta_min", "type"),
    (lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 5).step(-1), "epoch", "same"),
    (lambda lib, o: lib.ReduceLROnPlateau(o, factor=1.0), "factor", "same"),
    (lambda lib, o: lib.ReduceLROnPlateau(o, mode="avg"), "mode", "same"),
    (lambda lib, o: lib.ReduceLROnPlateau(o, threshold_mode="relative"), "threshold_mode", "same"),
    (lambda lib, o: lib.ReduceLROnPlateau(o, min_lr=[0.1]), "min_lr", "same"),
    (lambda lib, o: lib.MultiplicativeLR(o, [lambda t: 0.9]), "lr_lambdas", "same"),
    (lambda lib, o: lib.MultiplicativeLR(o, 0.9), "lr_lambda", "same"),
    (lambda lib, o: lib.ChainedScheduler([]), "schedulers", "same"),
    (lambda lib, o: lib.ChainedScheduler([lib.ReduceLROnPlateau(o)]), r"schedulers\[0\]", "same"),
    (
        lambda lib, o: lib.ChainedScheduler([lib.StepLR(o, 2), lib.StepLR(_torch_opt(), 3)]),
        r"schedulers\[1\]",
        "same",
    ),
    (
        lambda lib, o: lib.SequentialLR(o, [lib.StepLR(o, 2), lib.ReduceLROnPlateau(o)], [3]),
        r"schedulers\[1\]",
        "same",
    ),
]


@pytest.mark.parametrize("call, match, how", REFUSED)
def test_refuses_what_torch_refuses_with_a_message_naming_the_argument(call, match, how):
    with pytest.raises(Exception) as theirs:
        call(TS, _torch_opt())
    with pytest.raises(Exception, match=match) as ours:
        call(S, _torch_opt())
    expected = {"same": theirs.type, "type": TypeError, "zero": ValueError}[how]
    assert ours.type is expected
    if how == "type":
        assert theirs.type is ValueError
    if how == "zero":
        assert theirs.type is ZeroDivisionError


# what torch accepts and the package refuses, because it is never meant (see the report)
STRICTER = [
    (lambda o: S.PolynomialLR(o, total_iters=0), "total_iters"),  # torch: a constant rate
    (lambda o: S.PolynomialLR(o, total_iters=10, power=-1.0), "power"),
    (lambda o: S.ReduceLROnPlateau(o, factor=-0.5), "factor"),
    (lambda o: S.ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: S.ReduceLROnPlateau(o, threshold=-1e-4), "threshold"),
    (lambda o: S.ReduceLROnPlateau(o, cooldown=-2), "cooldown"),
    (lambda o: S.CyclicLR(o, 0.01, 0.1, scale_fn=lambda x: 1.0, scale_mode="epochs"), "scale_mode"),
    (lambda o: S.ChainedScheduler([S.OneCycleLR(o, 0.1, 10), S.StepLR(o, 2)]), "cannot be chained"),
    (lambda o: S.ChainedScheduler([S.CyclicLR(o, 0.01, 0.1), S.StepLR(o, 2)]), "cannot be chained"),
]


@pytest.mark.parametrize("build, match", STRICTER)
def test_refuses_meaningless_arguments_torch_lets_through(build, match):
    with pytest.raises(ValueError, match=match):
        build(_torch_opt())


def test_one_cycle_schedule_refuses_its_arguments_directly():
    with pytest.raises(ValueError, match="pct_start"):
        S.OneCycleSchedule(10, pct_start=0.1).lr(0, 0.1)
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleSchedule(10).lr(11, 0.1)
    with pytest.raises(ValueError, match="anneal_strategy"):
        S.OneCycleSchedule(10, anneal_strategy="cosine")
    with pytest.raises(TypeError, match="t must be an integer"):
        S.CyclicSchedule(0.1, 4).momentum(1.5, 0.8, 0.9)
    with pytest.raises(ValueError, match="Invalid t"):
        S.CosineAnnealingWarmRestartsSchedule(3).lr(-0.5, 0.1)


# --------------------------------------------------------------------------- random options


def _outcome(build, num_steps):
    """The (lr, momentum) trajectory, or the exception class if building or stepping fails."""
    opt = _torch_opt()
    try:
        return _run(opt, build(opt), num_steps)
    except (ValueError, ZeroDivisionError) as error:
        return type(error)


@settings(max_examples=60, deadline=None)
@given(
    total=st.integers(1, 40),
    pct_start=st.floats(0.0, 1.0),
    three_phase=st.booleans(),
    anneal=st.sampled_from(["cos", "linear"]),
)
def test_one_cycle_equals_torch_for_random_phase_boundaries(total, pct_start, three_phase, anneal):
    """Phase ends pct_start * total - 1 fall anywhere, also below 0; both refuse the same cases."""

    def build(lib):
        return lambda opt: lib.OneCycleLR(
            opt, [0.3, 0.1], total, pct_start=pct_start, three_phase=three_phase,
            anneal_strategy=anneal,
        )  # fmt: skip

    expected, got = _outcome(build(TS), total + 1), _outcome(build(S), total + 1)
    if isinstance(expected, type):  # torch divides by zero where a phase has no length
        assert expected is ZeroDivisionError and got is ValueError
    else:
        _same(got[0], expected[0])
        _same(got[1], expected[1])


@settings(max_examples=25, deadline=None)
@given(
    up=st.floats(0.5, 12.0),
    down=st.one_of(st.none(), st.floats(0.5, 12.0)),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.8, 1.0),
)
def test_cyclic_equals_torch_for_random_step_sizes(up, down, mode, gamma):
    def build(lib):
        return lambda opt: lib.CyclicLR(opt, 0.01, [0.2, 0.05], up, down, mode, gamma)

    expected, got = _outcome(build(TS), 40), _outcome(build(S), 40)
    _same(got[0], expected[0])
    _same(got[1], expected[1])


@settings(max_examples=40, deadline=None)
@given(
    T_0=st.integers(1, 6),
    T_mult=st.integers(1, 3),
    epochs=st.lists(st.floats(0.0, 60.0), min_size=1, max_size=12),
)
def test_warm_restarts_equal_torch_at_random_fractional_epochs(T_0, T_mult, epochs):
    """Away from restart points, where torch's logarithm can land on the wrong side."""
    schedule = S.CosineAnnealingWarmRestartsSchedule(T_0, T_mult)
    opt_t, opt_o = _torch_opt(), _torch_opt()
    sched_t = TS.CosineAnnealingWarmRestarts(opt_t, T_0, T_mult)
    sched_o = S.CosineAnnealingWarmRestarts(opt_o, T_0, T_mult)
    for epoch in epochs:
        T_cur, _ = schedule.cycle(epoch)
        if min(T_cur, abs(T_cur - schedule.cycle(epoch)[1])) < 1e-9 and epoch >= T_0:
            continue  # a restart point: torch's step(epoch) may put it in the previous cycle
        opt_t.step()
        sched_t.step(epoch)
        sched_o.step(epoch)
        sched_t.step()  # and one plain step after the jump
        sched_o.step()
        _same(sched_o.get_last_lr(), sched_t.get_last_lr())


# --------------------------------------------------------------------------- tensor rates

TENSOR_LR = [
    lambda lib, o: lib.StepLR(o, 3, 0.5),
    lambda lib, o: lib.OneCycleLR(o, 0.5, total_steps=20),
    lambda lib, o: lib.CyclicLR(o, 0.01, 0.1, step_size_up=4),
    lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 4, 2),
    lambda lib, o: lib.ChainedScheduler([lib.LinearLR(o, 0.5, total_iters=4), lib.StepLR(o, 5)]),
]


@pytest.mark.parametrize("build", TENSOR_LR)
@pytest.mark.parametrize("front_end", [torch.optim, optim_torch])
def test_a_tensor_lr_is_filled_in_place_like_torch(build, front_end):
    rates = []
    for lib in (TS, S):
        p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        p.grad = torch.ones_like(p)
        lr = torch.tensor(0.1)
        opt = front_end.SGD([p], lr=lr, momentum=0.5, foreach=False)
        sched = build(lib, opt)
        rows = []
        for _ in range(20):
            rows.append(float(opt.param_groups[0]["lr"]))
            opt.step()
            sched.step()
        assert opt.param_groups[0]["lr"] is lr  # the same tensor, filled in place
        rates.append(rows)
    # torch computes with its float32 tensors, the package in float64: float32 round-off
    np.testing.assert_allclose(rates[1], rates[0], rtol=1e-6)


def test_plateau_with_a_tensor_lr_and_torch_s_epoch_argument():
    runs = []
    for lib in (TS, S):
        p = torch.zeros(2, requires_grad=True)
        lr = torch.tensor(0.1)
        opt = torch.optim.SGD([p], lr=lr, foreach=False)
        sched = lib.ReduceLROnPlateau(opt, patience=0, factor=0.5)
        rows = []
        for epoch, value in enumerate([1.0, 1.0, 0.5, 0.6, 0.7, 0.4], start=10):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torch deprecates the argument
                sched.step(torch.tensor(value), epoch)
            rows.append((float(lr), sched.last_epoch))
        assert opt.param_groups[0]["lr"] is lr
        runs.append(rows)
    assert runs[1] == runs[0]
    assert runs[0][-1] == (pytest.approx(0.0125, rel=1e-7), 15)


@pytest.mark.parametrize("min_lr", [0.01, [0.01, 0.0]])
def test_plateau_after_a_param_group_is_added_behaves_like_torch(min_lr):
    outcomes = []
    for lib in (TS, S):
        opt = _torch_opt()
        sched = lib.ReduceLROnPlateau(opt, patience=0, factor=0.5, min_lr=min_lr)
        sched.step(1.0)
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "lr": 0.2})
        try:
            sched.step(2.0)  # a bad epoch: the rates are cut, in three groups now
            outcomes.append([g["lr"] for g in opt.param_groups])
        except RuntimeError as error:
            outcomes.append(RuntimeError)
            assert lib is TS or "min_lr" in str(error)
    assert outcomes[1] == outcomes[0]
    assert outcomes[0] == (RuntimeError if isinstance(min_lr, list) else [0.05, 0.015, 0.1])
