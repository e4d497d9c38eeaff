"""Tensor: storage (a backend array) + device + dtype + autograd fields, and the creation functions.

Methods are explicit one-liners that call minidl.ops; nothing here touches numba.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import autograd, dtypes
from .device import CPU, Device, backend_for, to_device
from .errors import DeviceError, DTypeError


class _Version:
    """Shared in-place modification counter (a tensor and its views share one)."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
          "bool": "BoolTensor"}


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autodiff (PyTorch's semantics)."""

    __slots__ = ("_data", "_device", "_dtype", "_requires_grad", "grad", "_grad_fn", "_output_nr",
                 "_version", "_accum", "_retains", "__weakref__", "__dict__")
    __array_priority__ = 1000  # numpy scalars/arrays defer to Tensor's reflected operators

    def __init__(self, *args, **kwargs):
        raise TypeError("use minidl.tensor(data), minidl.zeros(...), ... to create tensors")

    @classmethod
    def _wrap(cls, data, device: Device, requires_grad: bool = False) -> "Tensor":
        """A tensor around a backend array, without copying."""
        t = object.__new__(cls)
        t._data = data
        t._device = device
        t._dtype = dtypes.from_numpy_dtype(data.dtype)
        t._requires_grad = requires_grad
        t.grad = None
        t._grad_fn = None
        t._output_nr = 0
        t._version = _Version()
        t._accum = None
        t._retains = False
        return t

    def _alias(self) -> "Tensor":
        """Same storage and version counter, no graph (what a Node saves)."""
        t = Tensor._wrap(self._data, self._device)
        t._version = self._version
        return t

    # ---- metadata ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return self.shape
        from .ops._base import norm_dim
        return self.shape[norm_dim("size", dim, max(self.ndim, 1))] if self.ndim else 1

    @property
    def ndim(self) -> int:
        return len(self._data.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    nelement = numel

    @property
    def dtype(self):
        return self._dtype

    @property
    def device(self) -> Device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def _backend(self):
        return backend_for(self._device)

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    def element_size(self) -> int:
        return self._dtype.itemsize

    # ---- autograd fields --------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want "
                               "to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        if value and not self._dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def data(self) -> "Tensor":
        """The same storage, detached from the graph (like torch's .data)."""
        return self.detach()

    @data.setter
    def data(self, other: "Tensor") -> None:
        self._data, self._device, self._dtype = other._data, other._device, other._dtype

    def _accumulator(self):
        if self._accum is None:
            self._accum = autograd.AccumulateGrad(self)
        return self._accum

    def detach(self) -> "Tensor":
        return self._alias()

    def detach_(self) -> "Tensor":
        self._grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        if self._grad_fn is None:
            return
        import weakref
        self._grad_fn._retained[self._output_nr] = weakref.ref(self)
        self._retains = True

    @property
    def retains_grad(self) -> bool:
        return self._retains

    def register_hook(self, hook):
        """hook(grad) -> new grad or None, called when this tensor's gradient is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node = self._accumulator() if self._grad_fn is None else self._grad_fn
        nr = 0 if self._grad_fn is None else self._output_nr
        node._hooks.setdefault(nr, []).append(hook)
        return hook

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
        autograd.backward(self, gradient, retain_graph=retain_graph, inputs=inputs)

    # ---- conversion -------------------------------------------------------------------------
    def _type_name(self) -> str:
        base = _NAMES[self._dtype.name]
        return f"minidl.cuda.{base}" if self.is_cuda else f"minidl.{base}"

    def numpy(self, force: bool = False) -> np.ndarray:
        if force:
            return self.detach().cpu()._data
        if self._requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        if self.is_cuda:
            raise DeviceError(f"can't convert {self._device} device type tensor to numpy. Use "
                              "Tensor.cpu() to copy the tensor to host memory first.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        if dtype is not None:
            arr = arr.astype(dtype, copy=False)
        return np.array(arr, copy=True) if copy else arr

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to Scalar")
        return self._backend.to_numpy(self._data).reshape(()).item()

    def tolist(self):
        return self._backend.to_numpy(self._data).tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self._dtype is not dtypes.int64 or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self):
        return id(self)

    def __reduce_ex__(self, protocol):
        # pickling (DataLoader workers) sends a host copy
        return (_rebuild, (self._backend.to_numpy(self._data), str(self._device), self._requires_grad))

    def __repr__(self) -> str:
        arr = self._backend.to_numpy(self._data)
        # like torch: integral floats print as "1.", anything else with 4 decimals ("2.5000")
        fin = arr[np.isfinite(arr)] if arr.dtype.kind == "f" else arr
        fixed = arr.dtype.kind == "f" and bool(np.any(fin != np.round(fin)))
        body = np.array2string(arr, separator=", ", prefix="tensor(", precision=4,
                               floatmode="fixed" if fixed else "maxprec_equal",
                               threshold=1000, edgeitems=3)
        extras = []
        if self.is_cuda:
            extras.append(f"device='{self._device}'")
        default = {"float32", "int64", "bool"}
        if self._dtype.name not in default or self.numel() == 0:
            extras.append(f"dtype={self._dtype!r}")
        if self._grad_fn is not None:
            extras.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.numel() == 0 and self.ndim != 1:
            body = f"[], size={self.shape}"
        return f"tensor({body}{''.join(', ' + e for e in extras)})"

    __str__ = __repr__

    # ---- device / dtype ---------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """to(device), to(dtype), to(other), to(device, dtype); returns self when nothing changes."""
        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif isinstance(a, (dtypes.DType, type, np.dtype)) or (isinstance(a, str) and a in (
                    "float32", "float64", "int64", "bool", "float", "double", "long")):
                dtype = a
            else:
                device = a
        out = self
        if dtype is not None:
            dt = dtypes.to_dtype(dtype)
            if dt is not out._dtype:
                out = movement.Cast.apply(out, dt)
        if device is not None:
            dev = to_device(device)
            if dev != out._device:
                backend_for(dev)  # raises a clear error if the device is unavailable
                out = movement.ToDevice.apply(out, dev)
        return out

    def cpu(self) -> "Tensor":
        return self.to(CPU)

    def cuda(self, device=None) -> "Tensor":
        return self.to(Device("cuda", device if isinstance(device, int) else None)
                       if not isinstance(device, (str, Device)) else device)

    def float(self) -> "Tensor":
        return self.to(dtypes.float32)

    def double(self) -> "Tensor":
        return self.to(dtypes.float64)

    def long(self) -> "Tensor":
        return self.to(dtypes.int64)

    def bool(self) -> "Tensor":
        return self.to(dtypes.bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def clone(self) -> "Tensor":
        return movement.Clone.apply(self)

    def contiguous(self) -> "Tensor":
        return self  # storage is always C-contiguous

    def is_contiguous(self) -> bool:
        return True

    # ---- new tensors like self ----------------------------------------------------------------
    def new_zeros(self, size, dtype=None, device=None) -> "Tensor":
        return zeros(*_size(size), dtype=dtype or self._dtype, device=device or self._device)

    def new_ones(self, size, dtype=None, device=None) -> "Tensor":
        return ones(*_size(size), dtype=dtype or self._dtype, device=device or self._device)

    def new_full(self, size, fill_value, dtype=None, device=None) -> "Tensor":
        return full(_size(size), fill_value, dtype=dtype or self._dtype, device=device or self._device)

    def new_empty(self, size, dtype=None, device=None) -> "Tensor":
        return empty(*_size(size), dtype=dtype or self._dtype, device=device or self._device)

    def new_tensor(self, data, dtype=None, device=None) -> "Tensor":
        return tensor(data, dtype=dtype or self._dtype, device=device or self._device)

    # ---- arithmetic -------------------------------------------------------------------------
    def __add__(self, o): return ew.binary("add", self, o)
    def __radd__(self, o): return ew.binary("add", o, self)
    def __sub__(self, o): return ew.binary("sub", self, o)
    def __rsub__(self, o): return ew.binary("sub", o, self)
    def __mul__(self, o): return ew.binary("mul", self, o)
    def __rmul__(self, o): return ew.binary("mul", o, self)
    def __truediv__(self, o): return ew.binary("div", self, o)
    def __rtruediv__(self, o): return ew.binary("div", o, self)
    def __pow__(self, o): return ew.pow(self, o)
    def __rpow__(self, o): return ew.binary("pow", o, self)
    def __matmul__(self, o): return mm.matmul(self, o)
    def __rmatmul__(self, o): return mm.matmul(o, self)
    def __neg__(self): return ew.unary("neg", self)
    def __pos__(self): return self
    def __abs__(self): return ew.unary("abs", self)
    def __eq__(self, o): return ew.compare("eq", self, o)
    def __ne__(self, o): return ew.compare("ne", self, o)
    def __lt__(self, o): return ew.compare("lt", self, o)
    def __le__(self, o): return ew.compare("le", self, o)
    def __gt__(self, o): return ew.compare("gt", self, o)
    def __ge__(self, o): return ew.compare("ge", self, o)
    def __and__(self, o): return ew.logical("logical_and", self, o)
    def __or__(self, o): return ew.logical("logical_or", self, o)
    def __invert__(self): return ew.logical("logical_not", self)

    def add(self, o, alpha=1): return ew.binary("add", self, o if alpha == 1 else o * alpha)
    def sub(self, o, alpha=1): return ew.binary("sub", self, o if alpha == 1 else o * alpha)
    def mul(self, o): return ew.binary("mul", self, o)
    def div(self, o): return ew.binary("div", self, o)
    def pow(self, e): return ew.pow(self, e)
    def matmul(self, o): return mm.matmul(self, o)
    def mm(self, o): return mm.matmul(self, o)
    def neg(self): return ew.unary("neg", self)
    def abs(self): return ew.unary("abs", self)
    def exp(self): return ew.unary("exp", self)
    def log(self): return ew.unary("log", self)
    def sqrt(self): return ew.unary("sqrt", self)
    def rsqrt(self): return 1.0 / ew.unary("sqrt", self)
    def square(self): return ew.binary("mul", self, self)
    def sign(self): return Tensor._wrap(self._backend.map("sign", [self._data]), self._device)
    def relu(self): return ew.unary("relu", self)
    def sigmoid(self): return ew.unary("sigmoid", self)
    def tanh(self): return ew.unary("tanh", self)
    def clamp(self, min=None, max=None): return ew.clamp(self, min, max)
    clip = clamp
    def maximum(self, o): return ew.binary("maximum", self, o)
    def minimum(self, o): return ew.binary("minimum", self, o)
    def eq(self, o): return ew.compare("eq", self, o)
    def ne(self, o): return ew.compare("ne", self, o)
    def lt(self, o): return ew.compare("lt", self, o)
    def le(self, o): return ew.compare("le", self, o)
    def gt(self, o): return ew.compare("gt", self, o)
    def ge(self, o): return ew.compare("ge", self, o)
    def logical_not(self): return ew.logical("logical_not", self)
    def logical_and(self, o): return ew.logical("logical_and", self, o)
    def logical_or(self, o): return ew.logical("logical_or", self, o)
    def where(self, cond, other): return ew.where(cond, self, other)

    # ---- reductions -------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None): return red.sum(self, dim, keepdim, dtype)
    def mean(self, dim=None, keepdim=False, dtype=None): return red.mean(self, dim, keepdim, dtype)
    def max(self, dim=None, keepdim=False): return red.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return red.min(self, dim, keepdim)
    def amax(self, dim=(), keepdim=False): return red.amax(self, dim, keepdim)
    def amin(self, dim=(), keepdim=False): return red.amin(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return red.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return red.argmin(self, dim, keepdim)
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return red.var(self, dim, unbiased, keepdim, correction)
    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return red.std(self, dim, unbiased, keepdim, correction)
    def all(self, dim=None, keepdim=False): return red.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return red.any(self, dim, keepdim)
    def softmax(self, dim): return red.softmax(self, dim)
    def log_softmax(self, dim): return red.log_softmax(self, dim)

    # ---- movement ---------------------------------------------------------------------------
    def reshape(self, *shape): return movement.reshape(self, *shape)
    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (dtypes.DType, np.dtype)):
            raise NotImplementedError("view(dtype) is not supported")
        return movement.reshape(self, *shape)
    def view_as(self, other): return movement.reshape(self, other.shape)
    def reshape_as(self, other): return movement.reshape(self, other.shape)
    def flatten(self, start_dim=0, end_dim=-1): return movement.flatten(self, start_dim, end_dim)
    def squeeze(self, dim=None): return movement.squeeze(self, dim)
    def unsqueeze(self, dim): return movement.unsqueeze(self, dim)
    def permute(self, *dims): return movement.permute(self, *dims)
    def transpose(self, dim0, dim1): return movement.transpose(self, dim0, dim1)
    def t(self): return movement.t(self)
    @property
    def T(self): return movement.permute(self, tuple(reversed(range(self.ndim))))
    @property
    def mT(self): return movement.transpose(self, -2, -1)
    def expand(self, *sizes): return movement.expand(self, *sizes)
    def expand_as(self, other): return movement.expand(self, other.shape)
    def gather(self, dim, index): return movement.gather(self, dim, index)
    def scatter_add(self, dim, index, src): return movement.scatter_add(self, dim, index, src)
    def __getitem__(self, index): return movement.getitem(self, index)
    def __setitem__(self, index, value): movement.setitem(self, index, value)

    # ---- in place (data writes bump the version counter) ----------------------------------------
    def _check_inplace(self, op: str) -> None:
        if self._requires_grad and self._grad_fn is None and autograd.is_grad_enabled():
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               f"operation. ({op})")

    def _bump(self) -> None:
        self._version.value += 1

    def _inplace(self, op: str, result: "Tensor") -> "Tensor":
        """Make `result` (computed out of place) the new value of self."""
        self._check_inplace(op)
        if tuple(result.shape) != self.shape:
            from .errors import ShapeError
            raise ShapeError(f"{op}: output with shape {list(self.shape)} doesn't match the broadcast "
                             f"shape {list(result.shape)}")
        if result._grad_fn is not None:
            # autograd through an in-place op on a non-leaf: self becomes the new node's output
            self._data, self._grad_fn, self._output_nr = result._data, result._grad_fn, result._output_nr
            self._requires_grad = True
        else:
            self._backend.copy_into(self._data, result.to(self._dtype)._data)
        self._bump()
        return self

    def add_(self, o, alpha=1): return self._inplace("add_", self.add(o, alpha=alpha))
    def sub_(self, o, alpha=1): return self._inplace("sub_", self.sub(o, alpha=alpha))
    def mul_(self, o): return self._inplace("mul_", self * o)
    def div_(self, o): return self._inplace("div_", self / o)
    def pow_(self, e): return self._inplace("pow_", self ** e)
    def clamp_(self, min=None, max=None): return self._inplace("clamp_", self.clamp(min, max))
    def relu_(self): return self._inplace("relu_", self.relu())
    def neg_(self): return self._inplace("neg_", -self)
    def sqrt_(self): return self._inplace("sqrt_", self.sqrt())
    def exp_(self): return self._inplace("exp_", self.exp())
    def addcmul_(self, t1, t2, value=1): return self._inplace("addcmul_", self + t1 * t2 * value)
    def addcdiv_(self, t1, t2, value=1): return self._inplace("addcdiv_", self + t1 / t2 * value)
    def lerp_(self, end, weight): return self._inplace("lerp_", self + (end - self) * weight)
    def __iadd__(self, o): return self.add_(o)
    def __isub__(self, o): return self.sub_(o)
    def __imul__(self, o): return self.mul_(o)
    def __itruediv__(self, o): return self.div_(o)

    def copy_(self, src) -> "Tensor":
        if not isinstance(src, Tensor):
            src = tensor(src, dtype=self._dtype, device=self._device)
        if src.device != self._device:
            src = src.to(self._device)
        if autograd.is_grad_enabled() and src.requires_grad:
            return self._inplace("copy_", src.to(self._dtype).expand(*self.shape) * 1.0)
        return self._inplace("copy_", src.detach().to(self._dtype).expand(*self.shape))

    def fill_(self, value) -> "Tensor":
        return self._inplace("fill_", full(self.shape, value, dtype=self._dtype, device=self._device))

    def zero_(self) -> "Tensor":
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0, generator=None) -> "Tensor":
        r = rand(*self.shape, dtype=self._dtype, device=self._device, generator=generator)
        return self._inplace("uniform_", r * (b - a) + a)

    def normal_(self, mean=0.0, std=1.0, generator=None) -> "Tensor":
        r = randn(*self.shape, dtype=self._dtype, device=self._device, generator=generator)
        return self._inplace("normal_", r * std + mean)


def _rebuild(arr, device, requires_grad):
    t = from_numpy(arr).to(device)
    t._requires_grad = requires_grad
    return t


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
            raise RuntimeError(f"Trying to create tensor with negative dimension {int(s)}: {list(size)}")
    return tuple(int(s) for s in size)


# ---- creation --------------------------------------------------------------------------------------
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
    return _make(lambda B, s, d: B.full(s, 0, d.np), _shape_args(size), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda B, s, d: B.full(s, 1, d.np), _shape_args(size), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda B, s, d: B.empty(s, d.np), _shape_args(size), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    if dtype is None:
        dtype = (dtypes.bool_ if isinstance(fill_value, bool) else
                 dtypes.int64 if isinstance(fill_value, numbers.Integral) else dtypes.float32)
    return _make(lambda B, s, d: B.full(s, fill_value, d.np), _size(size), dtype, device,
                 requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return empty(*t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
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
    arr = np.linspace(start, end, int(steps))
    return tensor(arr, dtype=dtype or dtypes.float32, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    return tensor(np.eye(n, m), dtype=dtype or dtypes.float32, device=device,
                  requires_grad=requires_grad)


def _random(kind, size, dtype, device, requires_grad, generator):
    from . import random as _rnd

    gen = generator or _rnd.default_generator
    shape = _shape_args(size)
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
    if not dt.is_floating_point:
        raise DTypeError(f"{'randn' if kind == 'normal' else 'rand'}: expected a floating dtype, got {dt}")
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
    if high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    u = _random("uniform", _size(size), dtypes.float64, device, False, generator)
    out = (u * (high - low) + low).to(dtypes.int64)
    return out.to(dtypes.to_dtype(dtype)) if dtype is not None else out


def rand_like(t, dtype=None, device=None) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randn_like(t, dtype=None, device=None) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, device=device or t.device)


def randperm(n, dtype=None, device=None, generator=None) -> Tensor:
    """A random permutation of 0..n-1 (argsort of counter-based uniforms)."""
    u = _random("uniform", (n,), dtypes.float64, "cpu", False, generator)
    perm = np.argsort(u._data, kind="stable").astype(np.int64)
    return tensor(perm, dtype=dtype or dtypes.int64, device=device)


from .ops import elementwise as ew  # noqa: E402  (the ops import Tensor lazily)
from .ops import matmul as mm  # noqa: E402
from .ops import movement  # noqa: E402
from .ops import reduce as red  # noqa: E402
