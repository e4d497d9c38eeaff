"""RMSprop (PyTorch's algorithm: Hinton's, optionally centered, with optional momentum).

Per parameter (g = gradient, negated if maximize):
    g = g + weight_decay * p
    sq = alpha * sq + (1 - alpha) * g^2
    centered: ga = alpha * ga + (1 - alpha) * g;  avg = sqrt(sq - ga^2) + eps
    otherwise: avg = sqrt(sq) + eps
    momentum > 0: b = momentum * b + g / avg;  p = p - lr * b
    otherwise:    p = p - lr * g / avg
State: "step", "square_avg", "momentum_buffer" (momentum > 0), "grad_avg" (centered).
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..creation import zeros_like
from .optimizer import Optimizer, _bump_version, _raw


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, *, maximize=False)."""

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable | None = None):
        """One RMSprop step; returns closure's loss (or None)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            momentum = group["momentum"]
            centered = group["centered"]
            for p, g in self._params_with_grad(group):
                state = self.state.setdefault(p, {})
                if len(state) == 0:
                    state["step"] = 0
                    state["square_avg"] = zeros_like(p)
                if momentum > 0 and "momentum_buffer" not in state:
                    state["momentum_buffer"] = zeros_like(p)
                if centered and "grad_avg" not in state:
                    state["grad_avg"] = zeros_like(p)
                state["step"] = int(state["step"]) + 1
                ga = state["grad_avg"] if centered else None
                buf = state["momentum_buffer"] if momentum > 0 else None
                p._backend.rmsprop_step(_raw(p), _raw(g), _raw(state["square_avg"]),
                                        None if ga is None else _raw(ga),
                                        None if buf is None else _raw(buf), group["lr"],
                                        group["alpha"], group["eps"], group["weight_decay"],
                                        momentum, centered, group["maximize"])
                _bump_version(p)
        return loss
