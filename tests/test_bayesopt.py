"""Bayesian optimization, held to scikit-learn's GaussianProcessRegressor, to Monte Carlo
and quadrature for expected improvement, and to random search over many seeds."""

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from dlopt import bayesopt, search
from dlopt.bayesopt import GaussianProcess, expected_improvement
from dlopt.search import Choice, IntUniform, LogUniform, Uniform


def noisy_sample(n=12, d=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, d))
    y = np.sin(6 * x[:, 0]) + x[:, -1] ** 2 + 0.05 * rng.standard_normal(n)
    return x, y


# --- the Gaussian process ----------------------------------------------------------------


def test_matern52_equals_sklearn_matern_with_nu_2_5_per_dimension_length_scales():
    x1, _ = noisy_sample(7, 3, seed=1)
    x2, _ = noisy_sample(5, 3, seed=2)
    ell = np.array([0.2, 0.5, 1.3])
    expected = Matern(length_scale=ell, nu=2.5)(x1, x2)
    np.testing.assert_allclose(bayesopt.matern52(x1, x2, ell), expected, rtol=1e-12, atol=1e-14)
    assert np.allclose(np.diag(bayesopt.matern52(x1, x1, 0.3)), 1.0)


@pytest.mark.parametrize("ell", [0.15, [0.3, 0.08]])
@pytest.mark.parametrize("noise", [1e-6, 0.01])
def test_posterior_mean_std_and_log_marginal_likelihood_equal_sklearn(ell, noise):
    x, y = noisy_sample()
    gp = GaussianProcess(length_scale=ell, signal_variance=1.7, noise_variance=noise)
    gp.fit(x, y, optimize=False)
    kernel = ConstantKernel(1.7) * Matern(length_scale=ell, nu=2.5)
    reference = GaussianProcessRegressor(kernel, alpha=noise, optimizer=None).fit(x, y)
    x_new = np.random.default_rng(3).uniform(size=(50, 2))
    mean, std = gp.predict(np.vstack([x_new, x]))
    ref_mean, ref_std = reference.predict(np.vstack([x_new, x]), return_std=True)
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(std, ref_std, rtol=1e-7, atol=1e-7)
    assert gp.log_marginal_likelihood() == pytest.approx(
        reference.log_marginal_likelihood_value_, rel=1e-10
    )


def test_posterior_interpolates_noise_free_data_and_reverts_to_the_prior_far_away():
    x = np.array([[0.1], [0.4], [0.8]])
    y = np.array([1.0, -0.5, 0.3])
    gp = GaussianProcess(length_scale=0.1, signal_variance=2.0, noise_variance=1e-10)
    mean, std = gp.fit(x, y, optimize=False).predict(np.vstack([x, [[50.0]]]))
    np.testing.assert_allclose(mean[:3], y, atol=1e-6)
    assert np.all(std[:3] < 1e-4)
    assert abs(mean[3]) < 1e-12 and std[3] == pytest.approx(math.sqrt(2.0))


def test_fitted_hyperparameters_reach_at_least_sklearns_maximum_likelihood():
    x, y = noisy_sample(15)
    gp = GaussianProcess(length_scale=[0.3, 0.3]).fit(x, y, rng=np.random.default_rng(0))
    kernel = ConstantKernel(1.0, bayesopt.SIGNAL_VARIANCE_BOUNDS) * Matern(
        [0.3, 0.3], bayesopt.LENGTH_SCALE_BOUNDS, nu=2.5
    ) + WhiteKernel(1e-4, bayesopt.NOISE_VARIANCE_BOUNDS)
    reference = GaussianProcessRegressor(
        kernel, alpha=0.0, n_restarts_optimizer=5, random_state=0
    ).fit(x, y)
    ours = gp.log_marginal_likelihood()
    assert ours >= reference.log_marginal_likelihood_value_ - 1e-3
    # sklearn evaluates the likelihood of our hyperparameters to the same number
    theta = np.log(np.r_[gp.signal_variance, gp.length_scale, gp.noise_variance])
    assert reference.log_marginal_likelihood(theta) == pytest.approx(ours, rel=1e-8)
    # and a short length scale fits the fast sin(6 x) direction: it is the shorter one
    assert gp.length_scale[0] < gp.length_scale[1]


def test_log_marginal_likelihood_gradient_equals_finite_differences():
    x, y = noisy_sample(10)
    gp = GaussianProcess(length_scale=[0.3, 0.3]).fit(x, y, optimize=False)
    theta = np.log([0.2, 0.6, 1.3, 0.01])
    lml, grad = gp.log_marginal_likelihood_gradient(theta)
    assert lml == pytest.approx(gp.log_marginal_likelihood(params=([0.2, 0.6], 1.3, 0.01)))
    h = 1e-6
    numeric = [
        (
            gp.log_marginal_likelihood_gradient(theta + h * e)[0]
            - gp.log_marginal_likelihood_gradient(theta - h * e)[0]
        )
        / (2 * h)
        for e in np.eye(4)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_gaussian_process_refuses_bad_input_naming_the_argument():
    with pytest.raises(ValueError, match="length_scale"):
        GaussianProcess(length_scale=-1.0)
    with pytest.raises(ValueError, match="noise_variance"):
        GaussianProcess(noise_variance=0.0)
    with pytest.raises(RuntimeError, match="fit"):
        GaussianProcess().predict(np.zeros((1, 1)))
    with pytest.raises(ValueError, match="same positive number"):
        GaussianProcess().fit(np.zeros((3, 1)), np.zeros(2), optimize=False)
    with pytest.raises(ValueError, match="y contains NaN"):
        GaussianProcess().fit(np.zeros((2, 1)), np.array([0.0, np.nan]), optimize=False)
    with pytest.raises(TypeError, match="rng"):
        GaussianProcess().fit(np.zeros((2, 1)), np.zeros(2), rng=0)
    gp = GaussianProcess().fit(np.zeros((2, 2)), np.zeros(2), optimize=False)
    with pytest.raises(ValueError, match="x must have shape"):
        gp.predict(np.zeros((4, 3)))


# --- expected improvement ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mean", "std", "best", "xi"), [(0.3, 0.5, 0.0, 0.0), (-1.0, 0.2, 0.1, 0.05)]
)
def test_expected_improvement_equals_monte_carlo_and_quadrature(mean, std, best, xi):
    ei = float(expected_improvement(mean, std, best, xi))
    draws = np.random.default_rng(0).normal(mean, std, size=1_000_000)
    gains = np.maximum(best - xi - draws, 0.0)
    assert abs(ei - gains.mean()) < 5 * gains.std() / math.sqrt(len(draws))
    density = scipy.stats.norm(mean, std).pdf
    integral, _ = scipy.integrate.quad(lambda f: (best - xi - f) * density(f), -np.inf, best - xi)
    assert ei == pytest.approx(integral, rel=1e-8)


def test_expected_improvement_closed_form_and_limits():
    mean = np.linspace(-2, 2, 9)
    std = np.linspace(0.1, 3, 9)
    z = (0.5 - mean) / std
    closed = (0.5 - mean) * scipy.stats.norm.cdf(z) + std * scipy.stats.norm.pdf(z)
    np.testing.assert_allclose(expected_improvement(mean, std, 0.5), closed, rtol=1e-12)
    # no uncertainty: the improvement is certain, max(best - mean, 0)
    np.testing.assert_array_equal(expected_improvement([-1.0, 2.0], [0.0, 0.0], 0.0), [1.0, 0.0])
    # more uncertainty, or a lower mean, never lowers it
    assert np.all(np.diff(expected_improvement(1.0, np.linspace(0, 5, 50), 0.0)) > 0)
    assert np.all(np.diff(expected_improvement(np.linspace(3, -3, 50), 1.0, 0.0)) > 0)


def test_expected_improvement_refuses_bad_input():
    with pytest.raises(ValueError, match="std"):
        expected_improvement(0.0, -1.0, 0.0)
    with pytest.raises(ValueError, match="Invalid xi"):
        expected_improvement(0.0, 1.0, 0.0, xi=-0.1)
    with pytest.raises(TypeError, match="best"):
        expected_improvement(0.0, 1.0, None)


def test_maximize_acquisition_finds_the_peak_inside_the_cube():
    def peak(u):
        return -np.sum((u - np.array([0.137, 0.912])) ** 2, axis=1)

    u = bayesopt.maximize_acquisition(peak, 2, rng=np.random.default_rng(0), n_candidates=50)
    np.testing.assert_allclose(u, [0.137, 0.912], atol=1e-4)
    # a peak outside the cube: the answer is the nearest corner, not outside
    u = bayesopt.maximize_acquisition(lambda u: u.sum(axis=1), 2, rng=np.random.default_rng(0))
    np.testing.assert_allclose(u, [1.0, 1.0])


# --- the search space --------------------------------------------------------------------

SPACE = {"lr": LogUniform(1e-4, 1.0), "wd": Uniform(0.0, 0.1), "width": IntUniform(16, 64)}


def test_encode_puts_a_log_uniform_decade_per_quarter_and_decode_inverts_it():
    config = {"lr": 1e-2, "wd": 0.025, "width": 40}
    np.testing.assert_allclose(bayesopt.encode(SPACE, config), [0.5, 0.25, 0.5])
    assert bayesopt.decode(SPACE, [0.5, 0.25, 0.5]) == pytest.approx(config)
    assert bayesopt.decode(SPACE, [0.75, 1.0, 0.0]) == pytest.approx(
        {"lr": 0.1, "wd": 0.1, "width": 16}
    )
    # draws of LogUniform are uniform on the cube (Kolmogorov-Smirnov)
    rng = np.random.default_rng(0)
    u = [bayesopt.encode(SPACE, c)[0] for c in search.sample_configs(SPACE, 2000, rng)]
    assert scipy.stats.kstest(u, "uniform").pvalue > 0.01


def test_space_and_arguments_are_checked_with_their_names():
    def f(c):
        return 0.0

    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match=r"space\['opt'\] must be LogUniform"):
        bayesopt.bayesian_optimization(f, {"opt": Choice(("sgd", "adam"))}, 5, rng=rng)
    with pytest.raises(ValueError, match="space must be a non-empty dict"):
        bayesopt.bayesian_optimization(f, {}, 5, rng=rng)
    with pytest.raises(ValueError, match="Invalid n_trials"):
        bayesopt.bayesian_optimization(f, SPACE, 0, rng=rng)
    with pytest.raises(ValueError, match="Invalid n_initial"):
        bayesopt.bayesian_optimization(f, SPACE, 5, rng=rng, n_initial=0)
    with pytest.raises(ValueError, match="Invalid mode"):
        bayesopt.bayesian_optimization(f, SPACE, 5, rng=rng, mode="best")
    with pytest.raises(TypeError, match="rng must be a numpy.random.Generator"):
        bayesopt.bayesian_optimization(f, SPACE, 5, rng=0)
    with pytest.raises(ValueError, match="u must lie in the unit cube"):
        bayesopt.decode(SPACE, [0.5, 1.5, 0.5])


# --- the search --------------------------------------------------------------------------


def branin(config):
    x, y = config["x"], config["y"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (y - b * x**2 + c * x - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10


BRANIN_SPACE = {"x": Uniform(-5.0, 10.0), "y": Uniform(0.0, 15.0)}
BRANIN_MIN = 0.397887


def test_the_first_configurations_are_random_searchs_and_the_budget_is_kept():
    budgets = []

    def objective(config, budget):
        budgets.append(budget)
        return branin(config)

    bo = bayesopt.bayesian_optimization(
        objective, BRANIN_SPACE, 6, rng=np.random.default_rng(5), n_initial=3, budget=2
    )
    rs = search.random_search(objective, BRANIN_SPACE, 3, rng=np.random.default_rng(5), budget=2)
    assert [t.config for t in bo.trials[:3]] == [t.config for t in rs.trials]
    assert len(bo.trials) == 6 and bo.total_budget == 12 and budgets == [2] * 9


def test_maximizing_minus_f_takes_the_same_steps_as_minimizing_f():
    lo = bayesopt.bayesian_optimization(branin, BRANIN_SPACE, 6, rng=np.random.default_rng(1))
    hi = bayesopt.bayesian_optimization(
        lambda c: -branin(c), BRANIN_SPACE, 6, rng=np.random.default_rng(1), mode="max"
    )
    assert [t.config for t in lo.trials] == [t.config for t in hi.trials]
    assert hi.best_score == -lo.best_score


def test_diverged_runs_do_not_stop_the_search():
    def loss(config):  # "diverges" above lr = 0.1, best at lr = 0.01
        lr = config["lr"]
        return math.inf if lr > 0.1 else (math.log10(lr) + 2) ** 2

    result = bayesopt.bayesian_optimization(
        loss, {"lr": LogUniform(1e-5, 1.0)}, 10, rng=np.random.default_rng(0)
    )
    assert abs(math.log10(result.best_config["lr"]) + 2) < 0.1


def tilted_bowl(config):
    """Smooth in log-space, minimum 0 at lr = 10**-2.3, wd = 10**-3.6."""
    a, b = math.log10(config["lr"]) + 2.3, math.log10(config["wd"]) + 3.6
    return a**2 + 0.5 * b**2 + 0.3 * a * b


def test_bayesian_optimization_beats_random_search_over_20_seeds():
    # a learning rate and a weight decay on log scales, 10 evaluations each; a sign test
    # over 20 seeds, paired by seed (both start from the same 3 random configurations)
    space = {"lr": LogUniform(1e-5, 1.0), "wd": LogUniform(1e-6, 1e-1)}
    bo_best, rs_best = [], []
    for seed in range(20):
        bo = bayesopt.bayesian_optimization(
            tilted_bowl, space, 10, rng=np.random.default_rng(seed), n_candidates=500
        )
        rs = search.random_search(tilted_bowl, space, 10, rng=np.random.default_rng(seed))
        bo_best.append(bo.best_score)
        rs_best.append(rs.best_score)
    bo_best, rs_best = np.array(bo_best), np.array(rs_best)
    wins = int(np.sum(bo_best < rs_best))
    assert scipy.stats.binomtest(wins, 20, 0.5, alternative="greater").pvalue < 0.01, wins
    assert np.median(bo_best) < 0.25 * np.median(rs_best)
