"""Reductions over dims: sum, mean, max/min (values + indices, or amax/amin), var/std, argmax,
and the stable softmax / log_softmax built from them."""
from __future__ import annotations

from collections import namedtuple

from .. import dtypes
from ..tensor import Tensor  # defined before tensor.py imports the ops
from .. import creation as _creation  # after tensor: creation imports Tensor
from ..autograd import Op
from ..errors import DTypeError
from ._base import norm_dim, norm_dims, require_float
from . import elementwise as _ew
from . import movement as _mv

values_indices = namedtuple("values_indices", ["values", "indices"])


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else n for i, n in enumerate(shape))


class Sum(Op):
    """out = sum of x over dims."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        ctx.shape, ctx.dims = tuple(x.shape), dims
        if not dims:
            return ctx.backend.copy(x)
        return ctx.backend.reduce("sum", x, dims, keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, dims = ctx.shape, ctx.dims
        if not dims:
            return g, None, None
        # g broadcast back over the summed dims: one strided copy (stride 0 on those dims),
        # what reshape + expand would materialise, without building the two views
        B = ctx.backend
        kept = _kept_shape(shape, dims)
        strides = tuple(0 if i in dims else s
                        for i, s in enumerate(_mv.contiguous_strides(kept)))
        return B.strided_copy(B.reshape(g._data, kept), shape, strides, 0), None, None


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


class Extreme(Op):
    """max/min over one dim with indices; the gradient goes to the selected index."""

    @staticmethod
    def forward(ctx, x, name, dim, keepdim):
        B = ctx.backend
        idx = B.arg_reduce("argmax" if name == "max" else "argmin", x, dim, keepdim)
        vals = B.reduce(name, x, (dim,), keepdim)
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
        pos = _creation.arange(n, device=ctx.device).reshape([n if i == ctx.dim else 1
                                                          for i in range(len(ctx.shape))])
        return _ew.where(pos == idx, g, 0.0), None, None, None


class AExtreme(Op):
    """amax/amin over dims; ties share the gradient evenly (like torch.amax).  With `nan_ties`
    (max()/min() without dim) a NaN result counts as a tie with every NaN element, PyTorch's
    evenly_distribute_backward; amax's NaN result matches nothing, so its gradient is NaN as
    in PyTorch."""

    @staticmethod
    def forward(ctx, x, name, dims, keepdim, nan_ties=False):
        out = ctx.backend.reduce(name, x, dims, keepdim)
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim, ctx.nan_ties = dims, keepdim, nan_ties
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if not ctx.keepdim:
            kept = _kept_shape(x.shape, ctx.dims)
            g, out = g.reshape(kept), out.reshape(kept)
        mask = x == out
        if ctx.nan_ties:
            mask = mask.logical_or((x != x).logical_and(out != out))
        mask = mask.to(g.dtype)
        count = mask.sum(ctx.dims, keepdim=True)
        return mask * (g / count), None, None, None, None


def _extreme(name, x, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return _ew.binary("maximum" if name == "max" else "minimum", x, dim)
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


class ArgReduce(Op):
    """argmax/argmin along one dim, or of the flattened tensor when dim is None (int64, so no
    gradient)."""

    @staticmethod
    def forward(ctx, x, name, dim, keepdim):
        B = ctx.backend
        if dim is not None:
            return B.arg_reduce(name, x, dim, keepdim)
        out = B.arg_reduce(name, B.reshape(x, (-1,)), 0, False)
        return B.reshape(out, (1,) * len(x.shape)) if keepdim else out


def _arg(name, x, dim=None, keepdim=False):
    if x.numel() == 0:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                           "== 0.")
    if dim is None:
        return ArgReduce.apply(x, name, None, bool(keepdim))
    d = norm_dim(name, dim, x.ndim if x.ndim > 1 else 1)
    if x.ndim == 0:
        return x.new_zeros((), dtype=dtypes.int64)
    return ArgReduce.apply(x, name, d, bool(keepdim))


def argmax(x, dim=None, keepdim=False):
    """Index of the largest element along `dim` (of the flattened tensor when None), int64."""
    return _arg("argmax", x, dim, keepdim)


def argmin(x, dim=None, keepdim=False):
    """Index of the smallest element along `dim` (of the flattened tensor when None), int64."""
    return _arg("argmin", x, dim, keepdim)


class Var(Op):
    """v = sum((x - mean)^2) / max(0, n - correction) over dims (s = sqrt(v) for std);
    dv/dx = 2 (x - mean) / (n - correction), ds = dv * (g / 2s, 0 where s == 0).

    PyTorch's corners: n <= correction gives inf (NaN where every x equals the mean); over all
    dims its gradient is then g * (NaN where x == mean else inf); a constant input's std has
    gradient 0, not 0 * inf."""

    @staticmethod
    def forward(ctx, x, dims, correction, keepdim, all_dims, take_sqrt):
        B = ctx.backend
        n = 1
        for d in dims:
            n *= x.shape[d]
        mu = _scale(B, _sum(B, x, dims, True), 1.0 / n if n else float("nan"))
        dev = B.map("sub", [x, mu])
        dof = n - correction
        out = _scale(B, _sum(B, B.map("mul", [dev, dev]), dims, keepdim),
                     1.0 / dof if dof > 0 else float("inf"))
        if take_sqrt:
            out = B.map("sqrt", [out])
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


def _sum(B, a, dims, keepdim):
    """Sum of array `a` over dims (a itself when there are none: a 0-d input)."""
    return B.reduce("sum", a, dims, keepdim) if dims else a


def _scale(B, a, c):
    """a * c for a python float c, cast to a's dtype first (what Tensor * float computes)."""
    return B.map("mul", [a, B.full((), c, a.dtype)])


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
class LogSoftmaxLast(Op):
    """y = x - max - log(sum(exp(x - max))) over the last axis (the fused backend primitive);
    dx = g - exp(y) * sum(g)."""

    @staticmethod
    def forward(ctx, x):
        y = ctx.backend.log_softmax(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return ctx.backend.log_softmax_grad(g._data, y._data)


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
