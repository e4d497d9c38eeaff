"""Tensor: storage (a backend array) + device + dtype + autograd fields.

Methods are explicit one-liners that call minidl.ops; nothing here touches numba.  The creation
functions (tensor, zeros, randn, ...) live in minidl/creation.py.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import autograd, dtypes
from .device import CPU, Device, backend_for, to_device
from .errors import DeviceError, ShapeError
from .ops._base import norm_dim


class _Version:
    """What a tensor shares with its views and aliases: the in-place modification counter
    (`value`), the storage's root array once a view exists (`root`), the non-contiguous views
    that hold a private copy of their elements and must be refreshed after a write (`views`),
    and a counter of autograd history changes made in place (`hist`; views rebuild their
    grad_fn when it moves).  `saved` lists the saved-for-backward aliases of an in-place op's
    input snapshot (see Tensor._inplace); `owned` marks storage a leaf's .grad already holds."""

    __slots__ = ("value", "root", "views", "hist", "saved", "owned")

    def __init__(self):
        self.value = 0
        self.root = None
        self.views = None
        self.hist = 0
        self.saved = None
        self.owned = False


_BY_NP = dtypes._BY_NP  # numpy dtype -> DType for the stored dtypes (Tensor._wrap's fast path)
_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
          "bool": "BoolTensor"}


class Tensor:
    """An n-dimensional array on a device, with reverse-mode autodiff (PyTorch's semantics);
    the attribute `grad` holds the gradient backward() accumulated (None before)."""

    # _view: None, or (shape, strides, offset, is_copy) locating this tensor in its storage root
    # (_version.root); is_copy means _data is a private contiguous copy kept in sync on writes.
    # _base: the tensor this is a view of (autograd's base); _hist: _version.hist when the
    # view's grad_fn was last built.
    __slots__ = ("_data", "_device", "_dtype", "_requires_grad", "grad", "_grad_fn", "_output_nr",
                 "_version", "_accum", "_retains", "_view", "_base", "_hist", "__weakref__")
    __array_priority__ = 1000  # numpy scalars/arrays defer to Tensor's reflected operators

    def __init__(self, *args, **kwargs):
        raise TypeError("use minidl.tensor(data), minidl.zeros(...), ... to create tensors")

    @classmethod
    def _wrap(cls, data, device: Device, requires_grad: bool = False) -> "Tensor":
        """A tensor around a backend array, without copying."""
        t = object.__new__(cls)
        t._data = data
        t._device = device
        npd = data.dtype
        t._dtype = _BY_NP[npd] if npd in _BY_NP else dtypes.from_numpy_dtype(npd)
        t._requires_grad = requires_grad
        t.grad = None
        t._grad_fn = None
        t._output_nr = 0
        t._version = _Version()
        t._accum = None
        t._retains = False
        t._view = None
        t._base = None
        return t

    def _alias(self) -> "Tensor":
        """Same storage and version counter, no graph (what a Node saves)."""
        t = Tensor._wrap(self._data, self._device)
        t._version = self._version
        t._view = self._view
        return t

    def _sync_view(self) -> None:
        # the base's history changed in place since this view's grad_fn was built
        self._hist = self._version.hist
        base = self._base
        if base.requires_grad:
            self._grad_fn = movement.view_node(self, base)
            self._output_nr = 0
            self._requires_grad = True

    # ---- metadata ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        """The size of each dimension, as a tuple of ints."""
        return tuple(self._data.shape)

    def size(self, dim=None):
        """The shape as a tuple, or the size of dimension `dim` (negative counts from the end)."""
        if dim is None:
            return self.shape
        return self.shape[norm_dim("size", dim, max(self.ndim, 1))] if self.ndim else 1

    @property
    def ndim(self) -> int:
        """The number of dimensions (0 for a scalar tensor)."""
        return len(self._data.shape)

    def dim(self) -> int:
        """The number of dimensions, like `ndim`."""
        return self.ndim

    def numel(self) -> int:
        """The number of elements (the product of the shape; 1 for a 0-d tensor)."""
        n = 1
        for s in self._data.shape:
            n *= s
        return n

    nelement = numel

    @property
    def dtype(self):
        """The element type: minidl.float32, float64, int64 or bool."""
        return self._dtype

    @property
    def device(self) -> Device:
        """The Device the storage lives on ("cpu" or "cuda:i")."""
        return self._device

    @property
    def is_cuda(self) -> bool:
        """True when the tensor lives on a CUDA device."""
        return self._device.type == "cuda"

    @property
    def _backend(self):
        return backend_for(self._device)

    def is_floating_point(self) -> bool:
        """True for float32 and float64 tensors."""
        return self._dtype.is_floating_point

    def element_size(self) -> int:
        """Bytes per element."""
        return self._dtype.itemsize

    # ---- autograd fields --------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether backward() computes a gradient for this tensor (settable on leaves of floating
        dtype)."""
        if self._base is not None and self._hist != self._version.hist:
            self._sync_view()
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self._grad_fn is not None and not value:
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you "
                               "want to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        if value and not self._dtype.is_floating_point:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Set `requires_grad` in place and return self."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad_fn(self):
        """The graph node that produced this tensor, or None for a leaf."""
        if self._base is not None and self._hist != self._version.hist:
            self._sync_view()
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        """True when the tensor was not produced by a recorded op (grad_fn is None)."""
        return self.grad_fn is None

    @property
    def _is_view(self) -> bool:
        return self._base is not None

    @property
    def data(self) -> "Tensor":
        """The same storage, detached from the graph (like torch's .data)."""
        return self.detach()

    @data.setter
    def data(self, other: "Tensor") -> None:
        self._data, self._device, self._dtype = other._data, other._device, other._dtype
        self._version, self._view = other._version, other._view

    def _accumulator(self):
        if self._accum is None:
            self._accum = autograd.AccumulateGrad(self)
        return self._accum

    def detach(self) -> "Tensor":
        """A tensor sharing this storage and version counter, outside the graph."""
        return self._alias()

    def detach_(self) -> "Tensor":
        """Cut this tensor from the graph in place: it becomes a leaf without requires_grad."""
        self._grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` for this non-leaf tensor after backward() (leaves always keep it)."""
        if self.grad_fn is None:
            return
        autograd._mutable(self._grad_fn, "_retained")[self._output_nr] = weakref.ref(self)
        self._retains = True

    @property
    def retains_grad(self) -> bool:
        """True after retain_grad() on a non-leaf tensor."""
        return self._retains

    def register_hook(self, hook) -> "autograd.RemovableHandle":
        """hook(grad) -> new grad or None, called when this tensor's gradient is computed;
        returns a handle whose remove() unregisters it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node = self._accumulator() if self._grad_fn is None else self._grad_fn
        nr = 0 if self._grad_fn is None else self._output_nr
        hooks = autograd._mutable(node, "_hooks").setdefault(nr, [])
        hooks.append(hook)
        return autograd.RemovableHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of the leaves that require grad; `gradient`
        (same shape as self) is required unless self has one element."""
        if create_graph:
            raise NotImplementedError("create_graph=True (higher-order gradients) is not supported")
        autograd.backward(self, gradient, retain_graph=retain_graph, inputs=inputs)

    # ---- conversion -------------------------------------------------------------------------
    def _type_name(self) -> str:
        base = _NAMES[self._dtype.name]
        return f"minidl.cuda.{base}" if self.is_cuda else f"minidl.{base}"

    def numpy(self, force: bool = False) -> np.ndarray:
        """The CPU storage as a numpy array (shared, not copied); force=True detaches and copies."""
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
        """The value of a one-element tensor as a Python number."""
        if self.numel() != 1:
            raise RuntimeError(f"a Tensor with {self.numel()} elements cannot be converted to "
                               "Scalar")
        return self._backend.to_numpy(self._data).reshape(()).item()

    def tolist(self):
        """The values as nested Python lists (a number for a 0-d tensor)."""
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
        return (_rebuild, (self._backend.to_numpy(self._data), str(self._device),
                           self._requires_grad))

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
        """to(device), to(dtype), to(other), to(device, dtype); returns self when nothing changes.
        non_blocking=True: an upload from pinned memory (pin_memory()) does not wait."""
        device, dtype = kwargs.get("device"), kwargs.get("dtype")
        non_blocking = bool(kwargs.get("non_blocking", False))
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
                out = movement.ToDevice.apply(out, dev, non_blocking)
        return out

    def pin_memory(self) -> "Tensor":
        """A copy of this CPU tensor in page-locked host memory (self when already pinned), so
        .to("cuda", non_blocking=True) can upload it asynchronously.  Needs CUDA."""
        if self._device.type != "cpu":
            raise DeviceError(f"pin_memory: cannot pin a tensor on {self._device}; only CPU "
                              "tensors can be pinned")
        from .cuda import pinned

        if pinned.is_pinned(self._data):
            return self
        return Tensor._wrap(pinned.pin(self._data), CPU)

    def is_pinned(self) -> bool:
        """Whether this CPU tensor's memory is page-locked (pin_memory())."""
        if self._device.type != "cpu":
            return False
        import sys

        pinned = sys.modules.get("minidl.cuda.pinned")  # never imports numba.cuda itself
        return bool(pinned and pinned.is_pinned(self._data))

    def record_stream(self, stream) -> None:
        """Mark this CUDA tensor's memory as used by work queued on `stream` (a numba CUDA
        stream): once the tensor is freed, its block is not reused before that work is done
        (PyTorch's record_stream; None: the compute stream, a no-op).  minidl's own uploads
        record their users themselves; memory from outside the pool (from_dlpack) is left
        alone."""
        if self._device.type != "cuda":
            raise DeviceError(f"record_stream: expected a CUDA tensor, got a tensor on "
                              f"{self._device}")
        from .cuda.backend import memory

        memory.record_stream(self._data, stream, self._device.index)

    def cpu(self) -> "Tensor":
        """A copy on the CPU (self when already there)."""
        return self.to(CPU)

    def cuda(self, device=None) -> "Tensor":
        """A copy on CUDA device `device` (default: the current one); self when already there."""
        return self.to(Device("cuda", device if isinstance(device, int) else None)
                       if not isinstance(device, (str, Device)) else device)

    def float(self) -> "Tensor":
        """Cast to float32 (self when already float32)."""
        return self.to(dtypes.float32)

    def double(self) -> "Tensor":
        """Cast to float64 (self when already float64)."""
        return self.to(dtypes.float64)

    def long(self) -> "Tensor":
        """Cast to int64 (self when already int64)."""
        return self.to(dtypes.int64)

    def bool(self) -> "Tensor":
        """Cast to bool (self when already bool)."""
        return self.to(dtypes.bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        """Cast to the dtype of `other`."""
        return self.to(other.dtype)

    def clone(self) -> "Tensor":
        """A copy with its own storage; gradients flow back to self."""
        return movement.Clone.apply(self)

    def contiguous(self) -> "Tensor":
        """Self when contiguous, else a contiguous copy (a transposed/strided view)."""
        if self._view is not None and self._view[3]:
            return self.clone()
        return self

    def is_contiguous(self) -> bool:
        """False for a non-contiguous view (transpose, permute, expand, strided slice)."""
        return self._view is None or not self._view[3]

    # ---- new tensors like self ----------------------------------------------------------------
    def new_zeros(self, size, dtype=None, device=None) -> "Tensor":
        """Zeros of `size`, with self's dtype and device unless given."""
        return zeros(*_size(size), dtype=dtype or self._dtype, device=device or self._device)

    def new_ones(self, size, dtype=None, device=None) -> "Tensor":
        """Ones of `size`, with self's dtype and device unless given."""
        return ones(*_size(size), dtype=dtype or self._dtype, device=device or self._device)

    def new_full(self, size, fill_value, dtype=None, device=None) -> "Tensor":
        """`size` filled with `fill_value`, with self's dtype and device unless given."""
        return full(_size(size), fill_value, dtype=dtype or self._dtype,
                    device=device or self._device)

    def new_empty(self, size, dtype=None, device=None) -> "Tensor":
        """Uninitialised tensor of `size`, with self's dtype and device unless given."""
        return empty(*_size(size), dtype=dtype or self._dtype, device=device or self._device)

    def new_tensor(self, data, dtype=None, device=None) -> "Tensor":
        """A copy of `data` as a tensor with self's dtype and device unless given."""
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
    def __invert__(self): return ew.bitwise_not(self)

    def add(self, o, alpha=1):
        """self + alpha * o, broadcasting (o a tensor or a Python number)."""
        return ew.binary("add", self, o if alpha == 1 else o * alpha)

    def sub(self, o, alpha=1):
        """self - alpha * o, broadcasting."""
        return ew.binary("sub", self, o if alpha == 1 else o * alpha)

    def mul(self, o):
        """self * o, elementwise, broadcasting."""
        return ew.binary("mul", self, o)

    def div(self, o):
        """self / o, true division (int inputs give float32), broadcasting."""
        return ew.binary("div", self, o)

    def pow(self, e):
        """self ** e, elementwise; `e` a tensor or a Python number."""
        return ew.pow(self, e)

    def matmul(self, o):
        """self @ o with torch.matmul's rules: [.., n, k] @ [.., k, m] -> [.., n, m], batch dims
        broadcast."""
        return mm.matmul(self, o)

    def mm(self, o):
        """Matrix product, same as `matmul`."""
        return mm.matmul(self, o)

    def neg(self):
        """-self."""
        return ew.unary("neg", self)

    def abs(self):
        """|self|, elementwise."""
        return ew.unary("abs", self)

    def exp(self):
        """e ** self, elementwise."""
        return ew.unary("exp", self)

    def log(self):
        """Natural logarithm, elementwise."""
        return ew.unary("log", self)

    def sqrt(self):
        """Square root, elementwise."""
        return ew.unary("sqrt", self)

    def rsqrt(self):
        """1 / sqrt(self), elementwise."""
        return 1.0 / ew.unary("sqrt", self)

    def square(self):
        """self * self."""
        return ew.binary("mul", self, self)

    def sign(self):
        """-1, 0 or 1 per element (not differentiable)."""
        return ew.Pointwise.apply("sign", self)

    def relu(self):
        """max(self, 0), elementwise."""
        return ew.unary("relu", self)

    def sigmoid(self):
        """1 / (1 + exp(-self)), elementwise."""
        return ew.unary("sigmoid", self)

    def tanh(self):
        """Hyperbolic tangent, elementwise."""
        return ew.unary("tanh", self)

    def clamp(self, min=None, max=None):
        """Limit elements to [min, max]; either bound may be None, or a tensor."""
        return ew.clamp(self, min, max)
    clip = clamp

    def maximum(self, o):
        """Elementwise maximum of self and o, broadcasting."""
        return ew.binary("maximum", self, o)

    def minimum(self, o):
        """Elementwise minimum of self and o, broadcasting."""
        return ew.binary("minimum", self, o)

    def eq(self, o):
        """self == o, a bool tensor (broadcasting)."""
        return ew.compare("eq", self, o)

    def ne(self, o):
        """self != o, a bool tensor (broadcasting)."""
        return ew.compare("ne", self, o)

    def lt(self, o):
        """self < o, a bool tensor (broadcasting)."""
        return ew.compare("lt", self, o)

    def le(self, o):
        """self <= o, a bool tensor (broadcasting)."""
        return ew.compare("le", self, o)

    def gt(self, o):
        """self > o, a bool tensor (broadcasting)."""
        return ew.compare("gt", self, o)

    def ge(self, o):
        """self >= o, a bool tensor (broadcasting)."""
        return ew.compare("ge", self, o)

    def logical_not(self):
        """Elementwise NOT (nonzero is True), a bool tensor."""
        return ew.logical("logical_not", self)

    def logical_and(self, o):
        """Elementwise AND (nonzero is True), a bool tensor."""
        return ew.logical("logical_and", self, o)

    def logical_or(self, o):
        """Elementwise OR (nonzero is True), a bool tensor."""
        return ew.logical("logical_or", self, o)

    def where(self, cond, other):
        """Elements of self where `cond`, else of `other` (all three broadcast)."""
        return ew.where(cond, self, other)

    # ---- reductions -------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, dtype=None):
        """Sum over `dim` (an int, a tuple, or None for all); bool/int sum to int64."""
        return red.sum(self, dim, keepdim, dtype)

    def mean(self, dim=None, keepdim=False, dtype=None):
        """Mean over `dim` (an int, a tuple, or None for all); floating dtypes only."""
        return red.mean(self, dim, keepdim, dtype)

    def max(self, dim=None, keepdim=False):
        """The largest element; with `dim`, (values, indices) along it; with a tensor, `maximum`."""
        return red.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        """The smallest element; with `dim`, (values, indices) along it; with a tensor,
        `minimum`."""
        return red.min(self, dim, keepdim)

    def amax(self, dim=(), keepdim=False):
        """Largest elements over `dim` (default all); the gradient is shared among ties."""
        return red.amax(self, dim, keepdim)

    def amin(self, dim=(), keepdim=False):
        """Smallest elements over `dim` (default all); the gradient is shared among ties."""
        return red.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        """Index of the largest element along `dim` (of the flattened tensor when None), int64."""
        return red.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        """Index of the smallest element along `dim` (of the flattened tensor when None), int64."""
        return red.argmin(self, dim, keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Variance over `dim`, with Bessel's correction unless unbiased=False or correction=0."""
        return red.var(self, dim, unbiased, keepdim, correction)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        """Standard deviation over `dim`: sqrt of `var` with the same arguments."""
        return red.std(self, dim, unbiased, keepdim, correction)

    def all(self, dim=None, keepdim=False):
        """True where every element over `dim` (default all) is nonzero, a bool tensor."""
        return red.all(self, dim, keepdim)

    def any(self, dim=None, keepdim=False):
        """True where some element over `dim` (default all) is nonzero, a bool tensor."""
        return red.any(self, dim, keepdim)

    def softmax(self, dim):
        """exp(x) / sum(exp(x)) along `dim`, computed stably."""
        return red.softmax(self, dim)

    def log_softmax(self, dim):
        """log(softmax(x)) along `dim`, computed stably."""
        return red.log_softmax(self, dim)

    # ---- movement ---------------------------------------------------------------------------
    def reshape(self, *shape):
        """The same elements in a new shape (ints or one tuple; one -1 is inferred)."""
        return movement.reshape(self, *shape)

    def view(self, *shape):
        """A view with a new shape (RuntimeError when the layout does not allow one, as torch);
        view(dtype) is not supported."""
        if len(shape) == 1 and isinstance(shape[0], (dtypes.DType, np.dtype)):
            raise NotImplementedError("view(dtype) is not supported")
        return movement.view(self, *shape)

    def view_as(self, other):
        """Reshape to `other.shape`."""
        return movement.reshape(self, other.shape)

    def reshape_as(self, other):
        """Reshape to `other.shape`."""
        return movement.reshape(self, other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        """Merge dims start_dim..end_dim into one: [N, C, H, W].flatten(1) -> [N, C*H*W]."""
        return movement.flatten(self, start_dim, end_dim)

    def squeeze(self, dim=None):
        """Drop size-1 dims (all of them, or only `dim`)."""
        return movement.squeeze(self, dim)

    def unsqueeze(self, dim):
        """Insert a size-1 dim at position `dim`."""
        return movement.unsqueeze(self, dim)

    def permute(self, *dims):
        """Reorder the dims: x.permute(0, 2, 3, 1) turns [N, C, H, W] into [N, H, W, C]."""
        return movement.permute(self, *dims)

    def transpose(self, dim0, dim1):
        """Swap dims `dim0` and `dim1`."""
        return movement.transpose(self, dim0, dim1)

    def t(self):
        """Transpose a 2-d tensor; 0-d and 1-d tensors are returned as they are."""
        return movement.t(self)

    @property
    def T(self):
        """All dims reversed: [a, b, c] -> [c, b, a]."""
        return movement.permute(self, tuple(reversed(range(self.ndim))))

    @property
    def mT(self):
        """The last two dims swapped (batched matrix transpose)."""
        return movement.transpose(self, -2, -1)

    def expand(self, *sizes):
        """Broadcast size-1 dims to `sizes` (-1 keeps a dim); new leading dims may be added."""
        return movement.expand(self, *sizes)

    def expand_as(self, other):
        """Broadcast to `other.shape`."""
        return movement.expand(self, other.shape)

    def gather(self, dim, index):
        """out[i][j] = self[index[i][j]][j] for dim=0 (and so on): picks along `dim` by int64
        `index`."""
        return movement.gather(self, dim, index)

    def scatter_add(self, dim, index, src):
        """A copy of self plus `src` at the positions along `dim` that `index` gives (repeats add
        up)."""
        return movement.scatter_add(self, dim, index, src)

    def __getitem__(self, index): return movement.getitem(self, index)
    def __setitem__(self, index, value): movement.setitem(self, index, value)

    # ---- in place -------------------------------------------------------------------------------
    # Every write goes into the existing storage (views and aliases see it) and ends in _bump().
    # With grad recording, the new value is computed out of place from a snapshot of self that
    # carries self's history; if backward saved that snapshot, it gets a private copy of the old
    # elements (the only copy an in-place op makes for autograd), so relu_, mul_, clamp_, ...
    # train.  Then self takes the new history: a plain tensor takes the result's grad_fn, a view
    # rebases its base (CopySlices) and the base's views rebuild their grad_fn from it.
    def _check_inplace(self, op: str) -> None:
        if self._view is not None:
            movement.check_writable_view(self, op)
        if not autograd.is_grad_enabled():
            return
        base = self._base
        if base is not None:
            if base._requires_grad and base._grad_fn is None:
                raise RuntimeError("a view of a leaf Variable that requires grad is being used in "
                                   f"an in-place operation. ({op})")
        elif self._requires_grad and self._grad_fn is None:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               f"operation. ({op})")

    def _bump(self) -> None:
        """Record a write to self's elements: write a strided view's copy back to the storage,
        refresh the storage's other strided views, advance the version counter."""
        v = self._view
        if v is not None and v[3]:
            movement.write_back(self)
        ver = self._version
        ver.value += 1
        if ver.views:
            movement.refresh_views(self)

    def _snapshot(self) -> "Tensor":
        # self's elements and history under a fresh version counter that lists what saves it
        t = Tensor._wrap(self._data, self._device)
        t._version.saved = []
        t._grad_fn, t._output_nr = self.grad_fn, self._output_nr
        t._requires_grad = self._requires_grad
        return t

    def _inplace(self, op: str, fn, *args, cast: bool = False, overwrite: bool = False) -> "Tensor":
        """self = fn(self, *args) in place (fn computes out of place; a Tensor is taken as the
        result itself).  Without `cast`, a result of a higher dtype category raises like torch;
        `overwrite` says the result ignores self's old value (copy_, fill_: it gets zeros)."""
        if isinstance(fn, Tensor):
            result = fn
            fn = lambda s: result  # noqa: E731
        self._check_inplace(op)
        rec = autograd.is_grad_enabled() and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args))
        if rec:
            src = self._snapshot()
            res = fn(src, *[src if a is self else a for a in args])
            saved = src._version.saved
            if saved:
                old = self._backend.copy(self._data)
                for a in saved:
                    va = a._view
                    if va is None:
                        a._data = old
                    elif not va[3]:
                        a._data = movement._flat_view(self._backend, old, va[0], va[2])
        else:
            res = fn(self, *args)
        if tuple(res.shape) != self.shape:
            raise ShapeError(f"{op}: output with shape {list(self.shape)} doesn't match the "
                             f"broadcast shape {list(res.shape)}")
        if res._dtype is not self._dtype:
            if not cast and _CATEGORY[res._dtype.name] > _CATEGORY[self._dtype.name]:
                raise RuntimeError(f"{op}: result type {_TYPE[res._dtype.name]} can't be cast to "
                                   f"the desired output type {_TYPE[self._dtype.name]}")
            res = res.to(self._dtype)
        if res._data is not self._data:
            self._backend.copy_into(self._data, res._data)
        self._bump()
        if rec:
            if self._base is not None:
                movement.copy_slices(self, res)
            elif src._requires_grad and (overwrite or not res.requires_grad):
                res = movement.Overwritten.apply(src, res)  # the old value gets zeros
            elif not res.requires_grad:
                return self
            if self._base is None:
                self._grad_fn, self._output_nr, self._requires_grad = (
                    res._grad_fn, res._output_nr, True)
            self._version.hist += 1
        return self

    def add_(self, o, alpha=1):
        """In place: self += alpha * o."""
        return self._inplace("add_", lambda s, o: s.add(o, alpha=alpha), o)

    def sub_(self, o, alpha=1):
        """In place: self -= alpha * o."""
        return self._inplace("sub_", lambda s, o: s.sub(o, alpha=alpha), o)

    def mul_(self, o):
        """In place: self *= o."""
        return self._inplace("mul_", lambda s, o: s * o, o)

    def div_(self, o):
        """In place: self /= o."""
        return self._inplace("div_", lambda s, o: s / o, o)

    def pow_(self, e):
        """In place: self **= e."""
        return self._inplace("pow_", lambda s, e: s ** e, e)

    def clamp_(self, min=None, max=None):
        """In place: limit elements to [min, max]."""
        return self._inplace("clamp_", lambda s, lo, hi: s.clamp(lo, hi), min, max)

    def relu_(self):
        """In place: max(self, 0)."""
        return self._inplace("relu_", lambda s: s.relu())

    def neg_(self):
        """In place: -self."""
        return self._inplace("neg_", lambda s: -s)

    def sqrt_(self):
        """In place: sqrt(self)."""
        return self._inplace("sqrt_", lambda s: s.sqrt())

    def exp_(self):
        """In place: exp(self)."""
        return self._inplace("exp_", lambda s: s.exp())

    def addcmul_(self, t1, t2, value=1):
        """In place: self += value * t1 * t2."""
        return self._inplace("addcmul_", lambda s, a, b: s + a * b * value, t1, t2)

    def addcdiv_(self, t1, t2, value=1):
        """In place: self += value * t1 / t2."""
        return self._inplace("addcdiv_", lambda s, a, b: s + a / b * value, t1, t2)

    def lerp_(self, end, weight):
        """In place: self += weight * (end - self)."""
        return self._inplace("lerp_", lambda s, e, w: s + (e - s) * w, end, weight)

    def __iadd__(self, o): return self.add_(o)
    def __isub__(self, o): return self.sub_(o)
    def __imul__(self, o): return self.mul_(o)
    def __itruediv__(self, o): return self.div_(o)

    def copy_(self, src) -> "Tensor":
        """Copy `src` (a tensor or array-like, broadcast to self's shape) into self; dtype and
        device stay."""
        if not isinstance(src, Tensor):
            src = tensor(src, dtype=self._dtype, device=self._device)
        if src.device != self._device:
            src = src.to(self._device)
        return self._inplace("copy_", lambda s, v: v.to(s._dtype).expand(*s.shape), src, cast=True,
                             overwrite=True)

    def fill_(self, value) -> "Tensor":
        """In place: set every element to `value`."""
        return self._inplace("fill_",
                             lambda s: full(s.shape, value, dtype=s._dtype, device=s._device),
                             cast=True, overwrite=True)

    def zero_(self) -> "Tensor":
        """In place: set every element to 0."""
        return self.fill_(0)

    def uniform_(self, a=0.0, b=1.0, generator=None) -> "Tensor":
        """In place: fill with U[a, b) from minidl's generator."""
        r = rand(*self.shape, dtype=self._dtype, device=self._device, generator=generator)
        return self._inplace("uniform_", r * (b - a) + a, cast=True, overwrite=True)

    def normal_(self, mean=0.0, std=1.0, generator=None) -> "Tensor":
        """In place: fill with N(mean, std^2) from minidl's generator."""
        r = randn(*self.shape, dtype=self._dtype, device=self._device, generator=generator)
        return self._inplace("normal_", r * std + mean, cast=True, overwrite=True)

    # ---- zero-copy interop (minidl.interop) ---------------------------------------------------
    @property
    def __cuda_array_interface__(self) -> dict:
        """CUDA Array Interface v3 of a CUDA tensor's storage (AttributeError on the CPU)."""
        from . import interop
        return interop.cuda_array_interface(self)

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule sharing a CPU tensor's storage (CUDA tensors: BufferError)."""
        from . import interop
        return interop.to_dlpack(self, stream=stream, max_version=max_version,
                                 dl_device=dl_device, copy=copy)

    def __dlpack_device__(self) -> tuple:
        """(DLPack device type, index): (1, 0) for the CPU, (2, N) for cuda:N."""
        return (2, self._device.index) if self.is_cuda else (1, 0)


autograd._Tensor = Tensor  # Function.apply's isinstance checks, without an import per call

# in-place results may not move up a category (bool < integer < floating), as in torch
_CATEGORY = {"bool": 0, "int64": 1, "float32": 2, "float64": 2}
_TYPE = {"bool": "Bool", "int64": "Long", "float32": "Float", "float64": "Double"}


def _rebuild(arr, device, requires_grad):
    t = from_numpy(arr).to(device)
    t._requires_grad = requires_grad
    return t


from .creation import _size, empty, from_numpy, full, ones, rand, randn, tensor, zeros  # noqa: E402
from .ops import elementwise as ew  # noqa: E402  (the ops import Tensor lazily)
from .ops import matmul as mm  # noqa: E402
from .ops import movement  # noqa: E402
from .ops import reduce as red  # noqa: E402
