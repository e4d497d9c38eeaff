"""Adam and AdamW (PyTorch's algorithms; AdamW decays the weights decoupled from the gradient).

Per parameter, step t (g = gradient, negated if maximize):
    Adam:  g = g + weight_decay * p            AdamW: p = p * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    vmax = max(vmax, v)                         (amsgrad; the denominator then uses vmax)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
State: "step" (int), "exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad only).
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..creation import zeros_like
from .optimizer import Optimizer, _bump_version, _raw


def _check_adam_args(lr, betas, eps, weight_decay):
    if lr < 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")
    if eps < 0.0:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if weight_decay < 0.0:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False); weight_decay is L2 added to the gradient."""

    _decoupled = False

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False):
        _check_adam_args(lr, betas, eps, weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable | None = None):
        """One Adam step over every parameter with a gradient; returns closure's loss (or None)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            amsgrad = group["amsgrad"]
            for p, g in self._params_with_grad(group):
                state = self.state.setdefault(p, {})
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = zeros_like(p)
                    state["exp_avg_sq"] = zeros_like(p)
                    if amsgrad:
                        state["max_exp_avg_sq"] = zeros_like(p)
                if amsgrad and "max_exp_avg_sq" not in state:
                    state["max_exp_avg_sq"] = zeros_like(p)
                state["step"] = int(state["step"]) + 1
                vmax = state["max_exp_avg_sq"] if amsgrad else None
                p._backend.adam_step(_raw(p), _raw(g), _raw(state["exp_avg"]),
                                     _raw(state["exp_avg_sq"]),
                                     None if vmax is None else _raw(vmax), state["step"],
                                     group["lr"], beta1, beta2, group["eps"],
                                     group["weight_decay"], amsgrad, group["maximize"],
                                     self._decoupled)
                _bump_version(p)
        return loss


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False): Adam with decoupled weight decay p *= 1 - lr * weight_decay."""

    _decoupled = True

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
