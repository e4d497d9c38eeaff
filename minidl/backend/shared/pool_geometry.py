"""Pooling geometry shared by the ops (argument checks) and every backend (output sizes, the
average-pool window), plus `pair`, the one int-or-pair argument parser of conv/pool arguments.

Only integer arithmetic; no arrays.  `avg_window` is a plain scalar function that each backend
compiles for its target (njit on the CPU, cuda.jit(device=True) on the GPU).  PyTorch's rules:
  out = floor_or_ceil((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1
and with ceil_mode the last window must start inside the input or the left padding
(otherwise it is dropped: `(out - 1) * stride >= size + pad` -> out - 1).
"""
from __future__ import annotations

import numbers

from ...errors import ShapeError


def pair(value, op: str, name: str) -> tuple[int, int]:
    """An int or a sequence of 1 or 2 ints (not bools) -> (h, w); ShapeError naming `op` and
    the argument `name` otherwise."""
    vals = (value,) if isinstance(value, numbers.Integral) else value
    if isinstance(vals, (tuple, list)) and len(vals) in (1, 2) and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in vals):
        return int(vals[0]), int(vals[-1])
    raise ShapeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")


def pool_output_size(size: int, kernel: int, stride: int, pad: int, dilation: int,
                     ceil_mode: bool) -> int:
    """Output length of one pooled dimension (may be <= 0: the caller reports it)."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1  # ceil division, also right for negative spans
        if (out - 1) * stride >= size + pad:
            out -= 1
    else:
        out = span // stride + 1
    return out


def pool_output_hw(h: int, w: int, kernel, stride, padding, dilation, ceil_mode) -> tuple:
    """(OH, OW) for (kh, kw), (sh, sw), (ph, pw), (dh, dw) pairs."""
    return (pool_output_size(h, kernel[0], stride[0], padding[0], dilation[0], ceil_mode),
            pool_output_size(w, kernel[1], stride[1], padding[1], dilation[1], ceil_mode))


def adaptive_bounds(i: int, size: int, out: int) -> tuple[int, int]:
    """[start, end) of adaptive window i: floor(i*size/out), ceil((i+1)*size/out) (PyTorch)."""
    return (i * size) // out, -(-((i + 1) * size) // out)


def avg_window(oh, ow, H, W, KH, KW, SH, SW, PH, PW, include_pad, override):
    """(h0, h1, w0, w1, divisor) of average-pool window (oh, ow): the window clipped to the
    input, and PyTorch's divisor (override if > 0, else the window clipped to the padded input
    when include_pad, else the clipped window's size)."""
    hs = oh * SH - PH
    ws = ow * SW - PW
    he = min(hs + KH, H + PH)
    we = min(ws + KW, W + PW)
    pool = (he - hs) * (we - ws)
    hs = max(hs, 0)
    ws = max(ws, 0)
    he = min(he, H)
    we = min(we, W)
    if override > 0:
        div = override
    elif include_pad:
        div = pool
    else:
        div = (he - hs) * (we - ws)
    return hs, he, ws, we, div


def divisor_arg(divisor_override) -> int:
    """avg_pool2d's divisor_override as the kernels' int argument (0: none)."""
    return 0 if divisor_override is None else int(divisor_override)
