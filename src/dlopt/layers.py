"""Layers with hand-written backward passes, in NumPy.

Every layer follows one contract (the one of CS231n's ``layers.py``, with the
names of ``torch.nn``):

- ``y = layer.forward(x)`` (or ``layer(x)``) computes the output and saves what
  the backward pass needs;
- ``grad_x = layer.backward(grad_y)`` takes :math:`\\partial L/\\partial y`
  (same shape as ``y``), returns :math:`\\partial L/\\partial x` (same shape as
  ``x``) and **overwrites** ``layer.grads[name]`` with
  :math:`\\partial L/\\partial \\theta` for every parameter ``layer.params[name]``.
  Gradients are written in place, so the arrays that ``gradients()`` returned
  stay valid from one step to the next; they are never accumulated.
- each ``forward`` saves the values for **one** ``backward``: a second ``backward``
  without a new ``forward`` raises ``RuntimeError`` (as torch does without
  ``retain_graph``). A layer called twice in one forward pass (a weight-tied
  ``Sequential(lin, act, lin)``) keeps only its last input, so the backward pass
  through its first use would be silently wrong; that second ``backward`` is the
  error instead. Use one layer object per use.

A layer of one's own subclasses :class:`Module`: ``__init__`` registers each parameter
with ``add_parameter``, ``forward`` ends with ``return self.save_for_backward(y, *values)``,
``backward`` starts with ``g, values = self.saved_for_backward(grad_out)`` and writes the
parameter gradients with ``store_grads`` (``dlopt.finetune.LoRALinear`` is one).

Parameters are NumPy arrays that optimizers update in place. ``parameters()``
and ``gradients()`` are aligned lists of the trainable (not ``frozen``) ones,
in the order of ``named_parameters()``, whose names are torch's ("0.weight",
"2.bias"), so a state dict can be copied into the ``torch.nn`` namesake.

A layer whose parameters are float32 computes in float32: an input of another
dtype raises ``TypeError`` (as torch does) instead of being silently cast.
Parameter-free layers keep the dtype of their input.

The functional forms (``sigmoid``, ``softmax``, ``log_softmax``, ``relu``, ...)
are plain NumPy functions that the layers, the losses and the pages share.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from dlopt._validation import (
    validate_array,
    validate_choice,
    validate_int,
    validate_probability,
    validate_real,
    validate_rng,
)
from dlopt.init import uniform

__all__ = [
    "sigmoid",
    "softmax",
    "log_softmax",
    "relu",
    "leaky_relu",
    "elu",
    "tanh",
    "gelu",
    "silu",
    "Module",
    "Activation",
    "Linear",
    "ReLU",
    "LeakyReLU",
    "ELU",
    "Sigmoid",
    "Tanh",
    "GELU",
    "SiLU",
    "Softmax",
    "Identity",
    "Flatten",
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "Sequential",
    "mlp",
]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_GELU_TANH_CUBIC = 0.044715


# --------------------------------------------------------------------------- functional forms


def sigmoid(x):
    """:math:`\\sigma(x) = 1/(1+e^{-x})`, elementwise, without overflow for large :math:`|x|`.

    With :math:`e = e^{-|x|} \\in (0, 1]`, :math:`\\sigma(x) = 1/(1+e)` for :math:`x \\ge 0`
    and :math:`e/(1+e)` for :math:`x < 0`, so ``exp`` never sees a large argument.
    """
    x = validate_array("x", x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softmax(x, axis: int = -1):
    """:math:`\\operatorname{softmax}(x)_i = e^{x_i - m} / \\sum_j e^{x_j - m}` along ``axis``.

    The shift by :math:`m = \\max_j x_j` changes nothing mathematically and keeps
    every exponent :math:`\\le 0`, so nothing overflows.
    """
    x = validate_array("x", x)
    z = np.exp(x - x.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def log_softmax(x, axis: int = -1):
    """:math:`\\log\\operatorname{softmax}(x)_i = (x_i - m) - \\log\\sum_j e^{x_j - m}`.

    Max-shifted (:math:`m = \\max_j x_j`), so it stays finite where ``log(softmax(x))`` gives -inf.
    """
    x = validate_array("x", x)
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


def relu(x):
    """:math:`\\max(x, 0)`, elementwise."""
    return np.maximum(validate_array("x", x), 0)


def leaky_relu(x, negative_slope: float = 0.01):
    """:math:`x` for :math:`x > 0`, else :math:`a x` with :math:`a` = ``negative_slope``."""
    x = validate_array("x", x)
    return np.where(x > 0, x, x * negative_slope)


def elu(x, alpha: float = 1.0):
    """:math:`x` for :math:`x > 0`, else :math:`\\alpha (e^{x} - 1)` (via ``expm1``)."""
    x = validate_array("x", x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def tanh(x):
    """:math:`\\tanh(x)`, elementwise."""
    return np.tanh(validate_array("x", x))


def gelu(x, approximate: str = "none"):
    """:math:`x\\,\\Phi(x)` with :math:`\\Phi` the standard normal CDF.

    ``approximate="tanh"`` uses :math:`\\tfrac12 x (1 + \\tanh(\\sqrt{2/\\pi}(x + 0.044715 x^3)))`,
    as ``torch.nn.GELU(approximate="tanh")``.
    """
    x = validate_array("x", x)
    validate_choice("approximate", approximate, {"none", "tanh"})
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_TANH_CUBIC * x**3)))
    return x * _normal_cdf(x)


def silu(x):
    """:math:`x\\,\\sigma(x)` (also called swish)."""
    x = validate_array("x", x)
    return x * sigmoid(x)


def _normal_cdf(x):
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


def _float_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"dtype must be a floating dtype such as np.float64, got {dtype}")
    return dtype


def _uniform_fan_in(shape: tuple[int, ...], fan_in: int, rng, dtype) -> np.ndarray:
    """:math:`U(-1/\\sqrt{n_\\text{in}}, 1/\\sqrt{n_\\text{in}})`, torch's ``nn.Linear`` default.

    It is ``kaiming_uniform_(a=sqrt(5))``: bound :math:`g\\sqrt{3/n_\\text{in}}` with
    gain :math:`g = \\sqrt{2/(1+5)}`. Drawn in float64, then cast to ``dtype``.
    """
    bound = 1.0 / math.sqrt(fan_in)
    return uniform(shape, -bound, bound, rng=rng, dtype=dtype)


# --------------------------------------------------------------------------- the base class


class Module:
    """Base class of every layer: parameters, gradients, train/eval mode, freezing.

    Attributes
    ----------
    params : dict[str, np.ndarray]
        The layer's own parameters (not its children's).
    grads : dict[str, np.ndarray]
        Same keys and shapes as ``params``, zero-initialised, overwritten by ``backward``.
    training : bool
        True (the initial mode) in train mode, False after ``eval()``.
    frozen : bool
        A frozen module's own parameters are left out of ``parameters()`` and
        ``gradients()``, and its ``backward`` leaves its ``grads`` untouched
        (it still returns the input gradient). ``dlopt.finetune.freeze`` sets it
        recursively; the flag of a container does not reach its children by itself.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.training = True
        self.frozen = False
        self._saved: tuple | None = None
        self._output_shape: tuple[int, ...] | None = None
        self._backward_done = False  # True once backward used what the last forward saved

    # -- the contract subclasses implement
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def named_children(self) -> list[tuple[str, Module]]:
        """``(name, child)`` pairs of a container; empty for a plain layer."""
        return []

    def children(self) -> list[Module]:
        return [child for _, child in self.named_children()]

    # -- for subclasses, in this module or another (dlopt.finetune.LoRALinear)
    def add_parameter(self, name: str, value: np.ndarray) -> None:
        """Register ``value`` as the parameter ``name``, with a zero gradient of its shape."""
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def store_grads(self, **grads: np.ndarray) -> None:
        """Overwrite ``self.grads`` in place (the arrays keep their identity); no-op if frozen."""
        if self.frozen:
            return
        for name, value in grads.items():
            self.grads[name][...] = value

    def save_for_backward(self, y: np.ndarray, *saved) -> np.ndarray:
        """Save what ``backward`` needs and the output shape; return ``y``.

        ``forward`` ends with ``return self.save_for_backward(y, *values)``.
        """
        self._saved = saved
        self._output_shape = y.shape
        self._backward_done = False
        return y

    def saved_for_backward(self, grad_out) -> tuple[np.ndarray, tuple]:
        """Check ``grad_out`` against the last output and return it with the saved values.

        ``backward`` starts with ``g, values = self.saved_for_backward(grad_out)``; it
        raises ``RuntimeError`` before any forward, or if a backward already used them.
        """
        if self._saved is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): "
                "call forward(x) first, backward uses the values forward saved"
            )
        if self._backward_done:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called twice after one forward(): "
                "forward saves its input for one backward only. If this layer object is "
                "used twice in one forward pass, the second use overwrote what the first "
                "saved and its gradients would be wrong: use a separate layer for each use "
                "(or call forward again before each backward)"
            )
        grad_out = validate_array("grad_out", grad_out, shape=self._output_shape)
        self._backward_done = True
        return grad_out, self._saved

    def _validate_dtype(self, x: np.ndarray) -> None:
        if x.dtype != self.dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but the parameters of {type(self).__name__} are "
                f"{self.dtype}: build the layer with dtype=np.{x.dtype} or pass "
                f"x.astype(np.{self.dtype})"
            )

    # -- parameters
    def parameter_slots(self, prefix: str = "") -> list[tuple[str, Module, str]]:
        """``(full name, owning module, key)`` for every parameter, own ones first (as torch)."""
        slots = [(prefix + key, self, key) for key in self.params]
        for name, child in self.named_children():
            slots += child.parameter_slots(f"{prefix}{name}.")
        return slots

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        """Every parameter, frozen or not, with torch's names (``"0.weight"``)."""
        return [(name, module.params[key]) for name, module, key in self.parameter_slots()]

    def parameters(self) -> list[np.ndarray]:
        """The trainable parameters (owner not frozen), in ``named_parameters`` order."""
        return [
            module.params[key] for _, module, key in self.parameter_slots() if not module.frozen
        ]

    def gradients(self) -> list[np.ndarray]:
        """The gradients of ``parameters()``, aligned with it."""
        return [module.grads[key] for _, module, key in self.parameter_slots() if not module.frozen]

    def zero_grad(self) -> None:
        for _, module, key in self.parameter_slots():
            module.grads[key].fill(0)

    def train(self, mode: bool = True) -> Module:
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [
            f"  ({name}): {child!r}".replace("\n", "\n  ") for name, child in self.named_children()
        ]
        body = "\n" + "\n".join(lines) + "\n" if lines else self.extra_repr()
        return f"{type(self).__name__}({body})"


# --------------------------------------------------------------------------- Linear


class Linear(Module):
    """:math:`y = x W^\\top + b`, as ``torch.nn.Linear``.

    Shapes: ``x`` (*, in_features) -> ``y`` (*, out_features); ``weight`` :math:`W`
    (out_features, in_features), ``bias`` :math:`b` (out_features,). Both start from
    :math:`U(-1/\\sqrt{n_\\text{in}}, 1/\\sqrt{n_\\text{in}})`, torch's default.

    Backward, with :math:`G = \\partial L/\\partial y` and the leading axes flattened:

    .. math::

        \\frac{\\partial L}{\\partial W} = G^\\top x, \\qquad
        \\frac{\\partial L}{\\partial b} = \\sum_n G_n, \\qquad
        \\frac{\\partial L}{\\partial x} = G W .
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: np.random.Generator,
        dtype=np.float64,
    ) -> None:
        in_features = validate_int("in_features", in_features, low=1)
        out_features = validate_int("out_features", out_features, low=1)
        rng = validate_rng(rng)
        dtype = _float_dtype(dtype)
        weight = _uniform_fan_in((out_features, in_features), in_features, rng, dtype)
        b = _uniform_fan_in((out_features,), in_features, rng, dtype) if bias else None
        self._setup(weight, b)

    @classmethod
    def from_arrays(cls, weight, bias=None) -> Linear:
        """A Linear layer holding copies of the given ``weight`` (out, in) and ``bias`` (out,)."""
        weight = validate_array("weight", weight, ndim=2).copy()
        if bias is not None:
            bias = validate_array("bias", bias, shape=(weight.shape[0],)).astype(weight.dtype)
        layer = cls.__new__(cls)
        layer._setup(weight, bias)
        return layer

    def _setup(self, weight: np.ndarray, bias: np.ndarray | None) -> None:
        Module.__init__(self)
        self.out_features, self.in_features = weight.shape
        self.dtype = weight.dtype
        self.add_parameter("weight", weight)
        if bias is not None:
            self.add_parameter("bias", bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={'bias' in self.params}"
        )

    def forward(self, x):
        x = validate_array("x", x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"x must have shape (*, {self.in_features}) for "
                f"Linear(in_features={self.in_features}), got {x.shape}"
            )
        self._validate_dtype(x)
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y = y + self.params["bias"]
        return self.save_for_backward(y, x)

    def backward(self, grad_out):
        g, (x,) = self.saved_for_backward(grad_out)
        g2 = g.reshape(-1, self.out_features)
        grads = {"weight": g2.T @ x.reshape(-1, self.in_features)}
        if "bias" in self.params:
            grads["bias"] = g2.sum(axis=0)
        self.store_grads(**grads)
        return g @ self.params["weight"]


# --------------------------------------------------------------------------- activations


class Activation(Module):
    """An elementwise activation :math:`y = f(x)`; backward is the chain rule
    :math:`\\partial L/\\partial x = \\partial L/\\partial y \\odot f'(x)`.

    Subclasses define ``function(x)`` and ``derivative(x, y)`` (:math:`f'` from the
    input and the output, whichever is cheaper). The output keeps the input's dtype.
    """

    def function(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def derivative(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x):
        x = validate_array("x", x)
        y = self.function(x)
        return self.save_for_backward(y, x, y)

    def backward(self, grad_out):
        g, (x, y) = self.saved_for_backward(grad_out)
        return g * self.derivative(x, y)


class ReLU(Activation):
    """:math:`\\max(x, 0)`; :math:`f'(x) = [x > 0]`, so 0 at exactly :math:`x = 0` (as torch)."""

    def function(self, x):
        return relu(x)

    def derivative(self, x, y):
        return (x > 0).astype(x.dtype)


class LeakyReLU(Activation):
    """:math:`x` for :math:`x > 0`, else :math:`a x`; :math:`f'` is 1 or :math:`a` (:math:`a` at 0).

    :math:`a` is ``negative_slope``.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = validate_real("negative_slope", negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"

    def function(self, x):
        return leaky_relu(x, self.negative_slope)

    def derivative(self, x, y):
        return np.where(x > 0, 1.0, self.negative_slope).astype(x.dtype)


class ELU(Activation):
    """:math:`x` for :math:`x > 0`, else :math:`\\alpha(e^x - 1)`; :math:`f'` is 1 or
    :math:`\\alpha e^x` (:math:`\\alpha` at 0, as torch)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = validate_real("alpha", alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def function(self, x):
        return elu(x, self.alpha)

    def derivative(self, x, y):
        return np.where(x > 0, 1, self.alpha * np.exp(np.minimum(x, 0)))


class Sigmoid(Activation):
    """:math:`\\sigma(x)`; :math:`\\sigma' = \\sigma(1 - \\sigma)`, read off the output."""

    def function(self, x):
        return sigmoid(x)

    def derivative(self, x, y):
        return y * (1 - y)


class Tanh(Activation):
    """:math:`\\tanh(x)`; :math:`f' = 1 - \\tanh^2`, read off the output."""

    def function(self, x):
        return np.tanh(x)

    def derivative(self, x, y):
        return 1 - y * y


class GELU(Activation):
    """:math:`x\\,\\Phi(x)`; :math:`f'(x) = \\Phi(x) + x\\,\\varphi(x)` (exact form), or the
    derivative of the tanh form for ``approximate="tanh"``."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = validate_choice("approximate", approximate, {"none", "tanh"})

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def function(self, x):
        return gelu(x, self.approximate)

    def derivative(self, x, y):
        if self.approximate == "none":
            return _normal_cdf(x) + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        inner = _SQRT_2_OVER_PI * (x + _GELU_TANH_CUBIC * x**3)
        t = np.tanh(inner)
        d_inner = _SQRT_2_OVER_PI * (1 + 3 * _GELU_TANH_CUBIC * x * x)
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * d_inner


class SiLU(Activation):
    """:math:`x\\,\\sigma(x)`; :math:`f' = \\sigma(x)\\,(1 + x(1 - \\sigma(x)))`."""

    def function(self, x):
        return silu(x)

    def derivative(self, x, y):
        s = sigmoid(x)
        return s * (1 + x * (1 - s))


class Identity(Module):
    """:math:`y = x`; the gradient passes through unchanged."""

    def forward(self, x):
        x = validate_array("x", x)
        return self.save_for_backward(x)

    def backward(self, grad_out):
        g, _ = self.saved_for_backward(grad_out)
        return g


class Softmax(Module):
    """:math:`y = \\operatorname{softmax}(x)` along ``dim``; the Jacobian
    :math:`\\operatorname{diag}(y) - y y^\\top` gives
    :math:`\\partial L/\\partial x = y \\odot (g - \\langle g, y\\rangle)`."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = validate_int("dim", dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def forward(self, x):
        x = validate_array("x", x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"Softmax(dim={self.dim}) needs x with more dimensions, got {x.shape}")
        y = softmax(x, axis=self.dim)
        return self.save_for_backward(y, y)

    def backward(self, grad_out):
        g, (y,) = self.saved_for_backward(grad_out)
        return y * (g - np.sum(g * y, axis=self.dim, keepdims=True))


class Flatten(Module):
    """Merge dimensions ``start_dim..end_dim`` into one, as ``torch.nn.Flatten``
    ((N, C, H, W) -> (N, C*H*W) by default); backward reshapes back."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = validate_int("start_dim", start_dim)
        self.end_dim = validate_int("end_dim", end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def forward(self, x):
        x = validate_array("x", x)
        start, end = (d + x.ndim if d < 0 else d for d in (self.start_dim, self.end_dim))
        if not 0 <= start <= end < x.ndim:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit "
                f"x of shape {x.shape}"
            )
        shape = x.shape[:start] + (math.prod(x.shape[start : end + 1]),) + x.shape[end + 1 :]
        return self.save_for_backward(x.reshape(shape), x.shape)

    def backward(self, grad_out):
        g, (input_shape,) = self.saved_for_backward(grad_out)
        return g.reshape(input_shape)


# --------------------------------------------------------------------------- Dropout


class Dropout(Module):
    """Inverted dropout, as ``torch.nn.Dropout``.

    Train mode draws a mask :math:`m_i \\sim \\text{Bernoulli}(1-p)` (keep with
    probability :math:`1-p`) from ``rng`` and returns :math:`y = x \\odot m / (1-p)`,
    so :math:`\\mathbb{E}[y] = x`; eval mode is the identity. Backward multiplies by
    the **same** :math:`m/(1-p)` that forward drew.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator) -> None:
        super().__init__()
        self.p = validate_probability("p", p)
        self.rng = validate_rng(rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"

    def forward(self, x):
        x = validate_array("x", x)
        if not self.training:
            return self.save_for_backward(x, None)
        keep = self.rng.random(x.shape) >= self.p  # P(u >= p) = 1 - p
        scaled_mask = keep.astype(x.dtype) / (1 - self.p)
        return self.save_for_backward(x * scaled_mask, scaled_mask)

    def backward(self, grad_out):
        g, (scaled_mask,) = self.saved_for_backward(grad_out)
        return g if scaled_mask is None else g * scaled_mask


# --------------------------------------------------------------------------- BatchNorm


class _BatchNorm(Module):
    """Batch normalisation over every axis but the channel axis 1.

    Per channel, with :math:`n` values in the batch (:math:`N`, or :math:`N L`, or :math:`N H W`):

    .. math::

        \\mu = \\tfrac1n \\sum x, \\quad \\sigma^2 = \\tfrac1n \\sum (x-\\mu)^2, \\quad
        \\hat x = (x - \\mu)/\\sqrt{\\sigma^2 + \\epsilon}, \\quad y = \\gamma \\hat x + \\beta .

    Train mode uses the batch's :math:`\\mu, \\sigma^2` (biased) and updates
    ``running = (1 - momentum) * running + momentum * batch`` with the **unbiased**
    :math:`\\sigma^2 n/(n-1)` for ``running_var`` (``momentum=None``: the cumulative
    average, factor 1/``num_batches_tracked``). Eval mode uses the running statistics
    (the batch's if ``track_running_stats=False``).

    Backward with batch statistics (:math:`g = \\partial L/\\partial y`,
    :math:`\\hat g = \\gamma g`, means over the batch axes):

    .. math::

        \\frac{\\partial L}{\\partial x} = \\frac{1}{\\sqrt{\\sigma^2+\\epsilon}}
        \\big(\\hat g - \\overline{\\hat g} - \\hat x\\, \\overline{\\hat g \\hat x}\\big),
        \\qquad \\frac{\\partial L}{\\partial \\gamma} = \\sum g \\hat x, \\qquad
        \\frac{\\partial L}{\\partial \\beta} = \\sum g ;

    with running statistics (constants) it is
    :math:`\\hat g/\\sqrt{\\sigma^2_\\text{run}+\\epsilon}`.
    """

    _input_ndims: tuple[int, ...] = ()
    _input_layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        self.num_features = validate_int("num_features", num_features, low=1)
        self.eps = validate_real("eps", eps, low=0.0, low_open=True)
        if momentum is not None:
            momentum = validate_real("momentum", momentum, low=0.0, high=1.0)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.dtype = _float_dtype(dtype)
        if self.affine:
            self.add_parameter("weight", np.ones(num_features, dtype=self.dtype))
            self.add_parameter("bias", np.zeros(num_features, dtype=self.dtype))
        self.running_mean: np.ndarray | None = None
        self.running_var: np.ndarray | None = None
        self.num_batches_tracked: int | None = None
        if self.track_running_stats:
            self.running_mean = np.zeros(num_features, dtype=self.dtype)
            self.running_var = np.ones(num_features, dtype=self.dtype)
            self.num_batches_tracked = 0

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )

    def _per_channel(self, v: np.ndarray, ndim: int) -> np.ndarray:
        """Reshape a (C,) vector to (1, C, 1, ...) so it broadcasts over the other axes."""
        return v.reshape((1, self.num_features) + (1,) * (ndim - 2))

    def _validate_input(self, x) -> np.ndarray:
        x = validate_array("x", x)
        if x.ndim not in self._input_ndims or x.shape[1] != self.num_features:
            layout = self._input_layout.replace("C", str(self.num_features))
            raise ValueError(
                f"x must have shape {layout} for {type(self).__name__}({self.num_features}), "
                f"got {x.shape}"
            )
        self._validate_dtype(x)
        return x

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        self.num_batches_tracked += 1
        factor = 1.0 / self.num_batches_tracked if self.momentum is None else self.momentum
        self.running_mean[...] = (1 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1 - factor) * self.running_var + factor * var * (n / (n - 1))

    def forward(self, x):
        x = self._validate_input(x)
        axes = (0,) + tuple(range(2, x.ndim))
        use_batch_stats = self.training or not self.track_running_stats
        if use_batch_stats:
            n = x.size // self.num_features
            if self.training and n == 1:
                raise ValueError(
                    "Expected more than 1 value per channel when training, "
                    f"got x of shape {x.shape}"
                )
            mean, var = x.mean(axis=axes), x.var(axis=axes)
            if self.training and self.track_running_stats:
                self._update_running_stats(mean, var, n)
        else:
            mean, var = self.running_mean, self.running_var
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - self._per_channel(mean, x.ndim)) * self._per_channel(inv_std, x.ndim)
        y = x_hat
        if self.affine:
            y = x_hat * self._per_channel(self.params["weight"], x.ndim)
            y = y + self._per_channel(self.params["bias"], x.ndim)
        return self.save_for_backward(y, x_hat, inv_std, use_batch_stats)

    def backward(self, grad_out):
        g, (x_hat, inv_std, used_batch_stats) = self.saved_for_backward(grad_out)
        ndim = g.ndim
        axes = (0,) + tuple(range(2, ndim))
        g_hat = g
        if self.affine:
            self.store_grads(weight=np.sum(g * x_hat, axis=axes), bias=np.sum(g, axis=axes))
            g_hat = g * self._per_channel(self.params["weight"], ndim)
        if not used_batch_stats:
            return g_hat * self._per_channel(inv_std, ndim)
        mean_g_hat = g_hat.mean(axis=axes, keepdims=True)
        mean_g_hat_x_hat = (g_hat * x_hat).mean(axis=axes, keepdims=True)
        return self._per_channel(inv_std, ndim) * (g_hat - mean_g_hat - x_hat * mean_g_hat_x_hat)


class BatchNorm1d(_BatchNorm):
    __doc__ = (
        "Batch normalisation of (N, C) or (N, C, L) input, as ``torch.nn.BatchNorm1d``.\n"
        + _BatchNorm.__doc__
    )
    _input_ndims = (2, 3)
    _input_layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    __doc__ = (
        "Per-channel batch normalisation of (N, C, H, W) images, as ``torch.nn.BatchNorm2d``.\n"
        + _BatchNorm.__doc__
    )
    _input_ndims = (4,)
    _input_layout = "(N, C, H, W)"


# --------------------------------------------------------------------------- Sequential


class Sequential(Module):
    """Layers applied in order; backward runs through them in reverse (the chain rule).

    ``seq[i]``, ``len(seq)`` and ``for layer in seq`` work as for ``torch.nn.Sequential``;
    parameter names are ``"<index>.<name>"``.
    """

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(
                    f"Sequential takes dlopt.layers.Module instances, argument {i} is "
                    f"{type(layer).__name__}"
                )
        self.layers = list(layers)

    def named_children(self) -> list[tuple[str, Module]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_out):
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def __getitem__(self, index: int | slice) -> Module:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


def mlp(
    sizes, *, rng: np.random.Generator, activation=ReLU, dropout: float = 0.0, dtype=np.float64
) -> Sequential:
    """A multilayer perceptron: ``Linear`` layers of the given ``sizes``, each hidden one
    followed by ``activation()`` (and by ``Dropout(dropout)`` if ``dropout > 0``).

    ``mlp([2, 64, 64, 3], rng=rng)`` is ``Sequential(Linear(2, 64), ReLU(), Linear(64, 64),
    ReLU(), Linear(64, 3))``; the layers draw their weights from ``rng`` in that order, and
    the Dropout layers draw their masks from it too.
    """
    sizes = [validate_int(f"sizes[{i}]", s, low=1) for i, s in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes must hold at least an input and an output size, got {sizes}")
    dropout = validate_probability("dropout", dropout)
    layers: list[Module] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers += [Linear(n_in, n_out, rng=rng, dtype=dtype), activation()]
        if dropout > 0:
            layers.append(Dropout(dropout, rng=rng))
    layers.append(Linear(sizes[-2], sizes[-1], rng=rng, dtype=dtype))
    return Sequential(*layers)
