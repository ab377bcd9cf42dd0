"""Every optimizer defined once: its constructor, its rule, its algorithm.

Each class below is the whole definition of one optimizer: the arguments,
defaults and validation of its ``torch.optim`` namesake (with the same error
messages), the rule in :mod:`dlopt.rules` that performs its step, and how a
parameter group's entries become that rule's keyword arguments. Its docstring
ends with the rule's algorithm in the book's notation.

The two front ends build their classes from these definitions, so a new
optimizer is a rule plus one class here (and its tests)::

    dlopt.optim_torch.Adam   # Adam + torch.optim.Optimizer: p.grad, step(closure)
    dlopt.optim_numpy.Adam   # Adam + optim_numpy.Optimizer: step(grads) on arrays

``foreach``, ``capturable``, ``differentiable`` and ``fused`` choose among
PyTorch's implementations of the same arithmetic; they are accepted so that
code written for ``torch.optim`` runs unchanged. ``foreach`` gives the same
result as without it, except in ASGD, where PyTorch's multi-tensor path rounds
differently and ``foreach=True`` follows it; ``differentiable``, ``capturable``
and ``fused`` are not implemented and raise if set.
"""

from __future__ import annotations

import inspect

from dlopt import rules

DEFINITIONS: dict[str, type] = {}
"""Every optimizer definition by name, in the order they are defined here."""


def _value(x) -> float:
    """A Python float from a float or a one-element tensor."""
    if hasattr(x, "numel"):
        if x.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return float(x.item())
    return x


def _validate_lr(lr, message="Invalid learning rate: {}") -> None:
    lr = _value(lr)
    if not 0.0 <= lr:  # also catches NaN
        raise ValueError(message.format(lr))


def _validate_nonneg(what: str, value) -> None:
    if not 0.0 <= value:
        raise ValueError(f"Invalid {what} value: {value}")


def _validate_eps(eps) -> None:
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")


def _validate_betas(betas) -> None:
    for i, beta in enumerate(betas):
        if not 0.0 <= _value(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {_value(beta)}")


def _reject_unsupported(cls_name: str, **flags) -> None:
    for name, value in flags.items():
        if value:
            raise ValueError(
                f"{cls_name}({name}=True) is not implemented in dlopt; "
                f"use torch.optim.{cls_name} for that code path"
            )


class Definition:
    """Base of every definition: registers it and appends its rule's algorithm to its docstring.

    A subclass sets ``rule`` and writes ``__init__`` (which ends with
    ``super().__init__(params, defaults)``, reaching the front end's base class).
    ``hyperparameters(group)`` passes the group's entries that the rule takes by
    name (``lr`` as a float, ``betas`` as ``beta1, beta2``); a definition whose
    group keys differ from its rule's arguments overrides it.
    """

    rule = None
    sparse_gradients = False  # True: the rule takes only sparse gradients (SparseAdam)
    needs_closure = False  # True: the rule takes the whole problem and a closure (LBFGS)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__ != __name__ or cls.rule is None:  # a front end's class, or a base
            return
        rule = cls.rule
        skip = 2 if cls.__dict__.get("needs_closure") else 3  # (problem, state) or (p, g, state)
        cls._rule_keys = tuple(inspect.signature(rule).parameters)[skip:]
        algorithm = inspect.cleandoc(rule.__doc__)
        cls.__doc__ = (
            inspect.cleandoc(cls.__doc__)
            + f"\n\nAlgorithm (:func:`dlopt.rules.{rule.__name__}`)\n\n"
            + algorithm
        )
        DEFINITIONS[cls.__name__] = cls

    @classmethod
    def hyperparameters(cls, group) -> dict:
        hyper = {}
        if "betas" in group:
            hyper["beta1"], hyper["beta2"] = (_value(b) for b in group["betas"])
        for key in cls._rule_keys:
            if key in group:
                hyper[key] = _value(group[key]) if key == "lr" else group[key]
        return hyper


class SGD(Definition):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False, foreach=None, differentiable=False, fused=None)``"""

    rule = staticmethod(rules.sgd)

    def __init__(
        self,
        params,
        lr=1e-3,
        momentum=0,
        dampening=0,
        weight_decay=0,
        nesterov=False,
        *,
        maximize=False,
        foreach=None,
        differentiable=False,
        fused=None,
    ):
        _validate_lr(lr)
        _validate_nonneg("momentum", momentum)
        _validate_nonneg("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _reject_unsupported("SGD", differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)


class Adagrad(Definition):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None)``"""

    rule = staticmethod(rules.adagrad)

    def __init__(
        self,
        params,
        lr=1e-2,
        lr_decay=0,
        weight_decay=0,
        initial_accumulator_value=0,
        eps=1e-10,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        fused=None,
    ):
        _validate_lr(lr)
        _validate_nonneg("lr_decay", lr_decay)
        _validate_nonneg("weight_decay", weight_decay)
        _validate_nonneg("initial_accumulator_value", initial_accumulator_value)
        _validate_eps(eps)
        _reject_unsupported("Adagrad", differentiable=differentiable, fused=fused)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)


class Adadelta(Definition):
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
    capturable=False, maximize=False, differentiable=False)``"""

    rule = staticmethod(rules.adadelta)

    def __init__(
        self,
        params,
        lr=1.0,
        rho=0.9,
        eps=1e-6,
        weight_decay=0,
        foreach=None,
        *,
        capturable=False,
        maximize=False,
        differentiable=False,
    ):
        _validate_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        _validate_eps(eps)
        _validate_nonneg("weight_decay", weight_decay)
        _reject_unsupported("Adadelta", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)


class RMSprop(Definition):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, capturable=False, foreach=None, maximize=False, differentiable=False)``"""

    rule = staticmethod(rules.rmsprop)

    def __init__(
        self,
        params,
        lr=1e-2,
        alpha=0.99,
        eps=1e-8,
        weight_decay=0,
        momentum=0,
        centered=False,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        _validate_lr(lr)
        _validate_eps(eps)
        _validate_nonneg("momentum", momentum)
        _validate_nonneg("weight_decay", weight_decay)
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        _reject_unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)


def _validate_adam(lr, betas, eps, weight_decay, *, foreach, capturable) -> None:
    if hasattr(lr, "numel") and foreach and not capturable:
        raise ValueError("lr as a Tensor is not supported for capturable=False and foreach=True")
    _validate_lr(lr)
    _validate_eps(eps)
    _validate_betas(betas)
    _validate_nonneg("weight_decay", weight_decay)
    tensors = [hasattr(b, "numel") for b in betas]
    if any(tensors) and not all(tensors):
        raise ValueError("betas must be either both floats or both Tensors")
    for i, beta in enumerate(betas):
        if tensors[i] and foreach and not capturable:
            raise ValueError(
                f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True"
            )
        if tensors[i] and beta.numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")


class Adam(Definition):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
    decoupled_weight_decay=False)``"""

    rule = staticmethod(rules.adam)

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        amsgrad=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
        fused=None,
        decoupled_weight_decay=False,
    ):
        _validate_adam(lr, betas, eps, weight_decay, foreach=foreach, capturable=capturable)
        _reject_unsupported(
            type(self).__name__, capturable=capturable, differentiable=differentiable, fused=fused
        )
        defaults = dict(
            lr=lr,
            betas=tuple(_value(b) for b in betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False, foreach=None, capturable=False, differentiable=False, fused=None)``

    Adam with ``decoupled_weight_decay=True`` and a default decay of 0.01."""

    rule = staticmethod(rules.adam)

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=1e-2,
        amsgrad=False,
        *,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        fused=None,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )


class NAdam(Definition):
    """``NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False,
    capturable=False, differentiable=False)``"""

    rule = staticmethod(rules.nadam)

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        momentum_decay=4e-3,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _validate_lr(lr)
        _validate_eps(eps)
        _validate_betas(betas)
        _validate_nonneg("weight_decay", weight_decay)
        _validate_nonneg("momentum_decay", momentum_decay)
        _reject_unsupported("NAdam", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)


class RAdam(Definition):
    """``RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
    differentiable=False)``"""

    rule = staticmethod(rules.radam)

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        decoupled_weight_decay=False,
        *,
        foreach=None,
        maximize=False,
        capturable=False,
        differentiable=False,
    ):
        _validate_lr(lr)
        _validate_eps(eps)
        _validate_betas(betas)
        _validate_nonneg("weight_decay", weight_decay)
        _reject_unsupported("RAdam", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)


class Adamax(Definition):
    """``Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
    maximize=False, differentiable=False, capturable=False)``"""

    rule = staticmethod(rules.adamax)

    def __init__(
        self,
        params,
        lr=2e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        foreach=None,
        *,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _validate_lr(lr)
        _validate_eps(eps)
        _validate_betas(betas)
        _validate_nonneg("weight_decay", weight_decay)
        _reject_unsupported("Adamax", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)


class ASGD(Definition):
    """``ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
    maximize=False, differentiable=False, capturable=False)``

    The averaged parameters are in ``optimizer.state[p]["ax"]``."""

    rule = staticmethod(rules.asgd)

    def __init__(
        self,
        params,
        lr=1e-2,
        lambd=1e-4,
        alpha=0.75,
        t0=1e6,
        weight_decay=0,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    ):
        _validate_lr(lr)
        _validate_nonneg("weight_decay", weight_decay)
        _reject_unsupported("ASGD", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)


class Rprop(Definition):
    """``Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
    foreach=None, maximize=False, differentiable=False)``"""

    rule = staticmethod(rules.rprop)

    def __init__(
        self,
        params,
        lr=1e-2,
        etas=(0.5, 1.2),
        step_sizes=(1e-6, 50),
        *,
        capturable=False,
        foreach=None,
        maximize=False,
        differentiable=False,
    ):
        _validate_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        _reject_unsupported("Rprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(
            lr=lr,
            etas=etas,
            step_sizes=step_sizes,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        (etaminus, etaplus), (low, high) = group["etas"], group["step_sizes"]
        return dict(
            lr=_value(group["lr"]),
            etaminus=etaminus,
            etaplus=etaplus,
            step_size_min=low,
            step_size_max=high,
            maximize=group["maximize"],
        )


class Adafactor(Definition):
    """``Adafactor(params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0,
    weight_decay=0.0, *, foreach=None, maximize=False)``"""

    rule = staticmethod(rules.adafactor)

    def __init__(
        self,
        params,
        lr=1e-2,
        beta2_decay=-0.8,
        eps=(None, 1e-3),
        d=1.0,
        weight_decay=0.0,
        *,
        foreach=None,
        maximize=False,
    ):
        _validate_lr(lr, "Learning rate should be >= 0 but is: {}")
        if not 0.0 >= beta2_decay:
            raise ValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise ValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise ValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise ValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        eps1, eps2 = group["eps"]
        return dict(
            lr=_value(group["lr"]),
            beta2_decay=group["beta2_decay"],
            eps1=eps1,
            eps2=eps2,
            d=group["d"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )


class SparseAdam(Definition):
    """``SparseAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False)``

    For embeddings and other layers with sparse gradients (``torch.nn.Embedding(...,
    sparse=True)``); a dense gradient is refused. The NumPy front end takes each
    gradient as a pair ``(indices, values)`` in PyTorch's COO layout."""

    rule = staticmethod(rules.sparse_adam)
    sparse_gradients = True

    @classmethod
    def hyperparameters(cls, group) -> dict:
        # a Tensor lr reaches the rule as given: PyTorch computes SparseAdam's step size
        # with it, in its dtype (float32 arithmetic for a float32 lr)
        return {**super().hyperparameters(group), "lr": group["lr"]}

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
        if hasattr(lr, "numel") and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 < _value(lr):
            raise ValueError(f"Invalid learning rate: {_value(lr)}")
        if not 0.0 < eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _validate_betas(betas)
        defaults = dict(lr=lr, betas=betas, eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        located = [
            (i, j, p)
            for i, group in enumerate(self.param_groups)
            for j, p in enumerate(group["params"])
        ]
        sparse = [[i, j] for i, j, p in located if getattr(p, "is_sparse", False)]
        if sparse:
            raise ValueError(
                f"Sparse params at indices {sparse}: SparseAdam requires dense parameter tensors"
            )
        complex_ = [[i, j] for i, j, p in located if hasattr(p, "is_complex") and p.is_complex()]
        if complex_:
            raise ValueError(
                f"Complex params at indices {complex_}: SparseAdam does not support "
                "complex parameters"
            )


class Muon(Definition):
    """``Muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.775, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None)``

    Only for 2-D parameters (weight matrices); give biases and embeddings to another
    optimizer. The orthogonalization runs in bfloat16 as in PyTorch (emulated on NumPy)."""

    rule = staticmethod(rules.muon)

    def __init__(
        self,
        params,
        lr=1e-3,
        weight_decay=0.1,
        momentum=0.95,
        nesterov=True,
        ns_coefficients=(3.4445, -4.775, 2.0315),
        eps=1e-7,
        ns_steps=5,
        adjust_lr_fn=None,
    ):
        _validate_lr(lr, "Learning rate should be >= 0 but is: {}")
        if not 0.0 <= momentum:
            raise ValueError(f"momentum should be >= 0 but is: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"weight decay should be >= 0 but is: {weight_decay}")
        if adjust_lr_fn is not None and adjust_lr_fn not in ["original", "match_rms_adamw"]:
            raise ValueError(f"Adjust learning rate function {adjust_lr_fn} is not supported")
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    size = p.size() if callable(p.size) else p.shape
                    raise ValueError(
                        "Muon only supports 2D parameters whereas we found a "
                        f"parameter with size: {size}"
                    )


class LBFGS(Definition):
    """``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
    tolerance_change=1e-9, history_size=100, line_search_fn=None)``

    ``step(closure)`` needs the closure (it evaluates the loss several times) and
    treats all parameters as one vector: one parameter group only."""

    rule = staticmethod(rules.lbfgs)
    needs_closure = True

    def __init__(
        self,
        params,
        lr=1,
        max_iter=20,
        max_eval=None,
        tolerance_grad=1e-7,
        tolerance_change=1e-9,
        history_size=100,
        line_search_fn=None,
    ):
        _validate_lr(lr)
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr,
            max_iter=max_iter,
            max_eval=max_eval,
            tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change,
            history_size=history_size,
            line_search_fn=line_search_fn,
        )
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")


# --- beyond torch.optim -----------------------------------------------------------------------


class Lion(Definition):
    """``Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, use_triton=False,
    decoupled_weight_decay=False)``, the arguments of the ``lion-pytorch`` package.

    With ``decoupled_weight_decay`` the decay is divided by the constructor's ``lr``,
    so that the decay per step, ``lr * weight_decay / lr_0``, follows a schedule."""

    rule = staticmethod(rules.lion)

    def __init__(
        self,
        params,
        lr=1e-4,
        betas=(0.9, 0.99),
        weight_decay=0.0,
        use_triton=False,
        decoupled_weight_decay=False,
    ):
        if not 0.0 < _value(lr):
            raise ValueError(f"Invalid learning rate: {_value(lr)} (Lion needs lr > 0)")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta <= 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        _validate_nonneg("weight_decay", weight_decay)
        _reject_unsupported("Lion", use_triton=use_triton)
        defaults = dict(
            lr=lr,
            betas=betas,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            init_lr=_value(lr),
        )
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        beta1, beta2 = group["betas"]
        decay = group["weight_decay"]
        if group.get("decoupled_weight_decay", False):
            decay /= group["init_lr"]
        return dict(lr=_value(group["lr"]), beta1=beta1, beta2=beta2, weight_decay=decay)


class _ScheduleFree(Definition):
    """Shared by the schedule-free optimizers: the group counters, and ``train()``/``eval()``."""

    _momentum_key = None

    def __init__(self, params, defaults):
        defaults.update(k=0, train_mode=False, weight_sum=0.0, lr_max=-1.0, scheduled_lr=0.0)
        super().__init__(params, defaults)

    @classmethod
    def hyperparameters(cls, group) -> dict:
        if not group["train_mode"]:
            raise RuntimeError(
                "Optimizer was not in train mode when step is called. "
                "Please insert .train() and .eval() calls on the optimizer. "
                "See documentation for details."
            )
        beta2 = group["betas"][1] if "betas" in group else None
        hyper = rules.schedule_free_weights(
            group,
            lr=_value(group["lr"]),
            beta2=beta2,
            warmup_steps=group["warmup_steps"],
            r=group["r"],
            weight_lr_power=group["weight_lr_power"],
        )
        if "betas" in group:
            hyper.update(beta1=group["betas"][0], beta2=beta2, eps=group["eps"])
        else:
            hyper["momentum"] = group["momentum"]
        hyper["weight_decay"] = group["weight_decay"]
        return hyper

    def _swap(self, train: bool) -> None:
        def swap(group, param, state):
            if group["train_mode"] != train:
                momentum = group["betas"][0] if "betas" in group else group["momentum"]
                rules.schedule_free_swap(param, state, momentum=momentum, to_average=not train)

        self.for_each_parameter(swap)
        for group in self.param_groups:
            group["train_mode"] = train

    def train(self) -> None:
        """Put the training point y in the parameters (call before training steps)."""
        self._swap(True)

    def eval(self) -> None:
        """Put the average x in the parameters (call before evaluating or saving the model)."""
        self._swap(False)


class SGDScheduleFree(_ScheduleFree):
    """``SGDScheduleFree(params, lr=1.0, momentum=0.9, weight_decay=0, warmup_steps=0, r=0.0,
    weight_lr_power=2, foreach=None)``, the arguments of Meta's ``schedulefree`` package.

    Call ``optimizer.train()`` before training and ``optimizer.eval()`` before
    evaluating: the parameters hold y while training and the average x after eval()."""

    rule = staticmethod(rules.sgd_schedule_free)

    def __init__(
        self,
        params,
        lr=1.0,
        momentum=0.9,
        weight_decay=0,
        warmup_steps=0,
        r=0.0,
        weight_lr_power=2,
        foreach=None,
    ):
        if _value(lr) < 0.0:
            raise ValueError(f"Invalid learning rate: {_value(lr)}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if momentum <= 0 or momentum >= 1:
            raise ValueError(f"Momentum must be between 0 and 1 exclusive: {momentum}")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                r=r,
                warmup_steps=warmup_steps,
                weight_lr_power=weight_lr_power,
                weight_decay=weight_decay,
                foreach=foreach,
            ),
        )


class AdamWScheduleFree(_ScheduleFree):
    """``AdamWScheduleFree(params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    warmup_steps=0, r=0.0, weight_lr_power=2.0, foreach=None)``, the arguments of Meta's
    ``schedulefree`` package.

    Call ``optimizer.train()`` before training and ``optimizer.eval()`` before
    evaluating: the parameters hold y while training and the average x after eval()."""

    rule = staticmethod(rules.adamw_schedule_free)

    def __init__(
        self,
        params,
        lr=0.0025,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0,
        warmup_steps=0,
        r=0.0,
        weight_lr_power=2.0,
        foreach=None,
    ):
        _validate_lr(lr)
        _validate_eps(eps)
        _validate_betas(betas)
        _validate_nonneg("weight_decay", weight_decay)
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=betas,
                eps=eps,
                r=r,
                warmup_steps=warmup_steps,
                weight_lr_power=weight_lr_power,
                weight_decay=weight_decay,
                foreach=foreach,
            ),
        )
