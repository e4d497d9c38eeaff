"""Shape and data movement: reshape/view, permute/transpose, expand, indexing (basic and integer
arrays), gather/scatter_add, cat/stack, pad, casts and device copies.

Storage is always C-contiguous; a permuted, sliced or expanded result is a new array produced by
the backend's `strided_copy` from a (shape, strides, offset) description of the view.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from .. import tensor as _tensor
from ..autograd import Function
from ..errors import ShapeError
from ._base import norm_dim, same_device


def _wrap(arr, device):
    return _tensor.Tensor._wrap(arr, device)


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


class Reshape(Function):
    """A view with a new shape (shares storage and version counter)."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = tuple(x.shape)
        out = _wrap(x._backend.reshape(x._data, shape), x.device)
        out._version = x._version
        return out

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def reshape(x, *shape):
    """The same elements in a new shape (ints or one tuple; one -1 is inferred)."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = infer_shape("reshape", shape, x.numel())
    if shape == tuple(x.shape):
        return Reshape.apply(x, shape) if x.requires_grad else _alias_view(x)
    return Reshape.apply(x, shape)


def _alias_view(x):
    out = _wrap(x._data, x.device)
    out._version = x._version
    return out


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
    """out = x viewed with (shape, strides, offset) over its contiguous storage (non-overlapping)."""

    @staticmethod
    def forward(ctx, x, shape, strides, offset):
        ctx.view = (shape, strides, offset)
        ctx.in_shape, ctx.in_dtype = tuple(x.shape), x.dtype
        return _wrap(x._backend.strided_copy(x._data, shape, strides, offset), x.device)

    @staticmethod
    def backward(ctx, g):
        from ..tensor import zeros

        out = zeros(*ctx.in_shape, dtype=g.dtype, device=g.device)
        shape, strides, offset = ctx.view
        g._backend.strided_add_(out._data, shape, strides, offset, g.contiguous()._data)
        return out, None, None, None


def permute(x, *dims):
    """Reorder the dims: permute(x, (0, 2, 3, 1)) turns [N, C, H, W] into [N, H, W, C]."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(sparse_coo): number of dimensions in the tensor input does not "
                           f"match the length of the desired ordering of dimensions i.e. input.dim() "
                           f"= {x.ndim} is not equal to len(dims) = {len(dims)}")
    dims = tuple(norm_dim("permute", d, x.ndim) for d in dims)
    if sorted(dims) != list(range(x.ndim)):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    if dims == tuple(range(x.ndim)):
        return x.reshape(x.shape)
    st = contiguous_strides(x.shape)
    return AsStrided.apply(x, tuple(x.shape[d] for d in dims), tuple(st[d] for d in dims), 0)


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
        st = contiguous_strides(x.shape)
        strides = (0,) * lead + tuple(0 if (n == 1 and m != 1) else s
                                      for n, m, s in zip(x.shape, shape[lead:], st))
        return _wrap(x._backend.strided_copy(x._data, shape, strides, 0), x.device)

    @staticmethod
    def backward(ctx, g):
        from .elementwise import unbroadcast
        return unbroadcast(g, ctx.in_shape), None


def expand(x, *sizes):
    """Broadcast size-1 dims of x to `sizes` (-1 keeps a dim); new leading dims may be added."""
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < x.ndim:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or "
                           f"equal to the number of dimensions in the tensor ({x.ndim})")
    lead = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        cur = x.shape[i - lead] if i >= lead else None
        if s == -1:
            if cur is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = cur
        if cur is not None and cur != 1 and cur != s:
            raise ShapeError(f"expand: the expanded size of the tensor ({s}) must match the existing "
                             f"size ({cur}) at non-singleton dimension {i}.  Target sizes: "
                             f"{list(sizes)}.  Tensor sizes: {list(x.shape)}")
        shape.append(int(s))
    shape = tuple(shape)
    if shape == tuple(x.shape):
        return x.reshape(shape)
    return Expand.apply(x, shape)


# ---- indexing -----------------------------------------------------------------------------------
class Take(Function):
    """out = x.flat[offsets] (gather by precomputed flat offsets); grad scatters with accumulation."""

    @staticmethod
    def forward(ctx, x, offsets):
        ctx.in_shape = tuple(x.shape)
        ctx.save_for_backward(offsets)
        return _wrap(x._backend.take(x._data, offsets._data), x.device)

    @staticmethod
    def backward(ctx, g):
        (offsets,) = ctx.saved_tensors
        n = _numel(ctx.in_shape)
        flat = g._backend.index_add(n, offsets._data, g.contiguous()._data)
        return _wrap(flat, g.device).reshape(ctx.in_shape), None


def _index_array(idx, size: int, dim: int):
    """An integer-array index as host int64 (negatives wrapped), bounds-checked like torch."""
    from ..tensor import Tensor

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
    from ..tensor import Tensor

    out = []
    for it in index:
        is_bool = (isinstance(it, Tensor) and it.dtype is dtypes.bool_) or \
            (isinstance(it, (np.ndarray, list)) and np.asarray(it).dtype == np.bool_ and np.ndim(it) > 0)
        if is_bool:
            m = it._backend.to_numpy(it._data) if isinstance(it, Tensor) else np.asarray(it)
            out.extend(np.nonzero(m))
        else:
            out.append(it)
    return out


def getitem(x, index):
    from ..tensor import Tensor

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
    shape, strides, offset = [], [], 0
    adv = []  # (position in output dims, host int array, stride)
    d = 0
    for it in index:
        if it is None:
            shape.append(1)
            strides.append(0)
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
        elif isinstance(it, slice):
            if it.step is not None and it.step <= 0:
                raise ValueError("step must be greater than zero")
            start, stop, step = it.indices(size)
            n = max(0, (stop - start + step - 1) // step)
            offset += start * st[d] if n else 0
            shape.append(n)
            strides.append(st[d] * step)
        else:
            adv.append((len(shape), _index_array(it, size, d), st[d]))
            shape.append(None)
            strides.append(None)
        d += 1
    if not adv:
        shape, strides = tuple(shape), tuple(strides)
        if shape == tuple(x.shape) and offset == 0 and strides == st:
            return x.reshape(shape)
        return AsStrided.apply(x, shape, strides, offset)

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
    return Take.apply(x, _wrap(x._backend.from_numpy(off), x.device))


def setitem(x, index, value):
    """x[index] = value in place.  When x or value requires grad (and grad mode is on) the write
    is recorded like torch's CopySlices: overwritten elements of x get no gradient, value gets
    the gradient of the slots it filled."""
    from ..autograd import is_grad_enabled
    from ..tensor import Tensor, arange, ones, zeros
    from .elementwise import where

    x._check_inplace("__setitem__")
    flat_ids = arange(x.numel(), device=x.device).reshape(x.shape)
    with _no_grad():
        pos = getitem(flat_ids, index).contiguous()
    if not isinstance(value, Tensor):
        value = x.new_full((), value)
    same_device("__setitem__", x, value)
    if is_grad_enabled() and x.dtype.is_floating_point and (x.requires_grad or value.requires_grad):
        flat_pos = pos.reshape(-1)
        with _no_grad():
            keep = ones(x.numel(), dtype=dtypes.bool_, device=x.device)
            x._backend.put_(keep._data, flat_pos._data,
                            x._backend.full((flat_pos.numel(),), False, np.bool_))
        v = value.to(x.dtype).expand(*pos.shape).reshape(-1)
        placed = zeros(x.numel(), dtype=x.dtype, device=x.device).scatter_add(0, flat_pos, v)
        x._inplace("__setitem__", where(keep, x.reshape(-1), placed).reshape(x.shape))
        return
    with _no_grad():
        value = value.to(x.dtype).expand(*pos.shape).contiguous()
        x._backend.put_(x._data, pos._data, value._data)
    x._bump()


def _no_grad():
    from ..autograd import no_grad
    return no_grad()


def _gather_offsets(op, x, dim, index):
    d = norm_dim(op, dim, max(x.ndim, 1))
    if index.dtype is not dtypes.int64:
        raise RuntimeError(f"{op}(): Expected dtype int64 for index")
    if index.ndim != x.ndim:
        raise RuntimeError(f"{op}(): Index tensor must have the same number of dimensions as "
                           f"input tensor")
    same_device(op, x, index)
    from ..tensor import arange

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
        off = off + (arange(n, device=x.device) * st[k]).reshape(shp)
    return d, off.contiguous()


class Gather(Function):
    """out[..i..] = x[..index[..i..] along dim..]."""

    @staticmethod
    def forward(ctx, x, dim, index):
        _, off = _gather_offsets("gather", x, dim, index)
        ctx.save_for_backward(off)
        ctx.in_shape = tuple(x.shape)
        return _wrap(x._backend.take(x._data, off._data), x.device)

    @staticmethod
    def backward(ctx, g):
        (off,) = ctx.saved_tensors
        flat = g._backend.index_add(_numel(ctx.in_shape), off._data, g.contiguous()._data)
        return _wrap(flat, g.device).reshape(ctx.in_shape), None, None


def gather(x, dim, index):
    """Pick elements along `dim` by the int64 `index` (out has index's shape):
    out[i][j] = x[index[i][j]][j] for dim=0."""
    return Gather.apply(x, dim, index)


class ScatterAdd(Function):
    """out = x; out[..index[..i..] along dim..] += src[..i..]."""

    @staticmethod
    def forward(ctx, x, dim, index, src):
        _, off = _gather_offsets("scatter_add", x, dim, index)
        ctx.save_for_backward(off)
        flat = x._backend.index_add(x.numel(), off._data, src.contiguous()._data)
        return x + _wrap(flat, x.device).reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        (off,) = ctx.saved_tensors
        gsrc = _wrap(g._backend.take(g.contiguous()._data, off._data), g.device)
        return g, None, None, gsrc


def scatter_add(x, dim, index, src):
    if tuple(index.shape) != tuple(src.shape):
        raise ShapeError(f"scatter_add: index {list(index.shape)} and src {list(src.shape)} must have "
                         f"the same shape")
    return ScatterAdd.apply(x, dim, index, src.to(x.dtype))


# ---- joining and padding ------------------------------------------------------------------------
class Cat(Function):
    """Concatenate along dim; each input's gradient is its slice of g."""

    @staticmethod
    def forward(ctx, dim, *xs):
        from ..tensor import empty

        shape = list(xs[0].shape)
        shape[dim] = sum(x.shape[dim] for x in xs)
        out = empty(*shape, dtype=xs[0].dtype, device=xs[0].device)
        out._data = out._backend.full(tuple(shape), 0, xs[0].dtype.np)
        st = contiguous_strides(shape)
        pos = 0
        for x in xs:
            if x.numel():
                out._backend.strided_add_(out._data, tuple(x.shape), st, pos * st[dim], x._data)
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
                             f"{list(tensors[0].shape)} at entry 0 and {list(t.shape)} at entry {i}")
    d = norm_dim("stack", dim, tensors[0].ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


class Pad(Function):
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
            raise ShapeError(f"pad: padding {list(pads)} makes input {list(x.shape)} negative in size")
        B = x._backend
        out = B.full(tuple(shape), 0, x.dtype.np)
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
            B.strided_add_(out, src_shape, st, dst_off, B.strided_copy(x._data, src_shape, xst, src_off))
        if value != 0:
            border = np.ones(shape, dtype=bool)
            np.lib.stride_tricks.as_strided(border.reshape(-1)[dst_off:], src_shape,
                                            [s * border.itemsize for s in st])[...] = False
            where = B.from_numpy(np.flatnonzero(border).astype(np.int64))
            B.put_(out, where, B.full((int(border.sum()),), value, x.dtype.np))
        ctx.view = (src_shape, st, dst_off, xst, src_off, tuple(x.shape))
        return _wrap(out, x.device)

    @staticmethod
    def backward(ctx, g):
        src_shape, st, dst_off, xst, src_off, in_shape = ctx.view
        from ..tensor import zeros

        out = zeros(*in_shape, dtype=g.dtype, device=g.device)
        if _numel(src_shape):
            piece = g._backend.strided_copy(g.contiguous()._data, src_shape, st, dst_off)
            g._backend.strided_add_(out._data, src_shape, xst, src_off, piece)
        return out, None, None


def pad(x, pad, mode="constant", value=0.0):
    if mode != "constant":
        raise NotImplementedError(f"pad: mode '{mode}' is not supported (only 'constant')")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ShapeError(f"pad: Padding length must be divisible by 2 and at most twice the number of "
                         f"dimensions of the input; got {len(pad)} for input {list(x.shape)}")
    return Pad.apply(x, pad, value)


# ---- dtype and device ---------------------------------------------------------------------------
class Cast(Function):
    """Convert dtype; the gradient is cast back (floating types only carry gradients)."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.in_dtype = x.dtype
        return _wrap(x._backend.astype(x._data, dtype.np), x.device)

    @staticmethod
    def backward(ctx, g):
        return (g.to(ctx.in_dtype) if ctx.in_dtype.is_floating_point else None), None


class ToDevice(Function):
    """Copy to another device; the gradient is copied back."""

    @staticmethod
    def forward(ctx, x, device):
        from ..device import backend_for

        ctx.src = x.device
        host = x._backend.to_numpy(x._data)
        return _wrap(backend_for(device).from_numpy(host), device)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.src), None


class Clone(Function):
    """A copy with its own storage."""

    @staticmethod
    def forward(ctx, x):
        return _wrap(x._backend.copy(x._data), x.device)

    @staticmethod
    def backward(ctx, g):
        return g
