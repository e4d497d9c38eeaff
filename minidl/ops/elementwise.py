"""Elementwise ops: arithmetic with broadcasting, unary math and activations, comparisons, where.

Unary ops are one generic `Map` Op driven by backend.shared.scalar: a scalar function registered
there with `grad=` is a differentiable op here (forward the function, backward its `grad`), and
its `floating_only` flag is the dtype rule.  Adding an activation is one scalar function pair
there plus its F./nn. entry in minidl/nn/activation.py and one row in the op table.
"""
from __future__ import annotations

from .. import dtypes
from ..tensor import Tensor  # defined before tensor.py imports the ops
from .. import creation as _creation  # after tensor: creation imports Tensor
from ..autograd import Op
from ..backend.shared.scalar import FUNCTIONS as _SCALAR
from ..device import backend_for
from ..errors import DTypeError
from ._base import broadcast_shapes, require_float, result_dtype, same_device

# name -> (backward scalar function, what it reads besides the gradient: "input" | "output" | None)
UNARY = {f.name: (f.grad, f.saves) for f in _SCALAR.values() if f.grad is not None}
FLOAT_ONLY = frozenset(f.name for f in _SCALAR.values() if f.floating_only)
_NODE_NAMES = {n: "".join(p.title() for p in n.split("_")) + "Backward0" for n in UNARY}


class Map(Op):
    """y = f(x) elementwise for f in UNARY; dy/dx from f's derivative in backend.shared.scalar."""

    @staticmethod
    def forward(ctx, x, name, params=()):
        y = ctx.backend.map(name, [x], params)
        ctx._name = _NODE_NAMES[name]
        ctx.fname, ctx.params = name, params
        saves = UNARY[name][1]
        ctx.save_for_backward(x if saves == "input" else y if saves == "output" else None)
        return y

    @staticmethod
    def backward(ctx, g):
        grad_name = UNARY[ctx.fname][0]
        (s,) = ctx.saved_tensors
        arrays = [g._data] if s is None else [g._data, s._data]
        return ctx.backend.map(grad_name, arrays, ctx.params), None, None


def unary(name: str, x, params=()):
    if name in FLOAT_ONLY:
        require_float(name, x)
    if x.dtype is dtypes.bool_ and name not in ("abs",):
        raise DTypeError(f"{name}: not supported for bool tensors")
    return Map.apply(x, name, tuple(params))


# ---- binary -------------------------------------------------------------------------------------
def _operands(op: str, a, b, want_float=False):
    """Both operands as tensors of one dtype on one device (python scalars become 0-d tensors)."""
    dt = result_dtype(a, b)
    if want_float and not dt.is_floating_point:
        dt = dtypes.float32
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        same_device(op, a, b)
        dev = a._device
    else:
        dev = (a if isinstance(a, Tensor) else b)._device
    a = (a if a._dtype is dt else a.to(dt)) if isinstance(a, Tensor) else _scalar(a, dt, dev)
    b = (b if b._dtype is dt else b.to(dt)) if isinstance(b, Tensor) else _scalar(b, dt, dev)
    if a._data.shape != b._data.shape:
        broadcast_shapes(op, a._data.shape, b._data.shape)
    return a, b


def _scalar(value, dt, dev):
    """A python number as a 0-d tensor of dtype dt on dev (the full((), value) of _operands)."""
    return Tensor._wrap(backend_for(dev).full((), value, dt.np), dev)


def unbroadcast(g, shape: tuple):
    """Sum `g` down to `shape` (the adjoint of broadcasting)."""
    if tuple(g.shape) == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    if dims:
        g = g.sum(dims, keepdim=True)
    return g.reshape(shape)


class _Binary(Op):
    name = ""

    @classmethod
    def run(cls, ctx, a, b):
        ctx.shapes = (a.shape, b.shape)
        return ctx.backend.map(cls.name, [a, b])


class Add(_Binary):
    """a + b."""
    name = "add"

    @staticmethod
    def forward(ctx, a, b):
        return Add.run(ctx, a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(_Binary):
    """a - b."""
    name = "sub"

    @staticmethod
    def forward(ctx, a, b):
        return Sub.run(ctx, a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb)


class Mul(_Binary):
    """a * b."""
    name = "mul"

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None,
                              b if ctx.needs_input_grad[0] else None)
        return Mul.run(ctx, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = unbroadcast(g * b, sa) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(g * a, sb) if ctx.needs_input_grad[1] else None
        return ga, gb


class Div(_Binary):
    """a / b; d/db = -a / b^2 = -out / b."""
    name = "div"

    @staticmethod
    def forward(ctx, a, b):
        out = Div.run(ctx, a, b)
        ctx.save_for_backward(b, out if ctx.needs_input_grad[1] else None)
        return out

    @staticmethod
    def backward(ctx, g):
        b, out = ctx.saved_tensors
        sa, sb = ctx.shapes
        ga = unbroadcast(g / b, sa) if ctx.needs_input_grad[0] else None
        gb = unbroadcast(-(g * out) / b, sb) if ctx.needs_input_grad[1] else None
        return ga, gb


class Pow(_Binary):
    """a ** b for tensor b; d/da = b a^(b-1) (0 where b == 0), d/db = out log(a) (0 where a == 0
    and b >= 0): PyTorch's values, so 0^0 has gradient 0 and a negative base gives NaN."""
    name = "pow"

    @staticmethod
    def forward(ctx, a, b):
        out = Pow.run(ctx, a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        sa, sb = ctx.shapes
        zero = g.new_zeros(())
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = unbroadcast(where(b == 0, zero, g * b * a ** (b - 1.0)), sa)
        if ctx.needs_input_grad[1]:
            gb = unbroadcast(where((a == 0).logical_and(b >= 0), zero, g * out * a.log()), sb)
        return ga, gb


class _Extreme(_Binary):
    """maximum/minimum; a tie sends half the gradient to each side (like torch)."""

    @classmethod
    def fwd(cls, ctx, a, b):
        ctx.save_for_backward(a, b)
        return cls.run(ctx, a, b)

    @classmethod
    def bwd(cls, ctx, g):
        # PyTorch's masks: a side loses only where the other is strictly better, so where either
        # is NaN both sides get the whole gradient
        a, b = ctx.saved_tensors
        sa, sb = ctx.shapes
        a_loses, b_loses = (a < b, a > b) if cls.name == "maximum" else (a > b, a < b)
        share = where(a == b, g * 0.5, g)
        zero = g.new_zeros(())
        return (unbroadcast(where(a_loses, zero, share), sa),
                unbroadcast(where(b_loses, zero, share), sb))


class Maximum(_Extreme):
    """max(a, b) elementwise."""
    name = "maximum"

    @staticmethod
    def forward(ctx, a, b):
        return Maximum.fwd(ctx, a, b)

    @staticmethod
    def backward(ctx, g):
        return Maximum.bwd(ctx, g)


class Minimum(_Extreme):
    """min(a, b) elementwise."""
    name = "minimum"

    @staticmethod
    def forward(ctx, a, b):
        return Minimum.fwd(ctx, a, b)

    @staticmethod
    def backward(ctx, g):
        return Minimum.bwd(ctx, g)


_BINARY = {"add": Add, "sub": Sub, "mul": Mul, "div": Div, "pow": Pow,
           "maximum": Maximum, "minimum": Minimum}


def binary(name: str, a, b):
    T = Tensor
    # fast path (most calls): two tensors of one floating dtype, shape and device need no
    # promotion, broadcast or device check
    if (isinstance(a, T) and isinstance(b, T) and a._dtype is b._dtype
            and a._data.shape == b._data.shape and a._dtype.is_floating_point
            and (a._device is b._device or a._device == b._device)):
        return _BINARY[name].apply(a, b)
    a, b = _operands(name, a, b, want_float=name in ("div", "pow"))
    if a.dtype is dtypes.bool_ and name in ("sub", "pow"):
        raise DTypeError(f"{name}: not supported for bool tensors")
    return _BINARY[name].apply(a, b)


def bitwise_not(x):
    """~x: logical not for bool, bitwise not for int64 (-x - 1 in two's complement, which wraps
    like C for INT64_MIN); float tensors raise like PyTorch."""
    if x.dtype is dtypes.bool_:
        return logical("logical_not", x)
    if x.dtype is not dtypes.int64:
        raise DTypeError(f"bitwise_not: ~ (operator.invert) is only implemented on integer and "
                         f"Boolean-type tensors, got {x.dtype}")
    return binary("sub", unary("neg", x), 1)


def compare(name: str, a, b):
    """eq/ne/lt/le/gt/ge -> bool tensor; not differentiable."""
    a, b = _operands(name, a, b)
    return Pointwise.apply(name, a, b)


def logical(name: str, a, b=None):
    if b is None:
        return Pointwise.apply(name, a.bool())
    a = a.bool() if isinstance(a, Tensor) else a
    b = b.bool() if isinstance(b, Tensor) else b
    a, b = _operands(name, a, b)
    return Pointwise.apply(name, a, b)


class Pointwise(Op):
    """A backend scalar function without a gradient (comparisons, logical ops, sign)."""

    @staticmethod
    def forward(ctx, name, *arrays):
        out = ctx.backend.map(name, list(arrays))
        ctx.mark_non_differentiable(out)
        return out


class Where(Op):
    """out = cond ? a : b."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return ctx.backend.map("where", [cond, a, b])

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        zero = g.new_zeros(())
        ga = unbroadcast(where(cond, g, zero), sa) if ctx.needs_input_grad[1] else None
        gb = unbroadcast(where(cond, zero, g), sb) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(cond, a, b):
    """Elements of `a` where `cond`, else of `b` (all three broadcast)."""
    if not isinstance(cond, Tensor):
        raise TypeError("where(): argument 'condition' must be a Tensor")
    if cond.dtype is not dtypes.bool_:
        raise DTypeError(f"where: expected condition to be a bool tensor, got {cond.dtype}")
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        # two python scalars: the first sets the default dtype
        a = _creation.tensor(a, device=cond.device)
    a, b = _operands("where", a, b)
    same_device("where", cond, a)
    broadcast_shapes("where", tuple(cond.shape), tuple(a.shape), tuple(b.shape))
    return Where.apply(cond, a, b)


def pow(x, exponent):
    """x ** exponent; a python-number exponent uses the scalar kernel."""
    if isinstance(x, Tensor) and not isinstance(exponent, Tensor):
        if not x.dtype.is_floating_point:
            x = x.float()
        if exponent == 1:
            return x * 1.0
        return unary("pow_scalar", x, (float(exponent),))
    return binary("pow", x, exponent)


class Clamp(Op):
    """y = min(max(x, lo), hi) for tensor bounds (either may be None), with PyTorch's gradients:
    x where lo <= x <= hi; lo where x < lo (and lo < hi); hi where x > hi (or hi < lo)."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        out = x
        if lo is not None:
            out = ctx.backend.map("maximum", [out, lo])
        if hi is not None:
            out = ctx.backend.map("minimum", [out, hi])
        ctx.save_for_backward(x, lo, hi)
        return out

    @staticmethod
    def backward(ctx, g):
        x, lo, hi = ctx.saved_tensors
        zero = g.new_zeros(())
        gx = glo = ghi = None
        if ctx.needs_input_grad[0]:
            keep = (x >= lo) if lo is not None else None
            if hi is not None:
                keep = (x <= hi) if keep is None else keep.logical_and(x <= hi)
            gx = unbroadcast(where(keep, g, zero), tuple(x.shape))
        if lo is not None and ctx.needs_input_grad[1]:
            m = x < lo
            if hi is not None:
                m = m.logical_and(lo < hi)
            glo = unbroadcast(where(m, g, zero), tuple(lo.shape))
        if hi is not None and ctx.needs_input_grad[2]:
            m = x > hi
            if lo is not None:
                m = m.logical_or(hi < lo)
            ghi = unbroadcast(where(m, g, zero), tuple(hi.shape))
        return gx, glo, ghi


def clamp(x, min=None, max=None):
    """min(max(x, min), max): either bound may be None (not both), or a tensor; min > max gives
    max everywhere, and the result dtype promotes like PyTorch (int tensor, float bound ->
    float)."""
    if min is None and max is None:
        raise RuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    dt = x.dtype
    for bound in (min, max):
        if bound is not None and not isinstance(bound, Tensor):
            dt = dtypes.promote_scalar(dt, bound)
    if dt is not x.dtype:
        x = x.to(dt)
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        for b in (min, max):
            if isinstance(b, Tensor):
                same_device("clamp", x, b)
                x = x.to(result_dtype(x, b))
        dt = x.dtype
        lo, hi = (None if b is None else b.to(dt) if isinstance(b, Tensor)
                  else _creation.full((), b, dtype=dt, device=x.device) for b in (min, max))
        broadcast_shapes("clamp", *(tuple(t.shape) for t in (x, lo, hi) if t is not None))
        return Clamp.apply(x, lo, hi)
    big = float("inf") if x.dtype.is_floating_point else 2 ** 62
    lo = -big if min is None else min
    hi = big if max is None else max
    return unary("clamp", x, (lo, hi))
