"""Convolution: conv2d forward, grad-input and grad-weight as implicit GEMMs (NCHW, any groups),
plus the fixed-order reduction of grad-weight's split-K partial sums.  Launchers:
minidl.cuda.backend.conv.  Geometry as in minidl.backend.contract: x [N, C, H, W],
w [Co, Cg = C/G, kh, kw], out/g [N, Co, Ho, Wo]; stride (sh, sw), top/left padding (pt, pl),
dilation (dh, dw); per group K = Cg*kh*kw, Cog = Co/G, L = Ho*Wo, P = N*L.

All three GEMM kernels share the tiling of minidl.cuda.kernels.matmul: a block computes a
BM x BN tile of C = A @ B with NT = (BM/TM)*(BN/TN) threads; thread (tx, ty) owns the TM x TN
outputs at rows ty + i*(BM/TM), cols tx + j*(BN/TN) in a typed T(0) register accumulator.  The
reduction runs over ceil(K'/BK) tiles: the block stages a BM x BK tile of A (transposed, one
column of padding against bank conflicts) and a BK x BN tile of B in shared memory, barrier,
BK rank-1 updates, barrier.  A and B are never materialised: the B tile is gathered from x or
g on the fly (implicit im2col), every load guarded (outside the image, the padding, or past a
matrix edge -> 0).  The divisions decoding a reduction index into (c, i, j) or (n, oh, ow) are
done once per k-tile by BK threads into small int32 shared tables (a third barrier per tile);
each thread's own B-tile column is fixed (NT is a multiple of BN), so its (n, oh, ow) or
(c, i, j) is decoded once per block.  Groups are blockIdx.z: one launch covers every group.
Configs (BM, BN, BK, TM, TN): "wide" 64x64x16, 4x4 per thread (256 threads) and, when the GEMM
has at most 16 rows (few channels per group, depthwise), "thin" 16x128x16, 2x4 per thread
(256 threads) so fewer rows of the tile are wasted; float64 "wide" is 32x64x16, 2x4 per thread
(4x4 float64 accumulators spill at the cap).  launch_bounds(256, 2): <= 128 registers.
Simulator: wide 8x8x4 2x2, thin 4x8x4 1x2 (16 threads) so tiny tests cross tile edges.
Shared memory (float32): wide (16*65 + 16*64)*4 + 3..5 tables * 16*4 = 8.4 KiB; thin
(16*17 + 16*128)*4 + tables = 9.5 KiB.

conv2d_fwd[T, cfg]: C = out_g [Cog, P] = w_g [Cog, K] @ col_g [K, P].
    Grid (ceil(P/BN), ceil(Cog/BM), G).  Thread columns run along p = (n, oh, ow), so a warp's
    gathers of x and stores to out walk consecutive ow (coalesced for stride 1).  Weight tile
    loads run along k (contiguous rows of w).  Tables: c, i, j of the BK reduction indices.
    FLOPs 2*N*Co*L*K.  Compulsory bytes 4*(N*C*H*W + Co*K + N*Co*L); with tile reuse the x
    gather is read ceil(Cog/BM) times per group and w ceil(P/BN) times (L2 absorbs most).
conv2d_grad_input[T, cfg]: gather form, deterministic (each thread owns dx elements and sums
    all of their contributors; no atomics).  C = dx_g [Cg, Q = N*H*W] = w_g^T [Cg, Cog*kh*kw]
    @ gcol_g [Cog*kh*kw, Q] with gcol[(o, i, j), (n, ih, iw)] = g[n, o, oh, ow] where
    ih + pt - i*dh = oh*sh (same for w) and 0 <= oh < Ho, else 0.  The divisibility test uses
    no division in the inner loop: a thread keeps q, r = divmod(ih + pt, sh) and the table keeps
    divmod(i*dh, sh); the tap contributes iff the remainders match, and oh = q - q_i.
    Grid (ceil(Q/BN), ceil(Cg/BM), G).  Executed FLOPs 2*N*C*H*W*Cog*kh*kw (useful fraction
    ~1/(sh*sw): strided convolutions multiply by zero taps; AlexNet conv2-5 have stride 1).
    Compulsory bytes 4*(N*Co*L + Co*K + N*C*H*W).
conv2d_grad_weight[T, cfg]: C = dw_g [Cog, K] = g_g [Cog, P] @ col_g^T [P, K], a reduction over
    P = N*Ho*Wo that is split deterministically into S contiguous slices of P (split-K) so a
    small [Co, K] output still fills the GPU: block z = g*S + s writes its partial tile to
    part[s] ([S, Co, K]); S = 1 writes dw directly.  Grid (ceil(K/BN), ceil(Cog/BM), G*S), S
    chosen by the launcher (~4 blocks per SM, >= 8 k-tiles per slice).  Thread columns run
    along k (their (c, i, j) decoded once); the g tile is loaded along p (coalesced along ow).
    Tables: n, oh, ow of the BK reduction indices.  FLOPs 2*Co*K*P.  Compulsory bytes
    4*(N*Co*L + N*C*H*W + S*Co*K).
conv2d_wsum[T]: dw[e] = sum_s part[s, e] in the order s = 0..S-1 (deterministic), 1-D
    grid-stride over Co*K elements, 256 threads per block; no shared memory.  FLOPs S*Co*K,
    bytes 4*(S+1)*Co*K.

Per-image work at AlexNet's shapes (float32, N = 1; FLOPs = 2 per multiply-add; MB = 1e6
compulsory global bytes of each kernel: its two inputs read once and its output written once,
the same three arrays for all three kernels; grad-input FLOPs are the executed ones):

| layer | geometry | output | fwd GFLOP | grad-input GFLOP | grad-weight GFLOP | MB |
|---|---|---|---|---|---|---|
| conv1 | 3->96, 227, k11 s4 | 96x55x55 | 0.211 | 3.591 (16x zero taps) | 0.211 | 1.92 |
| conv2 | 96->256, 27, k5 p2 g2 | 256x27x27 | 0.448 | 0.448 | 0.448 | 2.26 |
| conv3 | 256->384, 13, k3 p1 | 384x13x13 | 0.299 | 0.299 | 0.299 | 3.97 |
| conv4 | 384->384, 13, k3 p1 g2 | 384x13x13 | 0.224 | 0.224 | 0.224 | 3.17 |
| conv5 | 384->256, 13, k3 p1 g2 | 256x13x13 | 0.150 | 0.150 | 0.150 | 2.20 |

(MB = 1e6 bytes; bytes scale with N for the activations, the weight term is per launch:
`flops_bytes()` below recomputes the table for any geometry and batch.)
"""
from __future__ import annotations

import numpy as np
from numba import cuda, int32

from ._common import SIMULATOR, arr, cached_kernel, unravel3
from .matmul import tile_ops

__all__ = ["CONFIGS", "GPU_CONFIGS", "threads", "config", "fwd_kernel", "grad_input_kernel",
           "grad_weight_kernel", "wsum_kernel", "flops_bytes", "ptx_signatures"]

# (BM, BN, BK, TM, TN) per dtype.  float64 "wide" halves TM: 4x4 float64 accumulators spill
# under the 128-register cap of launch_bounds(256, 2) on sm_90.
GPU_CONFIGS = {"float32": {"wide": (64, 64, 16, 4, 4), "thin": (16, 128, 16, 2, 4)},
               "float64": {"wide": (32, 64, 16, 2, 4), "thin": (16, 128, 16, 2, 4)}}
_SIM = {"wide": (8, 8, 4, 2, 2), "thin": (4, 8, 4, 1, 2)}
SIM_CONFIGS = {"float32": _SIM, "float64": _SIM}
CONFIGS = SIM_CONFIGS if SIMULATOR else GPU_CONFIGS
WSUM_THREADS = 16 if SIMULATOR else 256
_BLOCKS_PER_SM = 2  # launch_bounds minimum blocks per multiprocessor


def threads(config) -> tuple[int, int]:
    """blockDim (x, y) of a config."""
    BM, BN, BK, TM, TN = config
    return BN // TN, BM // TM


def config(dtype, rows: int, configs=None) -> tuple[str, tuple]:
    """(name, config) for a GEMM with `rows` rows (Cog or Cg) in `dtype`: "thin" when the rows
    fit one thin tile (few channels per group, depthwise), else "wide"."""
    table = (configs or CONFIGS)[str(np.dtype(dtype))]
    name = "thin" if rows <= table["thin"][0] else "wide"
    return name, table[name]


def _layout(config):
    BM, BN, BK, TM, TN = config
    NTX, NTY = BN // TN, BM // TM
    NT = NTX * NTY
    RS = NT // BN  # rows of the B tile loaded per pass
    assert NT % BN == 0 and BK % RS == 0 and BK <= NT, "each thread keeps one B-tile column"
    return NTX, NTY, NT, RS, -(-(BM * BK) // NT), BK // RS


def build_fwd(dtype, config):
    BM, BN, BK, TM, TN = config
    NTX, NTY, NT, RS, A_LOADS, B_LOADS = _layout(config)
    AS_COLS = BM + 1  # a closure constant: numba needs literal shared-array shapes
    T = np.dtype(dtype).type
    zero = T(0)
    clear, update, _ = tile_ops(dtype, config)  # outputs scatter to NCHW: own store loop

    def conv2d_fwd(out, x, w, sh, sw, pt, pl, dh, dw, groups):
        N, C, H, W = x.shape
        Co, Cg, KH, KW = w.shape
        Ho = out.shape[2]
        Wo = out.shape[3]
        KHW = KH * KW
        K = Cg * KHW
        Cog = Co // groups
        L = Ho * Wo
        P = N * L
        As = cuda.shared.array((BK, AS_COLS), T)
        Bs = cuda.shared.array((BK, BN), T)
        Kc = cuda.shared.array(BK, int32)
        Ki = cuda.shared.array(BK, int32)
        Kj = cuda.shared.array(BK, int32)
        acc = cuda.local.array((TM, TN), T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * NTX + tx
        g = cuda.blockIdx.z
        m0 = cuda.blockIdx.y * BM
        p0 = cuda.blockIdx.x * BN
        obase = g * Cog
        cbase = g * Cg
        # this thread's B-tile column p = (pn, oh, ow), decoded once
        bcol = tid % BN
        brow = tid // BN
        p = p0 + bcol
        pvalid = p < P
        pn, poh, pow_ = unravel3(p, Ho, Wo)
        ih0 = poh * sh - pt
        iw0 = pow_ * sw - pl
        clear(acc)
        for k0 in range(0, K, BK):
            if tid < BK:
                k = k0 + tid
                if k < K:
                    c, ii, jj = unravel3(k, KH, KW)
                    Kc[tid] = c
                    Ki[tid] = ii
                    Kj[tid] = jj
                else:
                    Kc[tid] = -1
                    Ki[tid] = 0
                    Kj[tid] = 0
            cuda.syncthreads()
            for r in range(A_LOADS):
                e = tid + r * NT
                if e < BM * BK:
                    m = e // BK
                    kk = e - m * BK
                    gm = m0 + m
                    c = Kc[kk]
                    v = zero
                    if gm < Cog and c >= 0:
                        v = w[obase + gm, c, Ki[kk], Kj[kk]]
                    As[kk, m] = v
            for r in range(B_LOADS):
                kk = brow + r * RS
                c = Kc[kk]
                v = zero
                if pvalid and c >= 0:
                    ih = ih0 + Ki[kk] * dh
                    iw = iw0 + Kj[kk] * dw
                    if ih >= 0 and ih < H and iw >= 0 and iw < W:
                        v = x[pn, cbase + c, ih, iw]
                Bs[kk, bcol] = v
            cuda.syncthreads()
            update(acc, As, Bs, tx, ty)
            cuda.syncthreads()  # tiles and tables are overwritten by the next k-tile
        for j in range(TN):
            q = p0 + tx + j * NTX
            if q < P:
                n, oh, ow = unravel3(q, Ho, Wo)
                for i in range(TM):
                    gm = m0 + ty + i * NTY
                    if gm < Cog:
                        out[n, obase + gm, oh, ow] = acc[i, j]

    a4 = arr(dtype, 4)
    i64 = ", ".join(["int64"] * 7)
    return conv2d_fwd, f"void({a4}, {a4}, {a4}, {i64})", {"launch_bounds": (NT, _BLOCKS_PER_SM)}


def build_grad_input(dtype, config):
    BM, BN, BK, TM, TN = config
    NTX, NTY, NT, RS, A_LOADS, B_LOADS = _layout(config)
    AS_COLS = BM + 1  # a closure constant: numba needs literal shared-array shapes
    T = np.dtype(dtype).type
    zero = T(0)
    clear, update, _ = tile_ops(dtype, config)  # outputs scatter to NCHW: own store loop

    def conv2d_grad_input(dx, gy, w, sh, sw, pt, pl, dh, dw, groups):
        N, C, H, W = dx.shape
        Co, Cg, KH, KW = w.shape
        Ho = gy.shape[2]
        Wo = gy.shape[3]
        KHW = KH * KW
        Cog = Co // groups
        K2 = Cog * KHW
        HW = H * W
        Q = N * HW
        As = cuda.shared.array((BK, AS_COLS), T)
        Bs = cuda.shared.array((BK, BN), T)
        Ko = cuda.shared.array(BK, int32)
        Ki = cuda.shared.array(BK, int32)
        Kj = cuda.shared.array(BK, int32)
        Khq = cuda.shared.array(BK, int32)
        Khr = cuda.shared.array(BK, int32)
        Kwq = cuda.shared.array(BK, int32)
        Kwr = cuda.shared.array(BK, int32)
        acc = cuda.local.array((TM, TN), T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * NTX + tx
        g = cuda.blockIdx.z
        m0 = cuda.blockIdx.y * BM
        q0 = cuda.blockIdx.x * BN
        obase = g * Cog
        cbase = g * Cg
        # this thread's B-tile column q = (qn, ih, iw): divmod(ih + pt, sh), divmod(iw + pl, sw)
        bcol = tid % BN
        brow = tid // BN
        q = q0 + bcol
        qvalid = q < Q
        qn, qih, qiw = unravel3(q, H, W)
        ihp = qih + pt
        iwp = qiw + pl
        hq = ihp // sh
        hr = ihp - hq * sh
        wq = iwp // sw
        wr = iwp - wq * sw
        clear(acc)
        for k0 in range(0, K2, BK):
            if tid < BK:
                k = k0 + tid
                if k < K2:
                    o, ii, jj = unravel3(k, KH, KW)
                    a = ii * dh
                    b = jj * dw
                    Ko[tid] = o
                    Ki[tid] = ii
                    Kj[tid] = jj
                    Khq[tid] = a // sh
                    Khr[tid] = a - (a // sh) * sh
                    Kwq[tid] = b // sw
                    Kwr[tid] = b - (b // sw) * sw
                else:
                    Ko[tid] = -1
                    Ki[tid] = 0
                    Kj[tid] = 0
                    Khq[tid] = 0
                    Khr[tid] = -1
                    Kwq[tid] = 0
                    Kwr[tid] = -1
            cuda.syncthreads()
            for r in range(A_LOADS):
                e = tid + r * NT
                if e < BM * BK:
                    m = e // BK
                    kk = e - m * BK
                    gm = m0 + m
                    o = Ko[kk]
                    v = zero
                    if gm < Cg and o >= 0:
                        v = w[obase + o, gm, Ki[kk], Kj[kk]]
                    As[kk, m] = v
            for r in range(B_LOADS):
                kk = brow + r * RS
                o = Ko[kk]
                v = zero
                if qvalid and o >= 0 and hr == Khr[kk] and wr == Kwr[kk]:
                    oh = hq - Khq[kk]
                    ow = wq - Kwq[kk]
                    if oh >= 0 and oh < Ho and ow >= 0 and ow < Wo:
                        v = gy[qn, obase + o, oh, ow]
                Bs[kk, bcol] = v
            cuda.syncthreads()
            update(acc, As, Bs, tx, ty)
            cuda.syncthreads()
        for j in range(TN):
            qq = q0 + tx + j * NTX
            if qq < Q:
                n, ih, iw = unravel3(qq, H, W)
                for i in range(TM):
                    gm = m0 + ty + i * NTY
                    if gm < Cg:
                        dx[n, cbase + gm, ih, iw] = acc[i, j]

    a4 = arr(dtype, 4)
    i64 = ", ".join(["int64"] * 7)
    return (conv2d_grad_input, f"void({a4}, {a4}, {a4}, {i64})",
            {"launch_bounds": (NT, _BLOCKS_PER_SM)})


def build_grad_weight(dtype, config):
    BM, BN, BK, TM, TN = config
    NTX, NTY, NT, RS, A_LOADS, B_LOADS = _layout(config)
    AS_COLS = BM + 1  # a closure constant: numba needs literal shared-array shapes
    T = np.dtype(dtype).type
    zero = T(0)
    clear, update, store = tile_ops(dtype, config)

    def conv2d_grad_weight(part, gy, x, kh, kw, sh, sw, pt, pl, dh, dw, groups, splits, pchunk):
        N, C, H, W = x.shape
        Co = gy.shape[1]
        Ho = gy.shape[2]
        Wo = gy.shape[3]
        K = part.shape[2]
        Cog = Co // groups
        Cg = C // groups
        L = Ho * Wo
        P = N * L
        As = cuda.shared.array((BK, AS_COLS), T)
        Bs = cuda.shared.array((BK, BN), T)
        Pn = cuda.shared.array(BK, int32)
        Poh = cuda.shared.array(BK, int32)
        Pow = cuda.shared.array(BK, int32)
        acc = cuda.local.array((TM, TN), T)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * NTX + tx
        z = cuda.blockIdx.z
        g = z // splits
        s = z - g * splits
        pstart = s * pchunk
        pend = min(P, pstart + pchunk)
        m0 = cuda.blockIdx.y * BM
        n0 = cuda.blockIdx.x * BN
        obase = g * Cog
        # this thread's B-tile column k = (c, i, j), decoded once
        bcol = tid % BN
        brow = tid // BN
        k = n0 + bcol
        kvalid = k < K
        c, ii, jj = unravel3(k, kh, kw)
        idh = ii * dh - pt
        jdw = jj * dw - pl
        xc = g * Cg + c
        clear(acc)
        for p0 in range(pstart, pend, BK):
            if tid < BK:
                p = p0 + tid
                if p < pend:
                    n, oh, ow = unravel3(p, Ho, Wo)
                    Pn[tid] = n
                    Poh[tid] = oh
                    Pow[tid] = ow
                else:
                    Pn[tid] = -1
                    Poh[tid] = 0
                    Pow[tid] = 0
            cuda.syncthreads()
            for rr in range(A_LOADS):
                e = tid + rr * NT
                if e < BM * BK:
                    m = e // BK
                    pp = e - m * BK  # consecutive threads: consecutive p (coalesced along ow)
                    gm = m0 + m
                    n = Pn[pp]
                    v = zero
                    if gm < Cog and n >= 0:
                        v = gy[n, obase + gm, Poh[pp], Pow[pp]]
                    As[pp, m] = v
            for rr in range(B_LOADS):
                pp = brow + rr * RS
                n = Pn[pp]
                v = zero
                if kvalid and n >= 0:
                    ih = Poh[pp] * sh + idh
                    iw = Pow[pp] * sw + jdw
                    if ih >= 0 and ih < H and iw >= 0 and iw < W:
                        v = x[n, xc, ih, iw]
                Bs[pp, bcol] = v
            cuda.syncthreads()
            update(acc, As, Bs, tx, ty)
            cuda.syncthreads()
        store(part, s, obase, acc, m0, n0, Cog, K, tx, ty)

    a4 = arr(dtype, 4)
    a3 = arr(dtype, 3)
    i64 = ", ".join(["int64"] * 11)
    return (conv2d_grad_weight, f"void({a3}, {a4}, {a4}, {i64})",
            {"launch_bounds": (NT, _BLOCKS_PER_SM)})


def build_wsum(dtype):
    T = np.dtype(dtype).type
    zero = T(0)

    def conv2d_wsum(out, part):
        S = part.shape[0]
        n = out.shape[0]
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < n:
            acc = zero
            for s in range(S):
                acc += part[s, i]
            out[i] = acc
            i += stride

    return conv2d_wsum, f"void({arr(dtype, 1)}, {arr(dtype, 2)})"


def _cfg_name(config) -> str:
    return "x".join(map(str, config))


def fwd_kernel(dtype, cfg):
    dtype = np.dtype(dtype)
    return cached_kernel(("conv2d_fwd", dtype, cfg), lambda: build_fwd(dtype, cfg))


def grad_input_kernel(dtype, cfg):
    dtype = np.dtype(dtype)
    return cached_kernel(("conv2d_grad_input", dtype, cfg), lambda: build_grad_input(dtype, cfg))


def grad_weight_kernel(dtype, cfg):
    dtype = np.dtype(dtype)
    return cached_kernel(("conv2d_grad_weight", dtype, cfg),
                         lambda: build_grad_weight(dtype, cfg))


def wsum_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("conv2d_wsum", dtype), lambda: build_wsum(dtype))


def flops_bytes(N, C, H, W, Co, kh, kw, stride=(1, 1), padding=(0, 0), dilation=(1, 1),
                groups=1, itemsize=4) -> dict:
    """FLOPs (2 per multiply-add) and compulsory global bytes of each kernel for one launch."""
    sh, sw = stride
    ph, pw = padding
    dh, dwl = dilation
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dwl * (kw - 1) - 1) // sw + 1
    K = C // groups * kh * kw
    x_b, w_b, y_b = N * C * H * W, Co * K, N * Co * Ho * Wo
    useful = 2 * N * Co * Ho * Wo * K
    return {"out": (N, Co, Ho, Wo),
            "fwd": (useful, itemsize * (x_b + w_b + y_b)),
            "grad_input": (2 * N * C * H * W * (Co // groups) * kh * kw,
                           itemsize * (y_b + w_b + x_b)),
            "grad_weight": (useful, itemsize * (y_b + x_b + w_b))}


def ptx_signatures() -> list:
    """The float32 and float64 kernels in both GPU configs, with their launch options."""
    out = []
    for dt in ("float32", "float64"):
        for cname, cfg in GPU_CONFIGS[dt].items():
            tag = f"{dt},{cname}:{_cfg_name(cfg)}"
            out.append((f"conv2d_fwd[{tag}]",) + build_fwd(dt, cfg))
            out.append((f"conv2d_grad_input[{tag}]",) + build_grad_input(dt, cfg))
            out.append((f"conv2d_grad_weight[{tag}]",) + build_grad_weight(dt, cfg))
        out.append((f"conv2d_wsum[{dt}]",) + build_wsum(dt))
    return out
