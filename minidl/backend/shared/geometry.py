"""Window and argument geometry written once for the ops and both backends: `pair`, the one
int-or-pair parser of kernel/stride/padding/dilation (and image size) arguments, and the
average-pool window with PyTorch's divisor rule.

Only integer arithmetic; no arrays.  `avg_window` is a plain scalar function that each backend
compiles for its target (njit on the CPU, cuda.jit(device=True) on the GPU).  Output sizes:
pool_geometry.py.
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
