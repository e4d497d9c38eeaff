"""Helpers shared by the kernel families: numba type names, device-function compilation, the lazy
kernel cache, and whether we run in numba's simulator (which changes launch sizes, never code).
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
from numba import cuda, uint32, uint64

from .. import is_simulator

SIMULATOR = is_simulator()

# numba warns on every launch of fewer than 128 blocks; minidl sizes grids to the tensor, and
# small tensors legitimately launch a few blocks.  An explicit environment setting still wins.
if "NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS" not in os.environ:
    try:
        from numba.cuda.core import config as _nb_config
    except ImportError:  # older numba-cuda keeps its settings in numba.core.config
        from numba.core import config as _nb_config
    _nb_config.CUDA_LOW_OCCUPANCY_WARNINGS = 0

# numba's names for the four storage dtypes (numba calls numpy's bool "boolean").
NB_NAME = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
           np.dtype(np.int64): "int64", np.dtype(np.bool_): "boolean"}
DTYPES = tuple(NB_NAME)  # float32, float64, int64, bool
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def nb(dtype) -> str:
    """numba type name of a numpy dtype: float32 -> "float32", bool -> "boolean"."""
    return NB_NAME[np.dtype(dtype)]


def arr(dtype, ndim: int = 1) -> str:
    """numba type string of a C-contiguous array: arr(float32, 3) -> "float32[:, :, ::1]"."""
    return f"{nb(dtype)}[{', '.join([':'] * (ndim - 1) + ['::1'])}]"


def tup(ndim: int) -> str:
    """numba type string of an ndim-tuple of int64 (shapes/strides passed by value)."""
    return f"UniTuple(int64, {ndim})"


def device(pyfunc: Callable):
    """Compile a scalar Python function as a CUDA device function (inlined by NVVM at -O3).

    Typing a call to it needs a compute capability; without a GPU, minidl.cuda.ptx supplies the
    one it compiles for."""
    return cuda.jit(device=True)(pyfunc)


def inline_device(pyfunc: Callable):
    """A device function pasted into each caller at the numba IR level (inline="always"): the
    kernel's LLVM IR is what the caller would be with the body written out, and typing it needs
    no compute capability.  For the small index/tile helpers shared between kernels."""
    return cuda.jit(device=True, inline="always")(pyfunc)


def forceinline_device(pyfunc: Callable):
    """A device function NVVM always inlines (the `alwaysinline` attribute): for the large,
    generated straight-line GEMM steps, which are typed once per call signature and cost far
    less compile time than pasting them into the caller at the numba IR level.  The simulator
    takes no such option."""
    if SIMULATOR:
        return cuda.jit(device=True)(pyfunc)
    return cuda.jit(device=True, forceinline=True)(pyfunc)


def _unravel3(i, n1, n2):
    """(i0, i1, i2) of the flat index i >= 0 of a C-ordered [.., n1, n2] array: two divisions,
    each remainder as i - q*n (no second division)."""
    n12 = n1 * n2
    i0 = i // n12
    r = i - i0 * n12
    i1 = r // n2
    return i0, i1, r - i1 * n2


unravel3 = inline_device(_unravel3)


def _magic(d):
    """(m, s) with floor(a / d) == (a * m) >> s for every 0 <= a < 2**31, for a divisor
    1 <= d < 2**31 (Granlund-Montgomery with N = 31: m = ceil(2**(31+l) / d), l = ceil(log2 d),
    so m < 2**32).  One 64-bit division: compute once per block, outside the k-loop."""
    lg = uint32(0)
    while (uint64(1) << uint64(lg)) < uint64(d):
        lg += uint32(1)
    s = uint64(31) + uint64(lg)
    return uint32(((uint64(1) << s) + uint64(d) - uint64(1)) // uint64(d)), uint32(s)


def _fastdiv(a, m, s):
    """floor(a / d) for 0 <= a < 2**31 and (m, s) = magic(d): one wide multiply and a shift."""
    return uint32((uint64(a) * uint64(m)) >> uint64(s))


magic = inline_device(_magic)
fastdiv = inline_device(_fastdiv)


def _strided_offset(i, shape, st):
    """sum_d idx_d * st[d] for the C-order multi-index (idx_0, ..) of flat index i in `shape`
    (UniTuples of the same length ND): innermost dim first, ND-1 divisions (each remainder as
    rem - q*n), none for the outermost index.  Strides may be 0 (broadcast) or negative."""
    rem = i
    o = 0
    for d in range(len(shape) - 1, 0, -1):
        q = rem // shape[d]
        o += (rem - q * shape[d]) * st[d]
        rem = q
    return o + rem * st[0]


strided_offset = inline_device(_strided_offset)

_KERNELS: dict = {}


def cached_kernel(key, build: Callable):
    """The launchable kernel for `key`, built once: build() -> (pyfunc, signature string) or
    (pyfunc, signature, options) with options for cuda.jit such as launch_bounds.

    The explicit signature makes a real GPU compile exactly what minidl.cuda.inventory lists
    (and reject a launch whose argument types drift from it); the simulator ignores it and
    takes no options."""
    k = _KERNELS.get(key)
    if k is None:
        pyfunc, sig, *opts = build()
        options = {} if SIMULATOR or not opts else opts[0]
        k = _KERNELS[key] = _jit(pyfunc, sig, options)
    return k


# Compile once per machine, not per process: numba-cuda's on-disk cache (__pycache__ beside the
# kernel module, keyed by bytecode, closure values, signature, GPU and numba-cuda version).  It
# does not see edits inside called device functions: after changing one, delete the cache
# (minidl/cuda/kernels/__pycache__/*.nbi, *.nbc) or set MINIDL_CUDA_CACHE=0.
CACHE = not SIMULATOR and os.environ.get("MINIDL_CUDA_CACHE", "1") != "0"


_LIBDEVICE_MATCHED: list = []


def _jit(pyfunc, sig, options):
    if not SIMULATOR and not _LIBDEVICE_MATCHED:  # two CUDA wheels side by side (the test extra)
        from .. import toolchains

        toolchains.match_libdevice()
        _LIBDEVICE_MATCHED.append(True)
    if CACHE:
        try:
            return cuda.jit(sig, cache=True, **options)(pyfunc)
        except Exception:  # an uncacheable kernel (unpicklable closure) still compiles below
            pass
    return cuda.jit(sig, **options)(pyfunc)


_SM_COUNT: list = []


def sm_count() -> int:
    """Multiprocessors on the current GPU (1 under the simulator)."""
    if not _SM_COUNT:
        n = 1 if SIMULATOR else int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
        _SM_COUNT.append(n)
    return _SM_COUNT[0]


# Grid-stride kernels: 256 threads per block and at most 32 blocks per SM on a GPU (enough
# resident warps to hide latency, few enough that each thread loops over several elements).
# The simulator runs every thread as a Python thread, so it gets 16-thread blocks and at most 2
# blocks, which still exercises the grid-stride loop at n > 32.
THREADS_1D = 16 if SIMULATOR else 256


def grid_1d(n: int) -> tuple[int, int]:
    """(blocks, threads) for a grid-stride loop over n > 0 elements."""
    max_blocks = 2 if SIMULATOR else 32 * sm_count()
    return min((n + THREADS_1D - 1) // THREADS_1D, max_blocks), THREADS_1D
