"""Shared plumbing of the ops: argument checks, dtype promotion, broadcasting and unbroadcasting."""
from __future__ import annotations

from .. import autograd, dtypes
from ..errors import DeviceError, DTypeError, ShapeError


def same_device(op: str, *tensors):
    """The common device of `tensors`, or a DeviceError naming the op and both devices."""
    dev = tensors[0]._device
    for t in tensors[1:]:
        if t._device is not dev and t._device != dev:
            raise DeviceError("Expected all tensors to be on the same device, but found at least "
                              f"two devices, {dev} and {t.device}! (when checking arguments for "
                              f"{op})")
    return dev


def broadcast_shapes(op: str, *shapes) -> tuple:
    """numpy/PyTorch broadcasting of shapes, or a ShapeError naming the op and the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s):
            j = ndim - len(s) + i
            if n == out[j] or n == 1:
                continue
            if out[j] == 1:
                out[j] = n
                continue
            shown = " and ".join(str(list(x)) for x in shapes)
            raise ShapeError(f"{op}: the size of tensor a ({out[j]}) must match the size of "
                             f"tensor b ({n}) at non-singleton dimension {j}; shapes {shown} "
                             "cannot be broadcast")
    return tuple(out)


def norm_dim(op: str, dim: int, ndim: int) -> int:
    """Wrap a negative dim, IndexError like PyTorch when out of range."""
    lo, hi = (-ndim, ndim - 1) if ndim > 0 else (-1, 0)
    if not isinstance(dim, int) or not lo <= dim <= hi:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of [{lo}, {hi}], "
                         f"but got {dim})")
    return dim % ndim if ndim > 0 else 0


def norm_dims(op: str, dim, ndim: int) -> tuple:
    """None -> all dims; int or sequence -> sorted unique non-negative dims."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    out = sorted({norm_dim(op, d, ndim) for d in dim})
    if len(out) != len(tuple(dim)):
        raise RuntimeError(f"{op}: dim appears multiple times in the list of dims")
    # a 0-d tensor accepts dim 0 / -1 (like torch) but has no axis to reduce
    return tuple(out) if ndim > 0 else ()


def require_float(op: str, t) -> None:
    if not t.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating point tensor (float32 or float64), got "
                         f"{t.dtype}")


def result_dtype(a, b):
    """PyTorch's promotion for tensor/scalar operand pairs."""
    Tensor = autograd._Tensor  # minidl.tensor.Tensor, without an import per call
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a._dtype is b._dtype:
            return a._dtype
        # a 0-d tensor does not lift a higher-dimensional tensor of the same category
        if a.ndim == 0 and b.ndim > 0 and a.dtype.is_floating_point == b.dtype.is_floating_point \
                and (a.dtype is not dtypes.bool_ and b.dtype is not dtypes.bool_):
            return b.dtype
        if b.ndim == 0 and a.ndim > 0 and a.dtype.is_floating_point == b.dtype.is_floating_point \
                and (a.dtype is not dtypes.bool_ and b.dtype is not dtypes.bool_):
            return a.dtype
        return dtypes.promote(a.dtype, b.dtype)
    if isinstance(a, Tensor):
        return dtypes.promote_scalar(a.dtype, b)
    return dtypes.promote_scalar(b.dtype, a)
