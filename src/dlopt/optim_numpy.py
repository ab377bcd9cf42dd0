"""The NumPy front end: the same optimizers for plain NumPy arrays.

The classes have the names, arguments and defaults of ``torch.optim`` (and of
:mod:`dlopt.optim_torch`) and call the same rules in :mod:`dlopt.rules`. Since
NumPy arrays carry no ``.grad``, ``step`` takes the gradients, as a list
aligned with the parameters, and updates the parameters in place::

    w = np.zeros(3)
    opt = Adam([w], lr=0.1)
    for _ in range(100):
        opt.step([grad_of_loss(w)])

Parameter groups work as in PyTorch (``[{"params": [w1], "lr": 0.1}, {"params":
[w2]}]``), so learning-rate schedules and discriminative learning rates apply
to both front ends alike. The classes are built from the definitions in
:mod:`dlopt.optimizers`, shared with :mod:`dlopt.optim_torch`.
"""

from __future__ import annotations

import copy as _copy

import numpy as np

from dlopt import optimizers


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``step(grads)``, ``state_dict``.

    ``state`` is a list of dicts, one per parameter in the order of
    :meth:`parameters`, with the key names PyTorch uses.
    """

    rule = None  # set by each optimizer's definition (dlopt.optimizers)
    sparse_gradients = False

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        if isinstance(params, np.ndarray):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of arrays "
                "or dicts, but got a single numpy.ndarray (wrap it in a list: [w])"
            )
        params = list(params)
        if len(params) == 0:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups: list[dict] = []
        self.state: list[dict] = []
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group (a dict with ``"params"`` and optional hyperparameter overrides)."""
        if not isinstance(param_group, dict) or "params" not in param_group:
            raise TypeError("a param group must be a dict with a 'params' key")
        group = dict(param_group)
        params = group["params"]
        params = [params] if isinstance(params, np.ndarray) else list(params)
        if not params:
            raise ValueError("a param group got an empty parameter list")
        seen = {id(p) for p in self.parameters()}
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
                raise TypeError(
                    f"params[{i}] must be a floating-point numpy.ndarray, got "
                    f"{type(p).__name__}{'' if not hasattr(p, 'dtype') else ' ' + str(p.dtype)}"
                )
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)
        self.state.extend({} for _ in params)

    def for_each_parameter(self, fn) -> None:
        """``fn(group, param, state)`` for every parameter."""
        index = 0
        for group in self.param_groups:
            for p in group["params"]:
                fn(group, p, self.state[index])
                index += 1

    def parameters(self) -> list[np.ndarray]:
        return [p for group in self.param_groups for p in group["params"]]

    def step(self, grads) -> None:
        """Update every parameter in place from ``grads`` (aligned with :meth:`parameters`).

        A ``None`` gradient skips its parameter, as a missing ``.grad`` does in PyTorch.
        An optimizer that evaluates the loss several times a step (``LBFGS``) takes
        instead a closure returning ``(loss, grads)`` at the current parameters, and
        returns the first loss.
        """
        if self.needs_closure:
            if not callable(grads):
                raise TypeError(
                    f"{type(self).__name__}.step() needs a closure returning "
                    f"(loss, grads), got {type(grads).__name__}"
                )
            return self.rule(
                _FlatProblem(self, grads),
                self.state[0],
                **self.hyperparameters(self.param_groups[0]),
            )
        grads = self._validate_dense(list(grads))
        index = 0
        for group in self.param_groups:
            hyper = self.hyperparameters(group)
            for p in group["params"]:
                g = grads[index]
                if g is not None:
                    if not self.sparse_gradients:
                        g = np.asarray(g, dtype=p.dtype)
                    self.rule(p, g, self.state[index], **hyper)
                index += 1

    def _validate_dense(self, grads: list) -> list:
        """``grads`` validated against the parameters (count, shapes, NaN) before anything moves;
        sparse ones coalesced."""
        params = self.parameters()
        if len(grads) != len(params):
            raise ValueError(
                f"step() expected {len(params)} gradients (one per parameter), got {len(grads)}"
            )
        for i, (p, g) in enumerate(zip(params, grads)):
            if g is None:
                continue
            if self.sparse_gradients:
                grads[i] = _coalesced(i, g, p.shape, p.dtype)
                continue
            g = np.asarray(g)
            if g.shape != p.shape:
                raise ValueError(f"grads[{i}] has shape {g.shape}, expected {p.shape}")
            if np.isnan(g).any():
                raise ValueError(f"grads[{i}] contains NaN")
        return grads

    def state_dict(self) -> dict:
        """A deep copy of the state and of the groups' hyperparameters (params by index)."""
        groups, start = [], 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(start, start + len(group["params"])))
            start += len(group["params"])
            groups.append(packed)
        return {"state": _copy.deepcopy(self.state), "param_groups": _copy.deepcopy(groups)}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` saved, onto the same parameter layout."""
        groups = state_dict["param_groups"]
        if [len(g["params"]) for g in groups] != [len(g["params"]) for g in self.param_groups]:
            raise ValueError("loaded state dict's parameter groups don't match this optimizer's")
        for group, saved in zip(self.param_groups, groups):
            group.update({k: _copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = _copy.deepcopy(list(state_dict["state"]))

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


class _FlatProblem:
    """All parameters seen as one flat vector, as a closure-driven rule (L-BFGS) needs them."""

    def __init__(self, optimizer, closure):
        self.optimizer, self.params, self.closure = optimizer, optimizer.parameters(), closure

    def evaluate(self):
        loss, grads = self.closure()
        grads = list(grads)
        self.optimizer._validate_dense(grads)
        return loss, np.concatenate(
            [
                np.zeros(p.size, p.dtype) if g is None else np.asarray(g, dtype=p.dtype).ravel()
                for p, g in zip(self.params, grads)
            ]
        )

    def add_(self, t, d):
        offset = 0
        for p in self.params:
            p += t * d[offset : offset + p.size].reshape(p.shape)
            offset += p.size

    def clone(self):
        return [p.copy() for p in self.params]

    def restore(self, saved):
        for p, value in zip(self.params, saved):
            p[...] = value


def _coalesced(i: int, grad, shape, dtype):
    """A sparse gradient ``(indices, values)`` validated, with repeated indices summed and the
    columns sorted (what ``torch.Tensor.coalesce`` does)."""
    if not (isinstance(grad, tuple) and len(grad) == 2):
        raise TypeError(
            f"grads[{i}] must be a sparse gradient (indices, values), got {type(grad).__name__}"
        )
    indices, values = np.asarray(grad[0]), np.asarray(grad[1])
    if indices.ndim != 2 or indices.dtype.kind not in "iu" or indices.shape[0] > len(shape):
        raise ValueError(
            f"grads[{i}] indices must be an integer array of shape (k, nnz) with "
            f"k <= {len(shape)}, got {indices.dtype} {indices.shape}"
        )
    k = indices.shape[0]
    if values.shape != (indices.shape[1], *shape[k:]):
        raise ValueError(
            f"grads[{i}] values have shape {values.shape}, expected "
            f"{(indices.shape[1], *shape[k:])}"
        )
    if np.isnan(values).any():
        raise ValueError(f"grads[{i}] contains NaN")
    if indices.size and (indices.min() < 0 or np.any(indices.max(axis=1) >= shape[:k])):
        raise ValueError(f"grads[{i}] has an index out of range for a parameter of shape {shape}")
    flat = np.ravel_multi_index(tuple(indices), shape[:k])
    unique, where = np.unique(flat, return_inverse=True)
    summed = np.zeros((unique.size, *values.shape[1:]), dtype=dtype)
    np.add.at(summed, where, values)
    return np.array(np.unravel_index(unique, shape[:k])).reshape(k, -1), summed


def _front_end(definition: type) -> type:
    name = definition.__name__
    return type(
        name,
        (definition, Optimizer),
        {"__module__": __name__, "__qualname__": name, "__doc__": definition.__doc__},
    )


globals().update({name: _front_end(d) for name, d in optimizers.DEFINITIONS.items()})
__all__ = ["Optimizer", *optimizers.DEFINITIONS]
