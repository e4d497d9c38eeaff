"""Per-element optimizer update rules, written once as plain scalar functions (`math_*`) and
compiled by each backend: `njit(inline="always")` in minidl/backend/cpu/optim.py and
`cuda.jit(device=True, inline="always")` in minidl/cuda/kernels/optim.py.

The rules contain no float literals: every constant (lr, 1 - beta, bias corrections, ...) is
computed on the host and passed in cast to the parameter's dtype, so float32 parameters are
updated in float32 arithmetic on both devices.  Each returns the new values of the parameter
element and its state elements; the callers own the loops and the in-place writes.
"""
from __future__ import annotations

import math


def math_sgd(p, g, b, lr, momentum, one_minus_dampening, weight_decay, nesterov, maximize,
             first_step, has_momentum):
    """PyTorch SGD for one element: returns (new p, new momentum buffer)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    if has_momentum:
        if first_step:
            b = g
        else:
            b = momentum * b + one_minus_dampening * g
        if nesterov:
            g = g + momentum * b
        else:
            g = b
    return p - lr * g, b


def math_sgd_paper(p, g, v, lr, momentum, weight_decay, maximize):
    """AlexNet paper: v = momentum v - weight_decay lr p - lr g; p = p + v.  Returns (p, v)."""
    if maximize:
        g = -g
    v = momentum * v - weight_decay * lr * p - lr * g
    return p + v, v


def math_adam(p, g, m, v, vmax, weight_decay, decay_factor, beta1, one_minus_beta1, beta2,
              one_minus_beta2, step_size, bias_correction2_sqrt, eps, amsgrad, maximize,
              decoupled):
    """Adam (decoupled=False: L2 decay added to the gradient) or AdamW (decoupled=True:
    p *= decay_factor = 1 - lr weight_decay first).

    Returns (p, exp_avg, exp_avg_sq, max_exp_avg_sq)."""
    if maximize:
        g = -g
    if decoupled:
        p = p * decay_factor
    elif weight_decay != 0:
        g = g + weight_decay * p
    m = beta1 * m + one_minus_beta1 * g
    v = beta2 * v + one_minus_beta2 * g * g
    if amsgrad:
        if v > vmax:
            vmax = v
        denom = math.sqrt(vmax) / bias_correction2_sqrt + eps
    else:
        denom = math.sqrt(v) / bias_correction2_sqrt + eps
    return p - step_size * m / denom, m, v, vmax


def math_rmsprop(p, g, sq, gavg, b, lr, alpha, one_minus_alpha, eps, weight_decay, centered,
                 has_momentum, momentum, maximize):
    """RMSprop (optionally centered, with momentum).  Returns (p, square_avg, grad_avg, buf)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    sq = alpha * sq + one_minus_alpha * g * g
    if centered:
        gavg = alpha * gavg + one_minus_alpha * g
        avg = math.sqrt(sq - gavg * gavg) + eps
    else:
        avg = math.sqrt(sq) + eps
    if has_momentum:
        b = momentum * b + g / avg
        p = p - lr * b
    else:
        p = p - lr * g / avg
    return p, sq, gavg, b


def math_adagrad(p, g, s, clr, eps, weight_decay, maximize):
    """Adagrad with the already decayed lr `clr`.  Returns (p, sum)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    s = s + g * g
    return p - clr * g / (math.sqrt(s) + eps), s


def math_adadelta(p, g, sq, acc, lr, rho, one_minus_rho, eps, weight_decay, maximize):
    """Adadelta.  Returns (p, square_avg, acc_delta)."""
    if maximize:
        g = -g
    if weight_decay != 0:
        g = g + weight_decay * p
    sq = rho * sq + one_minus_rho * g * g
    delta = math.sqrt(acc + eps) / math.sqrt(sq + eps) * g
    acc = rho * acc + one_minus_rho * delta * delta
    return p - lr * delta, sq, acc
