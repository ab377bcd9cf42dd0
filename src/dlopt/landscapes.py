"""Classic 2-D test functions with exact gradients and Hessians.

A landscape is a function :math:`f(\\mathbf p)` of a point :math:`\\mathbf p = (x, y)`.
Every landscape gives its value, its gradient :math:`\\nabla f` and its Hessian
:math:`\\nabla^2 f` in closed form, the minimisers it is known for, plot bounds and
a starting point that makes a good race between optimizers.

The arithmetic uses only ``+ - * / **`` and ``exp``/``sin``/``cos`` dispatched
through :func:`_exp`, :func:`_sin`, :func:`_cos`, so the same formulas run on NumPy
arrays and on torch tensors: torch optimizers race on the very same functions,
with autograd providing their gradients.

Shapes: a point is an array of shape ``(2,)``; a batch is ``(..., 2)``.
``value`` returns shape ``(...)``, ``grad`` shape ``(..., 2)`` and ``hessian``
shape ``(..., 2, 2)``.

>>> f = rosenbrock()
>>> float(f.value([1.0, 1.0]))
0.0
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ._validation import validate_array, validate_choice, validate_real, validate_rng

__all__ = [
    "LANDSCAPES",
    "Landscape",
    "beale",
    "by_name",
    "himmelblau",
    "monkey_saddle",
    "noisy_bowl",
    "quadratic",
    "ravine",
    "rosenbrock",
    "saddle",
]


# --- array-library dispatch ------------------------------------------------------------


def _torch_of(x):
    """The torch module if ``x`` is a torch tensor, else None (torch is never imported here)."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and isinstance(x, torch.Tensor) else None


def _exp(x):
    torch = _torch_of(x)
    return torch.exp(x) if torch is not None else np.exp(x)


def _sin(x):
    torch = _torch_of(x)
    return torch.sin(x) if torch is not None else np.sin(x)


def _cos(x):
    torch = _torch_of(x)
    return torch.cos(x) if torch is not None else np.cos(x)


def _stack(items, axis: int):
    torch = _torch_of(items[0])
    return torch.stack(list(items), dim=axis) if torch is not None else np.stack(items, axis=axis)


def _components(p):
    """Split ``p`` of shape (..., 2) into its coordinates ``x`` and ``y``, each of shape (...)."""
    if _torch_of(p) is not None:
        shape = tuple(p.shape)
    else:
        p = validate_array("p", p)
        shape = p.shape
    if len(shape) == 0 or shape[-1] != 2:
        raise ValueError(f"p must have shape (2,) or (..., 2), got {shape}")
    return p[..., 0], p[..., 1]


def _read_only(a) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


# --- the landscape class ---------------------------------------------------------------

Bounds = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True, eq=False)
class Landscape:
    """A 2-D test function with its exact derivatives.

    ``fn(x, y)`` returns :math:`f`; ``grad_fn(x, y)`` returns the pair
    :math:`(\\partial_x f, \\partial_y f)`; ``hess_fn(x, y)`` returns the three distinct
    entries :math:`(\\partial_{xx} f, \\partial_{xy} f, \\partial_{yy} f)`. Use the methods
    :meth:`value`, :meth:`grad` and :meth:`hessian`, which take points.

    ``minima`` has shape (k, 2) and lists the known global minimisers (k = 0 when
    :math:`f` is unbounded below); ``min_value`` is :math:`f` there (None if unbounded).
    ``noise`` is the standard deviation used by :meth:`stochastic_grad`.
    """

    name: str
    title: str
    fn: Callable = field(repr=False)
    grad_fn: Callable = field(repr=False)
    hess_fn: Callable = field(repr=False)
    minima: np.ndarray
    min_value: float | None
    bounds: Bounds
    start: np.ndarray
    noise: float = 0.0

    def value(self, p):
        """:math:`f(\\mathbf p)`; ``p`` of shape (..., 2) gives shape (...)."""
        return self.fn(*_components(p))

    def grad(self, p):
        """:math:`\\nabla f(\\mathbf p)`; ``p`` of shape (..., 2) gives shape (..., 2)."""
        return _stack(self.grad_fn(*_components(p)), axis=-1)

    def hessian(self, p):
        """:math:`\\nabla^2 f(\\mathbf p)`; ``p`` of shape (..., 2) gives shape (..., 2, 2)."""
        hxx, hxy, hyy = self.hess_fn(*_components(p))
        return _stack([_stack([hxx, hxy], axis=-1), _stack([hxy, hyy], axis=-1)], axis=-2)

    def stochastic_grad(self, p, *, rng: np.random.Generator) -> np.ndarray:
        """A noisy gradient :math:`\\nabla f(\\mathbf p) + \\sigma\\,\\boldsymbol\\xi`,
        :math:`\\boldsymbol\\xi \\sim \\mathcal N(0, I)`, with :math:`\\sigma` = ``self.noise``.

        It mimics a mini-batch gradient: unbiased, with variance :math:`\\sigma^2` per
        coordinate. NumPy only; shape as :meth:`grad`.
        """
        rng = validate_rng(rng)
        g = np.asarray(self.grad(p))
        return g + self.noise * rng.standard_normal(g.shape)

    def grid(self, n: int = 200):
        """``(X, Y, Z)`` on an ``n`` by ``n`` grid over :attr:`bounds`, for contour plots."""
        (xmin, xmax), (ymin, ymax) = self.bounds
        X, Y = np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin, ymax, n))
        return X, Y, self.value(np.stack([X, Y], axis=-1))


# --- the functions ---------------------------------------------------------------------


def _constant(c: float, like):
    """``c`` broadcast to the shape (and array library) of ``like``."""
    return like * 0 + c


def quadratic(condition_number: float = 10.0, angle: float = 0.0, *, name="quadratic"):
    """Ill-conditioned quadratic :math:`f(\\mathbf p) = \\tfrac12 \\mathbf p^\\top A \\mathbf p`.

    :math:`A = R_\\varphi \\operatorname{diag}(1, \\kappa) R_\\varphi^\\top` with
    :math:`\\kappa` = ``condition_number`` and :math:`R_\\varphi` the rotation by
    :math:`\\varphi` = ``angle`` (radians): the valley's long axis (curvature 1) points
    along :math:`(\\cos\\varphi, \\sin\\varphi)`, its steep axis has curvature
    :math:`\\kappa`. Minimum 0 at the origin.
    """
    kappa = validate_real("condition_number", condition_number, low=1.0)
    phi = validate_real("angle", angle)
    c, s = math.cos(phi), math.sin(phi)
    # entries of R diag(1, kappa) R^T
    a = c * c + kappa * s * s
    b = (1.0 - kappa) * c * s
    d = s * s + kappa * c * c
    hx, hy = 5.0, 2.5  # half-widths of the plot box along the valley and across it
    box = ((abs(c) * hx + abs(s) * hy), (abs(s) * hx + abs(c) * hy))
    return Landscape(
        name=name,
        title=f"{name} (κ={kappa:g}, φ={phi:.2g})",
        fn=lambda x, y: 0.5 * (a * x**2 + 2 * b * x * y + d * y**2),
        grad_fn=lambda x, y: (a * x + b * y, b * x + d * y),
        hess_fn=lambda x, y: (_constant(a, x), _constant(b, x), _constant(d, x)),
        minima=_read_only([[0.0, 0.0]]),
        min_value=0.0,
        bounds=((-box[0], box[0]), (-box[1], box[1])),
        start=_read_only([c * -4.0 - s * 1.0, s * -4.0 + c * 1.0]),  # R (-4, 1)
    )


def ravine(condition_number: float = 50.0, angle: float = math.pi / 6):
    """A narrow, rotated valley: :func:`quadratic` with :math:`\\kappa = 50`,
    :math:`\\varphi = \\pi/6`. Rotated so that no per-coordinate (diagonal) step
    size can undo the ill-conditioning."""
    return quadratic(condition_number, angle, name="ravine")


def rosenbrock(a: float = 1.0, b: float = 100.0):
    """Rosenbrock's banana :math:`f(x, y) = (a - x)^2 + b\\,(y - x^2)^2`.

    Minimum 0 at :math:`(a, a^2)`, at the end of a curved, flat-bottomed valley.
    """
    a = validate_real("a", a)
    b = validate_real("b", b, low=0.0, low_open=True)
    s = max(1.0, abs(a))
    side = -1.0 if a >= 0 else 1.0  # start on the far side of the valley from the minimum
    return Landscape(
        name="rosenbrock",
        title=f"Rosenbrock (a={a:g}, b={b:g})",
        fn=lambda x, y: (a - x) ** 2 + b * (y - x**2) ** 2,
        grad_fn=lambda x, y: (-2 * (a - x) - 4 * b * x * (y - x**2), 2 * b * (y - x**2)),
        hess_fn=lambda x, y: (2 - 4 * b * y + 12 * b * x**2, -4 * b * x, _constant(2 * b, x)),
        minima=_read_only([[a, a * a]]),
        min_value=0.0,
        bounds=((-2.0 * s, 2.0 * s), (-1.0 * s * s, 3.0 * s * s)),
        start=_read_only([1.2 * side * s, s * s]),
    )


_BEALE_C = (1.5, 2.25, 2.625)


def _beale_value(x, y):
    return sum((c - x + x * y**i) ** 2 for i, c in enumerate(_BEALE_C, start=1))


def _beale_grad(x, y):
    # f = sum_i u_i^2 with u_i = c_i - x + x y^i
    gx = gy = 0
    for i, c in enumerate(_BEALE_C, start=1):
        u = c - x + x * y**i
        gx = gx + 2 * u * (y**i - 1)
        gy = gy + 2 * u * i * x * y ** (i - 1)
    return gx, gy


def _beale_hessian(x, y):
    hxx = hxy = hyy = 0
    for i, c in enumerate(_BEALE_C, start=1):
        u = c - x + x * y**i
        ux, uy = y**i - 1, i * x * y ** (i - 1)
        hxx = hxx + 2 * ux * ux
        hxy = hxy + 2 * (ux * uy + u * i * y ** (i - 1))
        # u_yy = i (i-1) x y^(i-2) vanishes for i = 1; skip it so y = 0 does not give 0 * inf
        uyy = i * (i - 1) * x * y ** (i - 2) if i >= 2 else 0
        hyy = hyy + 2 * (uy * uy + u * uyy)
    return hxx, hxy, hyy


def beale():
    """Beale's function :math:`f = \\sum_{i=1}^{3} (c_i - x + x y^i)^2`,
    :math:`c = (1.5, 2.25, 2.625)`. Minimum 0 at :math:`(3, 0.5)`; flat plateaus and
    steep walls (values up to ~1e5 in the plot box, so use log-spaced contours)."""
    return Landscape(
        name="beale",
        title="Beale",
        fn=_beale_value,
        grad_fn=_beale_grad,
        hess_fn=_beale_hessian,
        minima=_read_only([[3.0, 0.5]]),
        min_value=0.0,
        bounds=((-4.5, 4.5), (-4.5, 4.5)),
        start=_read_only([1.0, 1.5]),
    )


def _himmelblau_minima() -> np.ndarray:
    """The four zeros of Himmelblau's function, to full double precision.

    ``f = 0`` needs :math:`y = 11 - x^2` and :math:`x + y^2 = 7`, so :math:`x` is a
    real root of :math:`q(x) = x^4 - 22x^2 + x + 114`. ``np.roots`` finds them; two
    Newton steps on :math:`q` polish the last bits.
    """
    coeffs = [1.0, 0.0, -22.0, 1.0, 114.0]
    xs = np.sort(np.roots(coeffs).real)[::-1]
    dq = np.polyder(coeffs)
    for _ in range(2):
        xs = xs - np.polyval(coeffs, xs) / np.polyval(dq, xs)
    return np.stack([xs, 11.0 - xs**2], axis=-1)


def himmelblau():
    """Himmelblau's function :math:`f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2`.

    Four global minima, all with value 0; one is :math:`(3, 2)`, the other three are
    roots of a quartic (see :func:`_himmelblau_minima`). Which one an optimizer
    reaches depends on where it starts.
    """
    return Landscape(
        name="himmelblau",
        title="Himmelblau",
        fn=lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
        grad_fn=lambda x, y: (
            4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7),
            2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7),
        ),
        hess_fn=lambda x, y: (
            12 * x**2 + 4 * y - 42,
            4 * x + 4 * y,
            4 * x + 12 * y**2 - 26,
        ),
        minima=_read_only(_himmelblau_minima()),
        min_value=0.0,
        bounds=((-5.0, 5.0), (-5.0, 5.0)),
        start=_read_only([-0.3, -0.9]),  # near the central maximum: the racers split up
    )


def saddle(noise: float = 0.0):
    """The saddle :math:`f = x^2 - y^2`: a stationary point at the origin that is not a
    minimum. Unbounded below, so ``minima`` is empty and ``min_value`` is None.

    The start lies almost on the stable axis: plain gradient descent creeps towards the
    saddle and only leaves along :math:`y` as the tiny offset grows geometrically.
    ``noise`` is the standard deviation of :meth:`Landscape.stochastic_grad`, to show how
    gradient noise pushes SGD off the stable axis.
    """
    noise = validate_real("noise", noise, low=0.0)
    return Landscape(
        name="saddle",
        title="saddle $x^2 - y^2$",
        fn=lambda x, y: x**2 - y**2,
        grad_fn=lambda x, y: (2 * x, -2 * y),
        hess_fn=lambda x, y: (_constant(2.0, x), _constant(0.0, x), _constant(-2.0, x)),
        minima=_read_only(np.empty((0, 2))),
        min_value=None,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=_read_only([-1.5, 1e-3]),
        noise=noise,
    )


def monkey_saddle():
    """The monkey saddle :math:`f = x^3 - 3xy^2`: a degenerate stationary point (zero
    Hessian) at the origin with three descending valleys. Unbounded below: no minima."""
    return Landscape(
        name="monkey_saddle",
        title="monkey saddle $x^3 - 3xy^2$",
        fn=lambda x, y: x**3 - 3 * x * y**2,
        grad_fn=lambda x, y: (3 * x**2 - 3 * y**2, -6 * x * y),
        hess_fn=lambda x, y: (6 * x, -6 * y, -6 * x),
        minima=_read_only(np.empty((0, 2))),
        min_value=None,
        bounds=((-2.0, 2.0), (-2.0, 2.0)),
        start=_read_only([1.5, 0.2]),
    )


def noisy_bowl(noise: float = 1.0, amplitude: float = 0.25, frequency: float = 2 * math.pi):
    """A bumpy bowl :math:`f = \\tfrac12 (x^2 + y^2) + A\\,(2 - \\cos\\omega x - \\cos\\omega y)`.

    :math:`A` = ``amplitude``, :math:`\\omega` = ``frequency``. The global minimum is 0 at
    the origin; when :math:`A\\omega^2 > 1` ripples make it non-convex (the defaults give
    9 local minima, near :math:`(\\pm 0.9, \\pm 0.9)`, :math:`(\\pm 0.9, 0)`, ...).
    ``noise`` is the standard deviation of :meth:`Landscape.stochastic_grad`, which
    lets SGD jitter out of the shallow local minima that trap plain gradient descent
    started at ``start``.
    """
    noise = validate_real("noise", noise, low=0.0)
    A = validate_real("amplitude", amplitude, low=0.0)
    w = validate_real("frequency", frequency, low=0.0, low_open=True)
    return Landscape(
        name="noisy_bowl",
        title=f"noisy bowl (A={A:g}, ω={w:.3g}, σ={noise:g})",
        fn=lambda x, y: 0.5 * (x**2 + y**2) + A * (2 - _cos(w * x) - _cos(w * y)),
        grad_fn=lambda x, y: (x + A * w * _sin(w * x), y + A * w * _sin(w * y)),
        hess_fn=lambda x, y: (
            1 + A * w**2 * _cos(w * x),
            _constant(0.0, x),
            1 + A * w**2 * _cos(w * y),
        ),
        minima=_read_only([[0.0, 0.0]]),
        min_value=0.0,
        bounds=((-2.5, 2.5), (-2.5, 2.5)),
        start=_read_only([2.0, 1.5]),
        noise=noise,
    )


_FACTORIES: dict[str, Callable[..., Landscape]] = {
    "quadratic": quadratic,
    "ravine": ravine,
    "rosenbrock": rosenbrock,
    "beale": beale,
    "himmelblau": himmelblau,
    "saddle": saddle,
    "monkey_saddle": monkey_saddle,
    "noisy_bowl": noisy_bowl,
}


def by_name(name: str, **kwargs) -> Landscape:
    """The landscape called ``name`` (see ``LANDSCAPES``), built with ``kwargs``."""
    validate_choice("name", name, _FACTORIES)
    return _FACTORIES[name](**kwargs)


#: Every landscape with its default parameters, in the order the book introduces them.
LANDSCAPES: list[Landscape] = [factory() for factory in _FACTORIES.values()]
