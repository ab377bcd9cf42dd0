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

import math

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


def rsqrt_(x):
    """Elementwise ``1 / sqrt(x)``, in place."""
    if _is_torch(x):
        return x.rsqrt_()
    np.sqrt(x, out=x)
    return np.reciprocal(x, out=x)


def numel(x) -> int:
    """The number of elements."""
    return x.numel() if _is_torch(x) else x.size


def clamp_(x, low=None, high=None):
    """Clip ``x`` into ``[low, high]`` in place (``None``: no bound on that side)."""
    if _is_torch(x):
        return x.clamp_(low, high)
    return np.clip(x, low, high, out=x)


def sign(x):
    """Elementwise sign, -1, 0 or 1 (a new array)."""
    return x.sign() if _is_torch(x) else np.sign(x)


def norm(x, axis=None, keepdims=False):
    """Euclidean norm of ``x`` (a Python float), or along ``axis`` (an array)."""
    if _is_torch(x):
        return x.norm().item() if axis is None else x.norm(dim=axis, keepdim=keepdims)
    if axis is None:
        return float(np.sqrt(np.vdot(x, x)))
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def mean(x, axis, keepdims=True):
    """Mean along ``axis`` (a new array)."""
    if _is_torch(x):
        return x.mean(dim=axis, keepdim=keepdims)
    return x.mean(axis=axis, keepdims=keepdims)


def machine_eps(x) -> float:
    """The spacing of floating-point numbers near 1 in ``x``'s dtype."""
    if _is_torch(x):
        import torch

        return torch.finfo(x.dtype).eps
    return float(np.finfo(x.dtype).eps)


def scalar32(like, value):
    """A 0-d float32 array or tensor holding ``value``: where PyTorch keeps a hyperparameter that
    changes during training (NAdam's momentum product, ASGD's eta and mu) in float32."""
    if _is_torch(like):
        import torch

        return torch.tensor(value, dtype=torch.float32)
    return np.array(value, dtype=np.float32)


def _round32(value: float) -> float:
    """``value`` rounded to float32, as PyTorch rounds a Python float it stores in a tensor."""
    return float(np.float32(value))


def fill_(x, value):
    """Overwrite every element of ``x`` with ``value``, keeping its dtype."""
    if _is_torch(x):
        return x.fill_(value)
    x[...] = value
    return x


def copy_(x, y):
    """``x[...] = y``, in place."""
    if _is_torch(x):
        return x.copy_(y)
    x[...] = y
    return x


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


def _adam_moments(param, grad, state, *, lr, beta1, beta2, weight_decay, decoupled, maximize):
    r"""The part Adam, NAdam and RAdam share: the sign for ``maximize``, weight decay (decoupled,
    :math:`\theta \leftarrow (1-\eta\lambda)\theta`, or the L2 term
    :math:`g + \lambda\theta`), and both moments' updates. Returns the gradient used."""
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            g = axpy_(copy(g), weight_decay, param)
    lerp_(state["exp_avg"], g, 1 - beta1)
    v = state["exp_avg_sq"]
    v *= beta2
    addcmul_(v, 1 - beta2, g, g)
    return g


# --- first-order rules ------------------------------------------------------


def sgd(
    param,
    grad,
    state,
    *,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
) -> None:
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


def adagrad(
    param,
    grad,
    state,
    *,
    lr,
    lr_decay=0.0,
    weight_decay=0.0,
    initial_accumulator_value=0.0,
    eps=1e-10,
    maximize=False,
) -> None:
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


def adadelta(
    param, grad, state, *, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False
) -> None:
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


def rmsprop(
    param,
    grad,
    state,
    *,
    lr=1e-2,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
    maximize=False,
) -> None:
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


def adam(
    param,
    grad,
    state,
    *,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
    bias_correction=True,
) -> None:
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
    _adam_moments(
        param,
        grad,
        state,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        decoupled=decoupled_weight_decay,
        maximize=maximize,
    )
    m, v = state["exp_avg"], state["exp_avg_sq"]
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


def adamw(
    param,
    grad,
    state,
    *,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=1e-2,
    amsgrad=False,
    maximize=False,
) -> None:
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay,
    :math:`\theta \leftarrow (1-\eta\lambda)\theta` before the Adam step."""
    adam(
        param,
        grad,
        state,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


def nadam(
    param,
    grad,
    state,
    *,
    lr=2e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    momentum_decay=4e-3,
    decoupled_weight_decay=False,
    maximize=False,
) -> None:
    r"""NAdam (Dozat, 2016): Adam with Nesterov momentum and a warming momentum schedule.

    .. math::

        \mu_t &= \beta_1 \left(1 - \tfrac12\, 0.96^{\,t\psi}\right), \qquad
        \Pi_t = \textstyle\prod_{i \le t} \mu_i \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
        \theta_t &= \theta_{t-1} - \eta \left(\frac{1-\mu_t}{1-\Pi_t}\, g_t
                    + \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\, m_t\right)
                    \Big/ \left(\sqrt{v_t / (1-\beta_2^t)} + \epsilon\right)

    with momentum decay :math:`\psi`; weight decay as in :func:`adam` (L2, or
    decoupled). State: ``"step"``, ``"mu_product"`` (:math:`\Pi_t`, float32 as
    in PyTorch), ``"exp_avg"``, ``"exp_avg_sq"``.
    """
    if "exp_avg" not in state:
        state["mu_product"] = scalar32(param, 1.0)
        state["exp_avg"] = zeros_like(param)
        state["exp_avg_sq"] = zeros_like(param)
    step = _advance(state, param)
    g = _adam_moments(
        param,
        grad,
        state,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        decoupled=decoupled_weight_decay,
        maximize=maximize,
    )
    m, v = state["exp_avg"], state["exp_avg_sq"]
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    state["mu_product"] *= mu
    mu_product = float(state["mu_product"])
    denom = sqrt_(v / (1 - beta2**step))
    denom += eps
    addcdiv_(param, -lr * (1.0 - mu) / (1.0 - mu_product), g, denom)
    addcdiv_(param, -lr * mu_next / (1.0 - mu_product * mu_next), m, denom)


def radam(
    param,
    grad,
    state,
    *,
    lr=1e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    maximize=False,
) -> None:
    r"""RAdam (Liu et al., 2020): Adam whose adaptive step is switched on, and rectified, only
    once the variance of :math:`v_t` is tractable.

    .. math::

        m_t, v_t &\text{ as in Adam}, \qquad \rho_\infty = \frac{2}{1-\beta_2} - 1, \qquad
        \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t} \\
        r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}\\
        \theta_t &= \theta_{t-1} - \eta \frac{m_t}{1-\beta_1^t}
            \cdot \begin{cases} r_t \sqrt{1-\beta_2^t} / (\sqrt{v_t} + \epsilon) & \rho_t > 5 \\
                                1 & \text{otherwise (plain momentum SGD)} \end{cases}

    Weight decay as in :func:`adam`. State: ``"step"``, ``"exp_avg"``, ``"exp_avg_sq"``.
    """
    if "exp_avg" not in state:
        state["exp_avg"] = zeros_like(param)
        state["exp_avg_sq"] = zeros_like(param)
    step = _advance(state, param)
    _adam_moments(
        param,
        grad,
        state,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        weight_decay=weight_decay,
        decoupled=decoupled_weight_decay,
        maximize=maximize,
    )
    m, v = state["exp_avg"], state["exp_avg_sq"]
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    update = m / bias_correction1
    update *= lr
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
    if rho_t > 5.0:
        rect = (
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) ** 0.5
        denom = sqrt(v)
        denom += eps
        adaptive = bias_correction2**0.5 / denom
        update *= adaptive
        update *= rect
    param -= update


def adamax(
    param,
    grad,
    state,
    *,
    lr=2e-3,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    maximize=False,
) -> None:
    r"""Adamax (Kingma & Ba, 2015): Adam with the infinity norm in place of the second moment.

    .. math::

        m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
        u_t &= \max(\beta_2 u_{t-1},\ |g_t| + \epsilon) \\
        \theta_t &= \theta_{t-1} - \frac{\eta}{1-\beta_1^t} \frac{m_t}{u_t}

    with L2 weight decay (:math:`g_t + \lambda\theta`). State: ``"step"``, ``"exp_avg"``,
    ``"exp_inf"`` (u).
    """
    if "exp_avg" not in state:
        state["exp_avg"] = zeros_like(param)
        state["exp_inf"] = zeros_like(param)
    step = _advance(state, param)
    g = _effective_grad(param, grad, weight_decay=weight_decay, maximize=maximize)
    m, u = state["exp_avg"], state["exp_inf"]
    lerp_(m, g, 1 - beta1)
    u *= beta2
    norm_g = abs(g)
    norm_g += eps
    maximum_(u, norm_g)
    addcdiv_(param, -lr / (1 - beta1**step), m, u)


def asgd(
    param,
    grad,
    state,
    *,
    lr=1e-2,
    lambd=1e-4,
    alpha=0.75,
    t0=1e6,
    weight_decay=0.0,
    maximize=False,
    foreach=None,
) -> None:
    r"""Averaged SGD (Polyak & Juditsky, 1992) with PyTorch's decaying step size.

    .. math::

        \theta_t &= (1 - \lambda_d \eta_t)\, \theta_{t-1} - \eta_t g_t \\
        \bar\theta_t &= \bar\theta_{t-1} + \mu_t (\theta_t - \bar\theta_{t-1}) \\
        \eta_{t+1} &= \frac{\eta}{(1 + \lambda_d \eta t)^{\alpha}}, \qquad
        \mu_{t+1} = \frac{1}{\max(1,\ t - t_0)}

    with :math:`\eta_1 = \eta`, :math:`\mu_1 = 1` and decay :math:`\lambda_d`
    (``lambd``); :math:`g_t` carries the L2 term. The optimizer moves
    :math:`\theta`; the average :math:`\bar\theta` (state ``"ax"``), which
    starts at :math:`t_0`, is what to evaluate. State: ``"step"``, ``"eta"``,
    ``"mu"`` (float32 as in PyTorch), ``"ax"``.

    ``foreach=True`` follows PyTorch's multi-tensor ASGD, whose rounding differs: it
    updates :math:`\theta_t = \theta_{t-1} - \eta_t (g_t + \lambda_d \theta_{t-1})` and
    computes :math:`\eta_{t+1}` in float32 arithmetic (the single-tensor path computes it in
    float64 and rounds it once), which moves float64 trajectories by about 1e-9.
    """
    if "ax" not in state:
        state["eta"] = scalar32(param, lr)
        state["mu"] = scalar32(param, 1.0)
        state["ax"] = zeros_like(param)
    step = _advance(state, param)
    g = _effective_grad(param, grad, weight_decay=weight_decay, maximize=maximize)
    eta = float(state["eta"])
    if foreach:
        axpy_(param, -eta, axpy_(copy(g), lambd, param))
    else:
        param *= 1 - lambd * eta
        axpy_(param, -eta, g)
    ax, mu = state["ax"], state["mu"]
    if float(mu) != 1:
        diff = param - ax
        diff *= mu
        ax += diff
    else:
        copy_(ax, param)
    next_eta = (
        _asgd_eta32(lr, lambd, alpha, step) if foreach else lr / (1 + lambd * lr * step) ** alpha
    )
    fill_(state["eta"], _round32(next_eta))
    fill_(mu, _round32(1 / max(1, step - t0)))


def _asgd_eta32(lr: float, lambd: float, alpha: float, step: int) -> float:
    """ASGD's next step size as PyTorch's multi-tensor path computes it, on its float32 step
    count: ``lambd * lr`` rounded to float32 times the step, the power in float64 rounded to
    float32, then a float32 reciprocal times ``lr``."""
    f32 = np.float32
    base = f32(1) + f32(lambd * lr) * f32(step)
    return float(f32(1) / f32(float(base) ** alpha) * f32(lr))


def rprop(
    param,
    grad,
    state,
    *,
    lr=1e-2,
    etaminus=0.5,
    etaplus=1.2,
    step_size_min=1e-6,
    step_size_max=50.0,
    maximize=False,
) -> None:
    r"""Rprop (Riedmiller & Braun, 1993): a per-coordinate step size, grown while the gradient
    keeps its sign and shrunk when it flips; only the sign of the gradient is used.

    .. math::

        \Delta_t &= \operatorname{clip}\left(\Delta_{t-1} \cdot
            \begin{cases} \eta_+ & g_t g_{t-1} > 0 \\ \eta_- & g_t g_{t-1} < 0 \\
            1 & \text{otherwise} \end{cases},\ \Delta_{\min},\ \Delta_{\max}\right) \\
        g_t &\leftarrow 0 \text{ where } g_t g_{t-1} < 0, \qquad
        \theta_t = \theta_{t-1} - \Delta_t \operatorname{sign}(g_t)

    with :math:`\Delta_0 = \eta`; the zeroed gradient is what the next step compares with.
    State: ``"step"``, ``"prev"`` (:math:`g_{t-1}`), ``"step_size"`` (:math:`\Delta`).
    """
    if "prev" not in state:
        state["prev"] = zeros_like(param)
        state["step_size"] = fill_(zeros_like(grad), lr)
    _advance(state, param)
    g = -grad if maximize else grad
    prev, step_size = state["prev"], state["step_size"]
    factor = sign(g * prev)
    factor[factor > 0] = etaplus
    factor[factor < 0] = etaminus
    factor[factor == 0] = 1
    step_size *= factor
    clamp_(step_size, step_size_min, step_size_max)
    g = copy(g)
    g[factor == etaminus] = 0
    addcmul_(param, -1, sign(g), step_size)
    copy_(prev, g)


def adafactor(
    param,
    grad,
    state,
    *,
    lr=1e-2,
    beta2_decay=-0.8,
    eps1=None,
    eps2=1e-3,
    d=1.0,
    weight_decay=0.0,
    maximize=False,
) -> None:
    r"""Adafactor (Shazeer & Stern, 2018) as in PyTorch: a second moment stored as one row and one
    column vector per matrix, a relative step size and update clipping.

    For a matrix gradient :math:`G \in \mathbb{R}^{n\times m}` (the last two axes):

    .. math::

        \hat\beta_t &= 1 - t^{c}, \qquad
        \rho_t = \min(\eta,\ 1/\sqrt t), \qquad
        a_t = \max\!\left(\epsilon_2,\ \mathrm{RMS}(\theta_{t-1})\right) \rho_t \\
        R_t &= \hat\beta_t R_{t-1} + (1-\hat\beta_t)\, \mathrm{mean}_j\, G_{ij}^2, \qquad
        C_t = \hat\beta_t C_{t-1} + (1-\hat\beta_t)\, \mathrm{mean}_i\, G_{ij}^2 \\
        \hat V_t &= \frac{R_t C_t}{\max(\mathrm{mean}_i R_t,\ \epsilon_1)}, \qquad
        U_t = \frac{G_t}{\sqrt{\max(\hat V_t, \epsilon_1^2)}} \\
        \theta_t &= (1 - \eta\lambda)\,\theta_{t-1}
                    - \frac{a_t}{\max(1,\ \mathrm{RMS}(U_t) / d)}\, U_t

    with decay exponent :math:`c` (``beta2_decay``, negative), :math:`\epsilon_1`
    the dtype's machine epsilon when ``None``, and clipping threshold :math:`d`.
    A vector keeps the full :math:`V_t` (an EMA of :math:`g^2`) instead. The
    memory of the second moment is :math:`n + m` numbers per matrix instead of
    :math:`nm`. State: ``"step"``, ``"row_var"`` and ``"col_var"`` (matrices) or
    ``"variance"`` (vectors).
    """
    if "step" not in state:
        if grad.ndim > 1:
            state["row_var"] = zeros_like(mean(grad, -1))
            state["col_var"] = zeros_like(mean(grad, -2))
        else:
            state["variance"] = zeros_like(grad)
    step = float(_advance(state, param))
    g = -grad if maximize else grad
    if eps1 is None:
        eps1 = machine_eps(param)
    one_minus_beta2 = step**beta2_decay
    rho = min(lr, 1 / step**0.5)
    alpha = max(eps2, norm(param) / numel(param) ** 0.5) * rho
    if weight_decay != 0:
        param *= 1 - lr * weight_decay
    if g.ndim > 1:
        row_mean = norm(g, axis=-1, keepdims=True)
        row_mean *= row_mean
        row_mean /= g.shape[-1]
        lerp_(state["row_var"], row_mean, one_minus_beta2)
        col_mean = norm(g, axis=-2, keepdims=True)
        col_mean *= col_mean
        col_mean /= g.shape[-2]
        lerp_(state["col_var"], col_mean, one_minus_beta2)
        var_estimate = state["row_var"] @ state["col_var"]
        var_estimate /= clamp_(mean(state["row_var"], -2), eps1)
    else:
        lerp_(state["variance"], g * g, one_minus_beta2)
        var_estimate = copy(state["variance"])
    update = rsqrt_(clamp_(var_estimate, eps1 * eps1))
    update *= g
    denom = max(1.0, norm(update) / (numel(update) ** 0.5 * d))
    axpy_(param, -alpha / denom, update)


def sparse_adam(
    param, grad, state, *, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, maximize=False
) -> None:
    r"""Adam for sparse gradients (PyTorch's SparseAdam): only the rows that have a gradient
    are touched, moments included.

    ``grad`` is a pair ``(indices, values)`` in PyTorch's coalesced COO layout:
    ``indices`` has one row per sparse dimension and no repeated column, and
    ``values[k]`` is the gradient at ``param[indices[:, k]]``. For those entries
    :math:`S`, with the step count :math:`t` of the parameter:

    .. math::

        m_S &\leftarrow \beta_1 m_S + (1-\beta_1) g_S, \qquad
        v_S \leftarrow \beta_2 v_S + (1-\beta_2) g_S^2 \\
        \theta_S &\leftarrow \theta_S - \eta \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}
                   \frac{m_S}{\sqrt{v_S} + \epsilon}

    and every entry outside :math:`S` keeps its value *and its moments*: unlike
    Adam, a row without gradient does not decay. No weight decay (it would touch
    every row). State: ``"step"`` (an int, as in PyTorch), ``"exp_avg"``,
    ``"exp_avg_sq"``.
    """
    indices, values = grad
    if "exp_avg" not in state:
        state["step"] = 0
        state["exp_avg"] = zeros_like(param)
        state["exp_avg_sq"] = zeros_like(param)
    state["step"] += 1
    step = state["step"]
    if numel(values) == 0:
        return
    if maximize:
        values = -values
    at = tuple(indices)
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m_old = m[at]
    m_update = values - m_old
    m_update *= 1 - beta1
    m[at] += m_update
    v_old = v[at]
    v_update = values * values
    v_update -= v_old
    v_update *= 1 - beta2
    v[at] += v_update
    m_update += m_old
    v_update += v_old
    denom = sqrt_(v_update)
    denom += eps
    m_update /= denom
    # with a 0-d tensor ``lr`` this is computed in its dtype, as PyTorch does
    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
    m_update *= -step_size
    param[at] += m_update


def _bfloat16(x):
    """``x`` rounded to bfloat16 (8 significant bits, round to nearest even), the precision in
    which PyTorch's Muon orthogonalizes: a bfloat16 tensor on torch, float32 values on NumPy
    (which has no bfloat16 type)."""
    if _is_torch(x):
        import torch

        return x.to(torch.bfloat16)
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    rounded = bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    return (rounded & np.uint32(0xFFFF0000)).view(np.float32)


def _addmm(c, a, b, *, beta=1.0, alpha=1.0):
    """``beta * c + alpha * (a @ b)`` with one rounding to the inputs' precision at the end."""
    if _is_torch(c):
        import torch

        return torch.addmm(c, a, b, beta=beta, alpha=alpha)
    return _bfloat16(beta * c + alpha * (a @ b))


def newton_schulz(g, *, coefficients=(3.4445, -4.7750, 2.0315), steps=5, eps=1e-7):
    r"""The orthogonal factor :math:`UV^\top` of :math:`G = U\Sigma V^\top`, approximately, by
    ``steps`` iterations of the quintic Newton–Schulz map, in bfloat16 as PyTorch's Muon does:

    .. math::

        X_0 = G / \max(\lVert G\rVert_F, \epsilon), \qquad
        X_{k+1} = a X_k + (b A_k + c A_k^2) X_k, \quad A_k = X_k X_k^\top

    (on the wider side's transpose, so :math:`A_k` is the smaller Gram matrix).
    The coefficients :math:`(a, b, c)` push every singular value towards 1
    quickly rather than exactly: they end up between about 0.7 and 1.2.
    """
    if steps >= 100:
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if g.ndim != 2:
        raise ValueError("Input tensor gradient must be a 2D matrix")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = coefficients
    x = _bfloat16(g)
    tall = g.shape[0] > g.shape[1]
    if tall:
        x = x.T
    if _is_torch(x):
        x.div_(x.norm().clamp(min=eps))
    else:
        x = _bfloat16(x / _bfloat16(np.maximum(_bfloat16(np.sqrt(np.sum(x * x))), eps)))
    for _ in range(steps):
        gram = x @ x.T
        if not _is_torch(x):
            gram = _bfloat16(gram)
        update = _addmm(gram, gram, gram, beta=b, alpha=c)
        x = _addmm(x, update, x, beta=a)
    return x.T if tall else x


def muon(
    param,
    grad,
    state,
    *,
    lr=1e-3,
    weight_decay=0.1,
    momentum=0.95,
    nesterov=True,
    ns_coefficients=(3.4445, -4.7750, 2.0315),
    eps=1e-7,
    ns_steps=5,
    adjust_lr_fn=None,
) -> None:
    r"""Muon (Jordan et al., 2024): momentum whose update matrix is orthogonalized.

    For a weight matrix :math:`\Theta \in \mathbb{R}^{A\times B}`:

    .. math::

        B_t &= \mu B_{t-1} + (1-\mu) G_t, \qquad
        D_t = \begin{cases} (1-\mu) G_t + \mu B_t & \text{(Nesterov)} \\ B_t \end{cases} \\
        O_t &= \mathrm{NS}(D_t) \approx U V^\top \quad (D_t = U\Sigma V^\top) \\
        \Theta_t &= (1 - \eta\lambda)\,\Theta_{t-1} - \eta\, s\, O_t, \qquad
        s = \sqrt{\max(1, A/B)} \ \text{(original)} \text{ or } 0.2\sqrt{\max(A, B)}
        \ \text{(match\_rms\_adamw)}

    :math:`\mathrm{NS}` is :func:`newton_schulz`. Every singular value of the
    step is about one, whatever the gradient's spectrum. Only for matrices:
    biases and embeddings belong to another optimizer such as AdamW.
    State: ``"momentum_buffer"``.
    """
    if grad.ndim != 2:
        raise ValueError("Param gradient must be a 2D matrix")
    if "momentum_buffer" not in state:
        state["momentum_buffer"] = zeros_like(grad)
    buf = state["momentum_buffer"]
    lerp_(buf, grad, 1 - momentum)
    if nesterov:
        update = lerp_(copy(grad), buf, momentum)
    else:
        update = buf
    update = newton_schulz(update, coefficients=ns_coefficients, steps=ns_steps, eps=eps)
    rows, cols = param.shape[:2]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        ratio = math.sqrt(max(1, rows / cols))
    elif adjust_lr_fn == "match_rms_adamw":
        ratio = 0.2 * math.sqrt(max(rows, cols))
    else:
        ratio = 1.0
    param *= 1 - lr * weight_decay
    if not _is_torch(param):
        update = update.astype(param.dtype)
    axpy_(param, -lr * ratio, update)


# --- L-BFGS: a rule over all parameters at once, driven by a closure --------------------------


def _cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimizer of the cubic through two points with their values and slopes, clipped to
    ``bounds`` (by default the interval between the points); the midpoint if it has none."""
    low, high = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square < 0:
        return (low + high) / 2.0
    d2 = sqrt(d2_square)
    if x1 <= x2:
        at = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        at = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(at, low), high)


def strong_wolfe(evaluate, t, d, f, g, gtd, *, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    r"""A step size :math:`t` along ``d`` meeting the strong Wolfe conditions,
    :math:`f(t) \le f(0) + c_1 t f'(0)` and :math:`|f'(t)| \le c_2 |f'(0)|`.

    ``evaluate(t)`` returns the loss and the gradient at :math:`\theta + t d`.
    First the step grows (by cubic extrapolation) until an interval brackets
    acceptable steps, then the interval shrinks by cubic interpolation (the
    "zoom" of Nocedal & Wright, Algorithm 3.5, as minFunc and PyTorch do it).
    Returns ``(loss, grad, t, evaluations)``.
    """
    d_norm = abs(d).max()
    g = copy(g)
    f_new, g_new = evaluate(t)
    evals, iters = 1, 0
    gtd_new = g_new @ d
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    while iters < max_ls:  # bracketing phase
        sufficient = not (f_new > f + c1 * t * gtd or (iters > 1 and f_new >= f_prev))
        if sufficient and abs(gtd_new) <= -c2 * gtd:
            bracket, done = [[t, f_new, g_new, gtd_new]], True
            break
        if not sufficient or gtd_new >= 0:  # acceptable steps lie between t_prev and t
            bracket = [[t_prev, f_prev, g_prev, gtd_prev], [t, f_new, copy(g_new), gtd_new]]
            break
        t_next = _cubic_minimizer(
            t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(t + 0.01 * (t - t_prev), t * 10)
        )
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, copy(g_new), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals, iters = evals + 1, iters + 1
        gtd_new = g_new @ d
    if iters == max_ls:
        bracket = [[0, f, g, None], [t, f_new, g_new, None]]
    low, high = (0, 1) if bracket[0][1] <= bracket[-1][1] else (1, 0)
    stalled = False
    while not done and iters < max_ls:  # zoom phase
        ends = [bracket[0][0], bracket[1][0]]
        if abs(ends[1] - ends[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimizer(
            bracket[0][0], bracket[0][1], bracket[0][3], bracket[1][0], bracket[1][1], bracket[1][3]
        )
        # keep t at least a tenth of the interval away from its ends
        margin = 0.1 * (max(ends) - min(ends))
        if min(max(ends) - t, t - min(ends)) < margin:
            if stalled or t >= max(ends) or t <= min(ends):
                t = (
                    max(ends) - margin
                    if abs(t - max(ends)) < abs(t - min(ends))
                    else min(ends) + margin
                )
                stalled = False
            else:
                stalled = True
        else:
            stalled = False
        f_new, g_new = evaluate(t)
        evals, iters = evals + 1, iters + 1
        gtd_new = g_new @ d
        if f_new > f + c1 * t * gtd or f_new >= bracket[low][1]:
            bracket[high] = [t, f_new, copy(g_new), gtd_new]
            low, high = (0, 1) if bracket[0][1] <= bracket[1][1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high][0] - bracket[low][0]) >= 0:
                bracket[high] = bracket[low]
            bracket[low] = [t, f_new, copy(g_new), gtd_new]
    t, f_new, g_new, _ = bracket[low]
    return f_new, g_new, t, evals


def lbfgs(
    problem,
    state,
    *,
    lr=1.0,
    max_iter=20,
    max_eval=None,
    tolerance_grad=1e-7,
    tolerance_change=1e-9,
    history_size=100,
    line_search_fn=None,
):
    r"""Up to ``max_iter`` iterations of L-BFGS (Liu & Nocedal, 1989), as ``torch.optim.LBFGS``.

    With the last pairs :math:`s_i = \theta_{i+1} - \theta_i`,
    :math:`y_i = g_{i+1} - g_i` (kept only when :math:`y_i^\top s_i > 10^{-10}`):

    .. math::

        d_k &= -H_k g_k \quad\text{(two-loop recursion, } H_0 = \gamma I,\
               \gamma = \tfrac{s^\top y}{y^\top y} \text{ of the newest pair)} \\
        \theta_{k+1} &= \theta_k + t_k d_k, \qquad
        t_k = \begin{cases} \eta \min(1, 1/\lVert g_1\rVert_1) & k = 1 \\ \eta & k > 1
              \end{cases}

    or :math:`t_k` from :func:`strong_wolfe` starting there. Stops when
    :math:`\max|g| \le` ``tolerance_grad``, when the step or the loss change
    falls below ``tolerance_change``, or after ``max_eval`` evaluations.

    ``problem`` is the front end's view of the parameters as one flat vector:
    ``evaluate()`` (loss and flat gradient, calling the closure), ``add_(t, d)``,
    ``clone()`` and ``restore(saved)``. State (PyTorch's keys): ``"func_evals"``,
    ``"n_iter"``, ``"d"``, ``"t"``, ``"old_dirs"`` (y), ``"old_stps"`` (s),
    ``"ro"``, ``"H_diag"``, ``"prev_flat_grad"``, ``"prev_loss"``, ``"al"``.
    Returns the loss of the first evaluation.
    """
    if max_eval is None:
        max_eval = max_iter * 5 // 4
    state.setdefault("func_evals", 0)
    state.setdefault("n_iter", 0)
    first_loss, flat_grad = problem.evaluate()
    loss = float(first_loss)
    evals = 1
    state["func_evals"] += 1
    if abs(flat_grad).max() <= tolerance_grad:
        return first_loss
    d, t = state.get("d"), state.get("t")
    old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
    h_diag, prev_flat_grad = state.get("H_diag"), state.get("prev_flat_grad")
    prev_loss = state.get("prev_loss")
    n_iter = 0
    while n_iter < max_iter:
        n_iter += 1
        state["n_iter"] += 1
        if state["n_iter"] == 1:
            d = -flat_grad
            old_dirs, old_stps, ro, h_diag = [], [], [], 1
        else:
            y = flat_grad - prev_flat_grad
            s = d * t
            ys = y @ s
            if ys > 1e-10:
                if len(old_dirs) == history_size:
                    del old_dirs[0], old_stps[0], ro[0]
                old_dirs.append(y)
                old_stps.append(s)
                ro.append(1.0 / ys)
                h_diag = ys / (y @ y)
            if "al" not in state:
                state["al"] = [None] * history_size
            al = state["al"]
            q = -flat_grad
            for i in reversed(range(len(old_dirs))):
                al[i] = (old_stps[i] @ q) * ro[i]
                axpy_(q, -al[i], old_dirs[i])
            d = q * h_diag
            for i in range(len(old_dirs)):
                beta = (old_dirs[i] @ d) * ro[i]
                axpy_(d, al[i] - beta, old_stps[i])
        if prev_flat_grad is None:
            prev_flat_grad = copy(flat_grad)
        else:
            copy_(prev_flat_grad, flat_grad)
        prev_loss = loss
        t = min(1.0, 1.0 / abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
        gtd = flat_grad @ d
        if gtd > -tolerance_change:
            break
        ls_evals = 0
        if line_search_fn is not None:
            if line_search_fn != "strong_wolfe":
                raise RuntimeError("only 'strong_wolfe' is supported")
            start = problem.clone()

            def evaluate_at(step, start=start, d=d):
                problem.add_(step, d)
                value, grad_there = problem.evaluate()
                problem.restore(start)
                return float(value), grad_there

            loss, flat_grad, t, ls_evals = strong_wolfe(
                evaluate_at, t, d, loss, flat_grad, gtd, max_ls=max_eval - evals
            )
            problem.add_(t, d)
            optimal = abs(flat_grad).max() <= tolerance_grad
        else:
            problem.add_(t, d)
            if n_iter != max_iter:
                loss, flat_grad = problem.evaluate()
                loss = float(loss)
                optimal = abs(flat_grad).max() <= tolerance_grad
                ls_evals = 1
        evals += ls_evals
        state["func_evals"] += ls_evals
        if n_iter == max_iter or evals >= max_eval or optimal:
            break
        if abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
            break
    state.update(
        d=d,
        t=t,
        old_dirs=old_dirs,
        old_stps=old_stps,
        ro=ro,
        H_diag=h_diag,
        prev_flat_grad=prev_flat_grad,
        prev_loss=prev_loss,
    )
    return first_loss


# --- beyond torch.optim: Lion and schedule-free -----------------------------------------------


def lion(param, grad, state, *, lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0) -> None:
    r"""Lion (Chen et al., 2023), found by program search: the sign of an interpolated momentum.

    .. math::

        \theta_t &= (1 - \eta\lambda)\,\theta_{t-1}
                    - \eta\, \operatorname{sign}\!\big(\beta_1 m_{t-1} + (1-\beta_1) g_t\big) \\
        m_t &= \beta_2 m_{t-1} + (1-\beta_2) g_t

    Every coordinate moves by exactly :math:`\eta` (plus decay): the update
    has the largest possible norm for its learning rate, so Lion's
    :math:`\eta` is typically 3 to 10 times smaller than AdamW's. One buffer
    instead of Adam's two. State: ``"exp_avg"`` (m).
    """
    if "exp_avg" not in state:
        state["exp_avg"] = zeros_like(param)
    m = state["exp_avg"]
    param *= 1.0 - lr * weight_decay
    update = copy(m)
    update *= beta1
    axpy_(update, 1.0 - beta1, grad)
    axpy_(param, -lr, sign(update))
    m *= beta2
    axpy_(m, 1.0 - beta2, grad)


def schedule_free_weights(
    group: dict, *, lr, beta2=None, warmup_steps=0, r=0.0, weight_lr_power=2.0
) -> dict:
    r"""Advance a parameter group's schedule-free counters one step; return this step's numbers.

    With step :math:`k` (from 0), warm-up :math:`\eta_k = \eta \min(1, (k+1)/W)`
    and :math:`\eta_{\max} = \max_{i \le k} \eta_i`, the average's weight is

    .. math::

        w_k = (k+1)^r\, \eta_{\max}^{p}, \qquad c_{k+1} = \frac{w_k}{\sum_{i \le k} w_i}

    (:math:`p` = ``weight_lr_power``): with :math:`r = 0` and no warm-up,
    :math:`c_{k+1} = 1/(k+1)`, a plain running average. ``group`` keeps
    ``"k"``, ``"lr_max"``, ``"weight_sum"`` and ``"scheduled_lr"`` as Meta's
    ``schedulefree`` package does. Returns ``lr`` (:math:`\eta_k`), ``ckp1``
    (:math:`c_{k+1}`) and, given ``beta2``, Adam's ``bias_correction2``.
    """
    k = group["k"]
    lr = lr * ((k + 1) / warmup_steps if k < warmup_steps else 1.0)
    group["scheduled_lr"] = lr
    lr_max = group["lr_max"] = max(lr, group["lr_max"])
    weight = ((k + 1) ** r) * (lr_max**weight_lr_power)
    weight_sum = group["weight_sum"] = group["weight_sum"] + weight
    group["k"] = k + 1
    out = dict(lr=lr, ckp1=weight / weight_sum if weight_sum != 0 else 0)
    if beta2 is not None:
        out["bias_correction2"] = 1 - beta2 ** (k + 1)
    return out


def _schedule_free_step(param, g, z, *, lr, ckp1, momentum):
    # y = (1 - c) y + c z + lr (momentum (1 - c) - 1) g, then z -= lr g: the same as
    # z -= lr g; x = (1 - c) x + c z; y = momentum x + (1 - momentum) z, with y the parameter
    lerp_(param, z, ckp1)
    axpy_(param, lr * (momentum * (1 - ckp1) - 1), g)
    axpy_(z, -lr, g)


def sgd_schedule_free(param, grad, state, *, lr, ckp1, momentum=0.9, weight_decay=0.0) -> None:
    r"""Schedule-free SGD (Defazio et al., 2024): no learning-rate schedule, an average instead.

    Three sequences: :math:`z` takes plain SGD steps, :math:`x` is the running
    average of the :math:`z` (weights :math:`c_{t+1}` from
    :func:`schedule_free_weights`), and the gradient is taken at their
    interpolation :math:`y`, the parameter during training:

    .. math::

        z_{t+1} &= z_t - \eta\, (g(y_t) + \lambda y_t) \\
        x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1} \\
        y_{t+1} &= \beta x_{t+1} + (1 - \beta)\, z_{t+1}

    with momentum :math:`\beta`. Evaluate at :math:`x` (``optimizer.eval()``
    swaps it in), train at :math:`y` (``optimizer.train()``). The average does
    what a decaying schedule does, without knowing the run's length.
    State: ``"z"``.
    """
    if "z" not in state:
        state["z"] = copy(param)
    g = axpy_(copy(grad), weight_decay, param) if weight_decay != 0 else grad
    _schedule_free_step(param, g, state["z"], lr=lr, ckp1=ckp1, momentum=momentum)


def adamw_schedule_free(
    param,
    grad,
    state,
    *,
    lr,
    ckp1,
    bias_correction2,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
) -> None:
    r"""Schedule-free AdamW (Defazio et al., 2024): :func:`sgd_schedule_free` with Adam's
    second-moment scaling of the gradient (and no first moment: the averaging replaces it).

    .. math::

        v_t &= \beta_2 v_{t-1} + (1-\beta_2) g_t^2, \qquad
        \hat g_t = \frac{g_t}{\sqrt{v_t / (1-\beta_2^t)} + \epsilon} + \lambda y_t \\
        z_{t+1} &= z_t - \eta_t \hat g_t, \qquad
        x_{t+1} = (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1}, \qquad
        y_{t+1} = \beta_1 x_{t+1} + (1 - \beta_1)\, z_{t+1}

    with :math:`\eta_t` and :math:`c_{t+1}` from :func:`schedule_free_weights`
    (warm-up, and weights growing with :math:`\eta_{\max}^2`).
    State: ``"z"``, ``"exp_avg_sq"``.
    """
    if "z" not in state:
        state["z"] = copy(param)
        state["exp_avg_sq"] = zeros_like(param)
    v = state["exp_avg_sq"]
    v *= beta2
    addcmul_(v, 1 - beta2, grad, grad)
    denom = sqrt_(v / bias_correction2)
    denom += eps
    g = grad / denom
    if weight_decay != 0:
        axpy_(g, weight_decay, param)
    _schedule_free_step(param, g, state["z"], lr=lr, ckp1=ckp1, momentum=beta1)


def schedule_free_swap(param, state, *, momentum, to_average: bool) -> None:
    r"""Move a schedule-free parameter between :math:`y` (training) and :math:`x` (evaluation):
    :math:`x = y + (1 - 1/\beta)(z - y)` and back :math:`y = x + (1-\beta)(z - x)`."""
    if "z" in state:
        lerp_(param, state["z"], 1 - 1 / momentum if to_average else 1 - momentum)
