"""The gradient reset behind Module.zero_grad and Optimizer.zero_grad (one place, so the two
stay alike, as in PyTorch)."""
from __future__ import annotations

from typing import Iterable

from .tensor import Tensor


def zero_grads(params: Iterable[Tensor], set_to_none: bool) -> None:
    """Set each parameter's gradient to None, or zero it in place (detached from any graph)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            if p.grad.grad_fn is not None:
                p.grad = p.grad.detach()
            p.grad.zero_()
