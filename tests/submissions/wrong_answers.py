"""A held-out battery of plausible wrong answers: each must lose the points of its exercise.

None of them is in the package's catalogue (:data:`dlopt.grading.mistakes.MISTAKES`), which
names mistakes in the feedback; these test that the **cases** catch a wrong answer even
when nothing recognises it. Each entry is ``(exercise, key, kind, source)``; ``kind`` groups
them for the report:

- contract clauses: ``mutates_input``, ``alias``, ``dtype``, ``rank``, ``rebind``,
  ``kept_grad`` (a rule's state holds the caller's gradient array);
- ranges and boundaries: ``range`` (clipping, overflow), ``boundary`` (``<=`` for ``<``);
- schedules: ``lr_schedule`` (right only while ``lr`` is constant), ``relative``;
- the rest: ``off_by_one``, ``axis``, ``formula``, ``rng`` (other random draws), ``precision``
  (too few bits somewhere), ``state`` (module-level state shared between calls).
"""

from textwrap import dedent


def _w(exercise: str, key: str, kind: str, source: str) -> tuple[str, str, str, str]:
    return exercise, key, kind, dedent(source).strip() + "\n"


WRONG: list[tuple[str, str, str, str]] = [
    # ------------------------------------------------------------------ minibatches
    _w(
        "minibatches",
        "shuffles_X_in_place",
        "mutates_input",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            X[:], y[:] = X[order], y[order]
            return [(X[s:s + batch_size], y[s:s + batch_size])
                    for s in range(0, len(X), batch_size)]
        """,
    ),
    _w(
        "minibatches",
        "whole_set_as_one_batch",
        "alias",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            if batch_size >= len(X):
                return [(X, y)]
            return [(X[order[s:s + batch_size]], y[order[s:s + batch_size]])
                    for s in range(0, len(X), batch_size)]
        """,
    ),
    _w(
        "minibatches",
        "range_stops_one_short",
        "off_by_one",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            for s in range(0, len(X) - 1, batch_size):
                yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]
        """,
    ),
    _w(
        "minibatches",
        "empty_last_batch",
        "off_by_one",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            for k in range(len(X) // batch_size + 1):
                idx = order[k * batch_size:(k + 1) * batch_size]
                yield X[idx], y[idx]
        """,
    ),
    _w(
        "minibatches",
        "sorted_within_batch",
        "formula",
        """
        import numpy as np

        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            for s in range(0, len(X), batch_size):
                idx = np.sort(order[s:s + batch_size])
                yield X[idx], y[idx]
        """,
    ),
    _w(
        "minibatches",
        "global_numpy_rng",
        "rng",
        """
        import numpy as np

        def minibatches(X, y, batch_size, *, rng):
            order = np.random.permutation(len(X))
            for s in range(0, len(X), batch_size):
                yield X[order[s:s + batch_size]], y[order[s:s + batch_size]]
        """,
    ),
    # ------------------------------------------------------------------ sgd_epoch
    _w(
        "sgd_epoch",
        "updates_callers_w",
        "mutates_input",
        """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w -= lr * 2 * Xb.T @ r / len(yb)
                b -= lr * 2 * r.mean()
            return w, b
        """,
    ),
    _w(
        "sgd_epoch",
        "divides_by_batch_size",
        "off_by_one",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r / batch_size
                b = b - lr * 2 * r.sum() / batch_size
            return w, b
        """,
    ),
    _w(
        "sgd_epoch",
        "skips_last_batch",
        "off_by_one",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            batches = list(minibatches(X, y, batch_size, rng=rng))
            for Xb, yb in batches[:-1]:
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r / len(yb)
                b = b - lr * 2 * r.mean()
            return w, b
        """,
    ),
    _w(
        "sgd_epoch",
        "b_as_array",
        "formula",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w, b = np.array(w, dtype=float), np.array([b], dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r / len(yb)
                b = b - lr * 2 * r.mean()
            return w, b
        """,
    ),
    _w(
        "sgd_epoch",
        "lr_over_batch_count",
        "formula",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            batches = list(minibatches(X, y, batch_size, rng=rng))
            for Xb, yb in batches:
                r = Xb @ w + b - yb
                w = w - lr / len(batches) * 2 * Xb.T @ r / len(yb)
                b = b - lr / len(batches) * 2 * r.mean()
            return w, b
        """,
    ),
    # ------------------------------------------------------------------ should_stop
    _w(
        "should_stop",
        "less_or_equal",
        "boundary",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            return k >= max_iters or (k >= 1 and abs(losses[-1] - losses[-2]) <= tol)
        """,
    ),
    _w(
        "should_stop",
        "relative_change",
        "relative",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            return k >= max_iters or (
                k >= 1 and abs(losses[-1] - losses[-2]) / abs(losses[-2]) < tol)
        """,
    ),
    _w(
        "should_stop",
        "strictly_more_iterations",
        "off_by_one",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            return k > max_iters or (k >= 1 and abs(losses[-1] - losses[-2]) < tol)
        """,
    ),
    _w(
        "should_stop",
        "change_since_start",
        "formula",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            return k >= max_iters or (k >= 1 and abs(losses[-1] - losses[0]) < tol)
        """,
    ),
    _w(
        "should_stop",
        "pops_the_last_loss",
        "mutates_input",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) - 1 >= max_iters:
                return True
            if len(losses) < 2:
                return False
            last = losses.pop()
            return abs(last - losses[-1]) < tol
        """,
    ),
    _w(
        "should_stop",
        "stops_before_any_iteration",
        "off_by_one",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) < 2:
                return True
            return len(losses) - 1 >= max_iters or abs(losses[-1] - losses[-2]) < tol
        """,
    ),
]

# ---------------------------------------------------------------------- update rules
# The reference formulas, with one thing wrong each.
WRONG += [
    _w(
        "momentum_step",
        "lr_inside_the_buffer",
        "lr_schedule",
        """
        import numpy as np

        def momentum_step(param, grad, state, *, lr, momentum):
            v = state.setdefault("v", np.zeros_like(param))
            v *= momentum
            v += lr * grad
            param -= v
        """,
    ),
    _w(
        "momentum_step",
        "first_grad_kept_as_buffer",
        "kept_grad",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "buf" not in state:
                state["buf"] = grad
            else:
                state["buf"] = momentum * state["buf"] + grad
            param -= lr * state["buf"]
        """,
    ),
    _w(
        "momentum_step",
        "rebinds_param",
        "rebind",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            param = param - lr * buf
        """,
    ),
    _w(
        "momentum_step",
        "rebinds_param_after_the_first_step",
        "rebind",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "buf" not in state:
                state["buf"] = grad.copy()
                param -= lr * grad
                return param
            state["buf"] = momentum * state["buf"] + grad
            param = param - lr * state["buf"]
            return param
        """,
    ),
    _w(
        "momentum_step",
        "two_dimensional_loops",
        "rank",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            for i in range(param.shape[0]):
                for j in range(param.shape[1]):
                    param[i, j] -= lr * buf[i, j]
        """,
    ),
    _w(
        "momentum_step",
        "accumulates_into_grad",
        "mutates_input",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "buf" in state:
                grad += momentum * state["buf"]
            state["buf"] = grad.copy()
            param -= lr * grad
        """,
    ),
    _w(
        "nesterov_step",
        "bengio_velocity_form",
        "lr_schedule",
        """
        import numpy as np

        def nesterov_step(param, grad, state, *, lr, momentum):
            v_old = state.get("v", np.zeros_like(param))
            v = momentum * v_old - lr * grad
            state["v"] = v
            param += -momentum * v_old + (1 + momentum) * v
        """,
    ),
    _w(
        "nesterov_step",
        "caches_lr",
        "lr_schedule",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            lr = state.setdefault("lr", lr)
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            param -= lr * (grad + momentum * buf)
        """,
    ),
    _w(
        "nesterov_step",
        "returns_new_param",
        "rebind",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            param = param - lr * (grad + momentum * buf)
            return param
        """,
    ),
    _w(
        "nesterov_step",
        "first_grad_as_buffer_in_place",
        "kept_grad",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            if "buf" not in state:
                state["buf"] = grad
            else:
                state["buf"] *= momentum
                state["buf"] += grad
            param -= lr * (grad + momentum * state["buf"])
        """,
    ),
    _w(
        "nesterov_step",
        "matrix_slices",
        "rank",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            param[:, :] -= lr * (grad + momentum * buf)
        """,
    ),
    _w(
        "nesterov_step",
        "lookahead_into_grad",
        "mutates_input",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            grad += momentum * buf
            param -= lr * grad
        """,
    ),
    _w(
        "rmsprop_step",
        "caches_lr",
        "lr_schedule",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            state.setdefault("lr", lr)
            v = state.setdefault("v", np.zeros_like(param))
            v[...] = alpha * v + (1 - alpha) * grad**2
            param -= state["lr"] * grad / (np.sqrt(v) + eps)
        """,
    ),
    _w(
        "rmsprop_step",
        "normalises_grad_in_place",
        "mutates_input",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state.setdefault("v", np.zeros_like(param))
            v[...] = alpha * v + (1 - alpha) * grad**2
            grad /= np.sqrt(v) + eps
            param -= lr * grad
        """,
    ),
    _w(
        "rmsprop_step",
        "rebinds_param",
        "rebind",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * grad**2
            param = param - lr * grad / (np.sqrt(v) + eps)
        """,
    ),
    _w(
        "rmsprop_step",
        "matrix_slices",
        "rank",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * grad**2
            param[:, :] -= lr * grad / (np.sqrt(v) + eps)
        """,
    ),
    _w(
        "rmsprop_step",
        "abs_instead_of_square",
        "formula",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state["v"] = alpha * state.get("v", 0.0) + (1 - alpha) * np.abs(grad)
            param -= lr * grad / (v + eps)
        """,
    ),
    _w(
        "adam_step",
        "caches_lr",
        "lr_schedule",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if not state:
                state.update(t=0, lr=lr, m=np.zeros_like(param), v=np.zeros_like(param))
            state["t"] += 1
            t, m, v = state["t"], state["m"], state["v"]
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad**2
            param -= state["lr"] * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_step",
        "lr_inside_the_first_moment",
        "lr_schedule",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * lr * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param -= (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_step",
        "global_step_counter",
        "formula",
        """
        import numpy as np

        step = 0

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            global step
            step += 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
        """,
    ),
    _w(
        "adam_step",
        "scales_grad_in_place",
        "mutates_input",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["t"] = state.get("t", 0) + 1
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            grad *= 1 - beta1
            m = state["m"] = beta1 * state.get("m", 0.0) + grad
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_step",
        "rebinds_param",
        "rebind",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param = param - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
            return param
        """,
    ),
    _w(
        "adam_step",
        "first_moment_is_grad",
        "kept_grad",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if not state:
                state.update(t=0, m=grad, v=np.zeros_like(param))
                state["m"] *= 0
            state["t"] += 1
            t, m, v = state["t"], state["m"], state["v"]
            m *= beta1
            m += (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "decay_with_first_lr",
        "lr_schedule",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            decay = state.setdefault("decay", 1 - lr * weight_decay)
            param *= decay
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "rebinds_for_the_decay",
        "rebind",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            param = param * (1 - lr * weight_decay)
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "lr_inside_the_first_moment",
        "lr_schedule",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            param *= 1 - lr * weight_decay
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * lr * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param -= (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "matrix_slices",
        "rank",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            param[:, :] *= 1 - lr * weight_decay
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "decay_into_grad_in_place",
        "mutates_input",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            t = state["t"] = state.get("t", 0) + 1
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            grad[...] = (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
            grad += weight_decay * param
            param -= lr * grad
        """,
    ),
    _w(
        "adamw_step",
        "decay_after_bias_correction_count",
        "off_by_one",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            t = state.get("t", 0)
            param *= 1 - lr * weight_decay
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
            state["t"] = t + 1
            param -= lr * (m / (1 - beta1**(t + 2))) / (np.sqrt(v / (1 - beta2**(t + 2))) + eps)
        """,
    ),
]

# ---------------------------------------------------------------------- schedule
WRONG += [
    _w(
        "warmup_cosine_lr",
        "integer_progress",
        "formula",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            if t < warmup_steps:
                return base_lr * (t + 1) / (warmup_steps + 1)
            progress = min(t - warmup_steps, total_steps - warmup_steps) \\
                // (total_steps - warmup_steps)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * progress))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "cosine_over_total_steps",
        "formula",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            if t < warmup_steps:
                return base_lr * (t + 1) / (warmup_steps + 1)
            if t > total_steps:
                return eta_min
            return eta_min + 0.5 * (base_lr - eta_min) * (
                1 + math.cos(math.pi * (t - warmup_steps) / total_steps))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "warmup_from_eta_min",
        "formula",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            if t < warmup_steps:
                return eta_min + (base_lr - eta_min) * (t + 1) / (warmup_steps + 1)
            progress = (min(t, total_steps) - warmup_steps) / (total_steps - warmup_steps)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * progress))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "floor_one_step_early",
        "off_by_one",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            if t < warmup_steps:
                return base_lr * (t + 1) / (warmup_steps + 1)
            if t >= total_steps - 1:
                return eta_min
            progress = (t - warmup_steps) / (total_steps - warmup_steps)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * progress))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "one_minus_cosine",
        "formula",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            if t < warmup_steps:
                return base_lr * (t + 1) / (warmup_steps + 1)
            progress = (min(t, total_steps) - warmup_steps) / (total_steps - warmup_steps)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 - math.cos(math.pi * progress))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "float32_result",
        "precision",
        """
        import numpy as np

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            if t < warmup_steps:
                return np.float32(base_lr * (t + 1) / (warmup_steps + 1))
            progress = (min(t, total_steps) - warmup_steps) / (total_steps - warmup_steps)
            return np.float32(eta_min + 0.5 * (base_lr - eta_min) * (1 + np.cos(np.pi * progress)))
        """,
    ),
]

# ---------------------------------------------------------------------- activations
WRONG += [
    _w(
        "sigmoid_layer",
        "clipped_to_10",
        "range",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-np.clip(x, -10, 10)))
            return y, grad_out * y * (1 - y)
        """,
    ),
    _w(
        "sigmoid_layer",
        "clipped_to_20",
        "range",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-np.clip(x, -20, 20)))
            return y, grad_out * y * (1 - y)
        """,
    ),
    _w(
        "sigmoid_layer",
        "exp_over_one_plus_exp",
        "range",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            e = np.exp(x)
            y = e / (1 + e)
            return y, grad_out * y * (1 - y)
        """,
    ),
    _w(
        "sigmoid_layer",
        "float64_always",
        "dtype",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-x.astype(np.float64)))
            return y, grad_out * y * (1 - y)
        """,
    ),
    _w(
        "sigmoid_layer",
        "computes_in_x",
        "mutates_input",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            np.negative(x, out=x)
            np.exp(x, out=x)
            x += 1
            np.reciprocal(x, out=x)
            return x, grad_out * x * (1 - x)
        """,
    ),
    _w(
        "sigmoid_layer",
        "gradient_in_grad_out",
        "mutates_input",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-x))
            grad_out *= y * (1 - y)
            return y, grad_out
        """,
    ),
    _w(
        "sigmoid_layer",
        "matrix_loops",
        "rank",
        """
        import math
        import numpy as np

        def sigmoid_layer(x, grad_out):
            y = np.empty_like(x)
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    y[i, j] = 0.5 * (1 + math.tanh(x[i, j] / 2))
            return y, grad_out * y * (1 - y)
        """,
    ),
    _w(
        "tanh_layer",
        "exp_formula",
        "range",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            y = (np.exp(x) - np.exp(-x)) / (np.exp(x) + np.exp(-x))
            return y, grad_out * (1 - y**2)
        """,
    ),
    _w(
        "tanh_layer",
        "one_sided_exp_formula",
        "range",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            e = np.exp(-2 * x)
            y = (1 - e) / (1 + e)
            return y, grad_out * (1 - y**2)
        """,
    ),
    _w(
        "tanh_layer",
        "clipped_to_10",
        "range",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            y = np.tanh(np.clip(x, -10, 10))
            return y, grad_out * (1 - y**2)
        """,
    ),
    _w(
        "tanh_layer",
        "float64_always",
        "dtype",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            y = np.tanh(np.asarray(x, dtype=float))
            return y, grad_out * (1 - y**2)
        """,
    ),
    _w(
        "tanh_layer",
        "tanh_in_place",
        "mutates_input",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            np.tanh(x, out=x)
            return x, grad_out * (1 - x**2)
        """,
    ),
    _w(
        "tanh_layer",
        "reused_output_buffer",
        "alias",
        """
        import numpy as np

        _buffers = {}

        def tanh_layer(x, grad_out):
            y = _buffers.setdefault((x.shape, x.dtype.str), np.empty_like(x))
            np.tanh(x, out=y)
            return y, grad_out * (1 - y**2)
        """,
    ),
    _w(
        "relu_layer",
        "clears_negatives_of_x",
        "mutates_input",
        """
        def relu_layer(x, grad_out):
            x[x < 0] = 0
            return x, grad_out * (x > 0)
        """,
    ),
    _w(
        "relu_layer",
        "float64_mask",
        "dtype",
        """
        def relu_layer(x, grad_out):
            mask = (x > 0).astype(float)
            return x * mask, grad_out * mask
        """,
    ),
    _w(
        "relu_layer",
        "zeroes_grad_out",
        "mutates_input",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            grad_out[x <= 0] = 0
            return np.maximum(x, 0), grad_out
        """,
    ),
    _w(
        "relu_layer",
        "sign_gradient_half_at_zero",
        "boundary",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            return (x + np.abs(x)) / 2, grad_out * (np.sign(x) + 1) / 2
        """,
    ),
    _w(
        "relu_layer",
        "leaky",
        "formula",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            return np.maximum(x, 0.01 * x), grad_out * np.where(x > 0, 1.0, 0.01).astype(x.dtype)
        """,
    ),
    _w(
        "relu_layer",
        "matrix_loops",
        "rank",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            y, g = np.zeros_like(x), np.zeros_like(x)
            for i in range(x.shape[0]):
                for j in range(x.shape[1]):
                    if x[i, j] > 0:
                        y[i, j], g[i, j] = x[i, j], grad_out[i, j]
            return y, g
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "shift_by_global_max",
        "range",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max()
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            n = len(targets)
            loss = -np.log(p[np.arange(n), targets]).mean()
            p[np.arange(n), targets] -= 1
            return loss, p / n
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "float64_always",
        "dtype",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            z = np.asarray(logits, dtype=np.float64)
            z = z - z.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            n = len(targets)
            grad = np.exp(logp)
            grad[np.arange(n), targets] -= 1
            return -logp[np.arange(n), targets].mean(), grad / n
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "shifts_logits_in_place",
        "mutates_input",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            logits -= logits.max(axis=1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
            n = len(targets)
            grad = np.exp(logp)
            grad[np.arange(n), targets] -= 1
            return -logp[np.arange(n), targets].mean(), grad / n
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "max_over_the_batch_axis",
        "axis",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max(axis=0)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            n = len(targets)
            grad = np.exp(logp)
            grad[np.arange(n), targets] -= 1
            return -logp[np.arange(n), targets].mean(), grad / n
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "normalised_over_the_batch_axis",
        "axis",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z) / np.exp(z).sum(axis=0, keepdims=True)
            n = len(targets)
            loss = -np.log(p[np.arange(n), targets]).mean()
            p[np.arange(n), targets] -= 1
            return loss, p / n
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "target_columns_for_every_row",
        "formula",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            n = len(targets)
            grad = np.exp(logp)
            grad[:, targets] -= 1
            return -logp[np.arange(n), targets].mean(), grad / n
        """,
    ),
]

# ---------------------------------------------------------------------- initialization
WRONG += [
    _w(
        "fans",
        "receptive_field_as_a_float",
        "dtype",
        """
        import numpy as np

        def fans(shape):
            r = np.prod(shape[2:])  # np.prod(()) is the float 1.0: a dense layer's fans are floats
            return shape[1] * r, shape[0] * r
        """,
    ),
    _w(
        "fans",
        "one_kernel_dimension",
        "rank",
        """
        def fans(shape):
            receptive = shape[2] if len(shape) > 2 else 1
            return shape[1] * receptive, shape[0] * receptive
        """,
    ),
    _w(
        "fans",
        "dense_only",
        "rank",
        """
        def fans(shape):
            fan_out, fan_in = shape
            return fan_in, fan_out
        """,
    ),
    _w(
        "fans",
        "channels_last",
        "axis",
        """
        import math

        def fans(shape):
            receptive = math.prod(shape[2:])
            return shape[-1] * receptive, shape[0] * receptive
        """,
    ),
    _w(
        "fans",
        "product_from_index_one",
        "off_by_one",
        """
        import math

        def fans(shape):
            receptive = math.prod(shape[1:])
            return shape[1] * receptive, shape[0] * receptive
        """,
    ),
    _w(
        "fans",
        "fan_out_without_kernel",
        "formula",
        """
        import math

        def fans(shape):
            return shape[1] * math.prod(shape[2:]), shape[0]
        """,
    ),
    _w(
        "xavier_scale",
        "precedence_of_the_root",
        "formula",
        """
        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            factor = 6 if distribution == "uniform" else 2
            return gain * factor / (fan_in + fan_out) ** 0.5
        """,
    ),
    _w(
        "xavier_scale",
        "gain_only_for_normal",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            if distribution == "uniform":
                return math.sqrt(6 / (fan_in + fan_out))
            return gain * math.sqrt(2 / (fan_in + fan_out))
        """,
    ),
    _w(
        "xavier_scale",
        "gain_squared",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            factor = 6 if distribution == "uniform" else 2
            return math.sqrt(gain * factor / (fan_in + fan_out))
        """,
    ),
    _w(
        "xavier_scale",
        "no_receptive_field",
        "rank",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = shape[1], shape[0]
            factor = 6 if distribution == "uniform" else 2
            return gain * math.sqrt(factor / (fan_in + fan_out))
        """,
    ),
    _w(
        "xavier_scale",
        "distributions_swapped",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            factor = 6 if distribution == "normal" else 2
            return gain * math.sqrt(factor / (fan_in + fan_out))
        """,
    ),
    _w(
        "kaiming_scale",
        "mode_compared_with_in",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            fan = fan_in if mode == "in" else fan_out
            return gain * math.sqrt((3 if distribution == "uniform" else 1) / fan)
        """,
    ),
    _w(
        "kaiming_scale",
        "three_outside_the_root",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            fan = fan_in if mode == "fan_in" else fan_out
            return gain * (3 if distribution == "uniform" else 1) / math.sqrt(fan)
        """,
    ),
    _w(
        "kaiming_scale",
        "root_of_the_gain",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            fan = fan_in if mode == "fan_in" else fan_out
            return math.sqrt(gain * (3 if distribution == "uniform" else 1) / fan)
        """,
    ),
    _w(
        "kaiming_scale",
        "relu_gain_hard_coded",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            fan = fan_in if mode == "fan_in" else fan_out
            return math.sqrt((6 if distribution == "uniform" else 2) / fan)
        """,
    ),
    _w(
        "kaiming_scale",
        "no_receptive_field",
        "rank",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan = shape[1] if mode == "fan_in" else shape[0]
            return gain * math.sqrt((3 if distribution == "uniform" else 1) / fan)
        """,
    ),
    _w(
        "sample_weight",
        "global_rng",
        "rng",
        """
        import numpy as np

        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return np.random.uniform(-scale, scale, shape)
            return np.random.normal(0, scale, shape)
        """,
    ),
    _w(
        "sample_weight",
        "half_width_uniform",
        "formula",
        """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.random(shape) * scale - scale / 2
            return rng.normal(0, scale, shape)
        """,
    ),
    _w(
        "sample_weight",
        "float32_weights",
        "dtype",
        """
        import numpy as np

        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(-scale, scale, shape).astype(np.float32)
            return rng.normal(0, scale, shape).astype(np.float32)
        """,
    ),
    _w(
        "sample_weight",
        "scale_as_std_for_uniform",
        "formula",
        """
        import math

        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                bound = math.sqrt(3) * scale
                return rng.uniform(-bound, bound, shape)
            return rng.normal(0, scale, shape)
        """,
    ),
    _w(
        "sample_weight",
        "matrix_comprehension",
        "rank",
        """
        import numpy as np

        def sample_weight(shape, scale, *, distribution, rng):
            draw = (lambda: rng.uniform(-scale, scale)) if distribution == "uniform" else (
                lambda: rng.normal(0, scale))
            return np.array([[draw() for _ in range(shape[1])] for _ in range(shape[0])])
        """,
    ),
]

# ---------------------------------------------------------------------- batch norm
_BN = """
    import numpy as np

    def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                          eps):
"""
WRONG += [
    _w(
        "batchnorm_forward",
        "running_statistics_in_place",
        "mutates_input",
        _BN
        + """
            if training:
                mean, var = x.mean(axis=0), x.var(axis=0)
                running_mean *= 1 - momentum
                running_mean += momentum * mean
                running_var *= 1 - momentum
                running_var += momentum * x.var(axis=0, ddof=1)
            else:
                mean, var = running_mean, running_var
            return gamma * (x - mean) / np.sqrt(var + eps) + beta, running_mean, running_var
        """,
    ),
    _w(
        "batchnorm_forward",
        "evaluation_returns_the_given_statistics",
        "alias",
        _BN
        + """
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                return y, running_mean, running_var
            mean, var = x.mean(axis=0), x.var(axis=0)
            new_mean = (1 - momentum) * running_mean + momentum * mean
            new_var = (1 - momentum) * running_var + momentum * x.var(axis=0, ddof=1)
            return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var
        """,
    ),
    _w(
        "batchnorm_forward",
        "unbiased_variance_to_normalise",
        "formula",
        _BN
        + """
            if training:
                mean, var = x.mean(axis=0), x.var(axis=0, ddof=1)
                new_mean = (1 - momentum) * running_mean + momentum * mean
                new_var = (1 - momentum) * running_var + momentum * var
            else:
                mean, var, new_mean, new_var = (running_mean, running_var, running_mean.copy(),
                                                running_var.copy())
            return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var
        """,
    ),
    _w(
        "batchnorm_forward",
        "eps_outside_the_root",
        "formula",
        _BN
        + """
            if training:
                mean, var = x.mean(axis=0), x.var(axis=0)
                new_mean = (1 - momentum) * running_mean + momentum * mean
                new_var = (1 - momentum) * running_var + momentum * x.var(axis=0, ddof=1)
            else:
                mean, var, new_mean, new_var = (running_mean, running_var, running_mean.copy(),
                                                running_var.copy())
            return gamma * (x - mean) / (np.sqrt(var) + eps) + beta, new_mean, new_var
        """,
    ),
    _w(
        "batchnorm_forward",
        "float64_always",
        "dtype",
        _BN
        + """
            x = x.astype(np.float64)
            if training:
                mean, var = x.mean(axis=0), x.var(axis=0)
                new_mean = (1 - momentum) * running_mean + momentum * mean
                new_var = (1 - momentum) * running_var + momentum * x.var(axis=0, ddof=1)
            else:
                mean, var, new_mean, new_var = (running_mean, running_var, running_mean.copy(),
                                                running_var.copy())
            return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var
        """,
    ),
    _w(
        "batchnorm_forward",
        "normalises_x_in_place",
        "mutates_input",
        _BN
        + """
            if training:
                mean, var = x.mean(axis=0), x.var(axis=0)
                new_mean = (1 - momentum) * running_mean + momentum * mean
                new_var = (1 - momentum) * running_var + momentum * x.var(axis=0, ddof=1)
            else:
                mean, var, new_mean, new_var = (running_mean, running_var, running_mean.copy(),
                                                running_var.copy())
            x -= mean
            x /= np.sqrt(var + eps)
            return gamma * x + beta, new_mean, new_var
        """,
    ),
    _w(
        "batchnorm_forward",
        "statistics_over_features",
        "axis",
        _BN
        + """
            if training:
                mean = x.mean(axis=1, keepdims=True)
                var = x.var(axis=1, keepdims=True)
                new_mean = (1 - momentum) * running_mean + momentum * x.mean(axis=0)
                new_var = (1 - momentum) * running_var + momentum * x.var(axis=0, ddof=1)
            else:
                mean, var, new_mean, new_var = (running_mean, running_var, running_mean.copy(),
                                                running_var.copy())
            return gamma * (x - mean) / np.sqrt(var + eps) + beta, new_mean, new_var
        """,
    ),
]
_BB = """
    import numpy as np

    def batchnorm_backward(grad_out, x, gamma, *, eps):
"""
WRONG += [
    _w(
        "batchnorm_backward",
        "unbiased_variance",
        "formula",
        _BB
        + """
            std = np.sqrt(x.var(axis=0, ddof=1) + eps)
            xhat = (x - x.mean(axis=0)) / std
            dxhat = grad_out * gamma
            dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / std
            return dx, (grad_out * xhat).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "batchnorm_backward",
        "beta_gradient_over_features",
        "axis",
        _BB
        + """
            std = np.sqrt(x.var(axis=0) + eps)
            xhat = (x - x.mean(axis=0)) / std
            dxhat = grad_out * gamma
            dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / std
            return dx, (grad_out * xhat).sum(0), grad_out.sum(1)
        """,
    ),
    _w(
        "batchnorm_backward",
        "float64_always",
        "dtype",
        _BB
        + """
            x, grad_out = x.astype(float), grad_out.astype(float)
            std = np.sqrt(x.var(axis=0) + eps)
            xhat = (x - x.mean(axis=0)) / std
            dxhat = grad_out * gamma
            dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / std
            return dx, (grad_out * xhat).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "batchnorm_backward",
        "gamma_gradient_with_raw_x",
        "formula",
        _BB
        + """
            std = np.sqrt(x.var(axis=0) + eps)
            xhat = (x - x.mean(axis=0)) / std
            dxhat = grad_out * gamma
            dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / std
            return dx, (grad_out * x).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "batchnorm_backward",
        "scales_grad_out_in_place",
        "mutates_input",
        _BB
        + """
            std = np.sqrt(x.var(axis=0) + eps)
            xhat = (x - x.mean(axis=0)) / std
            grad_gamma, grad_beta = (grad_out * xhat).sum(0), grad_out.sum(0)
            grad_out *= gamma
            dx = (grad_out - grad_out.mean(0) - xhat * (grad_out * xhat).mean(0)) / std
            return dx, grad_gamma, grad_beta
        """,
    ),
    _w(
        "batchnorm_backward",
        "sums_instead_of_means",
        "formula",
        _BB
        + """
            std = np.sqrt(x.var(axis=0) + eps)
            xhat = (x - x.mean(axis=0)) / std
            dxhat = grad_out * gamma
            dx = (dxhat - dxhat.sum(0) - xhat * (dxhat * xhat).sum(0)) / std
            return dx, (grad_out * xhat).sum(0), grad_out.sum(0)
        """,
    ),
]

# ---------------------------------------------------------------------- regularization
WRONG += [
    _w(
        "dropout_layer",
        "evaluation_returns_its_inputs",
        "alias",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x, grad_out
            mask = rng.random(x.shape) >= p
            return x * mask / (1 - p), grad_out * mask / (1 - p)
        """,
    ),
    _w(
        "dropout_layer",
        "matrix_mask",
        "rank",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.random((x.shape[0], x.shape[1])) >= p
            return x * mask / (1 - p), grad_out * mask / (1 - p)
        """,
    ),
    _w(
        "dropout_layer",
        "masks_x_in_place",
        "mutates_input",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.random(x.shape) >= p
            x *= mask / (1 - p)
            return x.copy(), grad_out * mask / (1 - p)
        """,
    ),
    _w(
        "dropout_layer",
        "float64_scale",
        "dtype",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            scale = (rng.random(x.shape) >= p) / (1 - p)
            return x * scale, grad_out * scale
        """,
    ),
    _w(
        "dropout_layer",
        "binomial_mask",
        "rng",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.binomial(1, 1 - p, x.shape).astype(x.dtype)
            return x * mask / (1 - p), grad_out * mask / (1 - p)
        """,
    ),
    _w(
        "dropout_layer",
        "masks_grad_out_in_place",
        "mutates_input",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.random(x.shape) >= p
            grad_out *= mask
            grad_out /= 1 - p
            return x * mask / (1 - p), grad_out.copy()
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "lr_inside_the_buffer",
        "lr_schedule",
        """
        import numpy as np

        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if decoupled:
                param *= 1 - lr * weight_decay
                g = grad
            else:
                g = grad + weight_decay * param
            v = state.setdefault("v", np.zeros_like(param))
            v *= momentum
            v += lr * g
            param -= v
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "penalty_added_to_grad",
        "mutates_input",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if decoupled:
                param *= 1 - lr * weight_decay
            else:
                grad += weight_decay * param
            buf = state.get("buf")
            state["buf"] = buf = grad.copy() if buf is None else momentum * buf + grad
            param -= lr * buf
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "rebinds_for_the_decay",
        "rebind",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            g = grad if decoupled else grad + weight_decay * param
            if decoupled:
                param = param * (1 - lr * weight_decay)
            buf = state.get("buf")
            state["buf"] = buf = g.copy() if buf is None else momentum * buf + g
            param -= lr * buf
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "decay_with_first_lr",
        "lr_schedule",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if decoupled:
                param *= state.setdefault("shrink", 1 - lr * weight_decay)
                g = grad
            else:
                g = grad + weight_decay * param
            buf = state.get("buf")
            state["buf"] = buf = g.copy() if buf is None else momentum * buf + g
            param -= lr * buf
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "matrix_slices",
        "rank",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if decoupled:
                param[:, :] *= 1 - lr * weight_decay
                g = grad
            else:
                g = grad + weight_decay * param
            buf = state.get("buf")
            state["buf"] = buf = g.copy() if buf is None else momentum * buf + g
            param -= lr * buf
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "first_grad_kept_as_buffer",
        "kept_grad",
        """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if decoupled:
                param *= 1 - lr * weight_decay
                g = grad
            else:
                g = grad + weight_decay * param
            state["buf"] = g if "buf" not in state else momentum * state["buf"] + g
            param -= lr * state["buf"]
        """,
    ),
]
_AW = """
    import numpy as np

    def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                               decoupled):
"""
_ADAM_TAIL = """
        t = state["t"] = state.get("t", 0) + 1
        m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
        param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
"""
WRONG += [
    _w(
        "adam_weight_decay_step",
        "caches_lr",
        "lr_schedule",
        _AW
        + """
        lr = state.setdefault("lr", lr)
        if decoupled:
            param *= 1 - lr * weight_decay
        g = grad if decoupled else grad + weight_decay * param
    """
        + _ADAM_TAIL,
    ),
    _w(
        "adam_weight_decay_step",
        "penalty_added_to_grad",
        "mutates_input",
        _AW
        + """
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            grad += weight_decay * param
        g = grad
    """
        + _ADAM_TAIL,
    ),
    _w(
        "adam_weight_decay_step",
        "rebinds_for_the_decay",
        "rebind",
        _AW
        + """
        g = grad if decoupled else grad + weight_decay * param
        if decoupled:
            param = param * (1 - lr * weight_decay)
    """
        + _ADAM_TAIL,
    ),
    _w(
        "adam_weight_decay_step",
        "decoupled_decay_without_lr",
        "formula",
        _AW
        + """
        if decoupled:
            param *= 1 - weight_decay
        g = grad if decoupled else grad + weight_decay * param
    """
        + _ADAM_TAIL,
    ),
    _w(
        "adam_weight_decay_step",
        "matrix_slices",
        "rank",
        _AW
        + """
        if decoupled:
            param[:, :] *= 1 - lr * weight_decay
        g = grad if decoupled else grad + weight_decay * param
    """
        + _ADAM_TAIL,
    ),
    _w(
        "adam_weight_decay_step",
        "global_step_counter",
        "formula",
        """
        import numpy as np

        t = 0

        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            global t
            t += 1
            if decoupled:
                param *= 1 - lr * weight_decay
            g = grad if decoupled else grad + weight_decay * param
            m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
            v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
]
_ES = """
    def early_stopping(val_losses, weights, *, patience, min_delta):
        best, best_epoch, waited = val_losses[0], 0, 0
        for epoch in range(1, len(val_losses)):
"""
WRONG += [
    _w(
        "early_stopping",
        "improvement_at_exactly_min_delta",
        "boundary",
        _ES
        + """
            if val_losses[epoch] <= best - min_delta and val_losses[epoch] < best:
                best, best_epoch, waited = val_losses[epoch], epoch, 0
            else:
                waited += 1
                if waited == patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
        return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "relative_min_delta",
        "relative",
        _ES
        + """
            if val_losses[epoch] < best * (1 - min_delta):
                best, best_epoch, waited = val_losses[epoch], epoch, 0
            else:
                waited += 1
                if waited == patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
        return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "returns_the_weights_themselves",
        "alias",
        _ES
        + """
            if val_losses[epoch] < best - min_delta:
                best, best_epoch, waited = val_losses[epoch], epoch, 0
            else:
                waited += 1
                if waited == patience:
                    return epoch, best_epoch, weights[best_epoch]
        return len(val_losses) - 1, best_epoch, weights[best_epoch]
        """,
    ),
    _w(
        "early_stopping",
        "patience_exceeded",
        "off_by_one",
        _ES
        + """
            if val_losses[epoch] < best - min_delta:
                best, best_epoch, waited = val_losses[epoch], epoch, 0
            else:
                waited += 1
                if waited > patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
        return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "epochs_counted_from_one",
        "off_by_one",
        _ES
        + """
            if val_losses[epoch] < best - min_delta:
                best, best_epoch, waited = val_losses[epoch], epoch, 0
            else:
                waited += 1
                if waited == patience:
                    return epoch + 1, best_epoch + 1, weights[best_epoch].copy()
        return len(val_losses), best_epoch + 1, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "stop_epoch_from_the_best",
        "formula",
        _ES
        + """
            if val_losses[epoch] < best - min_delta:
                best, best_epoch = val_losses[epoch], epoch
        stop = min(best_epoch + patience, len(val_losses) - 1)
        return stop, best_epoch, weights[best_epoch].copy()
        """,
    ),
]

# ---------------------------------------------------------------------- fine-tuning
WRONG += [
    _w(
        "trainable_layers",
        "ceil_of_epoch_plus_one",
        "off_by_one",
        """
        import math

        def trainable_layers(n_layers, epoch, *, every):
            n_open = min(n_layers, math.ceil(epoch / every) + 1)
            return [k >= n_layers - n_open for k in range(n_layers)]
        """,
    ),
    _w(
        "trainable_layers",
        "integer_flags",
        "formula",
        """
        import numpy as np

        def trainable_layers(n_layers, epoch, *, every):
            n_open = min(n_layers, epoch // every + 1)
            return (np.arange(n_layers) >= n_layers - n_open).astype(int)
        """,
    ),
    _w(
        "trainable_layers",
        "no_cap_at_n_layers",
        "range",
        """
        def trainable_layers(n_layers, epoch, *, every):
            n_open = epoch // every + 1
            return [False] * (n_layers - n_open) + [True] * n_open
        """,
    ),
    _w(
        "trainable_layers",
        "every_layers_per_epoch",
        "formula",
        """
        def trainable_layers(n_layers, epoch, *, every):
            n_open = min(n_layers, (epoch + 1) * every)
            return [k >= n_layers - n_open for k in range(n_layers)]
        """,
    ),
    _w(
        "trainable_layers",
        "layers_counted_from_one",
        "off_by_one",
        """
        def trainable_layers(n_layers, epoch, *, every):
            n_open = min(n_layers, epoch // every + 1)
            return [k >= n_layers - n_open for k in range(1, n_layers + 1)]
        """,
    ),
    _w(
        "frozen_sgd_step",
        "scales_grads_in_place",
        "mutates_input",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable):
                w = w.copy()
                if train:
                    g *= lr
                    w -= lr * weight_decay * w + g
                    n += w.size
                new.append(w)
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "decays_frozen_layers",
        "formula",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable):
                w = w * (1 - lr * weight_decay)
                if train:
                    w = w - lr * g
                    n += w.size
                new.append(w)
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "counts_rows",
        "formula",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable):
                if train:
                    w = (1 - lr * weight_decay) * w - lr * g
                    n += len(w)
                new.append(w.copy())
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "float64_weights",
        "dtype",
        """
        import numpy as np

        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable):
                w = np.array(w, dtype=float)
                if train:
                    w = (1 - lr * weight_decay) * w - lr * g
                    n += w.size
                new.append(w)
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "trains_the_frozen_ones",
        "formula",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, frozen in zip(weights, grads, trainable):
                w = w.copy()
                if not frozen:
                    w = (1 - lr * weight_decay) * w - lr * g
                    n += w.size
                new.append(w)
            return new, n
        """,
    ),
    _w(
        "lora_init",
        "normal_A",
        "rng",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            return rng.normal(0, d_in ** -0.5, (r, d_in)), np.zeros((d_out, r))
        """,
    ),
    _w(
        "lora_init",
        "roles_swapped",
        "formula",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            bound = d_in ** -0.5
            return np.zeros((r, d_in)), rng.uniform(-bound, bound, (d_out, r))
        """,
    ),
    _w(
        "lora_init",
        "A_transposed",
        "axis",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            bound = d_in ** -0.5
            return rng.uniform(-bound, bound, (d_in, r)), np.zeros((d_out, r))
        """,
    ),
    _w(
        "lora_init",
        "float32_factors",
        "dtype",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            bound = d_in ** -0.5
            A = rng.uniform(-bound, bound, (r, d_in)).astype(np.float32)
            return A, np.zeros((d_out, r), dtype=np.float32)
        """,
    ),
    _w(
        "lora_init",
        "bound_from_the_rank",
        "formula",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            bound = r ** -0.5
            return rng.uniform(-bound, bound, (r, d_in)), np.zeros((d_out, r))
        """,
    ),
    _w(
        "lora_forward_backward",
        "scale_over_d_in",
        "axis",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[1]
            y = x @ W.T + s * (x @ A.T) @ B.T
            grad_x = grad_out @ W + s * (grad_out @ B) @ A
            return y, grad_x, s * (grad_out @ B).T @ x, s * grad_out.T @ (x @ A.T)
        """,
    ),
    _w(
        "lora_forward_backward",
        "grad_A_transposed",
        "axis",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            y = x @ W.T + s * (x @ A.T) @ B.T
            grad_x = grad_out @ W + s * (grad_out @ B) @ A
            return y, grad_x, s * x.T @ (grad_out @ B), s * grad_out.T @ (x @ A.T)
        """,
    ),
    _w(
        "lora_forward_backward",
        "float64_always",
        "dtype",
        """
        import numpy as np

        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            x, W, A, B = (np.asarray(a, dtype=float) for a in (x, W, A, B))
            s = alpha / A.shape[0]
            y = x @ W.T + s * (x @ A.T) @ B.T
            grad_x = grad_out @ W + s * (grad_out @ B) @ A
            return y, grad_x, s * (grad_out @ B).T @ x, s * grad_out.T @ (x @ A.T)
        """,
    ),
    _w(
        "lora_forward_backward",
        "merges_into_W",
        "mutates_input",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            W += s * B @ A
            y = x @ W.T
            grad_x = grad_out @ W
            return y, grad_x, s * (grad_out @ B).T @ x, s * grad_out.T @ (x @ A.T)
        """,
    ),
    _w(
        "lora_forward_backward",
        "integer_division_scale",
        "formula",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha // A.shape[0]
            y = x @ W.T + s * (x @ A.T) @ B.T
            grad_x = grad_out @ W + s * (grad_out @ B) @ A
            return y, grad_x, s * (grad_out @ B).T @ x, s * grad_out.T @ (x @ A.T)
        """,
    ),
    _w(
        "lora_merge",
        "merges_in_place",
        "mutates_input",
        """
        def lora_merge(W, A, B, *, alpha):
            W += (alpha / A.shape[0]) * B @ A
            return W
        """,
    ),
    _w(
        "lora_merge",
        "integer_division_scale",
        "formula",
        """
        def lora_merge(W, A, B, *, alpha):
            return W + (alpha // A.shape[0]) * B @ A
        """,
    ),
    _w(
        "lora_merge",
        "scale_inverted",
        "formula",
        """
        def lora_merge(W, A, B, *, alpha):
            return W + (A.shape[0] / alpha) * B @ A
        """,
    ),
    _w(
        "lora_merge",
        "float32_result",
        "dtype",
        """
        import numpy as np

        def lora_merge(W, A, B, *, alpha):
            return (W + (alpha / A.shape[0]) * B @ A).astype(np.float32)
        """,
    ),
    _w(
        "lora_merge",
        "scale_over_d_out",
        "axis",
        """
        def lora_merge(W, A, B, *, alpha):
            return W + (alpha / B.shape[0]) * B @ A
        """,
    ),
    # ------------------------------------------------------------------ lion_step
    _w(
        "lion_step",
        "sign_of_the_gradient_only",
        "formula",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("exp_avg", np.zeros_like(param))
            param *= 1 - lr * weight_decay
            param -= lr * np.sign(grad)
            m *= beta2
            m += (1 - beta2) * grad
        """,
    ),
    _w(
        "lion_step",
        "decay_after_the_step",
        "formula",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("exp_avg", np.zeros_like(param))
            param -= lr * np.sign(beta1 * m + (1 - beta1) * grad)
            param *= 1 - lr * weight_decay
            m *= beta2
            m += (1 - beta2) * grad
        """,
    ),
    _w(
        "lion_step",
        "keeps_the_callers_grad",
        "kept_grad",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            if "exp_avg" not in state:
                state["exp_avg"] = grad  # the caller's array, changed in place below
                state["exp_avg"] *= 0
            m = state["exp_avg"]
            param *= 1 - lr * weight_decay
            param -= lr * np.sign(beta1 * m + (1 - beta1) * grad)
            m *= beta2
            m += (1 - beta2) * grad
        """,
    ),
    _w(
        "lion_step",
        "momentum_with_beta1",
        "formula",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("exp_avg", np.zeros_like(param))
            param *= 1 - lr * weight_decay
            param -= lr * np.sign(beta1 * m + (1 - beta1) * grad)
            m *= beta1  # the momentum keeps beta2, not the interpolation's beta1
            m += (1 - beta1) * grad
        """,
    ),
    _w(
        "lion_step",
        "rebinds_param",
        "rebind",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("exp_avg", np.zeros_like(param))
            param = param * (1 - lr * weight_decay)
            param = param - lr * np.sign(beta1 * m + (1 - beta1) * grad)
            m *= beta2
            m += (1 - beta2) * grad
            return param
        """,
    ),
    # ------------------------------------------------------------------ adafactor_step
    _w(
        "adafactor_step",
        "constant_beta2",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d,
                           weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            rms = np.sqrt(np.mean(param**2))
            param *= 1 - lr * weight_decay
            g2 = grad**2
            R = state["row"] = 0.999 * state.get("row", 0) + 0.001 * g2.mean(axis=1)
            C = state["col"] = 0.999 * state.get("col", 0) + 0.001 * g2.mean(axis=0)
            v = np.outer(R, C) / max(R.mean(), eps1)
            u = grad / np.sqrt(np.maximum(v, eps1**2))
            alpha = max(eps2, rms) * min(lr, 1 / np.sqrt(t))
            param -= alpha / max(1.0, np.sqrt(np.mean(u**2)) / d) * u
        """,
    ),
    _w(
        "adafactor_step",
        "rms_after_the_decay",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d,
                           weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            beta = 1 - t**beta2_decay
            param *= 1 - lr * weight_decay
            rms = np.sqrt(np.mean(param**2))
            g2 = grad**2
            R = state["row"] = beta * state.get("row", 0) + (1 - beta) * g2.mean(axis=1)
            C = state["col"] = beta * state.get("col", 0) + (1 - beta) * g2.mean(axis=0)
            v = np.outer(R, C) / max(R.mean(), eps1)
            u = grad / np.sqrt(np.maximum(v, eps1**2))
            alpha = max(eps2, rms) * min(lr, 1 / np.sqrt(t))
            param -= alpha / max(1.0, np.sqrt(np.mean(u**2)) / d) * u
        """,
    ),
    _w(
        "adafactor_step",
        "rms_of_the_gradient",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d,
                           weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            beta = 1 - t**beta2_decay
            rms = np.sqrt(np.mean(grad**2))  # the scale is the parameter's, not the gradient's
            param *= 1 - lr * weight_decay
            g2 = grad**2
            R = state["row"] = beta * state.get("row", 0) + (1 - beta) * g2.mean(axis=1)
            C = state["col"] = beta * state.get("col", 0) + (1 - beta) * g2.mean(axis=0)
            v = np.outer(R, C) / max(R.mean(), eps1)
            u = grad / np.sqrt(np.maximum(v, eps1**2))
            alpha = max(eps2, rms) * min(lr, 1 / np.sqrt(t))
            param -= alpha / max(1.0, np.sqrt(np.mean(u**2)) / d) * u
        """,
    ),
    _w(
        "adafactor_step",
        "step_from_zero",
        "off_by_one",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d,
                           weight_decay):
            t = state.get("step", 1)  # the first step is t = 1, counted before it is used
            state["step"] = t + 1
            beta = 1 - (t + 1) ** beta2_decay
            rms = np.sqrt(np.mean(param**2))
            param *= 1 - lr * weight_decay
            g2 = grad**2
            R = state["row"] = beta * state.get("row", 0) + (1 - beta) * g2.mean(axis=1)
            C = state["col"] = beta * state.get("col", 0) + (1 - beta) * g2.mean(axis=0)
            v = np.outer(R, C) / max(R.mean(), eps1)
            u = grad / np.sqrt(np.maximum(v, eps1**2))
            alpha = max(eps2, rms) * min(lr, 1 / np.sqrt(t))
            param -= alpha / max(1.0, np.sqrt(np.mean(u**2)) / d) * u
        """,
    ),
    _w(
        "adafactor_step",
        "clips_each_element",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d,
                           weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            beta = 1 - t**beta2_decay
            rms = np.sqrt(np.mean(param**2))
            param *= 1 - lr * weight_decay
            g2 = grad**2
            R = state["row"] = beta * state.get("row", 0) + (1 - beta) * g2.mean(axis=1)
            C = state["col"] = beta * state.get("col", 0) + (1 - beta) * g2.mean(axis=0)
            v = np.outer(R, C) / max(R.mean(), eps1)
            u = grad / np.sqrt(np.maximum(v, eps1**2))
            alpha = max(eps2, rms) * min(lr, 1 / np.sqrt(t))
            param -= alpha * np.clip(u, -d, d)  # clipping is on the RMS of U, not elementwise
        """,
    ),
    # ------------------------------------------------------------------ red team
    # new wrong answers from redteam/new_wrong.py (redteam/run.py judges them); kind
    # ``state``: module-level state shared between calls. Six were holes, now closed by
    # the cases: should_stop's budget of 0, a class no target names, rank-3 and rank-4
    # layers, float32 merges, tiny gradients and a zero start for Adafactor; sgd_epoch's
    # float32_weights kept its points on some seeds until its tolerance was tightened
    _w(
        "minibatches",
        "remainder_merged_into_previous",
        "off_by_one",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            starts = list(range(0, len(X), batch_size))
            if len(starts) > 1 and len(X) % batch_size:
                starts.pop()  # a small last batch joins the one before
            ends = starts[1:] + [len(X)]
            return [(X[order[s:e]], y[order[s:e]]) for s, e in zip(starts, ends)]
        """,
    ),
    _w(
        "minibatches",
        "array_split_into_equal_parts",
        "formula",
        """
        import numpy as np

        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            parts = max(1, -(-len(X) // batch_size))
            return [(X[idx], y[idx]) for idx in np.array_split(order, parts)]
        """,
    ),
    _w(
        "minibatches",
        "bootstrap_indices",
        "rng",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.integers(0, len(X), len(X))
            return [(X[order[s:s + batch_size]], y[order[s:s + batch_size]])
                    for s in range(0, len(X), batch_size)]
        """,
    ),
    _w(
        "minibatches",
        "targets_as_columns",
        "rank",
        """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            Y = y.reshape(-1, 1)
            return [(X[order[s:s + batch_size]], Y[order[s:s + batch_size]])
                    for s in range(0, len(X), batch_size)]
        """,
    ),
    _w(
        "minibatches",
        "argsort_of_uniforms",
        "rng",
        """
        import numpy as np

        def minibatches(X, y, batch_size, *, rng):
            order = np.argsort(rng.random(len(X)))
            return [(X[order[s:s + batch_size]], y[order[s:s + batch_size]])
                    for s in range(0, len(X), batch_size)]
        """,
    ),
    _w(
        "sgd_epoch",
        "b_updated_before_w",
        "formula",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                b = b - lr * 2 * (Xb @ w + b - yb).mean()
                w = w - lr * 2 * Xb.T @ (Xb @ w + b - yb) / len(yb)
            return w, float(b)
        """,
    ),
    _w(
        "sgd_epoch",
        "mean_over_all_samples",
        "formula",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r / len(X)
                b = b - lr * 2 * r.sum() / len(X)
            return w, float(b)
        """,
    ),
    _w(
        "sgd_epoch",
        "shuffles_twice",
        "rng",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            order = rng.permutation(len(X))
            for Xb, yb in minibatches(X[order], y[order], batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r / len(yb)
                b = b - lr * 2 * r.mean()
            return w, float(b)
        """,
    ),
    _w(
        "sgd_epoch",
        "b_over_nominal_batch_size",
        "off_by_one",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r / len(yb)
                b = b - lr * 2 * r.sum() / batch_size
            return w, float(b)
        """,
    ),
    _w(
        "sgd_epoch",
        "float32_weights",
        "precision",
        """
        import numpy as np

        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.asarray(w, dtype=np.float32)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = (w - lr * 2 * Xb.T @ r / len(yb)).astype(np.float32)
                b = b - lr * 2 * r.mean()
            return w.astype(float), float(b)
        """,
    ),
    _w(
        "should_stop",
        "needs_two_losses_before_the_budget",
        "boundary",
        """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) < 2:
                return False
            return len(losses) - 1 >= max_iters or abs(losses[-1] - losses[-2]) < tol
        """,
    ),
    _w(
        "should_stop",
        "signed_decrease",
        "formula",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            if k >= max_iters:
                return True
            return k >= 1 and losses[-2] - losses[-1] < tol  # "the loss stopped going down"
        """,
    ),
    _w(
        "should_stop",
        "no_improvement_on_the_best",
        "formula",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            if k >= max_iters:
                return True
            return k >= 1 and losses[-1] > min(losses[:-1]) - tol
        """,
    ),
    _w(
        "should_stop",
        "needs_two_iterations",
        "off_by_one",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            if k >= max_iters:
                return True
            return k >= 2 and abs(losses[-1] - losses[-2]) < tol
        """,
    ),
    _w(
        "should_stop",
        "mean_change_of_the_history",
        "formula",
        """
        def should_stop(losses, *, tol, max_iters):
            k = len(losses) - 1
            if k >= max_iters:
                return True
            return k >= 1 and abs(losses[-1] - losses[0]) / k < tol
        """,
    ),
    _w(
        "momentum_step",
        "global_buffer_by_shape",
        "state",
        """
        import numpy as np

        _BUFFERS = {}

        def momentum_step(param, grad, state, *, lr, momentum):
            buf = _BUFFERS.setdefault(param.shape, np.zeros_like(param))
            buf *= momentum
            buf += grad
            param -= lr * buf
        """,
    ),
    _w(
        "momentum_step",
        "first_step_leaves_buffer_empty",
        "off_by_one",
        """
        import numpy as np

        def momentum_step(param, grad, state, *, lr, momentum):
            if "buf" not in state:
                state["buf"] = np.zeros_like(param)
                param -= lr * grad
                return
            state["buf"] = momentum * state["buf"] + grad
            param -= lr * state["buf"]
        """,
    ),
    _w(
        "momentum_step",
        "bias_corrected_buffer",
        "formula",
        """
        import numpy as np

        def momentum_step(param, grad, state, *, lr, momentum):
            state["t"] = state.get("t", 0) + 1
            buf = state["buf"] = momentum * state.get("buf", 0.0) + grad
            param -= lr * buf * (1 - momentum) / (1 - momentum ** state["t"])
        """,
    ),
    _w(
        "momentum_step",
        "one_step_memory",
        "formula",
        """
        import numpy as np

        def momentum_step(param, grad, state, *, lr, momentum):
            prev = state.get("prev", np.zeros_like(param))
            param -= lr * (grad + momentum * prev)
            state["prev"] = grad.copy()
        """,
    ),
    _w(
        "nesterov_step",
        "extra_gradient_step",
        "formula",
        """
        import numpy as np

        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.setdefault("buf", np.zeros_like(param))
            buf *= momentum
            buf += grad
            param -= lr * (buf + grad)  # the momentum step plus a look-ahead gradient step
        """,
    ),
    _w(
        "nesterov_step",
        "lookahead_without_this_grad",
        "formula",
        """
        import numpy as np

        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.setdefault("buf", np.zeros_like(param))
            buf *= momentum
            param -= lr * (grad + momentum * buf)
            buf += grad
        """,
    ),
    _w(
        "nesterov_step",
        "float32_buffer",
        "precision",
        """
        import numpy as np

        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.setdefault("buf", np.zeros(param.shape, dtype=np.float32))
            buf *= momentum
            buf += grad
            param -= lr * (grad + momentum * buf)
        """,
    ),
    _w(
        "nesterov_step",
        "buffer_starts_at_the_gradient",
        "off_by_one",
        """
        import numpy as np

        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.setdefault("buf", grad.copy())
            buf *= momentum
            buf += grad
            param -= lr * (grad + momentum * buf)
        """,
    ),
    _w(
        "rmsprop_step",
        "eps_squared_inside_the_root",
        "formula",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state.setdefault("v", np.zeros_like(param))
            v *= alpha
            v += (1 - alpha) * grad * grad
            param -= lr * grad / np.sqrt(v + eps * eps)
        """,
    ),
    _w(
        "rmsprop_step",
        "bias_corrected_average",
        "formula",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            state["t"] = t = state.get("t", 0) + 1
            v = state.setdefault("v", np.zeros_like(param))
            v *= alpha
            v += (1 - alpha) * grad * grad
            param -= lr * grad / (np.sqrt(v / (1 - alpha**t)) + eps)
        """,
    ),
    _w(
        "rmsprop_step",
        "centered",
        "formula",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state.setdefault("v", np.zeros_like(param))
            g = state.setdefault("g", np.zeros_like(param))
            v *= alpha
            v += (1 - alpha) * grad * grad
            g *= alpha
            g += (1 - alpha) * grad
            param -= lr * grad / (np.sqrt(v - g * g) + eps)
        """,
    ),
    _w(
        "rmsprop_step",
        "alpha_on_the_new_square",
        "formula",
        """
        import numpy as np

        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            v = state.setdefault("v", np.zeros_like(param))
            v *= 1 - alpha
            v += alpha * grad * grad
            param -= lr * grad / (np.sqrt(v) + eps)
        """,
    ),
    _w(
        "adam_step",
        "epsilon_hat_form",
        "formula",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            step = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            param -= step * m / (np.sqrt(v) + eps)
        """,
    ),
    _w(
        "adam_step",
        "amsgrad_maximum",
        "formula",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            vmax = state.setdefault("vmax", np.zeros_like(param))
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            np.maximum(vmax, v, out=vmax)
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(vmax / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_step",
        "correction_outside_the_root",
        "formula",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v) / (1 - beta2**t) + eps)
        """,
    ),
    _w(
        "adam_step",
        "float32_moments",
        "precision",
        """
        import numpy as np

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros(param.shape, np.float32))
            v = state.setdefault("v", np.zeros(param.shape, np.float32))
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "decay_with_the_corrected_lr",
        "formula",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            lr_t = lr / (1 - beta1**t)
            param *= 1 - lr_t * weight_decay
            param -= lr_t * m / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "decay_in_the_first_moment_only",
        "formula",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            m[...] = beta1 * m + (1 - beta1) * (grad + weight_decay * param)
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "implicit_decay_by_division",
        "formula",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            param /= 1 + lr * weight_decay
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adamw_step",
        "no_decay_on_the_first_step",
        "off_by_one",
        """
        import numpy as np

        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            if t > 1:
                param *= 1 - lr * weight_decay
            m[...] = beta1 * m + (1 - beta1) * grad
            v[...] = beta2 * v + (1 - beta2) * grad * grad
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "cosine_over_one_step_less",
        "off_by_one",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            if t >= T:
                return eta_min
            p = (t - W) / max(1, T - W - 1)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * min(p, 1.0)))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "zero_after_total_steps",
        "boundary",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            if t > T:
                return 0.0
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "quarter_cosine",
        "formula",
        """
        import math

        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            p = min(t, T) - W
            return eta_min + (base_lr - eta_min) * math.cos(0.5 * math.pi * p / (T - W))
        """,
    ),
    _w(
        "warmup_cosine_lr",
        "linear_decay",
        "formula",
        """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            p = (min(t, T) - W) / (T - W)
            return eta_min + (base_lr - eta_min) * (1 - p)
        """,
    ),
    _w(
        "sigmoid_layer",
        "memoised_by_shape",
        "state",
        """
        import numpy as np

        _SEEN = {}

        def sigmoid_layer(x, grad_out):
            key = (x.shape, x.dtype.str)
            if key not in _SEEN:
                _SEEN[key] = 1 / (1 + np.exp(-x))
            y = _SEEN[key]
            return y.copy(), grad_out * y * (1 - y)
        """,
    ),
    _w(
        "sigmoid_layer",
        "derivative_as_exp_quotient",
        "range",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            e = np.exp(-x)
            return 1 / (1 + e), grad_out * e / (1 + e) ** 2
        """,
    ),
    _w(
        "sigmoid_layer",
        "stable_form_of_abs",
        "formula",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-np.abs(x)))
            return y, grad_out * y * (1 - y)
        """,
    ),
    _w(
        "sigmoid_layer",
        "float16_compute",
        "precision",
        """
        import numpy as np

        def sigmoid_layer(x, grad_out):
            h = x.astype(np.float16)
            y = (1 / (1 + np.exp(-h))).astype(x.dtype)
            return y, (grad_out * y * (1 - y)).astype(x.dtype)
        """,
    ),
    _w(
        "tanh_layer",
        "one_minus_y_all_squared",
        "formula",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            y = np.tanh(x)
            return y, grad_out * (1 - y) ** 2
        """,
    ),
    _w(
        "tanh_layer",
        "one_minus_abs_y",
        "formula",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            y = np.tanh(x)
            return y, grad_out * (1 - np.abs(y))
        """,
    ),
    _w(
        "tanh_layer",
        "lecun_scaled_tanh",
        "formula",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            y = 1.7159 * np.tanh(2 * x / 3)
            return y, grad_out * 1.7159 * (2 / 3) * (1 - np.tanh(2 * x / 3) ** 2)
        """,
    ),
    _w(
        "tanh_layer",
        "two_sigmoid_minus_one",
        "formula",
        """
        import numpy as np

        def tanh_layer(x, grad_out):
            s = 1 / (1 + np.exp(-x))
            y = 2 * s - 1
            return y, grad_out * (1 - y * y)
        """,
    ),
    _w(
        "relu_layer",
        "relu6",
        "range",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            y = np.clip(x, 0, 6)
            return y, grad_out * ((x > 0) & (x < 6))
        """,
    ),
    _w(
        "relu_layer",
        "mask_from_grad_out",
        "formula",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            return np.maximum(x, 0), np.maximum(grad_out, 0)
        """,
    ),
    _w(
        "relu_layer",
        "maximum_with_float64_zeros",
        "dtype",
        """
        import numpy as np

        def relu_layer(x, grad_out):
            y = np.maximum(x, np.zeros(x.shape))
            return y, np.where(x > 0, grad_out, 0)
        """,
    ),
    _w(
        "relu_layer",
        "mask_of_the_first_call",
        "state",
        """
        import numpy as np

        _MASK = {}

        def relu_layer(x, grad_out):
            mask = _MASK.setdefault(x.shape, x > 0)
            return np.where(mask, x, 0), np.where(mask, grad_out, 0)
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "one_hot_from_the_largest_target",
        "formula",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max(axis=1, keepdims=True)
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            onehot = np.eye(targets.max() + 1, dtype=logits.dtype)[targets]
            n = len(targets)
            loss = -np.log((p * onehot).sum(axis=1)).mean()
            return loss, (p - onehot) / n
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "gradient_over_classes",
        "formula",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            n, c = logits.shape
            z = logits - logits.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            grad = np.exp(logp)
            grad[np.arange(n), targets] -= 1
            return -logp[np.arange(n), targets].mean(), grad / c
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "mean_over_every_entry",
        "axis",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            n, c = logits.shape
            z = logits - logits.max(axis=1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            onehot = np.zeros_like(logits)
            onehot[np.arange(n), targets] = 1
            return -(onehot * logp).mean(), (np.exp(logp) - onehot) / (n * c)
        """,
    ),
    _w(
        "softmax_cross_entropy",
        "shift_not_added_back",
        "range",
        """
        import numpy as np

        def softmax_cross_entropy(logits, targets):
            n = len(targets)
            m = logits.max(axis=1, keepdims=True)
            e = np.exp(logits - m)
            p = e / e.sum(axis=1, keepdims=True)
            loss = np.mean(np.log(e.sum(axis=1)) - logits[np.arange(n), targets])
            grad = p.copy()
            grad[np.arange(n), targets] -= 1
            return loss, grad / n
        """,
    ),
    _w(
        "fans",
        "receptive_field_as_a_sum",
        "formula",
        """
        def fans(shape):
            r = sum(shape[2:]) or 1
            return shape[1] * r, shape[0] * r
        """,
    ),
    _w(
        "fans",
        "conv2d_only",
        "rank",
        """
        def fans(shape):
            r = shape[2] * shape[3] if len(shape) == 4 else 1
            return shape[1] * r, shape[0] * r
        """,
    ),
    _w(
        "fans",
        "dense_as_in_out",
        "axis",
        """
        import math

        def fans(shape):
            if len(shape) == 2:
                return shape[0], shape[1]
            r = math.prod(shape[2:])
            return shape[1] * r, shape[0] * r
        """,
    ),
    _w(
        "xavier_scale",
        "fan_in_for_uniform",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            if distribution == "uniform":
                return gain * math.sqrt(3 / fan_in)
            return gain * math.sqrt(2 / (fan_in + fan_out))
        """,
    ),
    _w(
        "xavier_scale",
        "truncated_normal_std",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            std = gain * math.sqrt(2 / (fan_in + fan_out))
            return math.sqrt(3) * std if distribution == "uniform" else std / 0.87962566103423978
        """,
    ),
    _w(
        "xavier_scale",
        "three_sigma_bound",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            std = gain * math.sqrt(2 / (fan_in + fan_out))
            return 3 * std if distribution == "uniform" else std
        """,
    ),
    _w(
        "xavier_scale",
        "geometric_mean_of_fans",
        "formula",
        """
        import math

        def xavier_scale(shape, *, gain, distribution):
            fan_in, fan_out = fans(shape)
            std = gain / math.sqrt(math.sqrt(fan_in * fan_out))
            return math.sqrt(3) * std if distribution == "uniform" else std
        """,
    ),
    _w(
        "kaiming_scale",
        "average_fan",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            std = gain / math.sqrt((fan_in + fan_out) / 2)
            return math.sqrt(3) * std if distribution == "uniform" else std
        """,
    ),
    _w(
        "kaiming_scale",
        "root_missing_on_the_fan",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            n = fan_in if mode == "fan_in" else fan_out
            return gain * math.sqrt(3) / n if distribution == "uniform" else gain / math.sqrt(n)
        """,
    ),
    _w(
        "kaiming_scale",
        "fan_out_without_receptive_field",
        "rank",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, _ = fans(shape)
            n = fan_in if mode == "fan_in" else shape[0]
            std = gain / math.sqrt(n)
            return math.sqrt(3) * std if distribution == "uniform" else std
        """,
    ),
    _w(
        "kaiming_scale",
        "bound_sqrt6",
        "formula",
        """
        import math

        def kaiming_scale(shape, *, gain, mode, distribution):
            fan_in, fan_out = fans(shape)
            n = fan_in if mode == "fan_in" else fan_out
            return gain * math.sqrt((6 if distribution == "uniform" else 1) / n)
        """,
    ),
    _w(
        "sample_weight",
        "transposed_draw",
        "axis",
        """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(-scale, scale, shape[::-1]).T
            return rng.normal(0.0, scale, shape[::-1]).T
        """,
    ),
    _w(
        "sample_weight",
        "normal_clipped_at_two_std",
        "range",
        """
        import numpy as np

        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(-scale, scale, shape)
            return np.clip(rng.normal(0.0, scale, shape), -2 * scale, 2 * scale)
        """,
    ),
    _w(
        "sample_weight",
        "generator_of_the_first_call",
        "state",
        """
        _RNG = []

        def sample_weight(shape, scale, *, distribution, rng):
            if not _RNG:
                _RNG.append(rng)
            g = _RNG[0]
            if distribution == "uniform":
                return g.uniform(-scale, scale, shape)
            return g.normal(0.0, scale, shape)
        """,
    ),
    _w(
        "sample_weight",
        "normal_location_and_scale_swapped",
        "formula",
        """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(-scale, scale, shape)
            return rng.normal(scale, size=shape)
        """,
    ),
    _w(
        "batchnorm_forward",
        "evaluation_without_eps",
        "formula",
        """
        import numpy as np

        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                              eps):
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var) + beta
                return y, running_mean.copy(), running_var.copy()
            n = len(x)
            mu, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mu) / np.sqrt(var + eps) + beta
            rm = (1 - momentum) * running_mean + momentum * mu
            rv = (1 - momentum) * running_var + momentum * var * n / (n - 1)
            return y, rm, rv
        """,
    ),
    _w(
        "batchnorm_forward",
        "running_statistics_move_in_evaluation",
        "formula",
        """
        import numpy as np

        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                              eps):
            n = len(x)
            mu, var = x.mean(axis=0), x.var(axis=0)
            rm = (1 - momentum) * running_mean + momentum * mu
            rv = (1 - momentum) * running_var + momentum * var * n / (n - 1)
            if training:
                y = gamma * (x - mu) / np.sqrt(var + eps) + beta
            else:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
            return y, rm, rv
        """,
    ),
    _w(
        "batchnorm_forward",
        "correction_on_the_whole_average",
        "formula",
        """
        import numpy as np

        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                              eps):
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                return y, running_mean.copy(), running_var.copy()
            n = len(x)
            mu, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mu) / np.sqrt(var + eps) + beta
            rm = (1 - momentum) * running_mean + momentum * mu
            rv = ((1 - momentum) * running_var + momentum * var) * n / (n - 1)
            return y, rm, rv
        """,
    ),
    _w(
        "batchnorm_forward",
        "beta_before_gamma",
        "formula",
        """
        import numpy as np

        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                              eps):
            if not training:
                y = gamma * ((x - running_mean) / np.sqrt(running_var + eps) + beta)
                return y, running_mean.copy(), running_var.copy()
            n = len(x)
            mu, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * ((x - mu) / np.sqrt(var + eps) + beta)
            rm = (1 - momentum) * running_mean + momentum * mu
            rv = (1 - momentum) * running_var + momentum * var * n / (n - 1)
            return y, rm, rv
        """,
    ),
    _w(
        "batchnorm_backward",
        "gamma_left_out_of_grad_x",
        "formula",
        """
        import numpy as np

        def batchnorm_backward(grad_out, x, gamma, *, eps):
            xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
            g = grad_out
            gx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / np.sqrt(x.var(0) + eps)
            return gx, (grad_out * xhat).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "batchnorm_backward",
        "gamma_in_grad_gamma",
        "formula",
        """
        import numpy as np

        def batchnorm_backward(grad_out, x, gamma, *, eps):
            xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
            g = gamma * grad_out
            gx = (g - g.mean(0) - xhat * (g * xhat).mean(0)) / np.sqrt(x.var(0) + eps)
            return gx, (g * xhat).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "batchnorm_backward",
        "variance_term_over_n_minus_1",
        "off_by_one",
        """
        import numpy as np

        def batchnorm_backward(grad_out, x, gamma, *, eps):
            n = len(x)
            xhat = (x - x.mean(0)) / np.sqrt(x.var(0) + eps)
            g = gamma * grad_out
            gx = (g - g.mean(0) - xhat * (g * xhat).sum(0) / (n - 1)) / np.sqrt(x.var(0) + eps)
            return gx, (grad_out * xhat).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "batchnorm_backward",
        "variance_term_without_eps",
        "formula",
        """
        import numpy as np

        def batchnorm_backward(grad_out, x, gamma, *, eps):
            xc = x - x.mean(0)
            xhat = xc / np.sqrt(x.var(0) + eps)
            g = gamma * grad_out
            raw = xc / np.sqrt(x.var(0))
            gx = (g - g.mean(0) - raw * (g * raw).mean(0)) / np.sqrt(x.var(0) + eps)
            return gx, (grad_out * xhat).sum(0), grad_out.sum(0)
        """,
    ),
    _w(
        "dropout_layer",
        "no_dropout_returns_its_inputs",
        "alias",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            if p == 0:
                return x, grad_out
            mask = rng.random(x.shape) >= p
            return x * mask / (1 - p), grad_out * mask / (1 - p)
        """,
    ),
    _w(
        "dropout_layer",
        "rescaled_by_one_over_p",
        "formula",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.random(x.shape) >= p
            scale = 1 / p if p > 0 else 1.0
            return x * mask * scale, grad_out * mask * scale
        """,
    ),
    _w(
        "dropout_layer",
        "backward_without_the_mask",
        "formula",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.random(x.shape) >= p
            return x * mask / (1 - p), grad_out / (1 - p)
        """,
    ),
    _w(
        "dropout_layer",
        "keeps_with_probability_p",
        "formula",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = rng.random(x.shape) < p
            return x * mask / (1 - p), grad_out * mask / (1 - p)
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "penalty_gradient_doubled",
        "formula",
        """
        import numpy as np

        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if decoupled:
                param *= 1 - lr * weight_decay
                g = grad
            else:
                g = grad + 2 * weight_decay * param
            buf = state["buf"] = momentum * state["buf"] + g if "buf" in state else g.copy()
            param -= lr * buf
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "flag_read_the_wrong_way",
        "formula",
        """
        import numpy as np

        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            if not decoupled:
                param *= 1 - lr * weight_decay
                g = grad
            else:
                g = grad + weight_decay * param
            buf = state["buf"] = momentum * state["buf"] + g if "buf" in state else g.copy()
            param -= lr * buf
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "decoupled_decay_after_the_step",
        "formula",
        """
        import numpy as np

        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            g = grad if decoupled else grad + weight_decay * param
            buf = state["buf"] = momentum * state["buf"] + g if "buf" in state else g.copy()
            param -= lr * buf
            if decoupled:
                param *= 1 - lr * weight_decay
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "decoupled_and_penalty_both",
        "formula",
        """
        import numpy as np

        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            g = grad + weight_decay * param
            if decoupled:
                param *= 1 - lr * weight_decay
            buf = state["buf"] = momentum * state["buf"] + g if "buf" in state else g.copy()
            param -= lr * buf
        """,
    ),
    _w(
        "adam_weight_decay_step",
        "penalty_in_the_first_moment_only",
        "formula",
        """
        import numpy as np

        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            g = grad
            if decoupled:
                param *= 1 - lr * weight_decay
                m[...] = beta1 * m + (1 - beta1) * g
            else:
                m[...] = beta1 * m + (1 - beta1) * (g + weight_decay * param)
            v[...] = beta2 * v + (1 - beta2) * g * g
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_weight_decay_step",
        "decoupled_with_the_corrected_lr",
        "formula",
        """
        import numpy as np

        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            g = grad if decoupled else grad + weight_decay * param
            lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            if decoupled:
                param *= 1 - lr_t * weight_decay
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_weight_decay_step",
        "flag_read_the_wrong_way",
        "formula",
        """
        import numpy as np

        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            g = grad if not decoupled else grad + weight_decay * param
            if not decoupled:
                param *= 1 - lr * weight_decay
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "adam_weight_decay_step",
        "half_penalty",
        "formula",
        """
        import numpy as np

        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            t = state["step"] = state.get("step", 0) + 1
            m = state.setdefault("m", np.zeros_like(param))
            v = state.setdefault("v", np.zeros_like(param))
            g = grad if decoupled else grad + 0.5 * weight_decay * param
            if decoupled:
                param *= 1 - lr * weight_decay
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "early_stopping",
        "best_follows_every_new_low",
        "formula",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, wait = float("inf"), 0, 0
            for epoch, loss in enumerate(val_losses):
                if loss < best - min_delta:
                    best_epoch, wait = epoch, 0
                else:
                    wait += 1
                best = min(best, loss)
                if wait >= patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "first_epoch_counts_as_no_improvement",
        "off_by_one",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, wait = val_losses[0], 0, 0
            for epoch, loss in enumerate(val_losses):
                if loss < best - min_delta:
                    best, best_epoch, wait = loss, epoch, 0
                else:
                    wait += 1
                if wait >= patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "never_stopping_reports_the_length",
        "off_by_one",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, wait = float("inf"), 0, 0
            for epoch, loss in enumerate(val_losses):
                if loss < best - min_delta:
                    best, best_epoch, wait = loss, epoch, 0
                else:
                    wait += 1
                if wait >= patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses), best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "early_stopping",
        "counter_reset_by_any_decrease",
        "formula",
        """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, wait = float("inf"), 0, 0
            for epoch, loss in enumerate(val_losses):
                if loss < best - min_delta:
                    best, best_epoch, wait = loss, epoch, 0
                elif epoch > 0 and loss < val_losses[epoch - 1]:
                    wait = 0  # still going down: be patient
                else:
                    wait += 1
                if wait >= patience:
                    return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """,
    ),
    _w(
        "trainable_layers",
        "round_half_to_even",
        "formula",
        """
        def trainable_layers(n_layers, epoch, *, every):
            k = min(n_layers, round((epoch + 1) / every))
            return [i >= n_layers - k for i in range(n_layers)]
        """,
    ),
    _w(
        "trainable_layers",
        "input_layer_never_unfrozen",
        "range",
        """
        import math

        def trainable_layers(n_layers, epoch, *, every):
            k = min(n_layers - 1, math.ceil((epoch + 1) / every))  # the embedding stays frozen
            return [i >= n_layers - k for i in range(n_layers)]
        """,
    ),
    _w(
        "trainable_layers",
        "floor_of_epoch_plus_one",
        "off_by_one",
        """
        def trainable_layers(n_layers, epoch, *, every):
            k = min(n_layers, max(1, (epoch + 1) // every))
            return [i >= n_layers - k for i in range(n_layers)]
        """,
    ),
    _w(
        "trainable_layers",
        "ceil_of_epoch_at_least_one",
        "off_by_one",
        """
        import math

        def trainable_layers(n_layers, epoch, *, every):
            k = min(n_layers, math.ceil(epoch / every) or 1)
            return [i >= n_layers - k for i in range(n_layers)]
        """,
    ),
    _w(
        "frozen_sgd_step",
        "decay_after_the_step",
        "formula",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable):
                if train:
                    new.append((w - lr * g) * (1 - lr * weight_decay))
                    n += w.size
                else:
                    new.append(w.copy())
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "flags_from_the_head_down",
        "axis",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable[::-1]):
                if train:
                    new.append((1 - lr * weight_decay) * w - lr * g)
                    n += w.size
                else:
                    new.append(w.copy())
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "matrices_and_vectors_only",
        "rank",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new, n = [], 0
            for w, g, train in zip(weights, grads, trainable):
                if train:
                    new.append((1 - lr * weight_decay) * w - lr * g)
                    n += w.shape[0] * (w.shape[1] if w.ndim == 2 else 1)
                else:
                    new.append(w.copy())
            return new, n
        """,
    ),
    _w(
        "frozen_sgd_step",
        "frozen_layers_left_out",
        "formula",
        """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = [(1 - lr * weight_decay) * w - lr * g
                   for w, g, train in zip(weights, grads, trainable) if train]
            return new, sum(w.size for w in new)
        """,
    ),
    _w(
        "lora_init",
        "A_drawn_transposed",
        "axis",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            b = 1 / np.sqrt(d_in)
            return rng.uniform(-b, b, size=(d_in, r)).T, np.zeros((d_out, r))
        """,
    ),
    _w(
        "lora_init",
        "xavier_bound_for_A",
        "formula",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            b = np.sqrt(6 / (r + d_in))
            return rng.uniform(-b, b, size=(r, d_in)), np.zeros((d_out, r))
        """,
    ),
    _w(
        "lora_init",
        "bound_without_the_root",
        "formula",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            return rng.uniform(-1 / d_in, 1 / d_in, size=(r, d_in)), np.zeros((d_out, r))
        """,
    ),
    _w(
        "lora_init",
        "integer_zeros",
        "dtype",
        """
        import numpy as np

        def lora_init(d_out, d_in, r, *, rng):
            b = 1 / np.sqrt(d_in)
            return rng.uniform(-b, b, size=(r, d_in)), np.zeros((d_out, r), dtype=int)
        """,
    ),
    _w(
        "lora_forward_backward",
        "scale_only_on_grad_B",
        "formula",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            H = x @ A.T
            y = x @ W.T + s * H @ B.T
            GB = grad_out @ B
            return y, grad_out @ W + s * GB @ A, GB.T @ x, s * grad_out.T @ H
        """,
    ),
    _w(
        "lora_forward_backward",
        "gradients_averaged_over_the_batch",
        "formula",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s, n = alpha / A.shape[0], len(x)
            H = x @ A.T
            y = x @ W.T + s * H @ B.T
            GB = grad_out @ B
            return y, grad_out @ W + s * GB @ A, s * GB.T @ x / n, s * grad_out.T @ H / n
        """,
    ),
    _w(
        "lora_forward_backward",
        "numpy_scalar_scale",
        "dtype",
        """
        import numpy as np

        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = np.divide(alpha, A.shape[0])
            H = x @ A.T
            y = x @ W.T + s * H @ B.T
            GB = grad_out @ B
            return y, grad_out @ W + s * GB @ A, s * GB.T @ x, s * grad_out.T @ H
        """,
    ),
    _w(
        "lora_forward_backward",
        "forward_without_the_scale",
        "formula",
        """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            H = x @ A.T
            y = x @ W.T + H @ B.T
            GB = grad_out @ B
            return y, grad_out @ W + s * GB @ A, s * GB.T @ x, s * grad_out.T @ H
        """,
    ),
    _w(
        "lora_merge",
        "copied_as_float",
        "dtype",
        """
        import numpy as np

        def lora_merge(W, A, B, *, alpha):
            merged = np.array(W, dtype=float)
            merged += alpha / A.shape[0] * (B @ A)
            return merged
        """,
    ),
    _w(
        "lora_merge",
        "minus_the_correction",
        "formula",
        """
        def lora_merge(W, A, B, *, alpha):
            return W - alpha / A.shape[0] * (B @ A)
        """,
    ),
    _w(
        "lora_merge",
        "rank_stabilised_scale",
        "formula",
        """
        import numpy as np

        def lora_merge(W, A, B, *, alpha):
            return W + alpha / np.sqrt(A.shape[0]) * (B @ A)
        """,
    ),
    _w(
        "lora_merge",
        "scale_on_W_too",
        "formula",
        """
        def lora_merge(W, A, B, *, alpha):
            return alpha / A.shape[0] * (W + B @ A)
        """,
    ),
    _w(
        "lion_step",
        "momentum_updated_before_the_sign",
        "formula",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("m", np.zeros_like(param))
            m[...] = beta2 * m + (1 - beta2) * grad
            param *= 1 - lr * weight_decay
            param -= lr * np.sign(beta1 * m + (1 - beta1) * grad)
        """,
    ),
    _w(
        "lion_step",
        "momentum_starts_at_the_gradient",
        "off_by_one",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("m", grad.copy())
            param *= 1 - lr * weight_decay
            param -= lr * np.sign(beta1 * m + (1 - beta1) * grad)
            m[...] = beta2 * m + (1 - beta2) * grad
        """,
    ),
    _w(
        "lion_step",
        "clip_instead_of_sign",
        "range",
        """
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("m", np.zeros_like(param))
            param *= 1 - lr * weight_decay
            param -= lr * np.clip(beta1 * m + (1 - beta1) * grad, -1, 1)
            m[...] = beta2 * m + (1 - beta2) * grad
        """,
    ),
    _w(
        "lion_step",
        "global_momentum_by_shape",
        "state",
        """
        import numpy as np

        _M = {}

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = _M.setdefault(param.shape, np.zeros_like(param))
            param *= 1 - lr * weight_decay
            param -= lr * np.sign(beta1 * m + (1 - beta1) * grad)
            m[...] = beta2 * m + (1 - beta2) * grad
        """,
    ),
    _w(
        "adafactor_step",
        "clamp_at_eps1_not_its_square",
        "range",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = max(eps2, np.sqrt(np.mean(param * param))) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1))
            param -= a / max(1.0, np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    _w(
        "adafactor_step",
        "relative_step_without_the_root",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = t ** beta2_decay
            rho = min(lr, 1 / t)
            a = max(eps2, np.sqrt(np.mean(param * param))) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / max(1.0, np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    _w(
        "adafactor_step",
        "clipping_by_the_gradient",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = max(eps2, np.sqrt(np.mean(param * param))) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / max(1.0, np.sqrt(np.mean(grad * grad)) / d) * U
        """,
    ),
    _w(
        "adafactor_step",
        "rms_of_param_as_its_std",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = max(eps2, param.std()) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / max(1.0, np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    _w(
        "adafactor_step",
        "decay_weight_swapped",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = 1 - t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = max(eps2, np.sqrt(np.mean(param * param))) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / max(1.0, np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    _w(
        "adafactor_step",
        "relative_step_without_the_eps2_floor",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = np.sqrt(np.mean(param * param)) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / max(1.0, np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    _w(
        "adafactor_step",
        "clipping_without_the_floor_of_one",
        "formula",
        """
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            t = state["step"] = state.get("step", 0) + 1
            R = state.setdefault("row", np.zeros((param.shape[0], 1), param.dtype))
            C = state.setdefault("col", np.zeros((1, param.shape[1]), param.dtype))
            w = t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = max(eps2, np.sqrt(np.mean(param * param))) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / (np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    # module-level state renewed only when the shape changes: caught since every update
    # rule's hidden cases end with a restart of the last problem (same shape, empty state)
    _w(
        "momentum_step",
        "global_buffer_renewed_when_the_shape_changes",
        "state",
        """
        import numpy as np

        velocity = None

        def momentum_step(param, grad, state, *, lr, momentum):
            global velocity
            if velocity is None or velocity.shape != param.shape:
                velocity = np.zeros_like(param)
            velocity = momentum * velocity + grad
            param -= lr * velocity
        """,
    ),
    _w(
        "adam_step",
        "global_moments_renewed_when_the_shape_changes",
        "state",
        """
        import numpy as np

        m = v = None
        t = 0

        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            global m, v, t
            if m is None or m.shape != param.shape:
                m, v, t = np.zeros_like(param), np.zeros_like(param), 0
            t += 1
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """,
    ),
    _w(
        "sgd_weight_decay_step",
        "global_buffer_renewed_when_the_shape_changes",
        "state",
        """
        import numpy as np

        buf = None

        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
            global buf
            g = grad if decoupled else grad + weight_decay * param
            if decoupled:
                param *= 1 - lr * weight_decay
            if buf is None or buf.shape != param.shape:
                buf = g.copy()
            else:
                buf = momentum * buf + g
            param -= lr * buf
        """,
    ),
    _w(
        "adafactor_step",
        "global_factors_renewed_when_the_shape_changes",
        "state",
        """
        import numpy as np

        _S = {}

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d, weight_decay):
            global _S
            if _S.get('shape') != param.shape:
                _S = {'shape': param.shape, 'step': 0,
                      'row': np.zeros((param.shape[0], 1), param.dtype),
                      'col': np.zeros((1, param.shape[1]), param.dtype)}
            t = _S['step'] = _S['step'] + 1
            R, C = _S['row'], _S['col']
            w = t ** beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            a = max(eps2, np.sqrt(np.mean(param * param))) * rho
            param *= 1 - lr * weight_decay
            g2 = grad * grad
            R += w * (g2.mean(axis=1, keepdims=True) - R)
            C += w * (g2.mean(axis=0, keepdims=True) - C)
            V = R @ C / max(R.mean(), eps1)
            U = grad / np.sqrt(np.maximum(V, eps1 * eps1))
            param -= a / max(1.0, np.sqrt(np.mean(U * U)) / d) * U
        """,
    ),
    _w(
        "dropout_layer",
        "draws_in_the_dtype_of_x",
        "rng",
        """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            keep = rng.random(x.shape, dtype=x.dtype) >= p  # float32 draws for float32 x
            return x * keep / (1 - p), grad_out * keep / (1 - p)
        """,
    ),
]
