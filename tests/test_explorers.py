"""dlopt.explorers: the grids the site's explorers draw, held to PyTorch and to theory.

The explorers' numbers are computed by the package at build time; these tests compare a
sample of each grid against ``torch.optim`` (and ``torch.optim.lr_scheduler``,
``torch.nn.init`` where an explorer uses them), the theory of the error factors
against measured decay rates, the encoding the browser decodes, and the sizes.
"""

from __future__ import annotations

import base64
import doctest
import json
import math
import re

import numpy as np
import pytest
import torch

from dlopt import explorers, landscapes

RAVINE = landscapes.ravine()


def torch_sgd_path(landscape, steps, lr, momentum=0.0, nesterov=False, gradients=None):
    """Iterates of torch.optim.SGD on a landscape (autograd through its torch formulas).

    ``gradients(t, theta)`` may replace the exact gradient (to add the same noise)."""
    theta = torch.tensor(np.array(landscape.start), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=lr, momentum=momentum, nesterov=nesterov)
    path = [theta.detach().numpy().copy()]
    for t in range(steps):
        optimizer.zero_grad()
        if gradients is None:
            landscape.value(theta).backward()
        else:
            theta.grad = torch.as_tensor(gradients(t, theta.detach().numpy()))
        optimizer.step()
        path.append(theta.detach().numpy().copy())
    return np.array(path)


@pytest.fixture(scope="module")
def ravine_explorer():
    return explorers.momentum_explorer(
        RAVINE,
        lrs=[0.01, 0.02, 0.03, 0.045],
        betas=[0.0, 0.5, 0.9],
        initial={"lr": 0.02, "beta": 0.9, "method": "heavy ball"},
        path_steps=30,
        loss_steps=80,
    )


# --- theory -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", explorers.METHODS)
@pytest.mark.parametrize(
    "lr, beta, lam",
    [(0.02, 0.9, 50.0), (0.02, 0.9, 1.0), (0.03, 0.5, 50.0), (0.01, 0.3, 20.0), (0.035, 0.0, 50.0)],
)
def test_error_factor_is_the_decay_rate_torch_sgd_measures(method, lr, beta, lam):
    """On the 1-D quadratic lam x^2 / 2, |x_t| shrinks like factor^t (up to a power of t)."""
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    nesterov = method == "Nesterov" and beta > 0
    optimizer = torch.optim.SGD([x], lr=lr, momentum=beta, nesterov=nesterov)
    sizes = []
    for _ in range(400):
        optimizer.zero_grad()
        (0.5 * lam * x**2).sum().backward()
        optimizer.step()
        sizes.append(abs(x.item()))
    sizes = np.array(sizes)
    factor = explorers.error_factor(method, lr, beta, lam)
    # the envelope: the largest |x| over a window of a few steps (oscillations have zeros)
    envelope = np.array([sizes[t - 10 : t].max() for t in (200, 400)])
    if factor < 1e-3 or envelope.min() < 1e-250:
        assert envelope.max() < 1e-100
        return
    measured = (envelope[1] / envelope[0]) ** (1 / 200)
    assert abs(measured - factor) < 0.01, (measured, factor)


@pytest.mark.parametrize("method", explorers.METHODS)
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9])
def test_stability_limit_separates_converging_from_diverging_torch_runs(method, beta):
    limit = explorers.stability_limit(method, beta, 50.0)
    finals = {}
    for factor in (0.95, 1.05):
        path = torch_sgd_path(
            RAVINE,
            600,
            lr=factor * limit,
            momentum=beta,
            nesterov=method == "Nesterov" and beta > 0,
        )
        finals[factor] = RAVINE.value(path[-1])
    assert finals[0.95] < 1e-3 and finals[1.05] > 1e3, finals
    assert np.isclose(explorers.error_factor(method, limit, beta, 50.0), 1.0, atol=1e-6)


def test_stability_limits_are_the_formulas_of_the_momentum_page():
    assert explorers.stability_limit("heavy ball", 0.0, 50.0) == pytest.approx(0.04)
    assert explorers.stability_limit("heavy ball", 0.9, 50.0) == pytest.approx(0.076)
    assert explorers.stability_limit("Nesterov", 0.9, 50.0) == pytest.approx(3.8 / 140)
    assert explorers.stability_limit("Nesterov", 0.0, 50.0) == pytest.approx(0.04)


def test_first_step_below_counts_nan_as_above():
    assert explorers.first_step_below([5.0, 2.0, 0.5, 0.1], 1.0) == 2
    assert explorers.first_step_below([0.5, 2.0, 0.5, 0.1], 1.0) == 2
    assert explorers.first_step_below([0.5, 0.1], 1.0) == 0
    assert explorers.first_step_below([0.5, np.nan], 1.0) is None
    assert explorers.first_step_below([5.0, 2.0], 1.0) is None


# --- the momentum grid against torch.optim.SGD ----------------------------------------------


@pytest.mark.parametrize("method", explorers.METHODS)
def test_every_momentum_case_is_torch_sgds_run(ravine_explorer, method):
    for lr in (0.01, 0.02, 0.03, 0.045):
        for beta in (0.0, 0.5, 0.9):
            case = {"lr": lr, "beta": beta, "method": method}
            with np.errstate(over="ignore", invalid="ignore"):
                path = torch_sgd_path(RAVINE, 80, lr, beta, method == "Nesterov" and beta > 0)
                loss = RAVINE.value(path)
            shown = ravine_explorer.array("loss", **case)
            kept = np.isfinite(shown)
            assert kept[0]
            assert np.allclose(shown[kept], loss[kept], rtol=2e-6, atol=1e-30), case
            assert np.all(np.fmax.accumulate(loss)[~kept] > explorers.DIVERGED), case
            drawn = ravine_explorer.array("path", **case)
            assert drawn.shape == (31, 2)
            assert np.allclose(drawn[kept[:31]], path[:31][kept[:31]], rtol=1e-6, atol=1e-6)
            assert ravine_explorer.scalar("limit", **case) == pytest.approx(
                explorers.stability_limit(method, beta, 50.0), rel=1e-3
            )
            for other in explorers.METHODS:  # both limits are marked on the slider
                key = "limit_" + other.replace(" ", "_").lower()
                assert ravine_explorer.scalar(key, **case) == pytest.approx(
                    explorers.stability_limit(other, beta, 50.0), rel=1e-3
                )
    assert [m["label"] for m in ravine_explorer.marks["lr"] if not m.get("hidden")] == [
        "2/λmax",
        "heavy ball",
        "Nesterov",
    ]


def test_momentum_readouts(ravine_explorer):
    case = {"lr": 0.02, "beta": 0.9, "method": "heavy ball"}
    loss = ravine_explorer.array("loss", **case)
    assert ravine_explorer.scalar("settles", **case) == explorers.first_step_below(loss, 1e-3)
    assert ravine_explorer.scalar("loss_final", **case) == pytest.approx(loss[-1], rel=1e-3)
    assert ravine_explorer.scalar("factor_flat", **case) == pytest.approx(math.sqrt(0.9), 1e-3)
    diverging = {"lr": 0.045, "beta": 0.0, "method": "heavy ball"}  # 0.045 > 2 / 50
    assert math.isnan(ravine_explorer.scalar("loss_final", **diverging))
    assert math.isnan(ravine_explorer.scalar("settles", **diverging))
    assert ravine_explorer.scalar("factor_steep", **diverging) == pytest.approx(1.25)


def test_noisy_cases_are_torch_sgd_fed_the_same_noisy_gradients():
    noise, seed = 3.0, 7
    explorer = explorers.momentum_explorer(
        RAVINE,
        lrs=[0.01, 0.02],
        betas=[0.0, 0.9],
        methods=("heavy ball",),
        batch_sizes=[1, 16, "full"],
        noise=noise,
        seed=seed,
        path_steps=20,
        loss_steps=300,
    )
    for batch in (1, 16):
        rng = np.random.default_rng(seed)
        sigma = noise / math.sqrt(batch)

        def noisy(t, theta, rng=rng, sigma=sigma):
            return RAVINE.grad(theta) + sigma * rng.standard_normal(2)

        path = torch_sgd_path(RAVINE, 300, 0.02, 0.9, gradients=noisy)
        case = {"lr": 0.02, "beta": 0.9, "batch": batch}
        assert np.allclose(explorer.array("loss", **case), RAVINE.value(path), rtol=2e-6)
    full = {"lr": 0.02, "beta": 0.9, "batch": "full"}
    assert np.allclose(
        explorer.array("loss", **full),
        RAVINE.value(torch_sgd_path(RAVINE, 300, 0.02, 0.9)),
        rtol=2e-6,
        atol=1e-30,
    )
    # smaller batches, more noise: a higher noise floor
    floors = [explorer.scalar("floor", **(full | {"batch": b})) for b in (1, 16, "full")]
    assert floors[0] > floors[1] > floors[2]


# --- the embed ------------------------------------------------------------------------------


def test_payload_decodes_to_the_arrays_the_explorer_reports(ravine_explorer):
    payload = ravine_explorer.payload()
    assert payload["cases"] == ravine_explorer.num_cases == 4 * 3 * 2
    loss = payload["arrays"]["loss"]
    values = np.frombuffer(base64.b64decode(loss["data"]), dtype="<f4").reshape(-1, *loss["shape"])
    case = {"lr": 0.03, "beta": 0.5, "method": "Nesterov"}
    index = ravine_explorer.case_index(**case)
    # row-major over the controls, as explorers.mjs computes it
    assert index == (2 * 3 + 1) * 2 + 1
    assert np.array_equal(
        values[index], ravine_explorer.array("loss", **case).astype("<f4"), equal_nan=True
    )
    assert payload["scalars"]["limit"][index] == ravine_explorer.scalar("limit", **case)
    json.dumps(payload, allow_nan=False)  # valid JSON: no NaN or infinity


def test_embed_cannot_close_its_script_element_early(ravine_explorer):
    ravine_explorer.panels[0]["title"] = "</script><script>alert(1)</script>"
    try:
        embed = ravine_explorer.to_html(static_url="../../_static/explorers")
    finally:
        ravine_explorer.panels[0]["title"] = "path"
    assert embed.count("</script>") == 3  # the data's and the two scripts'
    assert '<script src="../../_static/explorers/d3-explorers.min.mjs"></script>' in embed


def test_book_static_url_walks_up_to_the_book(tmp_path):
    (tmp_path / "_config.yml").write_text("title: x\n")
    (tmp_path / "_static" / "explorers").mkdir(parents=True)
    page = tmp_path / "chapters" / "optimizers"
    page.mkdir(parents=True)
    assert explorers.book_static_url(page) == "../../_static/explorers"
    assert explorers.book_static_url(tmp_path) == "_static/explorers"
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    assert explorers.book_static_url(outside) is None
    embed = explorers.momentum_explorer(
        RAVINE, lrs=[0.01, 0.02], betas=[0.0, 0.5], path_steps=2, loss_steps=4
    ).to_html(static_url="")
    assert "<script src" not in embed and "dlopt-explorer-fallback" in embed


def test_the_site_pages_explorer_fits_the_size_budget():
    """The momentum page's grid (the same call as the page) stays under 400 kB."""
    explorer = explorers.momentum_explorer(
        RAVINE,
        lrs=np.round(np.arange(1, 17) * 0.005, 3),
        betas=[0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99],
        initial={"lr": 0.02, "beta": 0.9, "method": "heavy ball"},
        path_steps=60,
        loss_steps=120,
    )
    assert explorer.num_cases == 16 * 7 * 2
    assert 100_000 < explorer.nbytes() < 400_000
    assert re.fullmatch(
        r"explorer 'momentum': 224 cases, \d+ kB in the page", explorer.size_report()
    )


# --- bad input ------------------------------------------------------------------------------


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="method"):
        explorers.stability_limit("adam", 0.9, 50.0)
    with pytest.raises(ValueError, match="beta"):
        explorers.error_factor("heavy ball", 0.01, 1.0, 50.0)
    with pytest.raises(ValueError, match="initial value of 'lr'"):
        explorers.Control("lr", "learning rate", (0.01, 0.02), 0.5)
    with pytest.raises(ValueError, match="at least two values"):
        explorers.Control("lr", "learning rate", (0.01,), 0.01)
    with pytest.raises(ValueError, match="noise"):
        explorers.momentum_explorer(
            RAVINE, lrs=[0.01, 0.02], betas=[0.0, 0.5], batch_sizes=[1, "full"]
        )
    explorer = explorers.momentum_explorer(
        RAVINE, lrs=[0.01, 0.02], betas=[0.0, 0.5], path_steps=2, loss_steps=4
    )
    with pytest.raises(ValueError, match="Invalid lr: 0.5"):
        explorer.array("loss", lr=0.5, beta=0.0, method="heavy ball")
    with pytest.raises(ValueError, match="settings must name exactly the controls"):
        explorer.array("loss", lr=0.01)
    with pytest.raises(KeyError, match="no array 'nope'"):
        explorer.array("nope", lr=0.01, beta=0.0, method="heavy ball")


def test_noise_floors_match_the_stationary_variance_of_noisy_gradient_descent():
    """Gradient descent with noise sigma per coordinate on a quadratic levels off at
    E L = sum_i eta sigma^2 / (2 (2 - eta lambda_i)) (one AR(1) process per eigendirection)."""
    lrs, sigma = np.array([0.01, 0.02, 0.03]), 2.0
    floors = explorers.noise_floors(
        RAVINE, lrs, 0.0, "heavy ball", sigma, seed=3, steps=(1000, 21000)
    )
    theory = sum(lrs * sigma**2 / (2 * (2 - lrs * lam)) for lam in (1.0, 50.0))
    assert np.allclose(floors, theory, rtol=0.1), (floors, theory)
    with_momentum = explorers.noise_floors(
        RAVINE, lrs, 0.9, "heavy ball", sigma, seed=3, steps=(1000, 3000)
    )
    assert np.all(with_momentum > 3 * floors)
    with pytest.raises(ValueError, match="Invalid steps"):
        explorers.noise_floors(RAVINE, lrs, 0.0, "heavy ball", sigma, steps=(10, 10))


# --- Adam ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def adam_grid():
    return explorers.adam_explorer(
        RAVINE,
        lr=0.3,
        beta1s=[0.0, 0.9],
        beta2s=[0.99, 0.999],
        epss=[1e-8, 1.0],
        path_steps=20,
        loss_steps=40,
        first_steps=300,
        samples=20,
    )


@pytest.mark.parametrize(
    "beta1, beta2, eps", [(0.0, 0.99, 1e-8), (0.9, 0.999, 1e-8), (0.9, 0.99, 1.0)]
)
def test_adam_cases_with_bias_correction_are_torch_adams_run(adam_grid, beta1, beta2, eps):
    theta = torch.tensor(np.array(RAVINE.start), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=0.3, betas=(beta1, beta2), eps=eps)
    losses = [RAVINE.value(theta).item()]
    for _ in range(40):
        optimizer.zero_grad()
        RAVINE.value(theta).backward()
        optimizer.step()
        losses.append(RAVINE.value(theta).item())
    case = {"beta1": beta1, "beta2": beta2, "eps": eps, "bias": "on"}
    assert np.allclose(adam_grid.array("loss", **case), losses, rtol=2e-6)


def test_adam_step_lengths_follow_the_bias_correction_formula(adam_grid):
    t = np.arange(1, 301)
    for beta1, beta2 in [(0.0, 0.99), (0.9, 0.999)]:
        uncorrected = explorers.adam_step_lengths(
            beta1, beta2, 1e-12, bias_correction=False, steps=300
        )[0]
        assert np.allclose(uncorrected, (1 - beta1**t) / np.sqrt(1 - beta2**t), rtol=1e-9)
        corrected = explorers.adam_step_lengths(
            beta1, beta2, 1e-12, bias_correction=True, steps=300
        )[0]
        assert np.allclose(corrected, 1.0, rtol=1e-9)
    when = np.array(adam_grid.panels[0]["x"]["values"])
    shown = adam_grid.array("step_lengths", beta1=0.9, beta2=0.999, eps=1e-8, bias="off")
    assert np.allclose(shown, (1 - 0.9**when) / np.sqrt(1 - 0.999**when), rtol=1e-6)
    # epsilon = 1 against a gradient 1 halves the corrected step
    assert np.allclose(
        adam_grid.array("step_lengths", beta1=0.9, beta2=0.99, eps=1.0, bias="on"), 0.5, rtol=1e-6
    )
    assert adam_grid.scalar("longest_at", beta1=0.9, beta2=0.999, eps=1e-8, bias="off") == 12


# --- schedules ------------------------------------------------------------------------------


def _torch_rates(make, steps, lr=0.5):
    p = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([p], lr=lr)
    scheduler = make(optimizer)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(rates)


def test_warmup_schedules_are_torchs_schedulers():
    sched = torch.optim.lr_scheduler
    cases = [
        (
            ("cosine", 10, 1, 100),
            lambda o: sched.SequentialLR(
                o, [sched.LinearLR(o, 1 / 11, 1.0, 10), sched.CosineAnnealingLR(o, 90)], [10]
            ),
            100,
        ),
        (("cosine", 0, 4, 100), lambda o: sched.CosineAnnealingWarmRestarts(o, T_0=25), 100),
        (("step", 0, 1, 100), lambda o: sched.StepLR(o, step_size=50, gamma=0.1), 100),
        (("constant", 5, 2, 60), lambda o: sched.LinearLR(o, 1 / 6, 1.0, 5), 60),
    ]
    for args, make, steps in cases:
        ours = explorers.warmup_schedule(*args).lrs(0.5, steps)
        assert np.allclose(ours, _torch_rates(make, steps), rtol=1e-12, atol=1e-15), args


def test_schedule_explorer_trains_each_distinct_schedule_once():
    calls = []

    def run(lrs):
        calls.append(np.array(lrs))
        return {"loss": 1.0 / (1.0 + np.concatenate([[0.0], np.cumsum(lrs)])), "total": lrs.sum()}

    explorer = explorers.schedule_explorer(
        run, base_lr=0.5, steps=30, warmups=[0, 5], cycles=(1, 2), initial={"warmup": 5}
    )
    assert explorer.num_cases == 2 * 3 * 2
    assert len(calls) == 2 * (1 + 2 + 2)  # a constant decay does not restart
    case = {"warmup": 5, "shape": "step", "cycles": 2}
    rates = explorers.warmup_schedule("step", 5, 2, 30).lrs(0.5, 30)
    assert np.allclose(explorer.array("lr_factor", **case), rates / 0.5)
    assert explorer.scalar("total", **case) == pytest.approx(rates.sum(), rel=1e-3)
    assert explorer.array("loss", **case)[-1] == pytest.approx(1 / (1 + rates.sum()), rel=1e-6)
    with pytest.raises(ValueError, match="Invalid warmup and cycles"):
        explorers.warmup_schedule("cosine", 28, 2, 30)
    with pytest.raises(ValueError, match="Invalid shape"):
        explorers.warmup_schedule("linear", 0, 1, 30)


# --- initialization -------------------------------------------------------------------------


def test_layer_stds_are_the_std_of_torch_activations_and_autograd_gradients():
    rng = np.random.default_rng(0)
    widths = [16, 24, 32, 20]
    normals = [rng.standard_normal((b, a)) for a, b in zip(widths[:-1], widths[1:])]
    scales = [0.3, 0.2, 0.25]
    x, top = rng.standard_normal((5, widths[0])), rng.standard_normal((5, widths[-1]))
    from dlopt.layers import Tanh

    forward, backward = explorers.layer_stds(Tanh, normals, x, top, scales=scales)
    h = torch.tensor(x, requires_grad=True)
    outputs = []
    for z, s in zip(normals, scales):
        h = torch.tanh(h @ (s * torch.tensor(z)).T)
        h.retain_grad()
        outputs.append(h)
    (h * torch.tensor(top)).sum().backward()  # dL/dh_top = top
    assert np.allclose(forward, [o.detach().std(unbiased=False).item() for o in outputs])
    assert np.allclose(backward, [o.grad.std(unbiased=False).item() for o in outputs])


def test_initialization_cases_scale_by_the_fan_of_their_mode():
    rng = np.random.default_rng(1)
    from dlopt.layers import ReLU, Tanh

    normals = [rng.standard_normal((64, 32)), rng.standard_normal((128, 64))]
    x, top = rng.standard_normal((8, 32)), rng.standard_normal((8, 128))
    explorer = explorers.initialization_explorer(
        {"net": (normals, x, top)},
        gains=[1.0, math.sqrt(2)],
        activations={"ReLU": ReLU, "tanh": Tanh},
    )
    for mode, fans in (("fan_in", (32, 64)), ("fan_out", (64, 128))):
        case = {"activation": "ReLU", "gain": math.sqrt(2), "mode": mode}
        stds = [math.sqrt(2) / math.sqrt(f) for f in fans]
        # torch.nn.init's kaiming std for this shape and mode is the scale the explorer used
        for z, s in zip(normals, stds):
            t = torch.empty(z.shape, dtype=torch.float64)
            torch.manual_seed(0)
            torch.nn.init.kaiming_normal_(t, mode=mode, nonlinearity="relu")
            assert abs(t.std().item() / s - 1) < 0.1
        assert explorer.scalar("first_std", **case) == pytest.approx(stds[0], rel=1e-3)
        expected = explorers.layer_stds(ReLU, [s * z for s, z in zip(stds, normals)], x, top)
        assert np.allclose(explorer.array("forward", **case), expected[0], rtol=1e-6)
        assert np.allclose(explorer.array("backward", **case), expected[1], rtol=1e-6)


def test_the_module_docstring_example_runs():
    assert doctest.testmod(explorers).failed == 0
