"""Reductions over dims: sum, mean, max/min (values + indices, or amax/amin), var/std, argmax,
and the stable softmax / log_softmax built from them."""
from __future__ import annotations

from collections import namedtuple

from .. import dtypes
from .. import tensor as _tensor
from ..autograd import Function
from ..errors import DTypeError
from ._base import norm_dim, norm_dims, require_float

values_indices = namedtuple("values_indices", ["values", "indices"])


def _wrap(arr, device):
    return _tensor.Tensor._wrap(arr, device)


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class Sum(Function):
    """out = sum of x over dims."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = tuple(x.shape), dims
        if not dims:
            return x.clone()
        return _wrap(x._backend.reduce("sum", x._data, dims, keepdim), x.device)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(_kept_shape(ctx.shape, ctx.dims)).expand(*ctx.shape), None, None


def sum(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    return Sum.apply(x, norm_dims("sum", dim, x.ndim), bool(keepdim))


def mean(x, dim=None, keepdim=False, dtype=None):
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise DTypeError("mean(): could not infer output dtype. Input dtype must be either a floating "
                         f"point or complex dtype. Got: {x.dtype}")
    dims = norm_dims("mean", dim, x.ndim)
    n = 1
    for d in dims:
        n *= x.shape[d]
    return sum(x, dims, keepdim) * (1.0 / n if n else float("nan"))


class Extreme(Function):
    """max/min over one dim with indices; the gradient goes to the selected index."""

    @staticmethod
    def forward(ctx, x, name, dim, keepdim):
        B = x._backend
        arg = "argmax" if name == "max" else "argmin"
        idx = _wrap(B.arg_reduce(arg, x._data, dim, True), x.device)
        vals = x.gather(dim, idx)
        if not keepdim:
            vals, idx = vals.squeeze(dim), idx.squeeze(dim)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.dim, ctx.keepdim = tuple(x.shape), dim, keepdim
        ctx.mark_non_differentiable(idx)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi):
        (idx,) = ctx.saved_tensors
        if not ctx.keepdim:
            g, idx = g.unsqueeze(ctx.dim), idx.unsqueeze(ctx.dim)
        from ..tensor import zeros
        out = zeros(*ctx.shape, dtype=g.dtype, device=g.device)
        return out.scatter_add(ctx.dim, idx, g), None, None, None


class AExtreme(Function):
    """amax/amin over dims; ties share the gradient evenly (like torch.amax)."""

    @staticmethod
    def forward(ctx, x, name, dims, keepdim):
        out = _wrap(x._backend.reduce(name, x._data, dims, True), x.device)
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim = dims, keepdim
        if not keepdim:
            out = out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if not ctx.keepdim:
            g = g.reshape(out.shape)
        mask = (x == out).to(g.dtype)
        count = mask.sum(ctx.dims, keepdim=True)
        return mask * (g / count), None, None, None


def _extreme(name, x, dim=None, keepdim=False):
    from ..tensor import Tensor

    if isinstance(dim, Tensor):
        from .elementwise import binary
        return binary("maximum" if name == "max" else "minimum", x, dim)
    if x.numel() == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                           "Specify the reduction dim with the 'dim' argument.")
    if dim is None:
        return AExtreme.apply(x, name, tuple(range(x.ndim)), False)
    d = norm_dim(name, dim, x.ndim)
    if x.ndim == 0:
        return values_indices(x.clone(), x.new_zeros((), dtype=dtypes.int64))
    return values_indices(*Extreme.apply(x, name, d, bool(keepdim)))


def max(x, dim=None, keepdim=False):
    return _extreme("max", x, dim, keepdim)


def min(x, dim=None, keepdim=False):
    return _extreme("min", x, dim, keepdim)


def amax(x, dim=(), keepdim=False):
    dims = norm_dims("amax", None if dim == () else dim, x.ndim)
    return AExtreme.apply(x, "max", dims, bool(keepdim)) if dims else x.clone()


def amin(x, dim=(), keepdim=False):
    dims = norm_dims("amin", None if dim == () else dim, x.ndim)
    return AExtreme.apply(x, "min", dims, bool(keepdim)) if dims else x.clone()


def _arg(name, x, dim=None, keepdim=False):
    if x.numel() == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() == 0.")
    if dim is None:
        out = _wrap(x._backend.arg_reduce(name, x.reshape(-1)._data, 0, False), x.device)
        return out.reshape((1,) * x.ndim) if keepdim else out
    d = norm_dim(name, dim, builtins_max(x.ndim, 1))
    if x.ndim == 0:
        return x.new_zeros((), dtype=dtypes.int64)
    return _wrap(x._backend.arg_reduce(name, x._data, d, bool(keepdim)), x.device)


def argmax(x, dim=None, keepdim=False):
    return _arg("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    return _arg("argmin", x, dim, keepdim)


def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance with Bessel's correction by default (correction=1), like torch.var."""
    require_float("var", x)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dims = norm_dims("var", dim, x.ndim)
    n = 1
    for d in dims:
        n *= x.shape[d]
    mu = mean(x, dims, keepdim=True)
    dev = x - mu
    denom = n - correction
    return sum(dev * dev, dims, keepdim) * (1.0 / denom if denom > 0 else float("nan"))


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return var(x, dim, unbiased, keepdim, correction).sqrt()


def all(x, dim=None, keepdim=False):
    return sum(x.bool().logical_not(), dim, keepdim) == 0


def any(x, dim=None, keepdim=False):
    return sum(x.bool(), dim, keepdim) > 0


# ---- softmax family ----------------------------------------------------------------------------
class Softmax(Function):
    """y = exp(x - max) / sum(exp(x - max)); dx = y * (g - sum(g * y))."""

    @staticmethod
    def forward(ctx, x, dim):
        z = x - amax(x, dim, keepdim=True)
        e = z.exp()
        y = e / e.sum(dim, keepdim=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(ctx.dim, keepdim=True)), None


class LogSoftmax(Function):
    """y = x - max - log(sum(exp(x - max))); dx = g - exp(y) * sum(g)."""

    @staticmethod
    def forward(ctx, x, dim):
        z = x - amax(x, dim, keepdim=True)
        y = z - z.exp().sum(dim, keepdim=True).log()
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - y.exp() * g.sum(ctx.dim, keepdim=True), None


def _softmax_dim(op, x, dim):
    require_float(op, x)
    if dim is None:
        # torch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return norm_dim(op, dim, builtins_max(x.ndim, 1)) if x.ndim else 0


def builtins_max(a, b):
    return a if a >= b else b


def softmax(x, dim=None, dtype=None):
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    d = _softmax_dim("softmax", x, dim)
    if x.ndim == 0:
        return x.new_ones(()) + x * 0.0
    return Softmax.apply(x, d)


def log_softmax(x, dim=None, dtype=None):
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    d = _softmax_dim("log_softmax", x, dim)
    if x.ndim == 0:
        return x * 0.0
    return LogSoftmax.apply(x, d)
