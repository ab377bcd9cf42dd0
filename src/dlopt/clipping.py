r"""Gradient clipping by global norm and by value, in place, like ``torch.nn.utils``.

Both work on a list of NumPy arrays or of torch tensors (e.g.
``[p.grad for p in model.parameters()]``; ``None`` entries are skipped, as torch
skips parameters without a gradient). The arithmetic is written once with
operators that NumPy and torch share (``abs``, ``**``, ``*=``, masked
assignment), so the two cases cannot drift apart.

Clipping by norm rescales the whole gradient, :math:`g \leftarrow c\,g`, which
keeps its direction; clipping by value clamps each entry to
:math:`[-v, v]`, which changes the direction as soon as one entry is clipped.
"""

from __future__ import annotations

import math

import numpy as np

from dlopt._validation import validate_real

# torch adds this to the norm before dividing so that an all-zero gradient gives no 0/0
_NORM_EPS = 1e-6


def global_norm(grads, norm_type: float = 2.0) -> float:
    r"""The p-norm of all gradients seen as one long vector, as ``clip_grad_norm_`` computes it.

    .. math::

        \|g\|_p = \Bigl(\sum_i \sum_j |g_{ij}|^p\Bigr)^{1/p}, \qquad
        \|g\|_\infty = \max_{i, j} |g_{ij}|

    over the arrays :math:`g_i` of ``grads``. ``norm_type`` is :math:`p \ge 1`
    or ``math.inf``. NaN in any gradient gives NaN; an empty list gives 0.
    """
    p = validate_real("norm_type", norm_type, low=1.0)
    per_array = [_abs_power_sum(g, p) for g in _validated_grads(grads)]
    if not per_array:
        return 0.0
    if math.isinf(p):
        return float(np.max(per_array))  # np.max, unlike max(), propagates NaN
    return float(np.sum(per_array)) ** (1.0 / p)


def _abs_power_sum(g, p: float) -> float:
    r""":math:`\sum_j |g_j|^p`, or :math:`\max_j |g_j|` when :math:`p = \infty` (0 if empty)."""
    a = abs(g).reshape(-1)
    if a.shape[0] == 0:
        return 0.0
    return float(a.max()) if math.isinf(p) else float((a**p).sum())


def clip_grad_norm(
    grads, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    r"""Rescale ``grads`` in place so their global norm is at most ``max_norm``; return the norm.

    With :math:`\|g\|` the norm before clipping (``global_norm``),

    .. math::

        g \leftarrow \min\Bigl(1, \frac{\text{max\_norm}}{\|g\| + 10^{-6}}\Bigr)\, g,

    exactly ``torch.nn.utils.clip_grad_norm_``'s rule (so a norm just above
    ``max_norm`` ends a hair below it). A non-finite norm raises
    ``RuntimeError`` if ``error_if_nonfinite``, else, as in torch, the
    gradients are scaled anyway (and become NaN or zero).
    Returns the norm before clipping as a Python float (torch returns a tensor).
    """
    max_norm = validate_real("max_norm", max_norm, low=0.0, low_open=True)
    grads = _validated_grads(grads)
    total = global_norm(grads, norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {float(norm_type)} of the gradients is non-finite, so it "
            "cannot be clipped. Set error_if_nonfinite=False to scale by it anyway."
        )
    coef = float(np.minimum(max_norm / (total + _NORM_EPS), 1.0))  # np.minimum keeps NaN
    for g in grads:
        g *= coef
    return total


def clip_grad_value(grads, clip_value: float) -> None:
    r"""Clamp every entry of ``grads`` in place to :math:`[-v, v]`, ``v = clip_value`` > 0.

    Same as ``torch.nn.utils.clip_grad_value_``; NaN entries stay NaN.
    """
    v = validate_real("clip_value", clip_value, low=0.0, low_open=True)
    for g in _validated_grads(grads):
        g[g > v] = v
        g[g < -v] = -v


def _validated_grads(grads) -> list:
    """The non-None entries, each validated as a floating NumPy array or torch tensor."""
    if isinstance(grads, np.ndarray) or hasattr(grads, "detach"):
        raise TypeError("grads must be a list of arrays, got a single array (wrap it in a list)")
    kept = []
    for i, g in enumerate(grads):
        if g is None:
            continue
        if not _is_floating_array(g):
            raise TypeError(
                f"grads[{i}] must be a floating NumPy array or torch tensor (modified in place), "
                f"got {type(g).__name__} {getattr(g, 'dtype', '')}"
            )
        kept.append(g)
    return kept


def _is_floating_array(g) -> bool:
    if isinstance(g, np.ndarray):
        return g.dtype.kind == "f"
    return hasattr(g, "is_floating_point") and g.is_floating_point()
