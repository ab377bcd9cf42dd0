r"""A catalogue of wrong answers students really write, one list per exercise.

Each :class:`Mistake` is real code: the answer cell a student with that
misconception would write (same function name and signature as the
exercise). The catalogue serves twice:

- **feedback**: when an answer is wrong, :func:`dlopt.grading.exercises.check`
  runs every catalogued mistake of the exercise on the same problem and, if
  one gives the student's output, says so ("this matches Adam without bias
  correction") instead of only "values differ";
- **testing the tests**: ``tests/test_exercises.py`` puts each mistake's code
  into a submission and asserts that ``nbgrader autograde`` takes the points
  of that exercise, and only those.

To add a mistake: append a ``Mistake(exercise, key, description, source)``;
the description completes the sentence "this matches ..."; the tests pick it
up automatically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from textwrap import dedent

import numpy as np


@dataclass(frozen=True)
class Mistake:
    """A wrong answer to ``exercise``: ``source`` defines a function of that name."""

    exercise: str
    key: str
    description: str
    source: str

    def function(self, namespace: dict | None = None):
        """Compile ``source`` and return the function it defines (namespace: extra globals)."""
        scope = {"np": np, "math": math, "__name__": f"mistake_{self.key}"}
        scope.update(namespace or {})
        exec(compile(self.source, f"<mistake {self.key}>", "exec"), scope)
        return scope[self.exercise]


def _m(exercise: str, key: str, description: str, source: str) -> Mistake:
    return Mistake(exercise, key, description, dedent(source).strip() + "\n")


MISTAKES: list[Mistake] = [
    # ------------------------------------------------------------------ minibatches
    _m("minibatches", "minibatches_drop_last",
       "mini-batches that drop the last, smaller batch (it must be kept)", """
        def minibatches(X, y, batch_size, *, rng):
            order = rng.permutation(len(X))
            for start in range(0, len(X) - batch_size + 1, batch_size):
                idx = order[start:start + batch_size]
                yield X[idx], y[idx]
        """),
    _m("minibatches", "minibatches_no_shuffle",
       "mini-batches without shuffling (the order must come from rng.permutation(n))", """
        def minibatches(X, y, batch_size, *, rng):
            for start in range(0, len(X), batch_size):
                yield X[start:start + batch_size], y[start:start + batch_size]
        """),
    _m("minibatches", "minibatches_separate_permutations",
       "mini-batches that shuffle X and y with two different permutations, so samples lose "
       "their targets", """
        def minibatches(X, y, batch_size, *, rng):
            X = X[rng.permutation(len(X))]
            y = y[rng.permutation(len(y))]
            for start in range(0, len(X), batch_size):
                yield X[start:start + batch_size], y[start:start + batch_size]
        """),
    _m("minibatches", "minibatches_permutation_per_batch",
       "mini-batches that draw a new permutation for every batch (samples repeat or go "
       "missing within the epoch)", """
        def minibatches(X, y, batch_size, *, rng):
            for start in range(0, len(X), batch_size):
                idx = rng.permutation(len(X))[start:start + batch_size]
                yield X[idx], y[idx]
        """),
    # ------------------------------------------------------------------ sgd_epoch
    _m("sgd_epoch", "sgd_epoch_sum_not_mean",
       "an epoch that sums the per-sample gradients instead of averaging them over the batch", """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * 2 * Xb.T @ r
                b = b - lr * 2 * r.sum()
            return w, b
        """),
    _m("sgd_epoch", "sgd_epoch_no_factor_two",
       "an epoch whose gradient drops the factor 2 of the derivative of the square", """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w - lr * Xb.T @ r / len(yb)
                b = b - lr * r.mean()
            return w, b
        """),
    _m("sgd_epoch", "sgd_epoch_wrong_sign",
       "an epoch that steps up the gradient (+ instead of -)", """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = Xb @ w + b - yb
                w = w + lr * 2 * Xb.T @ r / len(yb)
                b = b + lr * 2 * r.mean()
            return w, b
        """),
    _m("sgd_epoch", "sgd_epoch_full_batch_gradient",
       "an epoch that uses the gradient on the whole data set at every step, not the batch's", """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                r = X @ w + b - y
                w = w - lr * 2 * X.T @ r / len(y)
                b = b - lr * 2 * r.mean()
            return w, b
        """),
    _m("sgd_epoch", "sgd_epoch_stale_residual",
       "an epoch that updates w before computing the gradient of b (b's gradient must use the "
       "same w as w's gradient)", """
        def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
            w = np.array(w, dtype=float)
            for Xb, yb in minibatches(X, y, batch_size, rng=rng):
                w = w - lr * 2 * Xb.T @ (Xb @ w + b - yb) / len(yb)
                b = b - lr * 2 * (Xb @ w + b - yb).mean()
            return w, b
        """),
    # ------------------------------------------------------------------ should_stop
    _m("should_stop", "should_stop_off_by_one",
       "a stopping rule that counts the losses instead of the iterations, so it stops one "
       "iteration early (off by one)", """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) >= max_iters:
                return True
            return len(losses) >= 2 and abs(losses[-1] - losses[-2]) < tol
        """),
    _m("should_stop", "should_stop_no_abs",
       "a stopping rule that compares the signed change L_k - L_(k-1) with tol (abs() "
       "forgotten): a decreasing loss stops at once", """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) - 1 >= max_iters:
                return True
            return len(losses) >= 2 and losses[-1] - losses[-2] < tol
        """),
    _m("should_stop", "should_stop_loss_not_change",
       "a stopping rule that compares the loss itself with tol instead of its change", """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) - 1 >= max_iters:
                return True
            return len(losses) >= 2 and abs(losses[-1]) < tol
        """),
    # ------------------------------------------------------------------ momentum
    _m("momentum_step", "momentum_dampened",
       "momentum with the (1 - momentum) factor on the gradient (dampening, the moving-average "
       "form); PyTorch's heavy ball adds the gradient undamped", """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += (1 - momentum) * grad
            param -= lr * buf
        """),
    _m("momentum_step", "momentum_buffer_not_kept",
       "momentum that does not keep its buffer in state between calls (this is plain SGD)", """
        def momentum_step(param, grad, state, *, lr, momentum):
            buf = state.get("momentum_buffer", np.zeros_like(param))
            buf = momentum * buf + grad
            param -= lr * buf
        """),
    _m("momentum_step", "momentum_wrong_sign",
       "momentum that steps up the gradient (+ instead of -)", """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad
            param += lr * buf
        """),
    _m("momentum_step", "momentum_stale_buffer",
       "momentum that moves the parameters with the previous step's buffer, before adding "
       "this step's gradient", """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
                param -= lr * grad
                return
            buf = state["momentum_buffer"]
            param -= lr * buf
            buf *= momentum
            buf += grad
        """),
    _m("momentum_step", "momentum_returns_new_array",
       "a rule that returns the new parameters instead of updating param in place", """
        def momentum_step(param, grad, state, *, lr, momentum):
            buf = state.get("momentum_buffer")
            buf = grad.copy() if buf is None else momentum * buf + grad
            state["momentum_buffer"] = buf
            return param - lr * buf
        """),
    # ------------------------------------------------------------------ nesterov
    _m("nesterov_step", "nesterov_as_heavy_ball",
       "plain heavy-ball momentum: Nesterov's step is g + momentum * b, not b", """
        def nesterov_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad
            param -= lr * buf
        """),
    _m("nesterov_step", "nesterov_buffer_not_kept",
       "Nesterov that does not keep its buffer in state between calls", """
        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.get("momentum_buffer", np.zeros_like(param))
            buf = momentum * buf + grad
            param -= lr * (grad + momentum * buf)
        """),
    _m("nesterov_step", "nesterov_dampened",
       "Nesterov with the (1 - momentum) factor on the gradient in the buffer", """
        def nesterov_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += (1 - momentum) * grad
            param -= lr * (grad + momentum * buf)
        """),
    # ------------------------------------------------------------------ rmsprop
    _m("rmsprop_step", "rmsprop_eps_inside_sqrt",
       "RMSprop with eps inside the square root (PyTorch adds it outside: sqrt(v) + eps)", """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(param)
            v = state["square_avg"]
            v *= alpha
            v += (1 - alpha) * grad**2
            param -= lr * grad / np.sqrt(v + eps)
        """),
    _m("rmsprop_step", "rmsprop_no_one_minus_alpha",
       "RMSprop without the (1 - alpha) factor on the squared gradient", """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(param)
            v = state["square_avg"]
            v *= alpha
            v += grad**2
            param -= lr * grad / (np.sqrt(v) + eps)
        """),
    _m("rmsprop_step", "rmsprop_init_with_first_grad",
       "RMSprop whose average starts at the first squared gradient instead of zero", """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = grad**2
            else:
                state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * grad**2
            param -= lr * grad / (np.sqrt(state["square_avg"]) + eps)
        """),
    _m("rmsprop_step", "rmsprop_no_sqrt",
       "RMSprop that divides by the mean square itself, without the square root", """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(param)
            v = state["square_avg"]
            v *= alpha
            v += (1 - alpha) * grad**2
            param -= lr * grad / (v + eps)
        """),
    # ------------------------------------------------------------------ adam
    _m("adam_step", "adam_no_bias_correction",
       "Adam without bias correction (m and v must be divided by 1 - beta**t)", """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * m / (np.sqrt(v) + eps)
        """),
    _m("adam_step", "adam_bias_correction_off_by_one",
       "Adam with the bias correction one step off (the first step uses t = 2)", """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 1
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
        """),
    _m("adam_step", "adam_step_not_stored",
       "Adam that does not keep the step count in state (every step uses t = 1)", """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
            t = state.get("step", 0) + 1
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
        """),
    _m("adam_step", "adam_eps_inside_sqrt",
       "Adam with eps inside the square root (PyTorch adds it outside: sqrt(v_hat) + eps)", """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 0
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            m_hat = m / (1 - beta1**t)
            v_hat = v / (1 - beta2**t)
            param -= lr * m_hat / np.sqrt(v_hat + eps)
        """),
    _m("adam_step", "adam_bias_correction_of_m_only",
       "Adam that corrects the bias of m but not of v", """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 0
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v) + eps)
        """),
    # ------------------------------------------------------------------ adamw
    _m("adamw_step", "adamw_as_l2_penalty",
       "AdamW written as an L2 penalty (weight_decay * param added to the gradient, which is "
       "Adam's weight_decay), instead of decaying the weights directly", """
        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 0
            state["step"] += 1
            t = state["step"]
            grad = grad + weight_decay * param
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """),
    _m("adamw_step", "adamw_decay_without_lr",
       "AdamW that decays by (1 - weight_decay) instead of (1 - lr * weight_decay)", """
        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 0
            state["step"] += 1
            t = state["step"]
            param *= 1 - weight_decay
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """),
    _m("adamw_step", "adamw_decay_after_step",
       "AdamW that decays the weights after the Adam step instead of before it", """
        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 0
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
            param *= 1 - lr * weight_decay
        """),
    _m("adamw_step", "adamw_without_decay",
       "AdamW without its weight decay (this is plain Adam)", """
        def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
            if "exp_avg" not in state:
                state["exp_avg"] = np.zeros_like(param)
                state["exp_avg_sq"] = np.zeros_like(param)
                state["step"] = 0
            state["step"] += 1
            t = state["step"]
            m, v = state["exp_avg"], state["exp_avg_sq"]
            m *= beta1
            m += (1 - beta1) * grad
            v *= beta2
            v += (1 - beta2) * grad**2
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        """),
    # ------------------------------------------------------------------ warmup_cosine_lr
    _m("warmup_cosine_lr", "warmup_starts_at_zero",
       "a warm-up off by one: it starts at 0 (t / W instead of (t + 1) / (W + 1))", """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * t / W
            t = min(t, T)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """),
    _m("warmup_cosine_lr", "warmup_peaks_early",
       "a warm-up off by one: it reaches base_lr one step early ((t + 1) / W)", """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / W
            t = min(t, T)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """),
    _m("warmup_cosine_lr", "cosine_not_shifted",
       "a cosine phase not shifted by the warm-up (cos(pi t / T) instead of "
       "cos(pi (t - W) / (T - W)))", """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            t = min(t, T)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * t / T))
        """),
    _m("warmup_cosine_lr", "cosine_rises_after_total",
       "a schedule that is not held at eta_min after total_steps (the cosine rises again)", """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """),
    _m("warmup_cosine_lr", "cosine_ignores_eta_min",
       "a cosine phase that anneals to 0 instead of eta_min", """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            t = min(t, T)
            return 0.5 * base_lr * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """),
    # ------------------------------------------------------------------ activations
    _m("sigmoid_layer", "sigmoid_derivative_of_output",
       "a sigmoid whose derivative is taken at the output a second time "
       "(sigma(y)(1 - sigma(y)) with y = sigma(x), instead of y(1 - y))", """
        def sigmoid_layer(x, grad_out):
            y = 1 / (1 + np.exp(-x))
            s = 1 / (1 + np.exp(-y))
            return y, grad_out * s * (1 - s)
        """),
    _m("tanh_layer", "tanh_derivative_at_input",
       "a tanh derivative written with the input instead of the output "
       "(1 - x**2 instead of 1 - tanh(x)**2)", """
        def tanh_layer(x, grad_out):
            y = np.tanh(x)
            return y, grad_out * (1 - x**2)
        """),
    _m("relu_layer", "relu_gradient_at_zero",
       "a ReLU gradient on the wrong side of zero (x >= 0 instead of x > 0: "
       "the gradient at x = 0 must be 0)", """
        def relu_layer(x, grad_out):
            return np.maximum(x, 0), grad_out * (x >= 0)
        """),
    _m("softmax_cross_entropy", "softmax_without_max_shift",
       "a softmax without the max shift: exp overflows on large logits and gives NaN "
       "(subtract each row's maximum first)", """
        def softmax_cross_entropy(logits, targets):
            e = np.exp(logits)
            p = e / e.sum(axis=1, keepdims=True)
            n = len(targets)
            loss = -np.mean(np.log(p[np.arange(n), targets]))
            grad = p.copy()
            grad[np.arange(n), targets] -= 1
            return loss, grad / n
        """),
    _m("softmax_cross_entropy", "cross_entropy_gradient_not_averaged",
       "a cross-entropy gradient not divided by the batch size N (the loss is the mean "
       "over the batch, so its gradient is (softmax - onehot) / N)", """
        def softmax_cross_entropy(logits, targets):
            z = logits - logits.max(axis=1, keepdims=True)
            log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
            n = len(targets)
            loss = -np.mean(log_p[np.arange(n), targets])
            grad = np.exp(log_p)
            grad[np.arange(n), targets] -= 1
            return loss, grad
        """),
    # ------------------------------------------------------------------ initialization
    _m("fans", "fans_swapped",
       "fan-in and fan-out swapped (a weight has shape (out, in, *kernel): "
       "fan_in = shape[1] * receptive field)", """
        def fans(shape):
            r = math.prod(shape[2:])
            return shape[0] * r, shape[1] * r
        """),
    _m("fans", "fans_without_receptive_field",
       "fans that ignore the kernel: a convolution's fan-in is in_channels times the "
       "product of the kernel sizes", """
        def fans(shape):
            return shape[1], shape[0]
        """),
    _m("xavier_scale", "xavier_as_one_over_fan_in",
       "Xavier computed as 1 / fan_in (that is LeCun's scale; Xavier averages the fans: "
       "2 / (fan_in + fan_out))", """
        def xavier_scale(shape, *, gain, distribution):
            fan_in = shape[1] * math.prod(shape[2:])
            std = gain * math.sqrt(1.0 / fan_in)
            return math.sqrt(3.0) * std if distribution == "uniform" else std
        """),
    _m("xavier_scale", "xavier_uniform_without_sqrt3",
       "a uniform bound without the factor sqrt(3) (U(-b, b) has std b / sqrt(3), so "
       "b = sqrt(3) * std)", """
        def xavier_scale(shape, *, gain, distribution):
            r = math.prod(shape[2:])
            return gain * math.sqrt(2.0 / (shape[0] * r + shape[1] * r))
        """),
    _m("xavier_scale", "xavier_variance_for_std",
       "the variance returned where the standard deviation was asked", """
        def xavier_scale(shape, *, gain, distribution):
            r = math.prod(shape[2:])
            var = gain**2 * 2.0 / (shape[0] * r + shape[1] * r)
            return math.sqrt(3.0 * var) if distribution == "uniform" else var
        """),
    _m("kaiming_scale", "kaiming_fan_out_for_fan_in",
       "Kaiming with the fan-out where the fan-in was asked (and the other way round): "
       "a weight has shape (out, in, *kernel)", """
        def kaiming_scale(shape, *, gain, mode, distribution):
            r = math.prod(shape[2:])
            fan = shape[0] * r if mode == "fan_in" else shape[1] * r
            std = gain / math.sqrt(fan)
            return math.sqrt(3.0) * std if distribution == "uniform" else std
        """),
    _m("kaiming_scale", "kaiming_uniform_without_sqrt3",
       "a uniform bound without the factor sqrt(3) (U(-b, b) has std b / sqrt(3), so "
       "b = sqrt(3) * std)", """
        def kaiming_scale(shape, *, gain, mode, distribution):
            r = math.prod(shape[2:])
            fan = shape[1] * r if mode == "fan_in" else shape[0] * r
            return gain / math.sqrt(fan)
        """),
    _m("kaiming_scale", "kaiming_variance_for_std",
       "the variance returned where the standard deviation was asked", """
        def kaiming_scale(shape, *, gain, mode, distribution):
            r = math.prod(shape[2:])
            fan = shape[1] * r if mode == "fan_in" else shape[0] * r
            var = gain**2 / fan
            return math.sqrt(3.0 * var) if distribution == "uniform" else var
        """),
    _m("sample_weight", "sample_uniform_from_zero",
       "uniform samples on [0, b] instead of [-b, b] (every weight positive)", """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(0, scale, shape)
            return rng.normal(0, scale, shape)
        """),
    _m("sample_weight", "sample_normal_with_scale_as_variance",
       "normal samples with the scale taken as the variance (rng.normal takes the standard "
       "deviation)", """
        def sample_weight(shape, scale, *, distribution, rng):
            if distribution == "uniform":
                return rng.uniform(-scale, scale, shape)
            return rng.normal(0, math.sqrt(scale), shape)
        """),
    # ------------------------------------------------------------------ batch normalization
    _m("batchnorm_forward", "batchnorm_eval_uses_batch_stats",
       "batch norm that uses the batch's statistics in evaluation mode (it must use the "
       "running ones)", """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                              momentum, eps):
            mean, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mean) / np.sqrt(var + eps) + beta
            if not training:
                return y, running_mean.copy(), running_var.copy()
            n = x.shape[0]
            new_mean = (1 - momentum) * running_mean + momentum * mean
            new_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)
            return y, new_mean, new_var
        """),
    _m("batchnorm_forward", "batchnorm_biased_running_var",
       "a running variance updated with the biased batch variance (torch uses the unbiased "
       "one, times N / (N - 1))", """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                              momentum, eps):
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                return y, running_mean.copy(), running_var.copy()
            mean, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mean) / np.sqrt(var + eps) + beta
            new_mean = (1 - momentum) * running_mean + momentum * mean
            new_var = (1 - momentum) * running_var + momentum * var
            return y, new_mean, new_var
        """),
    _m("batchnorm_forward", "batchnorm_running_average_reversed",
       "a running average weighted the wrong way round (torch's momentum weights the new "
       "batch: (1 - momentum) * running + momentum * batch)", """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training,
                              momentum, eps):
            if not training:
                y = gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta
                return y, running_mean.copy(), running_var.copy()
            mean, var = x.mean(axis=0), x.var(axis=0)
            y = gamma * (x - mean) / np.sqrt(var + eps) + beta
            n = x.shape[0]
            new_mean = momentum * running_mean + (1 - momentum) * mean
            new_var = momentum * running_var + (1 - momentum) * var * n / (n - 1)
            return y, new_mean, new_var
        """),
    _m("batchnorm_backward", "batchnorm_backward_without_variance_term",
       "a batch-norm backward pass without the term through the batch variance "
       "(- x_hat * mean(g_hat * x_hat))", """
        def batchnorm_backward(grad_out, x, gamma, *, eps):
            inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
            x_hat = (x - x.mean(axis=0)) * inv_std
            g_hat = grad_out * gamma
            grad_x = inv_std * (g_hat - g_hat.mean(axis=0))
            return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)
        """),
    _m("batchnorm_backward", "batchnorm_backward_without_mean_term",
       "a batch-norm backward pass without the term through the batch mean (- mean(g_hat))", """
        def batchnorm_backward(grad_out, x, gamma, *, eps):
            inv_std = 1 / np.sqrt(x.var(axis=0) + eps)
            x_hat = (x - x.mean(axis=0)) * inv_std
            g_hat = grad_out * gamma
            grad_x = inv_std * (g_hat - x_hat * (g_hat * x_hat).mean(axis=0))
            return grad_x, (grad_out * x_hat).sum(axis=0), grad_out.sum(axis=0)
        """),
    # ------------------------------------------------------------------ regularization
    _m("dropout_layer", "dropout_not_rescaled",
       "dropout without the 1 / (1 - p) rescaling in training (the expected output then "
       "shrinks by 1 - p)", """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            keep = rng.random(x.shape) >= p
            return x * keep, grad_out * keep
        """),
    _m("dropout_layer", "dropout_rescaled_in_evaluation",
       "dropout that rescales by 1 / (1 - p) in evaluation too (evaluation is the identity: "
       "inverted dropout already rescaled in training)", """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x / (1 - p), grad_out / (1 - p)
            mask = (rng.random(x.shape) >= p) / (1 - p)
            return x * mask, grad_out * mask
        """),
    _m("dropout_layer", "dropout_new_mask_in_backward",
       "a new mask drawn for the backward pass (the gradient must flow through the units "
       "forward kept)", """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            y = x * (rng.random(x.shape) >= p) / (1 - p)
            grad_x = grad_out * (rng.random(x.shape) >= p) / (1 - p)
            return y, grad_x
        """),
    _m("dropout_layer", "dropout_mask_below_keep_probability",
       "a mask drawn as rng.random(x.shape) < 1 - p: the right probability, but not the "
       "mask the exercise fixes (keep where rng.random(x.shape) >= p)", """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if not training:
                return x.copy(), grad_out.copy()
            mask = (rng.random(x.shape) < 1 - p) / (1 - p)
            return x * mask, grad_out * mask
        """),
    _m("sgd_weight_decay_step", "sgd_decay_always_coupled",
       "the L2 penalty used where decoupled decay was asked (with momentum the two differ: "
       "the penalty goes through the momentum buffer, decoupled decay does not)", """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            g = grad + weight_decay * param
            if "buf" not in state:
                state["buf"] = g.copy()
            else:
                state["buf"] = momentum * state["buf"] + g
            param -= lr * state["buf"]
        """),
    _m("sgd_weight_decay_step", "sgd_penalty_outside_buffer",
       "an L2 penalty added after the momentum buffer (torch adds it to the gradient, so it "
       "enters the buffer)", """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            if decoupled:
                param *= 1 - lr * weight_decay
            if "buf" not in state:
                state["buf"] = grad.copy()
            else:
                state["buf"] = momentum * state["buf"] + grad
            step = state["buf"] if decoupled else state["buf"] + weight_decay * param
            param -= lr * step
        """),
    _m("sgd_weight_decay_step", "sgd_decoupled_decay_without_lr",
       "decoupled decay that shrinks by (1 - weight_decay) instead of (1 - lr * weight_decay)",
       """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            g = grad if decoupled else grad + weight_decay * param
            if decoupled:
                param *= 1 - weight_decay
            if "buf" not in state:
                state["buf"] = g.copy()
            else:
                state["buf"] = momentum * state["buf"] + g
            param -= lr * state["buf"]
        """),
    _m("adam_weight_decay_step", "adam_decay_added_to_gradient",
       "weight decay added to the gradient under Adam where decoupled decay was asked (Adam "
       "then divides the decay by sqrt(v) like the gradient: that is the L2 penalty, not "
       "AdamW)", """
        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            g = grad + weight_decay * param
            t = state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g**2
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
        """),
    _m("adam_weight_decay_step", "adam_decay_always_decoupled",
       "decoupled decay used where the L2 penalty was asked (decoupled=False adds "
       "weight_decay * param to the gradient, as torch.optim.Adam)", """
        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            param *= 1 - lr * weight_decay
            t = state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * grad
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * grad**2
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
        """),
    _m("adam_weight_decay_step", "adam_decoupled_decay_after_step",
       "decoupled decay applied after the Adam step (it shrinks the parameter the gradient "
       "was computed at, before the step)", """
        def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                                   decoupled):
            g = grad if decoupled else grad + weight_decay * param
            t = state["t"] = state.get("t", 0) + 1
            state["m"] = beta1 * state.get("m", 0) + (1 - beta1) * g
            state["v"] = beta2 * state.get("v", 0) + (1 - beta2) * g**2
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= lr * m_hat / (np.sqrt(v_hat) + eps)
            if decoupled:
                param *= 1 - lr * weight_decay
        """),
    _m("early_stopping", "early_stopping_returns_last_weights",
       "early stopping that returns the last weights (those of the epoch it stopped at) "
       "instead of the best epoch's", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best - min_delta:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[-1].copy()
        """),
    _m("early_stopping", "early_stopping_counter_not_reset",
       "a patience counter that is not reset when the loss improves (it must count the "
       "epochs in a row without improvement)", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best - min_delta:
                    best, best_epoch = loss, epoch
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """),
    _m("early_stopping", "early_stopping_compares_with_previous_epoch",
       "improvement measured against the previous epoch instead of the best so far", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best_epoch, bad = 0, 0
            for epoch in range(1, len(val_losses)):
                if val_losses[epoch] < val_losses[epoch - 1] - min_delta:
                    bad = 0
                    if val_losses[epoch] < val_losses[best_epoch]:
                        best_epoch = epoch
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """),
    _m("early_stopping", "early_stopping_ignores_min_delta",
       "an improvement test that ignores min_delta (a loss must beat the best by more than "
       "min_delta to count)", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """),
    _m("early_stopping", "early_stopping_one_epoch_late",
       "stopping one epoch late, after patience + 1 epochs without improvement", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss < best - min_delta:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad > patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """),
    _m("early_stopping", "early_stopping_ties_improve",
       "a tie with the best loss counted as an improvement (<= where < is asked)", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best, best_epoch, bad = None, 0, 0
            for epoch, loss in enumerate(val_losses):
                if best is None or loss <= best - min_delta:
                    best, best_epoch, bad = loss, epoch, 0
                else:
                    bad += 1
                    if bad == patience:
                        return epoch, best_epoch, weights[best_epoch].copy()
            return len(val_losses) - 1, best_epoch, weights[best_epoch].copy()
        """),
    # ------------------------------------------------------------------ fine-tuning
    _m("trainable_layers", "unfreezing_from_the_input",
       "layers unfrozen from the input side (the head, the last layer, trains first, and "
       "unfreezing moves down towards the input)", """
        def trainable_layers(n_layers, epoch, *, every):
            n = min(n_layers, (epoch + every) // every)
            return [k < n for k in range(n_layers)]
        """),
    _m("trainable_layers", "unfreezing_nothing_in_epoch_zero",
       "no layer trained in epoch 0 (epoch // every layers instead of "
       "ceil((epoch + 1) / every))", """
        def trainable_layers(n_layers, epoch, *, every):
            n = min(n_layers, epoch // every)
            return [k >= n_layers - n for k in range(n_layers)]
        """),
    _m("trainable_layers", "unfreezing_ignores_every",
       "one more layer unfrozen every epoch, whatever every says", """
        def trainable_layers(n_layers, epoch, *, every):
            n = min(n_layers, epoch + 1)
            return [k >= n_layers - n for k in range(n_layers)]
        """),
    _m("frozen_sgd_step", "freezing_by_zero_gradient",
       "freezing by zeroing the gradient: the decoupled weight decay still shrinks the frozen "
       "layers", """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = []
            for w, g, train in zip(weights, grads, trainable):
                g = g if train else np.zeros_like(g)
                new.append((1 - lr * weight_decay) * w - lr * g)
            return new, sum(w.size for w, train in zip(weights, trainable) if train)
        """),
    _m("frozen_sgd_step", "frozen_count_of_layers",
       "n_trained counting the trainable layers instead of the numbers in them", """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = [(1 - lr * weight_decay) * w - lr * g if train else w.copy()
                   for w, g, train in zip(weights, grads, trainable)]
            return new, sum(trainable)
        """),
    _m("frozen_sgd_step", "frozen_count_includes_frozen",
       "n_trained counting every parameter, the frozen ones too", """
        def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
            new = [(1 - lr * weight_decay) * w - lr * g if train else w.copy()
                   for w, g, train in zip(weights, grads, trainable)]
            return new, sum(w.size for w in weights)
        """),
    _m("lora_init", "lora_nonzero_initial_B",
       "LoRA with a non-zero initial B (B must start at zero, so that the adapted layer "
       "starts as the pretrained one)", """
        def lora_init(d_out, d_in, r, *, rng):
            bound = 1 / np.sqrt(d_in)
            A = rng.uniform(-bound, bound, (r, d_in))
            B = rng.uniform(-bound, bound, (d_out, r))
            return A, B
        """),
    _m("lora_init", "lora_A_bound_from_d_out",
       "A drawn with the bound 1 / sqrt(d_out) instead of 1 / sqrt(d_in)", """
        def lora_init(d_out, d_in, r, *, rng):
            bound = 1 / np.sqrt(d_out)
            return rng.uniform(-bound, bound, (r, d_in)), np.zeros((d_out, r))
        """),
    _m("lora_forward_backward", "lora_scaling_alpha_not_over_r",
       "LoRA scaled by alpha instead of alpha / r", """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha
            h = x @ A.T
            y = x @ W.T + s * h @ B.T
            g_B = grad_out @ B
            grad_x = grad_out @ W + s * g_B @ A
            return y, grad_x, s * g_B.T @ x, s * grad_out.T @ h
        """),
    _m("lora_forward_backward", "lora_backward_without_scaling",
       "a backward pass that leaves out the scaling alpha / r of the low-rank path", """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            h = x @ A.T
            y = x @ W.T + s * h @ B.T
            g_B = grad_out @ B
            return y, grad_out @ W + g_B @ A, g_B.T @ x, grad_out.T @ h
        """),
    _m("lora_forward_backward", "lora_grad_x_without_low_rank_path",
       "grad_x through the frozen weight only (the input also reaches the output through "
       "B A, so grad_x needs the term s * (grad_out B) A)", """
        def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
            s = alpha / A.shape[0]
            h = x @ A.T
            y = x @ W.T + s * h @ B.T
            g_B = grad_out @ B
            return y, grad_out @ W, s * g_B.T @ x, s * grad_out.T @ h
        """),
    _m("lora_merge", "lora_merged_without_scaling",
       "LoRA merged without the alpha / r scaling (the merged layer must compute what the "
       "adapted one did: W + (alpha / r) B A)", """
        def lora_merge(W, A, B, *, alpha):
            return W + B @ A
        """),
    _m("lora_merge", "lora_merged_with_alpha",
       "LoRA merged with the scaling alpha instead of alpha / r", """
        def lora_merge(W, A, B, *, alpha):
            return W + alpha * B @ A
        """),
    # ------------------------------------------------------------------ contracts (issue 13)
    # Right on the easy inputs, wrong where the contract's clauses matter: a learning rate
    # that changes between steps, large inputs, exact boundaries, the caller's arrays.
    _m("momentum_step", "momentum_lr_in_buffer",
       "momentum with the learning rate inside the buffer (v = momentum * v + lr * grad, "
       "param -= v): the same steps only while lr stays constant; with a schedule the buffer "
       "must hold gradients only, and lr multiplies it at each step", """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "velocity" not in state:
                state["velocity"] = lr * grad
            else:
                state["velocity"] = momentum * state["velocity"] + lr * grad
            param -= state["velocity"]
        """),
    _m("nesterov_step", "nesterov_velocity_with_lr",
       "Nesterov in the velocity form of Sutskever et al. (v = momentum * v - lr * grad): "
       "equal to PyTorch's form only while lr stays constant", """
        def nesterov_step(param, grad, state, *, lr, momentum):
            v_prev = state.get("v", 0.0 * param)
            v = state["v"] = momentum * v_prev - lr * grad
            param += v + momentum * (v - v_prev)
        """),
    _m("adam_step", "adam_lr_kept_in_state",
       "Adam that keeps the learning rate of its first call in state: each step must use "
       "the lr it is given (a schedule changes it)", """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if not state:
                state.update(step=0, lr=lr, m=np.zeros_like(param), v=np.zeros_like(param))
            state["step"] += 1
            t = state["step"]
            state["m"] = beta1 * state["m"] + (1 - beta1) * grad
            state["v"] = beta2 * state["v"] + (1 - beta2) * grad * grad
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= state["lr"] * m_hat / (np.sqrt(v_hat) + eps)
        """),
    _m("sigmoid_layer", "sigmoid_clipped_input",
       "a sigmoid that clips its input to [-10, 10] against overflow: at x = -30 the sigmoid "
       "is about 1e-13, not sigmoid(-10) = 4.5e-5 (1 / (1 + exp(-x)) is right without "
       "clipping: exp overflows to inf, and 1 / inf is 0)", """
        def sigmoid_layer(x, grad_out):
            s = 1.0 / (1.0 + np.exp(-np.clip(x, -10.0, 10.0)))
            return s, grad_out * s * (1.0 - s)
        """),
    _m("sigmoid_layer", "sigmoid_in_float64",
       "a layer that computes in float64 whatever the input's dtype (float32 in must give "
       "float32 out)", """
        def sigmoid_layer(x, grad_out):
            s = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))
            return s, np.asarray(grad_out, dtype=np.float64) * s * (1.0 - s)
        """),
    _m("tanh_layer", "tanh_by_exponentials",
       "tanh by its exponential formula (e^x - e^-x) / (e^x + e^-x): for large |x| both "
       "exponentials overflow and inf / inf is nan (np.tanh does not overflow)", """
        def tanh_layer(x, grad_out):
            ep, em = np.exp(x), np.exp(-x)
            t = (ep - em) / (ep + em)
            return t, grad_out * (1.0 - t * t)
        """),
    _m("relu_layer", "relu_zeroes_x_in_place",
       "a ReLU that sets the negative entries of x to zero in place and returns x: the "
       "caller's input changes, and the output is the input array itself", """
        def relu_layer(x, grad_out):
            np.maximum(x, 0, out=x)
            return x, grad_out * (x > 0)
        """),
    _m("should_stop", "should_stop_relative_change",
       "a stopping rule on the relative change |L_k - L_(k-1)| / |L_(k-1)|: the rule "
       "compares the absolute change with tol", """
        def should_stop(losses, *, tol, max_iters):
            if len(losses) > max_iters:
                return True
            if len(losses) < 2:
                return False
            return abs((losses[-1] - losses[-2]) / losses[-2]) < tol
        """),
    _m("should_stop", "should_stop_change_at_most_tol",
       "a stopping rule that also stops when the change equals tol (<= tol): the rule is "
       "strict, stop when |L_k - L_(k-1)| < tol", """
        def should_stop(losses, *, tol, max_iters):
            done = len(losses) - 1
            if done >= max_iters:
                return True
            return done > 0 and not abs(losses[-1] - losses[-2]) > tol
        """),
    _m("dropout_layer", "dropout_eval_returns_its_inputs",
       "dropout that returns x and grad_out themselves in evaluation mode: the contract says "
       "returned arrays are new (return copies)", """
        def dropout_layer(x, grad_out, *, p, training, rng):
            if training:
                keep = rng.random(x.shape) >= p
                return np.where(keep, x / (1 - p), 0 * x), np.where(keep, grad_out / (1 - p),
                                                                    0 * grad_out)
            return x, grad_out
        """),
    _m("batchnorm_forward", "batchnorm_running_stats_in_place",
       "batch norm that updates the caller's running_mean and running_var in place: the "
       "contract says the function returns new running statistics and leaves its "
       "arguments unchanged", """
        def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum,
                              eps):
            if not training:
                return (gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta,
                        running_mean.copy(), running_var.copy())
            mu, var = x.mean(axis=0), x.var(axis=0)
            running_mean += momentum * (mu - running_mean)
            running_var += momentum * (var * len(x) / (len(x) - 1) - running_var)
            return (gamma * (x - mu) / np.sqrt(var + eps) + beta, running_mean.copy(),
                    running_var.copy())
        """),
    _m("early_stopping", "early_stopping_relative_min_delta",
       "early stopping with a relative min_delta (loss < best * (1 - min_delta)): an "
       "improvement is a loss below best - min_delta", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best_epoch, wait = 0, 0
            for epoch in range(1, len(val_losses)):
                if val_losses[epoch] < val_losses[best_epoch] * (1 - min_delta):
                    best_epoch, wait = epoch, 0
                    continue
                wait += 1
                if wait >= patience:
                    return epoch, best_epoch, np.copy(weights[best_epoch])
            return len(val_losses) - 1, best_epoch, np.copy(weights[best_epoch])
        """),
    _m("early_stopping", "early_stopping_returns_the_stored_weights",
       "early stopping that returns weights[best_epoch] itself: the contract asks for a "
       "copy, which later training steps cannot change", """
        def early_stopping(val_losses, weights, *, patience, min_delta):
            best_epoch, wait = 0, 0
            for epoch in range(1, len(val_losses)):
                if val_losses[epoch] < val_losses[best_epoch] - min_delta:
                    best_epoch, wait = epoch, 0
                    continue
                wait += 1
                if wait >= patience:
                    return epoch, best_epoch, weights[best_epoch]
            return len(val_losses) - 1, best_epoch, weights[best_epoch]
        """),
    _m("sgd_weight_decay_step", "sgd_decay_rebinds_param",
       "a decoupled decay written param = (1 - lr * weight_decay) * param: it rebinds the "
       "local name, so the caller's array never decays", """
        def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay,
                                  decoupled):
            if decoupled:
                param = (1 - lr * weight_decay) * param
                g = grad
            else:
                g = grad + weight_decay * param
            if "momentum_buffer" in state:
                state["momentum_buffer"] = momentum * state["momentum_buffer"] + g
            else:
                state["momentum_buffer"] = np.array(g)
            param -= lr * state["momentum_buffer"]
        """),
]


def mistakes_for(exercise: str) -> list[Mistake]:
    """The catalogued mistakes of one exercise (by the function name students write)."""
    return [m for m in MISTAKES if m.exercise == exercise]
