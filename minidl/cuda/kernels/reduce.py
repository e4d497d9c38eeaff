"""Reduction kernels over the last axis of a C-contiguous [R, K] array (the launcher permutes the
reduced axes last with strided_copy, a copy only when they are not already trailing).
Launchers: minidl.cuda.backend.reduce.

reduce_mid[name, Tin, Tacc]  the same reduction over the outer and inner axes of [A, R, B] (only
    the middle axis kept: bias gradients), read in place; see build_reduce_mid.
reduce[name, Tin, Tacc]  name in sum / max / min.  One block per output row (grid-stride over
    rows when R exceeds the grid), blockDim.x = B threads, B a power of two chosen by the
    launcher: min(MAX_BLOCK, max(32, next_pow2(K))) on a GPU, so short rows do not idle 256
    threads (simulator: min(8, next_pow2(K))).  Thread t accumulates a[row, t], a[row, t + B],
    ... into a typed register accumulator (coalesced: consecutive threads read consecutive
    elements), writes it to shared memory, then a log2(B)-step tree halves the active threads
    each step with a barrier between steps; thread 0 writes out[row].
    Shared memory: MAX_BLOCK * sizeof(Tacc) (2 KiB for float64/int64).
    Accumulators: sum of float32/float64 in its own dtype (float32(0) typed, never float64),
    sum of int64/bool in int64; max/min start from a[row, 0] (max is idempotent, so duplicates
    are harmless and no +-inf identity is needed, which int64/bool lack) and a NaN anywhere wins.
    FLOPs R*K; bytes R*K*itemsize(Tin) + R*itemsize(out); barriers R*(log2(B) + 2).
arg_reduce[name, T]  argmax / argmin: the same mapping carrying (value, index) pairs in two
    shared arrays (MAX_BLOCK * (itemsize + 8) bytes).  The pair that wins is: a NaN over any
    number (the first NaN among NaNs), else the larger (smaller) value, else on ties the lower
    index, so the result is numpy's/torch's first extreme whatever the order of combination.
    bytes R*K*itemsize + 8R.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from ._common import DTYPES, SIMULATOR, arr, cached_kernel, inline_device

MAX_BLOCK = 8 if SIMULATOR else 256
MIN_BLOCK = 1 if SIMULATOR else 32
INT64 = np.dtype(np.int64)


def block_size(K: int) -> int:
    """Threads per block for rows of length K: a power of two in [MIN_BLOCK, MAX_BLOCK]."""
    b = MIN_BLOCK
    while b < K and b < MAX_BLOCK:
        b *= 2
    return b


def acc_dtype(name: str, dtype) -> np.dtype:
    """Accumulator and output dtype: int64 for sums of int64/bool, else the input dtype."""
    dtype = np.dtype(dtype)
    if name == "sum" and dtype.kind in "bi":
        return INT64
    return dtype


def _combine(name: str):
    # `y != y` is the NaN test (always False for ints/bools, so it folds away)
    if name == "sum":
        def combine(x, y):
            return x + y
    elif name == "max":
        def combine(x, y):
            return y if (y > x or y != y) else x
    else:
        def combine(x, y):
            return y if (y < x or y != y) else x
    return cuda.jit(device=True)(combine)


@functools.lru_cache(maxsize=None)
def block_combine(name: str):
    """Device function block(sh, tid, nt, v): combine the nt (a power of two) threads' values v
    with `name` ("sum", "max", "min"; a NaN wins max/min) into sh[0], a shared array of >= nt
    elements: each thread stores v, then a log2(nt)-step tree halves the active threads with a
    barrier after every step, so sh[0] is readable by all threads on return.  Shared by the
    reduce and log-softmax kernels."""
    combine = _combine(name)

    def block(sh, tid, nt, v):
        sh[tid] = v
        cuda.syncthreads()
        s = nt // 2
        while s > 0:
            if tid < s:
                sh[tid] = combine(sh[tid], sh[tid + s])
            cuda.syncthreads()
            s //= 2

    return inline_device(block)


def build_reduce(name: str, dtype):
    dtype = np.dtype(dtype)
    A = acc_dtype(name, dtype)
    ACC = A.type
    combine = _combine(name)
    block = block_combine(name)
    is_sum = name == "sum"

    def reduce_rows(out, a, R, K):
        sh = cuda.shared.array(MAX_BLOCK, ACC)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            base = row * K
            if is_sum:
                acc = ACC(0)
            else:
                acc = ACC(a[base])
            for j in range(tid, K, nt):
                acc = combine(acc, ACC(a[base + j]))
            block(sh, tid, nt, acc)
            if tid == 0:
                out[row] = sh[0]
            cuda.syncthreads()  # sh[0] is read before the next row overwrites it
    return reduce_rows, f"void({arr(A)}, {arr(dtype)}, int64, int64)"


def reduce_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("reduce", name, dtype, MAX_BLOCK), lambda: build_reduce(name, dtype))


def build_reduce_mid(name: str, dtype):
    """reduce_mid: out[r] = reduce over (a, b) of x[a, r, b] for x [A, R, Bn] C-contiguous,
    read in place (a bias gradient: conv's sum over (N, H, W), Linear's over rows) instead of
    permuting the reduced axes last with a copy.  One block per r (grid-stride over R), thread
    t takes flat indices i = t, t + B, ... of the A*Bn reduced elements (consecutive threads
    read consecutive b: coalesced when Bn is large; Linear's Bn = 1 reads stride R), then the
    block tree of reduce_rows.  bytes A*R*Bn*itemsize + R*itemsize(out)."""
    dtype = np.dtype(dtype)
    A = acc_dtype(name, dtype)
    ACC = A.type
    combine = _combine(name)
    block = block_combine(name)
    is_sum = name == "sum"

    def reduce_mid(out, a, NA, R, NB):
        sh = cuda.shared.array(MAX_BLOCK, ACC)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        K = NA * NB
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            if is_sum:
                acc = ACC(0)
            else:
                acc = ACC(a[row * NB])
            for i in range(tid, K, nt):
                ia = i // NB
                acc = combine(acc, ACC(a[(ia * R + row) * NB + (i - ia * NB)]))
            block(sh, tid, nt, acc)
            if tid == 0:
                out[row] = sh[0]
            cuda.syncthreads()  # sh[0] is read before the next row overwrites it
    return reduce_mid, f"void({arr(A)}, {arr(dtype)}, int64, int64, int64)"


def reduce_mid_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("reduce_mid", name, dtype, MAX_BLOCK),
                         lambda: build_reduce_mid(name, dtype))


def _better(name: str):
    # (v, i) beats (w, j)?  NaN first, then the extreme value, then the lower index.
    if name == "argmax":
        def better(v, i, w, j):
            if w != w:
                return v != v and i < j
            if v != v:
                return True
            return v > w or (v == w and i < j)
    else:
        def better(v, i, w, j):
            if w != w:
                return v != v and i < j
            if v != v:
                return True
            return v < w or (v == w and i < j)
    return cuda.jit(device=True)(better)


def build_arg_reduce(name: str, dtype):
    dtype = np.dtype(dtype)
    better = _better(name)
    NB_T = dtype.type

    def arg_reduce_rows(out, a, R, K):
        shv = cuda.shared.array(MAX_BLOCK, NB_T)
        shi = cuda.shared.array(MAX_BLOCK, np.int64)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            base = row * K
            bv = a[base]
            bi = 0
            for j in range(tid, K, nt):
                v = a[base + j]
                if better(v, j, bv, bi):
                    bv = v
                    bi = j
            shv[tid] = bv
            shi[tid] = bi
            cuda.syncthreads()
            s = nt // 2
            while s > 0:
                if tid < s and better(shv[tid + s], shi[tid + s], shv[tid], shi[tid]):
                    shv[tid] = shv[tid + s]
                    shi[tid] = shi[tid + s]
                cuda.syncthreads()
                s //= 2
            if tid == 0:
                out[row] = shi[0]
            cuda.syncthreads()
    return arg_reduce_rows, f"void(int64[::1], {arr(dtype)}, int64, int64)"


def arg_reduce_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("arg_reduce", name, dtype, MAX_BLOCK),
                         lambda: build_arg_reduce(name, dtype))


def ptx_signatures() -> list:
    out = []
    for name in ("sum", "max", "min"):
        for dt in DTYPES:
            out.append((f"reduce[{name},{dt}]",) + build_reduce(name, dt))
            out.append((f"reduce_mid[{name},{dt}]",) + build_reduce_mid(name, dt))
    for name in ("argmax", "argmin"):
        for dt in DTYPES:
            out.append((f"arg_reduce[{name},{dt}]",) + build_arg_reduce(name, dt))
    return out
