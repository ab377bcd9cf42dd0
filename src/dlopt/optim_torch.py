"""The torch front end: drop-in replacements for the ``torch.optim`` optimizers.

Each class subclasses ``torch.optim.Optimizer`` and takes exactly the
arguments, defaults and validation of its namesake, keeps its state under the
same keys (so ``state_dict`` files can move between the two), and calls the
rule in :mod:`dlopt.rules` that the NumPy front end calls too::

    model = torch.nn.Linear(3, 1)
    opt = dlopt.optim_torch.Adam(model.parameters(), lr=1e-3)
    loss = model(x).pow(2).mean(); opt.zero_grad(); loss.backward(); opt.step()

The classes are built from the definitions in :mod:`dlopt.optimizers` (one
per optimizer, shared with :mod:`dlopt.optim_numpy`); ``help()`` on any of
them shows its signature and its algorithm.
"""

from __future__ import annotations

import torch

from dlopt import optimizers


class RuleOptimizer(torch.optim.Optimizer):
    """Runs the definition's rule on every parameter that has a gradient."""

    @torch.no_grad()
    def for_each_parameter(self, fn) -> None:
        """``fn(group, param, state)`` for every parameter, without autograd."""
        for group in self.param_groups:
            for p in group["params"]:
                fn(group, p, self.state[p])

    @torch.no_grad()
    def step(self, closure=None):
        if self.needs_closure:
            if closure is None:
                raise RuntimeError(
                    f"{type(self).__name__}.step() needs a closure that "
                    "re-evaluates the model and returns the loss"
                )
            params = self.param_groups[0]["params"]
            problem = _FlatProblem(params, torch.enable_grad()(closure))
            return self.rule(
                problem, self.state[params[0]], **self.hyperparameters(self.param_groups[0])
            )
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        name = type(self).__name__
        for group in self.param_groups:
            hyper = self.hyperparameters(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.is_complex():
                    raise RuntimeError(f"{name} does not support complex parameters")
                if p.grad.is_sparse != self.sparse_gradients:
                    dense = f"{name} does not support dense gradients, please consider Adam instead"
                    sparse = f"{name} does not support sparse gradients"
                    raise RuntimeError(sparse if p.grad.is_sparse else dense)
                grad = p.grad
                if grad.is_sparse:
                    grad = grad.coalesce()
                    grad = (grad._indices(), grad._values())
                state = self.state[p]
                self.rule(p, grad, state, **hyper)
                if not state:  # a rule without state (SGD without momentum) leaves none, as torch
                    del self.state[p]
        return loss


class _FlatProblem:
    """All parameters seen as one flat vector, as a closure-driven rule (L-BFGS) needs them."""

    def __init__(self, params, closure):
        self.params, self.closure = params, closure

    def evaluate(self):
        loss = self.closure()
        grads = [
            p.new_zeros(p.numel())
            if p.grad is None
            else p.grad.to_dense().view(-1)
            if p.grad.is_sparse
            else p.grad.view(-1)
            for p in self.params
        ]
        return loss, torch.cat(grads)

    def add_(self, t, d):
        offset = 0
        for p in self.params:
            p.add_(d[offset : offset + p.numel()].view_as(p), alpha=t)
            offset += p.numel()

    def clone(self):
        return [p.clone(memory_format=torch.contiguous_format) for p in self.params]

    def restore(self, saved):
        for p, value in zip(self.params, saved):
            p.copy_(value)


def _front_end(definition: type) -> type:
    name = definition.__name__
    return type(
        name,
        (definition, RuleOptimizer),
        {"__module__": __name__, "__qualname__": name, "__doc__": definition.__doc__},
    )


globals().update({name: _front_end(d) for name, d in optimizers.DEFINITIONS.items()})
__all__ = list(optimizers.DEFINITIONS)
