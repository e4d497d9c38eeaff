"""CUDA memory primitives: host <-> device copies, allocation, fill, arange, astype, copies.

Every device array comes from the current device's caching allocator (minidl.cuda.memory): in
steady state no allocation reaches the driver.  Host <-> device copies are counted there too.

Pinned uploads: from_numpy(a, non_blocking=True) of an array pinned by minidl.cuda.pinned.pin()
queues the copy on a per-device copy stream into a block of that stream's pool and returns at
once (_upload_async: the ordering; deferred_waits: the compute stream's wait made later).
"""
from __future__ import annotations

import contextlib

import numpy as np
from numba import cuda

from .. import _current, checks, is_simulator
from ..kernels import elementwise as ek
from ..memory import allocator, transfer_counts
from ..pinned import is_pinned
from ._util import flat, launch_1d, prod

__all__ = ["from_numpy", "to_numpy", "empty", "full", "arange", "astype", "copy", "reshape",
           "copy_into"]


def from_numpy(a, non_blocking: bool = False):
    """Host array -> new C-contiguous device array of the same dtype and shape (0-d kept).  A
    C-contiguous array is read in place (no host copy).  non_blocking and `a` pinned (pin()):
    the copy is queued on the copy stream and the host does not wait (_upload_async); otherwise
    it is a synchronous copy (as in PyTorch, non_blocking from pageable memory does not
    overlap)."""
    a = np.asarray(a, order="C")
    if a.size and non_blocking and is_pinned(a):
        transfer_counts["h2d"] += 1
        return _upload_async(a)
    out = empty(a.shape, a.dtype)
    if a.size:
        transfer_counts["h2d"] += 1
        out.copy_to_device(a)
    return out


# per device: the copy stream; uploads in flight as (done event, host array kept alive)
_COPY_STREAMS: dict = {}
_IN_FLIGHT: list = []
async_uploads = [0]  # uploads queued on a copy stream (tests read it)
# innermost deferred_waits() block: the done events of its uploads, waited on later
_DEFERRED: list = []


def _copy_stream():
    """This device's copy stream: non-blocking with respect to the legacy default stream that
    kernels run on (a blocking stream would serialise with them).  The simulator's streams are
    serial anyway."""
    dev = _current[0]
    s = _COPY_STREAMS.get(dev)
    if s is None:
        s = _non_blocking_stream() if not is_simulator() else None
        s = _COPY_STREAMS[dev] = s or cuda.stream()
    return s


def _non_blocking_stream():  # pragma: no cover - needs a GPU
    """cuStreamCreate(CU_STREAM_NON_BLOCKING) through the CUDA driver bindings numba-cuda uses,
    or None (then an ordinary stream)."""
    try:
        from cuda.bindings import driver as drv

        err, handle = drv.cuStreamCreate(drv.CUstream_flags.CU_STREAM_NON_BLOCKING)
        if int(err) != 0:
            return None
        s = cuda.external_stream(int(handle))
        _COPY_STREAMS[("handle", _current[0])] = handle  # owned for the process's life
        return s
    except Exception:
        return None


def _upload_async(host):
    """A new device array holding pinned `host`, copied on the copy stream without waiting for
    the compute (default) stream: its block comes from the copy stream's pool, whose blocks are
    only handed out again once every stream that used them is past that use (kernels on the
    compute stream are recorded as users: record_stream).  The compute stream waits for the
    copy's event now, or, inside deferred_waits(), when the caller says.  The host array is kept
    alive until the copy is done."""
    copy_stream = _copy_stream()
    out = allocator(_current[0]).array(host.shape, host.dtype, stream=copy_stream,
                                       uses=(None,))
    out.copy_to_device(host, stream=copy_stream)
    done = cuda.event()
    done.record(copy_stream)
    if _DEFERRED:
        _DEFERRED[-1].append(done)
    else:
        done.wait(cuda.default_stream())
    async_uploads[0] += 1
    _IN_FLIGHT.append((done, host))
    while _IN_FLIGHT and _finished(_IN_FLIGHT[0][0]):
        _IN_FLIGHT.pop(0)
    return out


@contextlib.contextmanager
def deferred_waits():
    """Inside, async uploads do not order the compute stream after their copy yet; yields the
    list of their done events for wait_events() to do it later (before a kernel reads them)."""
    events: list = []
    _DEFERRED.append(events)
    try:
        yield events
    finally:
        _DEFERRED.remove(events)


def wait_events(events) -> None:
    """Make the compute (default) stream wait for `events` (deferred_waits())."""
    compute = cuda.default_stream()
    for e in events:
        e.wait(compute)


def record_stream(a, stream, device: int) -> None:
    """Mark the pool block under device array `a` (or the array it views) of CUDA device
    `device` as used by `stream` (a numba stream; None or a default stream: the compute one)."""
    pool = allocator(device)
    block = pool.block_at(pool.driver.address(a)) if a.size else None
    if block is not None:
        pool.record_stream(block, _stream_key(stream, device))


def _stream_key(stream, device: int):
    """None for the compute (legacy default) stream, else the stream itself."""
    if stream is None or stream is _COPY_STREAMS.get(device):
        return stream
    try:
        # numba: int(stream) is its handle; 0 (default) and 1 (legacy default) are the compute one
        return None if int(stream) in (0, 1) else stream
    except (TypeError, ValueError):
        return stream  # the simulator's streams have no handle (and run synchronously)


def _finished(event) -> bool:
    query = getattr(event, "query", None)
    return True if query is None else bool(query())  # the simulator copies synchronously


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
