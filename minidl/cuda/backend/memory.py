"""CUDA memory primitives: host <-> device copies, allocation, fill, arange, astype, copies.

Every device array comes from the current device's caching allocator (minidl.cuda.memory): in
steady state no allocation reaches the driver.  Host <-> device copies are counted there too.
"""
from __future__ import annotations

import numpy as np

from .. import _current, checks
from ..kernels import elementwise as ek
from ..memory import allocator, transfer_counts
from ._util import flat, launch_1d, prod

__all__ = ["from_numpy", "to_numpy", "empty", "full", "arange", "astype", "copy", "reshape",
           "copy_into"]


def from_numpy(a):
    """Host array -> new C-contiguous device array of the same dtype and shape (0-d kept)."""
    a = np.asarray(a, order="C")
    out = empty(a.shape, a.dtype)
    if a.size:
        transfer_counts["h2d"] += 1
        out.copy_to_device(a)
    return out


def to_numpy(a):
    """Device array -> new host array (bool stays np.bool_); waits for queued kernels, so it
    also reports the checks deferred to this synchronisation (minidl.cuda.checks)."""
    if checks._dirty:
        checks.flush()
    transfer_counts["d2h"] += 1
    return a.copy_to_host()


def empty(shape, dtype):
    """Uninitialised C-contiguous device array from the current device's pool."""
    return allocator(_current[0]).array(shape, dtype)


def full(shape, value, dtype):
    dtype = np.dtype(dtype)
    out = empty(shape, dtype)
    if out.size:
        launch_1d(ek.fill_kernel(dtype), out.size, flat(out), dtype.type(value))
    return out


def arange(start, step, n: int, dtype):
    """[start + i * step for i < n], computed in float64 (float dtypes) or int64, then cast."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return astype(arange(start, step, n, np.int64), dtype)
    out = empty((int(n),), dtype)
    if n > 0:
        P = ek.arange_param_dtype(dtype).type
        launch_1d(ek.arange_kernel(dtype), out.size, out, P(start), P(step))
    return out


def astype(a, dtype):
    """New array of `dtype` (float -> int truncates toward zero, x -> bool is x != 0)."""
    dtype = np.dtype(dtype)
    if np.dtype(a.dtype) == dtype:
        return copy(a)
    out = empty(a.shape, dtype)
    if out.size:
        launch_1d(ek.cast_kernel(a.dtype, dtype), out.size, flat(out), flat(a))
    return out


def copy(a):
    """New C-contiguous array equal to `a` (device-to-device memcpy)."""
    out = empty(a.shape, a.dtype)
    if a.size:
        out.copy_to_device(a)
    return out


def reshape(a, shape):
    """View of C-contiguous `a` with a new shape of the same size."""
    shape = tuple(int(s) for s in shape)
    assert prod(shape) == a.size or -1 in shape, (a.shape, shape)
    return a.reshape(shape)


def copy_into(dst, src) -> None:
    """dst[...] = src (same shape and dtype), device-to-device."""
    if src.size:
        dst.copy_to_device(src)
