"""Pooling ops over [N, C, H, W] (or unbatched [C, H, W]): max_pool2d (+ indices), avg_pool2d and
adaptive_avg_pool2d, with PyTorch's argument rules, checked before any launch.

Forward and backward call the backend primitives `max_pool2d`/`max_pool2d_grad` and
`avg_pool2d`/`avg_pool2d_grad`; both backward passes are deterministic (no atomics).
adaptive_avg_pool2d is an avg_pool2d when the windows tile the input evenly, else one mean per
window and dim (its windows have varying sizes and may overlap; not a matmul with an averaging
matrix, whose zeros would spread a NaN/inf to every window: 0 * NaN).
What does not live here: the loops and kernels (minidl.backend.cpu.nn, minidl.cuda.kernels.pool),
output-size arithmetic (minidl.backend.shared.pool_geometry).
"""
from __future__ import annotations

import numbers

from ..autograd import Op
from ..backend.shared.geometry import pair
from ..backend.shared.pool_geometry import adaptive_bounds, pool_output_hw
from ..errors import DTypeError, ShapeError
from .movement import cat


def _check_input(op: str, x) -> None:
    if x.ndim not in (3, 4) or any(n == 0 for n in x.shape[-3:]):
        raise ShapeError(f"{op}: expected a non-empty 3D [C, H, W] or 4D [N, C, H, W] input, got "
                         f"input {list(x.shape)}")
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating point input (float32 or float64), got "
                         f"{x.dtype}")


def _fmt(p) -> str:
    return f"({p[0]}, {p[1]})"


def _geometry(op: str, x, kernel_size, stride, padding, dilation, ceil_mode):
    """Validated (kernel, stride, padding, dilation, (OH, OW)); errors like PyTorch's."""
    _check_input(op, x)
    kernel = pair(kernel_size, op, "kernel_size")
    stride = kernel if stride is None or (not isinstance(stride, numbers.Integral)
                                          and len(tuple(stride)) == 0) \
        else pair(stride, op, "stride")
    padding = pair(padding, op, "padding")
    dilation = pair(dilation, op, "dilation")
    if min(kernel) <= 0:
        raise ShapeError(f"{op}: kernel_size must be greater than zero, but got {_fmt(kernel)}")
    if min(stride) <= 0:
        raise ShapeError(f"{op}: stride must be greater than zero, but got {_fmt(stride)}")
    if min(dilation) <= 0:
        raise ShapeError(f"{op}: dilation must be greater than zero, but got {_fmt(dilation)}")
    if min(padding) < 0:
        raise ShapeError(f"{op}: padding must be non-negative, but got {_fmt(padding)}")
    for k, p, d in zip(kernel, padding, dilation):
        if p > k // 2:
            raise ShapeError(f"{op}: pad should be at most half of effective kernel size, but got "
                             f"pad={p}, kernel_size={k} and dilation={d}")
    H, W = x.shape[-2:]
    OH, OW = pool_output_hw(H, W, kernel, stride, padding, dilation, bool(ceil_mode))
    if OH < 1 or OW < 1:
        lead = list(x.shape[:-2])
        keff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        raise ShapeError(f"{op}: output size is too small: computed output {lead + [OH, OW]} for "
                         f"input {list(x.shape)}; the (dilated) kernel {keff[0]}x{keff[1]} is "
                         f"larger than the padded input {H + 2 * padding[0]}x"
                         f"{W + 2 * padding[1]}")
    return kernel, stride, padding, dilation, (OH, OW)


def _batched(x):
    """x as 4-D, and whether it was unbatched."""
    return (x.unsqueeze(0), True) if x.ndim == 3 else (x, False)


# ---- max pooling -------------------------------------------------------------------------------
class MaxPool2d(Op):
    """out = max over each window; dx[p] = sum of g over the windows whose argmax is p."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode):
        out, idx = ctx.backend.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(idx)
        ctx.geom = (tuple(x.shape), kernel, stride, padding, dilation)
        ctx.mark_non_differentiable(idx)
        ctx.set_materialize_grads(False)  # never build a zero gradient for the int64 indices
        return out, idx

    @staticmethod
    def backward(ctx, g, _gidx):
        (idx,) = ctx.saved_tensors
        x_shape, kernel, stride, padding, dilation = ctx.geom
        gx = ctx.backend.max_pool2d_grad(g.contiguous()._data, idx._data, x_shape, kernel, stride,
                                         padding, dilation)
        return gx, None, None, None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling of [N, C, H, W] (or [C, H, W]) -> [N, C, OH, OW] (+ int64 indices into
    each H x W plane when return_indices)."""
    op = "max_pool2d"
    kernel, stride, padding, dilation, _ = _geometry(op, input, kernel_size, stride, padding,
                                                     dilation, ceil_mode)
    x, unbatched = _batched(input)
    out, idx = MaxPool2d.apply(x, kernel, stride, padding, dilation, bool(ceil_mode))
    if unbatched:
        out, idx = out.squeeze(0), idx.squeeze(0)
    return (out, idx) if return_indices else out


# ---- average pooling ---------------------------------------------------------------------------
class AvgPool2d(Op):
    """out = window sum / divisor; dx[p] = sum of g / divisor over the windows holding p."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        out = ctx.backend.avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
                                     divisor_override)
        ctx.geom = (tuple(x.shape), kernel, stride, padding, count_include_pad, divisor_override)
        return out

    @staticmethod
    def backward(ctx, g):
        x_shape, kernel, stride, padding, include_pad, override = ctx.geom
        gx = ctx.backend.avg_pool2d_grad(g.contiguous()._data, x_shape, kernel, stride, padding,
                                         include_pad, override)
        return gx, None, None, None, None, None, None


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling of [N, C, H, W] (or [C, H, W]) -> [N, C, OH, OW]."""
    op = "avg_pool2d"
    kernel, stride, padding, _, _ = _geometry(op, input, kernel_size, stride, padding, 1,
                                              ceil_mode)
    if divisor_override is not None:
        if not isinstance(divisor_override, numbers.Integral) or divisor_override == 0:
            raise ShapeError(f"{op}: divisor must be not zero (a non-zero int), got "
                             f"{divisor_override!r}")
        divisor_override = int(divisor_override)
    x, unbatched = _batched(input)
    out = AvgPool2d.apply(x, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad),
                          divisor_override)
    return out.squeeze(0) if unbatched else out


# ---- adaptive average pooling ------------------------------------------------------------------
def _adaptive_means(x, dim: int, out: int):
    """The means of the `out` adaptive windows along `dim` (-1 or -2; PyTorch's bounds)."""
    size = x.shape[dim]
    parts = []
    for i in range(out):
        s, e = adaptive_bounds(i, size, out)
        parts.append((x[..., s:e] if dim == -1 else x[..., s:e, :]).mean(dim, keepdim=True))
    return cat(parts, dim)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed [OH, OW] (None keeps that input size): window i spans
    [floor(i H / OH), ceil((i + 1) H / OH))."""
    op = "adaptive_avg_pool2d"
    _check_input(op, input)
    if isinstance(output_size, numbers.Integral) or output_size is None:
        output_size = (output_size, output_size)
    output_size = tuple(output_size)
    if len(output_size) != 2:
        raise ShapeError(f"{op}: output_size must be an int or a pair, got {output_size!r}")
    H, W = input.shape[-2:]
    OH = H if output_size[0] is None else int(output_size[0])
    OW = W if output_size[1] is None else int(output_size[1])
    if OH < 1 or OW < 1:
        raise ShapeError(f"{op}: output_size must be positive, got {[OH, OW]} for input "
                         f"{list(input.shape)}")
    x, unbatched = _batched(input)
    if H % OH == 0 and W % OW == 0:
        out = avg_pool2d(x, (H // OH, W // OW))
    else:
        out = _adaptive_means(_adaptive_means(x, -1, OW), -2, OH)
    return out.squeeze(0) if unbatched else out
