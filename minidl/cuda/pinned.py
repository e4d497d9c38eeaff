"""Page-locked (pinned) host memory: pin() copies a host array into numba pinned memory
(cuMemHostAlloc) and remembers it, is_pinned() asks.  Uploads from pinned arrays can be
asynchronous (minidl.cuda.backend.memory.from_numpy(..., non_blocking=True)).  Importing this
module does not import numba.cuda; pin() does.  Under the simulator pinned arrays are ordinary
numpy arrays, remembered the same way."""
from __future__ import annotations

import weakref

import numpy as np

__all__ = ["pin", "is_pinned"]

# pinned host arrays made by pin(), by id: a view is pinned when its root array is here
_PINNED: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()


def _root(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def is_pinned(a) -> bool:
    """Whether host array `a` (or the array it views) is page-locked memory from pin()."""
    if not isinstance(a, np.ndarray):
        return False
    root = _root(a)
    return _PINNED.get(id(root)) is root


def pin(a) -> np.ndarray:
    """A page-locked host copy of `a` (itself when already pinned): the DMA engine reads it
    directly, so an upload from it need not wait."""
    from . import require

    require()
    a = np.asarray(a)
    if is_pinned(a):
        return a
    from numba import cuda

    out = cuda.pinned_array(a.shape, a.dtype)
    np.copyto(out, a)
    _PINNED[id(out)] = out
    return out
