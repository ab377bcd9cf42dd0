r"""The reference answer to every exercise, with the student's signature, built on the package.

Each function here is what an exercise's answer cell must compute, written as
a thin call into :mod:`dlopt.rules`, :mod:`dlopt.schedules`, :mod:`dlopt.data`,
:mod:`dlopt.layers`, :mod:`dlopt.losses`, :mod:`dlopt.init`, :mod:`dlopt.training`
and :mod:`dlopt.finetune` (which ``tests/`` hold to PyTorch), so that the
exercises and the book can never disagree. The few exercises the package has
no function for (one epoch of SGD on linear regression, the stopping rule, SGD
with decoupled decay, the frozen step) are written out here and tested against
PyTorch and by hand in ``tests/test_grading.py``.

:mod:`dlopt.finetune` is imported inside the three functions that use it: it imports
torch, which would add about two seconds to every notebook kernel that runs a check.

Stand-ins (references that replace a student's earlier answer while a later
one is graded) are in :data:`dlopt.grading.tasks.STAND_INS`.
"""

from __future__ import annotations

import numpy as np

from dlopt import data, init, layers, losses, rules, schedules
from dlopt.training import EarlyStopping  # a module name would clash with dropout's `training`

# --------------------------------------------------------------------------- gradient descent


def minibatches(X, y, batch_size, *, rng):
    r"""One shuffled epoch of mini-batches: the order is ``rng.permutation(n)``, the last batch
    keeps the :math:`n \bmod B` samples left over."""
    return data.minibatches(X, y, batch_size, shuffle=True, rng=rng)


def mse_gradient(w, b, X, y):
    r"""Gradient of :math:`L(w, b) = \frac1B \sum_i (x_i^\top w + b - y_i)^2` on a batch.

    :math:`\nabla_w L = \frac2B X^\top r`, :math:`\partial_b L = \frac2B \sum_i r_i`
    with residuals :math:`r = Xw + b - y`. Shapes: X (B, d), y (B,), w (d,).
    """
    r = X @ w + b - y
    return 2.0 * X.T @ r / len(y), 2.0 * float(r.mean())


def sgd_epoch(w, b, X, y, *, lr, batch_size, rng):
    r"""One epoch of mini-batch SGD on the mean squared error of a linear model.

    For every batch of ``minibatches(X, y, batch_size, rng=rng)``:
    :math:`w \leftarrow w - \eta\nabla_w L`, :math:`b \leftarrow b - \eta\,\partial_b L`
    (see :func:`mse_gradient`). Returns the new ``(w, b)``: an array (d,) and a float.
    """
    w = np.array(w, dtype=np.float64)
    b = float(b)
    for Xb, yb in minibatches(X, y, batch_size, rng=rng):
        gw, gb = mse_gradient(w, b, Xb, yb)
        w -= lr * gw
        b -= lr * gb
    return w, b


def should_stop(losses, *, tol, max_iters):
    r"""The stopping rule: stop after ``max_iters`` iterations, or when the loss stops changing.

    ``losses`` :math:`= (L_0, L_1, \dots, L_k)` holds the loss before the first
    iteration and after each of the :math:`k` iterations done so far. Stop when
    :math:`k \ge` ``max_iters``, or when :math:`k \ge 1` and
    :math:`|L_k - L_{k-1}| <` ``tol``.
    """
    k = len(losses) - 1
    if k >= max_iters:
        return True
    return k >= 1 and abs(losses[-1] - losses[-2]) < tol


# --------------------------------------------------------------------------- optimizers


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
    rules.adamw(param, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                weight_decay=weight_decay)


def warmup_cosine_lr(t, *, base_lr, warmup_steps, total_steps, eta_min=0.0):
    r"""Linear warm-up then cosine annealing, :class:`dlopt.schedules.WarmupCosineSchedule`:

    :math:`\eta_t = \eta_0 (t+1)/(W+1)` for :math:`t < W`, then
    :math:`\eta_\min + \frac12(\eta_0 - \eta_\min)(1 + \cos(\pi (t-W)/(T-W)))`
    up to :math:`T`, and :math:`\eta_\min` after.
    """
    schedule = schedules.WarmupCosineSchedule(warmup_steps, total_steps, eta_min)
    return schedule.lr(t, base_lr)


# --------------------------------------------------------------------------- activations


def _activation(layer, x, grad_out):
    """Forward then backward through ``layer``: ``(y, grad_x)``, both of x's shape and dtype,
    new arrays (dropout in evaluation mode would hand back ``x`` and ``grad_out`` themselves)."""
    y = layer(x)
    grad_x = layer.backward(np.asarray(grad_out, dtype=y.dtype))
    return np.array(y, copy=True), np.array(grad_x, copy=True)


def sigmoid_layer(x, grad_out):
    r""":math:`y = \sigma(x)` and :math:`\partial L/\partial x = g \odot y(1-y)`."""
    return _activation(layers.Sigmoid(), x, grad_out)


def tanh_layer(x, grad_out):
    r""":math:`y = \tanh x` and :math:`\partial L/\partial x = g \odot (1-y^2)`."""
    return _activation(layers.Tanh(), x, grad_out)


def relu_layer(x, grad_out):
    r""":math:`y = \max(x, 0)` and :math:`\partial L/\partial x = g \odot [x > 0]`
    (0 at :math:`x = 0`, as PyTorch)."""
    return _activation(layers.ReLU(), x, grad_out)


def softmax_cross_entropy(logits, targets):
    r"""Mean cross-entropy of logits :math:`z` (N, C) and class indices :math:`y` (N,), and
    :math:`\partial L/\partial z = (\operatorname{softmax}(z) - \text{onehot}(y)) / N`."""
    loss = losses.CrossEntropyLoss()
    return loss(logits, targets), loss.backward()


# --------------------------------------------------------------------------- initialization


def fans(shape):
    r"""``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``:
    :math:`n_\text{in} = \text{shape}[1]\,r`, :math:`n_\text{out} = \text{shape}[0]\,r`,
    :math:`r` the product of the kernel dimensions (1 for a dense layer)."""
    return init.calculate_fan_in_and_fan_out(shape)


def xavier_scale(shape, *, gain, distribution):
    r"""Xavier's bound :math:`g\sqrt{6/(n_\text{in}+n_\text{out})}` of :math:`U(-b, b)`
    (``"uniform"``) or std :math:`g\sqrt{2/(n_\text{in}+n_\text{out})}` (``"normal"``)."""
    if distribution == "uniform":
        return init.xavier_bound(shape, gain)
    return init.xavier_std(shape, gain)


def kaiming_scale(shape, *, gain, mode, distribution):
    r"""Kaiming's bound :math:`g\sqrt{3/n}` (``"uniform"``) or std :math:`g/\sqrt n`
    (``"normal"``), :math:`n` the fan of ``mode`` (``"fan_in"`` or ``"fan_out"``)."""
    # the "linear" nonlinearity has gain 1, so the given gain multiplies torch's scale
    if distribution == "uniform":
        return gain * init.kaiming_bound(shape, mode=mode, nonlinearity="linear")
    return gain * init.kaiming_std(shape, mode=mode, nonlinearity="linear")


def sample_weight(shape, scale, *, distribution, rng):
    r"""``rng.uniform(-scale, scale, shape)`` or ``rng.normal(0, scale, shape)``."""
    if distribution == "uniform":
        return init.uniform(shape, -scale, scale, rng=rng)
    return init.normal(shape, 0.0, scale, rng=rng)


# --------------------------------------------------------------------------- batch normalization


def _batch_norm(x, gamma, beta, running_mean, running_var, *, training, momentum, eps):
    """A :class:`dlopt.layers.BatchNorm1d` holding copies of the given parameters and statistics."""
    x = np.asarray(x)
    layer = layers.BatchNorm1d(x.shape[1], eps=eps, momentum=momentum, dtype=x.dtype)
    layer.params["weight"][...] = gamma
    layer.params["bias"][...] = beta
    layer.running_mean[...] = running_mean
    layer.running_var[...] = running_var
    return layer.train(training)


def batchnorm_forward(x, gamma, beta, running_mean, running_var, *, training, momentum, eps):
    r"""Batch norm of x (N, C): ``(y, new_running_mean, new_running_var)``.

    Training: :math:`y = \gamma (x - \mu_B)/\sqrt{\sigma_B^2 + \epsilon} + \beta` with the
    batch's mean and biased variance, and
    :math:`r \leftarrow (1 - m) r + m\, s` with the unbiased :math:`\sigma_B^2 N/(N-1)` for
    the variance (torch's ``momentum`` :math:`m`). Evaluation: the running statistics, unchanged.
    """
    layer = _batch_norm(x, gamma, beta, running_mean, running_var, training=training,
                        momentum=momentum, eps=eps)
    y = layer(x)
    return y, layer.running_mean.copy(), layer.running_var.copy()


def batchnorm_backward(grad_out, x, gamma, *, eps):
    r"""Training-mode backward of batch norm on x (N, C): ``(grad_x, grad_gamma, grad_beta)``.

    :math:`\partial L/\partial x = (\hat g - \overline{\hat g} - \hat x\,
    \overline{\hat g \hat x})/\sqrt{\sigma_B^2+\epsilon}` with :math:`\hat g = \gamma g`
    (see :class:`dlopt.layers.BatchNorm1d`).
    """
    x = np.asarray(x)
    zeros = np.zeros(x.shape[1], dtype=x.dtype)
    layer = _batch_norm(x, gamma, zeros, zeros, zeros + 1, training=True, momentum=0.1, eps=eps)
    layer(x)
    grad_x = layer.backward(np.asarray(grad_out, dtype=x.dtype))
    return grad_x, layer.grads["weight"].copy(), layer.grads["bias"].copy()


# --------------------------------------------------------------------------- regularization


def dropout_layer(x, grad_out, *, p, training, rng):
    r"""Inverted dropout forward then backward: ``(y, grad_x)``.

    Training: keep :math:`x_i` where ``rng.random(x.shape) >= p`` (one draw, in forward),
    :math:`y = x \odot m/(1-p)` and :math:`\partial L/\partial x = g \odot m/(1-p)` with the
    same mask. Evaluation: the identity, no draw.
    """
    layer = layers.Dropout(p, rng=rng).train(training)
    return _activation(layer, x, grad_out)


def sgd_weight_decay_step(param, grad, state, *, lr, momentum, weight_decay, decoupled):
    r"""SGD with momentum and an L2 penalty (``decoupled=False``: :math:`g + \lambda\theta`
    enters the buffer, as ``torch.optim.SGD(weight_decay=...)``) or decoupled weight decay
    (``decoupled=True``: :math:`\theta \leftarrow (1-\eta\lambda)\theta`, then the momentum
    step on :math:`g` alone)."""
    if decoupled:
        param *= 1 - lr * weight_decay
        rules.sgd(param, grad, state, lr=lr, momentum=momentum)
    else:
        rules.sgd(param, grad, state, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam_weight_decay_step(param, grad, state, *, lr, beta1, beta2, eps, weight_decay,
                           decoupled):
    r"""Adam with an L2 penalty in the gradient (``torch.optim.Adam(weight_decay=...)``) or,
    ``decoupled=True``, with decoupled decay (``torch.optim.AdamW``)."""
    rules.adam(param, grad, state, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
               weight_decay=weight_decay, decoupled_weight_decay=decoupled)


def early_stopping(val_losses, weights, *, patience, min_delta):
    r"""Early stopping on a run's validation losses: ``(stop_epoch, best_epoch, best_weights)``.

    Epoch :math:`e` (from 0) improves when it is the first or its loss is below the best so
    far by more than ``min_delta``; training stops at the epoch that makes ``patience``
    epochs in a row without improvement (the last epoch if that never happens). The result
    holds a copy of ``weights[best_epoch]`` (see :class:`dlopt.training.EarlyStopping`).
    """
    stopper = EarlyStopping(patience=patience, min_delta=min_delta)
    stop = len(val_losses) - 1
    for epoch, (loss, w) in enumerate(zip(val_losses, weights, strict=True)):
        if stopper.step(loss, epoch, [w]):
            stop = epoch
            break
    return stop, stopper.best_epoch, stopper.best_params[0]


# --------------------------------------------------------------------------- fine-tuning


def trainable_layers(n_layers, epoch, *, every):
    r"""Gradual unfreezing: which of ``n_layers`` layers (input to output) train in ``epoch``.

    The last :math:`\min(n, \lceil (e+1)/\text{every} \rceil)` are trainable
    (:func:`dlopt.finetune.gradual_unfreezing`); a list of ``n_layers`` booleans.
    """
    from dlopt import finetune

    blocks = [layers.ReLU() for _ in range(n_layers)]  # any module: only its flag matters
    finetune.gradual_unfreezing(blocks, epoch, every)
    return [not block.frozen for block in blocks]


def frozen_sgd_step(weights, grads, trainable, *, lr, weight_decay):
    r"""One SGD step with decoupled weight decay on the trainable layers only:
    :math:`W \leftarrow (1-\eta\lambda)W - \eta G` where ``trainable[k]``, unchanged elsewhere.
    Returns ``(new_weights, n_trained)``, ``n_trained`` the number of numbers updated."""
    new = [np.array(w, copy=True) for w in weights]
    for w, g, train in zip(new, grads, trainable, strict=True):
        if train:
            sgd_weight_decay_step(w, g, {}, lr=lr, momentum=0.0, weight_decay=weight_decay,
                                  decoupled=True)
    return new, sum(w.size for w, train in zip(new, trainable) if train)


def lora_init(d_out, d_in, r, *, rng):
    r"""LoRA's factors: :math:`A` (r, d_in) from ``rng.uniform(-1/sqrt(d_in), 1/sqrt(d_in))``
    (as :class:`dlopt.finetune.LoRALinear`) and :math:`B` (d_out, r) zeros."""
    from dlopt import finetune

    base = layers.Linear.from_arrays(np.zeros((d_out, d_in)), None)
    layer = finetune.LoRALinear(base, r, rng=rng)
    return layer.params["lora_A"], layer.params["lora_B"]


def _lora_layer(W, A, B, alpha):
    from dlopt import finetune

    W, A, B = (np.asarray(a) for a in (W, A, B))
    layer = finetune.LoRALinear(layers.Linear.from_arrays(W, None), A.shape[0], alpha,
                                rng=np.random.default_rng(0))
    layer.params["lora_A"][...] = A
    layer.params["lora_B"][...] = B
    return layer


def lora_forward_backward(x, W, A, B, grad_out, *, alpha):
    r"""A LoRA linear layer without bias, :math:`y = xW^\top + s\,(xA^\top)B^\top` with
    :math:`s = \alpha/r`, forward then backward: ``(y, grad_x, grad_A, grad_B)``."""
    layer = _lora_layer(W, A, B, alpha)
    y = layer(np.asarray(x))
    grad_x = layer.backward(np.asarray(grad_out, dtype=y.dtype))
    return y, grad_x, layer.grads["lora_A"].copy(), layer.grads["lora_B"].copy()


def lora_merge(W, A, B, *, alpha):
    r"""The merged weight :math:`W + (\alpha/r)\,BA`."""
    return _lora_layer(W, A, B, alpha).merge().params["weight"].copy()


REFERENCES = {
    f.__name__: f
    for f in (minibatches, sgd_epoch, should_stop, momentum_step, nesterov_step, rmsprop_step,
              adam_step, adamw_step, warmup_cosine_lr, sigmoid_layer, tanh_layer, relu_layer,
              softmax_cross_entropy, fans, xavier_scale, kaiming_scale, sample_weight,
              batchnorm_forward, batchnorm_backward, dropout_layer, sgd_weight_decay_step,
              adam_weight_decay_step, early_stopping, trainable_layers, frozen_sgd_step,
              lora_init, lora_forward_backward, lora_merge)
}
