"""CUDA elementwise primitive: map(name, arrays, params) over scalar.FUNCTIONS with broadcasting."""
from __future__ import annotations

import numpy as np

from ...backend.shared import scalar
from ..kernels import elementwise as ek
from ._util import broadcast_strides, coalesce, flat, launch_1d, prod
from .memory import empty

__all__ = ["map"]


def map(name: str, arrays, params=()):
    """out = f(*arrays, *params) elementwise, inputs broadcast (any may be 0-d).

    Computes in the dtype T of the last operand (the others share it, except where's bool
    condition); params are cast to T.  Same-shaped inputs take the contiguous kernel; otherwise
    each input is read through its broadcast strides (0 on broadcast dims), after merging the
    dims every operand walks contiguously."""
    fn = scalar.FUNCTIONS[name]
    T = np.dtype(arrays[-1].dtype)
    _, out_dtype = ek.map_types(name, T)
    shape = tuple(np.broadcast_shapes(*[a.shape for a in arrays]))
    out = empty(shape, out_dtype)
    n = prod(shape)
    if n == 0:
        return out
    p = [T.type(v) for v in params] + [T.type(0)] * (2 - fn.nparams)
    xs = [flat(a) for a in arrays]
    if all(a.shape == shape for a in arrays):
        launch_1d(ek.map_kernel(name, T, 0), n, flat(out), *xs, *p)
        return out
    cs, csts = coalesce(shape, [broadcast_strides(a.shape, shape) for a in arrays], name)
    if len(cs) == 1 and all(st == (1,) for st in csts):
        launch_1d(ek.map_kernel(name, T, 0), n, flat(out), *xs, *p)
    else:
        launch_1d(ek.map_kernel(name, T, len(cs)), n, flat(out), *xs, *p, cs, *csts)
    return out
