"""Shape helpers shared by the CUDA launchers (pure Python on tuples; no numba import here)."""
from __future__ import annotations

import warnings

import numpy as np

from ...errors import ShapeError
from ..kernels.elementwise import MAX_ND

_U64 = (1 << 64) - 1


def prod(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def flat(a):
    """1-D view of a C-contiguous device array with at least one element (0-d -> shape (1,))."""
    return a if a.ndim == 1 else a.reshape(a.size)


def c_strides(shape) -> tuple:
    """Element strides of a C-contiguous array of `shape`."""
    st, acc = [], 1
    for n in reversed(shape):
        st.append(acc)
        acc *= int(n)
    return tuple(reversed(st))


def broadcast_strides(shape, out_shape) -> tuple:
    """Element strides reading a C-contiguous `shape` as `out_shape` (0 on broadcast dims)."""
    lead = len(out_shape) - len(shape)
    st = c_strides(shape)
    return tuple(0 if k < lead or shape[k - lead] == 1 else st[k - lead]
                 for k in range(len(out_shape)))


def coalesce(shape, strides_list, op: str):
    """Drop size-1 dims and merge adjacent dims that every array walks contiguously.

    Returns (shape, [strides per array]) with 1 <= ndim <= MAX_ND, so a [N, C, H, W] + [C, 1, 1]
    broadcast becomes 3 dims and a contiguous add becomes 1 dim."""
    dims = []
    for k, n in enumerate(shape):
        if n == 1:
            continue
        st = [s[k] for s in strides_list]
        if dims:
            pn, pst = dims[-1]
            if all(ps == s * n for ps, s in zip(pst, st)):
                dims[-1] = (pn * n, st)
                continue
        dims.append((n, st))
    if not dims:
        return (1,), [(0,) for _ in strides_list]
    if len(dims) > MAX_ND:
        raise ShapeError(f"{op}: the CUDA backend supports at most {MAX_ND} dims after merging "
                         f"contiguous ones, got shape {list(shape)}")
    return (tuple(int(n) for n, _ in dims),
            [tuple(int(st[j]) for _, st in dims) for j in range(len(strides_list))])


def launch_1d(kernel, n: int, *args) -> None:
    """Launch a grid-stride kernel over n > 0 elements (see kernels._common.grid_1d)."""
    from ..kernels._common import grid_1d

    blocks, threads = grid_1d(n)
    kernel[blocks, threads](*args)


def launch_counter_rng(kernel, out, seed: int, offset: int, *params) -> None:
    """Launch a counter-based random kernel (random, dropout) filling the non-empty `out`:
    kernel(flat(out), seed, offset, *params) with seed and offset as uint64 (taken mod 2**64)."""
    from ..kernels._common import SIMULATOR

    args = (kernel, out.size, flat(out), np.uint64(int(seed) & _U64),
            np.uint64(int(offset) & _U64), *params)
    if SIMULATOR:  # the simulator hashes with numpy uint64 scalars, which warn on wraparound
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
            launch_1d(*args)
    else:
        launch_1d(*args)
