"""Op-table rows for reductions (sum, mean, var/std, max/min, argmax/argmin) with their sample
inputs, error inputs and hypothesis strategies; softmax's samples live here too (a reduction
over one dim).  References: minidl.testing.opinfo_refs.
"""
from __future__ import annotations

import numpy as np

import minidl
from minidl.dtypes import float32, float64

from .opinfo import _composite, _st, ErrorInput, make_tensor, Maker, OpInfo, SampleInput
from .opinfo_refs import (ref_arg, ref_extreme, ref_max_dim, ref_mean, ref_min_dim, ref_std,
                          ref_sum, ref_var)


_E = ErrorInput


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
    # size1_biased included: std is identically 0 there and its gradient is 0 (PyTorch's
    # masked g / 2 std), not 0 * inf
    return _var_samples(device, dtype, requires_grad)


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


@_composite
def _st_arg(draw, st, S):
    shape = draw(S.shapes(0, 3, 1, 4))
    x = minidl.from_numpy(draw(S.distinct_arrays(shape)))
    nd = len(shape)
    dim = draw(st.one_of(st.none(), st.integers(-max(nd, 1), max(nd, 1) - 1)))
    return SampleInput((x,), {"dim": dim, "keepdim": draw(st.booleans())}, "hypothesis")


F32, F64, I64 = float32, float64, minidl.int64
_FLOATS_INT = (F32, F64, I64)

OPS: list[OpInfo] = [
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
]
