"""Batched matrix product c[b] = op(a[b]) @ op(b[b]) (+ bias) for c [B, M, N], a [B, M, K] (or
[B, K, M] read transposed), b [B, K, N] (or [B, N, K]), all C-contiguous float32 or float64,
and the register-tiled GEMM step it shares with the implicit-GEMM convolutions.  Launcher:
minidl.cuda.backend.matmul (matmul, and addmm: nn.Linear's three products in one launch each).

The GEMM step (tile_ops): a block of NT = (BM/TM) * (BN/TN) threads computes a BM x BN tile of
C; thread (tx, ty) owns TM x TN outputs in a typed T(0) register accumulator, at rows
ty*cM + g*(BM/gM) + r (cM = min(TM, 4) consecutive rows, gM = TM/cM groups) and columns
tx*cN + g*(BN/gN) + r likewise, so its operands of one k-step are TM/cM and TN/cN aligned runs
of 4 (or 2) floats in shared memory: LDS.128 (LDS.64) loads.  Shared memory holds two buffers of
the A tile (stored transposed, As[kk][m], rows padded to BM + 4 floats: the transposing stores
do not collide in a bank and the rows stay 16-byte aligned) and of the B tile (Bs[kk][n]).
The BK k-steps of a tile are generated Python source, unrolled at compile time (each k-step a
forceinlined device function of constant offsets) with uint32 shared-memory offsets (no 64-bit
index math and no negative-index wraparound).
The k-tile loop (shared by all GEMM kernels; uint32 counter): iteration t loads tile t into
registers (guarded global loads, one uint32 offset per load advanced by a constant stride per
tile, so each is one wide multiply-add of the array base), then - for t > 0 - does the BK
rank-1 updates of tile t-1 from buffer (t-1)&1 (hiding the loads' latency), stores the
registers to buffer t&1 at constant offsets from one per-thread base, and ONE barrier ends the
iteration (buffer t&1 was last read in iteration t-1, before the previous barrier).
Elements past the reduction load 0 (on both operands, so inf/nan cannot leak into stored
outputs); rows/columns past the output edge are skipped or clamped (they feed only
accumulators that are never stored), so partial tiles need no special case.

matmul[T, BM, BN, BK, TM, TN(, TA, TB)](c, a, b, bias, M, K, N, has_bias) on flat arrays:
    block (bx, by, bz) computes the tile of c at rows by*BM.., cols bx*BN.. of batch bz; the
    launcher splits the batch into launches of at most 65535 batches whose operands have
    < 2**31 elements (32-bit offsets).  K >= 1 (the launcher fills zeros for K = 0).  Rows of
    a past M and columns of b past N are clamped to the last one (their accumulators are never
    stored), so only the k edge is guarded.  A tile:
    thread tid loads k = tid % BK (a fixed column) of rows tid // BK + r*NT/BK (8 or 16
    consecutive k of a row per group of threads: 32/64-byte coalesced segments); B tile:
    column n = tid % BN of rows tid // BN + r*NT/BN (coalesced along n).  Guarded stores;
    has_bias (runtime: the epilogue only) adds bias[n] to column n (nn.Linear's bias, so it
    costs no launch).
    Transposes (compile-time flags, variants ",TN" = a stored [K, M], ",NT" = b stored
    [N, K]; no materialised transpose): the transposed operand is loaded along its contiguous
    axis - A^T: m = tid % BM of k rows tid // BM + r*NT/BM; B^T: k = tid % BK of columns
    tid // BK + r*NT/BK - and stored into the same shared layout, so the k-step is unchanged.
    Linear uses x @ W^T (",NT"), g @ W (plain) and g^T @ x (",TN").
    GPU configs (launch_bounds(256, 2): <= 128 registers, two blocks = 16 warps per SM):
    "big" 128x128x8, 8x8 per thread, when its grid fills the GPU (>= one block per SM), else
    "wide" 64x64x32, 4x4 per thread (float64 "wide" 64x64x16); float64 always "wide".
    Simulator: 8x8x4, 2x2 (16 threads) so tests cross tile edges with tiny matrices; tests
    also run the GPU configs once.
    Shared memory: 2 * (BK*(BM+4) + BK*BN) * itemsize: big 16.5 KiB, wide float32 33 KiB,
    float64 33 KiB.
    FLOPs 2*B*M*N*K.  Global bytes: a is read ceil(N/BN) times and b ceil(M/BM) times:
    itemsize * B * (M*K*ceil(N/BN) + K*N*ceil(M/BM) + M*N).
"""
from __future__ import annotations

import functools

import numpy as np
from numba import cuda, uint32

from ._common import FLOATS, SIMULATOR, arr, cached_kernel, forceinline_device, sm_count

# (BM, BN, BK, TM, TN) per dtype and name
GPU_CONFIGS = {"float32": {"big": (128, 128, 8, 8, 8), "wide": (64, 64, 32, 4, 4)},
               "float64": {"wide": (64, 64, 16, 4, 4)}}
_SIM = {"wide": (8, 8, 4, 2, 2)}
SIM_CONFIGS = {"float32": _SIM, "float64": _SIM}
CONFIGS = SIM_CONFIGS if SIMULATOR else GPU_CONFIGS
# the simulator's config (tests size their matrices by it)
CONFIG = CONFIGS["float32"]["wide"]


def threads(config) -> tuple[int, int]:
    """blockDim (x, y) for a config."""
    BM, BN, BK, TM, TN = config
    return BN // TN, BM // TM


def config(dtype, rows: int, cols: int, batches: int = 1, configs=None,
           sms: int | None = None) -> tuple[str, tuple]:
    """(name, config) for a GEMM of rows x cols outputs per batch: "big" when its grid has at
    least one block per SM (`sms`, default this GPU's), else "wide"."""
    table = (configs or CONFIGS)[str(np.dtype(dtype))]
    big = table.get("big")
    if big is not None:
        blocks = -(-rows // big[0]) * -(-cols // big[1]) * min(batches, 65535)
        if blocks >= (sms or sm_count()):
            return "big", big
    return "wide", table["wide"]


def layout(config) -> dict:
    """Thread layout constants of a config (see the module docstring)."""
    BM, BN, BK, TM, TN = config
    NTX, NTY = BN // TN, BM // TM
    cM, cN = min(TM, 4), min(TN, 4)
    lay = dict(NTX=NTX, NTY=NTY, NT=NTX * NTY, cM=cM, cN=cN, gM=TM // cM, gN=TN // cN,
               AST=BM + 4 if BM >= 32 else BM)
    lay["SA"], lay["SB"] = 2 * BK * lay["AST"], 2 * BK * BN  # two buffers each
    assert TM % cM == 0 and TN % cN == 0 and lay["NT"] % BK == 0, config
    return lay


def row_offsets(config) -> tuple:
    """In-tile row of accumulator row i, minus ty*cM."""
    BM, TM, lay = config[0], config[3], layout(config)
    return tuple((i // lay["cM"]) * (BM // lay["gM"]) + i % lay["cM"] for i in range(TM))


def col_offsets(config) -> tuple:
    """In-tile column of accumulator column j, minus tx*cN."""
    BN, TN, lay = config[1], config[4], layout(config)
    return tuple((j // lay["cN"]) * (BN // lay["gN"]) + j % lay["cN"] for j in range(TN))


def tile_ops(dtype, config):
    """(clear, update): one thread's share of the GEMM step for config (BM, BN, BK, TM, TN).

    acc is a local array of TM*TN (row-major).  clear(acc) zeroes it; update(acc, As, Bs, ao,
    bo) does the BK rank-1 updates of one staged tile: acc[i*TN + j] += As[ao + kk*AST +
    row_offsets[i]] * Bs[bo + kk*BN + col_offsets[j]] for kk < BK, where ao = buffer*BK*AST +
    ty*cM and bo = buffer*BK*BN + tx*cN are uint32.  Generated straight-line source: every
    offset is a constant, every shared load a run of cM (cN) aligned values."""
    return _tile_ops(np.dtype(dtype), tuple(config))


@functools.lru_cache(maxsize=None)
def _tile_ops(dtype, config):
    BM, BN, BK, TM, TN = config
    AST = layout(config)["AST"]
    rows, cols = row_offsets(config), col_offsets(config)
    step = ["def step(acc, As, Bs, ao, bo):"]
    step += [f"    a{i} = As[ao + u32({r})]" for i, r in enumerate(rows)]
    step += [f"    b{j} = Bs[bo + u32({c})]" for j, c in enumerate(cols)]
    step += [f"    acc[{i * TN + j}] += a{i} * b{j}" for i in range(TM) for j in range(TN)]
    upd = ["def update(acc, As, Bs, ao, bo):"]
    upd += [f"    step(acc, As, Bs, ao + u32({kk * AST}), bo + u32({kk * BN}))"
            for kk in range(BK)]
    ns = {"u32": uint32}
    exec("\n".join(step), ns)  # noqa: S102 - generated from the constants above only
    ns["step"] = forceinline_device(ns["step"])
    exec("\n".join(upd), ns)  # noqa: S102
    zero = dtype.type(0)

    def clear(acc):
        for i in range(TM * TN):
            acc[i] = zero

    return forceinline_device(clear), forceinline_device(ns["update"])


def build_matmul(dtype, config, trans_a=False, trans_b=False):
    """trans_a / trans_b (compile-time constants): a is stored [B, K, M] / b is stored
    [B, N, K], read in place (no materialised transpose)."""
    BM, BN, BK, TM, TN = config
    TA, TB = bool(trans_a), bool(trans_b)
    lay = layout(config)
    NTX, NT, AST, SA, SB = lay["NTX"], lay["NT"], lay["AST"], lay["SA"], lay["SB"]
    cM, cN = lay["cM"], lay["cN"]
    assert (BM * BK) % NT == 0 and (BK * BN) % NT == 0, "each thread loads whole tile elements"
    assert not TA or NT % BM == 0, config
    A_LOADS, B_LOADS = (BM * BK) // NT, (BK * BN) // NT
    A_STEP, B_STEP = NT // BK, NT // BN  # rows between one thread's loads
    # transposed loads run along the operand's contiguous axis: A^T along m, B^T along k
    AT_STEP, BT_STEP = NT // BM, NT // BK  # k rows (A^T) / n columns (B^T) between loads
    ROWS, COLS = row_offsets(config), col_offsets(config)
    TT = TM * TN
    T = np.dtype(dtype).type
    zero = T(0)
    clear, update = tile_ops(dtype, config)

    def matmul(c, a, b, bias, M, K, N, has_bias):
        As = cuda.shared.array(SA, T)
        Bs = cuda.shared.array(SB, T)
        acc = cuda.local.array(TT, T)
        pa = cuda.local.array(A_LOADS, T)
        pb = cuda.local.array(B_LOADS, T)
        aoffs = cuda.local.array(A_LOADS, uint32)
        boffs = cuda.local.array(B_LOADS, uint32)
        tx = uint32(cuda.threadIdx.x)
        ty = uint32(cuda.threadIdx.y)
        tid = ty * uint32(NTX) + tx
        if TA:
            am = tid % uint32(BM)
            ak = tid // uint32(BM)
        else:
            am = tid // uint32(BK)
            ak = tid % uint32(BK)
        if TB:
            bkk = tid % uint32(BK)
            bn = tid // uint32(BK)
        else:
            bkk = tid // uint32(BN)
            bn = tid % uint32(BN)
        row0 = uint32(cuda.blockIdx.y) * uint32(BM)
        col0 = uint32(cuda.blockIdx.x) * uint32(BN)
        ao = uint32(ty * uint32(cM))
        bo = uint32(tx * uint32(cN))
        Ku = uint32(K)
        Mu = uint32(M)
        Nu = uint32(N)
        bz = uint32(cuda.blockIdx.z)
        ntiles = uint32((Ku + uint32(BK - 1)) // uint32(BK))
        # Rows of a past M and columns of b past N are clamped to the last one: both only feed
        # accumulators that are never stored.  The k edge loads zeros on both sides, so even
        # inf/nan inputs cannot leak into stored outputs.  K >= 1 (launcher).  32-bit offsets
        # (the launcher keeps every operand of one launch below 2**31 elements), one per load,
        # advanced by a constant stride per tile.
        if TA:
            m = min(uint32(row0 + am), uint32(Mu - uint32(1)))
            for r in range(A_LOADS):
                aoffs[r] = uint32(uint32(bz * Ku + ak + uint32(r * AT_STEP)) * Mu + m)
        else:
            for r in range(A_LOADS):
                m = min(uint32(row0 + am + uint32(r * A_STEP)), uint32(Mu - uint32(1)))
                aoffs[r] = uint32(uint32(bz * Mu + m) * Ku + ak)
        if TB:
            for r in range(B_LOADS):
                n = min(uint32(col0 + bn + uint32(r * BT_STEP)), uint32(Nu - uint32(1)))
                boffs[r] = uint32(uint32(bz * Nu + n) * Ku + bkk)
        else:
            n = min(uint32(col0 + bn), uint32(Nu - uint32(1)))
            for r in range(B_LOADS):
                boffs[r] = uint32(uint32(bz * Ku + bkk + uint32(r * B_STEP)) * Nu + n)
        astride = uint32(uint32(BK) * Mu) if TA else uint32(BK)
        bstride = uint32(BK) if TB else uint32(uint32(BK) * Nu)
        # this thread's shared-store offsets in buffer 0 (buffer 1: + BK*AST / + BK*BN)
        if TA:
            sa0 = uint32(ak * uint32(AST) + am)
        else:
            sa0 = uint32(ak * uint32(AST) + am)
        if TB:
            sb0 = uint32(bkk * uint32(BN) + bn)
        else:
            sb0 = uint32(bkk * uint32(BN) + bn)
        clear(acc)
        ka = ak
        kb = bkk
        t = uint32(0)
        while t <= ntiles:
            # loads of tile t (t = ntiles: past the end, zeros, never read)
            if TA:
                for r in range(A_LOADS):
                    v = zero
                    if uint32(ka + uint32(r * AT_STEP)) < Ku:
                        v = a[aoffs[r]]
                    pa[r] = v
                    aoffs[r] = uint32(aoffs[r] + astride)
            else:
                ain = ka < Ku
                for r in range(A_LOADS):
                    v = zero
                    if ain:
                        v = a[aoffs[r]]
                    pa[r] = v
                    aoffs[r] = uint32(aoffs[r] + astride)
            if TB:
                bin_ = kb < Ku
                for r in range(B_LOADS):
                    v = zero
                    if bin_:
                        v = b[boffs[r]]
                    pb[r] = v
                    boffs[r] = uint32(boffs[r] + bstride)
            else:
                for r in range(B_LOADS):
                    v = zero
                    if uint32(kb + uint32(r * B_STEP)) < Ku:
                        v = b[boffs[r]]
                    pb[r] = v
                    boffs[r] = uint32(boffs[r] + bstride)
            odd = uint32(t & uint32(1))
            if t > uint32(0):
                update(acc, As, Bs, uint32((odd ^ uint32(1)) * uint32(BK * AST) + ao),
                       uint32((odd ^ uint32(1)) * uint32(BK * BN) + bo))
            sa = uint32(odd * uint32(BK * AST) + sa0)
            for r in range(A_LOADS):
                if TA:
                    As[sa + uint32(r * AT_STEP * AST)] = pa[r]
                else:
                    As[sa + uint32(r * A_STEP)] = pa[r]
            sb = uint32(odd * uint32(BK * BN) + sb0)
            for r in range(B_LOADS):
                if TB:
                    Bs[sb + uint32(r * BT_STEP)] = pb[r]
                else:
                    Bs[sb + uint32(r * B_STEP * BN)] = pb[r]
            cuda.syncthreads()
            ka = uint32(ka + uint32(BK))
            kb = uint32(kb + uint32(BK))
            t = uint32(t + uint32(1))
        # epilogue: + bias[n] (a per-column bias, nn.Linear's) when has_bias
        for i in range(TM):
            gm = uint32(row0 + ao + uint32(ROWS[i]))
            if gm < Mu:
                crow = uint32(uint32(bz * Mu + gm) * Nu)
                for j in range(TN):
                    gn = uint32(col0 + bo + uint32(COLS[j]))
                    if gn < Nu:
                        v = acc[i * TN + j]
                        if has_bias:
                            v += bias[gn]
                        c[uint32(crow + gn)] = v

    a1 = arr(dtype, 1)
    # launch_bounds (NT threads, 2 blocks per SM) caps ptxas at 128 registers (16 warps/SM).
    return (matmul, f"void({a1}, {a1}, {a1}, {a1}, uint32, uint32, uint32, boolean)",
            {"launch_bounds": (NT, 2)})


# (trans_a, trans_b) variants the launchers use: a @ b, x @ W^T (Linear forward), g^T @ x
# (Linear weight gradient)
VARIANTS = ((False, False), (False, True), (True, False))


def _tag(trans_a, trans_b) -> str:
    return ("," + ("T" if trans_a else "N") + ("T" if trans_b else "N")
            if trans_a or trans_b else "")


def matmul_kernel(dtype, cfg, trans_a=False, trans_b=False):
    dtype = np.dtype(dtype)
    key = ("matmul", dtype, cfg, bool(trans_a), bool(trans_b))
    return cached_kernel(key, lambda: build_matmul(dtype, cfg, trans_a, trans_b))


def ptx_signatures() -> list:
    """Every config in every transpose variant ("...,NT]": b transposed, "...,TN]": a)."""
    return [(f"matmul[{dt},{name}:{'x'.join(map(str, cfg))}{_tag(ta, tb)}]",)
            + build_matmul(dt, cfg, ta, tb)
            for dt in ("float32", "float64") for name, cfg in GPU_CONFIGS[dt].items()
            for ta, tb in VARIANTS]


__all__ = ["CONFIGS", "GPU_CONFIGS", "SIM_CONFIGS", "config", "threads", "tile_ops", "layout",
           "matmul_kernel", "ptx_signatures", "FLOATS", "VARIANTS"]
