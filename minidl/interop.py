"""Zero-copy exchange with other array libraries.

- CPU tensors speak DLPack through their numpy storage (numpy, PyTorch, JAX read them and
  minidl.from_dlpack reads theirs).
- CUDA tensors speak the CUDA Array Interface (numba, CuPy, PyTorch): numba-cuda has no DLPack
  export, so `__dlpack__` of a CUDA tensor raises BufferError pointing there.  from_dlpack reads
  any object with `__cuda_array_interface__` (and numba device arrays) without a copy.
- Under numba's simulator device memory is host memory: the interface's pointer is a host
  address, and numba's simulated arrays are shared directly.

minidl storage is C-contiguous float32 / float64 / int64 / bool: other layouts or dtypes raise
rather than silently copy (a copy would break the aliasing callers of from_dlpack rely on).
"""
from __future__ import annotations

import numpy as np

from .device import CPU, Device
from .errors import DeviceError, DTypeError, ShapeError

__all__ = ["from_dlpack"]

_DL_CPU, _DL_CUDA = 1, 2
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_))


def _check(op: str, dtype, shape, contiguous: bool) -> None:
    if np.dtype(dtype) not in _DTYPES:
        raise DTypeError(f"{op}: minidl tensors are float32, float64, int64 or bool; got "
                         f"{np.dtype(dtype)} (convert it on the producer's side first)")
    if not contiguous:
        raise ShapeError(f"{op}: minidl shares only C-contiguous memory; got shape "
                         f"{list(shape)} with other strides (call .contiguous() / "
                         "np.ascontiguousarray on the producer's side first)")


def _no_grad(t, what: str) -> None:
    if t.requires_grad:
        raise RuntimeError(f"Can't export a tensor that requires grad through {what}; use "
                           "tensor.detach() first")
    if not t.is_contiguous():  # a strided view computes on a private copy of its storage
        raise ShapeError(f"{what}: only contiguous tensors share their memory; got a "
                         f"non-contiguous view of shape {list(t.shape)} (call .contiguous() first)")


def cuda_array_interface(t) -> dict:
    """The CUDA Array Interface (v3) of a CUDA tensor's storage."""
    if not t.is_cuda:
        raise AttributeError(f"Can't get __cuda_array_interface__ on a {t.device} tensor")
    _no_grad(t, "__cuda_array_interface__")
    from . import cuda

    if cuda.is_simulator():
        host = t._data._ary
        return {"shape": tuple(host.shape), "strides": None, "typestr": host.dtype.str,
                "data": (host.__array_interface__["data"][0], False), "version": 3}
    return dict(t._data.__cuda_array_interface__)


def to_dlpack(t, **kwargs):
    """A DLPack capsule of a CPU tensor's storage (through numpy)."""
    _no_grad(t, "DLPack")
    if t.is_cuda:
        raise BufferError("DLPack export of CUDA tensors is not supported (numba-cuda has none); "
                          "consumers can read tensor.__cuda_array_interface__ instead, e.g. "
                          "torch.as_tensor(t, device='cuda') or cupy.asarray(t)")
    return t._data.__dlpack__(**{k: v for k, v in kwargs.items() if v is not None})


class _HostView:
    """Owner of a simulated device buffer given by a CUDA array interface (keeps `src` alive)."""

    def __init__(self, desc: dict, src):
        self.src = src
        self.__array_interface__ = {"shape": tuple(desc["shape"]), "typestr": desc["typestr"],
                                    "data": desc["data"], "strides": desc.get("strides"),
                                    "version": 3}


def _from_cuda(obj, desc):
    from . import cuda
    from .tensor import Tensor

    cuda.require()
    dev = Device("cuda", cuda.current_device())
    if cuda.is_simulator():
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        arr = obj if isinstance(obj, FakeCUDAArray) else FakeCUDAArray(
            np.asarray(_HostView(desc, obj)))
        _check("from_dlpack", arr.dtype, arr.shape, arr._ary.flags.c_contiguous)
        return Tensor._wrap(arr, dev)
    from numba import cuda as nbcuda

    arr = nbcuda.as_cuda_array(obj)  # no copy; numba keeps obj alive as the memory's owner
    _check("from_dlpack", arr.dtype, arr.shape, arr.is_c_contiguous())
    return Tensor._wrap(arr, dev)


def _is_numba_device_array(obj) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("numba") and hasattr(obj, "copy_to_host")


def from_dlpack(obj):
    """A tensor sharing memory with `obj`: a DLPack producer on the CPU (numpy, PyTorch, ...) or a
    CUDA array (anything with `__cuda_array_interface__`: numba, CuPy, PyTorch CUDA tensors)."""
    from .tensor import Tensor

    if isinstance(obj, Tensor):
        return obj
    desc = getattr(obj, "__cuda_array_interface__", None)  # (torch CPU tensors: AttributeError)
    if desc is not None or _is_numba_device_array(obj):
        return _from_cuda(obj, desc)
    if not hasattr(obj, "__dlpack_device__"):
        raise TypeError(f"from_dlpack: expected an object with __dlpack__ or "
                        f"__cuda_array_interface__, got {type(obj).__name__}")
    kind, index = obj.__dlpack_device__()
    if int(kind) != _DL_CPU:
        raise DeviceError(f"from_dlpack: DLPack device type {int(kind)} (index {index}) is not "
                          "readable by minidl; pass a CUDA array through "
                          "__cuda_array_interface__ instead")
    arr = np.from_dlpack(obj)
    _check("from_dlpack", arr.dtype, arr.shape, arr.flags.c_contiguous)
    return Tensor._wrap(arr, CPU)
