"""The op table: one `OpInfo` row per op, from which tests/test_ops*.py are generated.

This module is the harness: the row and sample types, the helpers for building samples, and the
registry `OP_DB`. Each op family keeps its rows in `minidl/testing/opinfo_<family>.py` (a module
exposing `OPS: list[OpInfo]`: elementwise, reduce, movement, nn, conv), imported by name at the
bottom of this file; the foundation ops' numpy references live in `opinfo_refs.py`.

`SampleInput(args: tuple, kwargs: dict = {}, name: str = "")`
    One call of the op: `op(*args, **kwargs)`. `args` hold minidl Tensors and any non-tensor
    arguments (ints, tuples, python scalars; index tensors are int64 and never require grad;
    an index tuple may contain tensors). The differentiable inputs are the top-level Tensors of
    `args` with requires_grad=True: gradcheck and the CUDA gradient test check exactly those.
    `kwargs` go unchanged to both `op` and `ref` and must not contain tensors. `name` labels the
    case in test ids and failure messages ("broadcast", "transposed", "empty", ...).

`ErrorInput(args: tuple, kwargs: dict, error: type, match: str)`
    A call that must fail: `op(*args, **kwargs)` raises `error` (or a subclass) and
    `re.search(match, str(exception))` succeeds.

`OpInfo` fields:
    name         str, unique over the whole table (test ids use it), e.g. "add", "max_dim".
    op           callable(*args, **kwargs) -> Tensor | tuple of Tensors: the minidl op.
    ref          callable(*numpy_args, **kwargs) -> ndarray | scalar | tuple: an independent
                 reference written directly in numpy (never calling minidl). It receives `args`
                 with every Tensor (also inside tuples/lists) replaced by a host numpy copy in
                 the tensor's dtype (`to_numpy_args`); other args unchanged. A tuple output needs
                 a tuple of the same length. When the reference result is floating and the test
                 dtype is floating, the op's result dtype must equal it (keep float32 float32);
                 bool/int64 results must match exactly in dtype and value.
    sample_inputs  callable(device: str, dtype: minidl.DType, requires_grad: bool)
                 -> list[SampleInput]. Build the inputs on `device` in `dtype` and, when
                 requires_grad, with the floating inputs requiring grad. The list must depend
                 only on (dtype, requires_grad), not on the device: the CUDA test builds it for
                 "cpu" and "cuda" and compares sample i with sample i (`Maker` does this).
                 Cover broadcasting, permuted/transposed inputs (`Maker.t`), size 0 and size 1
                 dims, 0-d tensors, awkward sizes (1, 15, 17, 31, 33). Keep every tensor under
                 ~1000 elements (checked): the CUDA simulator runs one Python thread per GPU
                 thread.
    dtypes       dtypes the forward test runs over (default (float32, float64); add
                 minidl.int64 where integer inputs are meaningful).
    differentiable  bool (default True): False -> no gradcheck, and the outputs must not
                 require grad (argmax, comparisons).
    supports_cuda   bool (default True): False -> tests/test_ops_cuda.py skips the row.
    atol, rtol   forward tolerances vs `ref`: used as given in float64 (defaults 1e-5 and
                 1.3e-6); float32 uses max(atol, 1e-5) and max(rtol, 1e-4). CUDA-vs-CPU
                 (float32) uses max(atol, 1e-4) and max(rtol, 1e-4) for values and gradients.
    grad_atol, grad_rtol  gradcheck tolerances (float64 central differences, eps 1e-6;
                 defaults 1e-5 and 1e-3).
    error_inputs callable(device: str) -> list[ErrorInput], or None.
    strategy     None, or a zero-argument callable returning a hypothesis strategy of
                 SampleInput with float64 CPU inputs requiring grad, over shapes and values
                 (forward vs ref, and gradcheck if differentiable). Build it from
                 minidl.testing.strategies; import hypothesis inside the callable.
    avoid        kink points of the op (abs: (0.0,), clamp: its bounds). Documentation of what
                 sample_inputs and strategy must stay away from: pass it to
                 `Maker(...)(shape, avoid=...)` / `strategies.tensors(avoid=...)`, which keep a
                 margin so central differences never straddle a kink.
    gradcheck_fn optional callable(*args, **kwargs) used instead of `op` for gradcheck only
                 (e.g. to reduce an output or pick the differentiable one); None -> op.

Helpers for rows: `Maker(device, dtype, requires_grad)` builds deterministic sample tensors
(`m(shape, low, high, avoid=...)`, `m.t(shape)` transposed, `m.distinct(shape)` without ties,
`m.index(shape, high)`, `m.mask(shape)`, `m.from_array(a)`); `make_tensor` is the one-off form.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import minidl
from minidl.dtypes import DType, float32, float64

# the API for writing rows; the ref_*/op_* helpers and sample builders are the table's own
__all__ = ["OpInfo", "SampleInput", "ErrorInput", "Maker", "make_tensor", "keep_away",
           "to_numpy_args", "OP_DB", "op_by_name"]


@dataclass
class SampleInput:
    """One call `op(*args, **kwargs)`; `name` labels the case."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    name: str = ""

    def tensors(self) -> list:
        """The Tensors among `args`, also inside tuples/lists, in order."""
        def walk(obj):
            if isinstance(obj, minidl.Tensor):
                yield obj
            elif isinstance(obj, (tuple, list)):
                for o in obj:
                    yield from walk(o)
        return list(walk(self.args))


@dataclass
class ErrorInput:
    """A call `op(*args, **kwargs)` that must raise `error` with `re.search(match, message)`."""

    args: tuple
    kwargs: dict
    error: type
    match: str


@dataclass
class OpInfo:
    """One row of the op table; the fields are documented in the module docstring."""

    name: str
    op: Callable[..., Any]
    ref: Callable[..., Any]
    sample_inputs: Callable[[str, DType, bool], list]
    dtypes: tuple = (float32, float64)
    differentiable: bool = True
    supports_cuda: bool = True
    atol: float = 1e-5
    rtol: float = 1.3e-6
    grad_atol: float = 1e-5
    grad_rtol: float = 1e-3
    error_inputs: Callable[[str], list] | None = None
    strategy: Callable[[], Any] | None = None
    avoid: tuple = ()
    gradcheck_fn: Callable[..., Any] | None = None


# ---- building sample tensors --------------------------------------------------------------------
def keep_away(a: np.ndarray, avoid, margin: float, lo: float = -np.inf,
              hi: float = np.inf) -> np.ndarray:
    """Move elements closer than `margin` to a point of `avoid` out to distance `margin` (on their
    own side, or the side inside [lo, hi]): finite differences must not straddle a kink."""
    a = np.asarray(a, dtype=np.float64)
    for p in avoid:
        near = np.abs(a - p) < margin
        if not near.any():
            continue
        out = np.where(a >= p, p + margin, p - margin)
        out = np.where(out > hi, p - margin, np.where(out < lo, p + margin, out))
        a = np.where(near, out, a)
    return a


def make_tensor(shape, device="cpu", dtype=float64, requires_grad=False, low=-2.0, high=2.0,
                avoid=(), margin=0.1, seed=0):
    """A deterministic random tensor of `shape` on `device`: uniform in [low, high) for floats
    (kept `margin` from each point of `avoid`), integers in [low, high) for int64, coin flips
    for bool.  Values depend only on (shape, low, high, seed), never on the device."""
    rng = np.random.default_rng(seed)
    dt = dtype
    if dt is minidl.bool_:
        a = rng.random(shape) < 0.5
    elif dt.is_floating_point:
        a = keep_away(rng.uniform(low, high, size=shape), avoid, margin, low, high)
    else:
        a = rng.integers(int(low), int(high), size=shape)
    t = minidl.from_numpy(np.asarray(a, dtype=dt.np, order="C"))
    if device != "cpu":
        t = t.to(device)
    if requires_grad and dt.is_floating_point:
        t.requires_grad_(True)
    return t


class Maker:
    """Tensors for one call of `sample_inputs`: fixed device/dtype/requires_grad and a running
    seed, so every sample is deterministic and the CPU and CUDA lists hold the same values."""

    def __init__(self, device, dtype, requires_grad, seed=0):
        self.device, self.dtype, self.requires_grad = device, dtype, requires_grad
        self.seed = seed

    def _next(self) -> int:
        self.seed += 1
        return self.seed

    def __call__(self, shape, low=-2.0, high=2.0, avoid=(), margin=0.1, dtype=None,
                 requires_grad=None):
        dt = dtype or self.dtype
        rg = self.requires_grad if requires_grad is None else requires_grad
        if not dt.is_floating_point:  # int samples of float rows: small integers
            low, high = (np.floor(low), np.ceil(high) + 1) if dt is minidl.int64 else (low, high)
        return make_tensor(shape, self.device, dt, rg, low, high, avoid, margin, self._next())

    def t(self, shape, *args, **kw):
        """A tensor of `shape` (ndim >= 2) produced by transposing the last two dims of another
        one: a permuted input (with requires_grad it is a non-leaf whose gradient flows back)."""
        shape = tuple(shape)
        base = self(shape[:-2] + (shape[-1], shape[-2]), *args, **kw)
        return base.transpose(-1, -2)

    def distinct(self, shape, spacing=0.25, requires_grad=None):
        """Pairwise distinct values `spacing` apart (no ties for max/min/argmax)."""
        rng = np.random.default_rng(self._next())
        n = int(np.prod(shape, dtype=np.int64))
        a = (rng.permutation(n) - (n - 1) / 2.0) * spacing + rng.uniform(0, 0.1 * spacing)
        if not self.dtype.is_floating_point:
            a = rng.permutation(n) - n // 2
        t = minidl.from_numpy(np.asarray(a.reshape(shape), dtype=self.dtype.np, order="C"))
        t = t.to(self.device) if self.device != "cpu" else t
        rg = self.requires_grad if requires_grad is None else requires_grad
        if rg and self.dtype.is_floating_point:
            t.requires_grad_(True)
        return t

    def from_array(self, a, requires_grad=None):
        """A tensor with exactly the values of numpy array `a` (cast to the Maker's dtype)."""
        t = minidl.from_numpy(np.asarray(a, dtype=self.dtype.np, order="C"))
        t = t.to(self.device) if self.device != "cpu" else t
        rg = self.requires_grad if requires_grad is None else requires_grad
        if rg and self.dtype.is_floating_point:
            t.requires_grad_(True)
        return t

    def index(self, shape, high, low=0):
        """An int64 index tensor with values in [low, high) (repeats likely)."""
        return make_tensor(shape, self.device, minidl.int64, False, low, high, seed=self._next())

    def mask(self, shape):
        """A random bool tensor of `shape`."""
        return make_tensor(shape, self.device, minidl.bool_, False, seed=self._next())


def to_numpy_args(obj):
    """Tensors (also inside tuples/lists) -> numpy copies on the host; everything else unchanged.
    This is how `ref` receives the arguments of a SampleInput."""
    from ..tensor import Tensor

    if isinstance(obj, Tensor):
        return np.array(obj.detach().cpu().numpy(), copy=True)
    if isinstance(obj, tuple):
        return tuple(to_numpy_args(o) for o in obj)
    if isinstance(obj, list):
        return [to_numpy_args(o) for o in obj]
    return obj


def _st():
    """hypothesis.strategies and minidl.testing.strategies (imported when a strategy is built)."""
    from hypothesis import strategies as st

    from . import strategies as S
    return st, S


def _composite(draw_sample):
    """A row's `strategy` from `draw_sample(draw, st, S)`, st and S as _st() gives them: a
    factory, so hypothesis is imported only when the strategy is built."""
    @functools.wraps(draw_sample)
    def factory():
        st, S = _st()

        @st.composite
        def strategy(draw):
            return draw_sample(draw, st, S)
        return strategy()
    return factory


# ---- the registry: every family's rows, imported by name (a missing module is an ImportError) ---
from . import (opinfo_conv, opinfo_elementwise, opinfo_movement, opinfo_nn,  # noqa: E402
               opinfo_reduce)

OP_DB: list[OpInfo] = [*opinfo_elementwise.OPS, *opinfo_reduce.OPS, *opinfo_movement.OPS,
                       *opinfo_nn.OPS, *opinfo_conv.OPS]
"""Every OpInfo row, family by family."""


def op_by_name(name: str) -> OpInfo:
    """The row called `name` (KeyError listing the names otherwise)."""
    for o in OP_DB:
        if o.name == name:
            return o
    raise KeyError(f"no op named {name!r} in OP_DB; have {[o.name for o in OP_DB]}")
