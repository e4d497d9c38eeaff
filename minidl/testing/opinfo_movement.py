"""Op-table rows for movement ops (reshape/view, flatten, transpose/permute, squeeze/unsqueeze,
expand, indexing, gather/scatter_add, cat/stack, pad) with their sample inputs, error inputs
and hypothesis strategies.  References: minidl.testing.opinfo_refs.
"""
from __future__ import annotations

import numpy as np

import minidl
from minidl.dtypes import float32, float64

from .opinfo import _composite, _st, ErrorInput, make_tensor, Maker, OpInfo, SampleInput
from .opinfo_refs import ref_expand, ref_flatten, ref_gather, ref_pad, ref_scatter_add, ref_squeeze


_E = ErrorInput


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


def _view_samples(device, dtype, requires_grad):
    # view of a transposed tensor is an error (no strides fit), like torch: see _reshape_errors
    return [s for s in _reshape_samples(device, dtype, requires_grad) if s.name != "transposed"]


def _reshape_errors(name):
    def errors(device):
        x = make_tensor((2, 3), device)
        return [_E((x, (4, 2)), {}, minidl.ShapeError,
                   r"shape '\[4, 2\]' is invalid for input of size 6"),
                _E((x, (-1, -1)), {}, RuntimeError, "only one dimension can be inferred")] + (
            [_E((x.t(), (6,)), {}, RuntimeError, "view size is not compatible")]
            if name == "view" else [])
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
    # ints and a list never together: numpy counts an int as an advanced index (x[0, :, [0]] puts
    # the list's dim first), torch and minidl select first, so numpy's x[index] is no reference
    for n in shape:
        kind = draw(st.sampled_from(["slice", "int", "array", "full"]))
        if kind == "slice":
            s = draw(st.slices(n))
            index.append(s if s.step is None or s.step > 0 else slice(None))
        elif kind == "int" and not any(isinstance(i, list) for i in index):
            index.append(draw(st.integers(-n, n - 1)))
        elif kind == "array" and not any(isinstance(i, (int, list)) for i in index):
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


F32, F64, I64 = float32, float64, minidl.int64
_FLOATS_INT = (F32, F64, I64)

OPS: list[OpInfo] = [
    # -- movement --
    OpInfo("reshape", minidl.reshape, np.reshape, _reshape_samples, dtypes=_FLOATS_INT,
           error_inputs=_reshape_errors("reshape"), strategy=_st_reshape),
    OpInfo("view", lambda x, shape: x.view(shape), np.reshape, _view_samples,
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
]
