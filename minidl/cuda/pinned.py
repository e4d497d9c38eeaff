"""Page-locked (pinned) host memory: pin() copies a host array into numba pinned memory
(cuMemHostAlloc) and remembers it, is_pinned() asks.  Uploads from pinned arrays can be
asynchronous (minidl.cuda.backend.memory.from_numpy(..., non_blocking=True)).  Importing this
module does not import numba.cuda; pin() does.  Under the simulator pinned arrays are ordinary
numpy arrays, remembered the same way.

deferred_uploads() lets a prefetcher issue the next batch's upload before the current step's
kernels are queued, and order the compute stream after the copy only when it hands the batch out
(minidl.train does)."""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

__all__ = ["pin", "is_pinned", "deferred_uploads"]

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


class Uploads:
    """The asynchronous uploads issued inside one deferred_uploads() block."""

    def __init__(self, events: list):
        self._events = events

    def __len__(self) -> int:
        return len(self._events)

    def wait(self) -> None:
        """Order the compute stream after these copies: kernels queued from now on see the data.
        Call it before the first op reads an uploaded tensor."""
        if self._events:
            from .backend import memory

            memory.wait_events(self._events)
            self._events.clear()


@contextlib.contextmanager
def deferred_uploads():
    """Inside, Tensor.to("cuda", non_blocking=True) from pinned memory queues its copy on the
    copy stream but does not yet make the compute stream wait for it; the yielded Uploads' wait()
    does.  Until then no kernel may read the uploaded tensors (their values are undefined)."""
    from .backend import memory

    with memory.deferred_waits() as events:
        yield Uploads(events)
