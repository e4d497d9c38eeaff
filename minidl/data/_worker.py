"""The DataLoader's background workers: the loop each worker runs, `get_worker_info()`, and the
transport of batches between processes (tensors travel as numpy arrays, exceptions as text
tracebacks).

Protocol. The main process sends each worker `(epoch, task, indices, base_seed)` on the worker's
own index queue (`None` = exit) and reads `(epoch, task, payload)` from one shared result queue.
`payload` is the collated batch, an `ExceptionWrapper`, or `IterableEnd` when an IterableDataset
worker ran out of samples. Results of process workers are pickled inside the worker (so an
unpicklable batch is reported, not silently dropped by the queue's feeder thread).

What does not live here: ordering, prefetching and shutdown (loader.py).
"""
from __future__ import annotations

import os
import pickle
import queue
import random
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np

from .rng import batch_rng, rng_context

__all__ = ["WorkerInfo", "get_worker_info"]

_POLL = 0.2  # seconds between liveness checks while a queue is empty


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker knows about itself: `id` in [0, num_workers), `seed` (base_seed + id; the
    worker's Python `random`, numpy global and minidl generators are seeded with it), and its
    copy of the `dataset`."""
    id: int
    num_workers: int
    seed: int
    dataset: Any


_process_info: WorkerInfo | None = None
_thread_info = threading.local()


def get_worker_info() -> WorkerInfo | None:
    """The current worker's `WorkerInfo`, or None in the main process (PyTorch's API): use it in
    `IterableDataset.__iter__` or `worker_init_fn` to split work between workers."""
    info = getattr(_thread_info, "info", None)
    return info if info is not None else _process_info


class ExceptionWrapper:
    """An exception raised in a worker, carried to the main process with its traceback text."""

    def __init__(self, exc: BaseException, where: str) -> None:
        self.exc_type = type(exc)
        self.msg = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.where = where

    def __reduce__(self):
        exc_type = self.exc_type
        try:
            pickle.loads(pickle.dumps(exc_type))
        except Exception:  # a class defined in a local scope: fall back to RuntimeError
            exc_type = RuntimeError
        return (_rebuild_wrapper, (exc_type, self.msg, self.where))

    def reraise(self):
        msg = (f"Caught {self.exc_type.__name__} {self.where}.\n"
               f"Original Traceback (most recent call last):\n"
               + self.msg.split("Traceback (most recent call last):\n", 1)[-1])
        if self.exc_type is KeyError:  # KeyError quotes its message
            msg = KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:
            exc = None
        if exc is None or not isinstance(exc, BaseException):
            raise RuntimeError(msg)
        raise exc


class KeyErrorMessage(str):
    def __repr__(self):
        return self


def _rebuild_wrapper(exc_type, msg, where):
    w = ExceptionWrapper.__new__(ExceptionWrapper)
    w.exc_type, w.msg, w.where = exc_type, msg, where
    return w


class IterableEnd:
    """Sent by an IterableDataset worker whose iterator is exhausted."""

    def __init__(self, worker_id: int) -> None:
        self.worker_id = worker_id


# ---------------------------------------------------------------- tensor transport
#
# Pipes are slow for big arrays (a multiprocessing.Queue moves ~0.2-0.5 GB/s here), so on Linux
# a worker copies every array of >= 64 KiB into a POSIX shared-memory segment of its own, named
# "mdl<main pid>_<pool>_<worker>_<n>", and sends only the name. Segments are reused: byte 0 of a
# segment is 1 while it holds a batch the main process has not copied out yet, and the main
# process sets it back to 0 after copying (first-touch page faults of fresh segments cost more
# than the copy). At shutdown the main process unlinks every segment of its pool by name.

_SHM_MIN = 1 << 16
_SHM_HDR = 64
_SHM_DIR = "/dev/shm"


class ShmArray:
    """A numpy array parked in a shared-memory segment."""
    __slots__ = ("name", "shape", "dtype")

    def __init__(self, name, shape, dtype):
        self.name, self.shape, self.dtype = name, shape, dtype

    def __reduce__(self):
        return (ShmArray, (self.name, self.shape, self.dtype))


class ShmWriter:
    """Worker side: parks big arrays in reusable shared-memory segments (when /dev/shm has room
    for them; otherwise they travel through the pipe)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.segments: list = []

    def __call__(self, arr: np.ndarray):
        if arr.nbytes < _SHM_MIN or arr.dtype.hasobject:
            return arr
        shm = next((s for s in self.segments
                    if s.buf[0] == 0 and s.size - _SHM_HDR >= arr.nbytes), None)
        if shm is None:
            shm = self._create(arr.nbytes)
            if shm is None:
                return arr
        shm.buf[0] = 1
        np.ndarray(arr.shape, arr.dtype, buffer=shm.buf, offset=_SHM_HDR)[...] = arr
        return ShmArray(shm.name, arr.shape, arr.dtype.str)

    def _create(self, nbytes: int):
        try:
            st = os.statvfs(_SHM_DIR)
            if st.f_bavail * st.f_frsize < 4 * nbytes:  # a full tmpfs would SIGBUS us
                return None
            from multiprocessing import resource_tracker, shared_memory
            name = f"{self.prefix}{len(self.segments)}"
            shm = shared_memory.SharedMemory(name=name, create=True, size=_SHM_HDR + nbytes)
        except OSError:
            return None
        # the main process owns (and unlinks) the segment, not this worker's tracker
        resource_tracker.unregister(shm._name, "shared_memory")
        self.segments.append(shm)
        return shm

    @staticmethod
    def usable() -> bool:
        return sys.platform.startswith("linux") and os.path.isdir(_SHM_DIR)


class ShmReader:
    """Main side: copies arrays out of the workers' segments (kept mapped) and frees them."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.open: dict = {}

    def _segment(self, name: str):
        shm = self.open.get(name)
        if shm is None:
            from multiprocessing import shared_memory
            shm = self.open[name] = shared_memory.SharedMemory(name=name)
        return shm

    def read(self, ref: ShmArray) -> np.ndarray:
        shm = self._segment(ref.name)
        dtype = np.dtype(ref.dtype)
        out = np.empty(ref.shape, dtype)
        out[...] = np.ndarray(ref.shape, dtype, buffer=shm.buf, offset=_SHM_HDR)
        shm.buf[0] = 0
        return out

    def free(self, ref: ShmArray) -> None:
        try:
            self._segment(ref.name).buf[0] = 0
        except OSError:
            pass

    def close(self) -> None:
        """Unmap and unlink every segment of the pool (workers must be gone)."""
        for shm in self.open.values():
            try:
                shm.unlink()
            except OSError:
                pass
            try:
                shm.close()
            except (OSError, BufferError):
                pass
        self.open.clear()
        try:
            names = [n for n in os.listdir(_SHM_DIR) if n.startswith(self.prefix)]
        except OSError:
            return
        for n in names:
            try:
                os.unlink(os.path.join(_SHM_DIR, n))
            except OSError:
                pass


def clean_stale_segments() -> None:
    """Unlink segments left by DataLoaders of processes that died without shutting down."""
    try:
        names = [n for n in os.listdir(_SHM_DIR) if n.startswith("mdl")]
    except OSError:
        return
    for n in names:
        pid = n[3:].split("_", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(_SHM_DIR, n))
            except OSError:
                pass
        except OSError:  # alive (another user's): not ours
            pass


def release(obj, reader: ShmReader | None) -> None:
    """Free the segments of a result that will not be used (a stale epoch)."""
    if reader is None:
        return
    if isinstance(obj, ShmArray):
        reader.free(obj)
    elif isinstance(obj, _PackedTensor):
        release(obj.array, reader)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            release(o, reader)
    elif isinstance(obj, dict):
        for o in obj.values():
            release(o, reader)


class _PackedTensor:
    __slots__ = ("array", "requires_grad", "device")

    def __init__(self, array, requires_grad, device):
        self.array, self.requires_grad, self.device = array, requires_grad, device

    def __reduce__(self):
        return (_PackedTensor, (self.array, self.requires_grad, self.device))


def _tensor_cls():
    try:
        from minidl import Tensor
    except ImportError:
        return None
    return Tensor


def pack(obj, share=None, tensor_cls=None):
    """Replace minidl Tensors in `obj` (nested tuples/lists/dicts) by picklable numpy payloads,
    and big arrays by shared-memory references when `share` (a ShmWriter) is given."""
    if tensor_cls is None:
        tensor_cls = _tensor_cls() or ()
    if isinstance(obj, np.ndarray):
        return share(obj) if share is not None else obj
    if tensor_cls and isinstance(obj, tensor_cls):
        dev = str(obj.device)
        arr = obj.detach().numpy() if dev == "cpu" else obj.detach().cpu().numpy()
        if share is not None:
            arr = share(arr)
        return _PackedTensor(arr, bool(obj.requires_grad), dev)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(pack(o, share, tensor_cls) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(pack(o, share, tensor_cls) for o in obj)
    if isinstance(obj, dict):
        out = {k: pack(v, share, tensor_cls) for k, v in obj.items()}
        try:
            return type(obj)(out)
        except TypeError:
            return out
    return obj


def unpack(obj, reader: ShmReader | None = None):
    """Inverse of `pack` (in the main process)."""
    if isinstance(obj, ShmArray):
        return reader.read(obj)
    if isinstance(obj, _PackedTensor):
        import minidl
        arr = reader.read(obj.array) if isinstance(obj.array, ShmArray) else obj.array
        t = minidl.from_numpy(arr)
        if obj.device != "cpu":
            t = t.to(obj.device)
        if obj.requires_grad:
            t.requires_grad_()
        return t
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(unpack(o, reader) for o in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(unpack(o, reader) for o in obj)
    if isinstance(obj, dict):
        out = {k: unpack(v, reader) for k, v in obj.items()}
        try:
            return type(obj)(out)
        except TypeError:
            return out
    return obj


# ---------------------------------------------------------------- fetching

class Fetcher:
    """Turns a task into a batch: indices -> samples -> collate (map-style), or the next
    `batch_size` samples of the worker's iterator (iterable-style)."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool,
                 batch_size: int | None, iterable: bool) -> None:
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.batch_size = batch_size
        self.iterable = iterable
        self._it = None
        self.ended = False

    def reset(self) -> None:
        """New epoch (iterable datasets restart their iterator)."""
        self._it = None
        self.ended = False

    def fetch(self, indices):
        """The batch, or raises StopIteration when an iterable dataset is exhausted."""
        if self.iterable:
            if self.ended:
                raise StopIteration
            if self._it is None:
                self._it = iter(self.dataset)
            if self.auto_collation:
                data = []
                for _ in range(self.batch_size):
                    try:
                        data.append(next(self._it))
                    except StopIteration:
                        self.ended = True
                        break
                if not data or (self.drop_last and len(data) < self.batch_size):
                    self.ended = True
                    raise StopIteration
                return self.collate_fn(data)
            try:
                return self.collate_fn(next(self._it))
            except StopIteration:
                self.ended = True
                raise
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            data = getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]
            return self.collate_fn(data)
        return self.collate_fn(self.dataset[indices])


# ---------------------------------------------------------------- the worker loop

def _seed_globals(seed: int) -> None:
    """Seed the process-wide generators of a worker process (never of a worker thread, which
    shares them with the main program)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    try:
        import minidl.random as mrandom
    except ImportError:  # pragma: no cover
        return
    mrandom.manual_seed(seed)


def worker_loop(fetcher: Fetcher, index_queue, result_queue, done_event, worker_id: int,
                num_workers: int, seed: int, worker_init_fn, is_thread: bool,
                parent_pid: int | None, shm_prefix: str | None = None) -> None:
    """Run in a worker process or thread until it receives None, `done_event` is set or (for
    processes) the parent process dies."""
    global _process_info
    info = WorkerInfo(worker_id, num_workers, seed, fetcher.dataset)
    if is_thread:
        _thread_info.info = info
    else:
        _process_info = info
        # Ctrl-C goes to the whole process group: the main process handles it and shuts us down
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _seed_globals(seed)
    where = f"in DataLoader worker {'thread' if is_thread else 'process'} {worker_id}"
    init_error = None
    if worker_init_fn is not None:
        try:
            worker_init_fn(worker_id)
        except Exception as e:  # reported with every task, like PyTorch
            init_error = ExceptionWrapper(e, where)
    epoch_seen = None
    share = ShmWriter(f"{shm_prefix}{worker_id}_") if shm_prefix else None

    def send(epoch, task, payload):
        if is_thread:
            result_queue.put((epoch, task, payload))
            return
        try:
            blob = pickle.dumps((epoch, task, pack(payload, share)),
                                protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:
            err = RuntimeError(f"DataLoader worker {worker_id}: the batch could not be pickled "
                               f"to send it to the main process: {e}")
            blob = pickle.dumps((epoch, task, ExceptionWrapper(err, where)))
        result_queue.put(blob)

    try:
        while True:
            try:
                msg = index_queue.get(timeout=_POLL)
            except queue.Empty:
                if done_event.is_set():
                    break
                if parent_pid is not None and os.getppid() != parent_pid:
                    break  # orphaned: the main process died
                continue
            if msg is None or done_event.is_set():
                break
            epoch, task, indices, base_seed = msg
            if epoch != epoch_seen:
                fetcher.reset()
                epoch_seen = epoch
            if init_error is not None:
                send(epoch, task, init_error)
                continue
            try:
                with rng_context(batch_rng(base_seed, task)):
                    data = fetcher.fetch(indices)
            except StopIteration:
                data = IterableEnd(worker_id)
            except Exception as e:
                data = ExceptionWrapper(e, where)
            send(epoch, task, data)
    finally:
        if not is_thread:
            # at shutdown nobody reads what is still buffered: do not block exit on it
            result_queue.cancel_join_thread()
            sys.stdout.flush()
