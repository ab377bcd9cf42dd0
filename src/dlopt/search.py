"""Hyperparameter search: grid, random, and successive halving.

An *objective* maps a configuration (a dict of hyperparameters) to a score, e.g. a
validation loss. Grid and random search evaluate every configuration they try in
full; successive halving (Jamieson & Talwalkar, 2016) evaluates many configurations
on a small *budget* (epochs, samples, iterations) and gives :math:`\\eta` times more
budget to the best :math:`1/\\eta` of them, rung after rung.

Every search returns a :class:`SearchResult`: the list of :class:`Trial` records, the
best configuration and score, and the total budget spent. Random choices come only
from the ``rng`` argument, so a search is reproducible.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._validation import validate_choice, validate_int, validate_real, validate_rng

__all__ = [
    "Choice",
    "Distribution",
    "IntUniform",
    "LogUniform",
    "SearchResult",
    "Trial",
    "Uniform",
    "grid_search",
    "random_search",
    "run_trial",
    "sample_configs",
    "successive_halving",
    "successive_halving_schedule",
]

MODES = ("min", "max")


# --- distributions -----------------------------------------------------------------------


class Distribution:
    """Something a random search can draw a hyperparameter value from."""

    def sample(self, rng: np.random.Generator):
        raise NotImplementedError


def _validate_interval(dist, low, high, *, positive=False):
    """Validate ``low < high`` (and ``low > 0`` for log scales) and store them as floats."""
    low = (
        validate_real("low", low, low=0.0, low_open=True) if positive else validate_real("low", low)
    )
    high = validate_real("high", high)
    if not low < high:
        raise ValueError(f"{type(dist).__name__} needs low < high, got low={low}, high={high}")
    object.__setattr__(dist, "low", low)  # frozen dataclass: store the validated float
    object.__setattr__(dist, "high", high)


@dataclass(frozen=True)
class Uniform(Distribution):
    """:math:`U(\\text{low}, \\text{high})`, e.g. a dropout rate or a momentum coefficient."""

    low: float
    high: float

    def __post_init__(self):
        _validate_interval(self, self.low, self.high)

    def sample(self, rng: np.random.Generator) -> float:
        return float(validate_rng(rng).uniform(self.low, self.high))


@dataclass(frozen=True)
class LogUniform(Distribution):
    """:math:`\\exp U(\\log \\text{low}, \\log \\text{high})`: each decade is equally likely.

    The right prior for scale parameters such as a learning rate or a weight decay,
    whose plausible values span orders of magnitude.
    """

    low: float
    high: float

    def __post_init__(self):
        _validate_interval(self, self.low, self.high, positive=True)

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(validate_rng(rng).uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class IntUniform(Distribution):
    """An integer uniform on ``{low, ..., high}`` (both ends included), e.g. a width."""

    low: int
    high: int

    def __post_init__(self):
        validate_int("low", self.low)
        validate_int("high", self.high)
        if self.low > self.high:
            raise ValueError(f"IntUniform needs low <= high, got low={self.low}, high={self.high}")

    def sample(self, rng: np.random.Generator) -> int:
        return int(validate_rng(rng).integers(self.low, self.high + 1))


@dataclass(frozen=True)
class Choice(Distribution):
    """One of ``options``, each with probability ``1 / len(options)``."""

    options: tuple

    def __post_init__(self):
        if isinstance(self.options, str | bytes) or not isinstance(self.options, Sequence):
            raise TypeError(f"Choice options must be a list or tuple, got {self.options!r}")
        if len(self.options) == 0:
            raise ValueError("Choice needs at least one option, got none")
        object.__setattr__(self, "options", tuple(self.options))

    def sample(self, rng: np.random.Generator):
        return self.options[int(validate_rng(rng).integers(len(self.options)))]


# --- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Trial:
    """One evaluation: ``objective(config)`` (``budget`` None) or ``objective(config, budget)``."""

    config: dict
    score: float
    budget: float | None = None


def _spent(trial: Trial) -> float:
    """Budget a trial used; a trial without a budget is one full evaluation."""
    return 1.0 if trial.budget is None else trial.budget


def _badness(score: float, mode: str) -> float:
    """Sort key: smaller is better in both modes, and NaN is worst."""
    if math.isnan(score):
        return math.inf
    return score if mode == "min" else -score


@dataclass(frozen=True)
class SearchResult:
    """All trials of a search, in evaluation order, and what they found.

    ``best_trial`` is the best among the trials with the largest budget: scores at a
    small budget are not comparable with scores at the full budget. Ties go to the
    earliest trial.
    """

    trials: list[Trial] = field(repr=False)
    mode: str = "min"

    @property
    def best_trial(self) -> Trial:
        top = max(_spent(t) for t in self.trials)
        finalists = [t for t in self.trials if _spent(t) == top]
        return min(finalists, key=lambda t: _badness(t.score, self.mode))

    @property
    def best_config(self) -> dict:
        return self.best_trial.config

    @property
    def best_score(self) -> float:
        return self.best_trial.score

    @property
    def total_budget(self) -> float:
        """:math:`\\sum_t b_t` over all trials (1 for a trial without a budget)."""
        return sum(_spent(t) for t in self.trials)

    def __repr__(self) -> str:
        return (
            f"SearchResult(n_trials={len(self.trials)}, best_score={self.best_score:.6g}, "
            f"best_config={self.best_config}, total_budget={self.total_budget:g})"
        )


def run_trial(objective: Callable, config: dict, budget=None) -> Trial:
    """``objective(config)``, or ``objective(config, budget)`` when a budget is given, as a
    :class:`Trial`."""
    # a copy, so an objective that edits its argument cannot rewrite the record
    args = (dict(config),) if budget is None else (dict(config), budget)
    return Trial(config=config, score=float(objective(*args)), budget=budget)


def _validate_space(space, *, grid: bool) -> dict:
    if not isinstance(space, dict) or not space:
        raise ValueError(f"space must be a non-empty dict of hyperparameters, got {space!r}")
    validated = {}
    for name, values in space.items():
        if grid or isinstance(values, list | tuple):
            if not isinstance(values, list | tuple) or len(values) == 0:
                raise ValueError(
                    f"space[{name!r}] must be a non-empty list of values, got {values!r}"
                )
            validated[name] = list(values) if grid else Choice(values)
        elif isinstance(values, Distribution):
            validated[name] = values
        else:
            raise TypeError(
                f"space[{name!r}] must be a Distribution (LogUniform, Uniform, IntUniform, "
                f"Choice) or a list of values, got {values!r}"
            )
    return validated


def sample_configs(space: dict, n: int, rng) -> list[dict]:
    """``n`` configurations drawn from the (checked) ``space``, one hyperparameter after
    another, in the order random search draws them."""
    return [{name: dist.sample(rng) for name, dist in space.items()} for _ in range(n)]


# --- the searches ------------------------------------------------------------------------


def grid_search(objective: Callable, space: dict, *, mode: str = "min", budget=None):
    """Evaluate every combination of the listed values (the Cartesian product).

    ``space`` maps each hyperparameter to a list of values; the number of trials is
    :math:`\\prod_k |V_k|`, which grows exponentially with the number of
    hyperparameters. ``objective(config)`` is called, or ``objective(config, budget)``
    when a ``budget`` is given.
    """
    validate_choice("mode", mode, MODES)
    space = _validate_space(space, grid=True)
    names = list(space)
    combos = itertools.product(*space.values())
    configs = [dict(zip(names, values, strict=True)) for values in combos]
    return SearchResult([run_trial(objective, c, budget) for c in configs], mode)


def random_search(
    objective: Callable, space: dict, n_trials: int, *, rng, mode: str = "min", budget=None
):
    """Evaluate ``n_trials`` configurations drawn independently from ``space``.

    ``space`` maps each hyperparameter to a :class:`Distribution` (a plain list is
    read as :class:`Choice`). Unlike a grid, every trial tries a new value of every
    hyperparameter, which pays off when only a few of them matter (Bergstra & Bengio,
    2012).
    """
    validate_choice("mode", mode, MODES)
    space = _validate_space(space, grid=False)
    n_trials = validate_int("n_trials", n_trials, low=1)
    configs = sample_configs(space, n_trials, validate_rng(rng))
    return SearchResult([run_trial(objective, c, budget) for c in configs], mode)


def _budget_rungs(min_budget, max_budget, eta: int) -> list:
    """:math:`b_i = b_{\\min}\\,\\eta^i` for :math:`i = 0, \\dots, s`, the largest
    :math:`s` with :math:`b_{\\min}\\eta^s \\le b_{\\max}`."""
    r = min_budget
    rungs = [r]
    while rungs[-1] * eta <= max_budget * (1 + 1e-12):  # tolerate round-off in float budgets
        rungs.append(rungs[-1] * eta)
    return rungs


def successive_halving_schedule(n_configs: int, min_budget, max_budget, eta: int = 3):
    """The rungs as ``[(n_i, b_i), ...]``: :math:`n_i` configurations at budget :math:`b_i`.

    :math:`n_0 = n`, :math:`n_{i+1} = \\max(1, \\lfloor n_i / \\eta \\rfloor)` (so
    :math:`n_i = \\max(1, \\lfloor n / \\eta^i \\rfloor)`) and
    :math:`b_i = b_{\\min}\\,\\eta^i` up to the last :math:`b_s \\le b_{\\max}`. Choose
    :math:`b_{\\max} = b_{\\min}\\eta^s` for the last rung to use exactly ``max_budget``.
    Integer ``min_budget`` and ``eta`` give integer budgets.
    """
    n = validate_int("n_configs", n_configs, low=1)
    eta = validate_int("eta", eta, low=2)
    if isinstance(min_budget, bool) or not isinstance(min_budget, int | np.integer):
        min_budget = validate_real("min_budget", min_budget, low=0.0, low_open=True)
    elif min_budget <= 0:
        raise ValueError(f"Invalid min_budget: {min_budget} (expected a value > 0)")
    max_budget = validate_real("max_budget", max_budget, low=0.0, low_open=True)
    if min_budget > max_budget:
        raise ValueError(
            f"min_budget must be <= max_budget, got min_budget={min_budget}, "
            f"max_budget={max_budget}"
        )
    schedule = []
    for b in _budget_rungs(min_budget, max_budget, eta):
        schedule.append((n, b))
        n = max(1, n // eta)
    return schedule


def successive_halving(
    objective: Callable,
    configs: list[dict] | None = None,
    *,
    space: dict | None = None,
    n_configs: int | None = None,
    min_budget,
    max_budget,
    eta: int = 3,
    rng=None,
    mode: str = "min",
):
    """Successive halving: train many configurations briefly, keep the best :math:`1/\\eta`.

    Start from ``configs`` (a list of dicts), or draw ``n_configs`` of them from
    ``space`` with ``rng``. Rung :math:`i` calls ``objective(config, b_i)`` for its
    :math:`n_i` survivors (see :func:`successive_halving_schedule`) and promotes the
    best :math:`n_{i+1}` (stable sort: ties keep their order) to budget
    :math:`\\eta\\,b_i`. Each call is charged its full budget (no warm start), so
    ``total_budget`` :math:`= \\sum_i n_i b_i`. The best configuration is the winner of
    the last rung.
    """
    validate_choice("mode", mode, MODES)
    if (configs is None) == (space is None):
        raise ValueError("give either configs or space (with n_configs and rng), not both")
    if configs is None:
        if n_configs is None:
            raise ValueError("n_configs is required when sampling configurations from space")
        n = validate_int("n_configs", n_configs, low=1)
        configs = sample_configs(_validate_space(space, grid=False), n, validate_rng(rng))
    elif n_configs is not None and n_configs != len(configs):
        raise ValueError(f"n_configs={n_configs} disagrees with len(configs)={len(configs)}")
    configs = list(configs)
    if not configs:
        raise ValueError("configs must contain at least one configuration, got none")
    schedule = successive_halving_schedule(len(configs), min_budget, max_budget, eta)
    trials: list[Trial] = []
    survivors = configs
    for i, (_, budget) in enumerate(schedule):
        rung = [run_trial(objective, c, budget) for c in survivors]
        trials.extend(rung)
        if i + 1 < len(schedule):
            keep = schedule[i + 1][0]
            ranked = sorted(rung, key=lambda t: _badness(t.score, mode))
            survivors = [t.config for t in ranked[:keep]]
    return SearchResult(trials, mode)
