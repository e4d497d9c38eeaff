"""CPU primitives for fused optimizer steps (SGD, AlexNet-paper SGD, Adam/AdamW, RMSprop,
Adagrad, Adadelta), updating parameters and optimizer state in place.

The per-element update rules are the scalar functions of minidl/backend/shared/optim_rules.py
(`math_*`), compiled here with `njit` for the loops below (and by minidl/cuda/kernels/optim.py with
`cuda.jit(device=True)`), so both devices run the same math.  Every constant (lr, 1 - beta, ...)
is computed on the host and passed in cast to the array's dtype, so float32 parameters are
updated in float32 arithmetic.

Each primitive takes raw arrays (param, grad and state buffers of one shape and dtype) and
host scalars.  An unused state buffer (no momentum, no amsgrad, ...) may be None.  Scalar
preprocessing that depends on the step count (bias corrections, Adagrad's decayed lr) is done
here on the host, so a step never reads device memory back.
What does not live here: parameter groups, state bookkeeping, validation (minidl.optim).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..shared.optim_rules import (
    math_adadelta, math_adagrad, math_adam, math_rmsprop, math_sgd, math_sgd_paper,
)

__all__ = [
    "sgd_step", "sgd_paper_step", "adam_step", "rmsprop_step", "adagrad_step", "adadelta_step",
]

_sgd = njit(inline="always")(math_sgd)
_sgd_paper = njit(inline="always")(math_sgd_paper)
_adam = njit(inline="always")(math_adam)
_rmsprop = njit(inline="always")(math_rmsprop)
_adagrad = njit(inline="always")(math_adagrad)
_adadelta = njit(inline="always")(math_adadelta)


# ---- loops over flat arrays (one pass, no temporaries) -------------------------------------------
@njit(cache=True)
def _sgd_loop(p, g, b, lr, momentum, omd, wd, nesterov, maximize, first_step, has_momentum):
    for i in range(p.size):
        bi = b[i] if has_momentum else p[i]
        pi, bi = _sgd(p[i], g[i], bi, lr, momentum, omd, wd, nesterov, maximize, first_step,
                      has_momentum)
        p[i] = pi
        if has_momentum:
            b[i] = bi


@njit(cache=True)
def _sgd_paper_loop(p, g, v, lr, momentum, wd, maximize):
    for i in range(p.size):
        pi, vi = _sgd_paper(p[i], g[i], v[i], lr, momentum, wd, maximize)
        p[i] = pi
        v[i] = vi


@njit(cache=True)
def _adam_loop(p, g, m, v, vmax, wd, decay, b1, omb1, b2, omb2, step_size, bc2s, eps, amsgrad,
               maximize, decoupled):
    for i in range(p.size):
        vm = vmax[i] if amsgrad else v[i]
        pi, mi, vi, vm = _adam(p[i], g[i], m[i], v[i], vm, wd, decay, b1, omb1, b2, omb2,
                               step_size, bc2s, eps, amsgrad, maximize, decoupled)
        p[i] = pi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vmax[i] = vm


@njit(cache=True)
def _rmsprop_loop(p, g, sq, gavg, b, lr, alpha, oma, eps, wd, centered, has_momentum, momentum,
                  maximize):
    for i in range(p.size):
        ga = gavg[i] if centered else sq[i]
        bi = b[i] if has_momentum else sq[i]
        pi, si, ga, bi = _rmsprop(p[i], g[i], sq[i], ga, bi, lr, alpha, oma, eps, wd, centered,
                                  has_momentum, momentum, maximize)
        p[i] = pi
        sq[i] = si
        if centered:
            gavg[i] = ga
        if has_momentum:
            b[i] = bi


@njit(cache=True)
def _adagrad_loop(p, g, s, clr, eps, wd, maximize):
    for i in range(p.size):
        pi, si = _adagrad(p[i], g[i], s[i], clr, eps, wd, maximize)
        p[i] = pi
        s[i] = si


@njit(cache=True)
def _adadelta_loop(p, g, sq, acc, lr, rho, omr, eps, wd, maximize):
    for i in range(p.size):
        pi, si, ai = _adadelta(p[i], g[i], sq[i], acc[i], lr, rho, omr, eps, wd, maximize)
        p[i] = pi
        sq[i] = si
        acc[i] = ai


# ---- primitives --------------------------------------------------------------------------------
class _Flat:
    """Flat contiguous views of in-place operands; copies back on exit if one was strided."""

    def __init__(self, *arrays):
        self.arrays = arrays
        self.flat = []
        self.writeback = []
        for a in arrays:
            if a is None:
                self.flat.append(None)
            elif a.flags.c_contiguous and a.flags.writeable:
                self.flat.append(a.reshape(-1))
            else:
                c = np.ascontiguousarray(a).reshape(-1)
                self.flat.append(c)
                self.writeback.append((a, c))

    def __enter__(self):
        return self.flat

    def __exit__(self, *exc):
        for a, c in self.writeback:
            a[...] = c.reshape(a.shape)
        return False


def _grad(param, grad):
    g = np.ascontiguousarray(grad, dtype=param.dtype).reshape(-1)
    return g


def _dummy(p):
    return p  # an unused state slot: never read or written when its flag is off


def sgd_step(param, grad, momentum_buf, lr, momentum, dampening, weight_decay, nesterov, maximize,
             first_step) -> None:
    """PyTorch SGD in place: param [*], grad [*], momentum_buf [*] or None (momentum == 0).

    first_step: the buffer is initialised to the (decayed) gradient instead of being updated."""
    T = param.dtype.type
    has_m = momentum != 0
    with _Flat(param, momentum_buf if has_m else None) as (p, b):
        _sgd_loop(p, _grad(param, grad), b if has_m else _dummy(p), T(lr), T(momentum),
                  T(1.0 - dampening), T(weight_decay), bool(nesterov), bool(maximize),
                  bool(first_step), has_m)


def sgd_paper_step(param, grad, velocity, lr, momentum, weight_decay, maximize) -> None:
    """AlexNet paper's SGD in place: v = momentum v - weight_decay lr p - lr g; p += v."""
    T = param.dtype.type
    with _Flat(param, velocity) as (p, v):
        _sgd_paper_loop(p, _grad(param, grad), v, T(lr), T(momentum), T(weight_decay),
                        bool(maximize))


def adam_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1, beta2, eps,
              weight_decay, amsgrad, maximize, decoupled_weight_decay) -> None:
    """Adam / AdamW in place; `step` is the step number being taken (1 on the first step).

    max_exp_avg_sq is None unless amsgrad.  decoupled_weight_decay=True gives AdamW."""
    T = param.dtype.type
    bc1 = 1.0 - beta1 ** step
    bc2 = 1.0 - beta2 ** step
    with _Flat(param, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None) as (p, m, v, vm):
        _adam_loop(p, _grad(param, grad), m, v, vm if amsgrad else _dummy(p), T(weight_decay),
                   T(1.0 - lr * weight_decay), T(beta1), T(1.0 - beta1), T(beta2), T(1.0 - beta2),
                   T(lr / bc1), T(math.sqrt(bc2)), T(eps), bool(amsgrad), bool(maximize),
                   bool(decoupled_weight_decay))


def rmsprop_step(param, grad, square_avg, grad_avg, momentum_buf, lr, alpha, eps, weight_decay,
                 momentum, centered, maximize) -> None:
    """RMSprop in place; grad_avg is None unless centered, momentum_buf None unless momentum > 0."""
    T = param.dtype.type
    has_m = momentum > 0
    with _Flat(param, square_avg, grad_avg if centered else None,
               momentum_buf if has_m else None) as (p, sq, ga, b):
        _rmsprop_loop(p, _grad(param, grad), sq, ga if centered else _dummy(p),
                      b if has_m else _dummy(p), T(lr), T(alpha), T(1.0 - alpha), T(eps),
                      T(weight_decay), bool(centered), has_m, T(momentum), bool(maximize))


def adagrad_step(param, grad, state_sum, step, lr, lr_decay, weight_decay, eps, maximize) -> None:
    """Adagrad in place; `step` is the step number being taken (1 on the first step)."""
    T = param.dtype.type
    clr = lr / (1.0 + (step - 1) * lr_decay)
    with _Flat(param, state_sum) as (p, s):
        _adagrad_loop(p, _grad(param, grad), s, T(clr), T(eps), T(weight_decay), bool(maximize))


def adadelta_step(param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay, maximize) -> None:
    """Adadelta in place."""
    T = param.dtype.type
    with _Flat(param, square_avg, acc_delta) as (p, sq, acc):
        _adadelta_loop(p, _grad(param, grad), sq, acc, T(lr), T(rho), T(1.0 - rho), T(eps),
                       T(weight_decay), bool(maximize))
