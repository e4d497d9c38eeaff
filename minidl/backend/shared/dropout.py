"""The dropout keep rule, written once: element i of a mask is `scale` where counter_rng's uniform
at counter offset + i is < q = 1 - p, else 0.  The CPU backend compiles `make_keep` with
numba.vectorize, the CUDA dropout kernel with cuda.jit(device=True): the same (seed, offset)
gives bit-identical masks on both devices.
"""
from __future__ import annotations

import numpy as np

from . import counter_rng


def make_keep(T, jit):
    """Scalar mask function (seed, counter, q, scale) -> scale if uniform < q else 0, for numpy
    scalar type T, compiled for a target by `jit` (numba.njit or cuda.jit(device=True))."""
    uniform = jit(counter_rng.make_uniform(T, jit))
    zero = T(0)

    def keep(seed, counter, q, scale):
        return scale if uniform(seed, counter) < q else zero
    return keep


def dropout_params(p: float, dtype) -> tuple:
    """(q, scale) in `dtype`: keep when uniform < q = 1 - p, kept values scaled by 1 / q."""
    T = np.dtype(dtype).type
    q = 1.0 - float(p)
    return T(q), T(1.0 / q if q > 0 else 0.0)
