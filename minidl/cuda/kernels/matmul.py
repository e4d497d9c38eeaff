"""Batched matrix product c[b] = a[b] @ b[b] for a [B, M, K], b [B, K, N], c [B, M, N], all
C-contiguous float32 or float64.  Launcher: minidl.cuda.backend.matmul.

matmul[T, BM, BN, BK, TM, TN]: shared-memory tiled GEMM with register blocking.
    Block (bx, by, bz) computes the BM x BN tile of c at rows by*BM.., cols bx*BN.. of batch bz
    (grid-stride over batches in z, so B may exceed gridDim.z's 65535).  Its NT =
    (BM/TM) * (BN/TN) threads, thread (tx, ty), own TM x TN outputs at rows ty + i*(BM/TM), cols
    tx + j*(BN/TN) (interleaved, so a warp's stores to c and reads of the B tile are consecutive
    addresses).  Loop over ceil(K / BK) k-tiles: all threads stage the BM x BK tile of a
    (k fastest across threads: coalesced global reads; stored transposed as As[k][m] with one
    column of padding against bank conflicts) and the BK x BN tile of b into shared memory,
    every load guarded (out-of-range elements load 0, so partial tiles need no special case),
    barrier, then BK rank-1 updates of the TM x TN register accumulator (typed T(0); each
    shared value read feeds TN or TM FMAs), barrier.  Guarded stores.
    GPU config: BM = BN = 64, BK = 16, TM = TN = 4 -> 256 threads, 16 outputs per thread;
    grid (ceil(N/64), ceil(M/64), min(B, 65535)).  Simulator: BM = BN = 8, BK = 4, TM = TN = 2
    (16 threads) so tests can cross tile edges with tiny matrices.
    launch_bounds=(256, 2): <= 128 registers, so two blocks (16 warps) fit per SM.
    Shared memory: (BK*(BM+1) + BK*BN) * itemsize = 8.3 KiB (float32), 16.5 KiB (float64).
    FLOPs 2*B*M*N*K.  Global bytes: a is read ceil(N/BN) times and b ceil(M/BM) times:
    itemsize * B * (M*K*ceil(N/64) + K*N*ceil(M/64) + M*N).
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda

from ._common import FLOATS, SIMULATOR, arr, cached_kernel, inline_device

# (BM, BN, BK, TM, TN)
CONFIG = (8, 8, 4, 2, 2) if SIMULATOR else (64, 64, 16, 4, 4)
GPU_CONFIG = (64, 64, 16, 4, 4)


def threads(config=CONFIG) -> tuple[int, int]:
    """blockDim (x, y) for a config."""
    BM, BN, BK, TM, TN = config
    return BN // TN, BM // TM


def tile_ops(dtype, config):
    """(clear, update, store): the device functions of one thread's share of a tiled GEMM with
    config (BM, BN, BK, TM, TN), used by matmul and the implicit-GEMM conv kernels.

    clear(acc) zeroes the TM x TN accumulator (typed T(0)); update(acc, As, Bs, tx, ty) does the
    BK rank-1 updates of one staged k-tile: acc[i, j] += As[kk, ty + i*NTY] * Bs[kk, tx + j*NTX]
    for kk = 0..BK-1, each shared value read once into a register and used TN (TM) times;
    store(c, z, roff, acc, row0, col0, M, N, tx, ty) writes acc[i, j] to
    c[z, roff + row0 + ty + i*NTY, col0 + tx + j*NTX] where the row is < M and the column < N.
    Inlined at the numba IR level; all sizes are closure constants, so NVVM unrolls the loops and
    keeps acc in registers."""
    return _tile_ops(np.dtype(dtype), tuple(config))


@functools.lru_cache(maxsize=None)
def _tile_ops(dtype, config):
    BM, BN, BK, TM, TN = config
    NTX, NTY = BN // TN, BM // TM
    T = dtype.type
    zero = T(0)

    def clear(acc):
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = zero

    def update(acc, As, Bs, tx, ty):
        areg = cuda.local.array(TM, T)
        breg = cuda.local.array(TN, T)
        for kk in range(BK):
            for i in range(TM):
                areg[i] = As[kk, ty + i * NTY]
            for j in range(TN):
                breg[j] = Bs[kk, tx + j * NTX]
            for i in range(TM):
                for j in range(TN):
                    acc[i, j] += areg[i] * breg[j]

    def store(c, z, roff, acc, row0, col0, M, N, tx, ty):
        for i in range(TM):
            gm = row0 + ty + i * NTY
            if gm < M:
                for j in range(TN):
                    gn = col0 + tx + j * NTX
                    if gn < N:
                        c[z, roff + gm, gn] = acc[i, j]

    return inline_device(clear), inline_device(update), inline_device(store)


def build_matmul(dtype, config=CONFIG):
    BM, BN, BK, TM, TN = config
    NTX, NTY = BN // TN, BM // TM
    NT = NTX * NTY
    assert (BM * BK) % NT == 0 and (BK * BN) % NT == 0, "each thread loads whole tile elements"
    A_LOADS, B_LOADS = (BM * BK) // NT, (BK * BN) // NT
    AS_COLS = BM + 1  # one column of padding: the transposed tile store avoids bank conflicts
    T = np.dtype(dtype).type
    zero = T(0)
    clear, update, store = tile_ops(dtype, config)

    def matmul(c, a, b):
        nb_, M, K = a.shape
        N = b.shape[2]
        As = cuda.shared.array((BK, AS_COLS), T)
        Bs = cuda.shared.array((BK, BN), T)
        acc = cuda.local.array((TM, TN), T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * NTX + tx
        row0 = cuda.blockIdx.y * BM
        col0 = cuda.blockIdx.x * BN
        for bz in range(cuda.blockIdx.z, nb_, cuda.gridDim.z):
            clear(acc)
            for k0 in range(0, K, BK):
                for r in range(A_LOADS):
                    e = tid + r * NT
                    m = e // BK
                    kk = e - m * BK
                    gm = row0 + m
                    gk = k0 + kk
                    As[kk, m] = a[bz, gm, gk] if (gm < M and gk < K) else zero
                for r in range(B_LOADS):
                    e = tid + r * NT
                    kk = e // BN
                    n = e - kk * BN
                    gk = k0 + kk
                    gn = col0 + n
                    Bs[kk, n] = b[bz, gk, gn] if (gk < K and gn < N) else zero
                cuda.syncthreads()
                update(acc, As, Bs, tx, ty)
                cuda.syncthreads()  # the tiles are overwritten by the next k-step
            store(c, bz, 0, acc, row0, col0, M, N, tx, ty)
    a3 = arr(dtype, 3)
    # launch_bounds (NT threads, 2 blocks per SM) caps ptxas at 128 registers: unbounded it
    # takes ~150 on sm_80 (one block per SM); 3 blocks per SM would spill in float64.
    return matmul, f"void({a3}, {a3}, {a3})", {"launch_bounds": (NT, 2)}


def matmul_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("matmul", dtype, CONFIG), lambda: build_matmul(dtype))


def ptx_signatures() -> list:
    return [(f"matmul[{dt},{'x'.join(map(str, GPU_CONFIG))}]",) + build_matmul(dt, GPU_CONFIG)
            for dt in FLOATS]
