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
so two schedulers on one optimizer do not multiply by themselves: torch's
``ChainedScheduler`` is here the product of the chained schedules' factors
(``ChainedSchedule``), and ``SequentialLR`` runs schedules one after another.

Three schedulers do more than set ``"lr"``: ``OneCycleLR`` and ``CyclicLR``
also cycle the momentum (``group["momentum"]``, or the first entry of
``group["betas"]`` for Adam-like optimizers) unless ``cycle_momentum=False``,
and ``ReduceLROnPlateau`` is not a function of the step at all: it reads a
metric at every ``step(metric)`` and cuts the rate when the metric stalls.

Where this module and torch part ways, on purpose (each case is a test):

- ``ChainedScheduler`` chains only schedules torch updates recursively
  (``chainable``); torch also takes ``LambdaLR``, ``OneCycleLR``,
  ``CyclicLR``, ..., whose chain is not a product but whichever steps last.
- ``CosineAnnealingWarmRestarts.step(epoch)`` counts cycles exactly; torch's
  floating-point logarithm puts some restart epochs at the end of the
  previous cycle.
- Arguments torch accepts but that mean nothing are refused (a negative
  ``power``, ``patience``, ``cooldown``, ``threshold`` or ``factor``,
  ``PolynomialLR(total_iters=0)``, an unknown ``scale_mode``); a wrong type
  raises ``TypeError`` where torch raises ``ValueError``; where torch divides by
  zero (a one-cycle phase without steps, ``step_size_up=0``,
  ``div_factor=0``) a ``ValueError`` names the argument.
- ``get_last_lr()`` gives floats, also for a tensor ``lr`` (which, as in
  torch, is filled in place).
- ``state_dict()`` uses torch's key names and loads torch's state dicts
  (and torch loads these), except for ``SequentialLR`` and
  ``ChainedScheduler``, whose torch state nests their schedulers'.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from dlopt._validation import validate_choice, validate_int, validate_real

# --------------------------------------------------------------------------- pure schedules


def _validate_step(t) -> int:
    return validate_int("t", t, low=0)


def _validate_milestones(milestones, *, low: int, strict: bool = True) -> tuple[int, ...]:
    """Increasing integers >= ``low`` (strictly unless ``strict=False``), as a tuple."""
    try:
        values = tuple(milestones)
    except TypeError:
        raise TypeError(f"milestones must be a sequence of ints, got {milestones!r}") from None
    values = tuple(validate_int(f"milestones[{i}]", m, low=low) for i, m in enumerate(values))
    if any(b < a or (strict and b == a) for a, b in zip(values, values[1:], strict=False)):
        expected = "strictly increasing" if strict else "increasing"
        raise ValueError(f"Invalid milestones: {list(values)} (expected {expected})")
    return values


class Schedule:
    r"""A learning-rate schedule :math:`t \mapsto \eta_t`, a pure function of the step.

    Subclasses implement ``_lr(t, base_lr)``; ``lr`` and ``lrs`` validate and call it.
    """

    def lr(self, t: int, base_lr: float) -> float:
        r""":math:`\eta_t` for a schedule that starts from :math:`\eta_0 =` ``base_lr``."""
        return self._lr(_validate_step(t), validate_real("base_lr", base_lr, low=0.0))

    def lrs(self, base_lr: float, num_steps: int) -> np.ndarray:
        r"""The first ``num_steps`` rates :math:`(\eta_0, \dots, \eta_{T-1})`, shape ``(T,)``."""
        base_lr = validate_real("base_lr", base_lr, low=0.0)
        num_steps = validate_int("num_steps", num_steps, low=0)
        return np.array([self._lr(t, base_lr) for t in range(num_steps)], dtype=np.float64)

    def _lr(self, t: int, base_lr: float) -> float:
        raise NotImplementedError


class MultiplicativeSchedule(Schedule):
    r"""A schedule :math:`\eta_t = \eta_0 f(t)`; subclasses implement ``_factor(t)``.

    ``chainable`` says whether torch's namesake updates the rate recursively,
    :math:`\eta_t = \eta_{t-1} f(t)/f(t-1)`: only those multiply when chained
    (see ``ChainedSchedule``).
    """

    chainable: ClassVar[bool] = False

    def factor(self, t: int) -> float:
        r"""The multiplier :math:`f(t) = \eta_t / \eta_0`."""
        return self._factor(_validate_step(t))

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

    chainable: ClassVar[bool] = True

    scale: float = 1.0 / 3
    total_iters: int = 5

    def __post_init__(self):
        validate_real("scale", self.scale, low=0.0, high=1.0)
        validate_int("total_iters", self.total_iters, low=1)

    def _factor(self, t):
        return self.scale if t < self.total_iters else 1.0


@dataclass(frozen=True)
class StepSchedule(MultiplicativeSchedule):
    r"""Step decay :math:`f(t) = \gamma^{\lfloor t / \text{step\_size} \rfloor}` (``StepLR``)."""

    chainable: ClassVar[bool] = True

    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        validate_int("step_size", self.step_size, low=1)
        validate_real("gamma", self.gamma, low=0.0, low_open=True)

    def _factor(self, t):
        return self.gamma ** (t // self.step_size)


@dataclass(frozen=True)
class MultiStepSchedule(MultiplicativeSchedule):
    r""":math:`f(t) = \gamma^{\#\{m \in \text{milestones} : m \le t\}}` (``MultiStepLR``).

    ``milestones`` must be increasing; a milestone repeated :math:`k` times
    multiplies by :math:`\gamma^k` there, as in torch (which also accepts them
    unsorted, though its documentation asks for increasing ones).
    """

    chainable: ClassVar[bool] = True

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self):
        milestones = _validate_milestones(self.milestones, low=0, strict=False)
        object.__setattr__(self, "milestones", milestones)
        validate_real("gamma", self.gamma, low=0.0, low_open=True)

    def _factor(self, t):
        return self.gamma ** bisect_right(self.milestones, t)


@dataclass(frozen=True)
class ExponentialSchedule(MultiplicativeSchedule):
    r"""Exponential decay :math:`f(t) = \gamma^t` (``ExponentialLR``); :math:`\gamma > 1` grows."""

    chainable: ClassVar[bool] = True

    gamma: float

    def __post_init__(self):
        validate_real("gamma", self.gamma, low=0.0, low_open=True)

    def _factor(self, t):
        return self.gamma**t


@dataclass(frozen=True)
class LinearSchedule(MultiplicativeSchedule):
    r"""Linear ramp :math:`f(t) = s + (e - s)\min(t, T)/T` (``LinearLR``; a warm-up when s < e).

    :math:`s` = ``start_factor`` :math:`\in (0, 1]`, :math:`e` = ``end_factor``
    :math:`\in [0, 1]`, :math:`T` = ``total_iters``; the rate stays at
    :math:`e\,\eta_0` after :math:`T` steps.
    """

    chainable: ClassVar[bool] = True

    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int = 5

    def __post_init__(self):
        validate_real("start_factor", self.start_factor, low=0.0, high=1.0, low_open=True)
        validate_real("end_factor", self.end_factor, low=0.0, high=1.0)
        validate_int("total_iters", self.total_iters, low=1)

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

    chainable: ClassVar[bool] = True

    decay_rate: float
    decay_steps: int = 1

    def __post_init__(self):
        validate_real("decay_rate", self.decay_rate, low=0.0, low_open=True)
        validate_int("decay_steps", self.decay_steps, low=1)

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
        validate_int("T_max", self.T_max, low=1)
        validate_real("eta_min", self.eta_min, low=0.0)

    def _lr(self, t, base_lr):
        annealing = 1 + math.cos(math.pi * t / self.T_max)
        return self.eta_min + (base_lr - self.eta_min) * annealing / 2


@dataclass(frozen=True)
class SequentialSchedule(Schedule):
    r"""Schedules one after another (``SequentialLR``): each restarts its clock at its milestone.

    With milestones :math:`m_1 < \dots < m_{k}` and :math:`m_0 = 0`, the step
    :math:`t \in [m_i, m_{i+1})` uses schedule :math:`i` at its own step
    :math:`t - m_i`, with the same :math:`\eta_0`. The exception is torch's:
    a ``LambdaProductSchedule`` (``MultiplicativeLR``) after a milestone
    multiplies the rate the previous schedule left, starting with
    :math:`\lambda(0)`, rather than :math:`\eta_0`. ``scales`` (one per
    schedule) start schedule :math:`i` from :math:`c_i \eta_0` instead: torch's
    schedulers restart from their own base rates at their milestones, and
    ``CyclicLR``'s or ``OneCycleLR``'s differ from the optimizer's.
    """

    schedules: tuple[Schedule, ...]
    milestones: tuple[int, ...]
    scales: tuple[float, ...] | None = None

    def __post_init__(self):
        schedules = tuple(self.schedules)
        if not schedules:
            raise ValueError("SequentialSchedule expects at least one schedule, got none")
        if self.scales is not None:
            scales = tuple(
                validate_real(f"scales[{i}]", c, low=0.0) for i, c in enumerate(self.scales)
            )
            if len(scales) != len(schedules):
                raise ValueError(
                    f"Invalid scales: expected {len(schedules)} (one per schedule), "
                    f"got {len(scales)}"
                )
            object.__setattr__(self, "scales", scales)
        for i, s in enumerate(schedules):
            if not isinstance(s, Schedule):
                raise TypeError(f"schedules[{i}] must be a Schedule, got {s!r}")
        milestones = _validate_milestones(self.milestones, low=1)
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
        schedule = self.schedules[i]
        if i > 0 and isinstance(schedule, LambdaProductSchedule):
            # torch's MultiplicativeLR has no closed form: at its milestone it multiplies the
            # rate in force by lr_lambda(0), then goes on multiplying from there
            lr = self._lr(start - 1, base_lr) * float(schedule.lr_lambda(0))
            for s in range(1, t - start + 1):
                lr = lr * float(schedule.lr_lambda(s))
            return lr
        scale = 1.0 if self.scales is None else self.scales[i]
        return schedule._lr(t - start, base_lr * scale)


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
        W = validate_int("warmup_steps", self.warmup_steps, low=0)
        T = validate_int("total_steps", self.total_steps, low=W + 1)
        cosine = CosineAnnealingSchedule(T - W, self.eta_min)
        phases = cosine
        if W > 0:
            warmup = LinearSchedule(1.0 / (W + 1), 1.0, W)
            phases = SequentialSchedule((warmup, cosine), (W,))
        object.__setattr__(self, "_phases", phases)

    def _lr(self, t, base_lr):
        return self._phases._lr(min(t, self.total_steps), base_lr)


@dataclass(frozen=True)
class SlantedTriangularSchedule(MultiplicativeSchedule):
    r"""ULMFiT's slanted triangular learning rates (Howard & Ruder, 2018) over :math:`T` steps.

    A short linear rise from :math:`\eta_\max/\text{ratio}` to the peak :math:`\eta_\max`
    (:math:`\eta_0` here, the optimizer's rate) during the first ``cut_frac`` of the steps,
    then a long linear decay back down. In the paper's notation, with :math:`T` =
    ``total_steps``,

    .. math::

        \text{cut} = \lfloor T \cdot \text{cut\_frac} \rfloor, \qquad
        p = \begin{cases}
            t / \text{cut} & t < \text{cut} \\
            1 - \dfrac{t - \text{cut}}{\text{cut}\,(1/\text{cut\_frac} - 1)} & t \ge \text{cut}
        \end{cases}, \qquad
        \eta_t = \eta_\max \, \frac{1 + p\,(\text{ratio} - 1)}{\text{ratio}} ,

    and the paper's defaults ``cut_frac = 0.1``, ``ratio = 32``. When
    :math:`T \cdot \text{cut\_frac}` is a whole number the decay ends at :math:`t = T`,
    exactly at :math:`\eta_\max/\text{ratio}`; it then equals torch's ``OneCycleLR`` with
    ``anneal_strategy="linear"``, ``div_factor=ratio``, ``final_div_factor=1`` and
    ``total_steps = T + 1``, ``pct_start = (cut + 1) / (T + 1)``. Otherwise the paper's formula
    reaches :math:`p = 0` before :math:`T` and would go on below zero, to negative rates:
    here :math:`p` is clipped at 0, so the rate never falls below
    :math:`\eta_\max/\text{ratio}` (also after :math:`T`). :math:`\lfloor\cdot\rfloor` is
    taken of the product rounded to 9 decimals, so that :math:`100 \cdot 0.29` gives 29
    despite binary round-off.
    """

    total_steps: int
    cut_frac: float = 0.1
    ratio: float = 32.0

    def __post_init__(self):
        T = validate_int("total_steps", self.total_steps, low=1)
        cut_frac = validate_real("cut_frac", self.cut_frac, low=0.0, high=1.0, low_open=True)
        if cut_frac == 1.0:
            raise ValueError(
                "Invalid cut_frac: 1.0 (expected a value in (0, 1): with cut_frac = 1 "
                "there are no steps of decay, and the paper's formula divides by zero)"
            )
        ratio = validate_real("ratio", self.ratio, low=1.0)
        if math.isinf(ratio):
            raise ValueError("Invalid ratio: inf (expected a finite value >= 1)")
        if self.cut < 1:
            raise ValueError(
                f"Invalid total_steps: {T} with cut_frac={cut_frac} gives cut = "
                f"floor({T} * {cut_frac}) = 0 steps of increase (expected "
                "total_steps * cut_frac >= 1)"
            )

    @property
    def cut(self) -> int:
        r"""The step at which the rate peaks, :math:`\lfloor T \cdot \text{cut\_frac} \rfloor`."""
        return math.floor(round(self.total_steps * self.cut_frac, 9))

    def _factor(self, t):
        cut = self.cut
        if t < cut:
            p = t / cut
        else:
            p = max(0.0, 1.0 - (t - cut) / (cut * (1.0 / self.cut_frac - 1.0)))
        return (1.0 + p * (self.ratio - 1.0)) / self.ratio


@dataclass(frozen=True)
class PolynomialSchedule(MultiplicativeSchedule):
    r"""Polynomial decay :math:`f(t) = (1 - \min(t, T)/T)^p` (``PolynomialLR``).

    :math:`T` = ``total_iters``, :math:`p` = ``power``: :math:`p = 1` decays
    linearly to zero at :math:`t = T`, :math:`p < 1` stays high longer,
    :math:`p > 1` drops faster at first; the rate is zero from :math:`T` on.
    """

    chainable: ClassVar[bool] = True

    total_iters: int = 5
    power: float = 1.0

    def __post_init__(self):
        validate_int("total_iters", self.total_iters, low=1)
        validate_real("power", self.power, low=0.0)

    def _factor(self, t):
        return (1.0 - min(self.total_iters, t) / self.total_iters) ** self.power


@dataclass(frozen=True)
class LambdaProductSchedule(MultiplicativeSchedule):
    r""":math:`f(t) = \prod_{s=1}^{t} \lambda(s)` (``MultiplicativeLR``).

    Each step multiplies the rate by ``lr_lambda(t)`` (:math:`\lambda`), where
    ``LambdaSchedule`` sets it to :math:`\eta_0 \lambda(t)`. ``lr(t)`` calls
    :math:`\lambda` :math:`t` times, so it must be a pure function of the step.
    """

    chainable: ClassVar[bool] = True

    lr_lambda: Callable[[int], float]

    def __post_init__(self):
        if not callable(self.lr_lambda):
            raise TypeError(f"lr_lambda must be callable, got {self.lr_lambda!r}")

    def _lr(self, t, base_lr):
        lr = base_lr
        for s in range(1, t + 1):  # in torch's order: eta_s = eta_{s-1} * lambda(s)
            lr = lr * float(self.lr_lambda(s))
        return lr

    def _factor(self, t):
        return self._lr(t, 1.0)


@dataclass(frozen=True)
class ChainedSchedule(MultiplicativeSchedule):
    r"""Multiplicative schedules chained: :math:`f(t) = \prod_i f_i(t)` (``ChainedScheduler``).

    Torch's ``ChainedScheduler`` steps each scheduler in turn, and each of the
    recursive ones multiplies the current rate by its own ratio
    :math:`f_i(t)/f_i(t-1)`; the ratios multiply to this product. Only such
    schedules (``chainable``) may be chained: ``LambdaLR``, ``OneCycleLR`` or
    ``CyclicLR`` overwrite the rate instead, so torch's chain of them is not a
    product (compose those with ``SequentialSchedule``).
    """

    chainable: ClassVar[bool] = True

    schedules: tuple[MultiplicativeSchedule, ...]

    def __post_init__(self):
        schedules = tuple(self.schedules)
        if not schedules:
            raise ValueError("ChainedSchedule expects at least one schedule, got none")
        for i, s in enumerate(schedules):
            if not isinstance(s, MultiplicativeSchedule) or not s.chainable:
                raise ValueError(
                    f"schedules[{i}] cannot be chained: {type(s).__name__} is not a chainable "
                    "multiplicative schedule (chain StepSchedule, MultiStepSchedule, "
                    "ExponentialSchedule, ConstantSchedule, LinearSchedule, PolynomialSchedule, "
                    "LambdaProductSchedule, InverseTimeSchedule; compose others with "
                    "SequentialSchedule)"
                )
        object.__setattr__(self, "schedules", schedules)

    def _factor(self, t):
        return math.prod(s._factor(t) for s in self.schedules)


@dataclass(frozen=True)
class CosineAnnealingWarmRestartsSchedule(Schedule):
    r"""Cosine annealing with warm restarts, SGDR (Loshchilov & Hutter, 2017).

    .. math::

        \eta_t = \eta_\min + \tfrac12 (\eta_0 - \eta_\min)
            \bigl(1 + \cos(\pi T_\text{cur} / T_i)\bigr),

    where the :math:`i`-th cycle lasts :math:`T_i = T_0 T_\text{mult}^i` steps
    and :math:`T_\text{cur}` counts the steps since the last restart; at a
    restart the rate jumps back to :math:`\eta_0`. Unlike the other schedules,
    :math:`t` may be fractional (an epoch plus a fraction of it, as torch's
    ``step(epoch)`` accepts). Torch finds the cycle of a given epoch with a
    floating-point logarithm, which misses some restarts by one cycle when
    :math:`T_\text{mult} > 1` (for :math:`T_0 = 1, T_\text{mult} = 3` it puts
    :math:`t = 121` at the end of the cycle that starts at 40 rather than at the
    start of the next); ``cycle(t)`` counts whole cycles exactly.
    """

    T_0: int
    T_mult: int = 1
    eta_min: float = 0.0

    def __post_init__(self):
        validate_int("T_0", self.T_0, low=1)
        validate_int("T_mult", self.T_mult, low=1)
        validate_real("eta_min", self.eta_min, low=0.0)

    def cycle(self, t: float) -> tuple[float, int]:
        r""":math:`(T_\text{cur}, T_i)` at (possibly fractional) step ``t`` :math:`\ge 0`."""
        t = validate_real("t", t, low=0.0)
        if math.isinf(t):
            raise ValueError("Invalid t: inf (expected a finite step)")
        if t < self.T_0:
            return t, self.T_0
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        start, length = 0, self.T_0
        while t >= start + length:
            start, length = start + length, length * self.T_mult
        return t - start, length

    def lr(self, t: float, base_lr: float) -> float:
        r""":math:`\eta_t` at the step ``t`` (a real number) from ``base_lr`` :math:`\eta_0`."""
        T_cur, T_i = self.cycle(t)
        return self.cosine(T_cur, T_i, validate_real("base_lr", base_lr, low=0.0))

    def cosine(self, T_cur: float, T_i: float, base_lr: float) -> float:
        r"""The rate :math:`T_\text{cur}` steps into a cycle of :math:`T_i` steps."""
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2

    def _lr(self, t, base_lr):
        return self.cosine(*self.cycle(t), base_lr)


def _validate_positive_step_size(name, value) -> float:
    return validate_real(name, value, low=0.0, low_open=True)


@dataclass(frozen=True)
class CyclicSchedule(Schedule):
    r"""Cyclical learning rates (Smith, 2017), ``CyclicLR``: up and down between two bounds.

    The rate starts at :math:`\eta_0` (torch's ``base_lr``), climbs linearly to
    ``max_lr`` in ``step_size_up`` steps, comes back in ``step_size_down``
    (default: the same) and starts over. With the cycle
    :math:`c = \lfloor 1 + t/(u + d) \rfloor` and the position in it
    :math:`x = 1 + t/(u+d) - c`, the triangle is
    :math:`h(x) = x/r` for :math:`x \le r = u/(u+d)`, else :math:`(x-1)/(r-1)`, and

    .. math::

        \eta_t = \eta_0 + (\eta_\max - \eta_0)\, h(x)\, s,

    where the amplitude :math:`s` is 1 (``"triangular"``), :math:`2^{1-c}`
    (``"triangular2"``, halved every cycle), :math:`\gamma^t`
    (``"exp_range"``), or ``scale_fn`` of :math:`c` (``scale_mode="cycle"``) or
    of :math:`t` (``"iterations"``). ``momentum`` runs the other way, from
    ``max_momentum`` down to ``base_momentum`` while the rate climbs.
    """

    max_lr: float
    step_size_up: float = 2000
    step_size_down: float | None = None
    mode: str = "triangular"
    gamma: float = 1.0
    scale_fn: Callable[[float], float] | None = None
    scale_mode: str = "cycle"

    def __post_init__(self):
        validate_real("max_lr", self.max_lr, low=0.0)
        up = _validate_positive_step_size("step_size_up", self.step_size_up)
        down = up
        if self.step_size_down is not None:
            down = _validate_positive_step_size("step_size_down", self.step_size_down)
        object.__setattr__(self, "step_size_down", down)
        validate_real("gamma", self.gamma, low=0.0, low_open=True)
        if self.scale_fn is None:
            validate_choice("mode", self.mode, {"triangular", "triangular2", "exp_range"})
            # torch ignores scale_mode for the built-in modes
            mode_scale = {"triangular": "cycle", "triangular2": "cycle", "exp_range": "iterations"}
            object.__setattr__(self, "scale_mode", mode_scale[self.mode])
        elif not callable(self.scale_fn):
            raise TypeError(f"scale_fn must be callable or None, got {self.scale_fn!r}")
        validate_choice("scale_mode", self.scale_mode, {"cycle", "iterations"})

    def _scale(self, x: float) -> float:
        if self.scale_fn is not None:
            return float(self.scale_fn(x))
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def _triangle(self, t: int) -> tuple[float, float]:
        """The triangle's height h in [0, 1] and the amplitude s at step t."""
        total = float(self.step_size_up) + float(self.step_size_down)
        ratio = float(self.step_size_up) / total
        cycle = math.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        height = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        return height, self._scale(cycle if self.scale_mode == "cycle" else t)

    def _lr(self, t, base_lr):
        height, scale = self._triangle(t)
        return base_lr + (self.max_lr - base_lr) * height * scale

    def momentum(self, t: int, base_momentum: float, max_momentum: float) -> float:
        r"""The momentum at step ``t``: ``max_momentum`` when the rate is lowest."""
        height, scale = self._triangle(_validate_step(t))
        return max_momentum - (max_momentum - base_momentum) * height * scale


@dataclass(frozen=True)
class OneCycleSchedule(MultiplicativeSchedule):
    r"""The one-cycle policy (Smith & Topin, 2019), ``OneCycleLR``, over ``total_steps`` steps.

    From :math:`\eta_0 = \eta_\max/d` (``div_factor`` :math:`d`) the rate rises
    to the peak :math:`\eta_\max` during the first ``pct_start`` of the steps,
    then anneals down to :math:`\eta_0/f` (``final_div_factor`` :math:`f`),
    far below where it started. Each phase goes from its start value :math:`a`
    to its end value :math:`b` as :math:`p` goes from 0 to 1, by a half cosine,
    :math:`b + \tfrac12(a - b)(1 + \cos \pi p)` (``anneal_strategy="cos"``), or
    linearly, :math:`a + (b - a)p` (``"linear"``). With ``three_phase`` the rate
    comes back down to :math:`\eta_0` symmetrically before the final annealing.
    The momentum runs the other way (``momentum``), low while the rate is high.

    Phase :math:`i` ends at torch's float step :math:`e_i`
    (:math:`e_1 = \text{pct\_start}\,T - 1`, then :math:`2\,\text{pct\_start}\,T - 2`
    with ``three_phase``, and :math:`T - 1`), and
    :math:`p = (t - e_{i-1})/(e_i - e_{i-1})`. Torch allows one step past the
    end, :math:`t = T` (where :math:`p > 1`), and refuses later ones; so does this schedule.
    As a ``MultiplicativeSchedule`` it starts from :math:`\eta_0` (torch's
    ``initial_lr``): ``lrs(max_lr / div_factor, T)`` is the one-cycle curve of
    peak ``max_lr``.
    """

    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    def __post_init__(self):
        validate_int("total_steps", self.total_steps, low=1)
        if not isinstance(self.pct_start, float):  # torch refuses pct_start=0 and =1 (ints) too
            raise ValueError(f"Invalid pct_start: {self.pct_start!r} (expected a float in [0, 1])")
        validate_real("pct_start", self.pct_start, low=0.0, high=1.0)
        validate_choice("anneal_strategy", self.anneal_strategy, {"cos", "linear"})
        validate_real("div_factor", self.div_factor, low=0.0, low_open=True)
        validate_real("final_div_factor", self.final_div_factor, low=0.0, low_open=True)
        if not isinstance(self.three_phase, bool):
            raise TypeError(f"three_phase must be a bool, got {self.three_phase!r}")

    def _phases(self):
        """Each phase as (end step, start value, end value, start momentum, end momentum)."""
        T, p = self.total_steps, self.pct_start
        if self.three_phase:
            return [
                (float(p * T) - 1, "initial", "max", "max_m", "base_m"),
                (float(2 * p * T) - 2, "max", "initial", "base_m", "max_m"),
                (T - 1, "initial", "min", "max_m", "max_m"),
            ]
        return [
            (float(p * T) - 1, "initial", "max", "max_m", "base_m"),
            (T - 1, "max", "min", "base_m", "max_m"),
        ]

    def _locate(self, t: int):
        """The phase that holds step ``t`` and how far into it ``t`` is (``p``)."""
        if t > self.total_steps:
            raise ValueError(
                f"Tried to step {t} times. The specified number of total steps is "
                f"{self.total_steps} (total_steps)"
            )
        phases = self._phases()
        start = 0.0
        for i, phase in enumerate(phases):
            end = phase[0]
            if t <= end or i == len(phases) - 1:
                if end == start:
                    raise ValueError(
                        f"Invalid pct_start: {self.pct_start} with total_steps={self.total_steps} "
                        f"leaves phase {i + 1} of the one-cycle schedule no steps (torch divides "
                        "by zero there)"
                    )
                return phase, (t - start) / (end - start)
            start = end

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def rate(self, t: int, initial_lr: float, max_lr: float) -> float:
        """The rate at step ``t`` given torch's group values ``initial_lr`` and ``max_lr``."""
        values = {"initial": initial_lr, "max": max_lr, "min": initial_lr / self.final_div_factor}
        phase, pct = self._locate(t)
        return self._anneal(values[phase[1]], values[phase[2]], pct)

    def _lr(self, t, base_lr):
        return self.rate(t, base_lr, base_lr * self.div_factor)

    def _factor(self, t):
        return self._lr(t, 1.0)

    def momentum(self, t: int, base_momentum: float, max_momentum: float) -> float:
        r"""The momentum at step ``t``: from ``max_momentum`` down to ``base_momentum`` and back."""
        values = {"base_m": base_momentum, "max_m": max_momentum}
        phase, pct = self._locate(_validate_step(t))
        return self._anneal(values[phase[3]], values[phase[4]], pct)


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
    min_lr = validate_real("min_lr", min_lr, low=0.0, low_open=True)
    max_lr = validate_real("max_lr", max_lr, low=min_lr, low_open=True)
    num_steps = validate_int("num_steps", num_steps, low=2)
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

    def __init__(
        self,
        optimizer,
        schedule: Schedule | Sequence[Schedule],
        last_epoch: int = -1,
        *,
        _base_lrs: Sequence[float] | None = None,
    ):
        groups = _param_groups(optimizer)
        self.optimizer = optimizer
        self.schedules = _per_group(schedule, len(groups))
        self.last_epoch = validate_int("last_epoch", last_epoch, low=-1)
        self._step_count = 0
        for i, group in enumerate(groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", _clone(group["lr"]))
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param_groups[{i}] has no 'initial_lr': resuming with last_epoch >= 0 "
                    "needs the optimizer state the previous scheduler wrote"
                )
        self.base_lrs = [
            validate_real(f"param_groups[{i}]['initial_lr']", _scalar(g["initial_lr"]), low=0.0)
            for i, g in enumerate(groups)
        ]
        if _base_lrs is not None:  # CyclicLR: the lower bounds it was given, as in torch
            self.base_lrs = list(_base_lrs)
        self.step()

    def step(self) -> None:
        """Advance one step and write the new rate into every param group."""
        self.last_epoch += 1
        self._step_count += 1
        self._write_lrs()

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` (or the constructor) set, one per param group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The step counter and base rates; hyperparameters come from the constructor.

        The keys are torch's names for the same things (``last_epoch``,
        ``base_lrs``, ``_last_lr``, ``_step_count``), so a torch scheduler
        can load this dict and this scheduler can load a torch one.
        """
        return {
            "last_epoch": self.last_epoch,
            "base_lrs": list(self.base_lrs),
            "_last_lr": list(self._last_lr),
            "_step_count": self._step_count,
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from ``state_dict()``; also rewrites each group's ``lr`` and ``initial_lr``.

        Rewriting the rates lets an optimizer without its own state (a bare
        ``param_groups`` holder) resume correctly. A torch scheduler's state
        dict of the same class loads too (its extra keys are ignored).
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
        self.last_epoch = validate_int("last_epoch", state_dict["last_epoch"], low=0)
        self.base_lrs = [validate_real("base_lr", b, low=0.0) for b in state_dict["base_lrs"]]
        self._step_count = validate_int("_step_count", state_dict.get("_step_count", 1), low=0)
        for group, base_lr in zip(groups, self.base_lrs, strict=True):
            group["initial_lr"] = base_lr
        self._write_lrs()

    def _write_lrs(self) -> None:
        groups = self.optimizer.param_groups
        for group, schedule, base_lr in zip(groups, self.schedules, self.base_lrs, strict=True):
            _set_lr(group, schedule.lr(self.last_epoch, base_lr))
        self._last_lr = _lrs(groups)


def _param_groups(optimizer) -> list[dict]:
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups:
        raise TypeError(
            f"optimizer must have param_groups, a non-empty list of dicts, got {optimizer!r}"
        )
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or "lr" not in group:
            raise TypeError(f"optimizer.param_groups[{i}] must be a dict with an 'lr' entry")
        validate_real(f"param_groups[{i}]['lr']", _scalar(group["lr"]), low=0.0)
    return groups


def _scalar(value):
    """A number, or the value of a one-element tensor (torch accepts a tensor ``lr``)."""
    return value.item() if hasattr(value, "fill_") and hasattr(value, "item") else value


def _clone(value):
    return value.clone() if hasattr(value, "fill_") and hasattr(value, "clone") else value


def _set_lr(group: dict, lr: float) -> None:
    """Write ``lr`` into the group; a tensor ``lr`` is filled in place, as torch does."""
    if hasattr(group["lr"], "fill_"):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def _lrs(groups) -> list[float]:
    """Every group's rate as a float (torch's ``get_last_lr`` gives tensor copies instead)."""
    return [float(_scalar(group["lr"])) for group in groups]


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
        validate_real(
            "factor", factor, low=0.0, high=1.0
        )  # torch's name; the schedule calls it scale
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


class _LambdaState:
    """A state dict torch's ``LambdaLR``/``MultiplicativeLR`` can load: it pops ``lr_lambdas``.

    Like torch, it stores ``None`` for each function (the functions come from the constructor).
    """

    def state_dict(self) -> dict:
        return {**super().state_dict(), "lr_lambdas": [None] * len(self.schedules)}


class LambdaLR(_LambdaState, LRScheduler):
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

    The schedulers must drive ``optimizer``; their schedules are restarted at
    their milestones (see ``SequentialSchedule``), as in torch from each
    scheduler's own ``base_lrs`` (the first from the groups' ``initial_lr``),
    and a ``OneCycleLR`` or ``CyclicLR`` cycles the momentum during its phase.
    """

    def __init__(self, optimizer, schedulers, milestones, last_epoch: int = -1):
        _validate_not_plateau("SequentialLR", schedulers)
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be a dlopt scheduler, got {s!r}")
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] drives a different optimizer")
        if not schedulers:
            raise ValueError("SequentialLR expects at least one scheduler, got none")
        groups = _param_groups(optimizer)
        per_group = []
        for g, group in enumerate(groups):
            base = _scalar(group.get("initial_lr", group["lr"]))
            scales = [1.0] + [s.base_lrs[g] / base if base else 1.0 for s in schedulers[1:]]
            phases = tuple(s.schedules[g] for s in schedulers)
            per_group.append(SequentialSchedule(phases, milestones, tuple(scales)))
        self._schedulers = list(schedulers)
        super().__init__(optimizer, per_group, last_epoch)

    def _write_lrs(self) -> None:
        super()._write_lrs()
        milestones = self.schedules[0].milestones
        i = bisect_right(milestones, self.last_epoch)
        scheduler = self._schedulers[i]
        if isinstance(scheduler, _MomentumCycle):
            start = milestones[i - 1] if i > 0 else 0
            scheduler._write_momentums(self.last_epoch - start)


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


class SlantedTriangularLR(LRScheduler):
    """ULMFiT's slanted triangular learning rates (see ``SlantedTriangularSchedule``).

    Each param group peaks at its own rate, so with the groups of
    :func:`dlopt.finetune.discriminative_lr_groups` every block follows the same shape
    at its own scale.
    """

    def __init__(
        self,
        optimizer,
        total_steps: int,
        cut_frac: float = 0.1,
        ratio: float = 32.0,
        last_epoch: int = -1,
    ):
        schedule = SlantedTriangularSchedule(total_steps, cut_frac, ratio)
        super().__init__(optimizer, schedule, last_epoch)


class PolynomialLR(LRScheduler):
    """``torch.optim.lr_scheduler.PolynomialLR``: ``(1 - t/total_iters) ** power``, then zero."""

    def __init__(self, optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1):
        super().__init__(optimizer, PolynomialSchedule(total_iters, power), last_epoch)


def _lambdas(lr_lambda, num_groups: int) -> list:
    """One function per group, with torch's errors for a wrong count or a non-callable."""
    if isinstance(lr_lambda, list | tuple):
        if len(lr_lambda) != num_groups:
            raise ValueError(
                f"Expected {num_groups} lr_lambdas (one per group), but got {len(lr_lambda)}"
            )
        return list(lr_lambda)
    return [lr_lambda] * num_groups


class MultiplicativeLR(_LambdaState, LRScheduler):
    """``torch.optim.lr_scheduler.MultiplicativeLR``: each step multiplies lr by ``lr_lambda(t)``.

    ``lr_lambda`` is one function, or a list with one per param group; it must
    be a pure function of the step (see ``LambdaProductSchedule``).
    """

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        functions = _lambdas(lr_lambda, len(_param_groups(optimizer)))
        for f in functions:
            if not callable(f):
                raise TypeError(f"lr_lambda should be a function, but got {type(f).__name__}")
        super().__init__(optimizer, [LambdaProductSchedule(f) for f in functions], last_epoch)


def _validate_not_plateau(owner: str, schedulers) -> None:
    for i, s in enumerate(schedulers):
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires "
                "additional kwargs to be specified when calling `step`, but got one at index "
                f"{i} in the given schedulers sequence (schedulers[{i}])."
            )


class ChainedScheduler(LRScheduler):
    """``torch.optim.lr_scheduler.ChainedScheduler``: the product of the chained schedules.

    Every scheduler must drive ``optimizer`` (by default the first one's) and
    have chainable schedules (see ``ChainedSchedule``): ``StepLR``,
    ``MultiStepLR``, ``ExponentialLR``, ``ConstantLR``, ``LinearLR``,
    ``PolynomialLR``, ``MultiplicativeLR``, ``InverseTimeLR`` or another
    ``ChainedScheduler``. Only their schedules are used; the schedulers
    themselves are not stepped.
    """

    def __init__(self, schedulers, optimizer=None):
        schedulers = list(schedulers)
        if not schedulers:
            raise ValueError(
                "ChainedScheduler expects at least one scheduler to be chained, but got no "
                "scheduler (schedulers is empty)."
            )
        _validate_not_plateau("ChainedScheduler", schedulers)
        for i, s in enumerate(schedulers):
            if not isinstance(s, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be a dlopt scheduler, got {s!r}")
        optimizer = schedulers[0].optimizer if optimizer is None else optimizer
        for i, s in enumerate(schedulers):
            if s.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] drives a different optimizer")
            for schedule in s.schedules:
                if not isinstance(schedule, MultiplicativeSchedule) or not schedule.chainable:
                    raise ValueError(
                        f"schedulers[{i}] ({type(s).__name__}) cannot be chained: it sets the "
                        "rate rather than multiplying it (see ChainedSchedule; use SequentialLR)"
                    )
        per_group = [
            ChainedSchedule(tuple(s.schedules[g] for s in schedulers))
            for g in range(len(optimizer.param_groups))
        ]
        super().__init__(optimizer, per_group)


class CosineAnnealingWarmRestarts(LRScheduler):
    """``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` (SGDR).

    ``step()`` advances one step; ``step(epoch)`` jumps to a (possibly
    fractional) epoch, for a scheduler stepped once per batch with
    ``epoch + i / batches_per_epoch``. As in torch, ``T_cur`` (steps since the
    last restart) and ``T_i`` (the current cycle's length) are the state, so a
    ``step()`` after ``step(26.5)`` goes on to 27.5 while ``last_epoch`` is
    ``floor(epoch)``. See ``CosineAnnealingWarmRestartsSchedule`` for the
    formula and for where torch's ``step(epoch)`` misplaces a restart.
    """

    def __init__(
        self, optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0, last_epoch: int = -1
    ):
        schedule = CosineAnnealingWarmRestartsSchedule(T_0, T_mult, eta_min)
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        self.T_i = T_0
        self.T_cur = validate_int("last_epoch", last_epoch, low=-1)
        super().__init__(optimizer, schedule, last_epoch)

    def step(self, epoch: float | None = None) -> None:
        """Advance one step, or jump to ``epoch`` (a real number >= 0) when it is given."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            self.last_epoch += 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            epoch = validate_real("epoch", epoch, low=0.0)
            self.T_cur, self.T_i = self.schedules[0].cycle(epoch)
            self.last_epoch = math.floor(epoch)
        self._write_lrs()  # like torch's, this step() leaves _step_count alone

    def _write_lrs(self) -> None:
        groups = self.optimizer.param_groups
        for group, schedule, base_lr in zip(groups, self.schedules, self.base_lrs, strict=True):
            _set_lr(group, schedule.cosine(self.T_cur, self.T_i, base_lr))
        self._last_lr = _lrs(groups)

    def state_dict(self) -> dict:
        """``LRScheduler.state_dict`` plus the cycle state ``T_cur`` and ``T_i``."""
        return {**super().state_dict(), "T_cur": self.T_cur, "T_i": self.T_i}

    def load_state_dict(self, state_dict: dict) -> None:
        missing = {"T_cur", "T_i"} - set(state_dict)
        if missing:
            raise KeyError(f"state_dict is missing {sorted(missing)}")
        self.T_cur = validate_real("T_cur", state_dict["T_cur"], low=0.0)
        self.T_i = validate_int("T_i", state_dict["T_i"], low=1)
        super().load_state_dict(state_dict)


def _per_group_values(name: str, value, num_groups: int) -> list[float]:
    """A real number per param group, from one value or a list (torch's ``_format_param``)."""
    if isinstance(value, list | tuple):
        if len(value) != num_groups:
            raise ValueError(
                f"{name} must have the same length as optimizer.param_groups. {name} has "
                f"{len(value)} values, param_groups has {num_groups}."
            )
        return [validate_real(f"{name}[{i}]", v, low=0.0) for i, v in enumerate(value)]
    return [validate_real(name, value, low=0.0)] * num_groups


class _MomentumCycle:
    """The momentum half of ``OneCycleLR`` and ``CyclicLR``: torch's validation and group keys.

    The optimizer must have ``momentum`` or ``betas`` among its defaults (or,
    for a bare ``param_groups`` holder, in its first group); with ``betas`` the
    first entry cycles. Like torch, each group gets ``max_momentum`` and
    ``base_momentum`` entries and starts at ``max_momentum``.
    """

    def _setup_momentum(self, optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch):
        if not isinstance(cycle_momentum, bool):
            raise TypeError(f"cycle_momentum must be a bool, got {cycle_momentum!r}")
        self.cycle_momentum = cycle_momentum
        if not cycle_momentum:
            return
        groups = optimizer.param_groups
        defaults = getattr(optimizer, "defaults", None)
        keys = defaults if isinstance(defaults, dict) else groups[0]
        if "momentum" not in keys and "betas" not in keys:
            raise ValueError(
                "optimizer must support momentum or beta1 with `cycle_momentum` option enabled "
                "(cycle_momentum=True needs a 'momentum' or 'betas' hyperparameter)"
            )
        self.use_beta1 = "betas" in keys
        self.base_momentums = _per_group_values("base_momentum", base_momentum, len(groups))
        self.max_momentums = _per_group_values("max_momentum", max_momentum, len(groups))
        if last_epoch == -1:
            for group, base, peak in zip(
                groups, self.base_momentums, self.max_momentums, strict=True
            ):
                self._set_momentum(group, peak)
                group["max_momentum"] = peak
                group["base_momentum"] = base

    def _set_momentum(self, group: dict, momentum: float) -> None:
        if self.use_beta1:
            group["betas"] = (momentum, *group["betas"][1:])
        else:
            group["momentum"] = momentum

    def _write_momentums(self, t: int) -> None:
        if not self.cycle_momentum:
            return
        groups = self.optimizer.param_groups
        for group, schedule, base, peak in zip(
            groups, self.schedules, self.base_momentums, self.max_momentums, strict=True
        ):
            self._set_momentum(group, schedule.momentum(t, base, peak))


class CyclicLR(_MomentumCycle, LRScheduler):
    """``torch.optim.lr_scheduler.CyclicLR``: the rate cycles between ``base_lr`` and ``max_lr``.

    Step it after every batch. ``base_lr`` and ``max_lr`` (and the momentums)
    are one value or a list with one per param group; see ``CyclicSchedule``
    for the modes. With ``cycle_momentum`` (the default, as in torch) the
    momentum cycles between ``max_momentum`` and ``base_momentum``, the other
    way round.
    """

    def __init__(
        self,
        optimizer,
        base_lr,
        max_lr,
        step_size_up: float = 2000,
        step_size_down: float | None = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Callable[[float], float] | None = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum=0.8,
        max_momentum=0.9,
        last_epoch: int = -1,
    ):
        groups = _param_groups(optimizer)
        base_lrs = _per_group_values("base_lr", base_lr, len(groups))
        max_lrs = _per_group_values("max_lr", max_lr, len(groups))
        schedules = [
            CyclicSchedule(m, step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
            for m in max_lrs
        ]
        if last_epoch == -1:
            for group, lr in zip(groups, base_lrs, strict=True):
                _set_lr(group, lr)
        self.optimizer = optimizer
        self.schedules = schedules
        self._setup_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        self.max_lrs = max_lrs
        super().__init__(optimizer, schedules, last_epoch, _base_lrs=base_lrs)

    def _write_lrs(self) -> None:
        self._write_momentums(self.last_epoch)
        super()._write_lrs()

    def state_dict(self) -> dict:
        """``LRScheduler.state_dict``, plus the ``_scale_fn_custom`` entry torch's loader pops.

        Torch saves a ``scale_fn`` only when it is a callable object (its
        ``__dict__``), never a function; the function comes from the constructor.
        """
        return {**super().state_dict(), "_scale_fn_custom": None}


class OneCycleLR(_MomentumCycle, LRScheduler):
    """``torch.optim.lr_scheduler.OneCycleLR``: up to ``max_lr`` and down far below, once.

    Give ``total_steps``, or ``epochs`` and ``steps_per_epoch`` (whose product
    is then the number of steps), and step it after every batch. Like torch
    each group gets ``initial_lr = max_lr / div_factor``, ``max_lr`` and
    ``min_lr = initial_lr / final_div_factor`` entries. See
    ``OneCycleSchedule`` for the phases; with ``cycle_momentum`` (the default)
    the momentum runs from ``max_momentum`` down to ``base_momentum`` and back.
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        groups = _param_groups(optimizer)
        if total_steps is not None:
            total_steps = validate_int("total_steps", total_steps, low=1)
        elif epochs is not None and steps_per_epoch is not None:
            total_steps = validate_int("epochs", epochs, low=1) * validate_int(
                "steps_per_epoch", steps_per_epoch, low=1
            )
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        schedule = OneCycleSchedule(
            total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase
        )
        self.total_steps = total_steps
        self.max_lrs = _per_group_values("max_lr", max_lr, len(groups))
        if last_epoch == -1:
            for group, peak in zip(groups, self.max_lrs, strict=True):
                group["initial_lr"] = peak / schedule.div_factor
                group["max_lr"] = peak
                group["min_lr"] = group["initial_lr"] / schedule.final_div_factor
        self.optimizer = optimizer
        self.schedules = [schedule] * len(groups)
        self._setup_momentum(optimizer, cycle_momentum, base_momentum, max_momentum, last_epoch)
        super().__init__(optimizer, schedule, last_epoch)

    def _write_lrs(self) -> None:
        groups = self.optimizer.param_groups
        schedule = self.schedules[0]
        for group, base_lr, peak in zip(groups, self.base_lrs, self.max_lrs, strict=True):
            _set_lr(group, schedule.rate(self.last_epoch, base_lr, peak))
        self._write_momentums(self.last_epoch)
        self._last_lr = _lrs(groups)


class ReduceLROnPlateau:
    r"""``torch.optim.lr_scheduler.ReduceLROnPlateau``: cut the rate when a metric stalls.

    Call ``step(metric)`` once per epoch with the monitored value (a validation
    loss with ``mode="min"``, an accuracy with ``"max"``). A value counts as an
    improvement on the best so far, :math:`b`, only if it beats it by the
    threshold :math:`\tau`: below :math:`b(1 - \tau)` (``threshold_mode="rel"``)
    or :math:`b - \tau` (``"abs"``) in ``"min"`` mode, above :math:`b(1 + \tau)`
    or :math:`b + \tau` in ``"max"`` mode. After more than ``patience`` epochs
    in a row without one, every group's rate becomes
    :math:`\max(\text{factor}\cdot\eta, \eta_\min)` (skipped when that changes it
    by ``eps`` or less), and the next ``cooldown`` epochs count no bad epochs.

    The attributes and ``state_dict`` keys are torch's (``best``,
    ``num_bad_epochs``, ``cooldown_counter``, ``last_epoch``, ...), so the state
    dicts load both ways. Like torch, it does not set ``initial_lr``.
    """

    def __init__(
        self,
        optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0,
        eps: float = 1e-8,
    ):
        groups = _param_groups(optimizer)
        self.factor = validate_real("factor", factor, low=0.0, high=1.0, high_open=True)
        self.optimizer = optimizer
        if isinstance(min_lr, list | tuple):
            if len(min_lr) != len(groups):
                raise ValueError(f"expected {len(groups)} min_lrs, got {len(min_lr)} (min_lr)")
            self.default_min_lr = None
            self.min_lrs = [validate_real(f"min_lr[{i}]", m, low=0.0) for i, m in enumerate(min_lr)]
        else:
            self.default_min_lr = validate_real("min_lr", min_lr, low=0.0)
            self.min_lrs = [self.default_min_lr] * len(groups)
        self.patience = validate_int("patience", patience, low=0)
        self.cooldown = validate_int("cooldown", cooldown, low=0)
        self.eps = validate_real("eps", eps, low=0.0)
        self.last_epoch = 0
        self._last_lr = _lrs(groups)
        self._init_is_better(mode, threshold, threshold_mode)
        self._reset()

    def _init_is_better(self, mode, threshold, threshold_mode) -> None:
        self.mode = validate_choice("mode", mode, {"min", "max"})
        self.threshold = validate_real("threshold", threshold, low=0.0)
        self.threshold_mode = validate_choice("threshold_mode", threshold_mode, {"rel", "abs"})
        self.mode_worse = math.inf if mode == "min" else -math.inf

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, a: float, best: float) -> bool:
        """Whether the metric ``a`` improves on ``best`` by more than the threshold."""
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def step(self, metrics, epoch: int | None = None) -> None:
        """Record one epoch's metric (a number or a 0-d tensor) and cut the rate if it stalls.

        ``epoch`` sets ``last_epoch`` instead of counting up, as torch's (deprecated) argument does.
        """
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"metrics must be a real number, got {metrics!r}") from None
        if epoch is None:
            self.last_epoch += 1
        else:
            self.last_epoch = validate_int("epoch", epoch, low=0)
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = _lrs(self.optimizer.param_groups)

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The optimizer has {len(groups)} param groups but min_lr gave "
                    f"{len(self.min_lrs)} (a group was added after ReduceLROnPlateau was built); "
                    "set min_lrs to one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(_scalar(group["lr"]))
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                _set_lr(group, new_lr)

    def get_last_lr(self) -> list[float]:
        """The rates after the last ``step``, one per param group."""
        return list(self._last_lr)

    _STATE = (
        "factor", "default_min_lr", "min_lrs", "patience", "cooldown", "eps", "last_epoch",
        "_last_lr", "mode", "threshold", "threshold_mode", "mode_worse", "best",
        "cooldown_counter", "num_bad_epochs",
    )  # fmt: skip

    def state_dict(self) -> dict:
        """Everything but the optimizer, under torch's keys."""
        return {key: _copy_list(getattr(self, key)) for key in self._STATE}

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from ``state_dict()`` or from a torch ``ReduceLROnPlateau``'s."""
        missing = {"best", "num_bad_epochs", "cooldown_counter", "last_epoch"} - set(state_dict)
        if missing:
            raise KeyError(f"state_dict is missing {sorted(missing)}")
        for key in self._STATE:
            if key in state_dict:
                setattr(self, key, _copy_list(state_dict[key]))
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


def _copy_list(value):
    return list(value) if isinstance(value, list) else value


def reduce_on_plateau_lrs(metrics, lr: float, **kwargs) -> np.ndarray:
    """The rates ``ReduceLROnPlateau(**kwargs)`` sets for a sequence of metrics, shape ``(K,)``.

    ``lrs[k]`` is the rate after ``step(metrics[k])``: the one the epoch after
    epoch ``k`` trains with. ``lr`` is the starting rate.
    """
    holder = _ParamGroups([{"lr": validate_real("lr", lr, low=0.0)}])
    scheduler = ReduceLROnPlateau(holder, **kwargs)
    out = []
    for m in metrics:
        scheduler.step(m)
        out.append(holder.param_groups[0]["lr"])
    return np.array(out, dtype=np.float64)


@dataclass
class _ParamGroups:
    """The least an optimizer needs for a scheduler: its ``param_groups``."""

    param_groups: list[dict]
