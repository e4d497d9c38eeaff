"""CUDA launchers for the convolution primitives: conv2d, conv2d_grad_input, conv2d_grad_weight.
Kernels (implicit GEMMs, groups in blockIdx.z): minidl.cuda.kernels.conv.

Launchers only pick the tile config and grid, allocate outputs and launch; geometry was
validated by minidl.ops.conv.  Zero-size outputs launch nothing; an empty reduction (no input
channels, or no output pixels) gives zeros.  grad_weight splits its N*Ho*Wo reduction into S
slices when the [Co, K] output alone would not fill the GPU, then sums the S partials in a fixed
order (deterministic); everything stays on the device.
"""
from __future__ import annotations

from ...errors import ShapeError
from ..kernels import conv as ck
from ..kernels._common import SIMULATOR, sm_count
from . import elementwise
from .memory import empty, full, reshape

__all__ = ["conv2d", "conv2d_grad_input", "conv2d_grad_weight"]

_MAX_YZ = 65535
_MAX_X = (1 << 31) - 1
# grad_weight split-K: aim for this many blocks per SM, with at least this many k-tiles per slice
_BLOCKS_PER_SM = 4
_MIN_KTILES = 2 if SIMULATOR else 8
# tests set this to force a number of slices (None: chosen from the GPU size)
_force_splits: int | None = None


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _grid(op: str, nx: int, ny: int, nz: int) -> tuple[int, int, int]:
    if nx > _MAX_X or ny > _MAX_YZ or nz > _MAX_YZ:
        raise ShapeError(f"{op}: problem too large for one CUDA launch (grid {nx} x {ny} x {nz})")
    return nx, ny, nz


def _geom(stride, padding, dilation):
    (sh, sw), ((pt, _), (pl, _)), (dh, dw) = stride, padding, dilation
    return int(sh), int(sw), int(pt), int(pl), int(dh), int(dw)


def _flat(a):
    return a.reshape(a.size)


_MAX_ELEMS = 1 << 31


def _check_size(op, *arrays):
    """The conv kernels index with 32-bit offsets: every operand below 2**31 elements."""
    for a in arrays:
        if a.size >= _MAX_ELEMS:
            raise ShapeError(f"{op}: the CUDA kernels support tensors of at most "
                             f"{_MAX_ELEMS - 1} elements, got {list(a.shape)}; split the batch")


def _launch(kernel_for, op, rows, cols, out, a, w, x_shape, w_shape, y_shape, stride, padding,
            dilation, groups, allow_big=True, allow_thin=True, bias=(), **variant):
    """kernel(out, a, w, geometry) for ck.fwd_kernel / ck.grad_input_kernel, whose GEMM output
    per group is `rows` x `cols`: tile config by shape, grid (cols/BN, rows/BM, groups)."""
    _check_size(op, out, a, w)
    _, cfg = ck.config(out.dtype, rows, cols=cols, groups=int(groups), allow_big=allow_big,
                       allow_thin=allow_thin)
    BM, BN = cfg[:2]
    grid = _grid(op, _cdiv(cols, BN), _cdiv(rows, BM), int(groups))
    # bias: () for grad-input; (bias or None,) for the forward, whose kernel adds it (the
    # variant without one takes `out` in its place and never reads it)
    if bias:
        variant["bias"] = bias[0] is not None
    pre = tuple(_flat(out if b is None else b) for b in bias)
    kernel_for(out.dtype, cfg, **variant)[grid, ck.threads(cfg)](
        _flat(out), _flat(a), _flat(w), *pre, *_dims(x_shape, w_shape, y_shape),
        *_geom(stride, padding, dilation), int(groups))


def _dims(x_shape, w_shape, y_shape):
    """N, C, H, W, Co, Cg, kh, kw, Ho, Wo as the kernels take them."""
    return (*(int(s) for s in x_shape), *(int(s) for s in w_shape),
            int(y_shape[2]), int(y_shape[3]))


def conv2d(x, w, stride, padding, dilation, groups, bias=None):
    N, C, H, W = (int(s) for s in x.shape)
    Co, Cg, kh, kw = (int(s) for s in w.shape)
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dwl) = stride, padding, dilation
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dwl * (kw - 1) - 1) // sw + 1
    if N * Co * Ho * Wo == 0 or Cg * kh * kw == 0:
        out = full((N, Co, Ho, Wo), 0, x.dtype)
        if bias is not None and out.size:
            out = elementwise.map("add", [out, reshape(bias, (1, Co, 1, 1))])
        return out
    out = empty((N, Co, Ho, Wo), x.dtype)
    _launch(ck.fwd_kernel, "conv2d", Co // groups, N * Ho * Wo, out, x, w, x.shape, w.shape,
            out.shape, stride, padding, dilation, groups, bias=(bias,),
            masks=kh * kw <= ck.MAX_MASK_TAPS)
    return out


def conv2d_grad_input(g, w, x_shape, stride, padding, dilation, groups):
    N, C, H, W = (int(s) for s in x_shape)
    Co, Cg, kh, kw = (int(s) for s in w.shape)
    if N * C * H * W == 0 or g.size == 0:
        return full((N, C, H, W), 0, g.dtype)
    dx = empty((N, C, H, W), g.dtype)
    unit = tuple(int(s) for s in stride) == (1, 1)
    masks = kh * kw <= ck.MAX_MASK_TAPS
    _launch(ck.grad_input_kernel, "conv2d_grad_input", Cg, N * H * W, dx, g, w, x_shape,
            w.shape, g.shape, stride, padding, dilation, groups, allow_big=unit,
            allow_thin=unit or masks, unit_stride=unit, masks=masks)
    return dx


def _splits(P: int, BK: int, tiles: int, groups: int) -> int:
    """Slices of the N*Ho*Wo reduction: enough blocks for the GPU, >= _MIN_KTILES k-tiles each."""
    ktiles = _cdiv(P, BK)
    if _force_splits is not None:
        s = _force_splits
    else:
        s = min(_cdiv(_BLOCKS_PER_SM * sm_count(), tiles), ktiles // _MIN_KTILES)
    return max(1, min(s, ktiles, _MAX_YZ // groups))


def conv2d_grad_weight(g, x, w_shape, stride, padding, dilation, groups):
    N, C, H, W = (int(s) for s in x.shape)
    Co, Cg, kh, kw = (int(s) for s in w_shape)
    Ho, Wo = int(g.shape[2]), int(g.shape[3])
    K, P, groups = Cg * kh * kw, N * Ho * Wo, int(groups)
    if Co * K == 0 or P == 0:
        return full((Co, Cg, kh, kw), 0, g.dtype)
    dw = empty((Co, Cg, kh, kw), g.dtype)
    Cog = Co // groups
    # split-K supplies blocks: "big" if its tiles times the most slices fill the GPU
    _, cfg = ck.config(g.dtype, Cog, cols=K, groups=groups,
                       splits=max(1, P // (_MIN_KTILES * 8)))
    BM, BN, BK = cfg[:3]
    nx, ny = _cdiv(K, BN), _cdiv(Cog, BM)
    S = _splits(P, BK, nx * ny * groups, groups)
    pchunk = _cdiv(_cdiv(P, BK), S) * BK
    S = _cdiv(P, pchunk)  # no empty slice
    part = dw.reshape(1, Co, K) if S == 1 else empty((S, Co, K), g.dtype)
    grid = _grid("conv2d_grad_weight", nx, ny, groups * S)
    _check_size("conv2d_grad_weight", g, x, dw)
    ck.grad_weight_kernel(g.dtype, cfg)[grid, ck.threads(cfg)](
        _flat(part), _flat(g), _flat(x), *_dims(x.shape, w_shape, g.shape),
        *_geom(stride, padding, dilation), groups, S, pchunk)
    if S > 1:
        n = Co * K
        blocks = min(_cdiv(n, ck.WSUM_THREADS), 2 if SIMULATOR else 32 * sm_count())
        ck.wsum_kernel(g.dtype)[blocks, ck.WSUM_THREADS](dw.reshape(n), part.reshape(S, n))
    return dw
