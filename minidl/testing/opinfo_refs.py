"""Numpy references of the foundation ops (reductions, softmax, movement, activations): each
written directly in numpy, never calling minidl, so a row's forward test compares two
independent implementations.  The nn/conv families keep theirs beside their rows.
"""
from __future__ import annotations

import math
import warnings

import numpy as np


def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def ref_gelu(x, approximate="none"):
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


def ref_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def ref_leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def ref_softmax(x, dim):
    if x.ndim == 0:
        return np.ones_like(x)
    z = x - np.max(x, axis=dim, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=dim, keepdims=True)


def ref_log_softmax(x, dim):
    if x.ndim == 0:
        return np.zeros_like(x)
    z = x - np.max(x, axis=dim, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


def ref_pad(x, pad, mode="constant", value=0.0):
    sl, widths = [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        sl[d] = slice(max(0, -lo), x.shape[d] - max(0, -hi))
        widths[d] = (max(lo, 0), max(hi, 0))
    return np.pad(x[tuple(sl)], widths, mode="constant", constant_values=value)


def ref_gather(x, dim, index):
    # torch allows index smaller than x in the other dims; take_along_axis wants equal sizes
    sl = tuple(slice(0, index.shape[k]) if k != dim % x.ndim else slice(None)
               for k in range(x.ndim))
    return np.take_along_axis(x[sl], index, axis=dim)


def ref_scatter_add(x, dim, index, src):
    out = x.copy()
    d = dim % x.ndim
    pos = list(np.indices(index.shape, sparse=False))
    pos[d] = index
    np.add.at(out, tuple(pos), src)
    return out


def _axes(dim, ndim):
    if dim is None or ndim == 0:  # a 0-d tensor takes dim 0 / -1 and reduces nothing
        return None
    return dim if isinstance(dim, int) else tuple(dim)


def ref_sum(x, dim=None, keepdim=False):
    if np.ndim(x) == 0:
        return x.copy()
    return np.sum(x, axis=_axes(dim, x.ndim), keepdims=keepdim, dtype=x.dtype)


def ref_mean(x, dim=None, keepdim=False):
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.mean(x, axis=_axes(dim, x.ndim), keepdims=keepdim), dtype=x.dtype)


def ref_var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.var(x, axis=_axes(dim, x.ndim), ddof=correction, keepdims=keepdim),
                          dtype=x.dtype)


def ref_std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return np.sqrt(ref_var(x, dim, unbiased, keepdim, correction))


def ref_extreme(fn):
    """amax/amin: dim=() means every dim (torch's default)."""
    def ref(x, dim=(), keepdim=False):
        return np.asarray(fn(x, axis=None if dim == () else _axes(dim, x.ndim), keepdims=keepdim))
    return ref


def ref_max_dim(x, dim, keepdim=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    return (np.max(x, axis=dim, keepdims=keepdim),
            np.argmax(x, axis=dim, keepdims=keepdim).astype(np.int64))


def ref_min_dim(x, dim, keepdim=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    return (np.min(x, axis=dim, keepdims=keepdim),
            np.argmin(x, axis=dim, keepdims=keepdim).astype(np.int64))


def ref_arg(fn):
    def ref(x, dim=None, keepdim=False):
        if x.ndim == 0:
            return np.zeros((), np.int64)
        return np.asarray(fn(x, axis=dim, keepdims=keepdim), dtype=np.int64)
    return ref


def ref_squeeze(x, dim=None):
    if dim is None:
        return np.squeeze(x)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d % max(x.ndim, 1) for d in dims if x.ndim and x.shape[d] == 1)
    return np.squeeze(x, axis=dims) if dims else x.copy()


def ref_expand(x, *sizes):
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return np.broadcast_to(x, shape).copy()


def ref_clamp(x, min=None, max=None):
    out = x
    if min is not None:
        out = np.maximum(out, min)
    if max is not None:
        out = np.minimum(out, max)
    return np.asarray(out, dtype=x.dtype)


def ref_flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1 if x.size else int(np.prod(x.shape[s:e + 1])),)
                     + x.shape[e + 1:])
