"""Op-table rows for elementwise ops: arithmetic, comparisons, where, matmul and the
activations on minidl's top level, with their sample inputs, error inputs and hypothesis
strategies.  References: numpy ufuncs or minidl.testing.opinfo_refs.
"""
from __future__ import annotations

import operator

import numpy as np

import minidl
from minidl.dtypes import float32, float64

from .opinfo import _composite, _st, ErrorInput, keep_away, make_tensor, Maker, OpInfo, SampleInput
from .opinfo_movement import _F
from .opinfo_reduce import _softmax_errors, _softmax_samples, _st_softmax
from .opinfo_refs import (ref_clamp, ref_gelu, ref_leaky_relu, ref_log_softmax, ref_sigmoid,
                          ref_softmax)


_E = ErrorInput


def op_leaky_relu(x, negative_slope=0.01):
    return _F().leaky_relu(x, negative_slope)


def op_gelu(x, approximate="none"):
    return _F().gelu(x, approximate)


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
        # PyTorch: the gradient of x ** 0 is 0 everywhere, 0 ** 0 included (not 0 * 0 ** -1)
        SampleInput((m.from_array([0.0, 1.5, -2.0]), 0), {}, "zero_at_zero"),
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
        SampleInput((m((3, 4), **kw),), {"min": 0.5, "max": -0.5}, "min_gt_max"),  # all max
        SampleInput((m((3, 4)), m((4,), 0.4, 0.6), m((3, 1), -0.6, -0.4)), {},
                    "tensor_min_gt_max"),
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
        SampleInput((m((0, 2, 3)), m((0, 3, 2))), {}, "batch0"),
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
def _st_rpow(draw, st, S):
    base = draw(st.floats(0.25, 3.0))
    x = draw(S.tensors(S.shapes(0, 3, 1, 4), requires_grad=True))
    return SampleInput((base, x), {}, "hypothesis")


F32, F64, I64 = float32, float64, minidl.int64
_FLOATS_INT = (F32, F64, I64)

OPS: list[OpInfo] = [
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
    # -- comparisons (bool results, not differentiable) --
    *(OpInfo(name, op, ref, _cmp_samples, dtypes=_FLOATS_INT, differentiable=False,
             strategy=_st_compare)
      for name, op, ref in (("eq", operator.eq, np.equal), ("ne", operator.ne, np.not_equal),
                            ("lt", operator.lt, np.less), ("le", operator.le, np.less_equal),
                            ("gt", operator.gt, np.greater),
                            ("ge", operator.ge, np.greater_equal))),
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
