r"""Explorers: figures with sliders that work on the static site, without a kernel.

An explorer is computed entirely at build time. Its **controls** (sliders and choices)
each take a few fixed values; for every combination of values (a **case**) the package
runs the experiment and stores what the browser will draw (a path, a loss curve, ...)
and the numbers it will read out. The browser only looks cases up and draws them with
the site's own copy of D3 (``_static/explorers/``): no Python runs there, and no number
on the screen is computed by JavaScript.

>>> from dlopt import landscapes
>>> ex = momentum_explorer(landscapes.ravine(), lrs=[0.01, 0.02], betas=[0.0, 0.9],
...                        path_steps=5, loss_steps=10)
>>> ex.num_cases  # 2 learning rates x 2 betas x 2 methods
8
>>> ex.array("path", lr=0.02, beta=0.0, method="heavy ball").shape
(6, 2)

Arrays travel as little-endian float32 in base64 (what the browser decodes is what
:meth:`Explorer.array` returns); scalars as JSON numbers rounded to ``SCALAR_DIGITS``
significant digits (what :meth:`Explorer.scalar` returns). :meth:`Explorer.to_html`
writes the embed: a container, the data as JSON and two ``<script>`` tags that load
``d3-explorers.min.mjs`` and ``explorers.mjs`` from the book's ``_static/explorers/``
(classic scripts, named ``.mjs`` because Jupyter Book 1 adds every ``*.js`` under
``_static/`` to every page, and only the pages with an explorer need them; their
styles, ``explorers.css``, are small and Jupyter Book adds them to every page).
"""

from __future__ import annotations

import base64
import dataclasses
import html
import itertools
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import validate_int, validate_real

__all__ = [
    "Control",
    "Explorer",
    "adam_explorer",
    "adam_step_lengths",
    "error_factor",
    "first_step_below",
    "initialization_explorer",
    "layer_stds",
    "loss_panel",
    "momentum_explorer",
    "noise_floors",
    "path_panel",
    "schedule_explorer",
    "stability_limit",
    "warmup_schedule",
]

#: significant digits of the scalars (readouts, marks) written into the page
SCALAR_DIGITS = 4
#: a run counts as diverged once its loss exceeds this; later values are stored as NaN
DIVERGED = 1e8
METHODS = ("heavy ball", "Nesterov")
_STATIC = ("_static", "explorers")


# --------------------------------------------------------------------------- theory


def stability_limit(method: str, beta: float, curvature: float) -> float:
    r"""The largest stable learning rate of gradient descent with momentum on a quadratic.

    Along an eigendirection of curvature :math:`\lambda` the error follows a two-term
    recursion, which converges for :math:`\eta` below

    .. math::

        \eta_{\text{heavy ball}} = \frac{2(1+\beta)}{\lambda}, \qquad
        \eta_{\text{Nesterov}} = \frac{2(1+\beta)}{(1+2\beta)\,\lambda},

    both :math:`2/\lambda` (gradient descent) at :math:`\beta = 0`.
    """
    _validate_method(method)
    beta = validate_real("beta", beta, low=0.0, high=1.0, high_open=True)
    curvature = validate_real("curvature", curvature, low=0.0, low_open=True)
    if method == "Nesterov":
        return 2 * (1 + beta) / ((1 + 2 * beta) * curvature)
    return 2 * (1 + beta) / curvature


def error_factor(method: str, lr: float, beta: float, curvature) -> np.ndarray:
    r"""How much the error along a direction of curvature :math:`\lambda` shrinks per step.

    The error :math:`e_t` of the heavy ball obeys :math:`e_{t+1} = (1 + \beta - \eta\lambda)
    e_t - \beta e_{t-1}`, Nesterov's :math:`e_{t+1} = (1+\beta)(1-\eta\lambda) e_t -
    \beta(1-\eta\lambda) e_{t-1}`. The factor is the largest modulus of the roots of the
    recursion's characteristic polynomial: below 1 the error shrinks (like factor\
    :sup:`t`), above 1 it grows. ``curvature`` may be an array; the result has its shape.
    """
    _validate_method(method)
    lr = validate_real("lr", lr, low=0.0)
    beta = validate_real("beta", beta, low=0.0, high=1.0, high_open=True)
    lam = np.asarray(curvature, dtype=np.float64)
    if method == "Nesterov":
        b, c = (1 + beta) * (1 - lr * lam), beta * (1 - lr * lam)
    else:
        b, c = 1 + beta - lr * lam, beta * np.ones_like(lam)
    # roots of z^2 - b z + c = 0
    disc = (b * b - 4 * c).astype(np.complex128)
    roots = np.stack([(b + np.sqrt(disc)) / 2, (b - np.sqrt(disc)) / 2])
    return np.abs(roots).max(axis=0)


def first_step_below(losses, target: float) -> int | None:
    """The first step after which every loss stays below ``target`` (None if it never does).

    NaN and infinite losses count as not below the target.
    """
    losses = np.asarray(losses, dtype=np.float64)
    above = np.nonzero(~(losses < target))[0]
    t = 0 if above.size == 0 else int(above[-1]) + 1
    return t if t < len(losses) else None


def _limit_key(method: str) -> str:
    """The scalar holding a method's stability limit: "limit_heavy_ball", "limit_nesterov"."""
    return "limit_" + method.replace(" ", "_").lower()


def _validate_method(method):
    if method not in METHODS:
        raise ValueError(f"Invalid method: {method!r} (expected one of {METHODS})")


# --------------------------------------------------------------------------- the explorer


@dataclass(frozen=True)
class Control:
    """One slider (``kind="range"``) or one set of radio buttons (``kind="choice"``).

    ``values`` are what the experiment receives; ``labels`` what the page shows (by
    default the values formatted with ``fmt``); ``initial`` is the value shown first.
    """

    name: str
    label: str
    values: tuple
    initial: object
    kind: str = "range"
    fmt: str = "{:g}"
    labels: tuple = ()

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"Invalid control name: {self.name!r} (expected an identifier)")
        if self.kind not in ("range", "choice"):
            raise ValueError(f"Invalid kind: {self.kind!r} (expected 'range' or 'choice')")
        values = tuple(self.values)
        if len(values) < 2:
            raise ValueError(f"control {self.name!r} needs at least two values, got {values}")
        object.__setattr__(self, "values", values)
        if self.initial not in values:
            raise ValueError(
                f"initial value of {self.name!r} must be one of {values}, got {self.initial!r}"
            )
        labels = tuple(self.labels) or tuple(
            v if isinstance(v, str) else self.fmt.format(v) for v in values
        )
        if len(labels) != len(values):
            raise ValueError(
                f"control {self.name!r}: {len(labels)} labels for {len(values)} values"
            )
        object.__setattr__(self, "labels", labels)

    def index(self, value) -> int:
        for i, v in enumerate(self.values):
            if v == value or (
                isinstance(v, float)
                and isinstance(value, int | float)
                and math.isclose(v, value, rel_tol=1e-12)
            ):
                return i
        raise ValueError(f"Invalid {self.name}: {value!r} (expected one of {self.values})")


@dataclass
class Explorer:
    """A grid of precomputed cases and the description of how the page draws them.

    ``arrays[key]`` has shape ``(num_cases, n)`` (or ``(num_cases, n, 2)`` for paths);
    ``scalars[key]`` shape ``(num_cases,)``. Cases are ordered like
    ``itertools.product`` over the controls' values. ``panels``, ``readouts`` and
    ``marks`` are the drawing instructions ``explorers.js`` reads (plain JSON).
    """

    name: str
    controls: list[Control]
    arrays: dict[str, np.ndarray]
    scalars: dict[str, np.ndarray]
    panels: list[dict]
    readouts: list[dict]
    marks: dict[str, list[dict]] = field(default_factory=dict)

    @property
    def num_cases(self) -> int:
        return math.prod(len(c.values) for c in self.controls)

    def case_index(self, **settings) -> int:
        """The position of a case, from one value per control."""
        names = [c.name for c in self.controls]
        if set(settings) != set(names):
            raise ValueError(
                f"settings must name exactly the controls {names}, got {sorted(settings)}"
            )
        index = 0
        for control in self.controls:
            index = index * len(control.values) + control.index(settings[control.name])
        return index

    def array(self, key: str, **settings) -> np.ndarray:
        """An array of one case, as the browser receives it (float32, then float64)."""
        if key not in self.arrays:
            raise KeyError(f"no array {key!r}; the explorer has {sorted(self.arrays)}")
        return _as_float32(self.arrays[key][self.case_index(**settings)]).astype(np.float64)

    def scalar(self, key: str, **settings) -> float:
        """A scalar of one case, rounded as the page shows it (NaN for "none")."""
        if key not in self.scalars:
            raise KeyError(f"no scalar {key!r}; the explorer has {sorted(self.scalars)}")
        value = _round(self.scalars[key][self.case_index(**settings)])
        return math.nan if value is None else value

    def payload(self) -> dict:
        """Everything the browser needs, as JSON-ready data."""
        for key, values in self.arrays.items():
            if values.shape[0] != self.num_cases:
                raise ValueError(
                    f"array {key!r} has {values.shape[0]} cases, expected {self.num_cases}"
                )
        return {
            "name": self.name,
            "controls": [
                {
                    "name": c.name,
                    "label": c.label,
                    "kind": c.kind,
                    "labels": list(c.labels),
                    "values": [v if isinstance(v, str) else _round(v) for v in c.values],
                    "initial": c.index(c.initial),
                }
                for c in self.controls
            ],
            "cases": self.num_cases,
            "arrays": {
                key: {
                    "shape": list(values.shape[1:]),
                    "data": base64.b64encode(_as_float32(values).tobytes()).decode("ascii"),
                }
                for key, values in self.arrays.items()
            },
            "scalars": {key: [_round(v) for v in values] for key, values in self.scalars.items()},
            "panels": self.panels,
            "readouts": self.readouts,
            "marks": self.marks,
        }

    def to_html(self, static_url: str | None = None) -> str:
        """The embed: container, data and the scripts that draw it.

        ``static_url`` is the URL of the book's ``_static/explorers`` folder relative to
        the page; by default it is found from the working directory (a page executes in
        its own folder). Outside the book the explorer shows a note instead.
        """
        if static_url is None:
            static_url = book_static_url()
        data = json.dumps(self.payload(), separators=(",", ":"), allow_nan=False)
        data = data.replace("</", "<\\/")  # cannot close the <script> element early
        element = f"dlopt-explorer-{self.name}"
        fallback = (
            "This explorer is drawn in the browser by the course website "
            "(JavaScript); the static figure above shows its starting point."
        )
        parts = [
            f'<div class="dlopt-explorer" id="{element}" data-explorer="{self.name}">',
            f'<p class="dlopt-explorer-fallback">{html.escape(fallback)}</p>',
            f'<script type="application/json" class="dlopt-explorer-data">{data}</script>',
            "</div>",
        ]
        if static_url:
            parts += [
                f'<script src="{static_url}/d3-explorers.min.mjs"></script>',
                f'<script src="{static_url}/explorers.mjs"></script>',
            ]
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html()

    def nbytes(self) -> int:
        """Size of the embed in bytes: what the explorer adds to its page."""
        return len(self.to_html(static_url="").encode())

    def size_report(self) -> str:
        """One line for the build log: cases and kilobytes."""
        return (
            f"explorer {self.name!r}: {self.num_cases} cases, "
            f"{self.nbytes() / 1000:.0f} kB in the page"
        )


def book_static_url(start: str | os.PathLike | None = None) -> str | None:
    """The relative URL from a page's folder to ``_static/explorers`` of its book.

    Walks up from ``start`` (the working directory) to the folder that holds
    ``_config.yml`` and ``_static/explorers``; None when there is none.
    """
    here = Path(start or os.getcwd()).resolve()
    for level, folder in enumerate([here, *here.parents]):
        if (folder / "_config.yml").is_file() and folder.joinpath(*_STATIC).is_dir():
            return "/".join([".."] * level + list(_STATIC))
    return None


def _as_float32(values) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(values, dtype="<f4")


def _round(value):
    """A finite float rounded to SCALAR_DIGITS significant digits, or None."""
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{SCALAR_DIGITS}g}")


def run_grid(controls: Sequence[Control], experiment: Callable[..., Mapping]) -> tuple:
    """Run ``experiment(**settings)`` for every case; stack its outputs.

    The experiment returns a mapping of arrays (same shape in every case) and
    scalars; the result is ``(arrays, scalars)`` as :class:`Explorer` stores them.
    """
    results = [
        experiment(**dict(zip([c.name for c in controls], combo)))
        for combo in itertools.product(*(c.values for c in controls))
    ]
    arrays, scalars = {}, {}
    for key, first in results[0].items():
        column = [r[key] for r in results]
        if np.ndim(first) == 0:
            scalars[key] = np.array([np.nan if v is None else v for v in column], dtype=float)
        else:
            arrays[key] = np.stack([np.asarray(v, dtype=np.float64) for v in column])
    return arrays, scalars


def _until_diverged(losses: np.ndarray, *others: np.ndarray):
    """NaN from the first step whose loss exceeds DIVERGED (or is not finite) on."""
    bad = ~(losses <= DIVERGED)
    if bad.any():
        first = int(np.argmax(bad))
        losses = losses.copy()
        losses[first:] = np.nan
        others = tuple(_nan_from(o, first) for o in others)
    return (losses, *others)


def _nan_from(a: np.ndarray, first: int) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a[first:] = np.nan
    return a


def contour_lines(landscape, levels, n: int = 60, decimals: int = 2) -> list[dict]:
    """Contour polylines of a landscape over its bounds, as ``{"level", "points"}`` dicts.

    ``points`` is a flat list ``[x0, y0, x1, y1, ...]`` rounded to ``decimals``.
    """
    import contourpy

    X, Y, Z = landscape.grid(n)
    generator = contourpy.contour_generator(X, Y, Z)
    lines = []
    for level in levels:
        for line in generator.lines(float(level)):
            if len(line) >= 2:
                lines.append(
                    {"level": _round(level), "points": np.round(line, decimals).ravel().tolist()}
                )
    return lines


# --------------------------------------------------------------------------- panels

GREY, BLUE, RED = "#7F7F7F", "#0072B2", "#D55E00"


def path_panel(
    landscape,
    path_steps: int,
    reference: Mapping | None = None,
    *,
    levels=None,
    current: str = "current setting",
) -> dict:
    """A path on the landscape's contour lines: the array ``path`` of the current case, and
    of a reference case (``reference["override"]`` fixes some controls) drawn dashed."""
    if levels is None:
        levels = np.geomspace(0.25, float(landscape.value(landscape.start)) * 1.5, 9)
    (xmin, xmax), (ymin, ymax) = landscape.bounds
    series = [{"array": "path", "label": current, "color": BLUE, "markers": True}]
    if reference:
        series.insert(0, {"array": "path", "dash": True, **reference})
    minima = np.asarray(landscape.minima).reshape(-1, 2)
    return {
        "kind": "xy",
        "title": f"path, first {path_steps} steps",
        "aspect": "equal",
        "x": {"label": "x", "domain": [xmin, xmax]},
        "y": {"label": "y", "domain": [ymin, ymax]},
        "background": contour_lines(landscape, levels),
        "points": [{"x": float(x), "y": float(y), "label": "minimum"} for x, y in minima],
        "series": series,
    }


def loss_panel(
    loss_steps: int,
    reference: Mapping | None = None,
    *,
    target: float | None = None,
    domain=(1e-8, 1e4),
    current: str = "current setting",
) -> dict:
    """The array ``loss`` of the current case (and of a reference case) on a log scale."""
    series = [{"array": "loss", "label": current, "color": BLUE}]
    if reference:
        series.insert(0, {"array": "loss", "dash": True, **reference})
    return {
        "kind": "curve",
        "title": "loss after each step",
        "x": {"label": "step t", "domain": [0, loss_steps]},
        "y": {"label": "loss", "scale": "log", "domain": list(domain)},
        "hlines": [] if target is None else [{"y": target, "label": f"{target:g}"}],
        "series": series,
    }


def _run_rule(landscape, rule, steps: int, **hyperparameters) -> tuple[np.ndarray, np.ndarray]:
    """(path, loss) of ``steps`` steps of a ``dlopt.rules`` update from the landscape's start;
    NaN from the step where the run passed DIVERGED on."""
    theta, state = np.array(landscape.start, dtype=np.float64), {}
    path = np.full((steps + 1, 2), np.nan)
    path[0] = theta
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, steps + 1):
            rule(theta, landscape.grad(theta), state, **hyperparameters)
            path[t] = theta
            if not np.all(np.abs(theta) < 1e6):
                break
        loss = np.asarray(landscape.value(path), dtype=np.float64)
    return _until_diverged(loss, path)[::-1]


# --------------------------------------------------------------------------- momentum


def noise_floors(
    landscape,
    lrs,
    beta: float,
    method: str,
    sigma: float,
    *,
    seed: int = 0,
    steps: tuple[int, int] = (1000, 2000),
) -> np.ndarray:
    r"""The loss at which noisy gradient descent with momentum levels off, for several rates.

    Runs ``dlopt.rules.sgd`` on one copy of the problem per learning rate at once (one
    row of :math:`\theta` per rate), with gradients carrying Gaussian noise of standard
    deviation ``sigma`` per coordinate, and returns each copy's mean loss over steps
    ``steps[0] + 1`` to ``steps[1]``: by then the start is forgotten, and what is left is
    the floor that the noise keeps the loss at. NaN where a run diverged.
    """
    from .rules import sgd

    first, last = (
        validate_int("steps[0]", steps[0], low=0),
        validate_int("steps[1]", steps[1], low=1),
    )
    if last <= first:
        raise ValueError(f"Invalid steps: {steps} (expected first < last)")
    lrs = np.asarray(lrs, dtype=np.float64)
    noisy = dataclasses.replace(landscape, noise=validate_real("sigma", sigma, low=0.0))
    rng = np.random.default_rng(seed)
    theta = np.tile(np.asarray(landscape.start, dtype=np.float64), (len(lrs), 1))
    state: dict = {}
    total = np.zeros(len(lrs))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, last + 1):
            g = noisy.stochastic_grad(theta, rng=rng) if sigma > 0 else landscape.grad(theta)
            sgd(
                theta,
                g,
                state,
                lr=lrs[:, None],
                momentum=beta,
                nesterov=method == "Nesterov" and beta > 0,
            )
            if t > first:
                total += landscape.value(theta)
    floors = total / (last - first)
    floors[~(floors <= DIVERGED)] = np.nan
    return floors


def _noise_floors(landscape, controls, noise, seed, steps) -> np.ndarray:
    """noise_floors for every case of a momentum grid, in the grid's case order."""
    names = [c.name for c in controls]
    lrs = controls[names.index("lr")].values
    table = {}
    other = [c for c in controls if c.name != "lr"]
    for combo in itertools.product(*(c.values for c in other)):
        setting = dict(zip([c.name for c in other], combo))
        batch = setting.get("batch", "full")
        sigma = 0.0 if batch == "full" else noise / math.sqrt(batch)
        floors = noise_floors(
            landscape,
            lrs,
            setting["beta"],
            setting.get("method", METHODS[0]),
            sigma,
            seed=seed,
            steps=steps,
        )
        for lr, value in zip(lrs, floors):
            table[tuple((lr if name == "lr" else setting[name]) for name in names)] = value
    return np.array([table[combo] for combo in itertools.product(*(c.values for c in controls))])


def momentum_explorer(
    landscape,
    *,
    lrs: Sequence[float],
    betas: Sequence[float],
    methods: Sequence[str] = METHODS,
    batch_sizes: Sequence[int | str] | None = None,
    noise: float = 0.0,
    initial: Mapping | None = None,
    path_steps: int = 60,
    loss_steps: int = 120,
    target: float = 1e-3,
    seed: int = 0,
    floor_steps: tuple[int, int] = (1000, 2000),
    name: str = "momentum",
    levels=None,
) -> Explorer:
    r"""Gradient descent with momentum on a quadratic landscape, over a grid of settings.

    Controls: the learning rate :math:`\eta` (``lrs``), the momentum :math:`\beta`
    (``betas``; 0 is plain gradient descent), the method when ``methods`` has two (heavy
    ball or Nesterov, as ``dlopt.optim_numpy.SGD`` runs them), and with ``batch_sizes``
    a mini-batch size :math:`B`: each gradient then carries Gaussian noise of standard deviation
    ``noise`` :math:`/\sqrt{B}` per coordinate (the landscape's ``stochastic_grad``;
    ``"full"`` means no noise). Every case draws the same noise (one seed), so moving a
    slider changes only what the slider changes.

    Each case stores the path (``path_steps`` steps), the loss (``loss_steps``), the
    error factor per step along every curvature of a grid (``factor_curve``) and at the
    landscape's two eigenvalues, the stability limit of its method and :math:`\beta`,
    and readouts: the final loss and the step after which the loss stays below
    ``target``. With noise, also the noise floor: the mean loss over steps
    ``floor_steps`` of a longer run of the same setting (see :func:`noise_floors`).
    """
    from .optim_numpy import SGD

    curvatures = np.linalg.eigvalsh(np.asarray(landscape.hessian(landscape.start)))
    lam_min, lam_max = float(curvatures[0]), float(curvatures[-1])
    path_steps = validate_int("path_steps", path_steps, low=1)
    loss_steps = validate_int("loss_steps", loss_steps, low=path_steps)
    noise = validate_real("noise", noise, low=0.0)
    for method in methods:
        _validate_method(method)
    lam_grid = np.linspace(0.0, 1.2 * lam_max, 31)

    controls = [
        Control(
            "lr",
            "learning rate η",
            tuple(float(v) for v in lrs),
            (initial or {}).get("lr", lrs[len(lrs) // 2]),
            fmt="{:.3f}",
        ),
        Control(
            "beta",
            "momentum β",
            tuple(float(v) for v in betas),
            (initial or {}).get("beta", betas[-1]),
            fmt="{:.2f}",
        ),
    ]
    if len(methods) > 1:
        controls.append(
            Control(
                "method",
                "method",
                tuple(methods),
                (initial or {}).get("method", methods[0]),
                kind="choice",
            )
        )
    if batch_sizes is not None:
        if noise <= 0:
            raise ValueError("batch_sizes needs a positive noise (the gradient noise of B = 1)")
        controls.append(
            Control(
                "batch",
                "batch size B",
                tuple(batch_sizes),
                (initial or {}).get("batch", batch_sizes[-1]),
            )
        )

    def experiment(lr, beta, method=methods[0], batch="full"):
        sigma = 0.0 if batch == "full" else noise / math.sqrt(batch)
        noisy = dataclasses.replace(landscape, noise=sigma)
        rng = np.random.default_rng(seed)
        theta = np.array(landscape.start, dtype=float)
        optimizer = SGD([theta], lr=lr, momentum=beta, nesterov=(method == "Nesterov" and beta > 0))
        path = [theta.copy()]
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(loss_steps):
                g = noisy.stochastic_grad(theta, rng=rng) if sigma > 0 else landscape.grad(theta)
                optimizer.step([g])
                path.append(theta.copy())
                if not np.all(np.abs(theta) < 1e6):
                    path.extend([np.full(2, np.nan)] * (loss_steps + 1 - len(path)))
                    break
            path = np.array(path)
            loss = np.asarray(landscape.value(path), dtype=float)
        loss, path = _until_diverged(loss, path)
        factors = error_factor(method, lr, beta, lam_grid)
        return {
            "path": path[: path_steps + 1],
            "loss": loss,
            "factor_curve": np.minimum(factors, 10.0),
            "factor_flat": error_factor(method, lr, beta, lam_min),
            "factor_steep": error_factor(method, lr, beta, lam_max),
            "limit": stability_limit(method, beta, lam_max),
            "limit_gd": 2 / lam_max,
            **{_limit_key(m): stability_limit(m, beta, lam_max) for m in methods},
            "loss_final": loss[-1],
            "settles": first_step_below(loss, target),
        }

    arrays, scalars = run_grid(controls, experiment)
    if batch_sizes is not None:
        scalars["floor"] = _noise_floors(landscape, controls, noise, seed, floor_steps)
    reference = {"label": "gradient descent (β = 0)", "color": GREY, "override": {"beta": 0}}
    panels = [
        path_panel(landscape, path_steps, reference, levels=levels),
        loss_panel(loss_steps, reference, target=target),
        {
            "kind": "curve",
            "title": "error factor per step, by curvature λ",
            "x": {
                "label": "curvature λ",
                "domain": [0, float(lam_grid[-1])],
                "values": np.round(lam_grid, 6).tolist(),
            },
            "y": {"label": "factor per step", "domain": [0, 1.6]},
            "hlines": [{"y": 1.0, "label": "above 1 the error grows", "below": False}],
            "series": [{"array": "factor_curve", "label": "current setting", "color": "#0072B2"}],
            "dots": [
                {"x": lam_min, "scalar": "factor_flat", "label": f"λ = {lam_min:g}"},
                {
                    "x": lam_max,
                    "scalar": "factor_steep",
                    "label": f"λ = {lam_max:g}",
                    "anchor": "end",
                },
            ],
        },
    ]
    readouts = [
        {
            "scalar": "factor_flat",
            "label": f"error factor per step, flat direction (λ = {lam_min:g})",
            "format": ".3f",
        },
        {
            "scalar": "factor_steep",
            "label": f"error factor per step, steep direction (λ = {lam_max:g})",
            "format": ".3f",
        },
        {"scalar": "limit", "label": "stability limit of η for this method and β", "format": ".4f"},
        {
            "scalar": "loss_final",
            "label": f"loss after {loss_steps} steps",
            "format": ".2e",
            "none": "diverged",
        },
        {
            "scalar": "settles",
            "label": f"stays below {target:g} from step",
            "format": "d",
            "none": f"not within {loss_steps} steps",
        },
    ]
    if batch_sizes is not None:
        first, last = floor_steps
        readouts.insert(
            4,
            {
                "scalar": "floor",
                "label": f"noise floor: mean loss over steps {first}-{last}",
                "format": ".2e",
                "none": "diverged",
            },
        )
    # ticks at gradient descent's limit and at each method's limit for the current beta; the
    # hatched zone starts at the limit of the current method
    marks = {
        "lr": [
            {"scalar": "limit_gd", "label": "2/λmax"},
            *({"scalar": _limit_key(m), "label": m} for m in methods),
            {
                "scalar": "limit",
                "hidden": True,
                "zone": "Above the limit of the chosen method (hatched) the run diverges.",
            },
        ]
    }
    return Explorer(name, controls, arrays, scalars, panels, readouts, marks)


# --------------------------------------------------------------------------- Adam


def adam_step_lengths(beta1s, beta2s, epss, *, bias_correction: bool, steps: int) -> np.ndarray:
    r"""Length of Adam's step :math:`t` divided by :math:`\eta`, for a constant gradient 1.

    One ``dlopt.rules.adam`` run per setting, all at once (one row per setting of the
    broadcast arrays ``beta1s``, ``beta2s``, ``epss``); returns shape ``(settings, steps)``.
    With bias correction and a small :math:`\epsilon` every step is :math:`\eta`; without,
    step :math:`t` is :math:`(1-\beta_1^t)/\sqrt{1-\beta_2^t}` times :math:`\eta`.
    """
    from .rules import adam

    steps = validate_int("steps", steps, low=1)
    b1, b2, eps = (
        np.asarray(a, dtype=np.float64).reshape(-1, 1)
        for a in np.broadcast_arrays(beta1s, beta2s, epss)
    )
    theta, state = np.zeros_like(b1), {}
    gradient = np.ones_like(b1)
    lengths = np.empty((len(b1), steps))
    for t in range(steps):
        before = theta.copy()
        adam(
            theta,
            gradient,
            state,
            lr=1.0,
            beta1=b1,
            beta2=b2,
            eps=eps,
            bias_correction=bias_correction,
        )
        lengths[:, t] = np.abs(theta - before)[:, 0]
    return lengths


def adam_explorer(
    landscape,
    *,
    lr: float,
    beta1s: Sequence[float],
    beta2s: Sequence[float],
    epss: Sequence[float],
    initial: Mapping | None = None,
    path_steps: int = 60,
    loss_steps: int = 120,
    first_steps: int = 20_000,
    samples: int = 60,
    name: str = "adam",
) -> Explorer:
    r"""Adam with its hyperparameters :math:`\beta_1, \beta_2, \epsilon` and the bias
    correction switched on or off, over a grid of settings.

    Each case stores Adam's run on ``landscape`` with learning rate ``lr``
    (``dlopt.rules.adam``: the path, the loss) and, for a constant gradient 1, the length
    of its step :math:`t` divided by :math:`\eta` at ``samples`` steps spaced
    geometrically from 1 to ``first_steps`` (:func:`adam_step_lengths`). Readouts: the
    first step, the longest step and when it happens, the largest loss of the run and the
    final loss.
    """
    from .rules import adam

    lr = validate_real("lr", lr, low=0.0, low_open=True)
    initial = dict(initial or {})
    controls = [
        Control(
            "beta1",
            "β1 (average of the gradients)",
            tuple(map(float, beta1s)),
            initial.get("beta1", 0.9),
            fmt="{:g}",
        ),
        Control(
            "beta2",
            "β2 (average of their squares)",
            tuple(map(float, beta2s)),
            initial.get("beta2", 0.999),
            fmt="{:g}",
        ),
        Control("eps", "ε", tuple(map(float, epss)), initial.get("eps", epss[0]), fmt="{:.0e}"),
        Control("bias", "bias correction", ("on", "off"), initial.get("bias", "on"), kind="choice"),
    ]
    when = np.unique(np.geomspace(1, first_steps, samples).round().astype(int))
    grid = list(itertools.product(beta1s, beta2s, epss))
    lengths = {
        flag: adam_step_lengths(*np.array(grid).T, bias_correction=flag == "on", steps=first_steps)
        for flag in ("on", "off")
    }
    row = {setting: i for i, setting in enumerate(grid)}

    def experiment(beta1, beta2, eps, bias):
        path, loss = _run_rule(
            landscape,
            adam,
            loss_steps,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            bias_correction=bias == "on",
        )
        steps_over_lr = lengths[bias][row[beta1, beta2, eps]]
        early = steps_over_lr[:1000]
        return {
            "path": path[: path_steps + 1],
            "loss": loss,
            "step_lengths": steps_over_lr[when - 1],
            "first_step": steps_over_lr[0],
            "longest_step": early.max(),
            # the first of the longest steps (with the correction, all are equal up to round-off)
            "longest_at": int(np.argmax(early >= early.max() * (1 - 1e-9))) + 1,
            "loss_max": np.nanmax(loss) if np.isfinite(loss).all() else math.nan,
            "loss_final": loss[-1],
        }

    arrays, scalars = run_grid(controls, experiment)
    reference = {"label": "with bias correction", "color": GREY, "override": {"bias": "on"}}
    panels = [
        {
            "kind": "curve",
            "title": "first steps: length of step t / η, constant gradient 1",
            "x": {
                "label": "step t",
                "scale": "log",
                "domain": [1, first_steps],
                "values": when.tolist(),
            },
            "y": {"label": "step length / η", "scale": "log", "domain": [0.01, 30]},
            "hlines": [{"y": 1.0, "label": "η"}],
            "series": [
                {"array": "step_lengths", "dash": True, **reference},
                {"array": "step_lengths", "label": "current setting", "color": BLUE},
            ],
        },
        path_panel(landscape, path_steps, reference),
        loss_panel(loss_steps, reference, domain=(1e-10, 1e4)),
    ]
    readouts = [
        {"scalar": "first_step", "label": "first step / η (constant gradient)", "format": ".3f"},
        {"scalar": "longest_step", "label": "longest of the first 1000 steps / η", "format": ".3f"},
        {"scalar": "longest_at", "label": "... taken at step", "format": "d"},
        {
            "scalar": "loss_max",
            "label": f"largest loss on the landscape (η = {lr:g})",
            "format": ".3g",
            "none": "diverged",
        },
        {
            "scalar": "loss_final",
            "label": f"loss after {loss_steps} steps",
            "format": ".2e",
            "none": "diverged",
        },
    ]
    return Explorer(name, controls, arrays, scalars, panels, readouts)


# --------------------------------------------------------------------------- schedules

SHAPES = ("constant", "step", "cosine")


def warmup_schedule(shape: str, warmup: int, cycles: int, steps: int):
    r"""A ``dlopt.schedules`` schedule: linear warm-up, then ``cycles`` equal decay cycles.

    The warm-up rises as :math:`\eta_0 (t+1)/(W+1)` for :math:`t < W` (as in
    ``WarmupCosineSchedule``). The remaining ``steps - warmup`` steps are split into
    ``cycles`` cycles (the last takes the remainder), each restarting at :math:`\eta_0`
    and decaying by ``shape``: ``"constant"`` (no decay), ``"step"`` (a factor 0.1 halfway
    through the cycle) or ``"cosine"`` (to 0 at the end of the cycle, as in SGDR).
    """
    from . import schedules

    if shape not in SHAPES:
        raise ValueError(f"Invalid shape: {shape!r} (expected one of {SHAPES})")
    steps = validate_int("steps", steps, low=2)
    warmup = validate_int("warmup", warmup, low=0)
    cycles = validate_int("cycles", cycles, low=1)
    if steps - warmup < 2 * cycles:
        raise ValueError(
            f"Invalid warmup and cycles: {warmup} and {cycles} leave too few of "
            f"the {steps} steps (expected at least 2 per cycle)"
        )
    length = (steps - warmup) // cycles
    lengths = [length] * (cycles - 1) + [steps - warmup - length * (cycles - 1)]

    def decay(n):
        if shape == "cosine":
            return schedules.CosineAnnealingSchedule(T_max=n)
        if shape == "step":
            return schedules.StepSchedule(step_size=max(n // 2, 1), gamma=0.1)
        return schedules.ConstantSchedule(scale=1.0, total_iters=1)

    phases = [decay(n) for n in lengths]
    starts = list(itertools.accumulate(lengths[:-1], initial=warmup))
    if warmup > 0:
        phases.insert(0, schedules.LinearSchedule(1.0 / (warmup + 1), 1.0, warmup))
    else:
        starts = starts[1:]
    if len(phases) == 1:
        return phases[0]
    return schedules.SequentialSchedule(tuple(phases), tuple(starts))


def schedule_explorer(
    run: Callable[[np.ndarray], Mapping],
    *,
    base_lr: float,
    steps: int,
    warmups: Sequence[int],
    shapes: Sequence[str] = SHAPES,
    cycles: Sequence[int] = (1, 2, 3),
    initial: Mapping | None = None,
    readouts: Sequence[dict] = (),
    loss_domain=(1e-2, 10.0),
    name: str = "schedules",
) -> Explorer:
    r"""Learning-rate schedules side by side with the training they give.

    For every warm-up length, decay shape and number of cycles, builds the schedule
    (:func:`warmup_schedule`), computes its rates :math:`\eta_0, \dots, \eta_{T-1}` with
    ``lrs(base_lr, steps)`` and calls ``run(lrs)``, which trains with those rates and
    returns ``{"loss": losses (steps + 1 values), ...scalars}``; runs whose rates are
    identical (a constant decay does not restart) are done once. ``readouts`` describe
    the run's scalars (``{"scalar", "label", "format"}``).
    """
    base_lr = validate_real("base_lr", base_lr, low=0.0, low_open=True)
    initial = dict(initial or {})
    controls = [
        Control(
            "warmup",
            "warm-up length W (steps)",
            tuple(int(w) for w in warmups),
            initial.get("warmup", warmups[0]),
        ),
        Control(
            "shape", "decay shape", tuple(shapes), initial.get("shape", shapes[-1]), kind="choice"
        ),
        Control(
            "cycles",
            "cycles (restarts + 1)",
            tuple(int(c) for c in cycles),
            initial.get("cycles", cycles[0]),
        ),
    ]
    done: dict[bytes, Mapping] = {}

    def experiment(warmup, shape, cycles):
        lrs = warmup_schedule(shape, warmup, cycles, steps).lrs(base_lr, steps)
        key = np.asarray(lrs, dtype=np.float64).tobytes()
        if key not in done:
            done[key] = dict(run(lrs))
        result = done[key]
        loss = np.asarray(result["loss"], dtype=np.float64)
        if loss.shape != (steps + 1,):
            raise ValueError(f"run must return {steps + 1} losses, got shape {loss.shape}")
        return {
            "lr_factor": np.asarray(lrs) / base_lr,
            "loss": loss,
            "loss_final": loss[-1],
            "lr_max": float(np.max(lrs)),
            **{k: v for k, v in result.items() if k != "loss"},
        }

    arrays, scalars = run_grid(controls, experiment)
    reference = {"label": "no warm-up", "color": GREY, "override": {"warmup": 0}}
    panels = [
        {
            "kind": "curve",
            "title": f"schedule: η_t / η0 (η0 = {base_lr:g})",
            "x": {"label": "step t", "domain": [0, steps]},
            "y": {"label": "η_t / η0", "domain": [0, 1.1]},
            "series": [
                {"array": "lr_factor", "dash": True, **reference},
                {"array": "lr_factor", "label": "current setting", "color": BLUE},
            ],
        },
        {
            "kind": "curve",
            "title": "training loss after each step",
            "x": {"label": "step t", "domain": [0, steps]},
            "y": {"label": "training loss", "scale": "log", "domain": list(loss_domain)},
            "series": [
                {"array": "loss", "dash": True, **reference},
                {"array": "loss", "label": "current setting", "color": BLUE},
            ],
        },
    ]
    shown = [
        {
            "scalar": "loss_final",
            "label": f"training loss after {steps} steps",
            "format": ".3f",
            "none": "diverged",
        },
        *readouts,
    ]
    return Explorer(name, controls, arrays, scalars, panels, list(shown))


# --------------------------------------------------------------------------- initialization


def layer_stds(
    activation,
    weights: Sequence[np.ndarray],
    x: np.ndarray,
    grad_top: np.ndarray,
    scales: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Standard deviations, layer by layer, of a deep network's signals at initialization.

    The network is a linear map :math:`h \mapsto h W^\top` (``dlopt.layers.Linear``
    without bias, written out so that no weight gradient is computed) followed by
    ``activation()`` (a ``dlopt.layers`` activation), for every weight matrix ``w``
    (shape ``(n_out, n_in)``). Returns the std of each layer's output :math:`h_l` on the
    input batch ``x`` and, sending ``grad_top`` down from the top, the std of
    :math:`\partial L/\partial h_l`; both have one value per layer, :math:`l = 1, \dots, L`.
    With ``scales``, layer :math:`l` uses the weights ``scales[l] * weights[l]`` (without
    making the scaled copies).
    """
    scales = np.ones(len(weights)) if scales is None else np.asarray(scales, dtype=np.float64)
    if len(scales) != len(weights):
        raise ValueError(
            f"scales must have one value per layer ({len(weights)}), got {len(scales)}"
        )
    h, forward, acts = np.asarray(x, dtype=np.float64), [], []
    for w, scale in zip(weights, scales):
        act = activation()
        h = act(scale * (h @ w.T))
        acts.append(act)
        forward.append(h.std())
    grad, backward = np.asarray(grad_top, dtype=np.float64), []
    for w, scale, act in zip(reversed(weights), reversed(scales), reversed(acts)):
        backward.append(grad.std())
        grad = scale * (act.backward(grad) @ w)
    return np.array(forward), np.array(backward[::-1])


def initialization_explorer(
    networks: Mapping[str, tuple[Sequence[np.ndarray], np.ndarray, np.ndarray]],
    *,
    gains: Sequence[float],
    activations: Mapping[str, type],
    modes: Sequence[str] = ("fan_in", "fan_out"),
    gain_labels: Sequence[str] = (),
    initial: Mapping | None = None,
    domain=(1e-15, 1e10),
    name: str = "initialization",
) -> Explorer:
    r"""Activation and gradient statistics through a deep network, over gains and fan modes.

    ``networks`` maps a name (the shape of the network, e.g. "constant width") to
    ``(standard_normals, x, grad_top)``: one standard normal matrix per layer (shape
    ``(n_out, n_in)``), an input batch and the gradient sent down from the top. For each
    gain :math:`g`, fan mode and activation, every matrix is scaled to the standard
    deviation :math:`g/\sqrt{n}` (``dlopt.init.kaiming_std`` with the linear gain, times
    :math:`g`; :math:`n` the fan of the mode) and :func:`layer_stds` measures the
    network. Each case stores the two curves and readouts: the ratio of the top layer's
    activation std to the first layer's, of the first layer's gradient std to the top
    layer's, and their geometric means per layer.
    """
    from . import init

    initial = dict(initial or {})
    names = tuple(networks)
    controls = [
        Control(
            "activation",
            "activation",
            tuple(activations),
            initial.get("activation", tuple(activations)[0]),
            kind="choice",
        ),
        Control(
            "gain",
            "gain g",
            tuple(float(g) for g in gains),
            initial.get("gain", gains[0]),
            fmt="{:.3g}",
            labels=tuple(gain_labels),
        ),
        Control("mode", "fan mode", tuple(modes), initial.get("mode", modes[0]), kind="choice"),
    ]
    if len(names) > 1:
        controls.append(
            Control(
                "network", "layer widths", names, initial.get("network", names[0]), kind="choice"
            )
        )
    done: dict = {}

    def experiment(activation, gain, mode, network=names[0]):
        normals, x, grad_top = networks[network]
        stds = tuple(
            gain * init.kaiming_std(z.shape, mode=mode, nonlinearity="linear") for z in normals
        )
        key = (activation, network, stds)
        if key not in done:
            done[key] = layer_stds(activations[activation], normals, x, grad_top, scales=stds)
        forward, backward = done[key]
        depth = len(forward)
        return {
            "forward": forward,
            "backward": backward,
            "forward_ratio": forward[-1] / forward[0],
            "backward_ratio": backward[0] / backward[-1],
            "forward_factor": (forward[-1] / forward[0]) ** (1 / (depth - 1)),
            "backward_factor": (backward[0] / backward[-1]) ** (1 / (depth - 1)),
            "first_std": stds[0],
        }

    arrays, scalars = run_grid(controls, experiment)
    depth = arrays["forward"].shape[1]
    layers = list(range(1, depth + 1))
    y_axis = {"scale": "log", "domain": list(domain)}
    panels = [
        {
            "kind": "curve",
            "title": "forward: std of the activations h_l",
            "x": {"label": "layer l", "domain": [1, depth], "values": layers},
            "y": {"label": "std of h_l", **y_axis},
            "hlines": [{"y": 1.0, "label": "1"}],
            "series": [
                {"array": "forward", "label": "current setting", "color": BLUE, "markers": True}
            ],
        },
        {
            "kind": "curve",
            "title": "backward: std of the gradients ∂L/∂h_l",
            "x": {"label": "layer l", "domain": [1, depth], "values": layers},
            "y": {"label": "std of ∂L/∂h_l", **y_axis},
            "hlines": [{"y": 1.0, "label": "1"}],
            "series": [
                {"array": "backward", "label": "current setting", "color": RED, "markers": True}
            ],
        },
    ]
    readouts = [
        {"scalar": "first_std", "label": "std of the first layer's weights", "format": ".4f"},
        {
            "scalar": "forward_ratio",
            "label": f"activations: std at layer {depth} / layer 1",
            "format": ".3~g",
        },
        {"scalar": "forward_factor", "label": "... per layer", "format": ".3f"},
        {
            "scalar": "backward_ratio",
            "label": f"gradients: std at layer 1 / layer {depth}",
            "format": ".3~g",
        },
        {"scalar": "backward_factor", "label": "... per layer", "format": ".3f"},
    ]
    return Explorer(name, controls, arrays, scalars, panels, readouts)
