"""The creation functions: tensor, as_tensor, from_numpy, zeros/ones/full/empty (+ *_like),
arange, linspace, eye, rand/randn/randint/randperm (+ *_like).

The Tensor class lives in minidl/tensor.py; this module only builds tensors through Tensor._wrap
and the device's backend.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import dtypes
from .device import CPU, backend_for, to_device
from .errors import DTypeError
from .tensor import Tensor


def _size(size) -> tuple:
    if isinstance(size, numbers.Integral):
        return (int(size),)
    return tuple(int(s) for s in size)


def _shape_args(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (numbers.Integral, Tensor)):
            raise TypeError(f"size must be a sequence of ints, got {type(s).__name__}")
        if int(s) < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {int(s)}: "
                               f"{list(size)}")
    return tuple(int(s) for s in size)


# ---- creation ----------------------------------------------------------------------------------
def _make(arr_fn, shape, dtype, device, requires_grad):
    dev = to_device(device)
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
    t = Tensor._wrap(arr_fn(backend_for(dev), shape, dt), dev)
    if requires_grad:
        t.requires_grad = True
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new tensor copying `data` (nested lists, numbers, numpy arrays or tensors).

    Python floats become float32, ints int64, bools bool (PyTorch's defaults)."""
    if isinstance(data, Tensor):
        t = data.detach().clone() if dtype is None else data.detach().to(dtype).clone()
        t = t.to(device) if device is not None else t
        t._requires_grad = False
        if requires_grad:
            t.requires_grad = True
        return t
    if isinstance(data, np.ndarray):
        arr = data
    else:
        arr = np.asarray(_unwrap_nested(data))
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        elif arr.dtype == object:
            raise TypeError(f"Could not infer dtype of {type(data).__name__}")
    if dtype is not None:
        arr = arr.astype(dtypes.to_dtype(dtype).np)
    else:
        arr = arr.astype(dtypes.from_numpy_dtype(arr.dtype).np, copy=False)
    dev = to_device(device)
    # np.asarray(order="C"), not np.ascontiguousarray: that one turns 0-d arrays into 1-d
    t = Tensor._wrap(backend_for(dev).from_numpy(np.asarray(arr, order="C")), dev)
    if requires_grad:
        t.requires_grad = True
    return t


def _unwrap_nested(data):
    if isinstance(data, Tensor):
        return data.detach().cpu()._data
    if isinstance(data, (list, tuple)):
        return [_unwrap_nested(d) for d in data]
    return data


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """`data` as a tensor without a copy when possible (a tensor, or a CPU numpy array, already
    right)."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype) if (dtype or device) else data
    if isinstance(data, np.ndarray) and dtype is None and device in (None, "cpu", CPU):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with `a` when it is C-contiguous and of a supported dtype."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(a).__name__})")
    dt = dtypes.from_numpy_dtype(a.dtype)
    # np.asarray(order="C") keeps 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)
    arr = a if (a.dtype == dt.np and a.flags.c_contiguous) else np.asarray(a, dtype=dt.np,
                                                                         order="C")
    return Tensor._wrap(arr, CPU)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros of shape `size` (ints or one tuple); float32 unless `dtype`."""
    return _make(lambda B, s, d: B.full(s, 0, d.np), _shape_args(size), dtype, device,
                 requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ones of shape `size` (ints or one tuple); float32 unless `dtype`."""
    return _make(lambda B, s, d: B.full(s, 1, d.np), _shape_args(size), dtype, device,
                 requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialised tensor of shape `size` (ints or one tuple); float32 unless `dtype`."""
    return _make(lambda B, s, d: B.empty(s, d.np), _shape_args(size), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of shape `size` filled with `fill_value`; dtype from the value (bool, int64,
    float32) unless given."""
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, numbers.Integral) else dtypes.float32)
    return _make(lambda B, s, d: B.full(s, fill_value, d.np), _size(size), dtype, device,
                 requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Zeros with t's shape, and its dtype and device unless given."""
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Ones with t's shape, and its dtype and device unless given."""
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uninitialised tensor with t's shape, and its dtype and device unless given."""
    return empty(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """`fill_value` in t's shape, with t's dtype and device unless given."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """start, start + step, ... up to but excluding `end` (arange(n): 0..n-1); int64 if all
    arguments are ints, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("arange: step must be nonzero")
    if dtype is None:
        is_int = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.float32
    n = max(0, int(np.ceil((end - start) / step)))
    return _make(lambda B, s, d: B.arange(start, step, n, d.np), (n,), dtype, device, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    """`steps` evenly spaced values from start to end inclusive, float32 unless `dtype`."""
    arr = np.linspace(start, end, int(steps))
    return tensor(arr, dtype=dtype or dtypes.float32, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The n x m (default n x n) identity matrix, float32 unless `dtype`."""
    return tensor(np.eye(n, m), dtype=dtype or dtypes.float32, device=device,
                  requires_grad=requires_grad)


def _random(kind, size, dtype, device, requires_grad, generator):
    from . import random as _rnd

    gen = generator or _rnd.default_generator
    shape = _shape_args(size)
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
    if not dt.is_floating_point:
        raise DTypeError(f"{'randn' if kind == 'normal' else 'rand'}: expected a floating dtype, "
                         f"got {dt}")
    n = 1
    for s in shape:
        n *= s
    seed, off = gen._take(n)

    def make(B, s, d):
        return (B.rand_normal if kind == "normal" else B.rand_uniform)(s, d.np, seed, off)
    return _make(make, shape, dt, device, requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """U[0, 1) from minidl's counter-based generator (the same numbers on every device)."""
    return _random("uniform", size, dtype, device, requires_grad, generator)


def randn(*size, dtype=None, device=None, requires_grad=False, generator=None) -> Tensor:
    """N(0, 1) from minidl's counter-based generator (the same numbers on every device)."""
    return _random("normal", size, dtype, device, requires_grad, generator)


def randint(low, high=None, size=(), dtype=None, device=None, generator=None) -> Tensor:
    """Random integers in [low, high) (randint(high) starts at 0) of shape `size`, int64 unless
    `dtype`."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= "
                           f"to={high}")
    u = _random("uniform", _size(size), dtypes.float64, device, False, generator)
    out = (u * (high - low) + low).to(dtypes.int64)
    return out.to(dtypes.to_dtype(dtype)) if dtype is not None else out


def rand_like(t, dtype=None, device=None) -> Tensor:
    """U[0, 1) with t's shape, and its dtype and device unless given."""
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t, dtype=None, device=None) -> Tensor:
    """N(0, 1) with t's shape, and its dtype and device unless given."""
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randperm(n, dtype=None, device=None, generator=None) -> Tensor:
    """A random permutation of 0..n-1 (argsort of counter-based uniforms)."""
    u = _random("uniform", (n,), dtypes.float64, "cpu", False, generator)
    perm = np.argsort(u._data, kind="stable").astype(np.int64)
    return tensor(perm, dtype=dtype or dtypes.int64, device=device)
