"""Pooling geometry shared by the ops (argument checks) and every backend (output sizes).

Only integer arithmetic on the host; no arrays.  PyTorch's rules:
  out = floor_or_ceil((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1
and with ceil_mode the last window must start inside the input or the left padding
(otherwise it is dropped: `(out - 1) * stride >= size + pad` -> out - 1).
"""
from __future__ import annotations


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
