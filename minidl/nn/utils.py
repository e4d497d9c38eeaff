"""minidl.nn.utils: gradient clipping, parameter <-> vector conversion, parameter counting.

Clipping stays on the parameters' device: the total norm is a 0-d device tensor and the
gradients are scaled by a device tensor, so no host round trip happens (unless
error_if_nonfinite=True, which must look at the norm).
"""
from __future__ import annotations

import math
from typing import Iterable

from ..autograd import no_grad
from ..errors import DeviceError
from ..functions import cat, stack
from ..tensor import Tensor
from ..creation import tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters",
           "count_parameters"]


def _as_list(parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _norm(t: Tensor, norm_type: float) -> Tensor:
    if norm_type == math.inf:
        return t.abs().max()
    if norm_type == 2.0:
        return (t * t).sum().sqrt()
    if norm_type == 1.0:
        return t.abs().sum()
    return (t.abs() ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients in place so that their joint norm (the norm of the per-tensor norms)
    is at most max_norm; returns the total norm before clipping (a 0-d tensor).

    Gradients are multiplied by min(1, max_norm / (total_norm + 1e-6)), as in PyTorch."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if len(grads) == 0:
        return tensor(0.0)
    device = grads[0].device
    with no_grad():
        norms = [_norm(g.detach(), norm_type).to(device) for g in grads]
        total = _norm(stack(norms), norm_type)
        if error_if_nonfinite:
            t = float(total.item())
            if math.isnan(t) or math.isinf(t):
                raise RuntimeError(f"The total norm of order {norm_type} for gradients from "
                                   "`parameters` is non-finite, so it cannot be clipped. To "
                                   "disable this error and scale the gradients by the non-finite "
                                   "norm anyway, set `error_if_nonfinite=False`")
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.device).to(g.dtype))
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient elementwise to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for p in _as_list(parameters):
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)


def _check_same_device(params: list) -> None:
    if params and any(p.device != params[0].device for p in params):
        raise DeviceError("Found two parameters on different devices, this is currently not "
                          "supported.")


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable)."""
    params = _as_list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected minidl.Tensor, but got: {type(p).__name__}")
    _check_same_device(params)
    return cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy slices of the 1-D `vec` into the parameters (inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected minidl.Tensor, but got: {type(vec).__name__}")
    params = _as_list(parameters)
    _check_same_device(params)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.shape[0] != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {total} elements, got "
                         f"shape {list(vec.shape)}")
    pointer = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec[pointer:pointer + n].reshape(p.shape))
            pointer += n


def count_parameters(module, trainable_only: bool = True) -> int:
    """Number of scalar parameters of `module` (only those with requires_grad by default)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
