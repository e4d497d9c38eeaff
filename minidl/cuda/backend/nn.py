"""CUDA launchers for the neural-network primitives: max/avg pooling (+ gather-form backward),
local response normalisation (+ backward), log-softmax over the last axis (+ backward) and
dropout masks.  Kernels: minidl.cuda.kernels.{pool, lrn, softmax, dropout}.

Launchers only allocate outputs, flatten C-contiguous inputs and launch; arguments were
validated by minidl.ops before any launch.  Geometry scalars go to the kernels as int64, float
parameters as the array's dtype (computed on the host, as the CPU backend does).
"""
from __future__ import annotations

import numpy as np

from ...backend.shared.dropout import dropout_params
from ...backend.shared.geometry import divisor_arg
from ...backend.shared.pool_geometry import pool_output_hw
from .. import checks
from ..kernels import dropout as dk
from ..kernels import loss as ck
from ..kernels import lrn as lk
from ..kernels import pool as pk
from ..kernels import reduce as rk
from ..kernels import softmax as sk
from ..kernels._common import SIMULATOR
from ._util import flat, launch_1d, launch_counter_rng, prod
from .memory import empty, full

__all__ = ["max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad", "lrn", "lrn_grad",
           "log_softmax", "log_softmax_grad", "dropout_mask"]
__all__ += ["cross_entropy", "cross_entropy_grad", "check_class_targets"]

# Row kernels: one block per row up to this many blocks, then blocks loop over rows.  The
# simulator uses 2 so tiny tests exercise the loop.
_MAX_ROW_BLOCKS = 2 if SIMULATOR else 1 << 20


def _geom(x_shape, out_hw, kernel, stride, padding):
    N, C, H, W = (int(s) for s in x_shape)
    return (N * C, H, W, int(out_hw[0]), int(out_hw[1]), int(kernel[0]), int(kernel[1]),
            int(stride[0]), int(stride[1]), int(padding[0]), int(padding[1]))


def _windows(k, s, d) -> int:
    """Most windows (along one dim) that can hold one input position: (k-1)*d // s + 1."""
    return (int(k) - 1) * int(d) // int(s) + 1


# ---- pooling -----------------------------------------------------------------------------------
def max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, kernel, stride, padding, dilation, ceil_mode)
    out = empty((N, C, OH, OW), x.dtype)
    idx = empty((N, C, OH, OW), np.int64)
    if out.size:
        launch_1d(pk.pool_kernel("max_pool_fwd", x.dtype), out.size, flat(out), flat(idx),
                  flat(x), *_geom(x.shape, (OH, OW), kernel, stride, padding),
                  int(dilation[0]), int(dilation[1]))
    return out, idx


def max_pool2d_grad(g, indices, x_shape, kernel, stride, padding, dilation):
    if g.size == 0 or prod(x_shape) == 0:  # no windows: zeros (or an empty gradient)
        return full(tuple(x_shape), 0, g.dtype)
    gx = empty(tuple(x_shape), g.dtype)
    N, C, H, W = (int(v) for v in x_shape)
    OH, OW = int(g.shape[2]), int(g.shape[3])
    launch_1d(pk.pool_kernel("max_pool_bwd", g.dtype), gx.size, flat(gx), flat(g),
              flat(indices), N * C, H, W, OH, OW, int(stride[0]), int(stride[1]),
              int(padding[0]), int(padding[1]), _windows(kernel[0], stride[0], dilation[0]),
              _windows(kernel[1], stride[1], dilation[1]))
    return gx


def avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, kernel, stride, padding, (1, 1), ceil_mode)
    out = empty((N, C, OH, OW), x.dtype)
    if out.size:
        launch_1d(pk.pool_kernel("avg_pool_fwd", x.dtype), out.size, flat(out), flat(x),
                  *_geom(x.shape, (OH, OW), kernel, stride, padding), bool(count_include_pad),
                  divisor_arg(divisor_override))
    return out


def avg_pool2d_grad(g, x_shape, kernel, stride, padding, count_include_pad, divisor_override):
    if g.size == 0 or prod(x_shape) == 0:  # no windows: zeros (or an empty gradient)
        return full(tuple(x_shape), 0, g.dtype)
    gx = empty(tuple(x_shape), g.dtype)
    # g / divisor per window first (one thread per output), then the gather sums
    geom = _geom(x_shape, g.shape[2:], kernel, stride, padding)
    gs = empty(g.shape, g.dtype)
    launch_1d(pk.pool_kernel("avg_pool_scale", g.dtype), g.size, flat(gs), flat(g), *geom,
              bool(count_include_pad), divisor_arg(divisor_override))
    launch_1d(pk.pool_kernel("avg_pool_bwd", g.dtype), gx.size, flat(gx), flat(gs), *geom,
              _windows(kernel[0], stride[0], 1), _windows(kernel[1], stride[1], 1))
    return gx


# ---- local response normalisation --------------------------------------------------------------
def lrn(x, size, alpha, beta, k):
    T = np.dtype(x.dtype).type
    out = empty(x.shape, x.dtype)
    scale = empty(x.shape, x.dtype)
    if x.size:
        N, C, L = (int(s) for s in x.shape)
        launch_1d(lk.lrn_kernel("lrn_fwd", x.dtype), x.size, flat(out), flat(scale), flat(x),
                  N, C, L, int(size), T(alpha / size), T(beta), T(k))
    return out, scale


def lrn_grad(g, x, out, scale, size, alpha, beta, k):
    T = np.dtype(x.dtype).type
    gx = empty(x.shape, x.dtype)
    if x.size:
        N, C, L = (int(s) for s in x.shape)
        launch_1d(lk.lrn_kernel("lrn_bwd", x.dtype), x.size, flat(gx), flat(g), flat(x),
                  flat(out), flat(scale), N, C, L, int(size), T(2.0 * alpha * beta / size),
                  T(beta))
    return gx


# ---- log-softmax over the last axis ------------------------------------------------------------
def _rows(a):
    K = int(a.shape[a.ndim - 1]) if a.ndim else 1  # (the simulator's shapes reject [-1])
    return prod(a.shape) // max(K, 1), K


def log_softmax(x):
    y = empty(x.shape, x.dtype)
    R, K = _rows(x)
    if y.size:
        kern = sk.softmax_kernel("log_softmax_fwd", x.dtype)
        kern[min(R, _MAX_ROW_BLOCKS), rk.block_size(K)](flat(y), flat(x), R, K)
    return y


def log_softmax_grad(g, y):
    dx = empty(g.shape, g.dtype)
    R, K = _rows(g)
    if dx.size:
        kern = sk.softmax_kernel("log_softmax_bwd", g.dtype)
        kern[min(R, _MAX_ROW_BLOCKS), rk.block_size(K)](flat(dx), flat(g), flat(y), R, K)
    return dx


# ---- dropout -----------------------------------------------------------------------------------
def dropout_mask(shape, p, seed, offset, dtype):
    dtype = np.dtype(dtype)
    out = empty(tuple(shape), dtype)
    if out.size:
        q, scale = dropout_params(p, dtype)
        launch_counter_rng(dk.dropout_kernel(dtype), out, seed, offset, q, scale)
    return out


# ---- fused cross-entropy (class-index targets) -------------------------------------------------
def _ce_args(x, weight, smoothing):
    T = np.dtype(x.dtype).type
    C = int(x.shape[1])
    w = full((C,), 1, x.dtype) if weight is None else flat(weight)
    return w, bool(smoothing > 0), T(1.0 - smoothing), T(smoothing / C if C else 0.0)


def cross_entropy(x, target, weight, ignore_index, smoothing):
    M, C = int(x.shape[0]), int(x.shape[1])
    loss, lse, rw = (empty((M,), x.dtype) for _ in range(3))
    if M == 0:
        return loss, lse, rw
    if C == 0:  # only ignored rows can exist (as the CPU backend)
        return full((M,), 0, x.dtype), full((M,), -np.inf, x.dtype), full((M,), 0, x.dtype)
    w, smooth, keep, epc = _ce_args(x, weight, smoothing)
    kern = ck.ce_kernel("ce_fwd", x.dtype)
    kern[min(M, _MAX_ROW_BLOCKS), rk.block_size(C)](loss, lse, rw, flat(x), flat(target), w, M, C,
                                                     int(ignore_index), smooth, keep, epc)
    return loss, lse, rw


def cross_entropy_grad(g, x, target, weight, lse, ignore_index, smoothing):
    M, C = int(x.shape[0]), int(x.shape[1])
    dx = empty((M, C), x.dtype)
    if dx.size == 0:
        return dx
    w, smooth, keep, epc = _ce_args(x, weight, smoothing)
    gf = flat(g)
    kern = ck.ce_kernel("ce_bwd", x.dtype)
    kern[min(M, _MAX_ROW_BLOCKS), rk.block_size(C)](flat(dx), gf, flat(x), flat(target), w, lse,
                                                     M, C, int(gf.size), int(ignore_index),
                                                     smooth, keep, epc)
    return dx


def check_class_targets(target, C, ignore_index):
    checks.defer_target_check(target, C, ignore_index)
