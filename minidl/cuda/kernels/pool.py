"""Pooling kernels over C-contiguous [N*C, H, W] planes, passed flat (1-D) with the geometry as
int64 scalars.  Launchers: minidl.cuda.backend.nn.  Output sizes and the average-pool window:
minidl.backend.shared (pool_geometry, geometry).

Every kernel is a 1-D grid-stride loop, one thread per element of the array it writes
(`_common.grid_1d`: 256 threads per block, min(ceil(n / 256), 32 * SMs) blocks; simulator: 16
threads, <= 2 blocks).  Consecutive threads own consecutive elements of a row, so writes are
coalesced and a warp's window reads are consecutive (stride S).  No shared memory: a 3x3/s2
window's taps are reused by <= 4 windows and come from L1/L2.  Typed accumulators (T(0),
T(-inf)); every load is guarded (taps bounds-checked against [0, H) x [0, W), flat indices by
i < n).  Index math is int64; the geometry travels as kernel parameters (constant bank).

max_pool_fwd[T]   thread -> output (nc, oh, ow): scans its KH x KW taps in raster order,
    skipping taps outside the input; PyTorch's rule: the first valid tap is taken, then strictly
    larger values, and a NaN always wins.  Writes out and the int64 argmax (flat within the
    H x W plane).  FLOPs: KH*KW compares per output.  Bytes: KH*KW*itemsize read per output
    (DRAM: each input about once), itemsize + 8 written per output.
max_pool_bwd[T]   gather form, thread -> input element (nc, h, w): looks at the candidate
    windows oh in [(h+PH)//SH - NWH + 1, (h+PH)//SH] (NWH = (KH-1)*DH // SH + 1 from the host,
    likewise ow) and adds g[o] where argmax[o] == h*W + w, in (oh, ow) order -- the order the
    CPU's per-plane loop adds in, so CPU and GPU agree bit for bit and two runs are identical.
    No atomics, no division inside the loops.  FLOPs: NWH*NWW int64 compares per input, and
    one add per output in total.  Bytes: g and argmax (itemsize + 8 per output, each read by
    ~SH*SW neighbouring threads from cache) + itemsize written per input.
avg_pool_fwd[T]   thread -> output: sum of the window clipped to the input / PyTorch's divisor
    (window clipped to the padded input if count_include_pad, else to the input;
    divisor_override > 0 replaces it).  FLOPs KH*KW + 1; bytes like max_pool_fwd, no index.
avg_pool_scale[T] thread -> output: gs = g / divisor (the backward's first step; keeps the
    divisor logic, and its float division, out of the gather loop).  1 FLOP, 2*itemsize bytes.
avg_pool_bwd[T]   gather form, thread -> input element: sum of gs[o] over the windows that hold
    it (candidates as in max_pool_bwd with DH = 1, then `h - hs < KH`), in (oh, ow) order --
    bit for bit the CPU's g / divisor accumulation.  FLOPs: one add per covering window.

Per image at AlexNet's pools (float32, 3x3 s2; DRAM bytes assuming each array is read once):
    pool   in (C x H x W)   out        max fwd cmp  max fwd B   max bwd adds  max bwd B
    p1     96 x 55 x 55     96x27x27      629,856   2,001,408        69,984   2,001,408
    p2    256 x 27 x 27    256x13x13      389,376   1,265,664        43,264   1,265,664
    p5    256 x 13 x 13    256x6x6         82,944     283,648         9,216     283,648
    (max bwd also does 4 index compares per input: 1,161,600 / 746,496 / 173,056.)
    All are memory-bound: ~0.3 FLOP/byte; at ~1.5 TB/s (A100) p1 fwd is ~1.3 us per image.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ...backend.shared.geometry import avg_window as _avg_window
from ._common import FLOATS, arr, cached_kernel, device, inline_device

_I = "int64"
_GEOM = ", ".join([_I] * 11)  # NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW

avg_window = device(_avg_window)


def _candidates(p, S, NW, NO):
    """[o0, o1] (inclusive): the windows along one dim that may hold the padded position p
    (input position + padding): o <= p // S, at most NW of them (NW = (K-1)*D // S + 1 from the
    host), clipped to the NO outputs.  The gather-form backwards test each candidate."""
    o1 = p // S
    return max(0, o1 - NW + 1), min(o1, NO - 1)


candidates = inline_device(_candidates)


def build_max_pool_fwd(dtype):
    T = np.dtype(dtype).type
    ninf = T(-np.inf)

    def max_pool_fwd(out, idx, x, NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW, DH, DW):
        n = NC * OH * OW
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            ow = i % OW
            t = i // OW
            oh = t % OH
            nc = t // OH
            hs = oh * SH - PH
            ws = ow * SW - PW
            base = nc * H * W
            best = ninf
            bi = -1
            # every tap is bounds-checked (no division to clip the ranges); the first valid tap
            # is taken unconditionally, which is PyTorch's "-inf with the first valid index"
            for kh in range(KH):
                h = hs + kh * DH
                if h >= 0 and h < H:
                    for kw in range(KW):
                        w = ws + kw * DW
                        if w >= 0 and w < W:
                            v = x[base + h * W + w]
                            if bi < 0 or v > best or v != v:
                                best = v
                                bi = h * W + w
            out[i] = best
            idx[i] = bi
    a = arr(dtype)
    return max_pool_fwd, f"void({a}, int64[::1], {a}, {_GEOM}, {_I}, {_I})"


def build_max_pool_bwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)

    def max_pool_bwd(gx, g, idx, NC, H, W, OH, OW, SH, SW, PH, PW, NWH, NWW):
        n = NC * H * W
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            w = i % W
            t = i // W
            h = t % H
            nc = t // H
            # argmax equality decides, so a candidate window that does not actually cover
            # (h, w) contributes nothing
            oh0, oh1 = candidates(h + PH, SH, NWH, OH)
            ow0, ow1 = candidates(w + PW, SW, NWW, OW)
            target = h * W + w
            acc = zero
            for oh in range(oh0, oh1 + 1):
                row = (nc * OH + oh) * OW
                for ow in range(ow0, ow1 + 1):
                    o = row + ow
                    if idx[o] == target:
                        acc += g[o]
            gx[i] = acc
    a = arr(dtype)
    return max_pool_bwd, f"void({a}, {a}, int64[::1], {', '.join([_I] * 11)})"


def build_avg_pool_fwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)

    def avg_pool_fwd(out, x, NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW, include_pad, override):
        n = NC * OH * OW
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            ow = i % OW
            t = i // OW
            oh = t % OH
            nc = t // OH
            h0, h1, w0, w1, div = avg_window(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
                                             include_pad, override)
            base = nc * H * W
            acc = zero
            for h in range(h0, h1):
                for w in range(w0, w1):
                    acc += x[base + h * W + w]
            out[i] = acc / T(div)
    a = arr(dtype)
    return avg_pool_fwd, f"void({a}, {a}, {_GEOM}, boolean, {_I})"


def build_avg_pool_scale(dtype):
    def avg_pool_scale(gs, g, NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW, include_pad, override):
        n = NC * OH * OW
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            ow = i % OW
            oh = (i // OW) % OH
            _, _, _, _, div = avg_window(oh, ow, H, W, KH, KW, SH, SW, PH, PW, include_pad,
                                         override)
            gs[i] = g[i] / gs.dtype.type(div)
    a = arr(dtype)
    return avg_pool_scale, f"void({a}, {a}, {_GEOM}, boolean, {_I})"


def build_avg_pool_bwd(dtype):
    T = np.dtype(dtype).type
    zero = T(0)

    def avg_pool_bwd(gx, gs, NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW, NWH, NWW):
        n = NC * H * W
        for i in range(cuda.grid(1), n, cuda.gridsize(1)):
            w = i % W
            t = i // W
            h = t % H
            nc = t // H
            hp = h + PH
            wp = w + PW
            oh0, oh1 = candidates(hp, SH, NWH, OH)  # NWH = (KH-1) // SH + 1
            ow0, ow1 = candidates(wp, SW, NWW, OW)
            acc = zero
            for oh in range(oh0, oh1 + 1):
                if hp - oh * SH >= KH:  # window starts above h - KH + 1: does not hold h
                    continue
                row = (nc * OH + oh) * OW
                for ow in range(ow0, ow1 + 1):
                    if wp - ow * SW < KW:
                        acc += gs[row + ow]
            gx[i] = acc
    a = arr(dtype)
    return avg_pool_bwd, f"void({a}, {a}, {', '.join([_I] * 13)})"


_BUILDERS = {"max_pool_fwd": build_max_pool_fwd, "max_pool_bwd": build_max_pool_bwd,
             "avg_pool_fwd": build_avg_pool_fwd, "avg_pool_scale": build_avg_pool_scale,
             "avg_pool_bwd": build_avg_pool_bwd}


def pool_kernel(name: str, dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("pool", name, dtype), lambda: _BUILDERS[name](dtype))


def ptx_signatures() -> list:
    return [(f"{name}[{dt}]",) + build(dt) for name, build in _BUILDERS.items() for dt in FLOATS]
