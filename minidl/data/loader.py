"""DataLoader (PyTorch's API): batching, shuffling, background workers with prefetching, and a
resumable position (`state_dict` / `load_state_dict`).

Reproducibility. Each `iter(loader)` draws one base seed from `generator` (default: minidl's
default generator) and the sampler draws its permutation seed. Batch k of the epoch is fetched and
augmented under a numpy Generator seeded from (base seed, k), whichever worker fetches it, so
`minidl.manual_seed(s)` gives the same batches with 0, 1 or N workers.

Workers. `num_workers > 0` starts processes ("fork" on Linux, "spawn" elsewhere, or the given
`multiprocessing_context`; "thread" for threads) that fetch, augment and collate batches while
the model trains, up to `prefetch_factor * num_workers` batches ahead. If processes cannot be
started (no fork/semaphores, an unpicklable dataset under spawn) the loader warns and uses threads.
The main process waits with a poll loop: a worker that dies raises a RuntimeError naming it and
its exit code, a worker's exception is re-raised with the worker's traceback, and shutdown
(end of epoch, error, garbage collection, interpreter exit) never blocks on a dead worker.

What does not live here: the worker loop itself (_worker.py), samplers (sampler.py), collate.
"""
from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import queue
import sys
import threading
import time
import warnings
import weakref
from typing import Any, Callable, Iterator

from . import _worker
from .collate import default_collate, default_convert
from .dataset import IterableDataset
from .rng import batch_rng, draw_seed, rng_context
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]

get_worker_info = _worker.get_worker_info
_STATE_VERSION = 1


class DataLoader:
    """Iterate over `dataset` in batches.

    Args (PyTorch's names and defaults):
        batch_size: samples per batch (None: no batching, samples are only converted).
        shuffle: reshuffle every epoch (RandomSampler with `generator`).
        sampler / batch_sampler: custom index order (mutually exclusive with shuffle / batch_size).
        num_workers: background workers (0: load in the main process).
        collate_fn: list of samples -> batch (default_collate: numpy/numbers -> Tensors).
        pin_memory: copy every batch's CPU tensors into page-locked host memory
            (Tensor.pin_memory()), so .to("cuda", non_blocking=True) uploads without waiting;
            with CUDA unavailable a warning is given once and batches stay unpinned.
        drop_last: drop the last incomplete batch.
        timeout: seconds to wait for a batch from the workers (0: forever, still checking that
            the workers are alive).
        worker_init_fn: called as f(worker_id) in each worker after seeding.
        multiprocessing_context: "fork", "spawn", "forkserver", "thread", a multiprocessing
            context, or None (fork on Linux, spawn elsewhere).
        generator: minidl.Generator (or numpy Generator) for shuffling and augmentation seeds.
        prefetch_factor: batches loaded in advance per worker.
        persistent_workers: keep the workers alive between epochs.
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Sampler | None = None, batch_sampler: Sampler | None = None,
                 num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable | None = None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False) -> None:
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if prefetch_factor is None:
            prefetch_factor = 2
        if prefetch_factor < 1:
            raise ValueError("prefetch_factor option should be a positive integer")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.generator = generator
        self.persistent_workers = persistent_workers
        self._is_iterable = isinstance(dataset, IterableDataset)

        if self._is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not self._is_iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None and not self._is_iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: _BaseIter | None = None  # the persistent-workers iterator
        self._pos: _Position | None = None  # the latest epoch's position (for state_dict)
        self._resume: dict | None = None

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (self._is_iterable and self.batch_size is not None)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        if self._is_iterable:
            n = len(self.dataset)  # TypeError if the stream has no length, as in PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    # ------------------------------------------------------------ iteration

    def _new_epoch(self) -> tuple[int, Iterator | None, int, dict]:
        """(base_seed, index iterator positioned at the first batch to yield, its number,
        sampler state) for a new epoch, or the one being resumed."""
        resume, self._resume = self._resume, None
        if resume is not None:
            base_seed = int(resume["base_seed"])
            start = int(resume["batches_yielded"])
            sampler_state = resume.get("sampler") or {}
            if sampler_state and hasattr(self._index_sampler, "load_state_dict"):
                self._index_sampler.load_state_dict(sampler_state)
        else:
            base_seed = draw_seed(self.generator)
            start = 0
        if self._is_iterable:
            return base_seed, None, start, {}
        index_iter = iter(self._index_sampler)
        state_fn = getattr(self._index_sampler, "state_dict", None)
        sampler_state = state_fn() if state_fn is not None else {}
        if start:
            # skip the batches already consumed without loading them
            for _ in itertools.islice(index_iter, start):
                pass
        return base_seed, index_iter, start, sampler_state

    def __iter__(self) -> "_BaseIter":
        if self.num_workers == 0:
            it: _BaseIter = _SingleProcessIter(self, *self._new_epoch())
        elif self.persistent_workers and self._iterator is not None and self._iterator.usable():
            it = self._iterator
            it._reset(*self._new_epoch())
        else:
            it = _MultiWorkerIter(self, *self._new_epoch())
            if self.persistent_workers:
                self._iterator = it
        self._pos = it.pos  # kept even when the iterator is dropped (a `break` mid-epoch)
        return it

    # ------------------------------------------------------------ resumable position

    def state_dict(self) -> dict:
        """The loader's position: the current epoch's seeds and how many batches were yielded, or
        `in_epoch=False` between epochs. Save it with the model; `load_state_dict` on a new
        loader makes its next `iter()` yield exactly the remaining batches of that epoch."""
        if self._resume is not None:
            return dict(self._resume)
        pos = self._pos
        if pos is None or pos.finished:
            return {"version": _STATE_VERSION, "in_epoch": False}
        return {"version": _STATE_VERSION, "in_epoch": True, "base_seed": int(pos.base_seed),
                "batches_yielded": int(pos.yielded), "sampler": pos.sampler_state}

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`: a checkpoint taken mid-epoch continues that epoch where it
        stopped."""
        if int(state.get("version", _STATE_VERSION)) > _STATE_VERSION:
            raise ValueError(f"DataLoader.load_state_dict: state version {state['version']} is "
                             f"newer than this minidl ({_STATE_VERSION})")
        self._resume = dict(state) if state.get("in_epoch") else None

    def __del__(self):
        it = getattr(self, "_iterator", None)
        if it is not None:
            it._shutdown()


class _Position:
    """Where an epoch stands: its seeds and how many batches were handed out."""
    __slots__ = ("base_seed", "sampler_state", "yielded", "finished")

    def __init__(self, base_seed: int, sampler_state: dict, yielded: int) -> None:
        self.base_seed, self.sampler_state = base_seed, sampler_state
        self.yielded, self.finished = yielded, False


class _BaseIter:
    def __init__(self, loader: DataLoader, base_seed: int, index_iter, start: int,
                 sampler_state: dict) -> None:
        self._loader = loader
        self._fetcher = _worker.Fetcher(loader.dataset, loader._auto_collation,
                                        loader.collate_fn, loader.drop_last, loader.batch_size,
                                        loader._is_iterable)
        self._set_epoch(base_seed, index_iter, start, sampler_state)

    def _set_epoch(self, base_seed, index_iter, start, sampler_state) -> None:
        self.base_seed = base_seed
        self.pos = _Position(base_seed, sampler_state, start)
        self._index_iter = index_iter
        self._skip_iterable = start if self._loader._is_iterable else 0

    @property
    def yielded(self) -> int:
        return self.pos.yielded

    @yielded.setter
    def yielded(self, n: int) -> None:
        self.pos.yielded = n

    @property
    def finished(self) -> bool:
        return self.pos.finished

    @finished.setter
    def finished(self, value: bool) -> None:
        self.pos.finished = value

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def _shutdown(self) -> None:
        pass

    def usable(self) -> bool:
        return True

    def _pin(self, data):
        """The batch with its CPU tensors pinned, when the loader asks for it (in the main
        process: pinned memory belongs to this process's CUDA context)."""
        if not self._loader.pin_memory:
            return data
        from .. import cuda

        if not cuda.is_available():
            if not _PIN_WARNED:
                _PIN_WARNED.append(True)
                warnings.warn("'pin_memory' argument is set as true but no accelerator is "
                              "found, then device pinned memory won't be used.", stacklevel=3)
            return data
        return _pin_batch(data)


_PIN_WARNED: list = []


def _pin_batch(data):
    """Pin every CPU Tensor in a (nested) batch, keeping its structure."""
    from ..tensor import Tensor

    if isinstance(data, Tensor):
        return data.pin_memory() if data.device.type == "cpu" else data
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(_pin_batch(d) for d in data))
    if isinstance(data, (list, tuple)):
        return type(data)(_pin_batch(d) for d in data)
    if isinstance(data, dict):
        return type(data)((k, _pin_batch(v)) for k, v in data.items())
    return data


class _SingleProcessIter(_BaseIter):
    """Loads each batch in the main process when asked."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self._task = self.yielded

    def __next__(self):
        if self.finished:
            raise StopIteration
        while True:
            try:
                indices = None if self._index_iter is None else next(self._index_iter)
                with rng_context(batch_rng(self.base_seed, self._task)):
                    data = self._fetcher.fetch(indices)
            except StopIteration:
                self.finished = True
                raise
            self._task += 1
            if self._skip_iterable:  # resuming an IterableDataset: replay and drop
                self._skip_iterable -= 1
                continue
            self.yielded += 1
            return self._pin(data)


class _Pool:
    """The worker processes (or threads) and their queues; `shutdown` never blocks for long."""

    def __init__(self, loader: DataLoader, fetcher: _worker.Fetcher, base_seed: int) -> None:
        self.n = loader.num_workers
        self.shm_reader = None
        self.owner_pid = os.getpid()
        self.workers: list = []
        self.index_queues: list = []
        self.closed = False
        ctx = loader.multiprocessing_context
        if ctx is None:
            methods = multiprocessing.get_all_start_methods()
            ctx = "fork" if sys.platform.startswith("linux") and "fork" in methods else "spawn"
        if isinstance(ctx, str) and ctx == "thread":
            self._start_threads(loader, fetcher, base_seed)
            return
        try:
            if isinstance(ctx, str):
                ctx = multiprocessing.get_context(ctx)
            self._start_processes(ctx, loader, fetcher, base_seed)
        except Exception as e:
            self.shutdown()
            self.closed = False
            warnings.warn(f"DataLoader: could not start worker processes ({type(e).__name__}: "
                          f"{e}); using {self.n} worker threads instead", RuntimeWarning,
                          stacklevel=4)
            self._start_threads(loader, fetcher, base_seed)

    def _start_processes(self, ctx, loader, fetcher, base_seed) -> None:
        self.is_thread = False
        self.shm_prefix = None
        if _worker.ShmWriter.usable():
            from multiprocessing import resource_tracker
            resource_tracker.ensure_running()  # one tracker, shared by the forked workers
            _worker.clean_stale_segments()
            self.shm_prefix = f"mdl{os.getpid()}_{id(self) & 0xFFFFFF:x}_"
            self.shm_reader = _worker.ShmReader(self.shm_prefix)
        self.result_queue = ctx.Queue()
        self.done_event = ctx.Event()
        for wid in range(self.n):
            q = ctx.Queue()
            q.cancel_join_thread()  # never block interpreter exit on a dead worker's pipe
            seed = (base_seed + wid) & ((1 << 63) - 1)
            p = ctx.Process(target=_worker.worker_loop,
                            args=(fetcher, q, self.result_queue, self.done_event, wid, self.n,
                                  seed, loader.worker_init_fn, False, os.getpid(),
                                  self.shm_prefix),
                            daemon=True, name=f"minidl-DataLoader-worker-{wid}")
            self.index_queues.append(q)
            p.start()
            self.workers.append(p)

    def _start_threads(self, loader, fetcher, base_seed) -> None:
        self.is_thread = True
        self.result_queue = queue.Queue()
        self.done_event = threading.Event()
        self.workers, self.index_queues = [], []
        for wid in range(self.n):
            q: queue.Queue = queue.Queue()
            seed = (base_seed + wid) & ((1 << 63) - 1)
            # each thread gets its own Fetcher: iterable datasets keep per-worker iterators
            f = _worker.Fetcher(fetcher.dataset, fetcher.auto_collation, fetcher.collate_fn,
                                fetcher.drop_last, fetcher.batch_size, fetcher.iterable)
            t = threading.Thread(target=_worker.worker_loop,
                                 args=(f, q, self.result_queue, self.done_event, wid, self.n,
                                       seed, loader.worker_init_fn, True, None),
                                 daemon=True, name=f"minidl-DataLoader-worker-{wid}")
            self.index_queues.append(q)
            t.start()
            self.workers.append(t)

    def check_alive(self) -> None:
        for wid, w in enumerate(self.workers):
            if not w.is_alive():
                if self.is_thread:
                    msg = f"DataLoader worker thread {wid} exited unexpectedly"
                else:
                    code = w.exitcode
                    how = f"exit code {code}"
                    if code is not None and code < 0:
                        import signal
                        try:
                            how += f" (killed by signal {signal.Signals(-code).name})"
                        except ValueError:
                            pass
                    msg = f"DataLoader worker {wid} (pid {w.pid}) exited unexpectedly with {how}"
                self.shutdown()
                raise RuntimeError(msg)

    def shutdown(self, grace: float = 2.0) -> None:
        """Stop the workers: ask, wait up to `grace` seconds, then terminate stragglers."""
        if self.closed or os.getpid() != self.owner_pid:  # a forked child holds a copy of us
            return
        self.closed = True
        done = getattr(self, "done_event", None)
        if done is not None:
            done.set()
        for q in self.index_queues:
            try:
                q.put(None)
            except Exception:  # a closed or broken queue: the worker is exiting anyway
                pass
        deadline = time.monotonic() + grace
        for w in self.workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        if not getattr(self, "is_thread", True):
            for w in self.workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=1.0)
            for q in self.index_queues:
                q.close()
            rq = getattr(self, "result_queue", None)
            if rq is not None:
                rq.cancel_join_thread()
                rq.close()
            if getattr(self, "shm_reader", None) is not None:
                self.shm_reader.close()


def _shutdown_pool(pool: _Pool, grace: list) -> None:
    pool.shutdown(grace[0])


class _MultiWorkerIter(_BaseIter):
    """Dispatches batches to workers round-robin, keeps `prefetch_factor * num_workers` in flight,
    and yields them in order."""

    def __init__(self, loader: DataLoader, base_seed, index_iter, start, sampler_state) -> None:
        self._epoch = 0
        super().__init__(loader, base_seed, index_iter, start, sampler_state)
        self._pool = _Pool(loader, self._fetcher, base_seed)
        self._grace = [2.0]  # seconds the workers get to exit by themselves at shutdown
        self._finalizer = weakref.finalize(self, _shutdown_pool, self._pool, self._grace)
        self._prime()

    def _set_epoch(self, base_seed, index_iter, start, sampler_state) -> None:
        super()._set_epoch(base_seed, index_iter, start, sampler_state)
        self._epoch += 1
        self._send_idx = self._rcvd_idx = start
        self._task_worker: dict[int, int] = {}
        self._buffer: dict[int, Any] = {}
        self._active = [True] * self._loader.num_workers
        self._next_worker = 0
        self._sampler_done = False

    def _reset(self, base_seed, index_iter, start, sampler_state) -> None:
        self._set_epoch(base_seed, index_iter, start, sampler_state)
        self._prime()

    def _prime(self) -> None:
        for _ in range(self._loader.prefetch_factor * self._loader.num_workers):
            self._try_put()

    def usable(self) -> bool:
        return not self._pool.closed

    def _try_put(self) -> None:
        if self._sampler_done or len(self._task_worker) >= (
                self._loader.prefetch_factor * self._loader.num_workers):
            return
        n = self._loader.num_workers
        for _ in range(n):
            wid = self._next_worker
            self._next_worker = (self._next_worker + 1) % n
            if self._active[wid]:
                break
        else:
            self._sampler_done = True
            return
        if self._index_iter is not None:
            try:
                indices = next(self._index_iter)
            except StopIteration:
                self._sampler_done = True
                return
        else:
            indices = None
        self._pool.index_queues[wid].put((self._epoch, self._send_idx, indices, self.base_seed))
        self._task_worker[self._send_idx] = wid
        self._send_idx += 1

    def _get(self):
        """The next (epoch, task, payload) from the result queue, checking worker liveness."""
        timeout = self._loader.timeout
        deadline = time.monotonic() + timeout if timeout > 0 else None
        while True:
            try:
                item = self._pool.result_queue.get(timeout=_worker._POLL)
            except queue.Empty:
                self._pool.check_alive()
                if deadline is not None and time.monotonic() > deadline:
                    self._shutdown(grace=0.1)
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds")
                continue
            if isinstance(item, bytes):
                reader = getattr(self._pool, "shm_reader", None)
                epoch, task, payload = pickle.loads(item)
                if epoch != self._epoch or task < self._rcvd_idx:
                    _worker.release(payload, reader)  # stale: free its shared memory now
                    return epoch, task, None
                return epoch, task, _worker.unpack(payload, reader)
            return item

    def _next_data(self):
        while True:
            # drop tasks of workers known to be exhausted (IterableDataset)
            while self._rcvd_idx < self._send_idx:
                wid = self._task_worker[self._rcvd_idx]
                if self._active[wid] or self._rcvd_idx in self._buffer:
                    break
                del self._task_worker[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                raise StopIteration
            if self._rcvd_idx in self._buffer:
                payload = self._buffer.pop(self._rcvd_idx)
            else:
                epoch, task, payload = self._get()
                if epoch != self._epoch or task < self._rcvd_idx:
                    continue  # left over from an abandoned epoch, or a void task
                if task != self._rcvd_idx:
                    self._buffer[task] = payload
                    continue
            wid = self._task_worker.pop(self._rcvd_idx)
            self._rcvd_idx += 1
            if isinstance(payload, _worker.IterableEnd):
                self._active[wid] = False
                self._try_put()
                continue
            if isinstance(payload, _worker.ExceptionWrapper):
                self._shutdown(grace=0.1)
                payload.reraise()
            self._try_put()
            return payload

    def __next__(self):
        if self.finished:
            raise StopIteration
        while True:
            try:
                data = self._next_data()
            except StopIteration:
                self.finished = True
                if not self._loader.persistent_workers:
                    self._shutdown()
                raise
            if self._skip_iterable:
                self._skip_iterable -= 1
                continue
            self.yielded += 1
            return self._pin(data)

    def _shutdown(self, grace: float = 2.0) -> None:
        if self._loader._iterator is self:
            self._loader._iterator = None
        self._grace[0] = grace
        self._finalizer()

    def __del__(self):
        fin = getattr(self, "_finalizer", None)
        if fin is not None:
            fin()
