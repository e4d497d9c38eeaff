"""Batch assembly: `default_collate` (stack samples into Tensors, recursing into tuples, lists,
dicts and namedtuples) and `default_convert` (numpy arrays -> Tensors, no batching).

Numbers and numpy arrays are stacked with numpy first and wrapped as a minidl Tensor once per
batch (no per-sample Tensor work). Numbers promote like torch.utils.data.default_collate: a batch
whose first sample is a Python float is float64; otherwise (ints, bools, numpy scalars) the dtype
is what torch.tensor(batch) infers: bools only -> bool, ints and bools -> int64, any float ->
float32 (or a numpy float64 scalar's float64), stored as minidl's nearest dtype. Strings and
bytes stay Python lists.
"""
from __future__ import annotations

import collections.abc
import numbers

import numpy as np

__all__ = ["default_collate", "default_convert"]


def _tensor_cls():
    from minidl import Tensor  # lazy: minidl.data must import without the core initialised
    return Tensor


def _is_tensor(x) -> bool:
    try:
        return isinstance(x, _tensor_cls())
    except ImportError:
        return False


def _from_numpy(arr: np.ndarray):
    import minidl
    return minidl.from_numpy(np.ascontiguousarray(arr))


def _stack_tensors(batch):
    import minidl
    devices = {str(t.device) for t in batch}
    if devices == {"cpu"} and not any(t.requires_grad for t in batch):
        return _from_numpy(np.stack([t.numpy() for t in batch]))
    if len(devices) > 1:
        from minidl.errors import DeviceError
        raise DeviceError(f"default_collate: samples are on different devices {sorted(devices)}")
    return minidl.stack(list(batch))


def _infer_numbers(batch) -> np.dtype:
    """torch.tensor's dtype for a list of Python/numpy scalars: promote by category (bool < int <
    float) and, within it, by width; a Python int counts as int64, a Python float as float32
    (PyTorch's default dtype)."""
    kind, size = "b", 1
    for v in batch:
        if isinstance(v, np.generic):
            k, n = v.dtype.kind, v.dtype.itemsize
        elif isinstance(v, bool):
            k, n = "b", 1
        elif isinstance(v, numbers.Integral):
            k, n = "i", 8
        elif isinstance(v, numbers.Real):
            k, n = "f", 4
        else:
            raise TypeError(f"default_collate: cannot mix {type(batch[0]).__name__} and "
                            f"{type(v).__name__} in one batch")
        k = "i" if k == "u" else k
        rank, new = "bif".index(kind), "bif".index(k)
        if new > rank:
            kind, size = k, n
        elif new == rank:
            size = max(size, n)
    return np.dtype(np.bool_) if kind == "b" else np.dtype(f"{kind}{size}")


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_convert(data):
    """numpy arrays (and numpy scalars) -> Tensors, recursing into containers; no batching."""
    if _is_tensor(data):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype.kind in "OUSV":
            return data
        return _from_numpy(data)
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _from_numpy(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            return type(data)({k: default_convert(v) for k, v in data.items()})
        except TypeError:
            return {k: default_convert(v) for k, v in data.items()}
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return [default_convert(d) for d in data]
    return data


def default_collate(batch):
    """Stack a list of samples into a batch.

    - Tensors, numpy arrays of shape S -> Tensor [B, *S]; numpy scalars -> Tensor [B]
    - numbers -> Tensor [B]: float64 if the first is a Python float, else torch.tensor's
      inference ([1, 2] int64, [1, 2.5] float32, [True, 2] int64, [True, False] bool)
    - str / bytes -> list; None -> list
    - Mapping -> same mapping type of collated values; namedtuple -> namedtuple;
      tuple / list of equal-length samples -> list of collated fields
    """
    if not isinstance(batch, (list, tuple)):
        raise TypeError(f"default_collate: expected a list of samples, got {type(batch).__name__}")
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    if _is_tensor(elem):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OUSV":
            raise TypeError(f"default_collate: numpy arrays of dtype {elem.dtype} cannot be "
                            "turned into Tensors")
        shapes = {a.shape for a in batch}
        if len(shapes) > 1:
            from minidl.errors import ShapeError
            raise ShapeError(f"default_collate: stack expects each array to be equal size, "
                             f"but got shapes {sorted(shapes)}")
        return _from_numpy(np.stack(batch))
    if isinstance(elem, np.generic) and elem.dtype.kind in "OUSV":
        return list(batch)
    if isinstance(elem, float):
        return _from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, (np.generic, numbers.Real)):
        return _from_numpy(np.array(batch, dtype=_infer_numbers(batch)))
    if isinstance(elem, (str, bytes)) or elem is None:
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        out = {k: default_collate([d[k] for d in batch]) for k in elem}
        try:
            return type(elem)(out)
        except TypeError:
            return out
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(s) != size for s in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return [default_collate(list(s)) for s in zip(*batch)]
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts "
                    f"or lists; found {type(elem).__name__}")
