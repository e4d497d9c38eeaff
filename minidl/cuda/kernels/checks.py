"""Device-side argument checks that must not stall the host (minidl.cuda.checks reads their
result at the next synchronisation).

target_check: records the first class-index target outside [0, C) (other than ignore_index) in
    a persistent int64 state [flag, value], unless the state already holds an earlier failure.
    Launch: one block of TPB threads (256; simulator: 16) -- targets are a batch's worth, so one
    block suffices and the first offender is found without atomics.  Thread j scans indices
    j, j + TPB, ... and stops at its first offender; a shared-memory (TPB int64) tree
    min-reduction gives the smallest index, and thread 0 writes the state.
    FLOPs: none (3 compares per target).  Bytes: 8 n read, 16 written at most.
"""
from __future__ import annotations

from numba import cuda, int64

from ._common import SIMULATOR, cached_kernel

TPB = 16 if SIMULATOR else 256
_SIG = "void(int64[::1], int64, int64, int64[::1])"


def _target_check(t, C, ignore, state):
    first_idx = cuda.shared.array(TPB, int64)
    tid = cuda.threadIdx.x
    n = t.shape[0]
    first = n
    i = tid
    while i < n:
        v = t[i]
        if v != ignore and (v < 0 or v >= C):
            first = i
            break  # this thread's later indices are larger
        i += TPB
    first_idx[tid] = first
    cuda.syncthreads()
    s = TPB // 2
    while s > 0:
        if tid < s and first_idx[tid + s] < first_idx[tid]:
            first_idx[tid] = first_idx[tid + s]
        cuda.syncthreads()
        s //= 2
    if tid == 0 and first_idx[0] < n and state[0] == 0:
        state[1] = t[first_idx[0]]
        state[0] = 1


def target_check_kernel():
    return cached_kernel(("target_check",), lambda: (_target_check, _SIG))


PTX_SIGNATURES = [("target_check", _target_check, _SIG)]
