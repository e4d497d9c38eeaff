"""Reductions over dims: sum, mean, max/min (values + indices, or amax/amin), var/std, argmax,
and the stable softmax / log_softmax built from them."""
from __future__ import annotations

from collections import namedtuple

from .. import dtypes
from .. import tensor as _tensor
from .. import creation as _creation  # after tensor: creation imports Tensor
from ..autograd import Function
from ..errors import DTypeError
from ._base import norm_dim, norm_dims, require_float
from . import elementwise as _ew
from . import movement as _mv

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
        shape, dims = ctx.shape, ctx.dims
        if not dims:
            return g, None, None
        # g broadcast back over the summed dims: one strided copy (stride 0 on those dims),
        # what reshape + expand would materialise, without building the two views
        B = g._backend
        kept = _kept_shape(shape, dims)
        strides = tuple(0 if i in dims else s
                        for i, s in enumerate(_mv.contiguous_strides(kept)))
        return _wrap(B.strided_copy(B.reshape(g._data, kept), shape, strides, 0), g._device), \
            None, None


def _all_if_empty(dim):
    # PyTorch reduces over every dim when the dim list is empty: sum(()) == sum()
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def sum(x, dim=None, keepdim=False, dtype=None):
    """Sum over `dim` (an int, a tuple, or None or () for all); bool/int sum to int64."""
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    return Sum.apply(x, norm_dims("sum", _all_if_empty(dim), x.ndim), bool(keepdim))


def mean(x, dim=None, keepdim=False, dtype=None):
    """Mean over `dim` (an int, a tuple, or None or () for all); floating dtypes only."""
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    if not x.dtype.is_floating_point:
        raise DTypeError("mean(): could not infer output dtype. Input dtype must be either a "
                         f"floating point or complex dtype. Got: {x.dtype}")
    dims = norm_dims("mean", _all_if_empty(dim), x.ndim)
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
        vals = _wrap(B.reduce(name, x._data, (dim,), True), x.device)
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
        # a one-hot mask instead of scatter_add: the indices are valid by construction, so no
        # bounds check (a device -> host sync on CUDA) is needed
        n = ctx.shape[ctx.dim]
        pos = _creation.arange(n, device=g.device).reshape([n if i == ctx.dim else 1
                                                          for i in range(len(ctx.shape))])
        return _ew.where(pos == idx, g, 0.0), None, None, None


class AExtreme(Function):
    """amax/amin over dims; ties share the gradient evenly (like torch.amax).  With `nan_ties`
    (max()/min() without dim) a NaN result counts as a tie with every NaN element, PyTorch's
    evenly_distribute_backward; amax's NaN result matches nothing, so its gradient is NaN as
    in PyTorch."""

    @staticmethod
    def forward(ctx, x, name, dims, keepdim, nan_ties=False):
        out = _wrap(x._backend.reduce(name, x._data, dims, True), x.device)
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim, ctx.nan_ties = dims, keepdim, nan_ties
        if not keepdim:
            out = out.reshape(tuple(n for i, n in enumerate(x.shape) if i not in dims))
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if not ctx.keepdim:
            g = g.reshape(out.shape)
        mask = x == out
        if ctx.nan_ties:
            mask = mask.logical_or((x != x).logical_and(out != out))
        mask = mask.to(g.dtype)
        count = mask.sum(ctx.dims, keepdim=True)
        return mask * (g / count), None, None, None, None


def _extreme(name, x, dim=None, keepdim=False):
    from ..tensor import Tensor

    if isinstance(dim, Tensor):
        from .elementwise import binary
        return binary("maximum" if name == "max" else "minimum", x, dim)
    if x.numel() == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                           "== 0. Specify the reduction dim with the 'dim' argument.")
    if dim is None:
        return AExtreme.apply(x, name, tuple(range(x.ndim)), False, True)
    d = norm_dim(name, dim, x.ndim)
    if x.ndim == 0:
        return values_indices(x.clone(), x.new_zeros((), dtype=dtypes.int64))
    return values_indices(*Extreme.apply(x, name, d, bool(keepdim)))


def max(x, dim=None, keepdim=False):
    """The largest element; with `dim`, (values, indices) along it; with a tensor, `maximum`."""
    return _extreme("max", x, dim, keepdim)


def min(x, dim=None, keepdim=False):
    """The smallest element; with `dim`, (values, indices) along it; with a tensor, `minimum`."""
    return _extreme("min", x, dim, keepdim)


def amax(x, dim=(), keepdim=False):
    """Largest elements over `dim` (default all); the gradient is shared among ties."""
    dims = norm_dims("amax", None if dim == () else dim, x.ndim)
    return AExtreme.apply(x, "max", dims, bool(keepdim)) if dims else x.clone()


def amin(x, dim=(), keepdim=False):
    """Smallest elements over `dim` (default all); the gradient is shared among ties."""
    dims = norm_dims("amin", None if dim == () else dim, x.ndim)
    return AExtreme.apply(x, "min", dims, bool(keepdim)) if dims else x.clone()


def _arg(name, x, dim=None, keepdim=False):
    if x.numel() == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                           "== 0.")
    if dim is None:
        out = _wrap(x._backend.arg_reduce(name, x.reshape(-1)._data, 0, False), x.device)
        return out.reshape((1,) * x.ndim) if keepdim else out
    d = norm_dim(name, dim, x.ndim if x.ndim > 1 else 1)
    if x.ndim == 0:
        return x.new_zeros((), dtype=dtypes.int64)
    return _wrap(x._backend.arg_reduce(name, x._data, d, bool(keepdim)), x.device)


def argmax(x, dim=None, keepdim=False):
    """Index of the largest element along `dim` (of the flattened tensor when None), int64."""
    return _arg("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    """Index of the smallest element along `dim` (of the flattened tensor when None), int64."""
    return _arg("argmin", x, dim, keepdim)


class Var(Function):
    """v = sum((x - mean)^2) / max(0, n - correction) over dims (s = sqrt(v) for std);
    dv/dx = 2 (x - mean) / (n - correction), ds = dv * (g / 2s, 0 where s == 0).

    PyTorch's corners: n <= correction gives inf (NaN where every x equals the mean); over all
    dims its gradient is then g * (NaN where x == mean else inf); a constant input's std has
    gradient 0, not 0 * inf."""

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim, all_dims, take_sqrt):
        n = 1
        for d in dims:
            n *= x.shape[d]
        mu = mean(x, dims, keepdim=True)
        dev = x - mu
        dof = n - correction
        out = sum(dev * dev, dims, keepdim) * (1.0 / dof if dof > 0 else float("inf"))
        if take_sqrt:
            out = out.sqrt()
        ctx.save_for_backward(x, mu, out if take_sqrt else None)
        ctx.dims, ctx.keepdim, ctx.dof, ctx.all_dims = dims, keepdim, dof, all_dims
        return out

    @staticmethod
    def backward(ctx, g):
        x, mu, s = ctx.saved_tensors
        if s is not None:
            g = _ew.where(s == 0, g.new_zeros(()), g / (s * 2.0))
        if not ctx.keepdim:
            g = g.reshape(_kept_shape(x.shape, ctx.dims))
        if ctx.all_dims and ctx.dof <= 0:
            nan = x.new_zeros(()) + float("nan")
            return g * _ew.where(x == mu, nan, float("inf")), None, None, None, None, None
        scale = 2.0 / ctx.dof if ctx.dof != 0 else float("inf")
        return g * (x - mu) * scale, None, None, None, None, None


def _var(op, x, dim, unbiased, keepdim, correction, take_sqrt):
    require_float(op, x)
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    dim = _all_if_empty(dim)
    dims = norm_dims(op, dim, x.ndim)
    return Var.apply(x, dims, correction, bool(keepdim), dim is None or x.ndim == 0, take_sqrt)


def var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance with Bessel's correction by default (correction=1), like torch.var; inf when the
    correction reaches the count."""
    return _var("var", x, dim, unbiased, keepdim, correction, False)


def std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    """Standard deviation over `dim`: sqrt of `var` with the same arguments (gradient 0 where it
    is 0, like PyTorch)."""
    return _var("std", x, dim, unbiased, keepdim, correction, True)


def all(x, dim=None, keepdim=False):
    return sum(x.bool().logical_not(), dim, keepdim) == 0


def any(x, dim=None, keepdim=False):
    return sum(x.bool(), dim, keepdim) > 0


# ---- softmax family ----------------------------------------------------------------------------
class LogSoftmaxLast(Function):
    """y = x - max - log(sum(exp(x - max))) over the last axis (the fused backend primitive);
    dx = g - exp(y) * sum(g)."""

    @staticmethod
    def forward(ctx, x):
        y = _wrap(x._backend.log_softmax(x.contiguous()._data), x.device)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return _wrap(g._backend.log_softmax_grad(g.contiguous()._data, y._data), g.device)


def _softmax_dim(op, x, dim):
    require_float(op, x)
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit choice
    return norm_dim(op, dim, x.ndim if x.ndim > 1 else 1)


def log_softmax(x, dim=None, dtype=None):
    """Stable log-softmax over `dim`; another dim is moved last for the fused primitive."""
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    d = _softmax_dim("log_softmax", x, dim)
    if x.ndim == 0 or x.numel() == 0:
        return x * 0.0
    if d != x.ndim - 1:
        return LogSoftmaxLast.apply(x.transpose(d, -1)).transpose(d, -1)
    return LogSoftmaxLast.apply(x)


def softmax(x, dim=None, dtype=None):
    """Softmax = exp(log_softmax): stable, and one fused primitive plus an exp."""
    if dtype is not None:
        x = x.to(dtypes.to_dtype(dtype))
    if x.ndim == 0:
        _softmax_dim("softmax", x, dim)
        return x * 0.0 + 1.0
    return log_softmax(x, dim).exp()
