"""DistributedDataParallel (torch.nn.parallel.DistributedDataParallel's API and semantics).

Construction: the ranks' parameter layouts are compared once (CollectiveMismatchError if they
differ), rank 0's parameters and buffers are broadcast, and the parameters that require grad
are packed, in reverse registration order (roughly the order backward produces their
gradients), into buckets of at most `bucket_cap_mb` per (dtype, device).

Backward. A hook on each parameter's gradient (the leaf's AccumulateGrad hook, which minidl
runs once per backward with the gradient summed over all uses) copies grad (+ the .grad
accumulated so far, e.g. under no_sync) into the parameter's slot of its bucket. When a bucket's
last slot is written, a non-blocking MPI_Iallreduce of the whole bucket starts, while backward
goes on with the earlier layers. Buckets start in bucket order on every rank (MPI needs the
same order everywhere). When the last parameter's hook runs, all allreduces are waited for, the
averaged gradients are written to every `.grad`, and backward returns with them in place: the
optimizer step needs no extra call.

Open MPI progresses non-blocking collectives only inside MPI calls, so each hook also polls the
outstanding requests (MPI_Test) to move them on.
"""
from __future__ import annotations

import contextlib
import weakref

import numpy as np

from ..autograd import AccumulateGrad, is_grad_enabled, no_grad
from ..nn.module import Module
from ..tensor import Tensor
from ..creation import zeros
from ._group import CollectiveMismatchError, _get
from .collectives import _Buf, _iallreduce_array

__all__ = ["DistributedDataParallel"]

_UNFINISHED = (
    "Expected to have finished reduction in the prior iteration before starting a new one. This "
    "error indicates that your module has parameters that were not used in producing loss. You "
    "can enable unused parameter detection by passing the keyword argument "
    "`find_unused_parameters=True` to `minidl.distributed.DistributedDataParallel`, and by making "
    "sure all `forward` function outputs participate in calculating loss. Parameters which did "
    "not receive grad for rank {rank}: {names}")


class _Bucket:
    __slots__ = ("index", "members", "flat", "pending", "work")

    def __init__(self, index: int, members: list, numel: int, dtype, device):
        self.index = index
        self.members = members  # [(param index, offset, numel, shape)]
        self.flat = zeros(numel, dtype=dtype, device=device)
        self.pending = len(members)
        self.work = None

    def slot(self, offset: int, numel: int, shape):
        return self.flat._data[offset:offset + numel].reshape(shape)


class DistributedDataParallel(Module):
    """Data parallelism over the MPI ranks: wrap the model, train as usual, and every backward
    leaves in `.grad` the gradient averaged over the ranks (each rank sees its own batch).

    Args (PyTorch's names): module; broadcast_buffers (rank 0's buffers, e.g. BatchNorm running
    statistics, are broadcast before every forward that records a graph); bucket_cap_mb
    (default 25); find_unused_parameters (walk the output's graph after each forward so that
    parameters it does not reach do not stall the reduction; those unused on every rank keep
    their .grad); gradient_as_bucket_view (.grad becomes a view of the bucket instead of a copy).
    device_ids / output_device / dim / process_group / static_graph are accepted for
    compatibility (one device per process; inputs are not moved)."""

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb=None,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False) -> None:
        super().__init__()
        g = _get()
        self.module = module
        self.device_ids = device_ids
        self.broadcast_buffers = bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters)
        self.gradient_as_bucket_view = bool(gradient_as_bucket_view)
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = int(float(25 if bucket_cap_mb is None else bucket_cap_mb) * 2 ** 20)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._names = [n for n, _ in named]
        self._check_layout(g, named, list(module.named_buffers()))
        self._params = [p for _, p in named]
        self._module_buffers = [b for _, b in module.named_buffers()]
        with no_grad():
            for t in list(module.parameters()) + self._module_buffers:
                _broadcast_now(g, t)
        self._buckets, self._where = self._build_buckets()
        self._sync_now = False
        self._ready = 0
        self._next = 0
        self._finished = True
        self._unused: list[int] = []
        self._used = np.zeros(len(self._params), np.int32)
        me = weakref.ref(self)
        for i, p in enumerate(self._params):
            p.register_hook(_make_hook(me, i))

    # ---- construction ----------------------------------------------------------------------
    @staticmethod
    def _check_layout(g, named, buffers) -> None:
        mine = [("parameter", n, tuple(p.shape), p.dtype.name) for n, p in named]
        mine += [("buffer", n, tuple(b.shape), b.dtype.name) for n, b in buffers]
        if g.size == 1:
            return
        every = g.comm.allgather(mine)
        ref = every[0]
        for r, theirs in enumerate(every[1:], 1):
            if theirs == ref:
                continue
            if len(theirs) != len(ref):
                raise CollectiveMismatchError(
                    f"DistributedDataParallel: rank 0's model has {len(ref)} parameters and "
                    f"buffers but rank {r}'s has {len(theirs)}: every rank must wrap the same "
                    "model")
            a, b = next((a, b) for a, b in zip(ref, theirs) if a != b)
            raise CollectiveMismatchError(
                f"DistributedDataParallel: the ranks' models differ: rank 0 has {a[0]} {a[1]!r} "
                f"{a[3]} {list(a[2])}, rank {r} has {b[0]} {b[1]!r} {b[3]} {list(b[2])}")

    def _build_buckets(self):
        groups: dict = {}
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            groups.setdefault((p.dtype.name, str(p.device)), []).append(i)
        buckets, where = [], {}
        for idx in groups.values():
            cur, size, numel = [], 0, 0
            for i in idx + [None]:
                p = None if i is None else self._params[i]
                nbytes = 0 if p is None else p.numel() * p.element_size()
                if cur and (p is None or size + nbytes > self.bucket_bytes_cap):
                    first = self._params[cur[0][0]]
                    b = _Bucket(len(buckets), cur, numel, first.dtype, first.device)
                    for j, off, n, _ in cur:
                        where[j] = (b, off, n)
                    buckets.append(b)
                    cur, size, numel = [], 0, 0
                if p is not None:
                    cur.append((i, numel, p.numel(), tuple(p.shape)))
                    size += nbytes
                    numel += p.numel()
        return buckets, where

    # ---- forward ---------------------------------------------------------------------------
    def forward(self, *inputs, **kwargs):
        if not self._finished:
            missing = [self._names[i] for i in range(len(self._params)) if not self._used[i]]
            raise RuntimeError(_UNFINISHED.format(rank=_get().rank, names=", ".join(missing)))
        sync = is_grad_enabled() and self.require_backward_grad_sync
        if sync and self.broadcast_buffers and self._module_buffers:
            g = _get()
            with no_grad():
                for b in self._module_buffers:
                    _broadcast_now(g, b)
        out = self.module(*inputs, **kwargs)
        self._sync_now = sync and bool(self._params)
        self._ready, self._next = 0, 0
        self._used[:] = 0
        self._unused = []
        for b in self._buckets:
            b.pending, b.work = len(b.members), None
        if self._sync_now and self.find_unused_parameters:
            reached = _reachable_leaves(out)
            self._unused = [i for i, p in enumerate(self._params) if id(p) not in reached]
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Inside: forward/backward accumulate into .grad locally, without communication; the
        first backward after it averages the accumulated gradients."""
        prev = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = prev

    # ---- backward --------------------------------------------------------------------------
    def _on_grad(self, i: int, grad: Tensor):
        if not self._sync_now:
            return None
        if self._ready == 0:
            self._finished = False
            for j in self._unused:  # PyTorch's order: unused params become ready at the first hook
                self._mark_ready(j, None)
        self._used[i] = 1
        self._mark_ready(i, grad)
        if self._ready < len(self._params):
            for b in self._buckets[:self._next]:  # let MPI progress the running allreduces
                b.work.is_completed()
            return None
        return self._finalize(i)

    def _mark_ready(self, i: int, grad: Tensor | None) -> None:
        p = self._params[i]
        b, off, n = self._where[i]
        slot = b.slot(off, n, tuple(p.shape))
        old = p.grad
        be = b.flat._backend
        if grad is None:
            src = None if old is None else old._data
        elif old is None:
            src = grad._data
        elif not p.is_cuda:
            np.add(old._data, grad._data, out=slot)
            src = slot
        else:
            src = (old.detach() + grad.detach())._data
        if src is None:
            be.copy_into(slot, be.full(slot.shape, 0, slot.dtype))
        elif src is not slot:
            be.copy_into(slot, src)
        self._ready += 1
        b.pending -= 1
        g = None
        while self._next < len(self._buckets) and self._buckets[self._next].pending == 0:
            g = g or _get()
            nb = self._buckets[self._next]
            nb.work = _iallreduce_array(g, _Buf(nb.flat), g.MPI.SUM, True)
            self._next += 1

    def _finalize(self, last: int):
        g = _get()
        for b in self._buckets:
            b.work.wait()
        unused_everywhere = set()
        if self.find_unused_parameters:
            used = self._used.copy()
            g.comm.Allreduce(g.MPI.IN_PLACE, used, op=g.MPI.MAX)
            unused_everywhere = {i for i in range(len(used)) if not used[i]}
        result = None
        for i, p in enumerate(self._params):
            if i in unused_everywhere:
                continue
            b, off, n = self._where[i]
            slot = b.slot(off, n, tuple(p.shape))
            data = slot if self.gradient_as_bucket_view else b.flat._backend.copy(slot)
            grad = Tensor._wrap(data, p.device)
            if i == last:
                # the engine adds the value this hook returns to .grad right after it
                p.grad, result = None, grad
            else:
                p.grad = grad
        self._finished = True
        self._sync_now = False
        return result


def _make_hook(ref, i: int):
    def hook(grad):
        ddp = ref()
        return None if ddp is None else ddp._on_grad(i, grad)
    return hook


def _broadcast_now(g, t: Tensor) -> None:
    if g.size > 1:
        buf = _Buf(t)
        g.comm.Bcast(buf.arr, root=0)
        buf.writeback()


def _reachable_leaves(out) -> set:
    """ids of the leaf tensors whose AccumulateGrad the graph of `out` reaches."""
    roots, stack = [], [out]
    while stack:
        o = stack.pop()
        if isinstance(o, Tensor):
            if o.grad_fn is not None:
                roots.append(o.grad_fn)
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)
    seen, found = set(), set()
    while roots:
        n = roots.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if isinstance(n, AccumulateGrad):
            v = n.variable
            if v is not None:
                found.add(id(v))
            continue
        for e in n.next_functions:
            if e is not None:
                roots.append(e[0])
    return found
