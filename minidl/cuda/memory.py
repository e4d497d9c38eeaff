"""The caching device allocator: every CUDA array minidl creates is a view of a pooled block.

Where it sits.  The pool lives in minidl's storage layer, over raw device segments, rather than in
a numba External Memory Management plugin: its reuse logic is plain Python over (segment, offset,
size) records, so it runs unchanged under numba's simulator (where segments are host buffers) and
against a fake driver in unit tests, while an EMM plugin only runs with a real driver.  A driver
gives segments (`alloc(nbytes) -> (handle, address)`, `free(segment)`) and wraps a block as an
array (`array(lease, shape, dtype)`): numba's cuMemAlloc + `from_cuda_array_interface` on a GPU,
numpy buffers + the simulator's FakeCUDAArray under NUMBA_ENABLE_CUDASIM=1.

Lifetime.  An array is built on a `_Lease` object that every view of it (reshape, slice, dtype
view) keeps alive: numba's MemoryPointer views keep their external owner, numpy views keep their
base.  When the last view dies the lease's __del__ queues its block; the queue is drained (the
block merged with free neighbours and made reusable) at the next allocator call.  Queueing keeps
the finaliser lock-free (it may run inside a garbage collection triggered mid-allocation).

Streams (PyTorch's record_stream semantics).  A segment, and every block cut from it, belongs to
the stream it was allocated for (None: the legacy default stream all kernels run on; uploads
allocate on the copy stream), and a block is only handed out again for that stream: work on one
stream runs in order, so a block freed by the host is only overwritten by work queued after its
last use there.  A block also used on another stream (record_stream) goes back to its pool only
once an event recorded on each such stream at its free has completed; until then it counts as
freed in the stats but cannot be handed out.  The drain records these events, after the free:
later, so at worst waiting for more work, never for less.

Policy (PyTorch's, re-derived): sizes round up to 512 bytes; requests up to 1 MiB come from
2 MiB segments (the small pool), larger ones from 20 MiB segments below 10 MiB and from segments
rounded to 2 MiB above.  Best fit by size; a block is split when the rest is worth keeping (>= 512
bytes small, > 1 MiB large).  On out-of-memory the fully free cached segments are released and the
driver asked once more; then DeviceError names the request and the pool state.
"""
from __future__ import annotations

import bisect
import collections
import threading

import numpy as np

from ..errors import DeviceError

__all__ = ["CachingAllocator", "OutOfMemory", "allocator", "allocators", "transfer_counts"]

ROUND = 512
SMALL_REQUEST = 1 << 20
SMALL_SEGMENT = 2 << 20
LARGE_SEGMENT = 20 << 20
MIN_LARGE_ALLOC = 10 << 20
SEGMENT_ROUND = 2 << 20

# host <-> device copies made by minidl.cuda.backend (bench/gpu.py and the no-sync test read them)
transfer_counts = {"h2d": 0, "d2h": 0}


class OutOfMemory(Exception):
    """Raised by a driver's alloc when the device has no room for a new segment.

    A driver also has free(segment) (drop segment.handle: the pool holds the last reference),
    array(lease, shape, dtype), empty_array(shape, dtype), address(array) (where its data
    starts), record_event(stream) (an event with query() and synchronize(), recorded on
    `stream`, None being the default stream) and a `name`."""


def _fmt(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} bytes"


class _Segment:
    __slots__ = ("handle", "address", "size", "small", "id", "stream", "head")

    def __init__(self, handle, address: int, size: int, small: bool, sid: int, stream):
        self.handle, self.address, self.size, self.small, self.id = (
            handle, address, size, small, sid)
        self.stream = stream  # the stream its blocks are handed out for
        self.head = None  # its first block (coalescing always keeps the first)


class _Block:
    """A byte range [offset, offset + size) of a segment; prev/next are its neighbours there."""

    __slots__ = ("segment", "offset", "size", "free", "prev", "next", "stream_uses")

    def __init__(self, segment: _Segment, offset: int, size: int):
        self.segment, self.offset, self.size = segment, offset, size
        self.free, self.prev, self.next = True, None, None
        self.stream_uses = None  # the set of other streams using it (record_stream)

    def key(self) -> tuple:
        return (self.size, self.segment.id, self.offset)


class _Lease:
    """The owner every view of one allocation keeps alive; returns the block when it dies."""

    __slots__ = ("block", "address", "shape", "dtype", "_segment_handle", "_pending",
                 "__weakref__")

    def __init__(self, block: _Block, shape: tuple, dtype: np.dtype, pending):
        self.block = block
        self.address = block.segment.address + block.offset
        self.shape, self.dtype = shape, dtype
        self._segment_handle = block.segment.handle  # the memory outlives every view of it
        self._pending = pending

    @property
    def __array_interface__(self) -> dict:  # how a host (simulator) buffer becomes an array
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.address, False),
                "version": 3}

    def __del__(self):
        self._pending.append(self.block)


class CachingAllocator:
    """A per-device pool of device segments cut into blocks (see the module docstring)."""

    def __init__(self, driver, limit: int | None = None):
        self.driver = driver
        self.limit = limit  # bytes the pool may reserve (None: what the driver gives)
        self._free: dict = {}  # (stream, small?): sorted block keys
        self._by_key: dict = {}
        self._segments: dict = {}
        self._next_id = 0
        self._pending: collections.deque = collections.deque()
        # (events, block) in free order: freed, back in the pool once its events are done
        self._awaiting: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._stats = collections.Counter()

    # ---- public -------------------------------------------------------------------------------
    def array(self, shape, dtype, stream=None, uses=()):
        """A new uninitialised device array of `shape` and `dtype` from `stream`'s pool, also
        to be used on the streams `uses` (record_stream)."""
        shape = tuple(int(s) for s in shape)
        dtype = np.dtype(dtype)
        nbytes = dtype.itemsize
        for s in shape:
            nbytes *= s
        if nbytes == 0:
            return self.driver.empty_array(shape, dtype)
        block = self.malloc(nbytes, shape, dtype, stream)
        for other in uses:
            self.record_stream(block, other)
        return self.driver.array(_Lease(block, shape, dtype, self._pending), shape, dtype)

    def malloc(self, nbytes: int, shape=None, dtype=None, stream=None) -> _Block:
        """A block of at least nbytes bytes for use on `stream` (None: the default stream); the
        rounded size is what memory_allocated counts."""
        size = max(ROUND, -(-int(nbytes) // ROUND) * ROUND)
        small = size <= SMALL_REQUEST
        with self._lock:
            self._drain()
            self._process_events()
            block = self._take_free(size, small, stream)
            if block is None:
                seg = self._new_segment(self._segment_size(size), small, nbytes, shape, dtype,
                                        stream)
                block = seg.head = _Block(seg, 0, seg.size)
            else:
                self._stats["num_pool_hits"] += 1
            rest = block.size - size
            if (rest >= ROUND) if small else (rest > SMALL_REQUEST):
                self._split(block, size)
            block.free = False
            st = self._stats
            st["allocation.all.allocated"] += 1
            st["allocation.all.current"] += 1
            st["allocated_bytes.all.allocated"] += block.size
            st["allocated_bytes.all.current"] += block.size
            st["allocated_bytes.all.peak"] = max(st["allocated_bytes.all.peak"],
                                                 st["allocated_bytes.all.current"])
            return block

    def free(self, block: _Block) -> None:
        """Return a block now (arrays return theirs through their lease)."""
        with self._lock:
            self._release_block(block)

    def record_stream(self, block: _Block, stream) -> None:
        """Mark allocated `block` as used by work queued on `stream` too (PyTorch's
        Tensor.record_stream): once freed it is not handed out again before an event recorded
        then on `stream` has completed.  Its own stream needs no mark."""
        if stream == block.segment.stream:
            return
        with self._lock:
            if block.free:
                raise RuntimeError("minidl.cuda.memory: record_stream on a freed block")
            if block.stream_uses is None:
                block.stream_uses = set()
            block.stream_uses.add(stream)

    def block_at(self, address: int):
        """The allocated block holding device `address` (an array or a view of it), or None."""
        with self._lock:
            for seg in self._segments.values():
                if seg.address <= address < seg.address + seg.size:
                    b = seg.head
                    while b is not None and not b.offset <= address - seg.address < \
                            b.offset + b.size:
                        b = b.next
                    return None if b is None or b.free else b
        return None

    def empty_cache(self) -> None:
        """Wait for the events of blocks freed while in use on other streams, then give every
        fully free segment back to the driver."""
        with self._lock:
            self._drain()
            self._synchronize_events()
            self._release_free_segments()

    def stats(self) -> dict:
        """PyTorch-style counters ("allocated_bytes.all.current", "num_device_alloc", ...)."""
        with self._lock:
            self._drain()
            st = dict(self._stats)
        st["num_free_blocks"] = len(self._by_key)
        st["num_blocks_awaiting_events"] = len(self._awaiting)
        for k in ("allocated_bytes.all.current", "allocated_bytes.all.peak",
                  "allocated_bytes.all.allocated", "allocated_bytes.all.freed",
                  "reserved_bytes.all.current", "reserved_bytes.all.peak",
                  "allocation.all.current", "allocation.all.allocated", "allocation.all.freed",
                  "segment.all.current", "num_device_alloc", "num_device_free", "num_pool_hits",
                  "num_alloc_retries", "num_ooms", "num_event_waits"):
            st.setdefault(k, 0)
        return dict(sorted(st.items()))

    def reset_peak_stats(self) -> None:
        with self._lock:
            self._drain()
            st = self._stats
            st["allocated_bytes.all.peak"] = st["allocated_bytes.all.current"]
            st["reserved_bytes.all.peak"] = st["reserved_bytes.all.current"]

    # ---- internals (called with the lock held) ------------------------------------------------
    def _drain(self) -> None:
        while self._pending:
            self._release_block(self._pending.popleft())

    @staticmethod
    def _segment_size(size: int) -> int:
        if size <= SMALL_REQUEST:
            return SMALL_SEGMENT
        if size < MIN_LARGE_ALLOC:
            return LARGE_SEGMENT
        return -(-size // SEGMENT_ROUND) * SEGMENT_ROUND

    def _process_events(self) -> None:
        """Return to their pools the awaiting blocks whose events have completed, oldest first,
        stopping at the first that has not (PyTorch's order: events on one stream complete in
        order, so one query per allocation in the common case; a later block whose events are
        on another stream waits a little longer, which is safe)."""
        awaiting = self._awaiting
        while awaiting and all(e.query() for e in awaiting[0][0]):
            self._pool_block(awaiting.popleft()[1])

    def _synchronize_events(self) -> None:
        """Wait for every awaiting block's events (out of memory, empty_cache), then pool it."""
        while self._awaiting:
            events, block = self._awaiting.popleft()
            for e in events:
                e.synchronize()
            self._pool_block(block)

    def _take_free(self, size: int, small: bool, stream):
        keys = self._free.get((stream, small))
        if not keys:
            return None
        i = bisect.bisect_left(keys, (size, -1, -1))
        if i == len(keys):
            return None
        key = keys.pop(i)
        return self._by_key.pop(key)

    def _add_free(self, block: _Block) -> None:
        key = block.key()
        seg = block.segment
        bisect.insort(self._free.setdefault((seg.stream, seg.small), []), key)
        self._by_key[key] = block

    def _remove_free(self, block: _Block) -> None:
        key = block.key()
        keys = self._free[(block.segment.stream, block.segment.small)]
        del keys[bisect.bisect_left(keys, key)]
        del self._by_key[key]

    def _split(self, block: _Block, size: int) -> None:
        rest = _Block(block.segment, block.offset + size, block.size - size)
        rest.prev, rest.next = block, block.next
        if block.next is not None:
            block.next.prev = rest
        block.next, block.size = rest, size
        self._add_free(rest)

    def _release_block(self, block: _Block) -> None:
        if block.free or (self._awaiting and any(b is block for _, b in self._awaiting)):
            raise RuntimeError("minidl.cuda.memory: block freed twice")
        st = self._stats
        st["allocation.all.freed"] += 1
        st["allocation.all.current"] -= 1
        st["allocated_bytes.all.freed"] += block.size
        st["allocated_bytes.all.current"] -= block.size
        uses, block.stream_uses = block.stream_uses, None
        if uses:
            events = [self.driver.record_event(s) for s in uses]
            if not all(e.query() for e in events):  # the simulator's are done at once
                st["num_event_waits"] += 1
                self._awaiting.append((events, block))
                return
        self._pool_block(block)

    def _pool_block(self, block: _Block) -> None:
        """Make a freed block reusable, merged with its free neighbours."""
        block.free = True
        for nb in (block.prev, block.next):  # coalesce with free neighbours
            if nb is not None and nb.free:
                self._remove_free(nb)
                first, second = (nb, block) if nb is block.prev else (block, nb)
                first.size += second.size
                first.next = second.next
                if second.next is not None:
                    second.next.prev = first
                block = first
        self._add_free(block)

    def _new_segment(self, size: int, small: bool, nbytes: int, shape, dtype,
                     stream) -> _Segment:
        try:
            handle, address = self._driver_alloc(size)
        except OutOfMemory:
            self._stats["num_alloc_retries"] += 1
            self._synchronize_events()
            self._release_free_segments()
            try:
                handle, address = self._driver_alloc(size)
            except OutOfMemory:
                self._stats["num_ooms"] += 1
                raise DeviceError(self._oom_message(nbytes, size, shape, dtype)) from None
        st = self._stats
        st["num_device_alloc"] += 1
        st["segment.all.current"] += 1
        st["reserved_bytes.all.current"] += size
        st["reserved_bytes.all.peak"] = max(st["reserved_bytes.all.peak"],
                                            st["reserved_bytes.all.current"])
        seg = _Segment(handle, address, size, small, self._next_id, stream)
        self._next_id += 1
        self._segments[seg.id] = seg
        return seg

    def _driver_alloc(self, size: int):
        if self.limit is not None and self._stats["reserved_bytes.all.current"] + size > self.limit:
            raise OutOfMemory
        return self.driver.alloc(size)

    def _release_free_segments(self) -> None:
        for sid, seg in list(self._segments.items()):
            key = (seg.size, sid, 0)
            block = self._by_key.get(key)
            if block is None or block.next is not None:  # not one free block spanning it
                continue
            self._remove_free(block)
            del self._segments[sid]
            self.driver.free(seg)
            st = self._stats
            st["num_device_free"] += 1
            st["segment.all.current"] -= 1
            st["reserved_bytes.all.current"] -= seg.size

    def _oom_message(self, nbytes, seg_size, shape, dtype) -> str:
        st = self._stats
        what = f" for a {list(shape)} {np.dtype(dtype).name} array" if shape is not None else ""
        cached = sum(k[0] for keys in self._free.values() for k in keys)
        limit = f", limit {_fmt(self.limit)}" if self.limit is not None else ""
        return (f"CUDA out of memory on {self.driver.name}: tried to allocate {_fmt(nbytes)}{what} "
                f"(a new {_fmt(seg_size)} segment); the pool has "
                f"{_fmt(st['allocated_bytes.all.current'])} "
                f"allocated and {_fmt(st['reserved_bytes.all.current'])} reserved in "
                f"{st['segment.all.current']} segments ({_fmt(cached)} cached free in "
                f"{len(self._by_key)} blocks, none large enough){limit}, after releasing the "
                "cache once. Free tensors (del, or smaller batches) and retry")


# ---- drivers -----------------------------------------------------------------------------------
class _Done:
    """The event of a synchronous stream: complete when recorded."""

    @staticmethod
    def query() -> bool:
        return True

    @staticmethod
    def synchronize() -> None:
        pass


class HostDriver:
    """Segments in host memory, blocks as numpy arrays: the fake driver of the unit tests and the
    base of the simulator's driver."""

    def __init__(self, name: str = "host"):
        self.name = name

    def alloc(self, size: int):
        buf = np.empty(size, np.uint8)
        return buf, buf.ctypes.data

    def free(self, segment) -> None:
        segment.handle = None  # the last reference: numpy frees the buffer

    def array(self, lease: _Lease, shape, dtype):
        return np.asarray(lease)

    def empty_array(self, shape, dtype):
        return np.empty(shape, dtype)

    @staticmethod
    def address(array) -> int:
        return array.__array_interface__["data"][0]

    @staticmethod
    def record_event(stream):
        return _Done  # host work is synchronous


class SimulatorDriver(HostDriver):
    """NUMBA_ENABLE_CUDASIM=1: device memory is host memory wrapped as FakeCUDAArray."""

    def array(self, lease, shape, dtype):
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        return FakeCUDAArray(np.asarray(lease))

    def empty_array(self, shape, dtype):
        from numba import cuda

        return cuda.device_array(shape, dtype=dtype)

    @staticmethod
    def address(array) -> int:
        return array._ary.__array_interface__["data"][0]

    # record_event: the simulator runs every stream synchronously, so its events are done at once


class NumbaDriver:
    """A real GPU: segments from numba's context (cuMemAlloc), blocks as DeviceNDArrays owned by
    their lease (numba keeps an external owner alive through every view)."""

    def __init__(self, index: int):
        self.index = index
        self.name = f"cuda:{index}"

    def alloc(self, size: int):
        from numba import cuda
        from numba.cuda.cudadrv.driver import CudaAPIError

        with cuda.gpus[self.index]:
            try:
                mem = cuda.current_context().memalloc(size)
            except CudaAPIError as e:
                if "OUT_OF_MEMORY" in str(getattr(e, "code", "")) or getattr(e, "code", 0) == 2:
                    raise OutOfMemory from e
                raise
        return mem, int(mem.device_pointer_value)

    def free(self, segment) -> None:
        from numba import cuda

        segment.handle = None  # the last reference: numba queues the cuMemFree
        with cuda.gpus[self.index]:
            cuda.current_context().deallocations.clear()  # free now, not in a later batch

    def array(self, lease, shape, dtype):
        from numba import cuda

        desc = {"shape": shape, "typestr": dtype.str, "data": (lease.address, False),
                "strides": None, "version": 3}
        return cuda.from_cuda_array_interface(desc, owner=lease, sync=False)

    def empty_array(self, shape, dtype):
        from numba import cuda

        return cuda.device_array(shape, dtype=dtype)  # zero-size: numba allocates nothing

    @staticmethod
    def address(array) -> int:
        return int(array.__cuda_array_interface__["data"][0])

    def record_event(self, stream):
        from numba import cuda

        with cuda.gpus[self.index]:
            event = cuda.event(timing=False)
            event.record(cuda.default_stream() if stream is None else stream)
        return event


_allocators: dict = {}
_create_lock = threading.Lock()


def allocators() -> dict:
    """{device index: CachingAllocator} for the devices used so far."""
    return _allocators


def allocator(index: int) -> CachingAllocator:
    """The pool of CUDA device `index`, created on first use."""
    a = _allocators.get(index)
    if a is None:
        with _create_lock:
            a = _allocators.get(index)
            if a is None:
                from . import is_simulator

                driver = SimulatorDriver("cuda:0 (simulator)") if is_simulator() else \
                    NumbaDriver(index)
                a = _allocators[index] = CachingAllocator(driver)
    return a
