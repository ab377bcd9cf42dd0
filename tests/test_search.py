"""Hyperparameter search, held to scikit-learn's ParameterGrid, statistics and the
closed-form successive-halving schedule."""

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import ParameterGrid

from dlopt import search
from dlopt.search import Choice, IntUniform, LogUniform, Uniform


def rng(seed=0):
    return np.random.default_rng(seed)


def as_set(configs):
    return {frozenset(c.items()) for c in configs}


# --- grid search -------------------------------------------------------------------------


def test_grid_search_enumerates_exactly_sklearn_parameter_grid_once_each():
    space = {"lr": [0.1, 0.01, 0.001], "momentum": [0.0, 0.9], "nesterov": [True, False]}
    calls = []

    def objective(config):
        calls.append(config)
        return config["lr"] * (1 + config["momentum"])

    result = search.grid_search(objective, space)
    expected = as_set(ParameterGrid(space))
    assert as_set(t.config for t in result.trials) == expected
    assert len(result.trials) == len(calls) == len(expected) == 12
    assert result.best_score == min(c["lr"] * (1 + c["momentum"]) for c in ParameterGrid(space))
    assert result.best_config["lr"] == 0.001 and result.best_config["momentum"] == 0.0
    assert result.total_budget == 12


def test_grid_search_mode_max_and_budget_are_passed_through():
    seen_budgets = []

    def objective(config, budget):
        seen_budgets.append(budget)
        return -((config["x"] - 2) ** 2)

    result = search.grid_search(objective, {"x": [0, 1, 2, 3]}, mode="max", budget=5)
    assert result.best_config == {"x": 2} and result.best_score == 0
    assert seen_budgets == [5] * 4 and result.total_budget == 20


def test_best_trial_treats_nan_as_worst():
    scores = {0: float("nan"), 1: 3.0, 2: 1.0}
    for mode, best in [("min", 2), ("max", 1)]:
        result = search.grid_search(lambda c: scores[c["k"]], {"k": [0, 1, 2]}, mode=mode)
        assert result.best_config == {"k": best}


# --- distributions and random search -----------------------------------------------------


def test_random_search_log_uniform_samples_are_uniform_in_log_space():
    space = {"lr": LogUniform(1e-4, 1e-1)}
    result = search.random_search(lambda c: c["lr"], space, 2000, rng=rng(0))
    log_lr = np.log10([t.config["lr"] for t in result.trials])
    assert scipy.stats.kstest(log_lr, "uniform", args=(-4, 3)).pvalue > 0.01
    # power check: uniform (not log-uniform) samples fail the same test decisively
    plain = np.log10(rng(1).uniform(1e-4, 1e-1, 2000))
    assert scipy.stats.kstest(plain, "uniform", args=(-4, 3)).pvalue < 1e-6
    assert result.best_score == min(t.config["lr"] for t in result.trials)


def test_uniform_samples_pass_ks_test():
    r = rng(2)
    samples = [Uniform(-1.0, 3.0).sample(r) for _ in range(2000)]
    assert scipy.stats.kstest(samples, "uniform", args=(-1.0, 4.0)).pvalue > 0.01


def test_int_uniform_and_choice_cover_their_values_equally():
    r = rng(3)
    ints = [IntUniform(2, 5).sample(r) for _ in range(4000)]
    assert set(ints) == {2, 3, 4, 5} and all(isinstance(i, int) for i in ints)
    counts = [ints.count(k) for k in (2, 3, 4, 5)]
    assert scipy.stats.chisquare(counts).pvalue > 0.01
    picks = [Choice(["relu", "tanh", "gelu"]).sample(r) for _ in range(3000)]
    counts = [picks.count(k) for k in ("relu", "tanh", "gelu")]
    assert scipy.stats.chisquare(counts).pvalue > 0.01


def test_random_search_is_deterministic_given_rng_and_reads_lists_as_choices():
    space = {"lr": LogUniform(1e-3, 1.0), "width": IntUniform(8, 64), "act": ["relu", "tanh"]}

    def objective(c):
        return c["lr"] * c["width"]

    a = search.random_search(objective, space, 10, rng=rng(5))
    b = search.random_search(objective, space, 10, rng=rng(5))
    c = search.random_search(objective, space, 10, rng=rng(6))
    assert [t.config for t in a.trials] == [t.config for t in b.trials]
    assert [t.config for t in a.trials] != [t.config for t in c.trials]
    assert {t.config["act"] for t in a.trials} <= {"relu", "tanh"}


# --- successive halving ------------------------------------------------------------------


def quality(config):
    return (config["x"] - 0.3) ** 2


def noisy_objective(config, budget):
    """Known ordering at every budget: the score is the true quality plus 1 / budget."""
    return quality(config) + 1.0 / budget


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 60),
    eta=st.integers(2, 4),
    k=st.integers(0, 3),
    r=st.integers(1, 3),
    slack=st.floats(0.0, 0.99),
)
def test_successive_halving_follows_the_closed_form_schedule(n, eta, k, r, slack):
    max_budget = r * eta**k * (1 + slack * (eta - 1))  # below the next rung r * eta^(k+1)
    configs = [{"x": x} for x in np.linspace(0, 1, n)]
    result = search.successive_halving(
        noisy_objective, configs, min_budget=r, max_budget=max_budget, eta=eta
    )
    rungs = [(max(1, n // eta**i), r * eta**i) for i in range(k + 1)]
    by_budget = {}
    for t in result.trials:
        by_budget[t.budget] = by_budget.get(t.budget, 0) + 1
    assert sorted(by_budget.items(), key=lambda kv: kv[0]) == [(b, m) for m, b in rungs]
    assert result.total_budget == sum(m * b for m, b in rungs)
    assert search.successive_halving_schedule(n, r, max_budget, eta) == rungs


def test_successive_halving_promotes_exactly_the_top_of_each_rung():
    configs = [{"x": x} for x in rng(0).uniform(0, 1, 27)]
    result = search.successive_halving(noisy_objective, configs, min_budget=1, max_budget=27, eta=3)
    budgets = [1, 3, 9, 27]
    for low, high in zip(budgets, budgets[1:], strict=False):
        rung = sorted((t for t in result.trials if t.budget == low), key=lambda t: t.score)
        promoted = [t.config for t in result.trials if t.budget == high]
        assert as_set(promoted) == as_set(t.config for t in rung[: len(promoted)])


@pytest.mark.parametrize("mode", ["min", "max"])
def test_successive_halving_keeps_the_true_best_config(mode):
    sign = 1 if mode == "min" else -1
    result = search.successive_halving(
        lambda c, b: sign * noisy_objective(c, b),
        space={"x": Uniform(0.0, 1.0)},
        n_configs=81,
        min_budget=1,
        max_budget=81,
        eta=3,
        rng=rng(4),
        mode=mode,
    )
    first_rung = [t.config for t in result.trials if t.budget == 1]
    assert len(first_rung) == 81
    true_best = min(first_rung, key=quality)
    assert result.best_config == true_best
    assert result.best_score == pytest.approx(sign * (quality(true_best) + 1 / 81))


def test_successive_halving_is_deterministic_given_rng():
    def run(seed):
        result = search.successive_halving(
            noisy_objective,
            space={"x": Uniform(0.0, 1.0)},
            n_configs=9,
            min_budget=1,
            max_budget=9,
            rng=rng(seed),
        )
        return [(t.config["x"], t.budget) for t in result.trials]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_successive_halving_with_float_budgets_stops_below_max_budget():
    schedule = search.successive_halving_schedule(10, 0.5, 10.0, eta=2)
    assert [b for _, b in schedule] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert [m for m, _ in schedule] == [10, 5, 2, 1, 1]
    configs = [{"x": x} for x in np.linspace(0, 1, 10)]
    result = search.successive_halving(
        noisy_objective, configs, min_budget=0.5, max_budget=10.0, eta=2
    )
    # 10 * 0.5 + 5 * 1 + 2 * 2 + 1 * 4 + 1 * 8
    assert math.isclose(result.total_budget, 26.0)


# --- bad input ---------------------------------------------------------------------------


def test_bad_spaces_and_arguments_raise_clear_errors():
    objective = lambda c: 0.0  # noqa: E731
    with pytest.raises(ValueError, match="space must be a non-empty dict"):
        search.grid_search(objective, {})
    with pytest.raises(ValueError, match=r"space\['lr'\] must be a non-empty list"):
        search.grid_search(objective, {"lr": []})
    with pytest.raises(TypeError, match=r"space\['lr'\] must be a Distribution"):
        search.random_search(objective, {"lr": 0.1}, 3, rng=rng())
    with pytest.raises(ValueError, match="Invalid n_trials"):
        search.random_search(objective, {"lr": Uniform(0, 1)}, 0, rng=rng())
    with pytest.raises(TypeError, match="rng must be"):
        search.random_search(objective, {"lr": Uniform(0, 1)}, 3, rng=1)
    with pytest.raises(ValueError, match="Invalid mode"):
        search.grid_search(objective, {"lr": [1]}, mode="best")


def test_bad_successive_halving_arguments_raise_clear_errors():
    configs = [{"x": 0.1}, {"x": 0.2}]
    with pytest.raises(ValueError, match="Invalid eta"):
        search.successive_halving(noisy_objective, configs, min_budget=1, max_budget=9, eta=1)
    with pytest.raises(ValueError, match="min_budget must be <= max_budget"):
        search.successive_halving(noisy_objective, configs, min_budget=10, max_budget=9)
    with pytest.raises(ValueError, match="Invalid min_budget"):
        search.successive_halving(noisy_objective, configs, min_budget=0, max_budget=9)
    with pytest.raises(ValueError, match="at least one configuration"):
        search.successive_halving(noisy_objective, [], min_budget=1, max_budget=9)
    with pytest.raises(ValueError, match="either configs or space"):
        search.successive_halving(
            noisy_objective, configs, space={"x": Uniform(0, 1)}, min_budget=1, max_budget=9
        )
    with pytest.raises(ValueError, match="n_configs is required"):
        search.successive_halving(
            noisy_objective, space={"x": Uniform(0, 1)}, min_budget=1, max_budget=9, rng=rng()
        )


def test_bad_distributions_raise_clear_errors():
    with pytest.raises(ValueError, match="Invalid low"):
        LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="Uniform needs low < high"):
        Uniform(2.0, 1.0)
    with pytest.raises(ValueError, match="IntUniform needs low <= high"):
        IntUniform(5, 4)
    with pytest.raises(TypeError, match="low must be an integer"):
        IntUniform(0.5, 4)
    with pytest.raises(ValueError, match="at least one option"):
        Choice([])
    with pytest.raises(TypeError, match="list or tuple"):
        Choice("abc")
