"""Adagrad (PyTorch's algorithm).

Per parameter, step t (g = gradient, negated if maximize):
    g = g + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2
    p = p - clr * g / (sqrt(s) + eps)
State: "step" (int), "sum" (starts at initial_accumulator_value).
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..creation import full_like
from .optimizer import Optimizer, _bump_version, _raw


class Adagrad(Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, *, maximize=False).  State is created at construction, as in PyTorch."""

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if lr_decay < 0.0:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p, group):
        state = self.state.setdefault(p, {})
        if len(state) == 0:
            state["step"] = 0
            state["sum"] = full_like(p, group["initial_accumulator_value"])
        return state

    def step(self, closure: Callable | None = None):
        """One Adagrad step; returns closure's loss (or None)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            for p, g in self._params_with_grad(group):
                state = self._init_state(p, group)
                state["step"] = int(state["step"]) + 1
                p._backend.adagrad_step(_raw(p), _raw(g), _raw(state["sum"]), state["step"],
                                        group["lr"], group["lr_decay"], group["weight_decay"],
                                        group["eps"], group["maximize"])
                _bump_version(p)
        return loss
