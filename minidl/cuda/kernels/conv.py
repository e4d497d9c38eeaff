"""Convolution: conv2d forward, grad-input and grad-weight as implicit GEMMs (NCHW, any groups),
plus the fixed-order reduction of grad-weight's split-K partial sums.  Launchers:
minidl.cuda.backend.conv.  Geometry as in minidl.backend.contract: x [N, C, H, W],
w [Co, Cg = C/G, kh, kw], out/g [N, Co, Ho, Wo]; stride (sh, sw), top/left padding (pt, pl),
dilation (dh, dw); per group K = Cg*kh*kw, Cog = Co/G, L = Ho*Wo, P = N*L.

All three GEMM kernels run the GEMM step and k-tile loop of minidl.cuda.kernels.matmul (see
there: generated unrolled BK-step of TM x TN register tiles with LDS.128 operand loads, two
shared buffers, the next tile's global loads prefetched into registers during the current
tile's FFMAs, one barrier per tile).  A and B are never materialised: the B tile is gathered
from x or g on the fly (implicit im2col), every load guarded (outside the image, the padding,
past the reduction -> 0); columns of B past the GEMM edge are clamped, rows of A clamped or
skipped (they feed only accumulators that are never stored).  Load mapping, with TPR = NT/BK:
thread tid loads the B elements of one reduction index kb = tid // TPR (columns tid % TPR +
r*TPR: a warp reads consecutive columns) and, in grad-input and grad-weight, the A elements of
the same index (rows tid % TPR + r*TPR; one decode per tile serves both; the big grad-input,
short of registers, keeps ka = tid % BK, rows tid // BK + r*TPR); the forward, whose A = w is
contiguous along k, loads a run of A_LOADS consecutive k of row tid // (NT/BM) (one address,
constant offsets).  A rows' offsets are loop-carried registers advanced per tile.  The thread
decodes its reduction indices into (c, i, j) / (o, i, j) / (n, oh, ow) once per tile with
magic-number divisions (_common.magic/fastdiv: a wide multiply and a shift; the magics are
computed once per block); its B columns (pixels, or taps) are decoded once per block.
Tap masks (forward and grad-input, kh*kw <= MAX_MASK_TAPS = 32): per B column (a pixel) a
32-bit mask of the taps (i, j) that land inside the input (forward) / on an output pixel,
stride remainder included (grad-input), built once per block; a gathered element then costs
one LOP3 test of bit i*kw + j instead of two bounds tests (and the remainder test).  Larger
kernels use the ",bounds" variants (per-element tests).  Offsets are 32-bit (the launchers
reject tensors of 2**31 elements or more).  Groups are blockIdx.z: one launch covers every
group.  Arrays are passed flat with the geometry (N, C, H, W, Co, Cg, kh, kw, Ho, Wo, sh, sw,
pt, pl, dh, dw, groups) as int64.
Configs (BM, BN, BK, TM, TN), launch_bounds(NT, 512 / NT) (<= 128 registers, 16 warps per
SM), picked per GEMM by config(): "thin" 16x128x16 2x8 (128 threads) when the GEMM has at
most 16 rows (few channels per group, depthwise: fewer wasted tile rows); float32 "big"
128x128x8 8x8 (256 threads) when the rows need more than one wide tile and the big grid
(grad-weight: with its split-K slices) has at least one block per SM; else "wide" 64x64x16
4x8 (128 threads).  float64: "wide" 32x64x16 2x4 and "thin" 16x128x16 2x4 (256 threads;
larger float64 accumulators spill at the cap), no "big".  grad-input is compiled for unit
stride (",s1": no stride divisions or remainder test) and strided (wide/thin only: the big
strided variant spills; without tap masks, wide only: the thin one spills).
Simulator: wide 8x8x4 2x2, thin 4x8x4 1x2 (16 threads) so tiny tests cross tile edges;
tests/test_sass.py also runs every GPU config once.
Shared memory (float32): 2 * (BK*(BM+4) + BK*BN) * 4 B: big 16.5 KiB, wide 16.5 KiB, thin
(2*(16*16 + 16*128))*4 = 18 KiB (BM < 32: no padding).

conv2d_fwd[T, cfg]: C = out_g [Cog, P] = w_g [Cog, K] @ col_g [K, P] (+ bias[o] in the ",bias"
    variant: added to the accumulators after the k-loop, so it costs no launch of its own; a
    runtime flag, or starting the accumulators at the bias, made the big tile spill).
    Grid (ceil(P/BN), ceil(Cog/BM), G).  Thread columns run along p = (n, oh, ow), so a warp's
    gathers of x and stores to out walk consecutive ow (coalesced for stride 1).  Weight tile
    loads run along k (contiguous rows of w, no decode).  Per tile: kb -> (c, i, j).
    FLOPs 2*N*Co*L*K.  Compulsory bytes 4*(N*C*H*W + Co*K + N*Co*L); with tile reuse the x
    gather is read ceil(Cog/BM) times per group and w ceil(P/BN) times (L2 absorbs most).
conv2d_grad_input[T, cfg]: gather form, deterministic (each thread owns dx elements and sums
    all of their contributors; no atomics).  C = dx_g [Cg, Q = N*H*W] = w_g^T [Cg, Cog*kh*kw]
    @ gcol_g [Cog*kh*kw, Q] with gcol[(o, i, j), (n, ih, iw)] = g[n, o, oh, ow] where
    ih + pt - i*dh = oh*sh (same for w) and 0 <= oh < Ho, else 0.  The divisibility test: a
    thread keeps q, r = divmod(ih + pt, sh) per column (once per block) and divmod(i*dh, sh)
    per tile; the tap contributes iff the remainders match, and oh = q - q_i (unit stride:
    oh = ih + pt - i*dh, no test); with tap masks that test is in the mask.  Per tile: the
    thread's k -> (o, i, j), for w and gcol.
    Grid (ceil(Q/BN), ceil(Cg/BM), G).  Executed FLOPs 2*N*C*H*W*Cog*kh*kw (useful fraction
    ~1/(sh*sw): strided convolutions multiply by zero taps; AlexNet conv2-5 have stride 1).
    Compulsory bytes 4*(N*Co*L + Co*K + N*C*H*W).
conv2d_grad_weight[T, cfg]: C = dw_g [Cog, K] = g_g [Cog, P] @ col_g^T [P, K], a reduction over
    P = N*Ho*Wo that is split deterministically into S contiguous slices of P (split-K) so a
    small [Co, K] output still fills the GPU: block z = g*S + s writes its partial tile to
    part[s] ([S, Co, K]); S = 1 writes dw directly.  Grid (ceil(K/BN), ceil(Cog/BM), G*S), S
    chosen by the launcher (~4 blocks per SM, >= 8 k-tiles per slice).  Thread columns run
    along k (their (c, i, j) decoded once); the g tile is loaded along p (coalesced along ow).
    Per tile: the thread's p -> (n, l = (oh, ow)), for g and col.  FLOPs 2*Co*K*P.
    Compulsory bytes 4*(N*Co*L + N*C*H*W + S*Co*K).
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
from numba import cuda, int32, int64, uint32, uint64

from ._common import SIMULATOR, arr, cached_kernel, fastdiv, magic, sm_count
from .matmul import layout, tile_ops

__all__ = ["CONFIGS", "GPU_CONFIGS", "MAX_MASK_TAPS", "threads", "config", "fwd_kernel",
           "grad_input_kernel", "grad_weight_kernel", "wsum_kernel", "flops_bytes",
           "ptx_signatures"]

# (BM, BN, BK, TM, TN) per dtype.  float64 has no "big" and 2x4 micro-tiles: larger float64
# accumulators spill under the 128-register cap.
GPU_CONFIGS = {"float32": {"big": (128, 128, 8, 8, 8), "wide": (64, 64, 16, 4, 8),
                           "thin": (16, 128, 16, 2, 8)},
               "float64": {"wide": (32, 64, 16, 2, 4), "thin": (16, 128, 16, 2, 4)}}
_SIM = {"wide": (8, 8, 4, 2, 2), "thin": (4, 8, 4, 1, 2)}
SIM_CONFIGS = {"float32": _SIM, "float64": _SIM}
CONFIGS = SIM_CONFIGS if SIMULATOR else GPU_CONFIGS
WSUM_THREADS = 16 if SIMULATOR else 256
_WARPS_PER_SM = 16  # launch_bounds: blocks per SM for 16 resident warps (<= 128 registers)


def threads(config) -> tuple[int, int]:
    """blockDim (x, y) of a config."""
    BM, BN, BK, TM, TN = config
    return BN // TN, BM // TM


def config(dtype, rows: int, configs=None, cols: int = 0, groups: int = 1,
           allow_big: bool = True, splits: int = 1, sms: int | None = None,
           allow_thin: bool = True) -> tuple[str, tuple]:
    """(name, config) for a GEMM with `rows` x `cols` outputs per group (times `splits` split-K
    slices) in `dtype`: "thin" when the rows fit one thin tile (few channels per group,
    depthwise) - and allow_thin: not the strided grad-input without tap masks, which would
    spill; "big" when the rows need more than one wide tile and the big grid has at least
    one block per SM (`sms`, default this GPU's) - and allow_big: not the strided grad-input,
    which would spill; else "wide"."""
    table = (configs or CONFIGS)[str(np.dtype(dtype))]
    if allow_thin and rows <= table["thin"][0]:
        return "thin", table["thin"]
    big = table.get("big") if allow_big else None
    if big is not None and rows > table["wide"][0]:
        blocks = -(-rows // big[0]) * -(-cols // big[1]) * groups * splits
        if blocks and blocks >= (sms or sm_count()):
            return "big", big
    return "wide", table["wide"]


def _layout(config):
    """Constants of the conv tile loads (module docstring): TPR threads per B-tile row,
    A_LOADS / B_LOADS elements per thread, A_STEP rows between one thread's A elements."""
    BM, BN, BK, TM, TN = config
    lay = layout(config)
    NT = lay["NT"]
    TPR = NT // BK
    assert NT % BK == 0 and BN % TPR == 0 and (BM * BK) % NT == 0 and NT % BM == 0, config
    lay.update(TPR=TPR, B_LOADS=BN // TPR, A_LOADS=BM * BK // NT, A_STEP=NT // BK)
    return lay


def _kernel_consts(dtype, config):
    BM, BN, BK, TM, TN = config
    lay = _layout(config)
    clear, update = tile_ops(dtype, config)
    T = np.dtype(dtype).type
    return lay, clear, update, T, T(0)


def _opts(config):
    NT = _layout(config)["NT"]
    return {"launch_bounds": (NT, _WARPS_PER_SM * 32 // NT)}


# N, C, H, W, Co, Cg, KH, KW, Ho, Wo, sh, sw, pt, pl, dh, dw, groups
_GEOM = ", ".join(["int64"] * 17)


def build_fwd(dtype, config, bias=False, masks=True):
    """bias (compile-time): add bias[o] to every output (the kernel always takes the array).
    masks (compile-time): kh*kw <= 32, each B column's in-image taps precomputed as a bit mask
    (one test per gathered element instead of two bounds tests)."""
    BM, BN, BK, TM, TN = config
    HAS_BIAS = bool(bias)
    MASKS = bool(masks)
    lay, clear, update, T, zero = _kernel_consts(dtype, config)
    NTX, AST, SA, SB, cM, cN = (lay[k] for k in ("NTX", "AST", "SA", "SB", "cM", "cN"))
    TPR, A_LOADS, B_LOADS = lay["TPR"], lay["A_LOADS"], lay["B_LOADS"]
    ROWS, COLS = lay_rows_cols(config)
    TT = TM * TN

    def conv2d_fwd(out, x, w, bias, N, C, H, W, Co, Cg, KH, KW, Ho, Wo, sh, sw, pt, pl, dh, dw,
                   groups):
        KHW = uint32(KH * KW)
        Ku = uint32(Cg * KH * KW)
        Cog = uint32(Co // groups)
        L = uint32(Ho * Wo)
        P = uint32(N * Ho * Wo)
        HW = uint32(H * W)
        Hu = uint32(H)
        Wu = uint32(W)
        As = cuda.shared.array(SA, T)
        Bs = cuda.shared.array(SB, T)
        acc = cuda.local.array(TT, T)
        pa = cuda.local.array(A_LOADS, T)
        pb = cuda.local.array(B_LOADS, T)
        xorg = cuda.local.array(B_LOADS, int32)
        ih0 = cuda.local.array(B_LOADS, int32)
        iw0 = cuda.local.array(B_LOADS, int32)
        tmask = cuda.local.array(B_LOADS, uint32)
        cbits = cuda.local.array(B_LOADS, uint32)
        tx = uint32(cuda.threadIdx.x)
        ty = uint32(cuda.threadIdx.y)
        tid = uint32(ty * uint32(NTX) + tx)
        # A (w, contiguous along k): a run of A_LOADS consecutive k of one row per thread
        ka = uint32((tid % uint32(BK // A_LOADS)) * uint32(A_LOADS))
        am = uint32(tid // uint32(BK // A_LOADS))
        kb = uint32(tid // uint32(TPR))
        bc = uint32(tid % uint32(TPR))
        g = uint32(cuda.blockIdx.z)
        m0 = uint32(uint32(cuda.blockIdx.y) * uint32(BM))
        p0 = uint32(uint32(cuda.blockIdx.x) * uint32(BN))
        obase = uint32(g * Cog)
        # rows past Cog and columns past P are clamped: they feed accumulators never stored
        aoff = uint32(uint32(obase + min(uint32(m0 + am), uint32(Cog - uint32(1)))) * Ku + ka)
        for r in range(B_LOADS):
            p = min(uint32(p0 + bc + uint32(r * TPR)), uint32(P - uint32(1)))
            n = p // L
            rem = uint32(p - n * L)
            oh = rem // uint32(Wo)
            ow = uint32(rem - oh * uint32(Wo))
            ih0[r] = int32(oh * uint32(sh)) - int32(pt)
            iw0[r] = int32(ow * uint32(sw)) - int32(pl)
            xorg[r] = int32(((int64(n) * C + int64(g) * Cg) * H + ih0[r]) * W + iw0[r])
        if MASKS:  # bit i*KW + j of tmask[r]: tap (i, j) of column r lies inside the image
            # (taps outer, columns inner: the column loops unroll, the masks stay in registers)
            for r in range(B_LOADS):
                cbits[r] = uint32(0)
                tmask[r] = uint32(0)
            for j in range(KW):
                for r in range(B_LOADS):
                    if uint32(iw0[r] + int32(j * dw)) < Wu:
                        cbits[r] = uint32(cbits[r] | uint32(uint32(1) << uint32(j)))
            for i in range(KH):
                for r in range(B_LOADS):
                    if uint32(ih0[r] + int32(i * dh)) < Hu:
                        tmask[r] = uint32(tmask[r] | uint32(cbits[r] << uint32(i * KW)))
        ntiles = uint32((Ku + uint32(BK - 1)) // uint32(BK))
        mKHW, sKHW = magic(KHW)
        mKW, sKW = magic(uint32(KW))
        clear(acc)
        k = kb
        kk = ka
        ao = uint32(ty * uint32(cM))
        bo = uint32(tx * uint32(cN))
        sa0 = uint32(ka * uint32(AST) + am)
        sb0 = uint32(kb * uint32(BN) + bc)
        t = uint32(0)
        while t <= ntiles:
            kleft = uint32(Ku - min(kk, Ku))  # elements of this thread's run left in the row
            for r in range(A_LOADS):
                v = zero
                if uint32(r) < kleft:
                    v = w[aoff + uint32(r)]
                pa[r] = v
            aoff = uint32(aoff + uint32(BK))
            # this thread's B-tile row k = (c, i, j), decoded once per tile
            c = fastdiv(k, mKHW, sKHW)
            rem = uint32(k - c * KHW)
            i = fastdiv(rem, mKW, sKW)
            j = uint32(rem - i * uint32(KW))
            ihd = int32(i * uint32(dh))
            iwd = int32(j * uint32(dw))
            koff = int32(c * HW) + ihd * int32(W) + iwd
            kin = k < Ku
            if MASKS:
                bit = uint32(uint32(1) << (rem & uint32(31))) if kin else uint32(0)
            for r in range(B_LOADS):
                v = zero
                if MASKS:
                    if uint32(tmask[r] & bit) != uint32(0):
                        v = x[uint32(xorg[r] + koff)]
                elif kin and uint32(ih0[r] + ihd) < Hu and uint32(iw0[r] + iwd) < Wu:
                    v = x[uint32(xorg[r] + koff)]
                pb[r] = v
            odd = uint32(t & uint32(1))
            if t > uint32(0):
                update(acc, As, Bs, uint32((odd ^ uint32(1)) * uint32(BK * AST) + ao),
                       uint32((odd ^ uint32(1)) * uint32(BK * BN) + bo))
            sa = uint32(odd * uint32(BK * AST) + sa0)
            for r in range(A_LOADS):
                As[sa + uint32(r * AST)] = pa[r]
            sb = uint32(odd * uint32(BK * BN) + sb0)
            for r in range(B_LOADS):
                Bs[sb + uint32(r * TPR)] = pb[r]
            cuda.syncthreads()
            t = uint32(t + uint32(1))
            k = uint32(k + uint32(BK))
            kk = uint32(kk + uint32(BK))
        if HAS_BIAS:  # after the k-loop: the bias pointer is not live through it
            for i in range(TM):
                gm = min(uint32(m0 + ty * uint32(cM) + uint32(ROWS[i])), uint32(Cog - uint32(1)))
                bv = bias[obase + gm]
                for j in range(TN):
                    acc[i * TN + j] += bv
        for j in range(TN):
            q = uint32(p0 + tx * uint32(cN) + uint32(COLS[j]))
            if q < P:
                n = q // L
                ll = uint32(q - n * L)
                for i in range(TM):
                    gm = uint32(m0 + ty * uint32(cM) + uint32(ROWS[i]))
                    if gm < Cog:
                        out[(uint64(n) * uint64(Co) + uint64(obase + gm)) * uint64(L)
                            + uint64(ll)] = acc[i * TN + j]

    a1 = arr(dtype, 1)
    return conv2d_fwd, f"void({a1}, {a1}, {a1}, {a1}, {_GEOM})", _opts(config)


def build_grad_input(dtype, config, unit_stride=False, masks=True):
    """unit_stride: compiled for sh = sw = 1 (no stride divisions, every tap contributes).
    masks: kh*kw <= 32, each B column's contributing taps precomputed as a bit mask (as in
    build_fwd; it also absorbs the stride remainder test)."""
    BM, BN, BK, TM, TN = config
    UNIT = bool(unit_stride)
    MASKS = bool(masks)
    # A and B elements of one k per thread (one k decode per tile for both), except in the big
    # tile, where the A rows' offsets then no longer fit the register budget
    SHARE_K = BM * BN < 128 * 128 and (UNIT or MASKS)
    MASKS = MASKS and SHARE_K  # the big tile has no registers to spare for the masks
    CARRY = BM * BN < 128 * 128  # loop-carried A row offsets: the big tile would spill
    lay, clear, update, T, zero = _kernel_consts(dtype, config)
    NTX, AST, SA, SB, cM, cN = (lay[k] for k in ("NTX", "AST", "SA", "SB", "cM", "cN"))
    TPR, A_LOADS, B_LOADS, A_STEP = lay["TPR"], lay["A_LOADS"], lay["B_LOADS"], lay["A_STEP"]
    ROWS, COLS = lay_rows_cols(config)
    TT = TM * TN

    def conv2d_grad_input(dx, gy, w, N, C, H, W, Co, Cg, KH, KW, Ho, Wo, sh, sw, pt, pl, dh,
                          dw, groups):
        KHW = uint32(KH * KW)
        Cog = uint32(Co // groups)
        K2 = uint32(Cog * KHW)
        Cgu = uint32(Cg)
        L = uint32(Ho * Wo)
        HW = uint32(H * W)
        Q = uint32(N * H * W)
        As = cuda.shared.array(SA, T)
        Bs = cuda.shared.array(SB, T)
        acc = cuda.local.array(TT, T)
        pa = cuda.local.array(A_LOADS, T)
        pb = cuda.local.array(B_LOADS, T)
        aoff = cuda.local.array(A_LOADS, uint32)
        gorg = cuda.local.array(B_LOADS, int32)
        hq = cuda.local.array(B_LOADS, int32)
        wq = cuda.local.array(B_LOADS, int32)
        hwr = cuda.local.array(B_LOADS, uint32)
        tmask = cuda.local.array(B_LOADS, uint32)
        cbits = cuda.local.array(B_LOADS, uint32)
        tx = uint32(cuda.threadIdx.x)
        ty = uint32(cuda.threadIdx.y)
        tid = uint32(ty * uint32(NTX) + tx)
        ka = uint32(tid // uint32(TPR)) if SHARE_K else uint32(tid % uint32(BK))
        am = uint32(tid % uint32(TPR)) if SHARE_K else uint32(tid // uint32(BK))
        kb = uint32(tid // uint32(TPR))
        bc = uint32(tid % uint32(TPR))
        g = uint32(cuda.blockIdx.z)
        m0 = uint32(uint32(cuda.blockIdx.y) * uint32(BM))
        q0 = uint32(uint32(cuda.blockIdx.x) * uint32(BN))
        obase = uint32(g * Cog)
        wbase = uint32(obase * Cgu * KHW)
        # A = w_g^T: element (m, k = (o, r)) at wbase + o*Cg*KHW + m*KHW + r; rows clamped
        for r in range(A_LOADS):
            m = min(uint32(m0 + am + uint32(r * A_STEP)), uint32(Cgu - uint32(1)))
            aoff[r] = uint32(m * KHW)
        if not UNIT:
            msh, ssh = magic(uint32(sh))
            msw, ssw = magic(uint32(sw))
        # B columns q = (n, ih, iw), clamped: divmod(ih + pt, sh), divmod(iw + pl, sw)
        for r in range(B_LOADS):
            q = min(uint32(q0 + bc + uint32(r * TPR)), uint32(Q - uint32(1)))
            n = q // HW
            rem = uint32(q - n * HW)
            ih = rem // uint32(W)
            iw = uint32(rem - ih * uint32(W))
            ihp = uint32(ih + uint32(pt))
            iwp = uint32(iw + uint32(pl))
            if UNIT:
                a_q = ihp
                b_q = iwp
                hwr[r] = uint32(0)
            else:
                a_q = ihp // uint32(sh)
                b_q = iwp // uint32(sw)
                hwr[r] = uint32((uint32(ihp - a_q * uint32(sh)) << uint32(16))
                                | uint32(iwp - b_q * uint32(sw)))
            hq[r] = int32(a_q)
            wq[r] = int32(b_q)
            gorg[r] = int32((int64(n) * Co + int64(obase)) * L + int64(a_q) * Wo + int64(b_q))
        if MASKS:  # bit i*KW + j of tmask[r]: tap (i, j) of column r hits an output pixel
            # (taps outer, columns inner: the column loops unroll, the masks stay in registers)
            for r in range(B_LOADS):
                cbits[r] = uint32(0)
                tmask[r] = uint32(0)
            for j in range(KW):
                bj = uint32(j * dw)
                if UNIT:
                    kq = bj
                    kr = uint32(0)
                else:
                    kq = fastdiv(bj, msw, ssw)
                    kr = uint32(bj - kq * uint32(sw))
                for r in range(B_LOADS):
                    if ((UNIT or kr == uint32(hwr[r] & uint32(0xFFFF)))
                            and uint32(wq[r] - int32(kq)) < uint32(Wo)):
                        cbits[r] = uint32(cbits[r] | uint32(uint32(1) << uint32(j)))
            for i in range(KH):
                ai = uint32(i * dh)
                if UNIT:
                    kq = ai
                    kr = uint32(0)
                else:
                    kq = fastdiv(ai, msh, ssh)
                    kr = uint32(ai - kq * uint32(sh))
                for r in range(B_LOADS):
                    if ((UNIT or kr == uint32(hwr[r] >> uint32(16)))
                            and uint32(hq[r] - int32(kq)) < uint32(Ho)):
                        tmask[r] = uint32(tmask[r] | uint32(cbits[r] << uint32(i * KW)))
        glast = uint32(N * Co * Ho * Wo - 1)
        ntiles = uint32((K2 + uint32(BK - 1)) // uint32(BK))
        mKHW, sKHW = magic(KHW)
        mKW, sKW = magic(uint32(KW))
        clear(acc)
        k = kb
        kk = ka
        ao = uint32(ty * uint32(cM))
        bo = uint32(tx * uint32(cN))
        sa0 = uint32(ka * uint32(AST) + am)
        sb0 = uint32(kb * uint32(BN) + bc)
        aprev = uint32(0)
        if CARRY:
            t = uint32(0)
            while t <= ntiles:
                # this thread's A column k = (o, r)
                oa = fastdiv(kk, mKHW, sKHW)
                ra = uint32(kk - oa * KHW)
                akoff = uint32(wbase + oa * uint32(Cgu * KHW) + ra)
                # the row offsets advance with the tile (loop-carried: ptxas keeps them in
                # registers instead of recomputing each clamped row offset per tile)
                dk = uint32(akoff - aprev)
                aprev = akoff
                ain = kk < K2
                for r in range(A_LOADS):
                    v = zero
                    if CARRY:
                        aoff[r] = uint32(aoff[r] + dk)
                        if ain:
                            v = w[aoff[r]]
                    elif ain:
                        v = w[uint32(akoff + aoff[r])]
                    pa[r] = v
                # this thread's B row k = (o, i, j): the tap (i, j) hits output (oh, ow) =
                # (hq - i*dh/sh, wq - j*dw/sw) iff the remainders match
                o = fastdiv(k, mKHW, sKHW)
                rem = uint32(k - o * KHW)
                i = fastdiv(rem, mKW, sKW)
                j = uint32(rem - i * uint32(KW))
                a_ = uint32(i * uint32(dh))
                b_ = uint32(j * uint32(dw))
                if UNIT:
                    khq = a_
                    kwq = b_
                    khwr = uint32(0)
                else:
                    khq = fastdiv(a_, msh, ssh)
                    kwq = fastdiv(b_, msw, ssw)
                    khwr = uint32((uint32(a_ - khq * uint32(sh)) << uint32(16))
                                  | uint32(b_ - kwq * uint32(sw)))
                koff = int32(o * L) - int32(khq) * int32(Wo) - int32(kwq)
                kin = k < K2
                if MASKS:
                    bit = uint32(uint32(1) << (rem & uint32(31))) if kin else uint32(0)
                for r in range(B_LOADS):
                    v = zero
                    if MASKS:
                        if uint32(tmask[r] & bit) != uint32(0):
                            if UNIT:
                                v = gy[uint32(gorg[r] + koff)]
                            else:  # the min (a no-op: the offset is in range) keeps LLVM from
                                # widening the strided address arithmetic to 64 bits
                                v = gy[min(uint32(gorg[r] + koff), glast)]
                    elif (kin and (UNIT or hwr[r] == khwr)
                          and uint32(hq[r] - int32(khq)) < uint32(Ho)
                          and uint32(wq[r] - int32(kwq)) < uint32(Wo)):
                        v = gy[uint32(gorg[r] + koff)]
                    pb[r] = v
                odd = uint32(t & uint32(1))
                if t > uint32(0):
                    update(acc, As, Bs, uint32((odd ^ uint32(1)) * uint32(BK * AST) + ao),
                           uint32((odd ^ uint32(1)) * uint32(BK * BN) + bo))
                sa = uint32(odd * uint32(BK * AST) + sa0)
                for r in range(A_LOADS):
                    As[sa + uint32(r * A_STEP)] = pa[r]
                sb = uint32(odd * uint32(BK * BN) + sb0)
                for r in range(B_LOADS):
                    Bs[sb + uint32(r * TPR)] = pb[r]
                cuda.syncthreads()
                t = uint32(t + uint32(1))
                k = uint32(k + uint32(BK))
                kk = uint32(kk + uint32(BK))
        else:  # the same loop over range(): the big tile spills on sm_80 otherwise
            for tf in range(ntiles + uint32(1)):
                # this thread's A column k = (o, r)
                oa = fastdiv(kk, mKHW, sKHW)
                ra = uint32(kk - oa * KHW)
                akoff = uint32(wbase + oa * uint32(Cgu * KHW) + ra)
                # the row offsets advance with the tile (loop-carried: ptxas keeps them in
                # registers instead of recomputing each clamped row offset per tile)
                dk = uint32(akoff - aprev)
                aprev = akoff
                ain = kk < K2
                for r in range(A_LOADS):
                    v = zero
                    if CARRY:
                        aoff[r] = uint32(aoff[r] + dk)
                        if ain:
                            v = w[aoff[r]]
                    elif ain:
                        v = w[uint32(akoff + aoff[r])]
                    pa[r] = v
                # this thread's B row k = (o, i, j): the tap (i, j) hits output (oh, ow) =
                # (hq - i*dh/sh, wq - j*dw/sw) iff the remainders match
                o = fastdiv(k, mKHW, sKHW)
                rem = uint32(k - o * KHW)
                i = fastdiv(rem, mKW, sKW)
                j = uint32(rem - i * uint32(KW))
                a_ = uint32(i * uint32(dh))
                b_ = uint32(j * uint32(dw))
                if UNIT:
                    khq = a_
                    kwq = b_
                    khwr = uint32(0)
                else:
                    khq = fastdiv(a_, msh, ssh)
                    kwq = fastdiv(b_, msw, ssw)
                    khwr = uint32((uint32(a_ - khq * uint32(sh)) << uint32(16))
                                  | uint32(b_ - kwq * uint32(sw)))
                koff = int32(o * L) - int32(khq) * int32(Wo) - int32(kwq)
                kin = k < K2
                if MASKS:
                    bit = uint32(uint32(1) << (rem & uint32(31))) if kin else uint32(0)
                for r in range(B_LOADS):
                    v = zero
                    if MASKS:
                        if uint32(tmask[r] & bit) != uint32(0):
                            if UNIT:
                                v = gy[uint32(gorg[r] + koff)]
                            else:  # the min (a no-op: the offset is in range) keeps LLVM from
                                # widening the strided address arithmetic to 64 bits
                                v = gy[min(uint32(gorg[r] + koff), glast)]
                    elif (kin and (UNIT or hwr[r] == khwr)
                          and uint32(hq[r] - int32(khq)) < uint32(Ho)
                          and uint32(wq[r] - int32(kwq)) < uint32(Wo)):
                        v = gy[uint32(gorg[r] + koff)]
                    pb[r] = v
                if tf > 0:  # (offsets recomputed from the thread index, as registers are short)
                    cur = uint32(tf - 1) & uint32(1)
                    update(acc, As, Bs, uint32(cur * uint32(BK * AST) + ty * uint32(cM)),
                           uint32(cur * uint32(BK * BN) + tx * uint32(cN)))
                nxt = uint32(tf) & uint32(1)
                sa = uint32(nxt * uint32(BK * AST) + ka * uint32(AST) + am)
                for r in range(A_LOADS):
                    As[uint32(sa + uint32(r * A_STEP))] = pa[r]
                sb = uint32(nxt * uint32(BK * BN) + kb * uint32(BN) + bc)
                for r in range(B_LOADS):
                    Bs[uint32(sb + uint32(r * TPR))] = pb[r]
                cuda.syncthreads()
                k = uint32(k + uint32(BK))
                kk = uint32(kk + uint32(BK))
        cbase = uint64(g) * uint64(Cg)
        for j in range(TN):
            q = uint32(q0 + tx * uint32(cN) + uint32(COLS[j]))
            if q < Q:
                n = q // HW
                hw = uint32(q - n * HW)
                for i in range(TM):
                    gm = uint32(m0 + ty * uint32(cM) + uint32(ROWS[i]))
                    if gm < Cgu:
                        dx[(uint64(n) * uint64(C) + cbase + uint64(gm)) * uint64(HW)
                           + uint64(hw)] = acc[i * TN + j]

    a1 = arr(dtype, 1)
    return conv2d_grad_input, f"void({a1}, {a1}, {a1}, {_GEOM})", _opts(config)


def build_grad_weight(dtype, config):
    BM, BN, BK, TM, TN = config
    CARRY = BM * BN < 128 * 128  # loop-carried A row offsets: the big tile would spill
    lay, clear, update, T, zero = _kernel_consts(dtype, config)
    NTX, AST, SA, SB, cM, cN = (lay[k] for k in ("NTX", "AST", "SA", "SB", "cM", "cN"))
    TPR, A_LOADS, B_LOADS, A_STEP = lay["TPR"], lay["A_LOADS"], lay["B_LOADS"], lay["A_STEP"]
    ROWS, COLS = lay_rows_cols(config)
    TT = TM * TN

    def conv2d_grad_weight(part, gy, x, N, C, H, W, Co, Cg, KH, KW, Ho, Wo, sh, sw, pt, pl,
                           dh, dw, groups, splits, pchunk):
        KHW = uint32(KH * KW)
        Ku = uint32(Cg * KH * KW)
        Cog = uint32(Co // groups)
        L = uint32(Ho * Wo)
        P = uint32(N * Ho * Wo)
        HW = uint32(H * W)
        Hu = uint32(H)
        Wu = uint32(W)
        As = cuda.shared.array(SA, T)
        Bs = cuda.shared.array(SB, T)
        acc = cuda.local.array(TT, T)
        pa = cuda.local.array(A_LOADS, T)
        pb = cuda.local.array(B_LOADS, T)
        aoff = cuda.local.array(A_LOADS, uint32)
        xoff = cuda.local.array(B_LOADS, int32)
        idh = cuda.local.array(B_LOADS, int32)
        jdw = cuda.local.array(B_LOADS, int32)
        tx = uint32(cuda.threadIdx.x)
        ty = uint32(cuda.threadIdx.y)
        tid = uint32(ty * uint32(NTX) + tx)
        ka = uint32(tid // uint32(TPR))  # = kb: one p decode per tile serves A and B
        am = uint32(tid % uint32(TPR))
        kb = uint32(tid // uint32(TPR))
        bc = uint32(tid % uint32(TPR))
        z = uint32(cuda.blockIdx.z)
        g = z // uint32(splits)
        s = uint32(z - g * uint32(splits))
        pstart = uint32(s * uint32(pchunk))
        pend = min(P, uint32(pstart + uint32(pchunk)))
        m0 = uint32(uint32(cuda.blockIdx.y) * uint32(BM))
        n0 = uint32(uint32(cuda.blockIdx.x) * uint32(BN))
        obase = uint32(g * Cog)
        # A = g_g: element (m, p = (n, l)) at n*Co*L + (obase + m)*L + l; rows clamped
        for r in range(A_LOADS):
            m = min(uint32(m0 + am + uint32(r * A_STEP)), uint32(Cog - uint32(1)))
            aoff[r] = uint32((obase + m) * L)
        # B columns k = (c, i, j), clamped: x offset of (c, i*dh - pt, j*dw - pl)
        for r in range(B_LOADS):
            kc = min(uint32(n0 + bc + uint32(r * TPR)), uint32(Ku - uint32(1)))
            c = kc // KHW
            rem = uint32(kc - c * KHW)
            i = rem // uint32(KW)
            j = uint32(rem - i * uint32(KW))
            idh[r] = int32(i * uint32(dh)) - int32(pt)
            jdw[r] = int32(j * uint32(dw)) - int32(pl)
            xoff[r] = int32((g * uint32(Cg) + c) * HW) + idh[r] * int32(W) + jdw[r]
        ntiles = uint32((uint32(pend - pstart) + uint32(BK - 1)) // uint32(BK))
        mL, sL = magic(L)
        mWo, sWo = magic(uint32(Wo))
        clear(acc)
        pb_ = uint32(pstart + kb)  # this thread's p (ka = kb: the A column and the B row)
        ao = uint32(ty * uint32(cM))
        bo = uint32(tx * uint32(cN))
        sa0 = uint32(ka * uint32(AST) + am)
        sb0 = uint32(kb * uint32(BN) + bc)
        aprev = uint32(0)
        if CARRY:
            t = uint32(0)
            while t <= ntiles:
                # this thread's p = (n, l) = (n, oh, ow): A column and B row
                nb_ = fastdiv(pb_, mL, sL)
                rem = uint32(pb_ - nb_ * L)
                akoff = uint32(nb_ * uint32(Co) * L + rem)
                # the row offsets advance with the tile (loop-carried, kept in registers)
                dk = uint32(akoff - aprev)
                aprev = akoff
                pin = pb_ < pend
                for r in range(A_LOADS):
                    v = zero
                    if CARRY:
                        aoff[r] = uint32(aoff[r] + dk)
                        if pin:
                            v = gy[aoff[r]]
                    elif pin:
                        v = gy[uint32(akoff + aoff[r])]
                    pa[r] = v
                oh = fastdiv(rem, mWo, sWo)
                ow = uint32(rem - oh * uint32(Wo))
                ohs = int32(oh * uint32(sh))
                ows = int32(ow * uint32(sw))
                poff = int32(nb_ * uint32(C) * HW) + ohs * int32(W) + ows
                for r in range(B_LOADS):
                    v = zero
                    if pin and uint32(ohs + idh[r]) < Hu and uint32(ows + jdw[r]) < Wu:
                        v = x[uint32(poff + xoff[r])]
                    pb[r] = v
                odd = uint32(t & uint32(1))
                if t > uint32(0):
                    update(acc, As, Bs, uint32((odd ^ uint32(1)) * uint32(BK * AST) + ao),
                           uint32((odd ^ uint32(1)) * uint32(BK * BN) + bo))
                sa = uint32(odd * uint32(BK * AST) + sa0)
                for r in range(A_LOADS):
                    As[sa + uint32(r * A_STEP)] = pa[r]
                sb = uint32(odd * uint32(BK * BN) + sb0)
                for r in range(B_LOADS):
                    Bs[sb + uint32(r * TPR)] = pb[r]
                cuda.syncthreads()
                t = uint32(t + uint32(1))
                pb_ = uint32(pb_ + uint32(BK))
        else:  # the same loop over range(): the big tile spills on sm_80 otherwise
            for tf in range(ntiles + uint32(1)):
                # this thread's p = (n, l) = (n, oh, ow): A column and B row
                nb_ = fastdiv(pb_, mL, sL)
                rem = uint32(pb_ - nb_ * L)
                akoff = uint32(nb_ * uint32(Co) * L + rem)
                # the row offsets advance with the tile (loop-carried, kept in registers)
                dk = uint32(akoff - aprev)
                aprev = akoff
                pin = pb_ < pend
                for r in range(A_LOADS):
                    v = zero
                    if CARRY:
                        aoff[r] = uint32(aoff[r] + dk)
                        if pin:
                            v = gy[aoff[r]]
                    elif pin:
                        v = gy[uint32(akoff + aoff[r])]
                    pa[r] = v
                oh = fastdiv(rem, mWo, sWo)
                ow = uint32(rem - oh * uint32(Wo))
                ohs = int32(oh * uint32(sh))
                ows = int32(ow * uint32(sw))
                poff = int32(nb_ * uint32(C) * HW) + ohs * int32(W) + ows
                for r in range(B_LOADS):
                    v = zero
                    if pin and uint32(ohs + idh[r]) < Hu and uint32(ows + jdw[r]) < Wu:
                        v = x[uint32(poff + xoff[r])]
                    pb[r] = v
                odd = uint32(tf) & uint32(1)
                if tf > 0:
                    update(acc, As, Bs, uint32((odd ^ uint32(1)) * uint32(BK * AST) + ao),
                           uint32((odd ^ uint32(1)) * uint32(BK * BN) + bo))
                sa = uint32(odd * uint32(BK * AST) + sa0)
                for r in range(A_LOADS):
                    As[sa + uint32(r * A_STEP)] = pa[r]
                sb = uint32(odd * uint32(BK * BN) + sb0)
                for r in range(B_LOADS):
                    Bs[sb + uint32(r * TPR)] = pb[r]
                cuda.syncthreads()
                pb_ = uint32(pb_ + uint32(BK))
        for i in range(TM):
            gm = uint32(m0 + ty * uint32(cM) + uint32(ROWS[i]))
            if gm < Cog:
                rowoff = (uint64(s) * uint64(Co) + uint64(obase + gm)) * uint64(Ku)
                for j in range(TN):
                    gk = uint32(n0 + tx * uint32(cN) + uint32(COLS[j]))
                    if gk < Ku:
                        part[rowoff + uint64(gk)] = acc[i * TN + j]

    a1 = arr(dtype, 1)
    return (conv2d_grad_weight, f"void({a1}, {a1}, {a1}, {_GEOM}, int64, int64)",
            _opts(config))


def lay_rows_cols(config):
    from .matmul import col_offsets, row_offsets

    return row_offsets(config), col_offsets(config)


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


def fwd_kernel(dtype, cfg, bias=False, masks=True):
    dtype = np.dtype(dtype)
    return cached_kernel(("conv2d_fwd", dtype, cfg, bool(bias), bool(masks)),
                         lambda: build_fwd(dtype, cfg, bias, masks))


def grad_input_kernel(dtype, cfg, unit_stride=False, masks=True):
    dtype = np.dtype(dtype)
    return cached_kernel(("conv2d_grad_input", dtype, cfg, bool(unit_stride), bool(masks)),
                         lambda: build_grad_input(dtype, cfg, unit_stride, masks))


MAX_MASK_TAPS = 32  # kh*kw up to which the forward / grad-input kernels use tap masks


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
    """The float32 and float64 kernels in every GPU config, with their launch options;
    grad-input also in its unit-stride variant ("...,s1]"); forward and grad-input also with
    per-element bounds tests instead of tap masks (",bounds]": kh*kw > MAX_MASK_TAPS; the big
    grad-input has no masks, so no such variant)."""
    out = []
    for dt in ("float32", "float64"):
        for cname, cfg in GPU_CONFIGS[dt].items():
            tag = f"{dt},{cname}:{_cfg_name(cfg)}"
            for masks, mt in ((True, ""), (False, ",bounds")):
                out.append((f"conv2d_fwd[{tag}{mt}]",) + build_fwd(dt, cfg, False, masks))
                out.append((f"conv2d_fwd[{tag},bias{mt}]",) + build_fwd(dt, cfg, True, masks))
                if cname == "big" and not masks:
                    continue
                # big is unit-stride only, thin strided needs the masks (else they spill)
                if cname == "wide" or (cname == "thin" and masks):
                    out.append((f"conv2d_grad_input[{tag}{mt}]",)
                               + build_grad_input(dt, cfg, False, masks))
                out.append((f"conv2d_grad_input[{tag},s1{mt}]",)
                           + build_grad_input(dt, cfg, True, masks))
            out.append((f"conv2d_grad_weight[{tag}]",) + build_grad_weight(dt, cfg))
        out.append((f"conv2d_wsum[{dt}]",) + build_wsum(dt))
    return out
