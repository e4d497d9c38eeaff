"""Collectives on tensors over the default MPI group (torch.distributed's API): all_reduce,
broadcast, all_gather (+ all_gather_into_tensor), reduce_scatter (+ reduce_scatter_tensor),
each blocking or, with async_op=True, returning a `Work` whose wait() completes it.

Memory. A contiguous CPU tensor's numpy storage is handed to MPI as is (buffer protocol, no
copy). A CUDA tensor goes to MPI as a device pointer (__cuda_array_interface__) when the MPI
library is CUDA-aware (`is_cuda_aware_mpi`), else it is staged: device -> pinned host buffer,
MPI on the host buffer, host -> device in wait(). Non-contiguous tensors go through a contiguous
temporary that is copied back.

Checks. Every public call first agrees across ranks on (collective, shape, dtype, op, root)
with one 16-byte MPI_Allreduce, and raises CollectiveMismatchError on every rank when they
differ (MPI itself would hang or silently misread). DistributedDataParallel checks its bucket
layout once and then uses the unchecked `_iallreduce_array`.
"""
from __future__ import annotations

import enum
import zlib

import numpy as np

from ..errors import DTypeError, ShapeError
from ._group import CollectiveMismatchError, _get, is_cuda_aware_mpi

__all__ = ["ReduceOp", "Work", "all_reduce", "broadcast", "all_gather", "all_gather_into_tensor",
           "reduce_scatter", "reduce_scatter_tensor"]


class ReduceOp(enum.Enum):
    """Reduction of all_reduce / reduce_scatter (torch.distributed.ReduceOp's names). AVG is
    SUM divided by the world size (floating dtypes only); on bool tensors SUM and MAX are a
    logical or, PRODUCT and MIN a logical and."""

    SUM = "sum"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    AVG = "avg"


class Work:
    """Handle of an asynchronous collective (async_op=True)."""

    def __init__(self, request, finish=None, keep=()):
        self._req = request
        self._finish = finish
        self._keep = keep  # buffers MPI is reading/writing must outlive the request
        self._done = False

    def _complete(self) -> None:
        self._done = True
        if self._finish is not None:
            fin, self._finish = self._finish, None
            fin()
        self._keep = ()

    def wait(self, timeout=None) -> bool:
        """Block until the collective has completed and its output tensors hold the result."""
        if not self._done:
            self._req.Wait()
            self._complete()
        return True

    def is_completed(self) -> bool:
        """True once the result is in place (polls MPI without blocking)."""
        if not self._done and self._req.Test():
            self._complete()
        return self._done

    def is_success(self) -> bool:
        """True once completed (MPI errors abort the job rather than fail one request)."""
        return self.is_completed()


# ---------------------------------------------------------------- buffers


_pinned_pool: list = []


def _pinned(nbytes: int):
    """A pinned host buffer of at least nbytes (uint8), reused across calls."""
    for i, b in enumerate(_pinned_pool):
        if b.size >= nbytes:
            return _pinned_pool.pop(i)
    from ..cuda import _numba_cuda
    return _numba_cuda().pinned_array(max(nbytes, 1), dtype=np.uint8)


class _Buf:
    """The MPI-facing buffer of a tensor's storage and how to write results back."""

    __slots__ = ("arr", "t", "pinned", "tmp", "_dev")

    def __init__(self, t):
        data = t._data
        self.t, self.pinned, self.tmp, self._dev = t, None, False, None
        if not t.is_cuda:
            if data.flags.c_contiguous:
                self.arr = data
            else:
                self.arr, self.tmp = np.ascontiguousarray(data), True
            return
        if not data.is_c_contiguous():
            data = t._backend.copy(data)
            self.tmp = True
        self._dev = data
        if is_cuda_aware_mpi():
            from ..cuda import synchronize
            synchronize()  # kernels writing the tensor must finish before MPI reads it
            self.arr = data
            return
        # staged: a 1-D pinned host copy (MPI needs only the bytes; 1-D avoids the stride
        # conventions of size-0/size-1 dims differing between numba and numpy)
        n = data.size
        self.pinned = _pinned(n * data.dtype.itemsize)
        self.arr = self.pinned[:n * data.dtype.itemsize].view(data.dtype)
        if n:
            data.reshape(n).copy_to_host(self.arr)

    def writeback(self) -> None:
        t = self.t
        if t.is_cuda and self.pinned is not None:
            if self.arr.size:
                self._dev.reshape(self.arr.size).copy_to_device(self.arr)
            _pinned_pool.append(self.pinned)
            self.pinned = None
        if self.tmp:
            t._backend.copy_into(t._data, self._dev if t.is_cuda else self.arr)
        t._bump()


def _mpi_op(MPI, op: ReduceOp, dtype, name: str):
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{name}: op must be a minidl.distributed.ReduceOp, got {op!r}")
    if dtype == np.bool_:
        if op is ReduceOp.AVG:
            raise DTypeError(f"{name}: ReduceOp.AVG is not defined for bool tensors")
        return MPI.LOR if op in (ReduceOp.SUM, ReduceOp.MAX) else MPI.LAND
    if op is ReduceOp.AVG and not np.issubdtype(dtype, np.floating):
        raise DTypeError(f"{name}: ReduceOp.AVG needs a floating point tensor, got {dtype}")
    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
            ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}[op]


def _agree(g, name: str, desc: str) -> None:
    """Raise CollectiveMismatchError on every rank unless all ranks passed the same `desc`."""
    if g.size == 1:
        return
    h = zlib.crc32(f"{name}: {desc}".encode()) & 0x7FFFFFFF  # also catches different collectives
    v = np.array([h, -h], np.int64)
    g.comm.Allreduce(g.MPI.IN_PLACE, v, op=g.MPI.MIN)
    if v[0] != -v[1]:
        descs = g.comm.allgather(f"{name} of {desc}")
        lines = "; ".join(f"rank {r}: {d}" for r, d in enumerate(descs))
        raise CollectiveMismatchError(f"{name}: ranks called it with different arguments ({lines})")


def _desc(t) -> str:
    return f"{np.dtype(t._data.dtype).name} {list(t.shape)} on {t.device.type}"


def _check_tensor(name: str, t) -> None:
    from ..tensor import Tensor
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: expected a minidl.Tensor, got {type(t).__name__}")


def _run(request, finish, async_op: bool, keep=()):
    work = Work(request, finish, keep)
    if async_op:
        return work
    work.wait()
    return None


# ---------------------------------------------------------------- collectives


def _finisher(buf: _Buf, avg_by: int = 0):
    """Write the result back into the tensor, dividing by `avg_by` first (ReduceOp.AVG)."""
    def finish():
        on_host = not buf.t.is_cuda or buf.pinned is not None
        if avg_by and on_host:
            np.divide(buf.arr, avg_by, out=buf.arr)
        buf.writeback()
        if avg_by and not on_host:  # CUDA-aware MPI: divide on the device
            with _no_grad():
                buf.t.div_(avg_by)
    return finish


def _iallreduce_array(g, buf: _Buf, mpi_op, avg: bool) -> Work:
    """Start an in-place allreduce of `buf` (no cross-rank check)."""
    req = g.comm.Iallreduce(g.MPI.IN_PLACE, buf.arr, op=mpi_op)
    return Work(req, _finisher(buf, g.size if avg else 0), (buf,))


def _no_grad():
    from ..autograd import no_grad
    return no_grad()


def all_reduce(tensor, op: ReduceOp = ReduceOp.SUM, group=None, async_op: bool = False):
    """In place on every rank: tensor = op(tensor of rank 0, ..., tensor of rank N-1)."""
    _check_tensor("all_reduce", tensor)
    g = _get()
    dtype = np.dtype(tensor._data.dtype)
    mpi_op = _mpi_op(g.MPI, op, dtype, "all_reduce")
    _agree(g, "all_reduce", f"{_desc(tensor)} op {op.name}")
    work = _iallreduce_array(g, _Buf(tensor), mpi_op, op is ReduceOp.AVG)
    if async_op:
        return work
    work.wait()
    return None


def broadcast(tensor, src: int = 0, group=None, async_op: bool = False):
    """In place: every rank's tensor becomes rank `src`'s."""
    _check_tensor("broadcast", tensor)
    g = _get()
    if not 0 <= int(src) < g.size:
        raise ValueError(f"broadcast: src={src} is not a rank of a group of size {g.size}")
    _agree(g, "broadcast", f"{_desc(tensor)} src {int(src)}")
    buf = _Buf(tensor)
    return _run(g.comm.Ibcast(buf.arr, root=int(src)), buf.writeback, async_op, (buf,))


def _same_as(name: str, t, ref, what: str) -> None:
    _check_tensor(name, t)
    if tuple(t.shape) != tuple(ref.shape):
        raise ShapeError(f"{name}: {what} has shape {list(t.shape)}, expected {list(ref.shape)}")
    if t.dtype != ref.dtype or t.device != ref.device:
        raise DTypeError(f"{name}: {what} is {t.dtype} on {t.device}, expected {ref.dtype} on "
                         f"{ref.device}")


def _check_per_rank(op: str, g, name: str, tensors: list, ref) -> None:
    """ValueError unless `tensors` holds one tensor per rank, each like `ref` (_same_as)."""
    if len(tensors) != g.size:
        raise ValueError(f"{op}: {name} has {len(tensors)} tensors, expected the world size "
                         f"{g.size}")
    for i, t in enumerate(tensors):
        _same_as(op, t, ref, f"{name}[{i}]")


def all_gather(tensor_list: list, tensor, group=None, async_op: bool = False):
    """tensor_list[r] = rank r's `tensor`, on every rank (tensor_list has world size tensors of
    tensor's shape, dtype and device)."""
    _check_tensor("all_gather", tensor)
    g = _get()
    _check_per_rank("all_gather", g, "tensor_list", tensor_list, tensor)
    _agree(g, "all_gather", _desc(tensor))
    from ..creation import empty
    out = empty(g.size, *tensor.shape, dtype=tensor.dtype, device=tensor.device)
    send, recv = _Buf(tensor), _Buf(out)

    def finish():
        recv.writeback()
        with _no_grad():
            for i, t in enumerate(tensor_list):
                t.copy_(out[i])
    return _run(g.comm.Iallgather(send.arr, recv.arr), finish, async_op, (send, recv))


def _check_stacked(op: str, g, stacked, block) -> None:
    """ShapeError unless stacked = (name, tensor [world * d0, ...]) holds one block = (name,
    tensor [d0, ...]) per rank, of the block's dtype."""
    (sname, s), (bname, b) = stacked, block
    want = (g.size * (b.shape[0] if b.ndim else 1),) + b.shape[1:]
    if tuple(s.shape) != want or s.dtype != b.dtype:
        raise ShapeError(f"{op}: {sname} {s.dtype} {list(s.shape)} must be {b.dtype} "
                         f"{list(want)} for {bname} {list(b.shape)} and world size {g.size}")


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op: bool = False):
    """output_tensor [N * d0, ...] = the ranks' input_tensor [d0, ...] stacked in rank order."""
    _check_tensor("all_gather_into_tensor", input_tensor)
    _check_tensor("all_gather_into_tensor", output_tensor)
    g = _get()
    _check_stacked("all_gather_into_tensor", g, ("output", output_tensor), ("input", input_tensor))
    _agree(g, "all_gather_into_tensor", _desc(input_tensor))
    send, recv = _Buf(input_tensor), _Buf(output_tensor)
    return _run(g.comm.Iallgather(send.arr, recv.arr), recv.writeback, async_op, (send, recv))


def _reduce_scatter(name, g, output, send: _Buf, op, async_op):
    mpi_op = _mpi_op(g.MPI, op, np.dtype(output._data.dtype), name)
    _agree(g, name, f"{_desc(output)} op {op.name}")
    recv = _Buf(output)
    finish = _finisher(recv, g.size if op is ReduceOp.AVG else 0)
    req = g.comm.Ireduce_scatter_block(send.arr, recv.arr, op=mpi_op)
    return _run(req, finish, async_op, (send, recv))


def reduce_scatter(output, input_list: list, op: ReduceOp = ReduceOp.SUM, group=None,
                   async_op: bool = False):
    """output on rank r = op over ranks of their input_list[r] (world size tensors shaped like
    output)."""
    _check_tensor("reduce_scatter", output)
    g = _get()
    _check_per_rank("reduce_scatter", g, "input_list", input_list, output)
    from ..ops.movement import stack
    with _no_grad():
        packed = stack([t.detach() for t in input_list]) if input_list else None
    return _reduce_scatter("reduce_scatter", g, output, _Buf(packed), op, async_op)


def reduce_scatter_tensor(output, input, op: ReduceOp = ReduceOp.SUM, group=None,
                          async_op: bool = False):
    """output [d0, ...] on rank r = op over ranks of input [N * d0, ...]'s r-th block."""
    _check_tensor("reduce_scatter_tensor", output)
    _check_tensor("reduce_scatter_tensor", input)
    g = _get()
    _check_stacked("reduce_scatter_tensor", g, ("input", input), ("output", output))
    return _reduce_scatter("reduce_scatter_tensor", g, output, _Buf(input), op, async_op)
