r"""The optimizers assignment.

Momentum, Nesterov, RMSprop, Adam, AdamW, and a warm-up cosine schedule.

Everything the exercises of ``exercises/source/optimizers/optimizers.ipynb`` need, in one
place: the **references** (thin calls into the package, which ``tests/`` hold to PyTorch),
the **cases** (how visible and hidden problems are drawn; every random draw comes from the
generator passed in), the :data:`EXERCISES` registered with their contracts, and the
catalogue of typical wrong answers, :data:`MISTAKES` (descriptions complete "this matches
..."). See :mod:`dlopt.grading.assignments` for how they are found.
"""

from __future__ import annotations

from dlopt import rules, schedules
from dlopt.grading.core import (
    Case,
    Exercise,
    Tolerance,
    _and_a_restart,
    _loguniform,
    _m,
    _rule_cases,
)
from dlopt.grading.tasks import CallTask

# --------------------------------------------------------------------------- references


def momentum_step(param, grad, state, *, lr, momentum):
    r"""Heavy ball, PyTorch's convention: :math:`b_t = \mu b_{t-1} + g_t` (:math:`b_1 = g_1`),
    :math:`\theta_t = \theta_{t-1} - \eta b_t`."""
    rules.sgd(param, grad, state, lr=lr, momentum=momentum)


def nesterov_step(param, grad, state, *, lr, momentum):
    r"""Nesterov momentum, PyTorch's form: :math:`b_t = \mu b_{t-1} + g_t`,
    :math:`\theta_t = \theta_{t-1} - \eta (g_t + \mu b_t)`."""
    rules.sgd(param, grad, state, lr=lr, momentum=momentum, nesterov=True)


def rmsprop_step(param, grad, state, *, lr, alpha, eps):
    r"""RMSprop: :math:`v_t = \alpha v_{t-1} + (1-\alpha) g_t^2`,
    :math:`\theta_t = \theta_{t-1} - \eta\, g_t / (\sqrt{v_t} + \epsilon)`."""
    rules.rmsprop(param, grad, state, lr=lr, alpha=alpha, eps=eps)


def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
    r"""Adam with bias correction (see :func:`dlopt.rules.adam`)."""
    rules.adam(param, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps)


def adamw_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay):
    r"""AdamW: :math:`\theta \leftarrow (1 - \eta\lambda)\theta`, then the Adam step."""
    rules.adamw(
        param, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay
    )


def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
    r"""Linear warm-up then cosine annealing, :class:`dlopt.schedules.WarmupCosineSchedule`:

    :math:`\eta_t = \eta_0 (t+1)/(W+1)` for :math:`t < W`, then
    :math:`\eta_\min + \frac12(\eta_0 - \eta_\min)(1 + \cos(\pi (t-W)/(T-W)))`
    up to :math:`T`, and :math:`\eta_\min` after.
    """
    schedule = schedules.WarmupCosineSchedule(warmup_steps, total_steps, eta_min)
    return schedule.lr(t, base_lr)


# --------------------------------------------------------------------------- cases


def _momentum_hyper(rng, i, grad_scale, eigen_max):
    return {"lr": rng.uniform(0.05, 0.3) / eigen_max, "momentum": rng.uniform(0.5, 0.95)}


_EPS_CYCLE = (1e-8, 1e-3, 0.1, 1e-2)  # large eps in some cases, so where it sits shows


def _rmsprop_hyper(rng, i, grad_scale, eigen_max):
    return {
        "lr": _loguniform(rng, 1e-3, 3e-2),
        "alpha": rng.uniform(0.8, 0.99),
        "eps": _EPS_CYCLE[i % 4] * grad_scale,
    }


def _adam_hyper(rng, i, grad_scale, eigen_max):
    return {
        "lr": _loguniform(rng, 3e-3, 5e-2),
        "beta1": rng.uniform(0.8, 0.95),
        "beta2": rng.uniform(0.9, 0.999),
        "eps": _EPS_CYCLE[i % 4] * grad_scale,
    }


def _adamw_hyper(rng, i, grad_scale, eigen_max):
    return {**_adam_hyper(rng, i, grad_scale, eigen_max), "weight_decay": rng.uniform(0.1, 1.0)}


def _schedule_cases(rng, hidden: bool) -> list[Case]:
    settings = (
        [(0.1, 5, 20, 0.0), (1.0, 3, 10, 0.05)]
        if not hidden
        else [
            (
                _loguniform(rng, 1e-3, 1.0),
                int(W),
                int(W + rng.integers(2, 40)),
                float(rng.choice([0.0, 1e-4, 1e-3])),
            )
            for W in rng.integers(1, 20, 5)
        ]
        + [(0.5, 0, 12, 0.01)]
    )
    cases = []
    for base_lr, W, T, eta_min in settings:
        ts = list(range(T + 4))
        kwargs = {"base_lr": base_lr, "warmup_steps": W, "total_steps": T, "eta_min": eta_min}
        task = CallTask("warmup_cosine_lr", [([t], kwargs) for t in ts])
        label = (
            f"base_lr = {base_lr:.4g}, warmup_steps = {W}, total_steps = {T}, eta_min = {eta_min:g}"
        )
        cases.append(
            Case(label, task, Tolerance(1e-9, 1e-12), labels=(tuple(f"t = {t}" for t in ts),))
        )
    return cases


EXERCISES: list[Exercise] = [
    Exercise(
        "momentum_step",
        "optimizers",
        _and_a_restart(_rule_cases("momentum_step", _momentum_hyper)),
        reference=momentum_step,
    ),
    Exercise(
        "nesterov_step",
        "optimizers",
        _and_a_restart(_rule_cases("nesterov_step", _momentum_hyper)),
        reference=nesterov_step,
    ),
    Exercise(
        "rmsprop_step",
        "optimizers",
        _and_a_restart(_rule_cases("rmsprop_step", _rmsprop_hyper)),
        reference=rmsprop_step,
    ),
    Exercise(
        "adam_step",
        "optimizers",
        _and_a_restart(_rule_cases("adam_step", _adam_hyper)),
        reference=adam_step,
    ),
    Exercise(
        "adamw_step",
        "optimizers",
        _and_a_restart(_rule_cases("adamw_step", _adamw_hyper)),
        reference=adamw_step,
    ),
    Exercise("warmup_cosine_lr", "optimizers", _schedule_cases, reference=warmup_cosine_lr),
]

# --------------------------------------------------------------------------- mistakes

MISTAKES = [
    _m(
        "momentum_step",
        "momentum_dampened",
        "momentum with the (1 - momentum) factor on the gradient (dampening, the moving-average "
        "form); PyTorch's heavy ball adds the gradient undamped",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += (1 - momentum) * grad
            param -= lr * buf
        """,
    ),
    _m(
        "momentum_step",
        "momentum_buffer_not_kept",
        "momentum that does not keep its buffer in state between calls (this is plain SGD)",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            buf = state.get("momentum_buffer", np.zeros_like(param))
            buf = momentum * buf + grad
            param -= lr * buf
        """,
    ),
    _m(
        "momentum_step",
        "momentum_wrong_sign",
        "momentum that steps up the gradient (+ instead of -)",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad
            param += lr * buf
        """,
    ),
    _m(
        "momentum_step",
        "momentum_stale_buffer",
        "momentum that moves the parameters with the previous step's buffer, before adding "
        "this step's gradient",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
                param -= lr * grad
                return
            buf = state["momentum_buffer"]
            param -= lr * buf
            buf *= momentum
            buf += grad
        """,
    ),
    _m(
        "momentum_step",
        "momentum_returns_new_array",
        "a rule that returns the new parameters instead of updating param in place",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            buf = state.get("momentum_buffer")
            buf = grad.copy() if buf is None else momentum * buf + grad
            state["momentum_buffer"] = buf
            return param - lr * buf
        """,
    ),
    _m(
        "momentum_step",
        "momentum_lr_in_buffer",
        "momentum with the learning rate inside the buffer (v = momentum * v + lr * grad, "
        "param -= v): the same steps only while lr stays constant; with a schedule the buffer "
        "must hold gradients only, and lr multiplies it at each step",
        """
        def momentum_step(param, grad, state, *, lr, momentum):
            if "velocity" not in state:
                state["velocity"] = lr * grad
            else:
                state["velocity"] = momentum * state["velocity"] + lr * grad
            param -= state["velocity"]
        """,
    ),
    _m(
        "nesterov_step",
        "nesterov_as_heavy_ball",
        "plain heavy-ball momentum: Nesterov's step is g + momentum * b, not b",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += grad
            param -= lr * buf
        """,
    ),
    _m(
        "nesterov_step",
        "nesterov_buffer_not_kept",
        "Nesterov that does not keep its buffer in state between calls",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            buf = state.get("momentum_buffer", np.zeros_like(param))
            buf = momentum * buf + grad
            param -= lr * (grad + momentum * buf)
        """,
    ),
    _m(
        "nesterov_step",
        "nesterov_dampened",
        "Nesterov with the (1 - momentum) factor on the gradient in the buffer",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = np.zeros_like(param)
            buf = state["momentum_buffer"]
            buf *= momentum
            buf += (1 - momentum) * grad
            param -= lr * (grad + momentum * buf)
        """,
    ),
    _m(
        "nesterov_step",
        "nesterov_velocity_with_lr",
        "Nesterov in the velocity form of Sutskever et al. (v = momentum * v - lr * grad): "
        "equal to PyTorch's form only while lr stays constant",
        """
        def nesterov_step(param, grad, state, *, lr, momentum):
            v_prev = state.get("v", 0.0 * param)
            v = state["v"] = momentum * v_prev - lr * grad
            param += v + momentum * (v - v_prev)
        """,
    ),
    _m(
        "rmsprop_step",
        "rmsprop_eps_inside_sqrt",
        "RMSprop with eps inside the square root (PyTorch adds it outside: sqrt(v) + eps)",
        """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(param)
            v = state["square_avg"]
            v *= alpha
            v += (1 - alpha) * grad**2
            param -= lr * grad / np.sqrt(v + eps)
        """,
    ),
    _m(
        "rmsprop_step",
        "rmsprop_no_one_minus_alpha",
        "RMSprop without the (1 - alpha) factor on the squared gradient",
        """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(param)
            v = state["square_avg"]
            v *= alpha
            v += grad**2
            param -= lr * grad / (np.sqrt(v) + eps)
        """,
    ),
    _m(
        "rmsprop_step",
        "rmsprop_init_with_first_grad",
        "RMSprop whose average starts at the first squared gradient instead of zero",
        """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = grad**2
            else:
                state["square_avg"] = alpha * state["square_avg"] + (1 - alpha) * grad**2
            param -= lr * grad / (np.sqrt(state["square_avg"]) + eps)
        """,
    ),
    _m(
        "rmsprop_step",
        "rmsprop_no_sqrt",
        "RMSprop that divides by the mean square itself, without the square root",
        """
        def rmsprop_step(param, grad, state, *, lr, alpha, eps):
            if "square_avg" not in state:
                state["square_avg"] = np.zeros_like(param)
            v = state["square_avg"]
            v *= alpha
            v += (1 - alpha) * grad**2
            param -= lr * grad / (v + eps)
        """,
    ),
    _m(
        "adam_step",
        "adam_no_bias_correction",
        "Adam without bias correction (m and v must be divided by 1 - beta**t)",
        """
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
        """,
    ),
    _m(
        "adam_step",
        "adam_bias_correction_off_by_one",
        "Adam with the bias correction one step off (the first step uses t = 2)",
        """
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
        """,
    ),
    _m(
        "adam_step",
        "adam_step_not_stored",
        "Adam that does not keep the step count in state (every step uses t = 1)",
        """
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
        """,
    ),
    _m(
        "adam_step",
        "adam_eps_inside_sqrt",
        "Adam with eps inside the square root (PyTorch adds it outside: sqrt(v_hat) + eps)",
        """
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
        """,
    ),
    _m(
        "adam_step",
        "adam_bias_correction_of_m_only",
        "Adam that corrects the bias of m but not of v",
        """
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
        """,
    ),
    _m(
        "adam_step",
        "adam_lr_kept_in_state",
        "Adam that keeps the learning rate of its first call in state: each step must use "
        "the lr it is given (a schedule changes it)",
        """
        def adam_step(param, grad, state, *, lr, beta1, beta2, eps):
            if not state:
                state.update(step=0, lr=lr, m=np.zeros_like(param), v=np.zeros_like(param))
            state["step"] += 1
            t = state["step"]
            state["m"] = beta1 * state["m"] + (1 - beta1) * grad
            state["v"] = beta2 * state["v"] + (1 - beta2) * grad * grad
            m_hat, v_hat = state["m"] / (1 - beta1**t), state["v"] / (1 - beta2**t)
            param -= state["lr"] * m_hat / (np.sqrt(v_hat) + eps)
        """,
    ),
    _m(
        "adamw_step",
        "adamw_as_l2_penalty",
        "AdamW written as an L2 penalty (weight_decay * param added to the gradient, which is "
        "Adam's weight_decay), instead of decaying the weights directly",
        """
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
        """,
    ),
    _m(
        "adamw_step",
        "adamw_decay_without_lr",
        "AdamW that decays by (1 - weight_decay) instead of (1 - lr * weight_decay)",
        """
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
        """,
    ),
    _m(
        "adamw_step",
        "adamw_decay_after_step",
        "AdamW that decays the weights after the Adam step instead of before it",
        """
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
        """,
    ),
    _m(
        "adamw_step",
        "adamw_without_decay",
        "AdamW without its weight decay (this is plain Adam)",
        """
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
        """,
    ),
    _m(
        "warmup_cosine_lr",
        "warmup_starts_at_zero",
        "a warm-up off by one: it starts at 0 (t / W instead of (t + 1) / (W + 1))",
        """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * t / W
            t = min(t, T)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """,
    ),
    _m(
        "warmup_cosine_lr",
        "warmup_peaks_early",
        "a warm-up off by one: it reaches base_lr one step early ((t + 1) / W)",
        """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / W
            t = min(t, T)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """,
    ),
    _m(
        "warmup_cosine_lr",
        "cosine_not_shifted",
        "a cosine phase not shifted by the warm-up (cos(pi t / T) instead of "
        "cos(pi (t - W) / (T - W)))",
        """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            t = min(t, T)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * t / T))
        """,
    ),
    _m(
        "warmup_cosine_lr",
        "cosine_rises_after_total",
        "a schedule that is not held at eta_min after total_steps (the cosine rises again)",
        """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """,
    ),
    _m(
        "warmup_cosine_lr",
        "cosine_ignores_eta_min",
        "a cosine phase that anneals to 0 instead of eta_min",
        """
        def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
            W, T = warmup_steps, total_steps
            if t < W:
                return base_lr * (t + 1) / (W + 1)
            t = min(t, T)
            return 0.5 * base_lr * (1 + math.cos(math.pi * (t - W) / (T - W)))
        """,
    ),
]
