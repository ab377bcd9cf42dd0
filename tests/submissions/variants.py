"""Correct answers written differently from the reference: each must keep full marks.

Keyed by exercise (the function the student writes); every value is the full
code of an answer cell. They differ from the reference in form only: in-place
vs out-of-place updates, explicit bias-corrected moments, Bengio's form of
Nesterov, a per-sample loop, ``rng.shuffle`` of an index array, ...
"""

from textwrap import dedent


def _v(source: str) -> str:
    return dedent(source).strip() + "\n"


VARIANTS: dict[str, dict[str, str]] = {
    "minibatches": {
        "shuffle_index_array": _v("""
            import numpy as np

            def minibatches(X, y, batch_size, *, rng):
                idx = np.arange(len(X))
                rng.shuffle(idx)  # the same draws as rng.permutation(len(X))
                batches = []
                while len(idx):
                    take, idx = idx[:batch_size], idx[batch_size:]
                    batches.append((X[take], y[take]))
                return batches
            """),
    },
    "sgd_epoch": {
        "per_sample_loop_in_place": _v("""
            import numpy as np

            def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
                w = np.array(w, dtype=float)
                for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                    gw, gb = np.zeros_like(w), 0.0
                    for x_i, y_i in zip(Xb, yb):
                        r = x_i @ w + b - y_i
                        gw += 2 * r * x_i
                        gb += 2 * r
                    w -= lr * gw / len(yb)
                    b -= lr * gb / len(yb)
                return w, float(b)
            """),
    },
    "should_stop": {
        "iteration_count_first": _v("""
            def should_stop(losses, *, tol, max_iters):
                iterations = len(losses) - 1
                converged = iterations > 0 and -tol < losses[-1] - losses[-2] < tol
                return bool(iterations >= max_iters or converged)
            """),
    },
    "momentum_step": {
        "out_of_place_state": _v("""
            import numpy as np

            def momentum_step(param, grad, state, *, lr, momentum):
                if "buf" in state:
                    state["buf"] = momentum * state["buf"] + grad
                else:
                    state["buf"] = grad.copy()
                param[...] = param - lr * state["buf"]
            """),
    },
    "nesterov_step": {
        "lookahead_buffer_copy": _v("""
            import numpy as np

            def nesterov_step(param, grad, state, *, lr, momentum):
                buf = state.get("buf")
                buf = np.array(grad, copy=True) if buf is None else momentum * buf + grad
                state["buf"] = buf
                step = grad + momentum * buf
                np.multiply(step, lr, out=step)
                param -= step
            """),
    },
    "rmsprop_step": {
        "out_of_place_ufuncs": _v("""
            import numpy as np

            def rmsprop_step(param, grad, state, *, lr, alpha, eps):
                v = alpha * state.get("v", np.zeros_like(param)) + (1 - alpha) * np.square(grad)
                state["v"] = v
                np.subtract(param, lr * grad / (np.sqrt(v) + eps), out=param)
            """),
    },
    "adam_step": {
        "explicit_bias_corrected_moments": _v("""
            import numpy as np

            def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
                t = state.get("t", 0) + 1
                m = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
                v = beta2 * state.get("v", 0.0) + (1 - beta2) * grad * grad
                state.update(t=t, m=m, v=v)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                param -= lr * m_hat / (np.sqrt(v_hat) + eps)
            """),
    },
    "adamw_step": {
        "explicit_decoupled_decay": _v("""
            import numpy as np

            def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
                if not state:
                    state.update(step=0, m=np.zeros_like(param), v=np.zeros_like(param))
                state["step"] += 1
                t = state["step"]
                state["m"] = beta1 * state["m"] + (1 - beta1) * grad
                state["v"] = beta2 * state["v"] + (1 - beta2) * grad**2
                m_hat = state["m"] / (1 - beta1**t)
                v_hat = state["v"] / (1 - beta2**t)
                param[...] = param - lr * weight_decay * param - lr * m_hat / (np.sqrt(v_hat) + eps)
            """),
    },
    "warmup_cosine_lr": {
        "numpy_piecewise": _v("""
            import numpy as np

            def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
                if t < warmup_steps:
                    return base_lr * (t + 1) / (warmup_steps + 1)
                progress = min(1.0, (t - warmup_steps) / (total_steps - warmup_steps))
                return float(eta_min + (base_lr - eta_min) * (1 + np.cos(np.pi * progress)) / 2)
            """),
    },
    "sigmoid_layer": {
        "tanh_identity_float32": _v("""
            import numpy as np

            def sigmoid_layer(x, grad_out):
                # sigma(x) = (1 + tanh(x / 2)) / 2, computed in x's dtype (float32 stays float32)
                y = (1 + np.tanh(x / 2)) / 2
                return y, grad_out * y * (1 - y)
            """),
        "in_place_exp": _v("""
            import numpy as np

            def sigmoid_layer(x, grad_out):
                y = np.exp(-np.abs(x))  # never overflows
                np.divide(np.where(x >= 0, 1, y), 1 + y, out=y)
                grad = grad_out.copy()
                grad *= y
                grad *= 1 - y
                return y, grad
            """),
    },
    "tanh_layer": {
        "exp_formula": _v("""
            import numpy as np

            def tanh_layer(x, grad_out):
                e = np.exp(-2 * np.abs(x))
                y = np.sign(x) * (1 - e) / (1 + e)
                return y, grad_out * (1 - y) * (1 + y)
            """),
    },
    "relu_layer": {
        "where_in_place": _v("""
            import numpy as np

            def relu_layer(x, grad_out):
                y = x.copy()
                y[y < 0] = 0
                grad = np.where(x > 0, grad_out, np.zeros_like(grad_out))
                return y, grad
            """),
    },
    "softmax_cross_entropy": {
        "log_sum_exp_per_row": _v("""
            import numpy as np

            def softmax_cross_entropy(logits, targets):
                n = logits.shape[0]
                loss, grad = 0.0, np.empty_like(logits)
                for i in range(n):
                    m = logits[i].max()
                    lse = m + np.log(np.sum(np.exp(logits[i] - m)))
                    loss += lse - logits[i, targets[i]]
                    grad[i] = np.exp(logits[i] - lse)
                    grad[i, targets[i]] -= 1
                return loss / n, grad / n
            """),
    },
    "fans": {
        "numpy_prod_list": _v("""
            import numpy as np

            def fans(shape):
                out_channels, in_channels, *kernel = shape
                receptive = int(np.prod(kernel))  # np.prod([]) is 1.0: a dense layer
                return in_channels * receptive, out_channels * receptive
            """),
    },
    "xavier_scale": {
        "variance_then_root": _v("""
            import numpy as np

            def xavier_scale(shape, *, gain, distribution):
                fan_in = shape[1] * np.prod(shape[2:], dtype=int)
                fan_out = shape[0] * np.prod(shape[2:], dtype=int)
                var = gain**2 * 2 / (fan_in + fan_out)
                # U(-b, b) has variance b**2 / 3
                return float(np.sqrt(3 * var) if distribution == "uniform" else np.sqrt(var))
            """),
    },
    "kaiming_scale": {
        "common_factor": _v("""
            import numpy as np

            def kaiming_scale(shape, *, gain, mode, distribution):
                receptive = 1
                for k in shape[2:]:
                    receptive *= k
                fan = (shape[1] if mode == "fan_in" else shape[0]) * receptive
                factor = 6.0 if distribution == "uniform" else 2.0
                return gain * np.sqrt(factor / (2 * fan))  # sqrt(3 / n) or sqrt(1 / n)
            """),
    },
    "sample_weight": {
        "standard_draws_scaled": _v("""
            import numpy as np

            def sample_weight(shape, scale, *, distribution, rng):
                if distribution == "uniform":
                    return scale * (2 * rng.random(shape) - 1)  # rng.uniform draws the same
                w = rng.standard_normal(shape)
                w *= scale
                return w
            """),
    },
    "batchnorm_forward": {
        "unbiased_via_ddof_in_place": _v("""
            import numpy as np

            def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                                  momentum, eps):
                running_mean, running_var = running_mean.copy(), running_var.copy()
                if training:
                    mean, var = x.mean(axis=0), x.var(axis=0)
                    running_mean += momentum * (mean - running_mean)  # the same average
                    running_var += momentum * (x.var(axis=0, ddof=1) - running_var)
                else:
                    mean, var = running_mean, running_var
                y = x - mean
                y /= np.sqrt(var + eps)
                y *= gamma
                y += beta
                return y, running_mean, running_var
            """),
    },
    "batchnorm_backward": {
        "explicit_chain_rule": _v("""
            import numpy as np

            def batchnorm_backward(grad_out, x, gamma, *, eps):
                n = x.shape[0]
                mu = x.mean(axis=0)
                var = ((x - mu) ** 2).mean(axis=0)
                std = np.sqrt(var + eps)
                x_hat = (x - mu) / std
                d_xhat = grad_out * gamma
                d_var = np.sum(d_xhat * (x - mu), axis=0) * -0.5 * std**-3
                d_mu = -np.sum(d_xhat, axis=0) / std - 2 * d_var * np.mean(x - mu, axis=0)
                grad_x = d_xhat / std + d_var * 2 * (x - mu) / n + d_mu / n
                return grad_x, np.sum(grad_out * x_hat, axis=0), np.sum(grad_out, axis=0)
            """),
    },
    "dropout_layer": {
        "uniform_draw_in_place": _v("""
            import numpy as np

            def dropout_layer(x, grad_out, *, p, training, rng):
                if not training:
                    return x.copy(), grad_out.copy()  # new arrays, as the contract says
                scale = np.where(rng.uniform(size=x.shape) >= p, 1 / (1 - p), 0.0)
                y = x.copy()
                y *= scale
                return y, grad_out * scale.astype(x.dtype)
            """),
    },
    "sgd_weight_decay_step": {
        "explicit_branches_out_of_place_buffer": _v("""
            import numpy as np

            def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                      decoupled):
                if decoupled:
                    param[...] = param - lr * weight_decay * param  # decay the old weights
                    g = grad
                else:
                    g = grad + weight_decay * param
                buf = state.get("momentum_buffer")
                buf = np.array(g) if buf is None else momentum * buf + g
                state["momentum_buffer"] = buf
                param[...] = param - lr * buf
            """),
    },
    "adam_weight_decay_step": {
        "decay_folded_into_the_update": _v("""
            import numpy as np

            def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                       decoupled):
                g = grad if decoupled else grad + weight_decay * param
                if not state:
                    state.update(step=0, m=np.zeros_like(param), v=np.zeros_like(param))
                state["step"] += 1
                t = state["step"]
                state["m"] = beta1 * state["m"] + (1 - beta1) * g
                state["v"] = beta2 * state["v"] + (1 - beta2) * g * g
                update = state["m"] / (1 - beta1**t) / (np.sqrt(state["v"] / (1 - beta2**t)) + eps)
                decay = weight_decay * param if decoupled else 0.0
                param -= lr * (update + decay)  # the same: the decay uses the old param
            """),
    },
    "early_stopping": {
        "argmin_of_the_run_so_far": _v("""
            import numpy as np

            def early_stopping(val_losses, weights, *, patience, min_delta):
                best_epoch, since_best = 0, 0
                stop = len(val_losses) - 1
                for epoch in range(1, len(val_losses)):
                    if val_losses[epoch] < val_losses[best_epoch] - min_delta:
                        best_epoch, since_best = epoch, 0
                        continue
                    since_best += 1
                    if since_best >= patience:
                        stop = epoch
                        break
                return stop, best_epoch, np.array(weights[best_epoch])
            """),
    },
    "trainable_layers": {
        "ceil_and_slices": _v("""
            import math

            def trainable_layers(n_layers, epoch, *, every):
                n_open = min(n_layers, math.ceil((epoch + 1) / every))
                return [False] * (n_layers - n_open) + [True] * n_open
            """),
    },
    "frozen_sgd_step": {
        "in_place_on_copies": _v("""
            def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
                new, n_trained = [], 0
                for w, g, train in zip(weights, grads, trainable):
                    w = w.copy()
                    if train:
                        w *= 1 - lr * weight_decay
                        w -= lr * g
                        n_trained += w.size
                    new.append(w)
                return new, n_trained
            """),
    },
    "lora_init": {
        "uniform_from_random": _v("""
            import numpy as np

            def lora_init(d_out, d_in, r, *, rng):
                bound = d_in ** -0.5
                A = bound * (2 * rng.random((r, d_in)) - 1)  # rng.uniform draws the same
                return A, np.zeros((d_out, r))
            """),
    },
    "lora_forward_backward": {
        "through_the_merged_weight": _v("""
            def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
                s = alpha / len(A)
                y = x @ (W + s * (B @ A)).T
                grad_x = grad_out @ (W + s * (B @ A))
                grad_A = s * B.T @ grad_out.T @ x
                grad_B = s * grad_out.T @ x @ A.T
                return y, grad_x, grad_A, grad_B
            """),
    },
    "lora_merge": {
        "einsum": _v("""
            import numpy as np

            def lora_merge(W, A, B, *, alpha):
                r = A.shape[0]
                return W + np.einsum("or,ri->oi", B, A) * (alpha / r)
            """),
    },
}

# Correct answers that earlier cases or contract clauses wrongly rejected (issue 13), and more.
_MORE: dict[str, dict[str, str]] = {
    "should_stop": {
        "logs_to_stderr": _v("""
            import logging
            import sys
            import warnings

            def should_stop(losses, *, tol, max_iters):
                k = len(losses) - 1
                logging.warning("iteration %d", k)  # a debugging trace on stderr is harmless
                print("losses so far:", len(losses), file=sys.stderr)
                warnings.warn("checking convergence")
                return k >= max_iters or (k >= 1 and abs(losses[-1] - losses[-2]) < tol)
            """),
    },
    "adam_step": {
        "logs_to_stderr": _v("""
            import logging
            import numpy as np

            log = logging.getLogger("adam")

            def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
                if not state:
                    state.update(t=0, m=np.zeros_like(param), v=np.zeros_like(param))
                state["t"] += 1
                t, m, v = state["t"], state["m"], state["v"]
                m[...] = beta1 * m + (1 - beta1) * grad
                v[...] = beta2 * v + (1 - beta2) * grad**2
                log.warning("step %d, lr %g", t, lr)
                param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
            """),
    },
    "batchnorm_backward": {
        "staged_graph_through_variance_and_mean": _v("""
            import numpy as np

            def batchnorm_backward(grad_out, x, gamma, *, eps):
                # CS231n's staged graph: mean, centred x, square, variance, sqrt, inverse, x_hat
                n = x.shape[0]
                mu = x.mean(axis=0)
                xmu = x - mu
                sq = xmu**2
                var = sq.mean(axis=0)
                sqrtvar = np.sqrt(var + eps)
                ivar = 1.0 / sqrtvar
                xhat = xmu * ivar
                dbeta = grad_out.sum(axis=0)
                dgamma = np.sum(grad_out * xhat, axis=0)
                dxhat = grad_out * gamma
                divar = np.sum(dxhat * xmu, axis=0)
                dxmu1 = dxhat * ivar
                dsqrtvar = -1.0 / sqrtvar**2 * divar
                dvar = 0.5 / np.sqrt(var + eps) * dsqrtvar
                dsq = 1.0 / n * np.ones_like(x) * dvar
                dxmu2 = 2 * xmu * dsq
                dx1 = dxmu1 + dxmu2
                dmu = -np.sum(dx1, axis=0)
                dx2 = 1.0 / n * np.ones_like(x) * dmu
                return dx1 + dx2, dgamma, dbeta
            """),
    },
    "trainable_layers": {
        "numpy_boolean_array": _v("""
            import numpy as np

            def trainable_layers(n_layers, epoch, *, every):
                n_open = min(n_layers, epoch // every + 1)
                return np.arange(n_layers) >= n_layers - n_open
            """),
        "tuple_of_bools": _v("""
            def trainable_layers(n_layers, epoch, *, every):
                n_open = min(n_layers, -(-(epoch + 1) // every))
                return tuple(k >= n_layers - n_open for k in range(n_layers))
            """),
    },
    "frozen_sgd_step": {
        "updates_the_given_arrays_in_place": _v("""
            def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
                n_trained = 0
                for w, g, train in zip(weights, grads, trainable):
                    if train:
                        w *= 1 - lr * weight_decay  # the caller's arrays: allowed here
                        w -= lr * g
                        n_trained += w.size
                return weights, n_trained
            """),
    },
    "sigmoid_layer": {
        "plain_formula_overflow_gives_zero": _v("""
            import numpy as np

            def sigmoid_layer(x, grad_out):
                y = 1 / (1 + np.exp(-x))  # exp(1000) is inf, 1 / inf is 0: right
                return y, grad_out * y * (1 - y)
            """),
    },
    "tanh_layer": {
        "numpy_tanh": _v("""
            import numpy as np

            def tanh_layer(x, grad_out):
                y = np.tanh(x)
                return y, grad_out * (1 - y**2)
            """),
    },
    "relu_layer": {
        "multiply_by_mask": _v("""
            import numpy as np

            def relu_layer(x, grad_out):
                mask = x > 0
                return x * mask, grad_out * mask
            """),
    },
    "dropout_layer": {
        "mask_then_scale_any_rank": _v("""
            import numpy as np

            def dropout_layer(x, grad_out, *, p, training, rng):
                if not training:
                    return x.copy(), grad_out.copy()
                keep = rng.random(x.shape) >= p
                return np.where(keep, x / (1 - p), 0).astype(x.dtype), \\
                    np.where(keep, grad_out / (1 - p), 0).astype(x.dtype)
            """),
    },
    "early_stopping": {
        "best_loss_and_counter": _v("""
            def early_stopping(val_losses, weights, *, patience, min_delta):
                best_loss, best_epoch, waited = val_losses[0], 0, 0
                for epoch in range(1, len(val_losses)):
                    if best_loss - val_losses[epoch] > min_delta:
                        best_loss, best_epoch, waited = val_losses[epoch], epoch, 0
                    else:
                        waited += 1
                        if waited == patience:
                            return epoch, best_epoch, weights[best_epoch].copy()
                return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
            """),
    },
    "minibatches": {
        "generator_of_slices_of_a_permuted_copy": _v("""
            def minibatches(X, y, batch_size, *, rng):
                order = rng.permutation(len(X))
                Xs, ys = X[order], y[order]  # copies: slicing them gives no view of X
                for start in range(0, len(X), batch_size):
                    yield Xs[start:start + batch_size], ys[start:start + batch_size]
            """),
    },
    "momentum_step": {
        "rebinds_a_flat_view_then_updates_it": _v("""
            def momentum_step(param, grad, state, *, lr, momentum):
                param = param.reshape(-1)  # a view: updating it updates the caller's array
                g = grad.reshape(-1)
                buf = state.get("buf")
                state["buf"] = buf = g.copy() if buf is None else momentum * buf + g
                param -= lr * buf
            """),
    },
}
for _name, _more in _MORE.items():
    VARIANTS.setdefault(_name, {}).update(_more)

# large_models: Lion with an explicit interpolation and np.where for the sign; Adafactor with
# row and column sums (the paper's form, normalised by the sum) and the RMS via a norm
VARIANTS["lion_step"] = {
    "where_for_the_sign": _v("""
        import numpy as np

        def lion_step(param, grad, state, *, lr, beta1, beta2, weight_decay):
            m = state.setdefault("m", np.zeros_like(param))
            c = m + (1 - beta1) * (grad - m)  # beta1 * m + (1 - beta1) * grad
            direction = np.where(c > 0, 1.0, np.where(c < 0, -1.0, 0.0)).astype(param.dtype)
            param[...] = param * (1 - lr * weight_decay) - lr * direction
            state["m"] = beta2 * m + (1 - beta2) * grad
        """),
}
VARIANTS["adafactor_step"] = {
    "sums_normalised_by_their_sum": _v("""
        import numpy as np

        def adafactor_step(param, grad, state, *, lr, beta2_decay, eps1, eps2, d,
                           weight_decay):
            n, m = param.shape
            t = state.get("t", 0) + 1
            state["t"] = t
            rho = min(lr, t**-0.5)
            alpha = max(eps2, np.linalg.norm(param) / np.sqrt(param.size)) * rho
            if weight_decay:
                param *= 1 - lr * weight_decay
            w = t**beta2_decay  # 1 - beta_hat
            rows = (grad * grad).sum(axis=1) / m
            cols = (grad * grad).sum(axis=0) / n
            state["R"] = rows * w + state.get("R", 0 * rows) * (1 - w)
            state["C"] = cols * w + state.get("C", 0 * cols) * (1 - w)
            R, C = state["R"], state["C"]
            v = R[:, None] * C[None, :] * n / max(R.sum(), n * eps1)
            u = grad / np.sqrt(np.maximum(v, eps1 * eps1))
            scale = max(1.0, np.linalg.norm(u) / np.sqrt(u.size) / d)
            param -= (alpha / scale) * u
        """),
}
