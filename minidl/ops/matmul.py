"""matmul: 1-D, 2-D and batched products with broadcast batch dims, as torch.matmul; linear:
y = x W^T + b as one fused backend `addmm` forward and backward (nn.Linear, F.linear)."""
from __future__ import annotations

from ..autograd import Op
from ..errors import DTypeError, ShapeError
from ._base import broadcast_shapes, same_device


class BatchedMatmul(Op):
    """C = A @ B for A [*, M, K], B [*, K, N] with equal batch dims; dA = G B^T, dB = A^T G."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None,
                              b if ctx.needs_input_grad[0] else None)
        sa = tuple(a.shape)  # a plain tuple: the simulator's shape refuses negative indices
        batch = sa[:-2]
        m, k, n = sa[-2], sa[-1], b.shape[len(sa) - 1]
        nb = 1
        for s in batch:
            nb *= s
        B = ctx.backend
        out = B.matmul(B.reshape(a, (nb, m, k)), B.reshape(b, (nb, k, n)))
        return B.reshape(out, batch + (m, n))

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        if g.ndim == 2:  # one product each through addmm's transpose flags, no transposed view
            B, gd = ctx.backend, g._data
            ga = B.addmm(None, gd, b._data, False, True) if ctx.needs_input_grad[0] else None
            gb = B.addmm(None, a._data, gd, True, False) if ctx.needs_input_grad[1] else None
            return ga, gb
        ga = BatchedMatmul.apply(g, b.transpose(-1, -2)) if ctx.needs_input_grad[0] else None
        gb = BatchedMatmul.apply(a.transpose(-1, -2), g) if ctx.needs_input_grad[1] else None
        return ga, gb


def matmul(a, b):
    """a @ b with torch.matmul's rules: 1-d operands are vectors, [.., n, k] @ [.., k, m] ->
    [.., n, m], batch dims broadcast."""
    same_device("matmul", a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    if not (a.dtype.is_floating_point and b.dtype.is_floating_point) or a.dtype is not b.dtype:
        raise DTypeError(f"matmul: expected both operands to have the same floating dtype, got "
                         f"{a.dtype} and {b.dtype}")
    va, vb = a.ndim == 1, b.ndim == 1
    A = a.unsqueeze(0) if va else a
    Bm = b.unsqueeze(-1) if vb else b
    if A.shape[-1] != Bm.shape[-2]:
        if a.ndim <= 2 and b.ndim <= 2:
            raise ShapeError(f"matmul: mat1 and mat2 shapes cannot be multiplied "
                             f"({'x'.join(map(str, A.shape))} and {'x'.join(map(str, Bm.shape))})")
        raise ShapeError(f"matmul: Expected size for first two dimensions of batch2 tensor to be: "
                         f"[*, {A.shape[-1]}] but got: {list(Bm.shape)}; shapes {list(a.shape)} "
                         f"and {list(b.shape)}")
    batch = broadcast_shapes("matmul", tuple(A.shape[:-2]), tuple(Bm.shape[:-2]))
    A = A.expand(*batch, *A.shape[-2:]) if tuple(A.shape[:-2]) != batch else A
    Bm = Bm.expand(*batch, *Bm.shape[-2:]) if tuple(Bm.shape[:-2]) != batch else Bm
    out = BatchedMatmul.apply(A, Bm)
    if va:
        out = out.squeeze(-2)
    if vb:
        out = out.squeeze(-1)
    return out


class Linear(Op):
    """y = x W^T + b for x [M, K], W [N, K], b [N];  dx = g W,  dW = g^T x,  db = sum_rows g.

    Each product is one backend addmm with transpose flags: no transposed copy of W or x is
    made, and the bias is added inside the forward GEMM's output."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None,
                              w if ctx.needs_input_grad[0] else None)
        return ctx.backend.addmm(b, x, w, False, True)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        B, gd = ctx.backend, g._data
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = B.addmm(None, gd, w._data, False, False)
        if ctx.needs_input_grad[1]:
            gw = B.addmm(None, gd, x._data, True, False)
        if ctx.needs_input_grad[2]:
            gb = B.reduce("sum", gd, (0,), False)
        return gx, gw, gb


def linear(input, weight, bias=None):
    """y = x W^T + b: input [*, in], weight [out, in], bias [out] or None -> [*, out]."""
    same_device("linear", *((input, weight) if bias is None else (input, weight, bias)))
    if weight.ndim != 2 or input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ShapeError(f"linear: input {list(input.shape)} and weight {list(weight.shape)}: "
                         f"expected weight [out_features, {input.shape[-1] if input.ndim else '?'}]"
                         f" (mat1 and mat2 shapes cannot be multiplied)")
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ShapeError(f"linear: expected bias of shape [{weight.shape[0]}], got "
                         f"{list(bias.shape)}")
    tensors = (input, weight) if bias is None else (input, weight, bias)
    if not all(t.dtype.is_floating_point for t in tensors) or \
            any(t.dtype is not input.dtype for t in tensors):
        got = ", ".join(f"{n} {t.dtype}" for n, t in zip(("input", "weight", "bias"), tensors))
        raise DTypeError(f"linear: expected input, weight and bias of one floating dtype, got "
                         f"{got}")
    if input.ndim == 2:
        return Linear.apply(input, weight, bias)
    lead = tuple(input.shape[:-1])
    y = Linear.apply(input.reshape(-1, input.shape[-1]), weight, bias)
    return y.reshape(lead + (weight.shape[0],))
