"""Fine-tuning helpers: freezing, discriminative learning rates, gradual unfreezing, LoRA.

The helpers take the NumPy layers of :mod:`dlopt.layers` and ``torch.nn``
modules alike: freezing a NumPy module sets its ``frozen`` flag, freezing a
torch module sets ``requires_grad=False`` on its parameters.

LoRA (low-rank adaptation) keeps a pretrained weight :math:`W` (out, in) frozen
and learns a low-rank update :math:`\\Delta W = s\\,BA` with :math:`A` (r, in),
:math:`B` (out, r), :math:`s = \\alpha / r`:

.. math::

    y = x W^\\top + b + s\\,(x A^\\top) B^\\top .

:math:`B` starts at zero, so the adapted layer starts as the base layer, and
only :math:`r(\\text{in} + \\text{out})` numbers are trained instead of
:math:`\\text{in}\\cdot\\text{out}`. ``merge()`` folds :math:`s\\,BA` into a plain
linear layer, which then costs nothing extra at inference.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from dlopt._validation import validate_array, validate_int, validate_real, validate_rng
from dlopt.init import uniform
from dlopt.layers import Linear, Module

__all__ = [
    "freeze",
    "unfreeze",
    "parameter_count",
    "trainable_parameter_count",
    "LoRALinear",
    "lora_scaling",
    "lora_A_init",
    "discriminative_lr_groups",
    "gradual_unfreezing",
]


# --------------------------------------------------------------------------- freezing


def _is_torch(x, kind: str) -> bool:
    """``isinstance(x, torch.<kind>)`` without importing torch: if no one imported it,
    ``x`` cannot be a torch object (this module works without paying torch's import)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(
        x, torch.nn.Module if kind == "Module" else torch.Tensor
    )


def _validate_module(module) -> None:
    if not (isinstance(module, Module) or _is_torch(module, "Module")):
        raise TypeError(
            "module must be a dlopt.layers.Module or a torch.nn.Module, "
            f"got {type(module).__name__}"
        )


def _set_frozen(module, frozen: bool):
    _validate_module(module)
    if _is_torch(module, "Module"):
        module.requires_grad_(not frozen)
        return module
    module.frozen = frozen
    for child in module.children():
        _set_frozen(child, frozen)
    return module


def freeze(module):
    """Freeze ``module`` and everything inside it; returns ``module``.

    NumPy modules: ``frozen = True`` on the module and all its descendants, which
    leaves their parameters out of ``parameters()``/``gradients()``. Torch modules:
    ``requires_grad_(False)``, so autograd computes no gradient for them.
    """
    return _set_frozen(module, True)


def unfreeze(module):
    """Undo :func:`freeze` on ``module`` and everything inside it; returns ``module``."""
    return _set_frozen(module, False)


def parameter_count(module) -> int:
    """The number of scalars in all parameters of ``module``, frozen or not."""
    _validate_module(module)
    if _is_torch(module, "Module"):
        return sum(p.numel() for p in module.parameters())
    return sum(p.size for _, p in module.named_parameters())


def trainable_parameter_count(module) -> int:
    """The number of scalars an optimizer would update (not frozen / ``requires_grad``)."""
    _validate_module(module)
    if _is_torch(module, "Module"):
        return sum(p.numel() for p in module.parameters() if p.requires_grad)
    return sum(p.size for p in module.parameters())


# --------------------------------------------------------------------------- LoRA


def lora_scaling(in_features: int, out_features: int, r, alpha) -> tuple[int, float]:
    """Validate ``r`` (1 <= r <= min(in, out)) and ``alpha`` (> 0); return ``(r, s)``,
    :math:`s = \\alpha / r` (shared by :class:`LoRALinear` and its torch twin)."""
    r = validate_int("r", r, low=1)
    if r > min(in_features, out_features):
        raise ValueError(
            f"Invalid r: {r} (expected r <= min(in_features, out_features) = "
            f"{min(in_features, out_features)}, else the update is not low-rank)"
        )
    alpha = validate_real("alpha", alpha, low=0.0, low_open=True)
    return r, alpha / r


def lora_A_init(r: int, in_features: int, *, rng, dtype=np.float64) -> np.ndarray:
    """``kaiming_uniform_(A, a=sqrt(5))`` on shape (r, in): :math:`U(\\pm 1/\\sqrt{\\text{in}})`.

    Drawn in float64 from ``rng``, then cast to ``dtype``, so both LoRA classes start from
    the same numbers for the same seed.
    """
    bound = 1.0 / math.sqrt(in_features)
    return uniform((r, in_features), -bound, bound, rng=validate_rng(rng), dtype=dtype)


class LoRALinear(Module):
    """A NumPy :class:`~dlopt.layers.Linear` with a trainable low-rank update.

    ``base`` is frozen (its ``frozen`` flag is set on the object passed in) and kept
    as the child ``"base"``; the trainable parameters are ``lora_A`` (r, in), drawn
    from :math:`U(-1/\\sqrt{\\text{in}}, 1/\\sqrt{\\text{in}})`, and ``lora_B`` (out, r),
    zeros. With :math:`G = \\partial L/\\partial y`, :math:`H = x A^\\top` and the leading
    axes flattened, backward gives

    .. math::

        \\frac{\\partial L}{\\partial B} = s\\,G^\\top H, \\qquad
        \\frac{\\partial L}{\\partial A} = s\\,(G B)^\\top x, \\qquad
        \\frac{\\partial L}{\\partial x} = G W + s\\,(G B) A ,

    and fills the base's gradients only if someone unfroze it.
    """

    def __init__(self, base: Linear, r: int, alpha: float = 1.0, *, rng: np.random.Generator):
        super().__init__()
        if not isinstance(base, Linear):
            raise TypeError(f"base must be a dlopt.layers.Linear, got {type(base).__name__}")
        self.r, self.scaling = lora_scaling(base.in_features, base.out_features, r, alpha)
        self.alpha = float(alpha)
        self.base = freeze(base)
        self.in_features, self.out_features = base.in_features, base.out_features
        self.dtype = base.dtype
        self.add_parameter(
            "lora_A", lora_A_init(self.r, self.in_features, rng=rng, dtype=self.dtype)
        )
        self.add_parameter("lora_B", np.zeros((self.out_features, self.r), dtype=self.dtype))

    def named_children(self) -> list[tuple[str, Module]]:
        return [("base", self.base)]

    def extra_repr(self) -> str:
        return f"{self.base!r}, r={self.r}, alpha={self.alpha}"

    def __repr__(self) -> str:
        return f"LoRALinear({self.extra_repr()})"

    def forward(self, x):
        x = validate_array("x", x)
        y = self.base.forward(x)  # validates the shape and dtype of x
        h = x @ self.params["lora_A"].T
        y = y + self.scaling * (h @ self.params["lora_B"].T)
        return self.save_for_backward(y, x, h)

    def backward(self, grad_out):
        g, (x, h) = self.saved_for_backward(grad_out)
        g_B = g @ self.params["lora_B"]  # (*, r): the gradient reaching H = x A^T, over s
        self.store_grads(
            lora_A=self.scaling * g_B.reshape(-1, self.r).T @ x.reshape(-1, self.in_features),
            lora_B=self.scaling * g.reshape(-1, self.out_features).T @ h.reshape(-1, self.r),
        )
        return self.base.backward(g) + self.scaling * (g_B @ self.params["lora_A"])

    def merge(self) -> Linear:
        """A new :class:`~dlopt.layers.Linear` with weight :math:`W + s\\,BA` (base untouched)."""
        weight = self.base.params["weight"] + self.scaling * (
            self.params["lora_B"] @ self.params["lora_A"]
        )
        return Linear.from_arrays(weight, self.base.params.get("bias"))


# --------------------------------------------------------------------------- learning rates


def _block_parameters(block, k: int) -> list:
    if isinstance(block, np.ndarray) or _is_torch(block, "Tensor"):
        raise TypeError(
            f"blocks[{k}] must be a list of parameters, got a single array: wrap it in a list"
        )
    if isinstance(block, Module) or _is_torch(block, "Module"):
        return list(block.parameters())
    return list(block)


def discriminative_lr_groups(blocks, base_lr: float, decay: float = 2.6) -> list[dict]:
    """Parameter groups with learning rates that shrink towards the input (ULMFiT).

    ``blocks`` lists the network's blocks from the input to the output, each a list
    of parameters (NumPy arrays or torch parameters; a module stands for its
    ``parameters()``). Block :math:`k` of :math:`K` gets

    .. math::

        \\eta_k = \\eta / \\text{decay}^{K-1-k},

    so the last block (the head) learns with ``base_lr`` and each earlier one
    ``decay`` times slower. Returns ``[{"params": [...], "lr": ...}, ...]``, the
    format of ``torch.optim`` param groups (and of :mod:`dlopt.optim_numpy`).
    A block without trainable parameters (a frozen one) gets no group, so the
    result can go straight to an optimizer, which rejects empty groups.
    """
    blocks = list(blocks)
    if not blocks:
        raise ValueError("blocks must hold at least one block of parameters, got none")
    base_lr = validate_real("base_lr", base_lr, low=0.0, low_open=True)
    decay = validate_real("decay", decay, low=0.0, low_open=True)
    last = len(blocks) - 1
    groups = [
        {"params": _block_parameters(block, k), "lr": base_lr / decay ** (last - k)}
        for k, block in enumerate(blocks)
    ]
    return [group for group in groups if group["params"]]


def gradual_unfreezing(blocks, epoch: int, every: int = 1) -> int:
    """Unfreeze the top blocks for ``epoch`` (counted from 0) and freeze the rest.

    ``blocks`` lists modules from the input to the output. In epoch ``epoch`` the last
    :math:`\\min(K, \\lceil (\\text{epoch}+1)/\\text{every} \\rceil)` blocks are trainable:
    epoch 0 trains only the top block (the head), and every ``every`` epochs one more
    block below it joins, until all :math:`K` train. Call it at the start of each epoch;
    returns the number of unfrozen blocks.
    """
    blocks = list(blocks)
    if not blocks:
        raise ValueError("blocks must hold at least one module, got none")
    epoch = validate_int("epoch", epoch, low=0)
    every = validate_int("every", every, low=1)
    n_unfrozen = min(len(blocks), (epoch + every) // every)  # = ceil((epoch + 1) / every)
    first_trainable = len(blocks) - n_unfrozen
    for k, block in enumerate(blocks):
        _set_frozen(block, k < first_trainable)
    return n_unfrozen
