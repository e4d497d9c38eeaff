"""CUDA reductions: sum / max / min over axes, argmax / argmin along one axis."""
from __future__ import annotations

import numpy as np

from ...errors import ShapeError
from ..kernels import reduce as rk
from ..kernels._common import SIMULATOR
from ._util import c_strides, flat, prod
from .memory import astype, empty, full
from .movement import strided_copy

__all__ = ["reduce", "arg_reduce"]

# One block per row; beyond this many rows a block loops over rows (grid-stride).  The simulator
# uses 2 blocks so that loop is exercised by tiny tests.
_MAX_ROW_BLOCKS = 2 if SIMULATOR else 1 << 20


def _rows(a, axes):
    """(flat [R*K] array with the reduced axes last, kept dims, R, K)."""
    nd = a.ndim
    kept = [d for d in range(nd) if d not in axes]
    R = prod(a.shape[d] for d in kept)
    K = prod(a.shape[d] for d in axes)
    if list(axes) == list(range(nd - len(axes), nd)):
        x = a
    else:  # permute kept dims first, reduced dims last: one strided copy
        perm = kept + list(axes)
        st = c_strides(a.shape)
        x = strided_copy(a, [a.shape[d] for d in perm], [st[d] for d in perm], 0)
    return flat(x), kept, R, K


def _out_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def _launch(kernel, out, x, R: int, K: int) -> None:
    kernel[min(R, _MAX_ROW_BLOCKS), rk.block_size(K)](flat(out), x, R, K)


def reduce(name: str, a, axes, keepdims: bool):
    """name in sum / max / min over `axes` (sorted, non-negative); sum of int64/bool -> int64."""
    axes = tuple(sorted(int(d) for d in axes))
    acc = rk.acc_dtype(name, a.dtype)
    if not axes:
        return astype(a, acc)
    shape = _out_shape(a.shape, axes, keepdims)
    out = empty(shape, acc)
    if out.size == 0:
        return out
    if prod(a.shape[d] for d in axes) == 0:
        if name != "sum":
            raise ShapeError(f"{name}: cannot reduce over a zero-size dimension of shape "
                             f"{list(a.shape)} (axes {list(axes)})")
        return full(shape, 0, acc)
    kept = [d for d in range(a.ndim) if d not in axes]
    if kept and kept[0] > 0 and kept == list(range(kept[0], kept[-1] + 1)):
        # one run of kept axes after reduced ones (bias gradients: conv's (0, 2, 3), Linear's
        # (0,)): reduce in place as [A, R, B], no permuting copy
        NA, R = prod(a.shape[:kept[0]]), prod(a.shape[d] for d in kept)
        NB = prod(a.shape[kept[-1] + 1:])
        rk.reduce_mid_kernel(name, a.dtype)[min(R, _MAX_ROW_BLOCKS), rk.block_size(NA * NB)](
            flat(out), flat(a), NA, R, NB)
        return out
    x, _, R, K = _rows(a, axes)
    _launch(rk.reduce_kernel(name, a.dtype), out, x, R, K)
    return out


def arg_reduce(name: str, a, axis: int, keepdims: bool):
    """argmax / argmin along `axis`: int64 index of the first extreme, NaN counting as extreme."""
    axes = (int(axis),)
    shape = _out_shape(a.shape, axes, keepdims)
    out = empty(shape, np.int64)
    if out.size == 0:
        return out
    if a.shape[axis] == 0:
        raise ShapeError(f"{name}: cannot reduce over a zero-size dimension of shape "
                         f"{list(a.shape)} (axis {axis})")
    x, _, R, K = _rows(a, axes)
    _launch(rk.arg_reduce_kernel(name, a.dtype), out, x, R, K)
    return out
