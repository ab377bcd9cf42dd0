r"""Learning-rate schedules, equal to ``torch.optim.lr_scheduler`` where a namesake exists.

Two layers, so a page can plot a schedule without building an optimizer:

- a **schedule** is a small immutable object holding hyperparameters and a pure
  map from the step :math:`t = 0, 1, 2, \dots` to a learning rate
  :math:`\eta_t = \text{lr}(t, \eta_0)`; most are *multiplicative*,
  :math:`\eta_t = \eta_0 f(t)`, and also expose ``factor(t)`` :math:`= f(t)`;
- a **scheduler** (``StepLR``, ``CosineAnnealingLR``, ...; torch's class and
  argument names) drives any optimizer whose ``param_groups`` is a list of
  dicts with an ``"lr"`` entry: ``torch.optim`` optimizers and the package's
  NumPy optimizers alike. Like torch it stores each group's starting rate as
  ``group["initial_lr"]`` (:math:`\eta_0`, read back as ``base_lrs``), sets
  :math:`\eta_0 f(0)` on construction and :math:`\eta_0 f(t)` at the
  :math:`t`-th call of ``step()``, which goes *after* ``optimizer.step()``.

Every schedule is computed in closed form from :math:`t`. Several torch
schedulers (``StepLR``, ``ExponentialLR``, ``CosineAnnealingLR``, ...) instead
update ``group["lr"]`` recursively from its current value; the two agree to
round-off as long as nothing else changes ``group["lr"]`` in between (the tests
hold them to 1e-12). A scheduler here overwrites ``group["lr"]`` at every step,
so two schedulers on one optimizer do not multiply as in torch's
``ChainedScheduler``: compose schedules with ``SequentialLR`` instead.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from dlopt._checks import check_int, check_real

# --------------------------------------------------------------------------- pure schedules


def _check_step(t) -> int:
    return check_int("t", t, low=0)


def _check_milestones(milestones, *, low: int) -> tuple[int, ...]:
    """Strictly increasing integers >= ``low``, as a tuple."""
    try:
        values = tuple(milestones)
    except TypeError:
        raise TypeError(f"milestones must be a sequence of ints, got {milestones!r}") from None
    values = tuple(check_int(f"milestones[{i}]", m, low=low) for i, m in enumerate(values))
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"Invalid milestones: {list(values)} (expected strictly increasing)")
    return values


class Schedule:
    r"""A learning-rate schedule :math:`t \mapsto \eta_t`, a pure function of the step.

    Subclasses implement ``_lr(t, base_lr)``; ``lr`` and ``lrs`` validate and call it.
    """

    def lr(self, t: int, base_lr: float) -> float:
        r""":math:`\eta_t` for a schedule that starts from :math:`\eta_0 =` ``base_lr``."""
        return self._lr(_check_step(t), check_real("base_lr", base_lr, low=0.0))

    def lrs(self, base_lr: float, num_steps: int) -> np.ndarray:
        r"""The first ``num_steps`` rates :math:`(\eta_0, \dots, \eta_{T-1})`, shape ``(T,)``."""
        base_lr = check_real("base_lr", base_lr, low=0.0)
        num_steps = check_int("num_steps", num_steps, low=0)
        return np.array([self._lr(t, base_lr) for t in range(num_steps)], dtype=np.float64)

    def _lr(self, t: int, base_lr: float) -> float:
        raise NotImplementedError


class MultiplicativeSchedule(Schedule):
    r"""A schedule :math:`\eta_t = \eta_0 f(t)`; subclasses implement ``_factor(t)``."""

    def factor(self, t: int) -> float:
        r"""The multiplier :math:`f(t) = \eta_t / \eta_0`."""
        return self._factor(_check_step(t))

    def _lr(self, t: int, base_lr: float) -> float:
        return base_lr * self._factor(t)

    def _factor(self, t: int) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class ConstantSchedule(MultiplicativeSchedule):
    r""":math:`f(t) = s` for :math:`t <` ``total_iters``, then 1 (torch's ``ConstantLR``).

    ``scale`` :math:`s \in [0, 1]` is torch's ``factor`` (renamed so it does not
    clash with the method ``factor(t)``).
    """

    scale: float = 1.0 / 3
    total_iters: int = 5

    def __post_init__(self):
        check_real("scale", self.scale, low=0.0, high=1.0)
        check_int("total_iters", self.total_iters, low=1)

    def _factor(self, t):
        return self.scale if t < self.total_iters else 1.0


@dataclass(frozen=True)
class StepSchedule(MultiplicativeSchedule):
    r"""Step decay :math:`f(t) = \gamma^{\lfloor t / \text{step\_size} \rfloor}` (``StepLR``)."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        check_int("step_size", self.step_size, low=1)
        check_real("gamma", self.gamma, low=0.0, low_open=True)

    def _factor(self, t):
        return self.gamma ** (t // self.step_size)


@dataclass(frozen=True)
class MultiStepSchedule(MultiplicativeSchedule):
    r""":math:`f(t) = \gamma^{\#\{m \in \text{milestones} : m \le t\}}` (``MultiStepLR``).

    ``milestones`` must be strictly increasing (torch also accepts repeats).
    """

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self):
        object.__setattr__(self, "milestones", _check_milestones(self.milestones, low=0))
        check_real("gamma", self.gamma, low=0.0, low_open=True)

    def _factor(self, t):
        return self.gamma ** bisect_right(self.milestones, t)


@dataclass(frozen=True)
class ExponentialSchedule(MultiplicativeSchedule):
    r"""Exponential decay :math:`f(t) = \gamma^t` (``ExponentialLR``); :math:`\gamma > 1` grows."""

    gamma: float

    def __post_init__(self):
        check_real("gamma", self.gamma, low=0.0, low_open=True)

    def _factor(self, t):
        return self.gamma**t


@dataclass(frozen=True)
class LinearSchedule(MultiplicativeSchedule):
    r"""Linear ramp :math:`f(t) = s + (e - s)\min(t, T)/T` (``LinearLR``; a warm-up when s < e).

    :math:`s` = ``start_factor`` :math:`\in (0, 1]`, :math:`e` = ``end_factor``
    :math:`\in [0, 1]`, :math:`T` = ``total_iters``; the rate stays at
    :math:`e\,\eta_0` after :math:`T` steps.
    """

    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int = 5

    def __post_init__(self):
        check_real("start_factor", self.start_factor, low=0.0, high=1.0, low_open=True)
        check_real("end_factor", self.end_factor, low=0.0, high=1.0)
        check_int("total_iters", self.total_iters, low=1)

    def _factor(self, t):
        s, e, T = self.start_factor, self.end_factor, self.total_iters
        return s + (e - s) * min(T, t) / T


@dataclass(frozen=True)
class LambdaSchedule(MultiplicativeSchedule):
    r""":math:`f(t) =` ``lr_lambda(t)``, any function of the step (``LambdaLR``)."""

    lr_lambda: Callable[[int], float]

    def __post_init__(self):
        if not callable(self.lr_lambda):
            raise TypeError(f"lr_lambda must be callable, got {self.lr_lambda!r}")

    def _factor(self, t):
        return float(self.lr_lambda(t))


@dataclass(frozen=True)
class InverseTimeSchedule(MultiplicativeSchedule):
    r"""Inverse-time decay :math:`f(t) = 1 / (1 + \kappa t / s)` (not in torch).

    :math:`\kappa` = ``decay_rate`` > 0, :math:`s` = ``decay_steps``. This is the
    :math:`\eta_t \propto 1/t` schedule of stochastic approximation: it meets the
    Robbins–Monro conditions :math:`\sum_t \eta_t = \infty` (the harmonic series
    diverges, so SGD can still travel any distance) and
    :math:`\sum_t \eta_t^2 < \infty` (:math:`\sum 1/t^2 = \pi^2/6`, so the
    accumulated gradient noise stays finite): with the usual assumptions
    (convexity, bounded gradient variance) SGD then converges.
    """

    decay_rate: float
    decay_steps: int = 1

    def __post_init__(self):
        check_real("decay_rate", self.decay_rate, low=0.0, low_open=True)
        check_int("decay_steps", self.decay_steps, low=1)

    def _factor(self, t):
        return 1.0 / (1.0 + self.decay_rate * t / self.decay_steps)


@dataclass(frozen=True)
class CosineAnnealingSchedule(Schedule):
    r"""Cosine annealing (Loshchilov & Hutter, 2017), ``CosineAnnealingLR``:

    .. math::

        \eta_t = \eta_\min + \tfrac12 (\eta_0 - \eta_\min)\bigl(1 + \cos(\pi t / T_\max)\bigr).

    It reaches :math:`\eta_\min` at :math:`t = T_\max` and, like torch, rises
    again after that (period :math:`2T_\max`, no restart). Torch updates the
    rate recursively,
    :math:`\eta_{t} = \eta_\min + (\eta_{t-1} - \eta_\min)
    \frac{1 + \cos(\pi t/T_\max)}{1 + \cos(\pi (t-1)/T_\max)}`, which equals this
    closed form up to round-off. :math:`\eta_\min` is absolute, so this schedule
    has ``lr(t, base_lr)`` but no ``factor(t)``.
    """

    T_max: int
    eta_min: float = 0.0

    def __post_init__(self):
        check_int("T_max", self.T_max, low=1)
        check_real("eta_min", self.eta_min, low=0.0)

    def _lr(self, t, base_lr):
        annealing = 1 + math.cos(math.pi * t / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * annealing / 2


@dataclass(frozen=True)
class SequentialSchedule(Schedule):
    r"""Schedules one after another (``SequentialLR``): each restarts its clock at its milestone.

    With milestones :math:`m_1 < \dots < m_{k}` and :math:`m_0 = 0`, the step
    :math:`t \in [m_i, m_{i+1})` uses schedule :math:`i` at its own step
    :math:`t - m_i`, with the same :math:`\eta_0`.
    """

    schedules: tuple[Schedule, ...]
    milestones: tuple[int, ...]

    def __post_init__(self):
        schedules = tuple(self.schedules)
        if not schedules:
            raise ValueError("SequentialSchedule expects at least one schedule, got none")
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"schedules[{i}] must be a Schedule, got {s!r}")
        milestones = _check_milestones(self.milestones, low=1)
        if len(milestones) != len(schedules) - 1:
            raise ValueError(
                f"Invalid milestones: expected {len(schedules) - 1} (one fewer than the "
                f"{len(schedules)} schedules), got {len(milestones)}"
            )
        object.__setattr__(self, "schedules", schedules)
        object.__setattr__(self, "milestones", milestones)

    def _lr(self, t, base_lr):
        i = bisect_right(self.milestones, t)
        start = self.milestones[i - 1] if i > 0 else 0
        return self.schedules[i]._lr(t - start, base_lr)


@dataclass(frozen=True)
class WarmupCosineSchedule(Schedule):
    r"""Linear warm-up for :math:`W` steps, then cosine annealing to :math:`\eta_\min` at :math:`T`.

    .. math::

        \eta_t = \begin{cases}
            \eta_0\,(t + 1)/(W + 1) & t < W \\
            \eta_\min + \tfrac12(\eta_0 - \eta_\min)
                \bigl(1 + \cos(\pi (t - W)/(T - W))\bigr) & W \le t \le T \\
            \eta_\min & t > T
        \end{cases}

    with :math:`W` = ``warmup_steps`` and :math:`T` = ``total_steps``. Up to
    :math:`T` it is exactly torch's ``SequentialLR([LinearLR(start_factor=1/(W+1),
    total_iters=W), CosineAnnealingLR(T_max=T-W, eta_min)], milestones=[W])``;
    the warm-up never uses a zero rate and reaches :math:`\eta_0` at :math:`t = W`.
    After :math:`T` it stays at :math:`\eta_\min` rather than rising again.
    """

    warmup_steps: int
    total_steps: int
    eta_min: float = 0.0
    _phases: Schedule = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        W = check_int("warmup_steps", self.warmup_steps, low=0)
        T = check_int("total_steps", self.total_steps, low=W + 1)
        cosine = CosineAnnealingSchedule(T - W, self.eta_min)
        phases = cosine
        if W > 0:
            warmup = LinearSchedule(1.0 / (W + 1), 1.0, W)
            phases = SequentialSchedule((warmup, cosine), (W,))
        object.__setattr__(self, "_phases", phases)

    def _lr(self, t, base_lr):
        return self._phases._lr(min(t, self.total_steps), base_lr)


def lr_range_test_values(min_lr: float, max_lr: float, num_steps: int) -> np.ndarray:
    r"""The geometric grid of a learning-rate range test, shape ``(K,)``.

    A range test (Smith, 2017) trains for a short while with a rate that grows
    at every step and records the loss. Smith grew it linearly; the geometric
    grid used here (as in fastai's ``lr_find``) gives every decade the same
    number of steps:
    :math:`\eta_k = \eta_\min (\eta_\max/\eta_\min)^{k/(K-1)}` for
    :math:`k = 0, \dots, K-1`. It is ``ExponentialLR`` with
    :math:`\gamma = (\eta_\max/\eta_\min)^{1/(K-1)}` started at :math:`\eta_\min`.
    """
    min_lr = check_real("min_lr", min_lr, low=0.0, low_open=True)
    max_lr = check_real("max_lr", max_lr, low=min_lr, low_open=True)
    num_steps = check_int("num_steps", num_steps, low=2)
    if math.isinf(max_lr):
        raise ValueError("Invalid max_lr: inf (expected a finite value)")
    return np.geomspace(min_lr, max_lr, num_steps)


# --------------------------------------------------------------------------- schedulers


class LRScheduler:
    r"""Drives an optimizer's ``param_groups`` with a ``Schedule`` (one, or one per group).

    ``optimizer`` is anything with ``param_groups``, a list of dicts holding
    ``"lr"`` (``torch.optim`` and the package's NumPy optimizers). On
    construction each group gets ``"initial_lr"`` (kept if already there, as in
    torch) and ``"lr"`` :math:`= \eta_{t}` with ``t = last_epoch + 1``; every
    ``step()`` advances ``last_epoch`` and sets the next rate. Pass
    ``last_epoch >= 0`` only when resuming (the groups must then hold
    ``"initial_lr"``).
    """

    def __init__(self, optimizer, schedule: Schedule | Sequence[Schedule], last_epoch: int = -1):
        groups = _param_groups(optimizer)
        self.optimizer = optimizer
        self.schedules = _per_group(schedule, len(groups))
        self.last_epoch = check_int("last_epoch", last_epoch, low=-1)
        for i, group in enumerate(groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param_groups[{i}] has no 'initial_lr': resuming with last_epoch >= 0 "
                    "needs the optimizer state the previous scheduler wrote"
                )
        self.base_lrs = [
            check_real(f"param_groups[{i}]['initial_lr']", g["initial_lr"], low=0.0)
            for i, g in enumerate(groups)
        ]
        self.step()

    def step(self) -> None:
        """Advance one step and write the new rate into every param group."""
        self.last_epoch += 1
        self._write_lrs()

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` (or the constructor) set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The step counter and base rates; hyperparameters come from the constructor."""
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "last_lr": list(self._last_lr),
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from ``state_dict()``; also rewrites each group's ``lr`` and ``initial_lr``.

        Rewriting the rates lets an optimizer without its own state (a bare
        ``param_groups`` holder) resume correctly.
        """
        missing = {"last_epoch", "base_lrs"} - set(state_dict)
        if missing:
            raise KeyError(f"state_dict is missing {sorted(missing)}")
        groups = self.optimizer.param_groups
        if len(state_dict["base_lrs"]) != len(groups):
            raise ValueError(
                f"state_dict has {len(state_dict['base_lrs'])} base_lrs but the optimizer has "
                f"{len(groups)} param groups"
            )
        self.last_epoch = check_int("last_epoch", state_dict["last_epoch"], low=0)
        self.base_lrs = [check_real("base_lr", b, low=0.0) for b in state_dict["base_lrs"]]
        for group, base_lr in zip(groups, self.base_lrs, strict=True):
            group["initial_lr"] = base_lr
        self._write_lrs()

    def _write_lrs(self) -> None:
        groups = self.optimizer.param_groups
        for group, schedule, base_lr in zip(groups, self.schedules, self.base_lrs, strict=True):
            group["lr"] = schedule.lr(self.last_epoch, base_lr)
        self._last_lr = [group["lr"] for group in groups]


def _param_groups(optimizer) -> list[dict]:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups:
        raise TypeError(
            f"optimizer must have param_groups, a non-empty list of dicts, got {optimizer!r}"
        )
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or "lr" not in group:
            raise TypeError(f"optimizer.param_groups[{i}] must be a dict with an 'lr' entry")
        check_real(f"param_groups[{i}]['lr']", group["lr"], low=0.0)
    return groups


def _per_group(schedule, num_groups: int) -> list[Schedule]:
    schedules = [schedule] * num_groups if isinstance(schedule, Schedule) else list(schedule)
    if len(schedules) != num_groups:
        raise ValueError(f"Expected {num_groups} schedules (one per group), got {len(schedules)}")
    for i, s in enumerate(schedules):
        if not isinstance(s, Schedule):
            raise TypeError(f"schedule[{i}] must be a Schedule, got {s!r}")
    return schedules


class ConstantLR(LRScheduler):
    """``torch.optim.lr_scheduler.ConstantLR``: ``factor * lr`` for ``total_iters`` steps."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch=-1):
        check_real("factor", factor, low=0.0, high=1.0)  # torch's name; the schedule calls it scale
        super().__init__(optimizer, ConstantSchedule(factor, total_iters), last_epoch)


class StepLR(LRScheduler):
    """``torch.optim.lr_scheduler.StepLR``: multiply by ``gamma`` every ``step_size`` steps."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        super().__init__(optimizer, StepSchedule(step_size, gamma), last_epoch)


class MultiStepLR(LRScheduler):
    """``torch.optim.lr_scheduler.MultiStepLR``: multiply by ``gamma`` at each milestone."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        super().__init__(optimizer, MultiStepSchedule(milestones, gamma), last_epoch)


class ExponentialLR(LRScheduler):
    """``torch.optim.lr_scheduler.ExponentialLR``: multiply by ``gamma`` every step."""

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        super().__init__(optimizer, ExponentialSchedule(gamma), last_epoch)


class CosineAnnealingLR(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingLR``, in closed form.

    See ``CosineAnnealingSchedule`` for the formula and how it relates to torch's recursion.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        super().__init__(optimizer, CosineAnnealingSchedule(T_max, eta_min), last_epoch)


class LinearLR(LRScheduler):
    """``torch.optim.lr_scheduler.LinearLR``: the factor goes linearly from start to end."""

    def __init__(
        self,
        optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        schedule = LinearSchedule(start_factor, end_factor, total_iters)
        super().__init__(optimizer, schedule, last_epoch)


class LambdaLR(LRScheduler):
    """``torch.optim.lr_scheduler.LambdaLR``: ``lr = initial_lr * lr_lambda(t)``.

    ``lr_lambda`` is one function, or a list with one per param group.
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        if isinstance(lr_lambda, list | tuple):
            schedule = [LambdaSchedule(f) for f in lr_lambda]
        else:
            schedule = LambdaSchedule(lr_lambda)
        super().__init__(optimizer, schedule, last_epoch)


class SequentialLR(LRScheduler):
    """``torch.optim.lr_scheduler.SequentialLR``: ``schedulers[i]`` from ``milestones[i-1]`` on.

    The schedulers must drive ``optimizer``; only their schedules are used,
    each restarted at its milestone (see ``SequentialSchedule``).
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be a dlopt scheduler, got {s!r}")
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] drives a different optimizer")
        if not schedulers:
            raise ValueError("SequentialLR expects at least one scheduler, got none")
        per_group = [
            SequentialSchedule(tuple(s.schedules[g] for s in schedulers), milestones)
            for g in range(len(optimizer.param_groups))
        ]
        super().__init__(optimizer, per_group, last_epoch)


class InverseTimeLR(LRScheduler):
    """``lr = initial_lr / (1 + decay_rate * t / decay_steps)`` (see ``InverseTimeSchedule``)."""

    def __init__(self, optimizer, decay_rate: float, decay_steps: int = 1, last_epoch: int = -1):
        super().__init__(optimizer, InverseTimeSchedule(decay_rate, decay_steps), last_epoch)


class WarmupCosineLR(LRScheduler):
    """Linear warm-up then cosine annealing (see ``WarmupCosineSchedule``)."""

    def __init__(
        self,
        optimizer,
        warmup_steps: int,
        total_steps: int,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ):
        schedule = WarmupCosineSchedule(warmup_steps, total_steps, eta_min)
        super().__init__(optimizer, schedule, last_epoch)
