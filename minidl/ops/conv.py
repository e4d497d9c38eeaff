"""conv2d: 2-D cross-correlation over NCHW input, with PyTorch's arguments, checks and gradients.

`conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)` validates every
argument (rank, channels, groups, geometry, dtype, device) before any backend call, then runs the
`Conv2d` Op, whose forward and backward call the backend primitives `conv2d`,
`conv2d_grad_input` and `conv2d_grad_weight` (see minidl.backend.contract).  The bias goes into
the backend's conv2d (fused into the output write); its gradient is a sum over N, H, W.
`scatter_weight` builds a dense kernel from compact weights (SparseConv2d).  What does not live
here: the nn.Conv2d layer (minidl/nn/conv.py) and the algorithms (backend/cpu/conv.py,
cuda/kernels/conv.py).
"""
from __future__ import annotations

from ..autograd import Op
from ..backend.shared.geometry import pair
from ..errors import DTypeError, ShapeError
# not `from .. import tensor`: imported after minidl/__init__ ran, that name is creation.tensor
from ..tensor import Tensor
from ._base import same_device

__all__ = ["Conv2d", "conv2d", "ScatterWeight", "scatter_weight"]


class Conv2d(Op):
    """y = x (*) w + b;  dx = g (*)^T w,  dw = sum_n g (*) x,  db = sum_{n,h,w} g."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        out = ctx.backend.conv2d(x, w, stride, padding, dilation, groups, b)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        ctx.geom = (stride, padding, dilation, groups)
        ctx.x_shape, ctx.w_shape = tuple(x.shape), tuple(w.shape)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        B = ctx.backend
        stride, padding, dilation, groups = ctx.geom
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = B.conv2d_grad_input(g._data, w._data, ctx.x_shape, stride, padding, dilation,
                                     groups)
        if ctx.needs_input_grad[1]:
            gw = B.conv2d_grad_weight(g._data, x._data, ctx.w_shape, stride, padding, dilation,
                                      groups)
        if ctx.needs_input_grad[2]:
            gb = B.reduce("sum", g._data, (0, 2, 3), False)
        return gx, gw, gb, None, None, None, None


def _shape(t) -> str:
    return str(list(t.shape))


def _padding(padding, stride, dilation, ksize) -> tuple:
    """User padding -> ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding != "same":
            raise ShapeError(f"conv2d: invalid padding string '{padding}', should be one of "
                             "{'valid', 'same'}")
        if stride != (1, 1):
            raise ShapeError(f"conv2d: padding='same' is not supported for strided convolutions "
                             f"(got stride {stride})")
        out = []
        for d, k in zip(dilation, ksize):
            total = d * (k - 1)  # PyTorch: the odd extra goes to the bottom/right
            out.append((total // 2, total - total // 2))
        return tuple(out)
    ph, pw = pair(padding, "conv2d", "padding")
    if ph < 0 or pw < 0:
        raise ShapeError(f"conv2d: negative padding is not supported, got padding {(ph, pw)}")
    return ((ph, ph), (pw, pw))


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as torch.nn.functional.conv2d.

    input [N, C, H, W] (or unbatched [C, H, W]), weight [Co, C/groups, kh, kw], bias [Co] or
    None -> [N, Co, Ho, Wo] with Ho = (H + 2*ph - dh*(kh-1) - 1) // sh + 1 (likewise Wo).
    stride, padding, dilation: int or (h, w) pair; padding may be "valid" (0) or "same" (output
    size = input size; stride must be 1; an odd total padding puts the extra row/column at the
    bottom/right, like PyTorch).  groups splits the channels into independent convolutions
    (AlexNet's two towers: 2; depthwise: C).
    """
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, Tensor):
            raise TypeError(f"conv2d: {name} must be a Tensor, got {type(t).__name__}")
    if bias is not None and not isinstance(bias, Tensor):
        raise TypeError(f"conv2d: bias must be a Tensor or None, got {type(bias).__name__}")
    if weight.ndim != 4:
        raise ShapeError(f"conv2d: expected 4-D weight [out_channels, in_channels/groups, kH, kW], "
                         f"got weight {_shape(weight)}")
    if input.ndim not in (3, 4):
        raise ShapeError(f"conv2d: expected 4-D input [N, C, H, W] (or 3-D unbatched), got input "
                         f"{_shape(input)}")
    tensors = (input, weight) if bias is None else (input, weight, bias)
    same_device("conv2d", *tensors)
    if not all(t.dtype.is_floating_point for t in tensors) or \
            any(t.dtype is not input.dtype for t in tensors):
        got = ", ".join(f"{n} {t.dtype}" for n, t in zip(("input", "weight", "bias"), tensors))
        raise DTypeError(f"conv2d: expected input, weight and bias of one floating dtype "
                         f"(float32 or float64), got {got}")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ShapeError(f"conv2d: groups must be a positive int, got {groups!r}")
    stride = pair(stride, "conv2d", "stride")
    dilation = pair(dilation, "conv2d", "dilation")
    if min(stride) < 1:
        raise ShapeError(f"conv2d: stride must be positive, got stride {stride}")
    if min(dilation) < 1:
        raise ShapeError(f"conv2d: dilation must be positive, got dilation {dilation}")
    co, cg, kh, kw = weight.shape
    if kh < 1 or kw < 1:
        raise ShapeError(f"conv2d: kernel size should be greater than zero, but got weight "
                         f"{_shape(weight)}")
    pad = _padding(padding, stride, dilation, (kh, kw))
    x = input.unsqueeze(0) if input.ndim == 3 else input
    n, c, h, w = x.shape
    if co % groups:
        raise ShapeError(f"conv2d: weight {_shape(weight)} has {co} output channels, which is not "
                         f"divisible by groups={groups}")
    if cg * groups != c:
        extra = f" (groups={groups})" if groups != 1 else ""
        raise ShapeError(f"conv2d: weight {_shape(weight)} expects input with {cg * groups} "
                         f"channels{extra}, got input {_shape(input)}")
    eff = (dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1)
    padded = (h + pad[0][0] + pad[0][1], w + pad[1][0] + pad[1][1])
    if eff[0] > padded[0] or eff[1] > padded[1]:
        raise ShapeError(f"conv2d: kernel size (dilated) {eff} can't be greater than the padded "
                         f"input size {padded}; input {_shape(input)}, weight {_shape(weight)}, "
                         f"padding {pad}, dilation {dilation}")
    if bias is not None and tuple(bias.shape) != (co,):
        raise ShapeError(f"conv2d: bias {_shape(bias)} must have shape [{co}] (the weight "
                         f"{_shape(weight)} has {co} output channels)")
    out = Conv2d.apply(x, weight, bias, stride, pad, dilation, groups)
    return out.squeeze(0) if input.ndim == 3 else out


class ScatterWeight(Op):
    """dense.flat[index] = w (zeros elsewhere);  dw = g.flat[index]."""

    @staticmethod
    def forward(ctx, w, index, shape):
        B = ctx.backend
        dense = B.full(shape, 0, w.dtype)
        B.put_(dense, index, w)
        ctx.index = index
        return dense

    @staticmethod
    def backward(ctx, g):
        B = ctx.backend
        n = 1
        for s in g.shape:
            n *= s
        return B.take(B.reshape(g._data, (n,)), ctx.index), None, None


def scatter_weight(weight, index, shape):
    """A dense kernel of `shape` holding weight's elements at the flat positions `index`
    (int64, weight's shape, distinct) and zeros elsewhere; differentiable in `weight`.  One op
    (SparseConv2d's connection table: the index map is built once, on the weight's device)."""
    same_device("scatter_weight", weight, index)
    if tuple(index.shape) != tuple(weight.shape):
        raise ShapeError(f"scatter_weight: index {_shape(index)} must have weight's shape "
                         f"{_shape(weight)}")
    return ScatterWeight.apply(weight, index, tuple(int(s) for s in shape))
