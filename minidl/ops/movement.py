"""Shape and data movement: views (reshape/view, permute/transpose, expand, basic indexing),
integer-array indexing, index assignment, gather/scatter_add, cat/stack, pad, casts and device
copies; and the autograd nodes of in-place writes through views (CopySlices).

Views share storage.  A tensor's `_view` locates it in its storage's root array (the array of the
tensor the first view was taken from) as (shape, strides, offset, is_copy).  A view whose elements
are contiguous in the root (reshape, squeeze, x[i], x[a:b], ...) is a real sub-array of the root.
A non-contiguous view (transpose, permute, expand, strided slices) keeps a private contiguous copy,
because every op and kernel takes contiguous arrays; writes through it are written back to the
root, and every write to the storage refreshes the copies of its live non-contiguous views
(`_version.views`), so both kinds behave as shared memory.  See docs/autograd.md.

The ops that compute new arrays are `Op`s (forward on backend arrays), and so are the nodes of
in-place writes (CopySlices, Overwritten: their output is an input's own array, which Op.apply
aliases).  Views are the one exception to the array boundary: Reshape, AsStrided and Expand stay
tensor-level `Function`s, because their output must share the input's storage record (version
counter, `_view`, `_base`) while Op.apply gives every array it did not receive a storage of its
own, and a view's array is a new array object.  ToDevice is a `Function` for another reason: its
output lives on another device, and an Op runs on one.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import dtypes
from ..tensor import Tensor  # defined before tensor.py imports the ops
from .. import creation as _creation  # after tensor: creation imports Tensor
from ..autograd import Function, Op, enable_grad, is_grad_enabled, no_grad
from ..device import backend_for
from ..errors import ShapeError
from ._base import norm_dim, same_device
from . import elementwise as _ew  # may be partly initialised here: read at call time


def contiguous_strides(shape) -> tuple:
    out, acc = [], 1
    for n in reversed(shape):
        out.append(acc)
        acc *= n
    return tuple(reversed(out))


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


# ---- storage sharing ----------------------------------------------------------------------------
def _spec(x) -> tuple:
    """(shape, strides, offset) of x in its storage root (a contiguous view may store strides
    None: computed here, off the reshape fast path)."""
    v = x._view
    if v is None:
        shape = tuple(x._data.shape)
        return shape, contiguous_strides(shape), 0
    return v[0], (contiguous_strides(v[0]) if v[1] is None else v[1]), v[2]


def _is_contiguous(shape, strides) -> bool:
    acc = 1
    for n, s in zip(reversed(shape), reversed(strides)):
        if n == 0:
            return True
        if n != 1 and s != acc:
            return False
        acc *= n
    return True


def _flat_view(B, root, shape, offset):
    """The contiguous block of `root` at `offset` as an array of `shape` (no copy)."""
    n = _numel(shape)
    flat = B.reshape(root, (-1,))
    return B.reshape(flat[offset:offset + n], shape)


def _offsets(shape, strides, offset) -> np.ndarray:
    """Flat root offsets of every element of a strided view, C order, as host int64."""
    off = np.full((), offset, dtype=np.int64)
    for n, s in zip(shape, strides):
        off = off[..., None] + np.arange(n, dtype=np.int64) * s
    return off


def _make_view(x, shape, strides, offset):
    """A view of x's storage at (shape, strides, offset) relative to the storage root."""
    ver = x._version
    if x._view is None and ver.root is not x._data:
        ver.root = x._data
    root = ver.root
    B = x._backend
    shape, strides = tuple(shape), tuple(strides)
    if _is_contiguous(shape, strides):
        data, copy = _flat_view(B, root, shape, offset), False
    else:
        data, copy = B.strided_copy(root, shape, strides, offset), True
        views = ver.views
        if views is None:
            views = ver.views = []
        elif len(views) >= 16:
            views[:] = [e for e in views if e[0]() is not None]
        views.append((weakref.ref(data), (shape, strides, offset)))
    out = Tensor._wrap(data, x.device)
    out._version = ver
    out._view = (shape, strides, offset, copy)
    out._base = x._base if x._base is not None else x
    out._hist = ver.hist
    return out


def _contiguous_view(x, shape):
    """x's elements in a new shape, sharing storage (x itself is contiguous)."""
    ver = x._version
    v = x._view
    if v is None and ver.root is not x._data:
        ver.root = x._data
    out = Tensor._wrap(x._backend.reshape(x._data, shape), x.device)
    out._version = ver
    out._view = (shape, None, 0 if v is None else v[2], False)
    out._base = x._base if x._base is not None else x
    out._hist = ver.hist
    return out


def write_back(t) -> None:
    """Copy the private elements of a non-contiguous view `t` into its storage root."""
    shape, strides, offset, _ = t._view
    if not _numel(shape):
        return
    B = t._backend
    B.put_(t._version.root, B.from_numpy(_offsets(shape, strides, offset).reshape(-1)),
           B.reshape(t._data, (-1,)))


def refresh_views(t) -> None:
    """After a write to t's storage, re-read every other live non-contiguous view of it."""
    ver, B, skip = t._version, t._backend, t._data
    live = []
    for ref, spec in ver.views:
        arr = ref()
        if arr is None:
            continue
        live.append((ref, spec))
        if arr is not skip and _numel(spec[0]):
            B.copy_into(arr, B.strided_copy(ver.root, *spec))
    ver.views = live


def _rel_spec(view) -> tuple:
    """The view's (shape, strides, offset) in its base's contiguous layout."""
    shape, strides, offset = _spec(view)
    bv = view._base._view
    if bv is None:
        return shape, strides, offset
    if bv[3]:
        raise RuntimeError("in-place autograd through a view of a non-contiguous detached view is "
                           "not supported; clone() the detached tensor first")
    return shape, strides, offset - bv[2]


def check_writable_view(t, op: str) -> None:
    """In-place writes to an expanded view would write one element several times (torch refuses)."""
    shape, strides = t._view[0], t._view[1]
    if strides is not None and any(s == 0 and n > 1 for n, s in zip(shape, strides)):
        raise RuntimeError(f"{op}: unsupported operation: more than one element of the written-to "
                           "tensor refers to a single memory location. Please clone() the tensor "
                           "before performing the operation.")


class ViewOfBase(Op):
    """A view's grad_fn rebuilt after its base's history changed in place: the view's gradient
    scattered (summed on repeats) into zeros of the base's shape.  Only the node is kept: the
    output (the view's array, passed as a plain argument) is a throwaway tensor."""

    @staticmethod
    def forward(ctx, base, rel, data):
        ctx.rel, ctx.base_shape = rel, tuple(base.shape)
        return data

    @staticmethod
    def backward(ctx, g):
        B = ctx.backend
        off = B.from_numpy(_offsets(*ctx.rel).reshape(-1))
        flat = B.index_add(_numel(ctx.base_shape), off, B.reshape(g._data, (-1,)))
        return B.reshape(flat, ctx.base_shape), None, None


def view_node(view, base):
    """A fresh grad_fn for `view` reading `base`'s current history (in any grad mode: it is
    called lazily, e.g. while an optimizer reads requires_grad under no_grad)."""
    with enable_grad():
        return ViewOfBase.apply(base, _rel_spec(view), view._data)._grad_fn


class CopySlices(Op):
    """base' = base with base[view] = value (the elements were written by the caller): base's
    gradient is g with the view's slots zeroed, value's is g[view].  forward returns base's own
    array, so the output shares base's storage (Op.apply aliases it)."""

    @staticmethod
    def forward(ctx, base, value, rel):
        ctx.rel = rel
        return base

    @staticmethod
    def backward(ctx, g):
        B = ctx.backend
        shape, strides, offset = ctx.rel
        gv = B.strided_copy(g._data, shape, strides, offset)
        gb = B.copy(g._data)
        if _numel(shape):
            B.put_(gb, B.from_numpy(_offsets(shape, strides, offset).reshape(-1)),
                   B.full((_numel(shape),), 0, gb.dtype))
        return gb, gv, None


def copy_slices(view, value):
    """Record `view` (already holding `value`'s elements) as written in place: its base's history
    becomes CopySlices(old base, value)."""
    base = view._base
    old = base._alias()
    old._grad_fn, old._output_nr = base.grad_fn, base._output_nr
    old._requires_grad = base._requires_grad
    new = CopySlices.apply(old, value, _rel_spec(view))
    if new._grad_fn is not None:
        base._grad_fn, base._output_nr, base._requires_grad = new._grad_fn, 0, True


class Overwritten(Op):
    """self.zero_()/fill_()/copy_(src) on a tensor with history: out = new (its own array,
    aliased by Op.apply); the old value gets a zero gradient, new gets g."""

    @staticmethod
    def forward(ctx, old, new):
        return new

    @staticmethod
    def backward(ctx, g):
        return ctx.backend.full(tuple(g.shape), 0, g._data.dtype), g


# ---- reshape ------------------------------------------------------------------------------------
def infer_shape(op: str, shape, numel: int) -> tuple:
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred")
    known = _numel([s for s in shape if s != -1])
    if -1 in shape:
        if known == 0 or numel % known:
            raise ShapeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    if _numel(shape) != numel or any(s < 0 for s in shape):
        raise ShapeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _view_strides(shape, strides, new_shape):
    """Strides of `new_shape` over the elements of a (shape, strides) view, or None when the
    reshape cannot be a view (PyTorch's computeStride)."""
    if _numel(shape) == 0 or not shape:
        return contiguous_strides(new_shape) if _numel(shape) == 0 else (0,) * len(new_shape)
    out = [0] * len(new_shape)
    view_d = len(new_shape) - 1
    chunk = strides[-1]
    tensor_n = view_n = 1
    for d in range(len(shape) - 1, -1, -1):
        tensor_n *= shape[d]
        if d == 0 or (shape[d - 1] != 1 and strides[d - 1] != tensor_n * chunk):
            while view_d >= 0 and (view_n < tensor_n or new_shape[view_d] == 1):
                out[view_d] = view_n * chunk
                view_n *= new_shape[view_d]
                view_d -= 1
            if view_n != tensor_n:
                return None
            if d > 0:
                chunk = strides[d - 1]
                tensor_n = view_n = 1
    return tuple(out) if view_d == -1 else None


class Reshape(Function):
    """A view with a new shape (shares storage and version counter)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = tuple(x.shape)
        v = x._view
        if v is None or not v[3]:
            return _contiguous_view(x, shape)
        st = _view_strides(v[0], v[1], shape)
        if st is None:  # a non-viewable reshape of a strided view copies, like torch
            B = x._backend
            return Tensor._wrap(B.reshape(B.copy(x._data), shape), x.device)
        return _make_view(x, shape, st, v[2])

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def reshape(x, *shape):
    """The same elements in a new shape (ints or one tuple; one -1 is inferred); a view when the
    elements' layout allows, else a copy."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return Reshape.apply(x, infer_shape("reshape", shape, x.numel()))


def view(x, *shape):
    """Like reshape, but always a view: RuntimeError when the layout does not allow one."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = infer_shape("view", shape, x.numel())
    v = x._view
    if v is not None and v[3] and _view_strides(v[0], v[1], shape) is None:
        raise RuntimeError("view size is not compatible with input tensor's size and stride (at "
                           "least one dimension spans across two contiguous subspaces). Use "
                           ".reshape(...) instead.")
    return Reshape.apply(x, shape)


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one: flatten(x, 1) turns [N, C, H, W] into [N, C*H*W]."""
    if x.ndim == 0:
        return x.reshape(1)
    s = norm_dim("flatten", start_dim, x.ndim)
    e = norm_dim("flatten", end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = tuple(x.shape)
    return x.reshape(shape[:s] + (_numel(shape[s:e + 1]),) + shape[e + 1:])


def squeeze(x, dim=None):
    """Drop size-1 dims (all of them, or only `dim`)."""
    shape = tuple(x.shape)
    if dim is None:
        return x.reshape(tuple(n for n in shape if n != 1))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    dims = {norm_dim("squeeze", d, max(x.ndim, 1)) for d in dims} if x.ndim else set()
    return x.reshape(tuple(n for i, n in enumerate(shape) if not (i in dims and n == 1)))


def unsqueeze(x, dim):
    """Insert a size-1 dim at position `dim`."""
    d = norm_dim("unsqueeze", dim, x.ndim + 1)
    shape = tuple(x.shape)
    return x.reshape(shape[:d] + (1,) + shape[d:])


# ---- strided views ------------------------------------------------------------------------------
class AsStrided(Function):
    """out = a view of x: `local` = (shape, strides, offset) over x's contiguous elements (for the
    gradient), `root` = the same view over x's storage root (non-overlapping)."""

    @staticmethod
    def forward(ctx, x, local, root):
        ctx.view = local
        ctx.in_shape, ctx.in_dtype = tuple(x.shape), x.dtype
        return _make_view(x, *root)

    @staticmethod
    def backward(ctx, g):
        B = g._backend
        out = B.full(ctx.in_shape, 0, g._data.dtype)
        shape, strides, offset = ctx.view
        B.strided_add_(out, shape, strides, offset, g.contiguous()._data)
        return out, None, None


def permute(x, *dims):
    """Reorder the dims: permute(x, (0, 2, 3, 1)) turns [N, C, H, W] into [N, H, W, C]."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != x.ndim:
        raise RuntimeError("permute(sparse_coo): number of dimensions in the tensor input does "
                           "not match the length of the desired ordering of dimensions i.e. "
                           f"input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}")
    dims = tuple(norm_dim("permute", d, x.ndim) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if dims == tuple(range(x.ndim)):
        return x.reshape(x.shape)
    st = contiguous_strides(x.shape)
    shape = tuple(x.shape[d] for d in dims)
    _, rst, roff = _spec(x)
    return AsStrided.apply(x, (shape, tuple(st[d] for d in dims), 0),
                           (shape, tuple(rst[d] for d in dims), roff))


def transpose(x, dim0, dim1):
    """Swap dims `dim0` and `dim1`."""
    if x.ndim == 0:
        return x.reshape(())
    d0, d1 = norm_dim("transpose", dim0, x.ndim), norm_dim("transpose", dim1, x.ndim)
    order = list(range(x.ndim))
    order[d0], order[d1] = order[d1], order[d0]
    return permute(x, tuple(order))


def t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else x.reshape(x.shape)


class Expand(Function):
    """Broadcast x to `shape` (stride-0 dims); the gradient sums over them."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = tuple(x.shape)
        lead = len(shape) - x.ndim
        _, st, off = _spec(x)
        strides = (0,) * lead + tuple(0 if (n == 1 and m != 1) else s
                                      for n, m, s in zip(x.shape, shape[lead:], st))
        return _make_view(x, shape, strides, off)

    @staticmethod
    def backward(ctx, g):
        return _ew.unbroadcast(g, ctx.in_shape), None


def expand(x, *sizes):
    """Broadcast size-1 dims of x to `sizes` (-1 keeps a dim); new leading dims may be added."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({x.ndim})")
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        cur = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        if cur is not None and cur != 1 and cur != s:
            raise ShapeError(f"expand: the expanded size of the tensor ({s}) must match the "
                             f"existing size ({cur}) at non-singleton dimension {i}.  Target "
                             f"sizes: {list(sizes)}.  Tensor sizes: {list(x.shape)}")
        shape.append(int(s))
    shape = tuple(shape)
    if shape == tuple(x.shape):
        return x.reshape(shape)
    return Expand.apply(x, shape)


# ---- indexing -----------------------------------------------------------------------------------
class Take(Op):
    """out = x.flat[offsets] (gather by precomputed flat offsets, an int64 array on x's device);
    grad scatters with accumulation."""

    @staticmethod
    def forward(ctx, x, offsets):
        ctx.in_shape = tuple(x.shape)
        ctx.save_for_backward(offsets)
        return ctx.backend.take(x, offsets)

    @staticmethod
    def backward(ctx, g):
        (offsets,) = ctx.saved_tensors
        B = ctx.backend
        flat = B.index_add(_numel(ctx.in_shape), offsets._data, g.contiguous()._data)
        return B.reshape(flat, ctx.in_shape), None


def _index_array(idx, size: int, dim: int):
    """An integer-array index as host int64 (negatives wrapped), bounds-checked like torch."""
    if isinstance(idx, Tensor):
        if idx.dtype is dtypes.bool_:
            raise IndexError("boolean tensor indices must be handled before _index_array")
        arr = idx._backend.to_numpy(idx._data)
    else:
        arr = np.asarray(idx)
    if arr.dtype == np.bool_:
        raise IndexError("boolean index handled elsewhere")
    if arr.size and arr.dtype.kind not in "iu":
        raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < -size or arr.max() >= size):
        bad = arr[(arr < -size) | (arr >= size)].flat[0]
        raise IndexError(f"index {bad} is out of bounds for dimension {dim} with size {size}")
    return np.where(arr < 0, arr + size, arr)


def _expand_bool(index, x):
    """Replace bool masks by the integer arrays of their True positions (numpy semantics)."""
    out = []
    for it in index:
        is_bool = (isinstance(it, Tensor) and it.dtype is dtypes.bool_) or \
            (isinstance(it, (np.ndarray, list)) and np.asarray(it).dtype == np.bool_
             and np.ndim(it) > 0)
        if is_bool:
            m = it._backend.to_numpy(it._data) if isinstance(it, Tensor) else np.asarray(it)
            out.extend(np.nonzero(m))
        else:
            out.append(it)
    return out


def getitem(x, index):
    if not isinstance(index, tuple):
        index = (index,)
    index = _expand_bool(index, x)
    n_real = sum(1 for it in index if it is not None and it is not Ellipsis)
    if sum(1 for it in index if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if n_real > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim}")
    if Ellipsis in [it for it in index if not isinstance(it, (Tensor, np.ndarray, list))]:
        pos = next(i for i, it in enumerate(index) if it is Ellipsis)
        index = index[:pos] + [slice(None)] * (x.ndim - n_real) + index[pos + 1:]
    else:
        index = list(index) + [slice(None)] * (x.ndim - n_real)

    st = contiguous_strides(x.shape)
    _, rst, roff = _spec(x)
    shape, strides, offset = [], [], 0
    rstrides = []
    adv = []  # (position in output dims, host int array, stride)
    d = 0
    for it in index:
        if it is None:
            shape.append(1)
            strides.append(0)
            rstrides.append(0)
            continue
        size = x.shape[d]
        if isinstance(it, (bool, np.bool_)):
            raise IndexError("bool scalar indices are not supported")
        if isinstance(it, (int, np.integer)) or (isinstance(it, Tensor) and it.ndim == 0
                                                 and it.dtype is dtypes.int64):
            i = int(it)
            if not -size <= i < size:
                raise IndexError(f"index {i} is out of bounds for dimension {d} with size {size}")
            offset += (i % size) * st[d]
            roff += (i % size) * rst[d]
        elif isinstance(it, slice):
            if it.step is not None and it.step <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = it.indices(size)
            n = max(0, (stop - start + step - 1) // step)
            offset += start * st[d] if n else 0
            roff += start * rst[d] if n else 0
            shape.append(n)
            strides.append(st[d] * step)
            rstrides.append(rst[d] * step)
        else:
            adv.append((len(shape), _index_array(it, size, d), st[d]))
            shape.append(None)
            strides.append(None)
            rstrides.append(None)
        d += 1
    if not adv:
        shape, strides = tuple(shape), tuple(strides)
        if shape == tuple(x.shape) and offset == 0 and strides == st:
            return x.reshape(shape)
        return AsStrided.apply(x, (shape, strides, offset), (shape, tuple(rstrides), roff))

    # integer-array indexing: flat offsets of every output element, built on the host
    try:
        bshape = np.broadcast_shapes(*(a.shape for _, a, _ in adv))
    except ValueError:
        raise IndexError("shape mismatch: indexing tensors could not be broadcast together with "
                         "shapes " + " ".join(str(list(a.shape)) for _, a, _ in adv))
    adv_off = sum(np.broadcast_to(a, bshape) * s for _, a, s in adv) + offset
    positions = [p for p, _, _ in adv]
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    rest = [(n, s) for n, s in zip(shape, strides) if n is not None]
    insert_at = positions[0] if adjacent else 0
    # rest dims before the insertion point, the broadcast index dims, then the remaining rest dims
    before = rest[:insert_at] if adjacent else []
    after = rest[insert_at:] if adjacent else rest
    out_shape = tuple(n for n, _ in before) + tuple(bshape) + tuple(n for n, _ in after)
    off = adv_off.reshape((1,) * len(before) + tuple(bshape) + (1,) * len(after))
    for k, (n, s) in enumerate(before):
        shp = [1] * len(out_shape)
        shp[k] = n
        off = off + (np.arange(n, dtype=np.int64) * s).reshape(shp)
    for k, (n, s) in enumerate(after):
        shp = [1] * len(out_shape)
        shp[len(before) + len(bshape) + k] = n
        off = off + (np.arange(n, dtype=np.int64) * s).reshape(shp)
    off = np.asarray(np.broadcast_to(off, out_shape), dtype=np.int64, order="C")  # keeps 0-d
    return Take.apply(x, x._backend.from_numpy(off))


def _is_advanced(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if isinstance(it, (np.ndarray, list)):
            return True
        if isinstance(it, Tensor) and not (it.ndim == 0 and it.dtype is dtypes.int64):
            return True
    return False


class IndexPut(Op):
    """out = x with out.flat[pos[j]] = value.flat[j], the last write winning on repeated
    positions (`win`: the winners' j, None when positions are distinct): x's gradient is g with
    those slots zeroed, value's is g.flat[pos[j]] for winners and 0 for overwritten repeats (the
    true derivative; torch gives every repeat the slot's gradient)."""

    @staticmethod
    def forward(ctx, x, value, pos, win):
        B = ctx.backend
        ctx.pos, ctx.win = pos, win
        out = B.copy(x)
        _put_last(B, out, pos, value, win)
        return out

    @staticmethod
    def backward(ctx, g):
        B, pos, win = ctx.backend, ctx.pos, ctx.win
        gx = B.copy(g._data)
        B.put_(gx, pos, B.full((int(pos.size),), 0, gx.dtype))
        if win is None:
            gv = B.take(g._data, pos)
        else:
            gv = B.full(tuple(pos.shape), 0, gx.dtype)
            B.put_(gv, win, B.take(g._data, B.take(pos, win)))
        return gx, B.reshape(gv, tuple(pos.shape)), None, None


def _put_last(B, dst, pos, src, win) -> None:
    if win is None:
        B.put_(dst, pos, src)
    else:
        B.put_(dst, B.take(pos, win), B.take(src, win))


def setitem(x, index, value):
    """x[index] = value in place, like torch: basic indexing writes through the view x[index]
    (copy_, so autograd records CopySlices); integer-array indexing writes the last of repeated
    positions (the value never depends on grad mode) and records IndexPut."""
    if not isinstance(value, Tensor):
        value = x.new_full((), value)
    same_device("__setitem__", x, value)
    if not _is_advanced(index):
        getitem(x, index).copy_(value)
        return
    with no_grad():
        host = getitem(_creation.arange(x.numel()).reshape(x.shape), index)._data
    pos_h = np.ascontiguousarray(host, dtype=np.int64)
    flat = pos_h.reshape(-1)
    win = None
    if np.unique(flat).size != flat.size:
        _, first_rev = np.unique(flat[::-1], return_index=True)
        win = x._backend.from_numpy(np.sort(flat.size - 1 - first_rev).astype(np.int64))
    pos = x._backend.from_numpy(pos_h)
    if is_grad_enabled() and (x.requires_grad or value.requires_grad):
        x._inplace("__setitem__",
                   lambda s, v: IndexPut.apply(s, v.to(s.dtype).expand(*pos_h.shape), pos, win),
                   value, cast=True)
        return
    x._check_inplace("__setitem__")
    with no_grad():
        v = value.to(x.dtype).expand(*pos_h.shape).contiguous()
        _put_last(x._backend, x._data, pos, v._data, win)
    x._bump()


def _gather_offsets(op, x, dim, index):
    """The flat offsets in x of the elements `index` picks along `dim` (an int64 array of index's
    shape), after torch's checks of dim, dtype, shapes, device and bounds."""
    d = norm_dim(op, dim, max(x.ndim, 1))
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    if index.ndim != x.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"input tensor")
    same_device(op, x, index)
    for k, (n, m) in enumerate(zip(index.shape, x.shape)):
        if k != d and n > m:
            raise ShapeError(f"{op}(): Size does not match at dimension {k} expected index "
                             f"{list(index.shape)} to be smaller than self {list(x.shape)} apart "
                             f"from dimension {d}")
    if index.numel():
        # out-of-range indices would silently address a neighbouring row of the flat storage
        B, axes = index._backend, tuple(range(index.ndim))
        lo = int(B.to_numpy(B.reduce("min", index._data, axes, False)))
        hi = int(B.to_numpy(B.reduce("max", index._data, axes, False)))
        if lo < 0 or hi >= x.shape[d]:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{op}(): index {bad} is out of bounds for dimension {d} with size "
                             f"{x.shape[d]}")
    st = contiguous_strides(x.shape)
    off = index * st[d]
    for k, n in enumerate(index.shape):
        if k == d:
            continue
        shp = [1] * index.ndim
        shp[k] = n
        off = off + (_creation.arange(n, device=x.device) * st[k]).reshape(shp)
    return off.contiguous()._data


class Gather(Op):
    """out[..i..] = x[..index[..i..] along dim..], by the flat offsets `off` of _gather_offsets."""

    @staticmethod
    def forward(ctx, x, off):
        ctx.save_for_backward(off)
        ctx.in_shape = tuple(x.shape)
        return ctx.backend.take(x, off)

    @staticmethod
    def backward(ctx, g):
        (off,) = ctx.saved_tensors
        B = ctx.backend
        flat = B.index_add(_numel(ctx.in_shape), off._data, g.contiguous()._data)
        return B.reshape(flat, ctx.in_shape), None


def gather(x, dim, index):
    """Pick elements along `dim` by the int64 `index` (out has index's shape):
    out[i][j] = x[index[i][j]][j] for dim=0."""
    return Gather.apply(x, _gather_offsets("gather", x, dim, index))


class ScatterAdd(Op):
    """out = x; out[..index[..i..] along dim..] += src[..i..], by the flat offsets `off` of
    _gather_offsets."""

    @staticmethod
    def forward(ctx, x, off, src):
        B = ctx.backend
        ctx.save_for_backward(off)
        flat = B.index_add(x.size, off, src)
        return B.map("add", [x, B.reshape(flat, x.shape)])

    @staticmethod
    def backward(ctx, g):
        (off,) = ctx.saved_tensors
        return g, None, ctx.backend.take(g.contiguous()._data, off._data)


def scatter_add(x, dim, index, src):
    if tuple(index.shape) != tuple(src.shape):
        raise ShapeError(f"scatter_add: index {list(index.shape)} and src {list(src.shape)} must "
                         f"have the same shape")
    return ScatterAdd.apply(x, _gather_offsets("scatter_add", x, dim, index), src.to(x.dtype))


# ---- joining and padding ------------------------------------------------------------------------
class Cat(Op):
    """Concatenate along dim; each input's gradient is its slice of g."""

    @staticmethod
    def forward(ctx, dim, *xs):
        B = ctx.backend
        shape = list(xs[0].shape)
        shape[dim] = sum(x.shape[dim] for x in xs)
        out = B.full(tuple(shape), 0, xs[0].dtype)
        st = contiguous_strides(shape)
        pos = 0
        for x in xs:
            if x.size:
                B.strided_add_(out, tuple(x.shape), st, pos * st[dim], x)
            pos += x.shape[dim]
        ctx.dim, ctx.sizes = dim, [x.shape[dim] for x in xs]
        return out

    @staticmethod
    def backward(ctx, g):
        grads, pos = [], 0
        for n in ctx.sizes:
            idx = [slice(None)] * g.ndim
            idx[ctx.dim] = slice(pos, pos + n)
            grads.append(g[tuple(idx)])
            pos += n
        return (None, *grads)


def cat(tensors, dim=0):
    """Join tensors of equal shape except in `dim` along `dim`."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    # legacy rule: 1-D empty tensors are skipped
    xs = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = xs[0]
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = norm_dim("cat", dim, ref.ndim)
    same_device("cat", *xs)
    dt = ref.dtype
    for t in xs[1:]:
        dt = dtypes.promote(dt, t.dtype)
    for i, t in enumerate(xs):
        if t.ndim != ref.ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, ref.shape))
                                     if k != d):
            raise ShapeError(f"cat: Sizes of tensors must match except in dimension {d}. Expected "
                             f"size(s) {list(ref.shape)} but got {list(t.shape)} for tensor number "
                             f"{_position(tensors, t)} in the list.")
    return Cat.apply(d, *[t.to(dt) for t in xs])


def _position(items, t) -> int:
    # by identity: list.index would compare tensors with ==, an elementwise op
    return next(j for j, u in enumerate(items) if u is t)


def stack(tensors, dim=0):
    """Join tensors of equal shape along a new dim `dim`: k x [a, b] -> [k, a, b] for dim=0."""
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if tuple(t.shape) != tuple(tensors[0].shape):
            raise ShapeError(f"stack expects each tensor to be equal size, but got "
                             f"{list(tensors[0].shape)} at entry 0 and {list(t.shape)} at entry "
                             f"{i}")
    d = norm_dim("stack", dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


class Pad(Op):
    """Constant padding; `pads` as torch: (left, right) of the last dim, then the one before, ..."""

    @staticmethod
    def forward(ctx, x, pads, value):
        nd = len(pads) // 2
        shape = list(x.shape)
        lo = [0] * x.ndim
        for i in range(nd):
            d = x.ndim - 1 - i
            lo[d] = pads[2 * i]
            shape[d] += pads[2 * i] + pads[2 * i + 1]
        if any(s < 0 for s in shape):
            raise ShapeError(f"pad: padding {list(pads)} makes input {list(x.shape)} negative in "
                             "size")
        B = ctx.backend
        out = B.full(tuple(shape), 0, x.dtype)
        st = contiguous_strides(shape)
        # negative pads crop: the kept part of x is itself a strided view
        src_shape, src_off, dst_off = [], 0, 0
        xst = contiguous_strides(x.shape)
        for d in range(x.ndim):
            cut_lo = max(0, -lo[d])
            n = x.shape[d] - cut_lo - max(0, -(shape[d] - x.shape[d] - lo[d]))
            src_shape.append(max(n, 0))
            src_off += cut_lo * xst[d]
            dst_off += max(0, lo[d]) * st[d]
        src_shape = tuple(src_shape)
        if _numel(src_shape):
            B.strided_add_(out, src_shape, st, dst_off,
                           B.strided_copy(x, src_shape, xst, src_off))
        if value != 0:
            border = np.ones(shape, dtype=bool)
            np.lib.stride_tricks.as_strided(border.reshape(-1)[dst_off:], src_shape,
                                            [s * border.itemsize for s in st])[...] = False
            where = B.from_numpy(np.flatnonzero(border).astype(np.int64))
            B.put_(out, where, B.full((int(border.sum()),), value, x.dtype))
        ctx.view = (src_shape, st, dst_off, xst, src_off, tuple(x.shape))
        return out

    @staticmethod
    def backward(ctx, g):
        src_shape, st, dst_off, xst, src_off, in_shape = ctx.view
        B = ctx.backend
        out = B.full(in_shape, 0, g._data.dtype)
        if _numel(src_shape):
            piece = B.strided_copy(g.contiguous()._data, src_shape, st, dst_off)
            B.strided_add_(out, src_shape, xst, src_off, piece)
        return out, None, None


def pad(x, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise NotImplementedError(f"pad: mode '{mode}' is not supported (only 'constant')")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError("pad: Padding length must be divisible by 2 and at most twice the number "
                         f"of dimensions of the input; got {len(pad)} for input {list(x.shape)}")
    return Pad.apply(x, pad, value)


# ---- dtype and device ---------------------------------------------------------------------------
class Cast(Op):
    """Convert dtype; the gradient is cast back (floating types only carry gradients)."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype  # a numpy dtype
        return ctx.backend.astype(x, dtype.np)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.in_dtype) if ctx.in_dtype.kind == "f" else None), None


class ToDevice(Function):
    """Copy to another device; the gradient is copied back.  One copy: a CPU source is read in
    place (no host copy first) and a host array read back from a GPU is used as it is.
    non_blocking: a pinned CPU source uploads on the copy stream (minidl.cuda)."""

    @staticmethod
    def forward(ctx, x, device, non_blocking=False):
        wrap = Tensor._wrap
        ctx.src = x.device
        if x.device.type == "cpu":
            B = backend_for(device)
            out = (B.from_numpy(x._data, non_blocking=True) if non_blocking
                   else B.from_numpy(x._data))
            return wrap(out, device)
        host = x._backend.to_numpy(x._data)  # a fresh host array
        if device.type == "cpu":
            return wrap(host, device)
        return wrap(backend_for(device).from_numpy(host), device)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.src), None, None


class Clone(Op):
    """A copy with its own storage."""

    @staticmethod
    def forward(ctx, x):
        return ctx.backend.copy(x)

    @staticmethod
    def backward(ctx, g):
        return g
