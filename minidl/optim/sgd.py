"""Stochastic gradient descent: PyTorch's rule, and the AlexNet paper's form (`paper_form=True`).

PyTorch (per parameter, g = gradient, negated if maximize):
    g = g + weight_decay * p
    b = g on the first step, else b = momentum * b + (1 - dampening) * g
    g = g + momentum * b if nesterov else b          (only when momentum != 0)
    p = p - lr * g
AlexNet paper (Krizhevsky et al. 2012, section 5):
    v = momentum * v - weight_decay * lr * p - lr * g
    p = p + v
With a constant lr the two coincide (v = -lr * b); they differ once lr changes, because the
paper's velocity carries the old learning rate inside it while PyTorch's buffer does not.
"""
from __future__ import annotations

from typing import Callable, Iterable

from ..creation import zeros_like
from .optimizer import Optimizer, _bump_version, _raw


class SGD(Optimizer):
    """SGD with optional momentum, dampening, Nesterov momentum and L2 weight decay.

    SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False, paper_form=False).  paper_form=True uses the AlexNet paper's update (state
    "velocity"); it takes no dampening or nesterov.
    """

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False, paper_form: bool = False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        if paper_form and (nesterov or dampening != 0):
            raise ValueError("SGD(paper_form=True) (the AlexNet paper's update) supports neither "
                             "nesterov nor dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, paper_form=paper_form)
        super().__init__(params, defaults)

    def step(self, closure: Callable | None = None):
        """One SGD step over every parameter with a gradient; returns closure's loss (or None)."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            if group["paper_form"]:
                self._paper_step(group)
                continue
            momentum = group["momentum"]
            for p, g in self._params_with_grad(group):
                buf = None
                first = False
                if momentum != 0:
                    state = self.state.setdefault(p, {})
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = zeros_like(p)
                        state["momentum_buffer"] = buf
                        first = True
                p._backend.sgd_step(_raw(p), _raw(g), None if buf is None else _raw(buf),
                                    group["lr"], momentum, group["dampening"],
                                    group["weight_decay"], group["nesterov"], group["maximize"],
                                    first)
                _bump_version(p)
        return loss

    def _paper_step(self, group: dict) -> None:
        for p, g in self._params_with_grad(group):
            state = self.state.setdefault(p, {})
            v = state.get("velocity")
            if v is None:
                v = zeros_like(p)
                state["velocity"] = v
            p._backend.sgd_paper_step(_raw(p), _raw(g), _raw(v), group["lr"], group["momentum"],
                                      group["weight_decay"], group["maximize"])
            _bump_version(p)
