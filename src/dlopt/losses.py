"""Loss functions with hand-written gradients, in NumPy.

Each loss has the name and the ``reduction`` of its ``torch.nn`` namesake and
the contract of the layers in :mod:`dlopt.layers`:

- ``loss.forward(prediction, target)`` (or ``loss(prediction, target)``) returns
  the loss as a Python float and saves what the gradient needs;
- ``loss.backward()`` returns :math:`\\partial L/\\partial\\,\\text{prediction}`,
  an array of the prediction's shape and dtype.

``reduction="mean"`` (the default) averages over the elements (over the samples
for cross-entropy), ``reduction="sum"`` adds them up. Shapes are validated, never
broadcast: a (N,) target against a (N, 1) prediction is an error, not an
(N, N) matrix of residuals.
"""

from __future__ import annotations

import numpy as np

from dlopt._validation import validate_array, validate_choice, validate_real
from dlopt.layers import log_softmax, sigmoid

__all__ = ["MSELoss", "BCEWithLogitsLoss", "CrossEntropyLoss"]


def _nonempty(prediction: np.ndarray) -> np.ndarray:
    if prediction.size == 0:
        raise ValueError(f"prediction must not be empty, got shape {prediction.shape}")
    return prediction


class _Loss:
    """Reduction, the forward/backward bookkeeping and the shape validation shared by the losses."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = validate_choice("reduction", reduction, {"mean", "sum"})
        self._saved: tuple | None = None

    def __call__(self, prediction, target) -> float:
        return self.forward(prediction, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(reduction={self.reduction!r})"

    def _reduce(self, losses: np.ndarray) -> float:
        return float(losses.mean() if self.reduction == "mean" else losses.sum())

    def _scale(self, count: int) -> float:
        """:math:`\\partial L/\\partial \\ell_i` per term :math:`\\ell_i`: 1/count or 1."""
        return 1.0 / count if self.reduction == "mean" else 1.0

    def _recall(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward() was called before forward(): "
                "call loss(prediction, target) first"
            )
        return self._saved

    @staticmethod
    def _same_shape(prediction, target) -> tuple[np.ndarray, np.ndarray]:
        """Both as arrays of the prediction's dtype, after validating that the shapes are equal."""
        prediction = _nonempty(validate_array("prediction", prediction))
        target = validate_array("target", target)
        if target.shape != prediction.shape:
            raise ValueError(
                f"target must have the shape of prediction {prediction.shape}, got {target.shape}"
            )
        return prediction, target.astype(prediction.dtype, copy=False)


class MSELoss(_Loss):
    """Mean squared error :math:`L = \\frac1n \\sum_i (\\hat y_i - y_i)^2`, :math:`n` elements.

    Gradient: :math:`\\partial L/\\partial \\hat y = \\frac2n (\\hat y - y)`.
    """

    def forward(self, prediction, target) -> float:
        prediction, target = self._same_shape(prediction, target)
        residual = prediction - target
        self._saved = (residual,)
        return self._reduce(residual**2)

    def backward(self) -> np.ndarray:
        (residual,) = self._recall()
        return 2 * residual * self._scale(residual.size)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy from logits :math:`z` and targets :math:`y \\in [0, 1]`.

    .. math::

        \\ell = -y \\log\\sigma(z) - (1-y)\\log(1-\\sigma(z))
              = \\max(z, 0) - z y + \\log(1 + e^{-|z|}),

    the right-hand form being finite for every :math:`z` (no :math:`\\log 0`, no
    overflow). Gradient: :math:`\\partial \\ell/\\partial z = \\sigma(z) - y`.
    """

    def forward(self, prediction, target) -> float:
        logits, target = self._same_shape(prediction, target)
        if np.any((target < 0) | (target > 1)):
            raise ValueError(
                f"target must hold values in [0, 1], got min {target.min()} and max {target.max()}"
            )
        self._saved = (logits, target)
        losses = np.maximum(logits, 0) - logits * target + np.log1p(np.exp(-np.abs(logits)))
        return self._reduce(losses)

    def backward(self) -> np.ndarray:
        logits, target = self._recall()
        return (sigmoid(logits) - target) * self._scale(logits.size)


class CrossEntropyLoss(_Loss):
    """Multi-class cross-entropy from logits :math:`z` (N, C) and class indices :math:`y` (N,).

    With :math:`\\log p = \\operatorname{log\\_softmax}(z)` (log-sum-exp, max-shifted) and
    label smoothing :math:`\\varepsilon`, the target distribution is
    :math:`q = (1-\\varepsilon)\\,\\text{onehot}(y) + \\varepsilon/C` and

    .. math::

        \\ell_n = -\\sum_c q_{nc} \\log p_{nc}, \\qquad
        \\frac{\\partial \\ell_n}{\\partial z_{nc}} = p_{nc} - q_{nc} ;

    ``reduction="mean"`` divides the sum by :math:`N`, as ``torch.nn.CrossEntropyLoss``.
    """

    def __init__(self, label_smoothing: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.label_smoothing = validate_real("label_smoothing", label_smoothing, low=0.0, high=1.0)

    def __repr__(self) -> str:
        return (
            f"CrossEntropyLoss(label_smoothing={self.label_smoothing}, "
            f"reduction={self.reduction!r})"
        )

    def forward(self, prediction, target) -> float:
        logits = _nonempty(validate_array("prediction", prediction, ndim=2))
        target = self._validate_classes(target, logits.shape)
        q = self._target_distribution(target, logits.shape[1], logits.dtype)
        log_p = log_softmax(logits, axis=1)
        self._saved = (np.exp(log_p), q)
        return self._reduce(-np.sum(q * log_p, axis=1))

    def backward(self) -> np.ndarray:
        p, q = self._recall()
        return (p - q) * self._scale(p.shape[0])

    def _target_distribution(self, target: np.ndarray, n_classes: int, dtype) -> np.ndarray:
        """:math:`q = (1-\\varepsilon)\\,\\text{onehot}(y) + \\varepsilon/C`, shape (N, C)."""
        eps = self.label_smoothing
        q = np.full((target.size, n_classes), eps / n_classes, dtype=dtype)
        q[np.arange(target.size), target] += 1 - eps
        return q

    @staticmethod
    def _validate_classes(target, logits_shape: tuple[int, int]) -> np.ndarray:
        if hasattr(target, "detach"):
            raise TypeError("target must be a NumPy array, got a torch tensor (use .numpy())")
        target = np.asarray(target)
        n, n_classes = logits_shape
        if target.dtype.kind not in "iu":
            raise TypeError(
                f"target must hold integer class indices, got dtype {target.dtype} "
                "(class probabilities are not supported)"
            )
        if target.shape != (n,):
            raise ValueError(
                f"target must have shape ({n},) for prediction of shape {logits_shape}, "
                f"got {target.shape}"
            )
        if target.min() < 0 or target.max() >= n_classes:
            raise ValueError(
                f"target must hold class indices in [0, {n_classes - 1}], "
                f"got values from {target.min()} to {target.max()}"
            )
        return target
