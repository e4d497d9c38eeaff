"""Local response normalisation kernels (PyTorch's cross-channel LRN) over C-contiguous
[N, C, L] arrays passed flat (L = H*W).  Launchers: minidl.cuda.backend.nn.

Both kernels are 1-D grid-stride loops, one thread per element (`_common.grid_1d`: 256 threads
per block, min(ceil(n / 256), 32 * SMs) blocks; simulator: 16 threads, <= 2 blocks).  Thread i
owns (n, c, l) with l fastest, so a warp reads 32 consecutive pixels of one channel plane for
every channel of its window: coalesced, and each plane row is reused by `size` neighbouring
channels from L2.  No shared memory; typed accumulators; the channel window is clipped to
[0, C) before the loop, so every load is in bounds.

lrn_fwd[T]   scale = k + (alpha/size) * sum_{c' in [c - size//2, c + (size-1)//2]} x[c']^2,
    out = x * scale^-beta (one powf).  Writes out and scale (the backward needs both).
    FLOPs per element: 2*size + 2 + pow (~20).  Bytes per element: size*itemsize read (1 from
    DRAM, the rest L2 hits) + 2*itemsize written.
lrn_bwd[T]   dx = g * scale^-beta - (2 alpha beta / size) * x * sum_{c'} g[c'] out[c'] / scale[c']
    over the channels c' in [c - (size-1)//2, c + size//2] whose window holds c; the products
    are recomputed per thread instead of staged (3 loads + 1 div per c').
    FLOPs per element: ~4*size + 4 + pow.  Bytes: 3*size*itemsize read (3 from DRAM) + x +
    one write.

Per image at AlexNet's LRN layers (float32, size 5; DRAM bytes with each array read once;
pow counted as one op):
    layer  shape (C x H x W)  elements   fwd FLOPs   fwd bytes   bwd FLOPs   bwd bytes
    norm1  96 x 55 x 55        290,400   3,775,200   3,484,800   5,517,600   5,808,000
    norm2  256 x 27 x 27       186,624   2,426,112   2,239,488   3,545,856   3,732,480
    ~1 FLOP/byte: memory-bound on any GPU (fwd writes out and scale: 12 B/element; bwd reads
    g, x, out, scale and writes dx: 20 B/element).
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ._common import FLOATS, arr, cached_kernel, inline_device


def _window(c, left, right, C):
    """The channels [c - left, c + right] clipped to [0, C), as a half-open range."""
    return max(0, c - left), min(C, c + right + 1)


window = inline_device(_window)


def build_lrn_fwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)

    def lrn_fwd(out, scale, x, N, C, L, size, alpha_n, beta, k):
        n_el = N * C * L
        before = size // 2
        after = (size - 1) // 2
        for i in range(cuda.grid(1), n_el, cuda.gridsize(1)):
            l_ = i % L
            t = i // L
            c = t % C
            n = t // C
            c0, c1 = window(c, before, after, C)
            acc = zero
            for cc in range(c0, c1):
                v = x[(n * C + cc) * L + l_]
                acc += v * v
            s = k + alpha_n * acc
            scale[i] = s
            out[i] = x[i] * s ** -beta
    a = arr(dtype)
    t = str(np.dtype(dtype))
    return lrn_fwd, f"void({a}, {a}, {a}, int64, int64, int64, int64, {t}, {t}, {t})"


def build_lrn_bwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)

    def lrn_bwd(gx, g, x, out, scale, N, C, L, size, coef, beta):
        n_el = N * C * L
        before = size // 2
        after = (size - 1) // 2
        for i in range(cuda.grid(1), n_el, cuda.gridsize(1)):
            l_ = i % L
            t = i // L
            c = t % C
            n = t // C
            c0, c1 = window(c, after, before, C)
            acc = zero
            for cc in range(c0, c1):
                j = (n * C + cc) * L + l_
                acc += g[j] * out[j] / scale[j]
            gx[i] = g[i] * scale[i] ** -beta - coef * x[i] * acc
    a = arr(dtype)
    t = str(np.dtype(dtype))
    return lrn_bwd, f"void({a}, {a}, {a}, {a}, {a}, int64, int64, int64, int64, {t}, {t})"


_BUILDERS = {"lrn_fwd": build_lrn_fwd, "lrn_bwd": build_lrn_bwd}


def lrn_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("lrn", name, dtype), lambda: _BUILDERS[name](dtype))


def ptx_signatures() -> list:
    return [(f"{name}[{dt}]",) + build(dt) for name, build in _BUILDERS.items() for dt in FLOATS]
