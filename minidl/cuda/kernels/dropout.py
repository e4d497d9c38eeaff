"""Dropout-mask kernel: mask[i] = 1 / (1 - p) if counter_rng's uniform at counter offset + i is
< 1 - p, else 0 -- bit-identical to the CPU backend for the same (seed, offset), because both
compile the same scalar function (minidl.backend.shared.dropout.make_keep over
counter_rng.make_uniform).  Launcher: minidl.cuda.backend.nn.

dropout_mask[T]: 1-D grid-stride loop, one thread per element (`_common.grid_1d`: 256 threads
    per block, min(ceil(n / 256), 32 * SMs) blocks; simulator: 16 threads, <= 2 blocks); no
    shared memory, no per-thread RNG state (the value is a pure uint64 hash of (seed,
    offset + i)), so any grid shape gives the same mask.  q = 1 - p and scale = 1 / q arrive
    as T scalars computed on the host (the same ones the CPU uses).
    FLOPs per element: ~12 integer ops + 1 compare.  Bytes: n * itemsize written, nothing read.
    AlexNet (per image, float32): fc6 and fc7 outputs, 4,096 elements each: 16 KB written per
    mask; the op then multiplies x * mask (the elementwise map kernel).
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ...backend.shared.dropout import make_keep
from ._common import FLOATS, arr, cached_kernel, device, nb


def build_dropout_mask(dtype):
    keep = device(make_keep(np.dtype(dtype).type, device))

    def dropout_mask(out, seed, offset, q, scale):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = keep(seed, offset + np.uint64(i), q, scale)  # uint64 + uint64: no float
    t = nb(dtype)
    return dropout_mask, f"void({arr(dtype)}, uint64, uint64, {t}, {t})"


def dropout_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("dropout_mask", dtype), lambda: build_dropout_mask(dtype))


def ptx_signatures() -> list:
    return [(f"dropout_mask[{dt}]",) + build_dropout_mask(dt) for dt in FLOATS]
