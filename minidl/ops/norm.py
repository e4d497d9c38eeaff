"""Normalisation ops: local_response_norm (a fused backend primitive, forward and backward),
batch_norm and layer_norm (compositions of existing ops: a fused kernel would save a few passes
over memory but AlexNet and LeNet-5 do not use them, so the simpler composition stays until a
benchmark says otherwise).
What does not live here: the modules (minidl.nn.normalization), the LRN loops and kernels
(minidl.backend.cpu.nn, minidl.cuda.kernels.lrn).
"""
from __future__ import annotations

import numbers

from ..autograd import Op, no_grad
from ..errors import ShapeError
from ._base import require_float, same_device


# ---- local response normalisation --------------------------------------------------------------
class LRN(Op):
    """out = x * scale^-beta, scale = k + alpha/size * (sum of x^2 over `size` neighbouring
    channels); the backward is the backend's fused lrn_grad."""

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        out, scale = ctx.backend.lrn(x, size, alpha, beta, k)
        ctx.save_for_backward(x, out, scale)
        ctx.params = (size, alpha, beta, k)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out, scale = ctx.saved_tensors
        gx = ctx.backend.lrn_grad(g.contiguous()._data, x._data, out._data, scale._data,
                                  *ctx.params)
        return gx, None, None, None, None


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0):
    """PyTorch's LRN over channels of [N, C, *]:
    b_c = a_c / (k + alpha/size * sum_{c'} a_c'^2)^beta, c' over size//2 channels before c and
    (size-1)//2 after (zero padded)."""
    op = "local_response_norm"
    if input.ndim < 3:
        raise ShapeError(f"{op}: Expected 3D or higher dimensionality input (got {input.ndim} "
                         f"dimensions): input {list(input.shape)}")
    require_float(op, input)
    if not isinstance(size, numbers.Integral) or size < 1:
        raise ShapeError(f"{op}: size must be a positive int, got {size!r}")
    shape = tuple(input.shape)
    N, C = shape[:2]
    L = 1
    for n in shape[2:]:
        L *= n
    x = input.reshape(N, C, L)
    out = LRN.apply(x, int(size), float(alpha), float(beta), float(k))
    return out.reshape(shape)


# ---- batch and layer normalisation -------------------------------------------------------------
def _check_param(op, name, t, C, x):
    if t is None:
        return
    if tuple(t.shape) != (C,):
        raise ShapeError(f"{op}: expected {name} of shape [{C}] for input {list(x.shape)}, got "
                         f"{list(t.shape)}")
    same_device(op, x, t)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel (dim 1) of [N, C, *].

    Training: batch statistics (biased variance) normalise, and running_mean/var (if given) are
    updated in place: r = (1 - momentum) r + momentum * stat, with the unbiased variance (like
    PyTorch).  Eval: the running statistics normalise."""
    op = "batch_norm"
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected input [N, C] or [N, C, *], got {list(input.shape)}")
    require_float(op, input)
    C = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        _check_param(op, name, t, C, input)
    dims = (0,) + tuple(range(2, input.ndim))
    bshape = (1, C) + (1,) * (input.ndim - 2)
    if training:
        n = input.numel() // C if C else 0
        if n <= 1:
            raise ShapeError(f"{op}: Expected more than 1 value per channel when training, got "
                             f"input size {list(input.shape)}")
        mean = input.mean(dims, keepdim=True)
        dev = input - mean
        var = (dev * dev).mean(dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            with no_grad():
                m = float(momentum)
                if running_mean is not None:
                    running_mean.mul_(1.0 - m).add_(mean.detach().reshape(C) * m)
                if running_var is not None:
                    unbiased = var.detach().reshape(C) * (n / (n - 1))
                    running_var.mul_(1.0 - m).add_(unbiased * m)
        y = dev / (var + eps).sqrt()
    else:
        if running_mean is None or running_var is None:
            raise ShapeError(f"{op}: running_mean and running_var must be defined in evaluation "
                             f"mode")
        rstd = (running_var.to(input.dtype) + eps).sqrt()
        y = (input - running_mean.to(input.dtype).reshape(bshape)) / rstd.reshape(bshape)
    if weight is not None:
        y = y * weight.reshape(bshape)
    if bias is not None:
        y = y + bias.reshape(bshape)
    return y


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the trailing `normalized_shape`
    dims (biased variance)."""
    op = "layer_norm"
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    ns = tuple(int(n) for n in normalized_shape)
    require_float(op, input)
    if len(ns) == 0 or input.ndim < len(ns) or tuple(input.shape[input.ndim - len(ns):]) != ns:
        raise ShapeError(f"{op}: Given normalized_shape={list(ns)}, expected input with shape "
                         f"[*, {', '.join(map(str, ns))}], but got input of size"
                         f"{list(input.shape)}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None:
            if tuple(t.shape) != ns:
                raise ShapeError(f"{op}: expected {name} of shape {list(ns)}, got "
                                 f"{list(t.shape)}")
            same_device(op, input, t)
    dims = tuple(range(input.ndim - len(ns), input.ndim))
    mean = input.mean(dims, keepdim=True)
    dev = input - mean
    var = (dev * dev).mean(dims, keepdim=True)
    y = dev / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
