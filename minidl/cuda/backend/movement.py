"""CUDA movement primitives: strided gather/scatter-add (views), take, put_, index_add."""
from __future__ import annotations

import numpy as np

from ..kernels import elementwise as ek
from ..kernels import movement as mk
from ._util import coalesce, flat, launch_1d, prod
from .memory import empty

__all__ = ["strided_copy", "strided_add_", "take", "index_add", "put_"]


def strided_copy(a, shape, strides, offset):
    """out[i] = a.flat[offset + sum(i_k * strides_k)], out C-contiguous of `shape`."""
    shape = tuple(int(s) for s in shape)
    out = empty(shape, a.dtype)
    n = prod(shape)
    if n:
        cs, (cst,) = coalesce(shape, [tuple(int(s) for s in strides)], "strided_copy")
        launch_1d(mk.strided_copy_kernel(a.dtype, len(cs)), n, flat(out), flat(a), int(offset),
                  cs, cst)
    return out


def strided_add_(dst, shape, strides, offset, src) -> None:
    """dst.flat[offset + sum(i_k * strides_k)] += src[i] in place (distinct targets)."""
    n = prod(shape)
    if n:
        cs, (cst,) = coalesce(tuple(int(s) for s in shape), [tuple(int(s) for s in strides)],
                              "strided_add_")
        launch_1d(mk.strided_add_kernel(dst.dtype, len(cs)), n, flat(dst), flat(src),
                  int(offset), cs, cst)


def take(a, index):
    """out = a.flat[index], of index's shape."""
    out = empty(index.shape, a.dtype)
    if out.size:
        launch_1d(mk.take_kernel(a.dtype), out.size, flat(out), flat(a), flat(index))
    return out


def put_(a, index, src) -> None:
    """a.flat[index.flat[j]] = src.flat[j] in place (distinct indices)."""
    if src.size:
        launch_1d(mk.put_kernel(a.dtype), src.size, flat(a), flat(index), flat(src))


def index_add(size: int, index, src):
    """out = zeros(size); out[index.flat[j]] += src.flat[j] (atomics; bool: logical or)."""
    dtype = np.dtype(src.dtype)
    out = empty((int(size),), dtype)
    if size:
        launch_1d(ek.fill_kernel(dtype), out.size, out, dtype.type(0))
    if src.size:
        launch_1d(mk.index_add_kernel(dtype), src.size, out, flat(index), flat(src))
    return out
