"""Fused, numerically stable log-softmax over the last axis of a C-contiguous [R, K] array
(passed flat) and its backward.  Launchers: minidl.cuda.backend.nn.

Both kernels: one block per row (grid-stride over rows when R exceeds the grid), blockDim.x = B
threads, B a power of two from minidl.cuda.kernels.reduce.block_size(K) (32..256 on a GPU, 1..8
under the simulator).  Thread t walks the row at t, t + B, ... (coalesced), keeping a typed
register accumulator; a shared-memory tree of log2(B) steps with a barrier per step combines
the B partials; every thread then reads the result from shared memory before a closing barrier
(so the next row may reuse the array).  Shared memory: MAX_BLOCK * itemsize (1 KiB float32).

log_softmax_fwd[T]  pass 1: m = max (a NaN wins); pass 2: s = sum exp(x - m); pass 3:
    y = (x - m) - log(s).  x is read 3 times (L1/L2 hits after the first for K <= a few
    thousand).  FLOPs per row ~4K + log; bytes 3*K*itemsize read (K from DRAM) + K*itemsize
    written; barriers 2*(log2(B) + 2) per row.
log_softmax_bwd[T]  pass 1: S = sum g; pass 2: dx = g - exp(y) * S.  FLOPs ~4K per row;
    bytes 3*K*itemsize (g twice, y once) + K*itemsize written.

AlexNet's classifier (per image, float32): one row of K = 1000 logits: fwd ~4,000 FLOPs + 1,000
expf, 4 KB read from DRAM + 4 KB written; one 256-thread block (a batch of 128 images: 128
blocks).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ._common import FLOATS, arr, cached_kernel, inline_device
from .reduce import MAX_BLOCK, block_combine


def row_max_logsum(dtype):
    """Device function (sh, x, base, K, tid, nt) -> (m, log(sum_j exp(x[base + j] - m))) over
    the row x[base:base + K], the same in every thread of the block: m = the row's max (a NaN
    wins), two block reductions through the shared array sh, and a closing barrier so the
    caller may reuse sh.  Shared by log-softmax and the fused cross-entropy."""
    zero = np.dtype(dtype).type(0)
    block_max = block_combine("max")
    block_sum = block_combine("sum")

    def row(sh, x, base, K, tid, nt):
        m = x[base]
        for j in range(tid, K, nt):
            v = x[base + j]
            if v > m or v != v:
                m = v
        block_max(sh, tid, nt, m)
        m = sh[0]
        cuda.syncthreads()  # everyone has m before sh is reused for the sum
        acc = zero
        for j in range(tid, K, nt):
            acc += math.exp(x[base + j] - m)
        block_sum(sh, tid, nt, acc)
        logsum = math.log(sh[0])
        cuda.syncthreads()  # sh[0] is read before the caller reuses sh
        return m, logsum

    return inline_device(row)


def build_log_softmax_fwd(dtype):
    T = np.dtype(dtype).type
    row_lse = row_max_logsum(dtype)

    def log_softmax_fwd(y, x, R, K):
        sh = cuda.shared.array(MAX_BLOCK, T)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            base = row * K
            m, lse = row_lse(sh, x, base, K, tid, nt)
            for j in range(tid, K, nt):
                y[base + j] = (x[base + j] - m) - lse  # not x - (m + lse): keeps x == m exact
    a = arr(dtype)
    return log_softmax_fwd, f"void({a}, {a}, int64, int64)"


def build_log_softmax_bwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)
    block_sum = block_combine("sum")

    def log_softmax_bwd(dx, g, y, R, K):
        sh = cuda.shared.array(MAX_BLOCK, T)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for row in range(cuda.blockIdx.x, R, cuda.gridDim.x):
            base = row * K
            acc = zero
            for j in range(tid, K, nt):
                acc += g[base + j]
            block_sum(sh, tid, nt, acc)
            total = sh[0]
            for j in range(tid, K, nt):
                dx[base + j] = g[base + j] - math.exp(y[base + j]) * total
            cuda.syncthreads()
    a = arr(dtype)
    return log_softmax_bwd, f"void({a}, {a}, {a}, int64, int64)"


_BUILDERS = {"log_softmax_fwd": build_log_softmax_fwd, "log_softmax_bwd": build_log_softmax_bwd}


def softmax_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("softmax", name, dtype, MAX_BLOCK), lambda: _BUILDERS[name](dtype))


def ptx_signatures() -> list:
    return [(f"{name}[{dt}]",) + build(dt) for name, build in _BUILDERS.items() for dt in FLOATS]
