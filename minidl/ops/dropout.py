"""Dropout ops: inverted dropout (`dropout`) and channel dropout (`dropout2d`).

The keep mask is drawn on the tensor's device by the backend's `dropout_mask` from the
counter-based generator (minidl.backend.shared.counter_rng): counters are reserved from
minidl.random.default_generator, so the same seed gives the same mask on CPU and CUDA, and
`manual_seed` / `set_rng_state` reproduce or resume it.  The output is x * mask (the Mul op), so
the backward is g * mask.
What does not live here: the modules (minidl.nn.dropout), the kernel (minidl.cuda.kernels.dropout).
"""
from __future__ import annotations

from .. import random as _rnd
from ..device import backend_for
from ..errors import DTypeError, ShapeError
# not `from .. import tensor`: imported after minidl/__init__ ran, that name is creation.tensor
from ..tensor import Tensor as _Tensor


def _check(op, input, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if not input.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating point input (float32 or float64), got "
                         f"{input.dtype}")


def _mask(input, shape, p, generator=None):
    """Scaled keep mask of `shape` on input's device, from len(mask) reserved counters."""
    gen = generator or _rnd.default_generator
    n = 1
    for s in shape:
        n *= s
    seed, offset = gen._take(n)
    dev = input._device
    mask = backend_for(dev).dropout_mask(tuple(shape), float(p), seed, offset, input.dtype.np)
    return _Tensor._wrap(mask, dev)


def _apply(input, mask, inplace, op):
    if inplace:
        return input._inplace(op, lambda s: s * mask)
    return input * mask


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False,
            generator=None):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training only)."""
    op = "dropout"
    _check(op, input, p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    return _apply(input, _mask(input, input.shape, p, generator), inplace, op + "_")


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False,
              generator=None):
    """Zero whole channels of [N, C, H, W] (or [N, C, L]) with probability p, scaling the kept
    channels by 1 / (1 - p); one mask value per (n, c)."""
    op = "dropout2d"
    _check(op, input, p)
    if input.ndim not in (3, 4):
        raise ShapeError(f"{op}: expected a 3D [N, C, L] or 4D [N, C, H, W] input, got input "
                         f"{list(input.shape)}")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return _apply(input, _mask(input, shape, p, generator), inplace, op + "_")
