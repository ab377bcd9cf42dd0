"""Constructor arguments, defaults and validation of each optimizer, written once.

Each class here is a mixin holding one optimizer's ``__init__`` (its
arguments, defaults and checks, with the messages ``torch.optim`` uses) and
the mapping from a parameter group to its rule's keyword arguments. The two
front ends combine it with their own base class::

    class Adam(AdamArgs, torch.optim.Optimizer): ...   # dlopt.optim_torch
    class Adam(AdamArgs, NumpyOptimizer): ...          # dlopt.optim_numpy

so both take exactly the arguments of their ``torch.optim`` namesake.
``foreach``, ``capturable``, ``differentiable`` and ``fused`` choose among
PyTorch's implementations of the same arithmetic; they are accepted so that
code written for ``torch.optim`` runs unchanged. ``foreach`` has no effect
(the result is the same); ``differentiable``, ``capturable`` and ``fused``
are not implemented and raise if set.
"""

from __future__ import annotations

from dlopt import rules


def _value(x) -> float:
    """A Python float from a float or a one-element tensor."""
    if hasattr(x, "numel"):
        if x.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        return float(x.item())
    return x


def _check_lr(lr) -> None:
    lr = _value(lr)
    if not 0.0 <= lr:  # also catches NaN
        raise ValueError(f"Invalid learning rate: {lr}")


def _check_nonneg(what: str, value) -> None:
    if not 0.0 <= value:
        raise ValueError(f"Invalid {what} value: {value}")


def _reject_unsupported(cls_name: str, **flags) -> None:
    for name, value in flags.items():
        if value:
            raise ValueError(
                f"{cls_name}({name}=True) is not implemented in dlopt; "
                f"use torch.optim.{cls_name} for that code path"
            )


class SGDArgs:
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False, foreach=None, differentiable=False, fused=None)``"""

    rule = staticmethod(rules.sgd)

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False, foreach=None, differentiable=False,
                 fused=None):
        _check_lr(lr)
        _check_nonneg("momentum", momentum)
        _check_nonneg("weight_decay", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        _reject_unsupported("SGD", differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        return dict(lr=_value(group["lr"]), momentum=group["momentum"],
                    dampening=group["dampening"], weight_decay=group["weight_decay"],
                    nesterov=group["nesterov"], maximize=group["maximize"])


class AdagradArgs:
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None)``"""

    rule = staticmethod(rules.adagrad)

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_lr(lr)
        _check_nonneg("lr_decay", lr_decay)
        _check_nonneg("weight_decay", weight_decay)
        _check_nonneg("initial_accumulator_value", initial_accumulator_value)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _reject_unsupported("Adagrad", differentiable=differentiable, fused=fused)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        return dict(lr=_value(group["lr"]), lr_decay=group["lr_decay"],
                    weight_decay=group["weight_decay"],
                    initial_accumulator_value=group["initial_accumulator_value"],
                    eps=group["eps"], maximize=group["maximize"])


class AdadeltaArgs:
    """``Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
    capturable=False, maximize=False, differentiable=False)``"""

    rule = staticmethod(rules.adadelta)

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        _check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_nonneg("weight_decay", weight_decay)
        _reject_unsupported("Adadelta", capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize,
                        capturable=capturable, foreach=foreach, differentiable=differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        return dict(lr=_value(group["lr"]), rho=group["rho"], eps=group["eps"],
                    weight_decay=group["weight_decay"], maximize=group["maximize"])


class RMSpropArgs:
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, capturable=False, foreach=None, maximize=False, differentiable=False)``"""

    rule = staticmethod(rules.rmsprop)

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, capturable=False, foreach=None, maximize=False,
                 differentiable=False):
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_nonneg("momentum", momentum)
        _check_nonneg("weight_decay", weight_decay)
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        _reject_unsupported("RMSprop", capturable=capturable, differentiable=differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        return dict(lr=_value(group["lr"]), alpha=group["alpha"], eps=group["eps"],
                    weight_decay=group["weight_decay"], momentum=group["momentum"],
                    centered=group["centered"], maximize=group["maximize"])


def _check_adam(lr, betas, eps, weight_decay) -> None:
    _check_lr(lr)
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    for i, beta in enumerate(betas):
        if not 0.0 <= _value(beta) < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {_value(beta)}")
    _check_nonneg("weight_decay", weight_decay)


class AdamArgs:
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
    decoupled_weight_decay=False)``"""

    rule = staticmethod(rules.adam)

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        _check_adam(lr, betas, eps, weight_decay)
        _reject_unsupported("Adam", capturable=capturable, differentiable=differentiable,
                            fused=fused)
        defaults = dict(lr=lr, betas=tuple(_value(b) for b in betas), eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    @staticmethod
    def hyperparameters(group) -> dict:
        beta1, beta2 = group["betas"]
        return dict(lr=_value(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"],
                    weight_decay=group["weight_decay"], amsgrad=group["amsgrad"],
                    maximize=group["maximize"],
                    decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamWArgs(AdamArgs):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False, foreach=None, capturable=False, differentiable=False, fused=None)``"""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
