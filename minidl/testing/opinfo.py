"""The op table: one `OpInfo` row per op, from which tests/test_ops*.py are generated.

Foundation ops (arithmetic, reductions, movement, activations) are rows of `OP_DB` below. Other
op families keep theirs in `minidl/testing/opinfo_<family>.py`, a module exposing
`OPS: list[OpInfo]`, registered by adding the module name to `_FAMILIES` at the bottom of this
file (a one-word edit; a family module that does not exist yet is skipped).

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
import importlib
import math
import operator
import warnings
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


def _si(*args, name="hypothesis", **kwargs):
    return SampleInput(tuple(args), kwargs, name)


# ---- numpy references ---------------------------------------------------------------------------
def _erf(x):
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def ref_gelu(x, approximate="none"):
    return (0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))).astype(x.dtype)


def ref_sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


def ref_leaky_relu(x, negative_slope=0.01):
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def ref_softmax(x, dim):
    if x.ndim == 0:
        return np.ones_like(x)
    z = x - np.max(x, axis=dim, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=dim, keepdims=True)


def ref_log_softmax(x, dim):
    if x.ndim == 0:
        return np.zeros_like(x)
    z = x - np.max(x, axis=dim, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=dim, keepdims=True))


def ref_pad(x, pad, mode="constant", value=0.0):
    sl, widths = [slice(None)] * x.ndim, [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        sl[d] = slice(max(0, -lo), x.shape[d] - max(0, -hi))
        widths[d] = (max(lo, 0), max(hi, 0))
    return np.pad(x[tuple(sl)], widths, mode="constant", constant_values=value)


def ref_gather(x, dim, index):
    # torch allows index smaller than x in the other dims; take_along_axis wants equal sizes
    sl = tuple(slice(0, index.shape[k]) if k != dim % x.ndim else slice(None)
               for k in range(x.ndim))
    return np.take_along_axis(x[sl], index, axis=dim)


def ref_scatter_add(x, dim, index, src):
    out = x.copy()
    d = dim % x.ndim
    pos = list(np.indices(index.shape, sparse=False))
    pos[d] = index
    np.add.at(out, tuple(pos), src)
    return out


def _axes(dim, ndim):
    if dim is None or ndim == 0:  # a 0-d tensor takes dim 0 / -1 and reduces nothing
        return None
    return dim if isinstance(dim, int) else tuple(dim)


def ref_sum(x, dim=None, keepdim=False):
    if np.ndim(x) == 0:
        return x.copy()
    return np.sum(x, axis=_axes(dim, x.ndim), keepdims=keepdim, dtype=x.dtype)


def ref_mean(x, dim=None, keepdim=False):
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.mean(x, axis=_axes(dim, x.ndim), keepdims=keepdim), dtype=x.dtype)


def ref_var(x, dim=None, unbiased=None, keepdim=False, correction=None):
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(np.var(x, axis=_axes(dim, x.ndim), ddof=correction, keepdims=keepdim),
                          dtype=x.dtype)


def ref_std(x, dim=None, unbiased=None, keepdim=False, correction=None):
    return np.sqrt(ref_var(x, dim, unbiased, keepdim, correction))


def ref_extreme(fn):
    """amax/amin: dim=() means every dim (torch's default)."""
    def ref(x, dim=(), keepdim=False):
        return np.asarray(fn(x, axis=None if dim == () else _axes(dim, x.ndim), keepdims=keepdim))
    return ref


def ref_max_dim(x, dim, keepdim=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    return (np.max(x, axis=dim, keepdims=keepdim),
            np.argmax(x, axis=dim, keepdims=keepdim).astype(np.int64))


def ref_min_dim(x, dim, keepdim=False):
    if x.ndim == 0:
        return x.copy(), np.zeros((), np.int64)
    return (np.min(x, axis=dim, keepdims=keepdim),
            np.argmin(x, axis=dim, keepdims=keepdim).astype(np.int64))


def ref_arg(fn):
    def ref(x, dim=None, keepdim=False):
        if x.ndim == 0:
            return np.zeros((), np.int64)
        return np.asarray(fn(x, axis=dim, keepdims=keepdim), dtype=np.int64)
    return ref


def ref_squeeze(x, dim=None):
    if dim is None:
        return np.squeeze(x)
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = tuple(d % max(x.ndim, 1) for d in dims if x.ndim and x.shape[d] == 1)
    return np.squeeze(x, axis=dims) if dims else x.copy()


def ref_expand(x, *sizes):
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    return np.broadcast_to(x, shape).copy()


def ref_clamp(x, min=None, max=None):
    out = x
    if min is not None:
        out = np.maximum(out, min)
    if max is not None:
        out = np.minimum(out, max)
    return np.asarray(out, dtype=x.dtype)


# ---- minidl ops with torch's calling conventions -------------------------------------------------
def _F():
    from ..nn import functional as F
    return F


def op_cat(*xs, dim=0):
    return minidl.cat(list(xs), dim=dim)


def op_stack(*xs, dim=0):
    return minidl.stack(list(xs), dim=dim)


def op_getitem(x, index):
    return x[index]


def op_pad(x, pad, mode="constant", value=0.0):
    return _F().pad(x, pad, mode=mode, value=value)


def op_leaky_relu(x, negative_slope=0.01):
    return _F().leaky_relu(x, negative_slope)


def op_gelu(x, approximate="none"):
    return _F().gelu(x, approximate)


# ---- sample generators -----------------------------------------------------------------------
_E = ErrorInput


def _unary_samples(low=-2.0, high=2.0, avoid=(), margin=0.1, kwargs=None, large=None):
    kwargs = kwargs or {}

    def samples(device, dtype, requires_grad):
        m = Maker(device, dtype, requires_grad)
        kw = dict(low=low, high=high, avoid=avoid, margin=margin)
        out = [
            SampleInput((m((4, 5), **kw),), dict(kwargs), "2d"),
            SampleInput((m((), **kw),), dict(kwargs), "0d"),
            SampleInput((m((0, 3), **kw),), dict(kwargs), "empty"),
            SampleInput((m((1,), **kw),), dict(kwargs), "size1"),
            SampleInput((m((33,), **kw),), dict(kwargs), "awkward33"),
            SampleInput((m((31, 1), **kw),), dict(kwargs), "awkward31"),
            SampleInput((m((2, 3, 5), **kw),), dict(kwargs), "3d"),
            SampleInput((m.t((3, 5), **kw),), dict(kwargs), "transposed"),
        ]
        if large is not None:
            out.append(SampleInput((m((2, 5), low=large[0], high=large[1], avoid=avoid),),
                                   dict(kwargs), "large"))
        return out
    return samples


def _float_only_errors(op_name, fn):
    def errors(device):
        x = make_tensor((3,), device, minidl.int64, low=1, high=4)
        return [_E((x,), {}, minidl.DTypeError, f"{op_name}: expected a floating point tensor")]
    return errors


def _st_unary(low=-3.0, high=3.0, avoid=(), margin=0.05, kwargs=None):
    def factory():
        st, S = _st()
        return S.tensors(S.shapes(0, 3, 1, 4), min_value=low, max_value=high, avoid=avoid,
                         margin=margin, requires_grad=True).map(
            lambda x: SampleInput((x,), dict(kwargs or {}), "hypothesis"))
    return factory


def _binary_samples(a_range=(-2.0, 2.0), b_range=(-2.0, 2.0), b_avoid=(), scalars=(2.5, -1.5)):
    def samples(device, dtype, requires_grad):
        m = Maker(device, dtype, requires_grad)

        def a(shape):
            return m(shape, *a_range)

        def b(shape):
            return m(shape, *b_range, avoid=b_avoid, margin=0.3)
        s_right, s_left = scalars
        return [
            SampleInput((a((4, 5)), b((4, 5))), {}, "same_shape"),
            SampleInput((a((3, 1, 5)), b((4, 5))), {}, "broadcast"),
            SampleInput((a((4, 1)), b((1, 6))), {}, "broadcast_both"),
            SampleInput((a((2, 3)), b(())), {}, "0d_rhs"),
            SampleInput((a(()), b((2, 3))), {}, "0d_lhs"),
            SampleInput((a(()), b(())), {}, "0d_both"),
            SampleInput((a((2, 3)), s_right), {}, "scalar_rhs"),
            SampleInput((s_left, b((2, 3))), {}, "scalar_lhs"),
            SampleInput((m.t((3, 4), *a_range), b((3, 4))), {}, "transposed"),
            SampleInput((a((0, 3)), b((3,))), {}, "empty"),
            SampleInput((a((1,)), b((1, 1))), {}, "size1"),
            SampleInput((a((17, 1)), b((15,))), {}, "awkward"),
            SampleInput((a((31,)), b((1,))), {}, "awkward31"),
        ]
    return samples


def _broadcast_errors(fn, name):
    def errors(device):
        a = make_tensor((2, 3), device)
        b = make_tensor((4,), device)
        return [_E((a, b), {}, minidl.ShapeError,
                   rf"{name}: the size of tensor a \(3\) must match the size of tensor b \(4\)")]
    return errors


def _st_binary(a_range=(-3.0, 3.0), b_range=(-3.0, 3.0), b_avoid=(), b_margin=0.3):
    @_composite
    def factory(draw, st, S):
        sa, sb = draw(S.broadcastable_shapes(2, 0, 3, 1, 4))
        a = draw(S.tensors(sa, min_value=a_range[0], max_value=a_range[1],
                           requires_grad=True))
        if draw(st.booleans()):
            b = draw(S.tensors(sb, min_value=b_range[0], max_value=b_range[1], avoid=b_avoid,
                               margin=b_margin, requires_grad=True))
        else:
            v = draw(st.floats(b_range[0], b_range[1], allow_nan=False))
            b = float(keep_away(np.array(v), b_avoid, b_margin, *b_range))
        return SampleInput((a, b), {}, "hypothesis")
    return factory


@_composite
def _st_binary_separated(draw, st, S):
    """a and b on interleaved grids 0.25 apart (a on k/4, b on k/4 + 1/8): never tied, so
    maximum/minimum are differentiable at every drawn point."""
    sa, sb = draw(S.broadcastable_shapes(2, 0, 3, 1, 4))
    ka = draw(S.arrays(sa, minidl.int64, -12, 12))
    kb = draw(S.arrays(sb, minidl.int64, -12, 12))
    a = minidl.from_numpy(np.asarray(ka * 0.25)).requires_grad_()
    b = minidl.from_numpy(np.asarray(kb * 0.25 + 0.125)).requires_grad_()
    return SampleInput((a, b), {}, "hypothesis")


def _cmp_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, False)
    rng = np.random.default_rng(7)
    a = np.round(rng.uniform(-3, 3, (4, 5)), 1)
    b = a.copy()
    b[0] = np.round(rng.uniform(-3, 3, 5), 1)  # ties in rows 1-3, strict comparisons in row 0
    return [
        SampleInput((m.from_array(a), m.from_array(b)), {}, "ties"),
        SampleInput((m((3, 1, 5)), m((4, 5))), {}, "broadcast"),
        SampleInput((m((2, 3)), 0.5), {}, "scalar_rhs"),
        SampleInput((m(()), m((2, 3))), {}, "0d"),
        SampleInput((m((0, 2)), m((2,))), {}, "empty"),
        SampleInput((m.t((3, 4)), m((3, 4))), {}, "transposed"),
    ]


def _where_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m.mask((4, 5)), m((4, 5)), m((4, 5))), {}, "same_shape"),
        SampleInput((m.mask((4, 1)), m((1, 5)), m((4, 5))), {}, "broadcast"),
        SampleInput((m.mask((3,)), m((2, 3)), m(())), {}, "0d_other"),
        SampleInput((m.mask((2, 3)), m((2, 3)), 0.5), {}, "scalar_other"),
        SampleInput((m.mask((0, 3)), m((0, 3)), m((3,))), {}, "empty"),
        SampleInput((m.mask((17,)), m.t((17, 1)), m((1,))), {}, "awkward"),
    ]


def _where_errors(device):
    x = make_tensor((2, 3), device)
    return [_E((x, x, x), {}, minidl.DTypeError, "where: expected condition to be a bool tensor")]


@_composite
def _st_where(draw, st, S):
    sc, sa, sb = draw(S.broadcastable_shapes(3, 0, 3, 1, 4))
    cond = draw(S.tensors(sc, dtype=minidl.bool_))
    a = draw(S.tensors(sa, requires_grad=True))
    b = draw(S.tensors(sb, requires_grad=True))
    return SampleInput((cond, a, b), {}, "hypothesis")


def _pow_scalar_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    pos = dict(low=0.3, high=2.0)
    return [
        SampleInput((m((4, 5)), 2), {}, "square"),
        SampleInput((m((3, 4)), 3.0), {}, "cube"),
        SampleInput((m((3, 4), **pos), 0.5), {}, "sqrt"),
        SampleInput((m((3, 4), **pos), -1.5), {}, "negative_fractional"),
        SampleInput((m((3, 4), avoid=(0.0,), margin=0.3), -2), {}, "negative_int"),
        SampleInput((m((2, 3)), 0), {}, "zero"),
        SampleInput((m((2, 3)), 1), {}, "one"),
        SampleInput((m(()), 2.0), {}, "0d"),
        SampleInput((m((0, 2)), 2.0), {}, "empty"),
        SampleInput((m.t((3, 17), **pos), 1.7), {}, "transposed"),
    ]


@_composite
def _st_pow_scalar(draw, st, S):
    p = draw(st.sampled_from([2, 3, 0.5, -1.0, -1.5, 2.5]))
    low = 0.2 if (p < 0 or p != int(p)) else -3.0
    x = draw(S.tensors(S.shapes(0, 3, 1, 4), min_value=low, max_value=3.0, requires_grad=True))
    return SampleInput((x, p), {}, "hypothesis")


def _rpow_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((2.0, m((3, 4))), {}, "base2"),
        SampleInput((0.5, m((5,))), {}, "base_half"),
        SampleInput((3.0, m(())), {}, "0d"),
        SampleInput((2.0, m.t((2, 3))), {}, "transposed"),
    ]


def _clamp_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    kw = dict(avoid=(-0.5, 0.5), margin=0.1)
    return [
        SampleInput((m((4, 5), **kw),), {"min": -0.5, "max": 0.5}, "both"),
        SampleInput((m((4, 5), **kw),), {"min": -0.5}, "min_only"),
        SampleInput((m((4, 5), **kw),), {"max": 0.5}, "max_only"),
        SampleInput((m((), **kw),), {"min": -0.5, "max": 0.5}, "0d"),
        SampleInput((m((0, 4), **kw),), {"min": -0.5, "max": 0.5}, "empty"),
        SampleInput((m.t((3, 17), **kw),), {"min": -0.5, "max": 0.5}, "transposed"),
        SampleInput((m((3, 4)), m((3, 4), -0.6, -0.4), m((4,), 0.4, 0.6)), {}, "tensor_bounds"),
    ]


def _clamp_errors(device):
    x = make_tensor((2, 3), device)
    return [_E((x,), {}, RuntimeError, "clamp: At least one of 'min' or 'max' must not be None")]


@_composite
def _st_clamp(draw, st, S):
    lo = draw(st.one_of(st.none(), st.floats(-2.0, 0.0)))
    hi = draw(st.one_of(st.none() if lo is not None else st.floats(0.5, 2.0),
                        st.floats(0.5, 2.0)))
    pts = tuple(v for v in (lo, hi) if v is not None)
    x = draw(S.tensors(S.shapes(0, 3, 1, 4), avoid=pts, margin=0.05, requires_grad=True))
    return SampleInput((x,), {"min": lo, "max": hi}, "hypothesis")


def _matmul_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 4)), m((4, 5))), {}, "2d"),
        SampleInput((m((5,)), m((5,))), {}, "1d_1d"),
        SampleInput((m((4,)), m((4, 3))), {}, "1d_2d"),
        SampleInput((m((3, 4)), m((4,))), {}, "2d_1d"),
        SampleInput((m((2, 3, 4)), m((2, 4, 5))), {}, "batched"),
        SampleInput((m((2, 1, 3, 4)), m((3, 4, 2))), {}, "broadcast_batch"),
        SampleInput((m((4,)), m((2, 4, 3))), {}, "1d_batched"),
        SampleInput((m((2, 3, 4)), m((4,))), {}, "batched_1d"),
        SampleInput((m((3, 4)), m((2, 4, 2))), {}, "2d_batched"),
        SampleInput((m.t((3, 4)), m.t((4, 2))), {}, "transposed"),
        SampleInput((m((1, 1)), m((1, 1))), {}, "1x1"),
        SampleInput((m((3, 0)), m((0, 2))), {}, "k0"),
        SampleInput((m((0, 4)), m((4, 3))), {}, "m0"),
        SampleInput((m((17, 33), -1, 1), m((33, 15), -1, 1)), {}, "awkward"),
    ]


def _matmul_errors(device):
    def mk(*shape, dtype=float32):
        return make_tensor(shape, device, dtype)
    return [
        _E((mk(2, 3), mk(4, 5)), {}, minidl.ShapeError,
           r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
        _E((mk(2, 2, 3), mk(2, 4, 5)), {}, minidl.ShapeError, "matmul: Expected size"),
        _E((mk(), mk(3)), {}, RuntimeError, "need to be at least 1D"),
        _E((mk(2, 3), mk(3, 2, dtype=float64)), {}, minidl.DTypeError, "same floating dtype"),
        _E((mk(2, 3, 4), mk(3, 4, 2)), {}, minidl.ShapeError, "must match the size"),
    ]


@_composite
def _st_matmul(draw, st, S):
    m_, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kind = draw(st.sampled_from(["2d", "1d_left", "1d_right", "1d_both", "batched"]))
    if kind == "batched":
        ba, bb = draw(S.broadcastable_shapes(2, 0, 2, 1, 3))
        sa, sb = ba + (m_, k), bb + (k, n)
    else:
        sa = (k,) if kind in ("1d_left", "1d_both") else (m_, k)
        sb = (k,) if kind in ("1d_right", "1d_both") else (k, n)
    a = draw(S.tensors(sa, requires_grad=True))
    b = draw(S.tensors(sb, requires_grad=True))
    return SampleInput((a, b), {}, "hypothesis")


def _reduce_samples(distinct=False, allow_empty=True, full_only=False, kwargs_list=None):
    """Samples for reductions over (dim, keepdim); `distinct` avoids ties (max/min)."""
    def samples(device, dtype, requires_grad):
        m = Maker(device, dtype, requires_grad)
        mk = m.distinct if distinct else m

        def t(shape):
            return m.t(shape) if not distinct else mk(shape[:-2] + (shape[-1], shape[-2])
                                                      ).transpose(-1, -2)
        if full_only:
            out = [SampleInput((mk((4, 5)),), {}, "2d"), SampleInput((mk(()),), {}, "0d"),
                   SampleInput((mk((17,)),), {}, "awkward"),
                   SampleInput((t((3, 4)),), {}, "transposed"),
                   SampleInput((mk((2, 3, 4)),), {}, "3d")]
            for kw in kwargs_list or ():
                out.append(SampleInput((mk((3, 4, 2)),), dict(kw), "kw_" + "_".join(
                    f"{k}{v}" for k, v in kw.items())))
            return out
        out = [
            SampleInput((mk((4, 5)),), {"dim": 1}, "dim1"),
            SampleInput((mk((4, 5)),), {"dim": 0, "keepdim": True}, "dim0_keepdim"),
            SampleInput((mk((2, 3, 4)),), {"dim": -1}, "dim_neg"),
            SampleInput((t((3, 5)),), {"dim": 1}, "transposed"),
            SampleInput((mk((1, 4)),), {"dim": 0}, "size1"),
            SampleInput((mk((17, 3)),), {"dim": 0}, "awkward"),
            SampleInput((mk(()),), {"dim": 0}, "0d"),
        ]
        if allow_empty:
            out.append(SampleInput((mk((0, 3)),), {"dim": 1}, "empty"))
        for kw in kwargs_list or ():
            out.append(SampleInput((mk((3, 4, 2)),), dict(kw), "kw_" + "_".join(
                f"{k}{v}" for k, v in kw.items())))
        return out
    return samples


# (not dim=(): torch.sum reduces every dim for an empty dim list, numpy none; avoid the corner)
_MULTI = [{"dim": (0, 2)}, {"dim": (0, 2), "keepdim": True}, {"dim": None}, {"dim": (-1, 0)}]


def _sum_samples(device, dtype, requires_grad):
    out = _reduce_samples(kwargs_list=_MULTI)(device, dtype, requires_grad)
    m = Maker(device, dtype, requires_grad, seed=100)
    out += [SampleInput((m((0, 3)),), {"dim": 0}, "empty_reduced"),
            SampleInput((m((0, 3)),), {}, "empty_all"),
            SampleInput((m(()),), {}, "0d_all"),
            SampleInput((m((2, 3)),), {}, "all")]
    return out


def _dim_errors(fn_name):
    def errors(device):
        x = make_tensor((2, 3), device)
        return [_E((x,), {"dim": 2}, IndexError, "Dimension out of range"),
                _E((x,), {"dim": (0, 0)}, RuntimeError, "dim appears multiple times")]
    return errors


def _mean_errors(device):
    x = make_tensor((2, 3), device, minidl.int64, low=0, high=5)
    return _dim_errors("mean")(device)[:1] + [
        _E((x,), {}, minidl.DTypeError, "mean\\(\\): could not infer output dtype")]


def _st_reduce(distinct=False, multi=True, allow_none=True, extra=None, min_side=1):
    @_composite
    def factory(draw, st, S):
        shape = draw(S.shapes(1, 3, min_side, 4))
        nd = len(shape)
        if distinct:
            a = draw(S.distinct_arrays(shape))
            x = minidl.from_numpy(a).requires_grad_()
        else:
            x = draw(S.tensors(shape, requires_grad=True))
        choices = [st.integers(-nd, nd - 1)]
        if allow_none:
            choices.append(st.none())
        if multi:
            choices.append(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                    unique=True).map(tuple))
        kw = {"dim": draw(st.one_of(*choices)), "keepdim": draw(st.booleans())}
        if extra is not None:
            kw.update(draw(extra(st)))
        return SampleInput((x,), kw, "hypothesis")
    return factory


def _st_full_extreme():
    st, S = _st()
    return S.distinct_arrays(S.shapes(0, 3, 1, 4)).map(
        lambda a: SampleInput((minidl.from_numpy(a).requires_grad_(),), {}, "hypothesis"))


def _std_samples(device, dtype, requires_grad):
    # not the size-1 biased case: std = 0 there and sqrt has no derivative at 0 (NaN, like torch)
    return [s for s in _var_samples(device, dtype, requires_grad) if s.name != "size1_biased"]


def _var_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((4, 5)),), {}, "all"),
        SampleInput((m((4, 5)),), {"dim": 1}, "dim1"),
        SampleInput((m((4, 5)),), {"dim": 0, "keepdim": True}, "dim0_keepdim"),
        SampleInput((m((3, 4, 2)),), {"dim": (0, 2)}, "dims"),
        SampleInput((m((3, 4)),), {"dim": 1, "unbiased": False}, "biased"),
        SampleInput((m((3, 4)),), {"dim": 1, "correction": 0}, "correction0"),
        SampleInput((m((3, 5)),), {"dim": 1, "correction": 2}, "correction2"),
        SampleInput((m((4, 1)),), {"dim": 1, "correction": 0}, "size1_biased"),
        SampleInput((m.t((3, 5)),), {"dim": 0}, "transposed"),
        SampleInput((m((17, 2)),), {"dim": 0}, "awkward"),
    ]


def _st_var():
    # distinct values and >= 2 elements per reduced slice: std is not differentiable at 0
    return _st_reduce(distinct=True, min_side=2, extra=lambda st: st.fixed_dictionaries(
        {"correction": st.sampled_from([0, 1])}))()


def _max_full_errors(device):
    x = make_tensor((0, 3), device)
    return [_E((x,), {}, RuntimeError, "Expected reduction dim to be specified")]


def _arg_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, False)
    ties = minidl.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], dtype=dtype, device=device)
    return [
        SampleInput((m.distinct((4, 5)),), {}, "all"),
        SampleInput((m.distinct((4, 5)),), {"dim": 1}, "dim1"),
        SampleInput((m.distinct((4, 5)),), {"dim": 0, "keepdim": True}, "dim0_keepdim"),
        SampleInput((m.distinct((2, 3, 4)),), {"dim": -1}, "dim_neg"),
        SampleInput((m.distinct(()),), {}, "0d"),
        SampleInput((m.distinct((33,)),), {"dim": 0}, "awkward"),
        SampleInput((ties,), {"dim": 1}, "ties_first_wins"),
    ]


def _arg_errors(name):
    def errors(device):
        return [_E((make_tensor((0, 3), device),), {}, RuntimeError,
                   f"{name}\\(\\): Expected reduction dim"),
                _E((make_tensor((2, 3), device),), {"dim": 3}, IndexError, "out of range")]
    return errors


def _softmax_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((4, 5)),), {"dim": 1}, "dim1"),
        SampleInput((m((4, 5)),), {"dim": 0}, "dim0"),
        SampleInput((m((2, 3, 4)),), {"dim": -1}, "3d_last"),
        SampleInput((m((2, 3, 4)),), {"dim": 1}, "3d_middle"),
        SampleInput((m((1,)),), {"dim": 0}, "size1"),
        SampleInput((m((33,)),), {"dim": 0}, "awkward"),
        SampleInput((m((2, 31)),), {"dim": 1}, "awkward31"),
        SampleInput((m(()),), {"dim": 0}, "0d"),
        SampleInput((m.t((3, 4)),), {"dim": -1}, "transposed"),
        SampleInput((m((2, 5), 990.0, 1010.0),), {"dim": 1}, "large_positive"),
        SampleInput((m((2, 5), -1010.0, -990.0),), {"dim": 1}, "large_negative"),
        SampleInput((m((0, 3)),), {"dim": 1}, "empty"),
    ]


def _softmax_errors(name):
    def errors(device):
        x = make_tensor((2, 3), device, minidl.int64, low=0, high=5)
        return [_E((x,), {"dim": 1}, minidl.DTypeError, f"{name}: expected a floating point"),
                _E((make_tensor((2, 3), device),), {"dim": 2}, IndexError, "out of range")]
    return errors


@_composite
def _st_softmax(draw, st, S):
    shape = draw(S.shapes(1, 3, 1, 4))
    scale = draw(st.sampled_from([1.0, 30.0]))
    x = draw(S.tensors(shape, min_value=-3 * scale, max_value=3 * scale, requires_grad=True))
    return SampleInput((x,), {"dim": draw(st.integers(-len(shape), len(shape) - 1))},
                       "hypothesis")


# ---- movement samples -------------------------------------------------------------------------
def _reshape_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((4, 6)), (6, 4)), {}, "2d"),
        SampleInput((m((4, 6)), (-1,)), {}, "flat_infer"),
        SampleInput((m((2, 3, 4)), (2, -1, 3)), {}, "infer_middle"),
        SampleInput((m((1,)), ()), {}, "to_0d"),
        SampleInput((m(()), (1, 1)), {}, "from_0d"),
        SampleInput((m((0, 3)), (3, 0)), {}, "empty"),
        SampleInput((m.t((3, 5)), (5, 3)), {}, "transposed"),
        SampleInput((m((17,)), (17, 1)), {}, "awkward"),
    ]


def _reshape_errors(name):
    def errors(device):
        x = make_tensor((2, 3), device)
        return [_E((x, (4, 2)), {}, minidl.ShapeError,
                   r"shape '\[4, 2\]' is invalid for input of size 6"),
                _E((x, (-1, -1)), {}, RuntimeError, "only one dimension can be inferred")]
    return errors


@_composite
def _st_reshape(draw, st, S):
    shape = draw(S.shapes(0, 4, 1, 4))
    x = draw(S.tensors(shape, requires_grad=True))
    sizes = [s for s in shape]
    new = list(draw(st.permutations(sizes)))
    # merge a random adjacent pair, maybe infer one dim with -1
    if len(new) >= 2 and draw(st.booleans()):
        i = draw(st.integers(0, len(new) - 2))
        new[i:i + 2] = [new[i] * new[i + 1]]
    if new and draw(st.booleans()):
        new[draw(st.integers(0, len(new) - 1))] = -1
    return SampleInput((x, tuple(new)), {}, "hypothesis")


def _flatten_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((2, 3, 4)),), {}, "all"),
        SampleInput((m((2, 3, 4)),), {"start_dim": 1}, "start1"),
        SampleInput((m((2, 3, 4, 2)),), {"start_dim": 1, "end_dim": 2}, "middle"),
        SampleInput((m((2, 3, 4)),), {"start_dim": -2, "end_dim": -1}, "negative"),
        SampleInput((m(()),), {}, "0d"),
        SampleInput((m((0, 3)),), {}, "empty"),
        SampleInput((m.t((3, 5)),), {}, "transposed"),
    ]


def ref_flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1 if x.size else int(np.prod(x.shape[s:e + 1])),)
                     + x.shape[e + 1:])


def _flatten_errors(device):
    x = make_tensor((2, 3, 4), device)
    return [_E((x,), {"start_dim": 2, "end_dim": 1}, RuntimeError,
               "start_dim cannot come after end_dim")]


def _transpose_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 4)), 0, 1), {}, "2d"),
        SampleInput((m((2, 3, 4)), 0, 2), {}, "3d_outer"),
        SampleInput((m((2, 3, 4)), -1, 1), {}, "negative"),
        SampleInput((m((2, 3)), 1, 1), {}, "same_dim"),
        SampleInput((m((0, 3)), 0, 1), {}, "empty"),
        SampleInput((m((17, 1, 3)), 0, 1), {}, "awkward"),
    ]


def _transpose_errors(device):
    x = make_tensor((2, 3), device)
    return [_E((x, 0, 2), {}, IndexError, "Dimension out of range")]


def _st_two_dims(op_kind):
    @_composite
    def factory(draw, st, S):
        shape = draw(S.shapes(1, 4, 1, 4))
        x = draw(S.tensors(shape, requires_grad=True))
        nd = len(shape)
        if op_kind == "permute":
            return SampleInput((x, tuple(draw(st.permutations(range(nd))))), {}, "hypothesis")
        d0, d1 = draw(st.integers(-nd, nd - 1)), draw(st.integers(-nd, nd - 1))
        return SampleInput((x, d0, d1), {}, "hypothesis")
    return factory


def _permute_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((2, 3, 4)), (2, 0, 1)), {}, "3d"),
        SampleInput((m((2, 3, 4)), (0, 1, 2)), {}, "identity"),
        SampleInput((m((2, 3, 4, 2)), (3, 1, 0, 2)), {}, "4d"),
        SampleInput((m((2, 3)), (-1, 0)), {}, "negative"),
        SampleInput((m(()), ()), {}, "0d"),
        SampleInput((m((0, 2, 3)), (1, 2, 0)), {}, "empty"),
        SampleInput((m.t((3, 5)), (1, 0)), {}, "transposed"),
    ]


def _permute_errors(device):
    x = make_tensor((2, 3, 4), device)
    return [_E((x, (0, 0, 1)), {}, RuntimeError, "duplicate dims are not allowed"),
            _E((x, (0, 1)), {}, RuntimeError, "number of dimensions in the tensor input")]


def _T_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [SampleInput((m((3, 4)),), {}, "2d"), SampleInput((m((5,)),), {}, "1d"),
            SampleInput((m(()),), {}, "0d"), SampleInput((m((2, 3, 4)),), {}, "3d"),
            SampleInput((m((0, 3)),), {}, "empty"), SampleInput((m.t((3, 17)),), {}, "transposed")]


def _squeeze_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((1, 3, 1, 4)),), {}, "all"),
        SampleInput((m((1, 3, 1, 4)),), {"dim": 2}, "dim"),
        SampleInput((m((1, 3, 1, 4)),), {"dim": 1}, "dim_not_1"),
        SampleInput((m((1, 3, 1, 4)),), {"dim": (0, 2)}, "dims"),
        SampleInput((m((1, 3, 1)),), {"dim": -1}, "negative"),
        SampleInput((m((1,)),), {}, "to_0d"),
        SampleInput((m(()),), {"dim": 0}, "0d"),
        SampleInput((m((0, 1)),), {}, "empty"),
    ]


def _squeeze_errors(device):
    return [_E((make_tensor((2, 3), device),), {"dim": 2}, IndexError, "Dimension out of range")]


def _unsqueeze_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 4)), 0), {}, "front"),
        SampleInput((m((3, 4)), 2), {}, "back"),
        SampleInput((m((3, 4)), -1), {}, "negative"),
        SampleInput((m((3, 4)), -3), {}, "negative_front"),
        SampleInput((m(()), 0), {}, "0d"),
        SampleInput((m((0, 2)), 1), {}, "empty"),
    ]


def _unsqueeze_errors(device):
    return [_E((make_tensor((2, 3), device), 3), {}, IndexError, "Dimension out of range")]


def _expand_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 1)), 3, 4), {}, "2d"),
        SampleInput((m((3, 1)), -1, 4), {}, "minus1"),
        SampleInput((m((3, 1)), 2, 3, 4), {}, "new_leading"),
        SampleInput((m(()), 2, 3), {}, "0d"),
        SampleInput((m((1, 1)), 1, 1), {}, "noop"),
        SampleInput((m((1, 3)), 0, 3), {}, "to_empty"),
        SampleInput((m((1, 17)), 15, 17), {}, "awkward"),
    ]


def _expand_errors(device):
    x = make_tensor((2, 3), device)
    return [_E((x, 4, 3), {}, minidl.ShapeError, "must match the existing size"),
            _E((x, 3), {}, RuntimeError, "number of sizes provided")]


@_composite
def _st_expand(draw, st, S):
    s_in, s_out = draw(S.broadcastable_shapes(2, 0, 3, 1, 4))
    # expand s_in to the broadcast of both
    target = np.broadcast_shapes(s_in, s_out)
    x = draw(S.tensors(s_in, requires_grad=True))
    return SampleInput((x, *target), {}, "hypothesis")


def _getitem_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    x = m((4, 5))

    def fresh(shape=(4, 5)):
        return m(shape)

    def idx(vals):
        return minidl.tensor(vals, device=device)
    return [
        SampleInput((fresh(), 1), {}, "int"),
        SampleInput((fresh(), -1), {}, "negative_int"),
        SampleInput((fresh(), (1, 2)), {}, "int_int"),
        SampleInput((fresh(), slice(1, 4, 2)), {}, "slice_step"),
        SampleInput((fresh(), (slice(None), slice(None, None, 3))), {}, "slice_step_dim1"),
        SampleInput((fresh(), (slice(3, 1),)), {}, "empty_slice"),
        SampleInput((fresh(), None), {}, "none"),
        SampleInput((fresh((2, 3, 4)), (Ellipsis, 1)), {}, "ellipsis"),
        SampleInput((fresh((2, 3, 4)), (slice(None), None, slice(1, None))), {}, "none_middle"),
        SampleInput((fresh(), idx([0, 2, 0, 3])), {}, "int_array_repeated"),
        SampleInput((fresh(), [1, 1, 3]), {}, "list_repeated"),
        SampleInput((fresh(), (slice(None), idx([4, 0, 4]))), {}, "int_array_dim1"),
        SampleInput((fresh(), (idx([0, 1, 1]), idx([2, 2, 4]))), {}, "two_arrays"),
        SampleInput((fresh((2, 3, 4)), (idx([[0], [1]]), slice(None), idx([1, 3]))), {},
                    "nonadjacent_arrays"),
        SampleInput((fresh(), idx([-1, 0])), {}, "negative_array"),
        SampleInput((x, x.detach() > 0), {}, "bool_mask"),
        SampleInput((fresh(), minidl.tensor([True, False, True, True], device=device)), {},
                    "bool_rows"),
        SampleInput((fresh(), (slice(1, 3), m.mask((5,)))), {}, "slice_bool"),
        SampleInput((m(()), ()), {}, "0d_empty_tuple"),
        SampleInput((m.t((3, 17)), (slice(None, None, 2), 4)), {}, "transposed"),
    ]


def _getitem_errors(device):
    x = make_tensor((2, 3), device)
    return [_E((x, 2), {}, IndexError, "index 2 is out of bounds for dimension 0 with size 2"),
            _E((x, (0, 0, 0)), {}, IndexError, "too many indices for tensor of dimension 2"),
            _E((x, [0, 5]), {}, IndexError, "index 5 is out of bounds"),
            _E((x, (Ellipsis, Ellipsis)), {}, IndexError, "single ellipsis")]


@_composite
def _st_getitem(draw, st, S):
    shape = draw(S.shapes(1, 3, 1, 5))
    x = draw(S.tensors(shape, requires_grad=True))
    index = []
    for n in shape:
        kind = draw(st.sampled_from(["slice", "int", "array", "full"]))
        if kind == "slice":
            s = draw(st.slices(n))
            index.append(s if s.step is None or s.step > 0 else slice(None))
        elif kind == "int":
            index.append(draw(st.integers(-n, n - 1)))
        elif kind == "array" and not any(isinstance(i, list) for i in index):
            index.append(draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=4)))
        else:
            index.append(slice(None))
    if draw(st.booleans()):
        index.insert(draw(st.integers(0, len(index))), None)
    return SampleInput((x, tuple(index)), {}, "hypothesis")


def _gather_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 4)), 1, m.index((3, 5), 4)), {}, "dim1_repeated"),
        SampleInput((m((3, 4)), 0, m.index((2, 4), 3)), {}, "dim0"),
        SampleInput((m((3, 4)), -1, m.index((2, 2), 4)), {}, "smaller_index"),
        SampleInput((m((2, 3, 4)), 1, m.index((2, 3, 4), 3)), {}, "3d"),
        SampleInput((m((3, 4)), 1, m.index((3, 0), 4)), {}, "empty_index"),
        SampleInput((m.t((3, 17)), 0, m.index((4, 3), 3)), {}, "transposed"),
    ]


def _gather_errors(device):
    x = make_tensor((3, 4), device)
    return [_E((x, 1, make_tensor((3, 2), device)), {}, RuntimeError, "Expected dtype int64"),
            _E((x, 1, make_tensor((3,), device, minidl.int64, low=0, high=3)), {}, RuntimeError,
               "same number of dimensions"),
            _E((x, 1, minidl.tensor([[0, 4]], device=device)), {}, IndexError,
               "index 4 is out of bounds for dimension 1 with size 4"),
            _E((x, 0, minidl.tensor([[-1]], device=device)), {}, IndexError, "index -1 is out"),
            _E((x, 1, minidl.tensor([[0]] * 4, device=device)), {}, minidl.ShapeError,
               "Size does not match at dimension 0")]


def _draw_index_args(draw, st, S, max_len: int):
    """(x, dim, int64 index, index shape) for gather / scatter_add: the index is no larger than
    x except along dim, where it has 1..max_len entries."""
    shape = draw(S.shapes(1, 3, 1, 4))
    dim = draw(st.integers(0, len(shape) - 1))
    x = draw(S.tensors(shape, requires_grad=True))
    ishape = tuple(draw(st.integers(1, max_len)) if k == dim else draw(st.integers(1, n))
                   for k, n in enumerate(shape))
    index = draw(S.arrays(ishape, minidl.int64, 0, shape[dim] - 1))
    return x, dim, minidl.tensor(index), ishape


@_composite
def _st_gather(draw, st, S):
    x, dim, index, _ = _draw_index_args(draw, st, S, 4)
    return SampleInput((x, dim, index), {}, "hypothesis")


def _scatter_add_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 5)), 1, m.index((3, 4), 5), m((3, 4))), {}, "dim1_repeated"),
        SampleInput((m((4, 3)), 0, m.index((6, 3), 4), m((6, 3))), {}, "dim0"),
        SampleInput((m((2, 3, 4)), -1, m.index((2, 3, 2), 4), m((2, 3, 2))), {}, "3d"),
        SampleInput((m((3, 4)), 1, m.index((2, 2), 4), m((2, 2))), {}, "smaller_index"),
        SampleInput((m.t((3, 17)), 1, m.index((3, 5), 17), m((3, 5))), {}, "transposed"),
    ]


def _scatter_add_errors(device):
    x = make_tensor((3, 4), device)
    idx = make_tensor((3, 2), device, minidl.int64, low=0, high=4)
    return [_E((x, 1, idx, make_tensor((3, 3), device)), {}, minidl.ShapeError,
               "must have the same shape")]


def _cat_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((2, 3)), m((4, 3))), {"dim": 0}, "dim0"),
        SampleInput((m((2, 3)), m((2, 1)), m((2, 5))), {"dim": 1}, "dim1_three"),
        SampleInput((m((2, 3, 2)), m((2, 1, 2))), {"dim": -2}, "negative_dim"),
        SampleInput((m((0, 3)), m((2, 3))), {"dim": 0}, "with_empty"),
        SampleInput((m((5,)),), {"dim": 0}, "single"),
        SampleInput((m.t((3, 2)), m((3, 4))), {"dim": 1}, "transposed"),
        SampleInput((m((17,)), m((15,)), m((1,))), {"dim": 0}, "awkward"),
    ]


def _cat_errors(device):
    a, b = make_tensor((2, 3), device), make_tensor((2, 4), device)
    return [_E((a, b), {"dim": 0}, minidl.ShapeError, "Sizes of tensors must match except in "
               "dimension 0"),
            _E((make_tensor((), device),), {"dim": 0}, RuntimeError, "zero-dimensional tensor"),
            _E((), {"dim": 0}, RuntimeError, "expected a non-empty list")]


def _st_cat(kind):
    @_composite
    def factory(draw, st, S):
        shape = list(draw(S.shapes(1 if kind == "cat" else 0, 3, 1, 4)))
        nd = len(shape)
        n = draw(st.integers(1, 3))
        dim = draw(st.integers(-nd, nd - 1) if kind == "cat" else st.integers(-nd - 1, nd))
        xs = []
        for _ in range(n):
            s = list(shape)
            if kind == "cat":
                s[dim] = draw(st.integers(1, 3))
            xs.append(draw(S.tensors(tuple(s), requires_grad=True)))
        return SampleInput(tuple(xs), {"dim": dim}, "hypothesis")
    return factory


def _stack_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((2, 3)), m((2, 3)), m((2, 3))), {"dim": 0}, "dim0"),
        SampleInput((m((2, 3)), m((2, 3))), {"dim": 2}, "last"),
        SampleInput((m((2, 3)), m((2, 3))), {"dim": -2}, "negative"),
        SampleInput((m(()), m(()), m(())), {"dim": 0}, "0d"),
        SampleInput((m((0, 2)), m((0, 2))), {"dim": 1}, "empty"),
        SampleInput((m.t((3, 17)), m((3, 17))), {"dim": 1}, "transposed"),
    ]


def _stack_errors(device):
    return [_E((make_tensor((2, 3), device), make_tensor((3, 2), device)), {"dim": 0},
               minidl.ShapeError, "stack expects each tensor to be equal size")]


def _pad_samples(device, dtype, requires_grad):
    m = Maker(device, dtype, requires_grad)
    return [
        SampleInput((m((3, 4)), (1, 2)), {}, "last_dim"),
        SampleInput((m((3, 4)), (1, 1, 2, 0)), {}, "two_dims"),
        SampleInput((m((3, 4)), (-1, 2)), {}, "negative_left"),
        SampleInput((m((3, 5)), (0, 0, -1, -1)), {}, "crop_dim0"),
        SampleInput((m((3, 4)), (2, -1, 1, -2)), {"value": 1.5}, "mixed_value"),
        SampleInput((m((2, 3, 4)), (1, 0, 0, 1, 1, 1)), {"value": -2.0}, "3d_value"),
        SampleInput((m((0, 3)), (1, 1)), {}, "empty"),
        SampleInput((m((1,)), (0, 0)), {}, "noop"),
        SampleInput((m.t((3, 17)), (1, 2)), {"value": 0.5}, "transposed"),
    ]


def _pad_errors(device):
    x = make_tensor((2, 3), device)
    return [_E((x, (1, 2, 3)), {}, minidl.ShapeError, "Padding length must be divisible by 2"),
            _E((x, (1, 1)), {"mode": "reflect"}, NotImplementedError, "mode 'reflect'"),
            _E((x, (-2, -2)), {}, minidl.ShapeError, "negative in size")]


@_composite
def _st_pad(draw, st, S):
    shape = draw(S.shapes(1, 3, 1, 4))
    x = draw(S.tensors(shape, requires_grad=True))
    k = draw(st.integers(1, len(shape)))
    pads = []
    for i in range(k):
        n = shape[len(shape) - 1 - i]
        lo = draw(st.integers(-(n // 2), 2))
        hi = draw(st.integers(-(n - max(0, -lo) - 1) // 2 if n > 1 else 0, 2))
        pads += [lo, hi]
    value = draw(st.sampled_from([0.0, 1.5]))
    return SampleInput((x, tuple(pads)), {"value": value}, "hypothesis")


@_composite
def _st_compare(draw, st, S):
    """Values on a coarse grid, so ties (where eq/le/ge matter) are frequent."""
    sa, sb = draw(S.broadcastable_shapes(2, 0, 3, 1, 4))
    ka = draw(S.arrays(sa, minidl.int64, -3, 3))
    if draw(st.booleans()):
        b = minidl.from_numpy(np.asarray(draw(S.arrays(sb, minidl.int64, -3, 3)) * 0.5))
    else:
        b = draw(st.integers(-3, 3)) * 0.5
    return SampleInput((minidl.from_numpy(np.asarray(ka * 0.5)), b), {}, "hypothesis")


@_composite
def _st_arg(draw, st, S):
    shape = draw(S.shapes(0, 3, 1, 4))
    x = minidl.from_numpy(draw(S.distinct_arrays(shape)))
    nd = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-max(nd, 1), max(nd, 1) - 1)))
    return SampleInput((x,), {"dim": dim, "keepdim": draw(st.booleans())}, "hypothesis")


@_composite
def _st_rpow(draw, st, S):
    base = draw(st.floats(0.25, 3.0))
    x = draw(S.tensors(S.shapes(0, 3, 1, 4), requires_grad=True))
    return SampleInput((base, x), {}, "hypothesis")


@_composite
def _st_squeeze(draw, st, S):
    shape = draw(S.shapes(0, 4, 1, 2))
    x = draw(S.tensors(shape, requires_grad=True))
    nd = max(len(shape), 1)
    dim = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                         st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd,
                                  unique=True).map(tuple)))
    return SampleInput((x,), {} if dim is None else {"dim": dim}, "hypothesis")


@_composite
def _st_unsqueeze(draw, st, S):
    shape = draw(S.shapes(0, 3, 1, 4))
    x = draw(S.tensors(shape, requires_grad=True))
    return SampleInput((x, draw(st.integers(-len(shape) - 1, len(shape)))), {}, "hypothesis")


@_composite
def _st_flatten(draw, st, S):
    shape = draw(S.shapes(1, 4, 1, 3))
    x = draw(S.tensors(shape, requires_grad=True))
    nd = len(shape)
    a, b = sorted((draw(st.integers(0, nd - 1)), draw(st.integers(0, nd - 1))))
    start = a - nd if draw(st.booleans()) else a
    return SampleInput((x,), {"start_dim": start, "end_dim": b}, "hypothesis")


def _st_T():
    st, S = _st()
    return S.tensors(S.shapes(0, 3, 1, 4), requires_grad=True).map(
        lambda x: SampleInput((x,), {}, "hypothesis"))


@_composite
def _st_scatter_add(draw, st, S):
    x, dim, index, ishape = _draw_index_args(draw, st, S, 5)
    src = draw(S.tensors(ishape, requires_grad=True))
    return SampleInput((x, dim, index, src), {}, "hypothesis")


# ---- the table ----------------------------------------------------------------------------------
F32, F64, I64 = float32, float64, minidl.int64
_FLOATS_INT = (F32, F64, I64)

OP_DB: list[OpInfo] = [
    # -- arithmetic --
    OpInfo("add", operator.add, np.add, _binary_samples(), dtypes=_FLOATS_INT,
           error_inputs=_broadcast_errors(operator.add, "add"), strategy=_st_binary()),
    OpInfo("sub", operator.sub, np.subtract, _binary_samples(), dtypes=_FLOATS_INT,
           error_inputs=_broadcast_errors(operator.sub, "sub"), strategy=_st_binary()),
    OpInfo("mul", operator.mul, np.multiply, _binary_samples(), dtypes=_FLOATS_INT,
           error_inputs=_broadcast_errors(operator.mul, "mul"), strategy=_st_binary()),
    OpInfo("div", operator.truediv, np.true_divide,
           _binary_samples(b_range=(-2.0, 2.0), b_avoid=(0.0,)),
           error_inputs=_broadcast_errors(operator.truediv, "div"),
           strategy=_st_binary(b_range=(-3.0, 3.0), b_avoid=(0.0,), b_margin=0.5)),
    OpInfo("pow", minidl.pow, np.power,
           _binary_samples(a_range=(0.3, 2.0), b_range=(-2.0, 2.0), scalars=(2.5, 1.5)),
           strategy=_st_binary(a_range=(0.2, 3.0), b_range=(-2.0, 2.0))),
    OpInfo("pow_scalar", operator.pow, np.power, _pow_scalar_samples, strategy=_st_pow_scalar),
    OpInfo("rpow", operator.pow, np.power, _rpow_samples, atol=1e-5, rtol=1e-5,
           strategy=_st_rpow),
    OpInfo("neg", operator.neg, np.negative, _unary_samples(), dtypes=_FLOATS_INT,
           strategy=_st_unary()),
    OpInfo("abs", minidl.abs, np.abs, _unary_samples(avoid=(0.0,)), dtypes=_FLOATS_INT,
           avoid=(0.0,), strategy=_st_unary(avoid=(0.0,))),
    OpInfo("exp", minidl.exp, np.exp, _unary_samples(-3.0, 3.0),
           error_inputs=_float_only_errors("exp", minidl.exp), strategy=_st_unary(-5.0, 5.0)),
    OpInfo("log", minidl.log, np.log, _unary_samples(0.1, 4.0),
           error_inputs=_float_only_errors("log", minidl.log), strategy=_st_unary(0.05, 10.0)),
    OpInfo("sqrt", minidl.sqrt, np.sqrt, _unary_samples(0.1, 4.0),
           error_inputs=_float_only_errors("sqrt", minidl.sqrt), strategy=_st_unary(0.05, 10.0)),
    OpInfo("clamp", minidl.clamp, ref_clamp, _clamp_samples, avoid=(-0.5, 0.5),
           error_inputs=_clamp_errors, strategy=_st_clamp),
    OpInfo("maximum", minidl.maximum, np.maximum, _binary_samples(), dtypes=_FLOATS_INT,
           strategy=_st_binary_separated, error_inputs=_broadcast_errors(
               minidl.maximum, "maximum")),
    OpInfo("minimum", minidl.minimum, np.minimum, _binary_samples(), dtypes=_FLOATS_INT,
           strategy=_st_binary_separated),
    OpInfo("where", minidl.where, np.where, _where_samples, error_inputs=_where_errors,
           strategy=_st_where),
    OpInfo("matmul", minidl.matmul, np.matmul, _matmul_samples, atol=1e-5, rtol=1e-5,
           error_inputs=_matmul_errors, strategy=_st_matmul),
    # -- reductions --
    OpInfo("sum", minidl.sum, ref_sum, _sum_samples, dtypes=_FLOATS_INT,
           error_inputs=_dim_errors("sum"), strategy=_st_reduce()),
    OpInfo("mean", minidl.mean, ref_mean, _sum_samples, error_inputs=_mean_errors,
           strategy=_st_reduce()),
    OpInfo("max", minidl.max, np.max, _reduce_samples(distinct=True, full_only=True),
           dtypes=_FLOATS_INT, error_inputs=_max_full_errors, strategy=_st_full_extreme),
    OpInfo("max_dim", minidl.max, ref_max_dim, _reduce_samples(distinct=True, allow_empty=False),
           dtypes=_FLOATS_INT, strategy=_st_reduce(distinct=True, multi=False, allow_none=False)),
    OpInfo("min", minidl.min, np.min, _reduce_samples(distinct=True, full_only=True),
           dtypes=_FLOATS_INT, error_inputs=_max_full_errors, strategy=_st_full_extreme),
    OpInfo("min_dim", minidl.min, ref_min_dim, _reduce_samples(distinct=True, allow_empty=False),
           dtypes=_FLOATS_INT, strategy=_st_reduce(distinct=True, multi=False, allow_none=False)),
    OpInfo("amax", minidl.amax, ref_extreme(np.amax),
        _reduce_samples(distinct=True, allow_empty=False, kwargs_list=_MULTI[:4]),
        strategy=_st_reduce(distinct=True)),
    OpInfo("amin", minidl.amin, ref_extreme(np.amin),
        _reduce_samples(distinct=True, allow_empty=False, kwargs_list=_MULTI[:4]),
        strategy=_st_reduce(distinct=True)),
    OpInfo("var", minidl.var, ref_var, _var_samples, error_inputs=_dim_errors("var"),
           strategy=_st_var, atol=1e-5, rtol=1e-5),
    OpInfo("std", minidl.std, ref_std, _std_samples, strategy=_st_var, atol=1e-5, rtol=1e-5),
    OpInfo("argmax", minidl.argmax, ref_arg(np.argmax), _arg_samples, dtypes=_FLOATS_INT,
           differentiable=False, error_inputs=_arg_errors("argmax"), strategy=_st_arg),
    OpInfo("argmin", minidl.argmin, ref_arg(np.argmin), _arg_samples, dtypes=_FLOATS_INT,
           differentiable=False, error_inputs=_arg_errors("argmin"), strategy=_st_arg),
    # -- comparisons (bool results, not differentiable) --
    *(OpInfo(name, op, ref, _cmp_samples, dtypes=_FLOATS_INT, differentiable=False,
             strategy=_st_compare)
      for name, op, ref in (("eq", operator.eq, np.equal), ("ne", operator.ne, np.not_equal),
                            ("lt", operator.lt, np.less), ("le", operator.le, np.less_equal),
                            ("gt", operator.gt, np.greater),
                            ("ge", operator.ge, np.greater_equal))),
    # -- movement --
    OpInfo("reshape", minidl.reshape, np.reshape, _reshape_samples, dtypes=_FLOATS_INT,
           error_inputs=_reshape_errors("reshape"), strategy=_st_reshape),
    OpInfo("view", lambda x, shape: x.view(shape), np.reshape, _reshape_samples,
           error_inputs=_reshape_errors("view"), strategy=_st_reshape),
    OpInfo("flatten", minidl.flatten, ref_flatten, _flatten_samples, dtypes=_FLOATS_INT,
           error_inputs=_flatten_errors, strategy=_st_flatten),
    OpInfo("transpose", minidl.transpose, np.swapaxes, _transpose_samples, dtypes=_FLOATS_INT,
           error_inputs=_transpose_errors, strategy=_st_two_dims("transpose")),
    OpInfo("permute", minidl.permute, np.transpose, _permute_samples, dtypes=_FLOATS_INT,
           error_inputs=_permute_errors, strategy=_st_two_dims("permute")),
    OpInfo("T", lambda x: x.T, lambda x: x.T, _T_samples, strategy=_st_T),
    OpInfo("squeeze", minidl.squeeze, ref_squeeze, _squeeze_samples,
           error_inputs=_squeeze_errors, strategy=_st_squeeze),
    OpInfo("unsqueeze", minidl.unsqueeze, np.expand_dims, _unsqueeze_samples,
           error_inputs=_unsqueeze_errors, strategy=_st_unsqueeze),
    OpInfo("expand", lambda x, *sizes: x.expand(*sizes), ref_expand, _expand_samples,
           dtypes=_FLOATS_INT, error_inputs=_expand_errors, strategy=_st_expand),
    OpInfo("getitem", op_getitem, lambda x, index: np.array(x[index]), _getitem_samples,
           dtypes=_FLOATS_INT, error_inputs=_getitem_errors, strategy=_st_getitem),
    OpInfo("gather", minidl.gather, ref_gather, _gather_samples, dtypes=_FLOATS_INT,
           error_inputs=_gather_errors, strategy=_st_gather),
    OpInfo("scatter_add", lambda x, dim, index, src: x.scatter_add(dim, index, src),
           ref_scatter_add, _scatter_add_samples, error_inputs=_scatter_add_errors,
           strategy=_st_scatter_add),
    OpInfo("cat", op_cat, lambda *xs, dim=0: np.concatenate(xs, axis=dim), _cat_samples,
           dtypes=_FLOATS_INT, error_inputs=_cat_errors, strategy=_st_cat("cat")),
    OpInfo("stack", op_stack, lambda *xs, dim=0: np.stack(xs, axis=dim), _stack_samples,
           error_inputs=_stack_errors, strategy=_st_cat("stack")),
    OpInfo("pad", op_pad, ref_pad, _pad_samples, error_inputs=_pad_errors, strategy=_st_pad),
    # -- activations --
    OpInfo("relu", minidl.relu, lambda x: np.maximum(x, x.dtype.type(0)),
           _unary_samples(avoid=(0.0,)), avoid=(0.0,), strategy=_st_unary(avoid=(0.0,))),
    OpInfo("leaky_relu", op_leaky_relu, ref_leaky_relu,
           _unary_samples(avoid=(0.0,), kwargs={"negative_slope": 0.2}), avoid=(0.0,),
           strategy=_st_unary(avoid=(0.0,), kwargs={"negative_slope": 0.2})),
    OpInfo("leaky_relu_default", op_leaky_relu, ref_leaky_relu, _unary_samples(avoid=(0.0,)),
           avoid=(0.0,), strategy=_st_unary(avoid=(0.0,))),
    OpInfo("sigmoid", minidl.sigmoid, ref_sigmoid, _unary_samples(-4.0, 4.0, large=(-40, 40)),
           error_inputs=_float_only_errors("sigmoid", minidl.sigmoid), strategy=_st_unary(
               -10.0, 10.0)),
    OpInfo("tanh", minidl.tanh, np.tanh, _unary_samples(-3.0, 3.0, large=(-40, 40)),
           error_inputs=_float_only_errors("tanh", minidl.tanh), strategy=_st_unary(-5.0, 5.0)),
    OpInfo("gelu", op_gelu, ref_gelu, _unary_samples(-3.0, 3.0),
           strategy=_st_unary(-5.0, 5.0)),
    OpInfo("softmax", minidl.softmax, ref_softmax, _softmax_samples,
           error_inputs=_softmax_errors("softmax"), strategy=_st_softmax),
    OpInfo("log_softmax", minidl.log_softmax, ref_log_softmax, _softmax_samples,
           error_inputs=_softmax_errors("log_softmax"), strategy=_st_softmax, atol=1e-5,
           rtol=1e-5),
]
"""Every OpInfo row: the foundation ops defined here, then the rows of the family modules in `_FAMILIES`."""


def op_by_name(name: str) -> OpInfo:
    """The row called `name` (KeyError listing the names otherwise)."""
    for o in OP_DB:
        if o.name == name:
            return o
    raise KeyError(f"no op named {name!r} in OP_DB; have {[o.name for o in OP_DB]}")


# Rows of other op families, one module name each: minidl/testing/opinfo_<family>.py with `OPS`.
_FAMILIES = ["opinfo_nn", "opinfo_conv"]


def _load_families() -> None:
    for fam in _FAMILIES:
        modname = f"minidl.testing.{fam}"
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name != modname:
                raise
            continue
        OP_DB.extend(mod.OPS)


_load_families()
