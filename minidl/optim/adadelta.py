"""Adadelta (PyTorch's algorithm, Zeiler 2012 with a learning-rate multiplier).

Per parameter (g = gradient, negated if maximize):
    g = g + weight_decay * p
    sq = rho * sq + (1 - rho) * g^2
    delta = sqrt(acc + eps) / sqrt(sq + eps) * g
    acc = rho * acc + (1 - rho) * delta^2
    p = p - lr * delta
State: "step", "square_avg", "acc_delta".
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..creation import zeros_like
from .optimizer import Optimizer, _bump_version, _raw


class Adadelta(Optimizer):
    """Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False)."""

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def step(self, closure: Callable | None = None):
        """One Adadelta step; returns closure's loss (or None)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            for p, g in self._params_with_grad(group):
                state = self.state.setdefault(p, {})
                if len(state) == 0:
                    state["step"] = 0
                    state["square_avg"] = zeros_like(p)
                    state["acc_delta"] = zeros_like(p)
                state["step"] = int(state["step"]) + 1
                p._backend.adadelta_step(_raw(p), _raw(g), _raw(state["square_avg"]),
                                         _raw(state["acc_delta"]), group["lr"], group["rho"],
                                         group["eps"], group["weight_decay"], group["maximize"])
                _bump_version(p)
        return loss
