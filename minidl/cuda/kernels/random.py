"""Random-number kernels: out[i] = U[0,1) or N(0,1) of minidl.backend.shared.counter_rng at counter
offset + i, bit-identical to the CPU backend for the same (seed, offset).  Launchers:
minidl.cuda.backend.random.

rand_uniform[T], rand_normal[T]: one thread per element in a 1-D grid-stride loop
    (`_common.grid_1d(n)`: 256 threads per block, min(ceil(n / 256), 32 * SMs) blocks;
    simulator: 16 threads, <= 2 blocks), no shared memory, no per-thread state: the element's
    value is a pure hash of (seed, offset + i) in uint64 arithmetic (two splitmix64 finaliser
    rounds), so any grid shape gives the same numbers.  The generator functions are the scalar
    ones of counter_rng compiled with cuda.jit(device=True).
    FLOPs per element: ~12 integer ops (uniform); + log, sqrt, cos (normal, Box-Muller).
    Bytes: n * itemsize written, nothing read.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ...backend.shared import counter_rng
from ._common import FLOATS, arr, cached_kernel, device


def build_rand(kind: str, dtype):
    make = counter_rng.make_uniform if kind == "uniform" else counter_rng.make_normal
    gen = device(make(np.dtype(dtype).type, device))

    def rand(out, seed, offset):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = gen(seed, offset + np.uint64(i))  # uint64 + uint64: no float promotion
    return rand, f"void({arr(dtype)}, uint64, uint64)"


def rand_kernel(kind: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("rand", kind, dtype), lambda: build_rand(kind, dtype))


def ptx_signatures() -> list:
    return [(f"rand_{kind}[{dt}]",) + build_rand(kind, dt)
            for kind in ("uniform", "normal") for dt in FLOATS]
