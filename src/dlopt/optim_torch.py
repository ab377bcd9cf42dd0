"""The torch front end: drop-in replacements for six ``torch.optim`` optimizers.

Each class subclasses ``torch.optim.Optimizer`` and takes exactly the
arguments, defaults and validation of its namesake, keeps its state under the
same keys (so ``state_dict`` files can move between the two), and calls the
rule in :mod:`dlopt.rules` that the NumPy front end calls too::

    model = torch.nn.Linear(3, 1)
    opt = dlopt.optim_torch.Adam(model.parameters(), lr=1e-3)
    loss = model(x).pow(2).mean(); opt.zero_grad(); loss.backward(); opt.step()
"""

from __future__ import annotations

import torch

from dlopt._optim_args import (
    AdadeltaArgs,
    AdagradArgs,
    AdamArgs,
    AdamWArgs,
    RMSpropArgs,
    SGDArgs,
)

__all__ = ["SGD", "Adagrad", "Adadelta", "RMSprop", "Adam", "AdamW"]


class _RuleOptimizer(torch.optim.Optimizer):
    """Runs ``self.rule`` on every parameter that has a gradient."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = self.hyperparameters(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                self.rule(p, p.grad, self.state[p], **hyper)
        return loss


class SGD(SGDArgs, _RuleOptimizer):
    __doc__ = SGDArgs.__doc__


class Adagrad(AdagradArgs, _RuleOptimizer):
    __doc__ = AdagradArgs.__doc__


class Adadelta(AdadeltaArgs, _RuleOptimizer):
    __doc__ = AdadeltaArgs.__doc__


class RMSprop(RMSpropArgs, _RuleOptimizer):
    __doc__ = RMSpropArgs.__doc__


class Adam(AdamArgs, _RuleOptimizer):
    __doc__ = AdamArgs.__doc__


class AdamW(AdamWArgs, _RuleOptimizer):
    __doc__ = AdamWArgs.__doc__
