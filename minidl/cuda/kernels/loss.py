"""Fused cross-entropy over class-index targets: the loss rows of a C-contiguous [M, C] logit
array (passed flat) and their gradient.  Launchers: minidl.cuda.backend.nn (cross_entropy,
cross_entropy_grad); the math is the CPU backend's (minidl.backend.cpu.nn._ce_fwd/_ce_bwd).

Both kernels: one block per sample row (grid-stride over rows when M exceeds the grid),
blockDim.x = B threads, B = minidl.cuda.kernels.reduce.block_size(C) (32..256 on a GPU, 1..8
under the simulator).  Thread t walks the row at t, t + B, ... (coalesced) with a typed register
accumulator; reduce.block_combine's shared-memory tree (log2(B) steps, a barrier each) combines
the partials, every thread reads sh[0], and a barrier follows before sh is reused.  Branches
around barriers depend only on the row (target, smoothing), so they are uniform per block.
Targets outside [0, C) that are not ignore_index (a bad target on the device, reported later by
minidl.cuda.checks) are treated as ignored: no out-of-bounds read.  Shared memory:
MAX_BLOCK * itemsize (1 KiB float32).

ce_fwd[T]  pass 1: m = max (a NaN wins); pass 2: s = sum exp(x - m), lse = m + log(s); with
    label smoothing pass 3: sum_c coef_c (x_c - lse), coef_c = w_c (eps/C + (1 - eps)[c == t]);
    thread 0 writes loss[row], lse[row], row_weight[row] = w[t] (0 when ignored).  FLOPs ~3C
    per row (+3C smoothing) and C expf; bytes 2-3 * C * itemsize read (C from DRAM), 3 values
    written.  Barriers 2-3 * (log2(B) + 2) per row.
ce_bwd[T]  (smoothing only: S = sum_c coef_c, one block sum), then dx = exp(x - lse) g S - g coef
    (coef read only at the target without smoothing; g S = 0 on ignored rows).  FLOPs ~4C per
    row + C expf; bytes C * itemsize read from DRAM (+ C weights), C written.

LeNet's loss (batch 64, C = 10, float32): 64 blocks of 32 threads (10 busy), ~2.5 KB read;
AlexNet's (batch 128, C = 1000): 128 blocks of 256 threads, 512 KB read, 512 KB written by
the backward.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ._common import FLOATS, arr, cached_kernel
from .reduce import MAX_BLOCK, block_combine
from .softmax import row_max_logsum


def build_ce_fwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)
    row_lse = row_max_logsum(dtype)
    block_sum = block_combine("sum")

    def ce_fwd(loss, lse, rw, x, t, w, M, C, ii, smooth, keep, epc):
        sh = cuda.shared.array(MAX_BLOCK, T)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for row in range(cuda.blockIdx.x, M, cuda.gridDim.x):
            base = row * C
            m, logsum = row_lse(sh, x, base, C, tid, nt)
            lv = m + logsum
            ti = t[row]
            valid = ti != ii and ti >= 0 and ti < C
            total = zero
            if smooth and valid:  # uniform in the block
                acc = zero
                for j in range(tid, C, nt):
                    cf = epc * w[j]
                    if j == ti:
                        cf = (keep + epc) * w[j]
                    acc += (x[base + j] - lv) * cf
                block_sum(sh, tid, nt, acc)
                total = sh[0]
                cuda.syncthreads()
            if tid == 0:
                lse[row] = lv
                if not valid:
                    loss[row] = zero
                    rw[row] = zero
                else:
                    rw[row] = w[ti]
                    if smooth:
                        loss[row] = -total
                    else:
                        loss[row] = -((x[base + ti] - lv) * w[ti])
    a = arr(dtype)
    nb = a.split("[")[0]
    return ce_fwd, (f"void({a}, {a}, {a}, {a}, int64[::1], {a}, int64, int64, int64, boolean, "
                    f"{nb}, {nb})")


def build_ce_bwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)
    block_sum = block_combine("sum")

    def ce_bwd(dx, g, x, t, w, lse, M, C, G, ii, smooth, keep, epc):
        sh = cuda.shared.array(MAX_BLOCK, T)
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        for row in range(cuda.blockIdx.x, M, cuda.gridDim.x):
            base = row * C
            ti = t[row]
            lv = lse[row]
            valid = ti != ii and ti >= 0 and ti < C
            gi = g[row] if G > 1 else g[0]
            gs = zero
            if valid:
                if smooth:  # uniform in the block
                    acc = zero
                    for j in range(tid, C, nt):
                        cf = epc * w[j]
                        if j == ti:
                            cf = (keep + epc) * w[j]
                        acc += cf
                    block_sum(sh, tid, nt, acc)
                    gs = gi * sh[0]
                    cuda.syncthreads()
                else:
                    gs = gi * w[ti]
            for j in range(tid, C, nt):
                d = math.exp(x[base + j] - lv) * gs
                if valid:
                    if smooth:
                        cf = epc * w[j]
                        if j == ti:
                            cf = (keep + epc) * w[j]
                        d -= gi * cf
                    elif j == ti:
                        d -= gi * w[ti]
                dx[base + j] = d
    a = arr(dtype)
    nb = a.split("[")[0]
    return ce_bwd, (f"void({a}, {a}, {a}, int64[::1], {a}, {a}, int64, int64, int64, int64, "
                    f"boolean, {nb}, {nb})")


_BUILDERS = {"ce_fwd": build_ce_fwd, "ce_bwd": build_ce_bwd}


def ce_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("loss", name, dtype, MAX_BLOCK), lambda: _BUILDERS[name](dtype))


def ptx_signatures() -> list:
    return [(f"{name}[{dt}]",) + build(dt) for name, build in _BUILDERS.items() for dt in FLOATS]
