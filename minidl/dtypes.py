"""The four tensor dtypes, their numpy twins, and PyTorch's type-promotion rules."""
from __future__ import annotations

import numpy as np

from .errors import DTypeError


class DType:
    """A tensor element type; `np` is the numpy dtype used for storage."""

    __slots__ = ("name", "np", "is_floating_point", "itemsize", "_rank")

    def __init__(self, name: str, np_dtype, is_float: bool, rank: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = is_float
        self.itemsize = self.np.itemsize
        self._rank = rank  # promotion order: bool < int64 < float32 < float64

    def __repr__(self) -> str:
        return f"minidl.{self.name}"

    def __reduce__(self):
        return (from_name, (self.name,))


bool_ = DType("bool", np.bool_, False, 0)
"""Boolean elements (numpy bool_); no gradients."""
int64 = DType("int64", np.int64, False, 1)
"""64-bit integer elements (indices, labels); no gradients."""
float32 = DType("float32", np.float32, True, 2)
"""32-bit floating point, the default dtype."""
float64 = DType("float64", np.float64, True, 3)
"""64-bit floating point (gradcheck needs it)."""

ALL = (bool_, int64, float32, float64)
"""The four dtypes, in promotion order: bool_, int64, float32, float64."""
_BY_NP = {d.np: d for d in ALL}
_BY_NAME = {d.name: d for d in ALL}
_BY_NAME.update({"float": float32, "double": float64, "long": int64, "bool_": bool_,
                 "int": int64})


def from_name(name: str) -> DType:
    """The dtype called `name` ("float32", "float", "double", "long", "int", "bool", ...)."""
    return _BY_NAME[name]


def to_dtype(d) -> DType:
    """Accept a DType, numpy dtype/type, or name ("float32"); reject what minidl cannot store."""
    if isinstance(d, DType):
        return d
    if isinstance(d, str) and d in _BY_NAME:
        return _BY_NAME[d]
    if d is float:
        return float32
    if d is int:
        return int64
    if d is bool:
        return bool_
    try:
        npd = np.dtype(d)
    except TypeError:
        raise DTypeError(f"unsupported dtype {d!r}; minidl supports float32, float64, int64, bool")
    if npd in _BY_NP:
        return _BY_NP[npd]
    if npd.kind in "iu":
        return int64
    if npd.kind == "f":
        return float32 if npd.itemsize <= 4 else float64
    raise DTypeError(f"unsupported dtype {npd}; minidl supports float32, float64, int64, bool")


def from_numpy_dtype(npd) -> DType:
    """The dtype a numpy array is stored as (float16 -> float32, int8..uint32 -> int64)."""
    return to_dtype(npd)


def promote(a: DType, b: DType) -> DType:
    """Result dtype of a binary op between two tensors (PyTorch's ordering of the four types)."""
    return a if a._rank >= b._rank else b


def promote_scalar(t: DType, value) -> DType:
    """Result dtype of tensor (op) python scalar: the scalar only lifts the category (like
    torch)."""
    if isinstance(value, bool):
        return t
    if isinstance(value, int):
        return int64 if t is bool_ else t
    if isinstance(value, float):
        return t if t.is_floating_point else float32
    raise DTypeError(f"unsupported scalar of type {type(value).__name__}")
