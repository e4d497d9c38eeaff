"""The backend contract: the short list of array primitives every device implements.

`minidl.backend.cpu` (numpy + numba) and `minidl.cuda.backend` (numba.cuda kernels) each provide
every function below, with the same signature and semantics; tests/test_backend_contract.py walks
this list.  Arrays are the device's own (numpy ndarray / numba DeviceNDArray), C-contiguous unless
said otherwise; shapes and strides are tuples of ints, strides in *elements*.  Callers (minidl.ops)
validate shapes, dtypes and devices before calling; primitives may assume valid input.
dtypes are numpy dtypes (float32, float64, int64, bool).
"""
from __future__ import annotations

from typing import Protocol, Sequence

Array = object
Shape = tuple


class Backend(Protocol):
    # ---- memory -------------------------------------------------------------------------------
    def from_numpy(self, a) -> Array:
        """Copy a host numpy array to the device (result C-contiguous, same dtype)."""

    def to_numpy(self, a: Array):
        """Copy a device array to a new host numpy array."""

    def empty(self, shape: Shape, dtype) -> Array:
        """Uninitialised array."""

    def full(self, shape: Shape, value, dtype) -> Array:
        """Array filled with `value` (cast to dtype)."""

    def arange(self, start, step, n: int, dtype) -> Array:
        """[start, start+step, ..., start+(n-1)*step] of dtype."""

    def astype(self, a: Array, dtype) -> Array:
        """A new array of `dtype` (float -> int truncates toward zero)."""

    def copy(self, a: Array) -> Array:
        """A new C-contiguous array equal to `a` (`a` may be a strided view on CPU)."""

    def reshape(self, a: Array, shape: Shape) -> Array:
        """A view of C-contiguous `a` with a new shape of the same size."""

    def copy_into(self, dst: Array, src: Array) -> None:
        """dst[...] = src in place; same shape and dtype."""

    # ---- movement -----------------------------------------------------------------------------
    def strided_copy(self, a: Array, shape: Shape, strides: Shape, offset: int) -> Array:
        """out[i] = a.flat[offset + sum(i_k * strides_k)]: transpose, expand, slices with steps.

        Strides may be 0 (broadcast) or negative; out is C-contiguous of `shape`."""

    def strided_add_(self, dst: Array, shape: Shape, strides: Shape, offset: int, src: Array) -> None:
        """dst.flat[offset + sum(i_k * strides_k)] += src[i] in place.

        The addressed positions must not repeat (a non-overlapping view: slices, permutes), so
        no atomics are needed and results are deterministic."""

    def take(self, a: Array, index: Array) -> Array:
        """out = a.flat[index]; index int64 of any shape, values in [0, a.size)."""

    def index_add(self, size: int, index: Array, src: Array) -> Array:
        """out = zeros(size); out[index.flat[j]] += src.flat[j]; repeated indices accumulate."""

    def put_(self, a: Array, index: Array, src: Array) -> None:
        """a.flat[index.flat[j]] = src.flat[j] in place (indices assumed distinct)."""

    # ---- elementwise --------------------------------------------------------------------------
    def map(self, name: str, arrays: Sequence[Array], params: Sequence = ()) -> Array:
        """Apply scalar function `minidl.backend.scalar.FUNCTIONS[name]` elementwise.

        Inputs broadcast against each other (numpy rules, any may be 0-d) and share one dtype,
        except `where`, whose first operand is bool.  `params` are scalars cast to that dtype.
        Result dtype: the inputs' dtype, or bool for comparisons."""

    # ---- reductions ---------------------------------------------------------------------------
    def reduce(self, name: str, a: Array, axes: Shape, keepdims: bool) -> Array:
        """name in {"sum", "max", "min"} over `axes` (non-empty, sorted, non-negative).

        sum of bool/int64 gives int64; floats accumulate in their own dtype (pairwise/tree
        order, so results may differ from a sequential sum by rounding)."""

    def arg_reduce(self, name: str, a: Array, axis: int, keepdims: bool) -> Array:
        """name in {"argmax", "argmin"} along one axis; int64 index of the first extreme (NaN wins)."""

    # ---- linear algebra -----------------------------------------------------------------------
    def matmul(self, a: Array, b: Array) -> Array:
        """Batched product: a [B, M, K] @ b [B, K, N] -> [B, M, N], same float dtype."""

    # ---- random -------------------------------------------------------------------------------
    def rand_uniform(self, shape: Shape, dtype, seed: int, offset: int) -> Array:
        """U[0,1) from minidl.backend.counter_rng at counters offset..offset+n-1 (bit-identical on
        every backend)."""

    def rand_normal(self, shape: Shape, dtype, seed: int, offset: int) -> Array:
        """N(0,1) from counter_rng.make_normal, likewise."""


def primitive_names() -> list[str]:
    """Every primitive of the contract, for the contract test."""
    return sorted(n for n in Backend.__dict__ if not n.startswith("_") and callable(Backend.__dict__[n]))
