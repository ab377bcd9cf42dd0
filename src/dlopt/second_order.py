r"""Second-order methods on small problems: Newton's method and L-BFGS.

Both return the whole path of iterates (an array of shape ``(steps + 1, d)``)
so that the book can draw them next to the first-order optimizers.

Newton's method solves the local quadratic model exactly,

.. math:: \theta_{t+1} = \theta_t - \eta\,(H(\theta_t) + \delta I)^{-1} \nabla L(\theta_t),

which costs a :math:`d \times d` solve per step: fine for two parameters,
impossible for a network with millions. L-BFGS (Liu & Nocedal, 1989) keeps
only the last ``m`` steps :math:`s_k = \theta_{k+1}-\theta_k` and gradient
changes :math:`y_k = g_{k+1}-g_k` and applies its inverse-Hessian estimate to a
vector with the two-loop recursion, in :math:`O(md)` time and memory.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.optimize

from dlopt._validation import validate_array, validate_int, validate_real


def newton(grad, hessian, x0, *, steps: int = 10, lr: float = 1.0, damping: float = 0.0):
    """Path of (damped) Newton iterations from ``x0``.

    ``grad(x)`` returns the gradient (d,), ``hessian(x)`` the Hessian (d, d).
    ``damping`` adds a multiple of the identity (Levenberg–Marquardt style)
    so that indefinite Hessians, as at a saddle, give a descent direction.
    """
    x = validate_array("x0", x0, ndim=1, finite=True).astype(np.float64)
    steps = validate_int("steps", steps, low=0)
    lr = validate_real("lr", lr, low=0.0, low_open=True)
    damping = validate_real("damping", damping, low=0.0)
    path = [x.copy()]
    for _ in range(steps):
        h = np.asarray(hessian(x), dtype=np.float64) + damping * np.eye(x.size)
        x = x - lr * np.linalg.solve(h, np.asarray(grad(x), dtype=np.float64))
        path.append(x.copy())
    return np.array(path)


def two_loop_direction(g, s_history, y_history):
    r"""L-BFGS's approximation of :math:`H^{-1} g` by the two-loop recursion.

    ``s_history`` and ``y_history`` hold the last steps and gradient changes,
    oldest first. The initial inverse Hessian is :math:`\gamma I` with
    :math:`\gamma = s^\top y / y^\top y` of the newest pair.
    """
    q = np.array(g, dtype=np.float64)
    rhos = [1.0 / float(y @ s) for s, y in zip(s_history, y_history)]
    alphas = []
    for s, y, rho in reversed(list(zip(s_history, y_history, rhos))):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if s_history:
        s, y = s_history[-1], y_history[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y, rho), alpha in zip(zip(s_history, y_history, rhos), reversed(alphas)):
        beta = rho * float(y @ q)
        q += (alpha - beta) * s
    return q


def lbfgs(fun, grad, x0, *, steps: int = 100, history_size: int = 10, tol: float = 1e-10):
    """Path of L-BFGS iterations with a line search satisfying the strong Wolfe conditions.

    The Wolfe curvature condition guarantees :math:`s^\\top y > 0`, which keeps
    the inverse-Hessian estimate positive definite (an Armijo-only search does
    not, and L-BFGS then stalls). The search is SciPy's; if it fails, the step
    falls back to halving until the loss decreases. Stops early when the
    gradient norm falls below ``tol``.
    """
    x = validate_array("x0", x0, ndim=1, finite=True).astype(np.float64)
    steps = validate_int("steps", steps, low=0)
    history_size = validate_int("history_size", history_size, low=1)
    s_hist, y_hist = deque(maxlen=history_size), deque(maxlen=history_size)
    g = np.asarray(grad(x), dtype=np.float64)
    path = [x.copy()]
    for _ in range(steps):
        if np.linalg.norm(g) < tol:
            break
        d = -two_loop_direction(g, list(s_hist), list(y_hist))
        if g @ d >= 0:  # not a descent direction: fall back to the gradient
            d = -g
        f0 = fun(x)
        t = scipy.optimize.line_search(fun, grad, x, d, gfk=g, old_fval=f0)[0]
        if t is None:
            t = 1.0
            while fun(x + t * d) > f0 and t > 1e-12:
                t *= 0.5
        x_new = x + t * d
        g_new = np.asarray(grad(x_new), dtype=np.float64)
        s, y = x_new - x, g_new - g
        if s @ y > 1e-12:
            s_hist.append(s)
            y_hist.append(y)
        x, g = x_new, g_new
        path.append(x.copy())
    return np.array(path)
