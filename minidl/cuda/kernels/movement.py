"""Data-movement kernels: strided gather/scatter-add (views: transpose, expand, slices with steps,
flips), take (gather by int64 index), put (scatter) and index_add (scatter-add).  Launchers:
minidl.cuda.backend.movement.

All are 1-D grid-stride loops over the n elements of the *contiguous* side (one thread per
element, consecutive threads -> consecutive elements), launched with `_common.grid_1d(n)` =
256 threads per block, min(ceil(n / 256), 32 * SMs) blocks (simulator: 16 threads, <= 2 blocks);
no shared memory; zero-size launches nothing.  FLOPs are index arithmetic only.

put[T]                a[index[j]] = src[j] (scatter store; the contract promises distinct
                      indices, so no atomics).  Reads coalesced, writes scattered.
                                                           bytes n (8 + 2 itemsize)
strided_copy[T, ND]   out[i] = a[offset + sum_d idx_d(i) * st[d]]: thread i decomposes its
                      output index over `shape` (ND-1 64-bit divisions) and gathers.  Strides
                      may be 0 or negative.  Writes coalesced; reads coalesced when the innermost
                      stride is +-1.                         bytes 2 n itemsize
strided_add[T, ND]    dst[offset + sum_d idx_d(i) * st[d]] += src[i]: the same mapping as a
                      read-modify-write.  The contract guarantees distinct targets, so no
                      atomics and the result is deterministic.   bytes 3 n itemsize
take[T]               out[j] = a[index[j]] (gather).        bytes n (8 + 2 itemsize)
index_add[T]          out[index[j]] += src[j] for j < n into a zero-filled out.  Repeated
                      indices make threads collide, so this is the ONE kernel in minidl.cuda
                      using atomics (cuda.atomic.add; float64 needs cc >= 6.0): a gather form
                      would need the inverse index (a sort) per call, and index_add is the
                      backward of take/embedding, where collisions are rare.  Float sums are
                      therefore order-nondeterministic in the last bits.  For bool (numpy's
                      add.at on bool is logical or) a thread with src[j] True stores True:
                      racing writers store the same value, so no atomic is needed.
                      bytes n (8 + 2 itemsize) + atomics
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ._common import DTYPES, arr, cached_kernel, strided_offset, tup
from .elementwise import MAX_ND, PTX_ND


def build_strided_copy(dtype, nd: int):
    def strided_copy(out, a, offset, shape, st):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = a[offset + strided_offset(i, shape, st)]
    return strided_copy, f"void({arr(dtype)}, {arr(dtype)}, int64, {tup(nd)}, {tup(nd)})"


def strided_copy_kernel(dtype, nd: int):
    dtype = np.dtype(dtype)
    return cached_kernel(("strided_copy", dtype, nd), lambda: build_strided_copy(dtype, nd))


def build_strided_add(dtype, nd: int):
    def strided_add(dst, src, offset, shape, st):
        for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
            o = offset + strided_offset(i, shape, st)
            dst[o] = dst[o] + src[i]
    return strided_add, f"void({arr(dtype)}, {arr(dtype)}, int64, {tup(nd)}, {tup(nd)})"


def strided_add_kernel(dtype, nd: int):
    dtype = np.dtype(dtype)
    return cached_kernel(("strided_add", dtype, nd), lambda: build_strided_add(dtype, nd))


def build_take(dtype):
    def take(out, a, index):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = a[index[i]]
    return take, f"void({arr(dtype)}, {arr(dtype)}, int64[::1])"


def take_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("take", dtype), lambda: build_take(dtype))


def build_put(dtype):
    def put(a, index, src):
        for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
            a[index[i]] = src[i]
    return put, f"void({arr(dtype)}, int64[::1], {arr(dtype)})"


def put_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("put", dtype), lambda: build_put(dtype))


def build_index_add(dtype):
    if np.dtype(dtype) == np.bool_:
        def index_or(out, index, src):
            for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
                if src[i]:
                    out[index[i]] = True
        return index_or, f"void({arr(dtype)}, int64[::1], {arr(dtype)})"

    def index_add(out, index, src):
        for i in range(cuda.grid(1), src.shape[0], cuda.gridsize(1)):
            cuda.atomic.add(out, index[i], src[i])
    return index_add, f"void({arr(dtype)}, int64[::1], {arr(dtype)})"


def index_add_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("index_add", dtype), lambda: build_index_add(dtype))


def ptx_signatures() -> list:
    out = []
    for dt in DTYPES:
        out.append((f"strided_copy[{dt},{PTX_ND}]",) + build_strided_copy(dt, PTX_ND))
        out.append((f"strided_add[{dt},{PTX_ND}]",) + build_strided_add(dt, PTX_ND))
        out.append((f"take[{dt}]",) + build_take(dt))
        out.append((f"index_add[{dt}]",) + build_index_add(dt))
        out.append((f"put[{dt}]",) + build_put(dt))
    for nd in range(1, MAX_ND + 1):
        if nd != PTX_ND:
            out.append((f"strided_copy[float32,{nd}]",) + build_strided_copy(np.float32, nd))
            out.append((f"strided_add[float64,{nd}]",) + build_strided_add(np.float64, nd))
    return out
