"""Bayesian optimization: a Gaussian-process surrogate and expected improvement.

Random search (:mod:`dlopt.search`) chooses every configuration without looking at the
scores so far. Bayesian optimization (Snoek, Larochelle & Adams, 2012) fits a
*surrogate* to the scores, a Gaussian process that gives, at every untried point, a
predicted score :math:`\\mu(x)` and an uncertainty :math:`\\sigma(x)`, and evaluates next
the point of largest *expected improvement* over the best score so far.

The search works on the unit cube: each hyperparameter of the space is mapped to
:math:`[0, 1]`, on a log scale for :class:`~dlopt.search.LogUniform` (so a learning rate
is searched in :math:`\\log \\eta`), linearly for :class:`~dlopt.search.Uniform` and
:class:`~dlopt.search.IntUniform` (rounded back to an integer). Scores are standardized
(mean 0, standard deviation 1) before each fit, and the kernel's hyperparameters are
chosen by maximizing the log marginal likelihood.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.special import ndtr

from ._validation import validate_array, validate_choice, validate_int, validate_real, validate_rng
from .search import MODES, IntUniform, LogUniform, SearchResult, Uniform, run_trial, sample_configs

__all__ = [
    "GaussianProcess",
    "bayesian_optimization",
    "decode",
    "encode",
    "expected_improvement",
    "matern52",
    "maximize_acquisition",
]

# log-space bounds of the kernel hyperparameters, for inputs in the unit cube and
# standardized scores: length scales from 1% of the box to 10 boxes, signal variance
# from 0.05 to 20 times the variance of the scores, noise from almost none to all of it
LENGTH_SCALE_BOUNDS = (1e-2, 10.0)
SIGNAL_VARIANCE_BOUNDS = (0.05, 20.0)
NOISE_VARIANCE_BOUNDS = (1e-6, 1.0)


# --- the kernel and the Gaussian process -------------------------------------------------


def matern52(x1, x2, length_scale) -> np.ndarray:
    """Matérn kernel with :math:`\\nu = 5/2` and unit variance, shapes ``(n, d), (m, d) -> (n, m)``.

    .. math::
        k(x, x') = \\Big(1 + \\sqrt5\\,r + \\tfrac53 r^2\\Big) e^{-\\sqrt5\\,r},
        \\qquad r = \\Big\\| \\frac{x - x'}{\\ell} \\Big\\| ,

    with one length scale :math:`\\ell_k` per input dimension (or one for all). Its sample
    functions are twice differentiable: smooth, but less so than under the RBF kernel,
    whose samples are infinitely differentiable (too smooth for a loss landscape).
    """
    x1 = validate_array("x1", x1, ndim=2)
    x2 = validate_array("x2", x2, ndim=2)
    if x1.shape[1] != x2.shape[1]:
        raise ValueError(f"x1 and x2 must have the same columns, got {x1.shape} and {x2.shape}")
    ell = np.broadcast_to(np.asarray(length_scale, dtype=float), (x1.shape[1],))
    if np.any(~np.isfinite(ell)) or np.any(ell <= 0):
        raise ValueError(f"length_scale must be positive and finite, got {length_scale!r}")
    diff = (x1[:, None, :] - x2[None, :, :]) / ell
    r = np.sqrt(np.sum(diff**2, axis=-1))
    s = math.sqrt(5.0) * r
    return (1.0 + s + s**2 / 3.0) * np.exp(-s)


class GaussianProcess:
    """A zero-mean Gaussian process with a scaled Matérn-5/2 kernel and Gaussian noise.

    Prior :math:`f \\sim \\mathcal{GP}(0, \\sigma_f^2 k)` with :math:`k` = :func:`matern52`,
    observations :math:`y_i = f(x_i) + \\varepsilon_i`,
    :math:`\\varepsilon_i \\sim \\mathcal N(0, \\sigma_n^2)`. With
    :math:`K = \\sigma_f^2 k(X, X) + \\sigma_n^2 I = L L^\\top` and
    :math:`k_* = \\sigma_f^2 k(X, x)`, the posterior of :math:`f(x)` is normal with

    .. math::
        \\mu(x) = k_*^\\top K^{-1} y, \\qquad
        \\sigma^2(x) = \\sigma_f^2 - k_*^\\top K^{-1} k_* ,

    and the log marginal likelihood of the data is

    .. math::
        \\log p(y \\mid X) = -\\tfrac12 y^\\top K^{-1} y - \\textstyle\\sum_i \\log L_{ii}
        - \\tfrac n2 \\log 2\\pi .

    ``fit(x, y)`` stores the data and, unless ``optimize=False``, first sets
    ``length_scale`` (one per dimension), ``signal_variance`` and ``noise_variance`` to
    the maximizer of the log marginal likelihood (L-BFGS-B on their logarithms, from the
    current values and ``n_restarts`` random starts drawn with ``rng``).
    """

    def __init__(self, *, length_scale=0.3, signal_variance=1.0, noise_variance=1e-4):
        ell = np.atleast_1d(np.asarray(length_scale, dtype=float))
        if ell.ndim != 1 or np.any(~np.isfinite(ell)) or np.any(ell <= 0):
            raise ValueError(
                f"length_scale must be a positive number or 1-D array, got {length_scale!r}"
            )
        self.length_scale = ell
        self.signal_variance = validate_real(
            "signal_variance", signal_variance, low=0.0, low_open=True
        )
        self.noise_variance = validate_real(
            "noise_variance", noise_variance, low=0.0, low_open=True
        )
        self.x = self.y = None

    def _covariance(self, x, params=None):
        ell, sf2, sn2 = params if params is not None else self._params()
        return sf2 * matern52(x, x, ell) + sn2 * np.eye(len(x))

    def _params(self):
        return self.length_scale, self.signal_variance, self.noise_variance

    def log_marginal_likelihood(self, x=None, y=None, params=None) -> float:
        """:math:`\\log p(y \\mid X)` for the stored data (or ``x, y``) and hyperparameters.

        ``params`` is ``(length_scale, signal_variance, noise_variance)``; default: the
        current ones.
        """
        x = self.x if x is None else validate_array("x", x, ndim=2)
        y = self.y if y is None else validate_array("y", y, ndim=1)
        if x is None:
            raise RuntimeError("call fit(x, y) first, or pass x and y")
        try:
            chol = scipy.linalg.cholesky(self._covariance(x, params), lower=True)
        except np.linalg.LinAlgError:
            return -math.inf
        alpha = scipy.linalg.cho_solve((chol, True), y)
        n = len(y)
        return float(-0.5 * y @ alpha - np.log(np.diag(chol)).sum() - 0.5 * n * math.log(2 * np.pi))

    def fit(self, x, y, *, optimize: bool = True, rng=None, n_restarts: int = 3):
        x = validate_array("x", x, ndim=2, finite=True)
        y = validate_array("y", y, ndim=1, finite=True)
        if len(x) != len(y) or len(y) == 0:
            raise ValueError(
                f"x and y must hold the same positive number of points, got {len(x)} and {len(y)}"
            )
        if len(self.length_scale) not in (1, x.shape[1]):
            raise ValueError(
                f"length_scale has {len(self.length_scale)} entries for {x.shape[1]}-D inputs"
            )
        self.length_scale = np.broadcast_to(self.length_scale, (x.shape[1],)).copy()
        self.x, self.y = x, y
        if optimize:
            n_restarts = validate_int("n_restarts", n_restarts, low=0)
            self._maximize_likelihood(validate_rng(rng), n_restarts)
        self._chol = scipy.linalg.cholesky(self._covariance(x), lower=True)
        self._alpha = scipy.linalg.cho_solve((self._chol, True), y)
        return self

    def log_marginal_likelihood_gradient(self, log_params) -> tuple[float, np.ndarray]:
        r"""The log marginal likelihood of the stored data and its gradient with respect to
        ``log_params`` :math:`= (\log \ell_1, \dots, \log \ell_d, \log \sigma_f^2,
        \log \sigma_n^2)`.

        :math:`\partial \log p / \partial \theta = \tfrac12 \operatorname{tr}\big((\alpha
        \alpha^\top - K^{-1})\, \partial K / \partial \theta\big)` with
        :math:`\alpha = K^{-1} y`; for the Matérn-5/2 kernel,
        :math:`\partial k / \partial \log \ell_j = \tfrac53 (1 + s) e^{-s}\,
        (x_j - x'_j)^2 / \ell_j^2` with :math:`s = \sqrt5\,r`.
        """
        x, y = self.x, self.y
        d = x.shape[1]
        params = np.exp(np.asarray(log_params, dtype=float))
        ell, sf2, sn2 = params[:d], params[d], params[d + 1]
        scaled_sq = ((x[:, None, :] - x[None, :, :]) / ell) ** 2  # (n, n, d)
        s = np.sqrt(5.0 * scaled_sq.sum(axis=-1))
        k = (1.0 + s + s**2 / 3.0) * np.exp(-s)
        try:
            chol = scipy.linalg.cholesky(sf2 * k + sn2 * np.eye(len(y)), lower=True)
        except np.linalg.LinAlgError:
            return -math.inf, np.zeros(d + 2)
        alpha = scipy.linalg.cho_solve((chol, True), y)
        lml = -0.5 * y @ alpha - np.log(np.diag(chol)).sum() - 0.5 * len(y) * math.log(2 * np.pi)
        inner = np.outer(alpha, alpha) - scipy.linalg.cho_solve((chol, True), np.eye(len(y)))
        dk_dlog_ell = sf2 * (5.0 / 3.0) * ((1.0 + s) * np.exp(-s))[:, :, None] * scaled_sq
        grad = np.empty(d + 2)
        grad[:d] = 0.5 * np.einsum("ij,ijk->k", inner, dk_dlog_ell)
        grad[d] = 0.5 * np.sum(inner * sf2 * k)
        grad[d + 1] = 0.5 * sn2 * np.trace(inner)
        return float(lml), grad

    def _maximize_likelihood(self, rng, n_restarts):
        d = self.x.shape[1]
        bounds = [LENGTH_SCALE_BOUNDS] * d + [SIGNAL_VARIANCE_BOUNDS, NOISE_VARIANCE_BOUNDS]
        log_bounds = np.log(np.array(bounds))

        def negative(theta):
            lml, grad = self.log_marginal_likelihood_gradient(theta)
            return (-lml, -grad) if np.isfinite(lml) else (1e25, np.zeros_like(theta))

        current = np.log(np.r_[self.length_scale, self.signal_variance, self.noise_variance])
        starts = [np.clip(current, log_bounds[:, 0], log_bounds[:, 1])]
        starts += [rng.uniform(log_bounds[:, 0], log_bounds[:, 1]) for _ in range(n_restarts)]
        found = [
            scipy.optimize.minimize(negative, start, jac=True, method="L-BFGS-B", bounds=log_bounds)
            for start in starts
        ]
        best = np.exp(min(found, key=lambda result: result.fun).x)
        self.length_scale = best[:d].copy()
        self.signal_variance, self.noise_variance = float(best[d]), float(best[d + 1])

    def predict(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of :math:`f` (noise-free) at the rows of ``x``."""
        if self.x is None:
            raise RuntimeError("call fit(x, y) before predict")
        x = validate_array("x", x, shape=(None, self.x.shape[1]))
        k_star = self.signal_variance * matern52(self.x, x, self.length_scale)
        mean = k_star.T @ self._alpha
        v = scipy.linalg.solve_triangular(self._chol, k_star, lower=True)
        variance = np.maximum(self.signal_variance - np.sum(v**2, axis=0), 0.0)
        return mean, np.sqrt(variance)


# --- expected improvement ----------------------------------------------------------------


def expected_improvement(mean, std, best, xi: float = 0.0) -> np.ndarray:
    """:math:`\\mathrm{EI}(x) = \\mathbb E\\,[\\max(y^* - \\xi - f(x), 0)]` for minimization.

    With :math:`f(x) \\sim \\mathcal N(\\mu, \\sigma^2)` and
    :math:`z = (y^* - \\xi - \\mu) / \\sigma`:

    .. math::
        \\mathrm{EI} = (y^* - \\xi - \\mu)\\,\\Phi(z) + \\sigma\\,\\varphi(z) ,

    and :math:`\\max(y^* - \\xi - \\mu, 0)` where :math:`\\sigma = 0`. The first term
    rewards a low predicted score (exploitation), the second an uncertain one
    (exploration). ``xi >= 0`` asks for an improvement of at least that much.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.asarray(std, dtype=float)
    if np.any(std < 0) or np.any(~np.isfinite(std)):
        raise ValueError("std must be finite and >= 0")
    best = validate_real("best", best)
    xi = validate_real("xi", xi, low=0.0)
    gain = best - xi - mean
    safe = np.where(std > 0, std, 1.0)
    z = gain / safe
    ei = gain * ndtr(z) + safe * np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    return np.where(std > 0, np.maximum(ei, 0.0), np.maximum(gain, 0.0))


def maximize_acquisition(
    acquisition: Callable, dim: int, *, rng, n_candidates: int = 1000, n_refine: int = 5
) -> np.ndarray:
    """The point of the unit cube :math:`[0, 1]^d` where ``acquisition`` is largest.

    ``acquisition`` maps an ``(n, d)`` array to ``n`` values. Evaluate it at
    ``n_candidates`` uniform random points, then polish the best ``n_refine`` of them
    with L-BFGS-B inside the cube (expected improvement is flat almost everywhere and
    peaked near good points: a local optimizer alone would get stuck, random points
    alone would be coarse).
    """
    dim = validate_int("dim", dim, low=1)
    n_candidates = validate_int("n_candidates", n_candidates, low=1)
    n_refine = validate_int("n_refine", n_refine, low=0)
    candidates = validate_rng(rng).uniform(size=(n_candidates, dim))
    values = np.asarray(acquisition(candidates), dtype=float)
    order = np.argsort(-values, kind="stable")
    best_u, best_value = candidates[order[0]], values[order[0]]
    for i in order[:n_refine]:
        found = scipy.optimize.minimize(
            lambda u: -float(acquisition(u[None, :])[0]),
            candidates[i],
            method="L-BFGS-B",
            bounds=[(0.0, 1.0)] * dim,
        )
        if -found.fun > best_value:
            best_u, best_value = np.clip(found.x, 0.0, 1.0), -found.fun
    return best_u


# --- the search space as a unit cube -----------------------------------------------------


def _validate_box(space) -> dict:
    if not isinstance(space, dict) or not space:
        raise ValueError(f"space must be a non-empty dict of hyperparameters, got {space!r}")
    for name, dist in space.items():
        if not isinstance(dist, LogUniform | Uniform | IntUniform):
            raise TypeError(
                f"space[{name!r}] must be LogUniform, Uniform or IntUniform (a box), got {dist!r}"
            )
        if isinstance(dist, IntUniform) and dist.low == dist.high:
            raise ValueError(f"space[{name!r}] has a single value; leave it out of the search")
    return space


def encode(space: dict, config: dict) -> np.ndarray:
    """A configuration as a point of :math:`[0, 1]^d`, log scale for :class:`LogUniform`."""
    u = []
    for name, dist in _validate_box(space).items():
        value = config[name]
        if isinstance(dist, LogUniform):
            u.append(math.log(value / dist.low) / math.log(dist.high / dist.low))
        else:
            u.append((value - dist.low) / (dist.high - dist.low))
    return np.array(u)


def decode(space: dict, u) -> dict:
    """The configuration at the point ``u`` of the unit cube (inverse of :func:`encode`)."""
    space = _validate_box(space)
    u = validate_array("u", u, shape=(len(space),), finite=True)
    if np.any(u < 0) or np.any(u > 1):
        raise ValueError(f"u must lie in the unit cube [0, 1]^{len(space)}, got {u}")
    config = {}
    for (name, dist), ui in zip(space.items(), u, strict=True):
        if isinstance(dist, LogUniform):
            config[name] = float(dist.low * (dist.high / dist.low) ** ui)
        elif isinstance(dist, Uniform):
            config[name] = float(dist.low + ui * (dist.high - dist.low))
        else:
            config[name] = int(round(dist.low + ui * (dist.high - dist.low)))
    return config


# --- the search --------------------------------------------------------------------------


def bayesian_optimization(
    objective: Callable,
    space: dict,
    n_trials: int,
    *,
    rng,
    n_initial: int | None = None,
    mode: str = "min",
    budget=None,
    xi: float = 0.0,
    n_candidates: int = 1000,
):
    """Bayesian optimization with a Matérn-5/2 Gaussian process and expected improvement.

    The first ``n_initial`` configurations (default :math:`d + 1`, at least 2) are drawn
    from ``space`` exactly as :func:`~dlopt.search.random_search` draws them with the same
    ``rng``. Then, for each further trial: standardize the scores so far, fit a
    :class:`GaussianProcess` to them (kernel hyperparameters by maximum likelihood),
    and evaluate the configuration that maximizes :func:`expected_improvement` over the
    best score so far (:func:`maximize_acquisition`). A non-finite score (a diverged
    run) enters the fit as the worst finite score seen. ``space`` maps each
    hyperparameter to :class:`~dlopt.search.LogUniform`, :class:`~dlopt.search.Uniform`
    or :class:`~dlopt.search.IntUniform`. Returns a
    :class:`~dlopt.search.SearchResult`, trials in evaluation order.
    """
    validate_choice("mode", mode, MODES)
    space = _validate_box(space)
    n_trials = validate_int("n_trials", n_trials, low=1)
    d = len(space)
    if n_initial is None:
        n_initial = max(2, d + 1)
    n_initial = validate_int("n_initial", n_initial, low=1)
    xi = validate_real("xi", xi, low=0.0)
    n_candidates = validate_int("n_candidates", n_candidates, low=1)
    rng = validate_rng(rng)

    configs = sample_configs(space, min(n_initial, n_trials), rng)
    trials = [run_trial(objective, c, budget) for c in configs]
    while len(trials) < n_trials:
        x = np.array([encode(space, t.config) for t in trials])
        y = _standardized_losses(np.array([t.score for t in trials]), mode)
        gp = GaussianProcess(length_scale=np.full(d, 0.3)).fit(x, y, rng=rng)
        best = y.min()

        def ei(u, gp=gp, best=best):
            return expected_improvement(*gp.predict(u), best, xi)

        u_next = maximize_acquisition(ei, d, rng=rng, n_candidates=n_candidates)
        trials.append(run_trial(objective, decode(space, u_next), budget))
    return SearchResult(trials, mode)


def _standardized_losses(scores: np.ndarray, mode: str) -> np.ndarray:
    """Scores as losses (negated in ``"max"`` mode), non-finite ones set to the worst finite
    loss, then shifted and scaled to mean 0 and standard deviation 1."""
    losses = scores if mode == "min" else -scores
    finite = np.isfinite(losses)
    worst = losses[finite].max() if finite.any() else 0.0
    losses = np.where(finite, losses, worst)
    spread = losses.std()
    return (losses - losses.mean()) / (spread if spread > 0 else 1.0)
