"""CUDA launchers of the fused optimizer steps (contract section "fused optimizer steps"): each
updates a parameter and its state arrays in place with one kernel from
minidl.cuda.kernels.optim.  Scalars that depend on the step count (bias corrections, Adagrad's
decayed lr) are computed here on the host, so a step never reads device memory back.
"""
from __future__ import annotations

import math

import numpy as np

from ..kernels import optim as ok
from ._util import flat, launch_1d

__all__ = [
    "sgd_step", "sgd_paper_step", "adam_step", "rmsprop_step", "adagrad_step", "adadelta_step",
]


def _launch(name: str, param, *args) -> None:
    if param.size:
        launch_1d(ok.kernel(name, param.dtype), param.size, *args)


def sgd_step(param, grad, momentum_buf, lr, momentum, dampening, weight_decay, nesterov, maximize,
             first_step) -> None:
    """PyTorch SGD in place (see minidl.backend.contract)."""
    T = np.dtype(param.dtype).type
    has_m = momentum != 0
    p = flat(param)
    _launch("sgd", param, p, flat(grad), flat(momentum_buf) if has_m else p, T(lr), T(momentum),
            T(1.0 - dampening), T(weight_decay), bool(nesterov), bool(maximize),
            bool(first_step), has_m)


def sgd_paper_step(param, grad, velocity, lr, momentum, weight_decay, maximize) -> None:
    """AlexNet paper's SGD in place: v = m v - wd lr p - lr g; p += v."""
    T = np.dtype(param.dtype).type
    _launch("sgd_paper", param, flat(param), flat(grad), flat(velocity), T(lr), T(momentum),
            T(weight_decay), bool(maximize))


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, amsgrad, maximize, decoupled_weight_decay) -> None:
    """Adam / AdamW in place; `step` is the step number being taken (>= 1)."""
    T = np.dtype(param.dtype).type
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    p = flat(param)
    _launch("adam", param, p, flat(grad), flat(exp_avg), flat(exp_avg_sq),
            flat(max_exp_avg_sq) if amsgrad else p, T(weight_decay), T(1.0 - lr * weight_decay),
            T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2), T(lr / bc1), T(math.sqrt(bc2)),
            T(eps), bool(amsgrad), bool(maximize), bool(decoupled_weight_decay))


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps, weight_decay,
                 momentum, centered, maximize) -> None:
    """RMSprop in place."""
    T = np.dtype(param.dtype).type
    has_m = momentum > 0
    p = flat(param)
    _launch("rmsprop", param, p, flat(grad), flat(square_avg), flat(grad_avg) if centered else p,
            flat(momentum_buf) if has_m else p, T(lr), T(alpha), T(1.0 - alpha), T(eps),
            T(weight_decay), bool(centered), has_m, T(momentum), bool(maximize))


def adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize) -> None:
    """Adagrad in place; `step` is the step number being taken (>= 1)."""
    T = np.dtype(param.dtype).type
    clr = lr / (1.0 + (step - 1) * lr_decay)
    _launch("adagrad", param, flat(param), flat(grad), flat(state_sum), T(clr), T(eps),
            T(weight_decay), bool(maximize))


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize) -> None:
    """Adadelta in place."""
    T = np.dtype(param.dtype).type
    _launch("adadelta", param, flat(param), flat(grad), flat(square_avg), flat(acc_delta), T(lr),
            T(rho), T(1.0 - rho), T(eps), T(weight_decay), bool(maximize))
