r"""Update rules, written once for NumPy arrays and torch tensors.

Every rule has the same shape::

    rule(param, grad, state, *, <hyperparameters>) -> None

It updates ``param`` and the buffers in ``state`` **in place**. ``state`` is a
plain dict with PyTorch's key names (``"step"``, ``"exp_avg"``, ...); an empty
dict means "first step", and the rule creates the buffers it needs. Because
the arithmetic uses only in-place operators (``*=``, ``+=``, ``-=``) and the
four small helpers below, the same function runs on ``numpy.ndarray`` and on
``torch.Tensor``: ``dlopt.optim_numpy`` and ``dlopt.optim_torch`` are thin
front ends over it, and both are tested against ``torch.optim``.

Notation (the book's): :math:`\theta` parameters, :math:`g` gradient,
:math:`\eta` learning rate, :math:`\lambda` weight decay, :math:`t` step
count starting at 1; all operations are elementwise.
"""

from __future__ import annotations

import numpy as np

# --- the only places where NumPy and torch differ -------------------------
# Rules are written with in-place operators and these fused helpers, so that
# on torch they issue the same kernels as torch.optim's single-tensor code
# (no hidden temporaries), and on NumPy as few temporaries as NumPy allows.


def _is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def sqrt(x):
    """Elementwise square root (a new array)."""
    return x.sqrt() if _is_torch(x) else np.sqrt(x)


def sqrt_(x):
    """Elementwise square root, in place."""
    return x.sqrt_() if _is_torch(x) else np.sqrt(x, out=x)


def axpy_(y, alpha, x):
    """``y += alpha * x``, in place."""
    if _is_torch(y):
        return y.add_(x, alpha=alpha)
    y += alpha * x
    return y


def addcmul_(y, value, a, b):
    """``y += value * a * b``, in place."""
    if _is_torch(y):
        return y.addcmul_(a, b, value=value)
    t = a * b
    t *= value
    y += t
    return y


def addcdiv_(y, value, a, b):
    """``y += value * a / b``, in place."""
    if _is_torch(y):
        return y.addcdiv_(a, b, value=value)
    t = a / b
    t *= value
    y += t
    return y


def lerp_(y, x, weight):
    """``y += weight * (x - y)``, in place: an exponential moving average step."""
    if _is_torch(y):
        return y.lerp_(x, weight)
    t = x - y
    t *= weight
    y += t
    return y


def maximum_(out, other):
    """``out = max(out, other)`` elementwise, in place."""
    if _is_torch(out):
        import torch

        return torch.maximum(out, other, out=out)
    return np.maximum(out, other, out=out)


def zeros_like(x):
    return x.new_zeros(x.shape) if _is_torch(x) else np.zeros_like(x)


def copy(x):
    return x.clone() if _is_torch(x) else x.copy()


def _zero_step(param):
    """A step counter of the type PyTorch keeps (a float32 tensor) or an int."""
    if _is_torch(param):
        import torch

        return torch.tensor(0.0, dtype=torch.float32)
    return 0


def _advance(state, param) -> int:
    """Increment ``state["step"]`` (creating it) and return the new count."""
    if "step" not in state:
        state["step"] = _zero_step(param)
    state["step"] += 1
    return int(state["step"])


def _effective_grad(param, grad, *, weight_decay: float, maximize: bool):
    r""":math:`g \leftarrow \pm g + \lambda\theta`: the L2 penalty's gradient added (new array)."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = axpy_(copy(g), weight_decay, param)
    return g


# --- first-order rules ------------------------------------------------------


def sgd(param, grad, state, *, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
        nesterov=False, maximize=False) -> None:
    r"""Stochastic gradient descent with optional heavy-ball or Nesterov momentum.

    .. math::

        g_t &= \nabla L(\theta_{t-1}) + \lambda\theta_{t-1} \\
        b_t &= \mu b_{t-1} + (1-\tau) g_t \quad (b_1 = g_1) \\
        d_t &= g_t + \mu b_t \text{ (Nesterov) or } b_t \text{ (heavy ball)} \\
        \theta_t &= \theta_{t-1} - \eta d_t

    with momentum :math:`\mu` and dampening :math:`\tau`. Like PyTorch, the
    buffer starts at the first gradient itself, undamped.
    State: ``"momentum_buffer"`` (only when ``momentum != 0``).
    """
    g = _effective_grad(param, grad, weight_decay=weight_decay, maximize=maximize)
    if momentum != 0:
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = copy(g)
        else:
            buf *= momentum
            axpy_(buf, 1 - dampening, g)
        g = axpy_(copy(g), momentum, buf) if nesterov else buf
    axpy_(param, -lr, g)


def adagrad(param, grad, state, *, lr, lr_decay=0.0, weight_decay=0.0,
            initial_accumulator_value=0.0, eps=1e-10, maximize=False) -> None:
    r"""Adagrad (Duchi et al., 2011).

    .. math::

        s_t &= s_{t-1} + g_t^2, \qquad s_0 = \text{initial\_accumulator\_value} \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1 + (t-1)\,\text{lr\_decay}}
                   \frac{g_t}{\sqrt{s_t} + \epsilon}

    State: ``"step"``, ``"sum"``.
    """
    if "sum" not in state:
        state["sum"] = zeros_like(param)
        state["sum"] += initial_accumulator_value
    step = _advance(state, param)
    g = _effective_grad(param, grad, weight_decay=weight_decay, maximize=maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    addcmul_(state["sum"], 1, g, g)
    std = sqrt(state["sum"])
    std += eps
    addcdiv_(param, -clr, g, std)


def adadelta(param, grad, state, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0,
             maximize=False) -> None:
    r"""Adadelta (Zeiler, 2012): a step in the units of the parameter.

    .. math::

        v_t &= \rho v_{t-1} + (1-\rho) g_t^2 \\
        \Delta_t &= \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t \\
        u_t &= \rho u_{t-1} + (1-\rho) \Delta_t^2 \\
        \theta_t &= \theta_{t-1} - \eta \Delta_t

    Note that :math:`\epsilon` sits *inside* both square roots here.
    State: ``"step"``, ``"square_avg"`` (v), ``"acc_delta"`` (u).
    """
    if "square_avg" not in state:
        state["square_avg"] = zeros_like(param)
        state["acc_delta"] = zeros_like(param)
    _advance(state, param)
    g = _effective_grad(param, grad, weight_decay=weight_decay, maximize=maximize)
    v, u = state["square_avg"], state["acc_delta"]
    v *= rho
    addcmul_(v, 1 - rho, g, g)
    std = sqrt_(v + eps)
    delta = sqrt_(u + eps)
    delta /= std
    delta *= g
    u *= rho
    addcmul_(u, 1 - rho, delta, delta)
    axpy_(param, -lr, delta)


def rmsprop(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
            momentum=0.0, centered=False, maximize=False) -> None:
    r"""RMSprop (Tieleman & Hinton, 2012), optionally centered and with momentum.

    .. math::

        v_t &= \alpha v_{t-1} + (1-\alpha) g_t^2 \\
        \bar g_t &= \alpha \bar g_{t-1} + (1-\alpha) g_t \quad\text{(centered only)} \\
        r_t &= \sqrt{v_t - \bar g_t^2} + \epsilon \ \text{(centered) or } \sqrt{v_t} + \epsilon \\
        b_t &= \mu b_{t-1} + g_t / r_t, \qquad
        \theta_t = \theta_{t-1} - \eta b_t \quad (\mu > 0) \\
        \theta_t &= \theta_{t-1} - \eta\, g_t / r_t \quad (\mu = 0)

    State: ``"step"``, ``"square_avg"``, ``"momentum_buffer"`` (if momentum > 0),
    ``"grad_avg"`` (if centered).
    """
    if "square_avg" not in state:
        state["square_avg"] = zeros_like(param)
        if momentum > 0:
            state["momentum_buffer"] = zeros_like(param)
        if centered:
            state["grad_avg"] = zeros_like(param)
    _advance(state, param)
    g = _effective_grad(param, grad, weight_decay=weight_decay, maximize=maximize)
    v = state["square_avg"]
    v *= alpha
    addcmul_(v, 1 - alpha, g, g)
    if centered:
        gbar = lerp_(state["grad_avg"], g, 1 - alpha)
        denom = sqrt_(addcmul_(copy(v), -1, gbar, gbar))
    else:
        denom = sqrt(v)
    denom += eps
    if momentum > 0:
        buf = state["momentum_buffer"]
        buf *= momentum
        addcdiv_(buf, 1, g, denom)
        axpy_(param, -lr, buf)
    else:
        addcdiv_(param, -lr, g, denom)


def adam(param, grad, state, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
         amsgrad=False, maximize=False, decoupled_weight_decay=False,
         bias_correction=True) -> None:
    r"""Adam (Kingma & Ba, 2015), with AMSGrad (Reddi et al., 2018) and AdamW's decoupled decay.

    .. math::

        \theta &\leftarrow (1 - \eta\lambda)\,\theta \quad\text{(decoupled, AdamW)}
                 \quad\text{or}\quad g_t \leftarrow g_t + \lambda\theta \quad\text{(L2)} \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ (AMSGrad) or } v_t \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1-\beta_1^t}
                    \frac{m_t}{\sqrt{\hat v_t / (1-\beta_2^t)} + \epsilon}

    ``bias_correction=False`` drops both :math:`1-\beta^t` factors (not a
    PyTorch option; the book uses it to show why the correction exists).
    State: ``"step"``, ``"exp_avg"`` (m), ``"exp_avg_sq"`` (v),
    ``"max_exp_avg_sq"`` (AMSGrad only).
    """
    if "exp_avg" not in state:
        state["exp_avg"] = zeros_like(param)
        state["exp_avg_sq"] = zeros_like(param)
        if amsgrad:
            state["max_exp_avg_sq"] = zeros_like(param)
    step = _advance(state, param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = axpy_(copy(g), weight_decay, param)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    lerp_(m, g, 1 - beta1)
    v *= beta2
    addcmul_(v, 1 - beta2, g, g)
    if amsgrad:
        v = maximum_(state["max_exp_avg_sq"], v)
    if bias_correction:
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    else:
        step_size, bias_correction2_sqrt = lr, 1.0
    denom = sqrt(v)
    denom /= bias_correction2_sqrt
    denom += eps
    addcdiv_(param, -step_size, m, denom)


def adamw(param, grad, state, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2,
          amsgrad=False, maximize=False) -> None:
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay,
    :math:`\theta \leftarrow (1-\eta\lambda)\theta` before the Adam step."""
    adam(param, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)


RULES = {
    "sgd": sgd,
    "adagrad": adagrad,
    "adadelta": adadelta,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
}
