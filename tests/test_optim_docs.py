"""``help()`` on every optimizer shows its algorithm, and that algorithm is what the code does.

Each class's docstring ends with its rule's formulas (from :mod:`dlopt.rules`). Below, each
formula is transcribed by hand, line by line, into plain NumPy (no dlopt code), run on a few
fixed gradients and compared with the optimizer. A formula edited without the code, or the
code without the formula, fails here.
"""

from __future__ import annotations

import pydoc

import numpy as np
import pytest
import torch

from dlopt import optim_numpy, optim_torch, optimizers

RNG = np.random.default_rng(0)
THETA0 = RNG.normal(size=(3, 4))
GRADS = RNG.normal(size=(6, 3, 4))


def sgd(opts):
    lr, mu, tau, lam = opts["lr"], opts["momentum"], opts["dampening"], opts["weight_decay"]
    theta, b = THETA0.copy(), None
    for g in GRADS:
        g = g + lam * theta
        b = g if b is None else mu * b + (1 - tau) * g
        theta = theta - lr * b
        yield theta


def adagrad(opts):
    lr, decay, eps = opts["lr"], opts["lr_decay"], opts["eps"]
    theta, s = THETA0.copy(), np.full_like(THETA0, opts["initial_accumulator_value"])
    for t, g in enumerate(GRADS, start=1):
        s = s + g**2
        theta = theta - lr / (1 + (t - 1) * decay) * g / (np.sqrt(s) + eps)
        yield theta


def adadelta(opts):
    lr, rho, eps = opts["lr"], opts["rho"], opts["eps"]
    theta, v, u = THETA0.copy(), 0 * THETA0, 0 * THETA0
    for g in GRADS:
        v = rho * v + (1 - rho) * g**2
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        theta = theta - lr * delta
        yield theta


def rmsprop(opts):  # centered, with momentum
    lr, alpha, eps, mu = opts["lr"], opts["alpha"], opts["eps"], opts["momentum"]
    theta, v, gbar, b = THETA0.copy(), 0 * THETA0, 0 * THETA0, 0 * THETA0
    for g in GRADS:
        v = alpha * v + (1 - alpha) * g**2
        gbar = alpha * gbar + (1 - alpha) * g
        r = np.sqrt(v - gbar**2) + eps
        b = mu * b + g / r
        theta = theta - lr * b
        yield theta


def adamw(opts):  # Adam with AMSGrad and decoupled decay
    lr, (b1, b2), eps, lam = opts["lr"], opts["betas"], opts["eps"], opts["weight_decay"]
    theta, m, v, vhat = THETA0.copy(), 0 * THETA0, 0 * THETA0, 0 * THETA0
    for t, g in enumerate(GRADS, start=1):
        theta = (1 - lr * lam) * theta
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        vhat = np.maximum(vhat, v)
        theta = theta - lr / (1 - b1**t) * m / (np.sqrt(vhat / (1 - b2**t)) + eps)
        yield theta


def nadam(opts):
    lr, (b1, b2), eps, psi = opts["lr"], opts["betas"], opts["eps"], opts["momentum_decay"]
    theta, m, v, product = THETA0.copy(), 0 * THETA0, 0 * THETA0, 1.0

    def mu(t):
        return b1 * (1 - 0.5 * 0.96 ** (t * psi))

    for t, g in enumerate(GRADS, start=1):
        product *= mu(t)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        step = (1 - mu(t)) / (1 - product) * g + mu(t + 1) / (1 - product * mu(t + 1)) * m
        theta = theta - lr * step / (np.sqrt(v / (1 - b2**t)) + eps)
        yield theta


def radam(opts):
    lr, (b1, b2), eps = opts["lr"], opts["betas"], opts["eps"]
    theta, m, v = THETA0.copy(), 0 * THETA0, 0 * THETA0
    rho_inf = 2 / (1 - b2) - 1
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            factor = r * np.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
        else:
            factor = 1
        theta = theta - lr * m / (1 - b1**t) * factor
        yield theta


def adamax(opts):
    lr, (b1, b2), eps = opts["lr"], opts["betas"], opts["eps"]
    theta, m, u = THETA0.copy(), 0 * THETA0, 0 * THETA0
    for t, g in enumerate(GRADS, start=1):
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        theta = theta - lr / (1 - b1**t) * m / u
        yield theta


def asgd(opts):  # yields the parameters and the average
    lr, lambd, alpha, t0 = opts["lr"], opts["lambd"], opts["alpha"], opts["t0"]
    theta, avg, eta, mu = THETA0.copy(), 0 * THETA0, lr, 1.0
    for t, g in enumerate(GRADS, start=1):
        theta = (1 - lambd * eta) * theta - eta * g
        avg = avg + mu * (theta - avg)
        eta, mu = lr / (1 + lambd * lr * t) ** alpha, 1 / max(1, t - t0)
        yield np.concatenate([theta, avg])


def rprop(opts):
    (eta_minus, eta_plus), (low, high) = opts["etas"], opts["step_sizes"]
    theta, delta, prev = THETA0.copy(), np.full_like(THETA0, opts["lr"]), 0 * THETA0
    for g in GRADS:
        agree = g * prev
        delta = np.clip(
            delta * np.where(agree > 0, eta_plus, np.where(agree < 0, eta_minus, 1)), low, high
        )
        g = np.where(agree < 0, 0, g)
        theta = theta - delta * np.sign(g)
        prev = g
        yield theta


def adafactor(opts):
    lr, c, (eps1, eps2), d, lam = (
        opts["lr"],
        opts["beta2_decay"],
        opts["eps"],
        opts["d"],
        opts["weight_decay"],
    )
    theta, rows, cols = THETA0.copy(), np.zeros((3, 1)), np.zeros((1, 4))

    def rms(x):
        return np.sqrt(np.mean(x**2))

    for t, g in enumerate(GRADS, start=1):
        beta = 1 - t**c
        a = max(eps2, rms(theta)) * min(lr, 1 / np.sqrt(t))
        rows = beta * rows + (1 - beta) * np.mean(g**2, axis=1, keepdims=True)
        cols = beta * cols + (1 - beta) * np.mean(g**2, axis=0, keepdims=True)
        vhat = rows * cols / max(np.mean(rows), eps1)
        u = g / np.sqrt(np.maximum(vhat, eps1**2))
        theta = (1 - lr * lam) * theta - a / max(1, rms(u) / d) * u
        yield theta


def lion(opts):
    lr, (b1, b2), lam = opts["lr"], opts["betas"], opts["weight_decay"]
    theta, m = THETA0.copy(), 0 * THETA0
    for g in GRADS:
        theta = (1 - lr * lam) * theta - lr * np.sign(b1 * m + (1 - b1) * g)
        m = b2 * m + (1 - b2) * g
        yield theta


def sgd_schedule_free(opts):  # the three sequences of the docstring, y the parameter
    lr, beta, lam = opts["lr"], opts["momentum"], opts["weight_decay"]
    y = z = x = THETA0.copy()
    for t, g in enumerate(GRADS, start=1):
        z = z - lr * (g + lam * y)
        c = 1 / t  # r = 0, no warm-up: a running mean
        x = (1 - c) * x + c * z
        y = beta * x + (1 - beta) * z
        yield y


def adamw_schedule_free(opts):
    lr, (b1, b2), eps, lam, warmup, r, p = (
        opts["lr"],
        opts["betas"],
        opts["eps"],
        opts["weight_decay"],
        opts["warmup_steps"],
        opts["r"],
        opts["weight_lr_power"],
    )
    y = z = x = THETA0.copy()
    v, lr_max, weights = 0 * THETA0, 0.0, 0.0
    for t, g in enumerate(GRADS, start=1):
        eta = lr * min(1, t / warmup)
        lr_max = max(lr_max, eta)
        w = t**r * lr_max**p
        weights += w
        v = b2 * v + (1 - b2) * g**2
        ghat = g / (np.sqrt(v / (1 - b2**t)) + eps) + lam * y
        z = z - eta * ghat
        x = (1 - w / weights) * x + w / weights * z
        y = b1 * x + (1 - b1) * z
        yield y


FORMULAS = {
    "SGD": (sgd, dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    "Adagrad": (adagrad, dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.5, eps=1e-10)),
    "Adadelta": (adadelta, dict(lr=0.5, rho=0.9, eps=1e-6)),
    "RMSprop": (rmsprop, dict(lr=0.01, alpha=0.9, eps=1e-8, momentum=0.9, centered=True)),
    "AdamW": (adamw, dict(lr=0.1, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1, amsgrad=True)),
    "NAdam": (nadam, dict(lr=0.1, betas=(0.9, 0.99), eps=1e-8, momentum_decay=0.05)),
    "RAdam": (radam, dict(lr=0.1, betas=(0.5, 0.6), eps=1e-8)),
    "Adamax": (adamax, dict(lr=0.1, betas=(0.9, 0.99), eps=1e-8)),
    "ASGD": (asgd, dict(lr=0.1, lambd=0.1, alpha=0.75, t0=2.0)),
    "Rprop": (rprop, dict(lr=0.1, etas=(0.5, 1.2), step_sizes=(1e-3, 0.15))),
    "Adafactor": (
        adafactor,
        dict(lr=0.5, beta2_decay=-0.8, eps=(1e-3, 1e-3), d=1.0, weight_decay=0.1),
    ),
    "Lion": (lion, dict(lr=0.1, betas=(0.9, 0.99), weight_decay=0.1)),
    "SGDScheduleFree": (sgd_schedule_free, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    "AdamWScheduleFree": (
        adamw_schedule_free,
        dict(
            lr=0.05,
            betas=(0.9, 0.99),
            eps=1e-8,
            weight_decay=0.1,
            warmup_steps=3,
            r=1.0,
            weight_lr_power=2.0,
        ),
    ),
}
FLOAT32_STATE = {"NAdam", "ASGD"}  # PyTorch keeps mu_product, eta and mu in float32


@pytest.mark.parametrize("name", list(FORMULAS))
def test_the_docstrings_formula_gives_the_optimizers_steps(name):
    formula, opts = FORMULAS[name]
    theta = THETA0.copy()
    opt = getattr(optim_numpy, name)([theta], **opts)
    if hasattr(opt, "train"):
        opt.train()
    for g, expected in zip(GRADS, formula(opts)):
        opt.step([g])
        actual = np.concatenate([theta, opt.state[0]["ax"]]) if name == "ASGD" else theta
        rtol = 1e-6 if name in FLOAT32_STATE else 1e-12
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol)


def test_the_sparse_adam_formula_touches_only_the_rows_with_a_gradient():
    lr, b1, b2, eps = 0.1, 0.9, 0.99, 1e-8
    theta = THETA0.copy()
    opt = optim_numpy.SparseAdam([theta], lr=lr, betas=(b1, b2), eps=eps)
    expected, m, v = THETA0.copy(), 0 * THETA0, 0 * THETA0
    for t, g in enumerate(GRADS, start=1):
        rows = [t % 3]  # S: one row a step
        opt.step([(np.array([rows]), g[rows])])
        m[rows] = b1 * m[rows] + (1 - b1) * g[rows]
        v[rows] = b2 * v[rows] + (1 - b2) * g[rows] ** 2
        expected[rows] -= lr * np.sqrt(1 - b2**t) / (1 - b1**t) * m[rows] / (np.sqrt(v[rows]) + eps)
        np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-12)


def test_the_muon_formula_gives_its_step_up_to_bfloat16():
    """Newton–Schulz written from the docstring in float64 against the bfloat16 code: each
    step agrees to bfloat16 round-off (2**-8 of an entry), grown by five iterations of a map
    whose slope near zero is a = 3.4: measured at most 2.2% of the learning rate, held to 4%.
    """
    lr, lam, mu, (a, b, c) = 0.1, 0.1, 0.9, (3.4445, -4.775, 2.0315)
    theta = THETA0.copy()
    opt = optim_numpy.Muon([theta], lr=lr, weight_decay=lam, momentum=mu, nesterov=True)
    buf = 0 * THETA0
    for g in GRADS:
        before = theta.copy()
        opt.step([g])
        buf = mu * buf + (1 - mu) * g
        x = (1 - mu) * g + mu * buf  # 3 x 4: wide already, so A = X X^T is the 3 x 3 Gram
        x = x / max(np.linalg.norm(x), 1e-7)
        for _ in range(5):
            gram = x @ x.T
            x = a * x + (b * gram + c * gram @ gram) @ x
        expected = (1 - lr * lam) * before - lr * np.sqrt(max(1, 3 / 4)) * x
        np.testing.assert_allclose(theta, expected, rtol=0, atol=0.04 * lr)


def test_the_lbfgs_formula_gives_its_first_two_iterations():
    """On a quadratic: t_1 = eta min(1, 1/|g|_1) along -g; then the two-loop recursion with one
    pair is H = (I - rho s y^T) gamma (I - rho y s^T) + rho s s^T applied to g."""
    a = np.diag([1.0, 3.0, 10.0])
    theta0 = np.array([1.0, -1.0, 0.5])
    theta = theta0.copy()
    opt = optim_numpy.LBFGS([theta], lr=0.5, max_iter=2, max_eval=5)
    opt.step(lambda: (0.5 * theta @ a @ theta, [a @ theta]))
    g0 = a @ theta0
    theta1 = theta0 - 0.5 * min(1, 1 / np.abs(g0).sum()) * g0
    g1 = a @ theta1
    s, y = theta1 - theta0, g1 - g0
    rho, gamma, eye = 1 / (y @ s), (s @ y) / (y @ y), np.eye(3)
    h = (eye - rho * np.outer(s, y)) @ (gamma * eye) @ (
        eye - rho * np.outer(y, s)
    ) + rho * np.outer(s, s)
    np.testing.assert_allclose(theta, theta1 - 0.5 * h @ g1, rtol=1e-12)


@pytest.mark.parametrize("name", list(optimizers.DEFINITIONS))
def test_help_shows_the_signature_and_the_algorithm_in_both_front_ends(name):
    rule = optimizers.DEFINITIONS[name].rule
    for module in (optim_torch, optim_numpy):
        text = pydoc.render_doc(getattr(module, name), renderer=pydoc.plaintext)
        assert f"{name}(params" in text
        assert f"Algorithm (:func:`dlopt.rules.{rule.__name__}`)" in text
        assert ".. math::" in text
        # the formulas of the rule's docstring, verbatim
        first_formula = rule.__doc__.split(".. math::")[1].strip().splitlines()[0].strip()
        assert first_formula in text


def test_every_optimizer_has_a_formula_test_here():
    covered = set(FORMULAS) | {"SparseAdam", "Muon", "LBFGS", "Adam"}  # Adam: as AdamW
    assert covered == set(optimizers.DEFINITIONS)
    assert torch.optim.Adam is not optim_torch.Adam
