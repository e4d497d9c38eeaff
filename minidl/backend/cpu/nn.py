"""CPU primitives for the neural-network ops: max/avg pooling (+ backward), local response
normalisation (+ backward), log-softmax over the last axis (+ backward) and dropout masks.

Pooling and LRN are numba `njit(parallel=True)` loops over (n, c) planes: each plane is owned by
one thread, so backward passes accumulate every input-gradient element in a fixed order (the
output windows in raster order, the same order the CUDA gather kernels sum in) and two runs
give bit-identical results.  The dropout mask is the keep rule of minidl.backend.shared.dropout,
compiled with `numba.vectorize`, so it matches the CUDA kernel bit for bit.
What does not live here: argument checks and autograd (minidl.ops.pool / norm / loss /
dropout), output sizes and the average-pool window (minidl.backend.shared: pool_geometry, geometry).
"""
from __future__ import annotations

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads, types, vectorize
from numba.extending import intrinsic

from ...errors import TargetIndexError
from ..shared.dropout import dropout_params, make_keep
from ..shared.geometry import avg_window, divisor_arg
from ..shared.pool_geometry import pool_output_hw

__all__ = ["max_pool2d", "max_pool2d_grad", "avg_pool2d", "avg_pool2d_grad", "lrn", "lrn_grad",
           "log_softmax", "log_softmax_grad", "dropout_mask"]
__all__ += ["cross_entropy", "cross_entropy_grad", "check_class_targets"]


# Below this many elements a call runs on the caller's thread alone: numba's pool (OpenMP) wakes
# its threads for every parallel region, ~10-50 us idle and a time slice (ms) when the cores
# are shared with other processes, while LeNet/CIFAR-sized planes stream through one core in
# well under a millisecond.
_PARALLEL_MIN_ELEMENTS = 1 << 20


def _call(kernel, work: int, *args):
    """kernel(*args), on one thread when `work` (elements touched) is small."""
    n = get_num_threads()
    if n <= 1 or work >= _PARALLEL_MIN_ELEMENTS:
        return kernel(*args)
    set_num_threads(1)
    try:
        return kernel(*args)
    finally:
        set_num_threads(n)


# ---- max pooling -------------------------------------------------------------------------------
@njit(cache=True, inline="always")
def _taps(start, K, D, size):
    """[lo, hi) of the taps k whose position start + k * D lies in [0, size)."""
    lo = 0 if start >= 0 else (-start + D - 1) // D
    last = size - 1 - start
    hi = 0 if last < 0 else min(K, last // D + 1)
    return lo, max(lo, hi)


@njit(parallel=True, cache=True)
def _max_pool_fwd(x, out, idx, KH, KW, SH, SW, PH, PW, DH, DW, nchunk):
    # Any geometry (padding, dilation, windows past the edge); the common unpadded case takes
    # _max_pool_fwd_flat, several times faster.  Each (n, c) plane is handled by one thread,
    # separably, one output row at a time: a vertical pass takes, for every input column, the
    # max over the window's KH rows (value + int32 flat index), then a horizontal pass takes the
    # max of those over each window's KW columns.  ~(KH-1) OH W + (KW-1) OH OW compares instead
    # of KH KW OH OW.  The result is PyTorch's raster-order scan: the largest value, ties to the
    # lowest flat index (first in (kh, kw) order), any NaN beats numbers and the last NaN wins;
    # the horizontal pass compares flat indices to keep that order across columns.  A window of
    # -inf keeps its first valid index; a window without a valid tap (only possible with
    # dilation) gives -inf and index -1.
    NC, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    ninf = x.dtype.type(-np.inf)
    ntap = np.empty(OW, np.int64)  # valid column taps of each output column, and the first
    wfirst = np.empty(OW, np.int64)
    for ow in range(OW):
        ws = ow * SW - PW
        lo, hi = _taps(ws, KW, DW, W)
        ntap[ow] = hi - lo
        wfirst[ow] = ws + lo * DW
    # planes are split into `nchunk` chunks (a few per thread); each allocates its column
    # buffers once
    for ch in prange(nchunk):
        cv = np.empty(W, x.dtype)
        ci = np.empty(W, np.int32)
        for p in range(ch * NC // nchunk, (ch + 1) * NC // nchunk):
            xp = x[p]
            for oh in range(OH):
                best = out[p, oh]
                bidx = idx[p, oh]
                hs = oh * SH - PH
                klo, khi = _taps(hs, KH, DH, H)
                if klo == khi:
                    for ow in range(OW):
                        best[ow] = ninf
                        bidx[ow] = -1
                    continue
                h = hs + klo * DH
                row = xp[h]
                base = h * W
                for w in range(W):
                    cv[w] = row[w]
                    ci[w] = base + w
                for _ in range(klo + 1, khi):
                    h += DH
                    row = xp[h]
                    base = h * W
                    for w in range(W):
                        v = row[w]
                        b = cv[w]
                        take = (v > b) | (v != v)  # later rows win only if larger, or NaN
                        cv[w] = v if take else b
                        ci[w] = (base + w) if take else ci[w]
                for ow in range(OW):
                    n = ntap[ow]
                    if n == 0:
                        best[ow] = ninf
                        bidx[ow] = -1
                        continue
                    w = wfirst[ow]
                    b = cv[w]
                    bi = ci[w]
                    for _ in range(1, n):
                        w += DW
                        v = cv[w]
                        i = ci[w]
                        take = ((v > b) | ((v == b) & (i < bi))
                                | ((v != v) & ((b == b) | (i > bi))))
                        b = v if take else b
                        bi = i if take else bi
                    best[ow] = b
                    bidx[ow] = bi


@intrinsic
def _select(typingctx, cond, a, b):
    """`a if cond else b` as one LLVM select.  numba lowers the Python conditional to branches,
    which LLVM turns into masked stores (microcoded, very slow on AMD) or leaves unvectorised."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(*args)
    return a(cond, a, b), codegen


_BLK = 256  # outputs per block of the flat kernel: its buffers stay in L1


@njit(parallel=True, cache=True)
def _max_pool_fwd_flat(x, out, idx, W, KH, KW, SH, SW, nchunk):
    # Windows wholly inside the plane (no padding, dilation 1), SH * W divisible by SW.  The
    # plane (flat, x[p][k]) is split into SW phases P[s][j] = x[p][SW * j + s]; then tap
    # t = kh * W + kw of output (oh, ow) is P[t % SW][m + t // SW] with m = oh * RS + ow,
    # RS = SH * W / SW: every tap is one unit-stride run over m.  Rows are too short (27 at
    # AlexNet's pool1) for LLVM's 32-wide vector loop, so m runs over whole planes (the columns
    # ow >= OW of each row are computed and dropped) in L1-sized blocks.  The taps are scanned
    # in PyTorch's raster order (take if larger or NaN), so ties go to the first max and the
    # last NaN wins; the result buffers alternate (a select stored in place becomes a masked
    # store).  The tap offset t is kept and turned into the flat index at the end.
    NC, HW = x.shape
    OH, OW = out.shape[1], out.shape[2]
    RS = SH * W // SW
    M = (OH - 1) * RS + OW
    L = M + ((KH - 1) * W + KW - 1) // SW + 1
    for ch in prange(nchunk):
        P = np.zeros((SW, L), x.dtype)  # entries past the plane only feed dropped columns
        bv = np.empty((2, _BLK), x.dtype)
        bx = np.empty((2, _BLK), np.int32)
        res = np.empty(M, x.dtype)
        rest = np.empty(M, np.int32)
        for p in range(ch * NC // nchunk, (ch + 1) * NC // nchunk):
            xp = x[p]
            if SW == 2:  # constant stride: LLVM vectorises the de-interleave
                n = min(L, HW // 2)
                q0 = P[0]
                q1 = P[1]
                for j in range(n):
                    q0[j] = xp[2 * j]
                    q1[j] = xp[2 * j + 1]
                if HW % 2 and n < L:
                    q0[n] = xp[2 * n]
            else:
                for s in range(SW):
                    q = P[s]
                    for j in range(min(L, (HW - s + SW - 1) // SW)):
                        q[j] = xp[SW * j + s]
            for m0 in range(0, M, _BLK):
                nb = min(_BLK, M - m0)
                b = bv[0]
                bt = bx[0]
                q = P[0][m0:m0 + nb]
                for m in range(nb):
                    b[m] = q[m]
                    bt[m] = 0
                cur = 0
                for kh in range(KH):
                    for kw in range(KW):
                        t = kh * W + kw
                        if t == 0:
                            continue
                        d = m0 + t // SW
                        q = P[t % SW][d:d + nb]
                        b = bv[cur]
                        bt = bx[cur]
                        b2 = bv[1 - cur]
                        bt2 = bx[1 - cur]
                        t32 = np.int32(t)
                        for m in range(nb):
                            v = q[m]
                            c = b[m]
                            take = (v > c) | (v != v)
                            b2[m] = _select(take, v, c)
                            bt2[m] = _select(take, t32, bt[m])
                        cur = 1 - cur
                res[m0:m0 + nb] = bv[cur, :nb]
                rest[m0:m0 + nb] = bx[cur, :nb]
            for oh in range(OH):
                o = out[p, oh]
                oi = idx[p, oh]
                r = oh * RS
                k0 = oh * SH * W
                for ow in range(OW):
                    o[ow] = res[r + ow]
                    oi[ow] = k0 + ow * SW + rest[r + ow]


@njit(parallel=True, cache=True)
def _max_pool_bwd(g, idx, gx):
    # gx [NC, H*W] uninitialised; one thread per plane zeroes its plane (first touch while it is
    # about to be hot in cache, no separate memset pass) and adds the window gradients in
    # raster order
    NC, n = g.shape
    zero = gx.dtype.type(0)
    for p in prange(NC):
        gp = gx[p]
        for j in range(gp.shape[0]):
            gp[j] = zero
        for o in range(n):
            i = idx[p, o]
            if i >= 0:
                gx[p, i] += g[p, o]


def max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, kernel, stride, padding, dilation, ceil_mode)
    out = np.empty((N, C, OH, OW), x.dtype)
    idx = np.empty((N, C, OH, OW), np.int64)
    assert H * W < 2 ** 31, "max_pool2d: planes of 2**31 elements or more are not supported"
    if out.size == 0:
        return out, idx
    (KH, KW), (SH, SW) = kernel, stride
    x = np.ascontiguousarray(x)
    nchunk = max(1, min(N * C, 4 * get_num_threads()))
    work = x.size + 3 * out.size
    if tuple(padding) == (0, 0) and tuple(dilation) == (1, 1):
        # ceil_mode windows reaching past the bottom/right edge: pad there with -inf and take
        # the flat kernel (each window's first tap is inside, so -inf padding never wins a tie)
        Hp = max(H, (OH - 1) * SH + KH)
        Wp = max(W, (OW - 1) * SW + KW)
        Wp += -Wp % SW
        if (Hp, Wp) != (H, W) and OW <= SH * Wp // SW and x.size < 2 ** 30:
            xp = np.full((N * C, Hp, Wp), -np.inf, x.dtype)
            xp[:, :H, :W] = x.reshape(N * C, H, W)
            _call(_max_pool_fwd_flat, work, xp.reshape(N * C, Hp * Wp),
                  out.reshape(N * C, OH, OW), idx.reshape(N * C, OH, OW), Wp, KH, KW, SH, SW,
                  nchunk)
            np.add(idx // Wp * W, idx % Wp, out=idx)
            return out, idx
    if (tuple(padding) == (0, 0) and tuple(dilation) == (1, 1) and (SH * W) % SW == 0
            and (OH - 1) * SH + KH <= H and (OW - 1) * SW + KW <= W and OW <= SH * W // SW):
        _call(_max_pool_fwd_flat, work, x.reshape(N * C, H * W), out.reshape(N * C, OH, OW),
              idx.reshape(N * C, OH, OW), W, KH, KW, SH, SW, nchunk)
    else:
        _call(_max_pool_fwd, work, x.reshape(N * C, H, W), out.reshape(N * C, OH, OW),
              idx.reshape(N * C, OH, OW), KH, KW, SH, SW, padding[0], padding[1],
              dilation[0], dilation[1], nchunk)
    return out, idx


def max_pool2d_grad(g, indices, x_shape, kernel, stride, padding, dilation):
    N, C, H, W = x_shape
    if g.size == 0:
        return np.zeros(x_shape, g.dtype)
    gx = np.empty((N * C, H * W), g.dtype)
    if gx.size:
        _call(_max_pool_bwd, gx.size + 3 * g.size, np.ascontiguousarray(g).reshape(N * C, -1),
              indices.reshape(N * C, -1), gx)
    return gx.reshape(x_shape)


# ---- average pooling ---------------------------------------------------------------------------
_avg_window = njit(inline="always")(avg_window)


@njit(parallel=True, cache=True)
def _avg_pool_fwd(x, out, KH, KW, SH, SW, PH, PW, include_pad, override):
    NC, H, W = x.shape
    OH, OW = out.shape[1], out.shape[2]
    zero = x.dtype.type(0)
    for p in prange(NC):
        for oh in range(OH):
            for ow in range(OW):
                h0, h1, w0, w1, div = _avg_window(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
                                                  include_pad, override)
                acc = zero
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        acc += x[p, h, w]
                out[p, oh, ow] = acc / x.dtype.type(div)


@njit(parallel=True, cache=True)
def _avg_pool_bwd(g, gx, KH, KW, SH, SW, PH, PW, include_pad, override):
    NC, H, W = gx.shape
    OH, OW = g.shape[1], g.shape[2]
    for p in prange(NC):
        for oh in range(OH):
            for ow in range(OW):
                h0, h1, w0, w1, div = _avg_window(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
                                                  include_pad, override)
                gv = g[p, oh, ow] / g.dtype.type(div)
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        gx[p, h, w] += gv


def avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
    N, C, H, W = x.shape
    OH, OW = pool_output_hw(H, W, kernel, stride, padding, (1, 1), ceil_mode)
    out = np.empty((N, C, OH, OW), x.dtype)
    if out.size:
        _call(_avg_pool_fwd, x.size + out.size,
              np.ascontiguousarray(x).reshape(N * C, H, W), out.reshape(N * C, OH, OW),
              kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1],
              bool(count_include_pad), divisor_arg(divisor_override))
    return out


def avg_pool2d_grad(g, x_shape, kernel, stride, padding, count_include_pad, divisor_override):
    N, C, H, W = x_shape
    gx = np.zeros((N * C, H, W), g.dtype)
    if g.size:
        OH, OW = g.shape[2], g.shape[3]
        _call(_avg_pool_bwd, gx.size + g.size,
              np.ascontiguousarray(g).reshape(N * C, OH, OW), gx, kernel[0], kernel[1],
              stride[0], stride[1], padding[0], padding[1], bool(count_include_pad),
              divisor_arg(divisor_override))
    return gx.reshape(x_shape)


# ---- local response normalisation --------------------------------------------------------------
# scale^-beta: a scalar pow (tens of cycles, never vectorised) per element dominated both
# passes; for beta = 0.75 (AlexNet's and cuda-convnet's) it is r sqrt(r) with r = 1/sqrt(scale),
# which vectorises (same values up to rounding; inf/NaN alike).
@njit(parallel=True, cache=True)
def _lrn_fwd(x, out, scale, size, alpha_n, beta, k, tq):
    N, C, L = x.shape
    before = size // 2
    after = (size - 1) // 2
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for i in prange(N * C):
        n = i // C
        c = i - n * C
        s = scale[n, c]
        for j in range(L):
            s[j] = zero
        for cc in range(max(0, c - before), min(C, c + after + 1)):
            xv = x[n, cc]
            for j in range(L):
                s[j] += xv[j] * xv[j]
        xo = x[n, c]
        o = out[n, c]
        if tq:
            for j in range(L):
                sl = k + alpha_n * s[j]
                s[j] = sl
                r = one / np.sqrt(sl)
                o[j] = xo[j] * (r * np.sqrt(r))
        else:
            for j in range(L):
                sl = k + alpha_n * s[j]
                s[j] = sl
                o[j] = xo[j] * sl ** -beta


@njit(parallel=True, cache=True)
def _lrn_bwd(g, x, out, scale, gx, size, coef, beta, tq):
    N, C, L = x.shape
    before = size // 2
    after = (size - 1) // 2
    t = np.empty_like(g)
    for i in prange(N * C):
        n = i // C
        c = i - n * C
        tv = t[n, c]
        gv = g[n, c]
        ov = out[n, c]
        sv = scale[n, c]
        for j in range(L):
            tv[j] = gv[j] * ov[j] / sv[j]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for i in prange(N * C):
        n = i // C
        c = i - n * C
        acc = gx[n, c]
        for j in range(L):
            acc[j] = zero
        # channel c is in the window of c' for c' in [c - after, c + before]
        for cc in range(max(0, c - after), min(C, c + before + 1)):
            tv = t[n, cc]
            for j in range(L):
                acc[j] += tv[j]
        gv = g[n, c]
        sv = scale[n, c]
        xv = x[n, c]
        if tq:
            for j in range(L):
                r = one / np.sqrt(sv[j])
                acc[j] = gv[j] * (r * np.sqrt(r)) - coef * xv[j] * acc[j]
        else:
            for j in range(L):
                acc[j] = gv[j] * sv[j] ** -beta - coef * xv[j] * acc[j]


def lrn(x, size, alpha, beta, k):
    T = x.dtype.type
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    scale = np.empty_like(x)
    if x.size:
        _call(_lrn_fwd, 3 * x.size, x, out, scale, int(size), T(alpha / size), T(beta), T(k),
              float(beta) == 0.75)
    return out, scale


def lrn_grad(g, x, out, scale, size, alpha, beta, k):
    T = x.dtype.type
    gx = np.empty_like(x)
    if x.size:
        _call(_lrn_bwd, 6 * x.size, np.ascontiguousarray(g), x, out, scale, gx, int(size),
              T(2.0 * alpha * beta / size), T(beta), float(beta) == 0.75)
    return gx


# ---- log-softmax over the last axis ------------------------------------------------------------
def log_softmax(x):
    if x.size == 0:
        return np.empty_like(x)
    with np.errstate(invalid="ignore", over="ignore"):
        z = x - x.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def log_softmax_grad(g, y):
    if g.size == 0:
        return np.empty_like(g)
    return g - np.exp(y) * g.sum(axis=-1, keepdims=True)


# ---- fused cross-entropy over class-index targets -----------------------------------------------
# One serial pass per row (rows are short: C classes): max, sum of exp, then the loss, or the
# gradient from the saved log-sum-exp.  The arithmetic mirrors the composed path it replaces
# (log_softmax, then -where(read, lp * coef, 0).sum()), NaN/-inf corners included: only the
# target entry is read without smoothing, and an ignored row's gradient is softmax * 0.
@njit(cache=True)
def _ce_fwd(x, t, w, ii, smooth, keep, epc, loss, lse, rw):
    M, C = x.shape
    zero = x.dtype.type(0)
    for i in range(M):
        m = x[i, 0]
        for c in range(C):
            v = x[i, c]
            if v > m or v != v:
                m = v
        s = zero
        for c in range(C):
            s += np.exp(x[i, c] - m)
        lv = m + np.log(s)
        lse[i] = lv
        ti = t[i]
        if ti == ii or ti < 0 or ti >= C:
            loss[i] = zero
            rw[i] = zero
            continue
        rw[i] = w[ti]
        if smooth:
            acc = zero
            for c in range(C):
                cf = (keep + epc) * w[c] if c == ti else epc * w[c]
                acc += (x[i, c] - lv) * cf
            loss[i] = -acc
        else:
            loss[i] = -((x[i, ti] - lv) * w[ti])


@njit(cache=True)
def _ce_bwd(g, x, t, w, lse, ii, smooth, keep, epc, dx):
    M, C = x.shape
    zero = x.dtype.type(0)
    per_row = g.shape[0] > 1
    for i in range(M):
        ti = t[i]
        lv = lse[i]
        if ti == ii or ti < 0 or ti >= C:
            for c in range(C):
                dx[i, c] = np.exp(x[i, c] - lv) * zero
            continue
        gi = g[i] if per_row else g[0]
        if smooth:
            S = zero
            for c in range(C):
                S += (keep + epc) * w[c] if c == ti else epc * w[c]
        else:
            S = w[ti]
        gs = gi * S
        for c in range(C):
            d = np.exp(x[i, c] - lv) * gs
            if smooth:
                d -= gi * ((keep + epc) * w[c] if c == ti else epc * w[c])
            elif c == ti:
                d -= gi * w[ti]
            dx[i, c] = d


_CE_ONES: dict = {}  # (C, dtype) -> read-only ones: the weight of an unweighted loss


def _ce_args(x, weight, smoothing):
    T = x.dtype.type
    C = x.shape[1]
    if weight is None:
        w = _CE_ONES.get((C, x.dtype))
        if w is None:
            w = _CE_ONES[(C, x.dtype)] = np.ones(C, x.dtype)
            w.flags.writeable = False
    else:
        w = np.ascontiguousarray(weight, x.dtype)
    return w, smoothing > 0, T(1.0 - smoothing), T(smoothing / C if C else 0.0)


def cross_entropy(x, target, weight, ignore_index, smoothing):
    M = x.shape[0]
    loss, lse, rw = (np.empty(M, x.dtype) for _ in range(3))
    w, smooth, keep, epc = _ce_args(x, weight, smoothing)
    if x.shape[1] == 0:  # only ignored rows can exist: loss 0, and an empty row's lse
        loss[:], lse[:], rw[:] = 0, -np.inf, 0
        return loss, lse, rw
    _ce_fwd(np.ascontiguousarray(x), np.ascontiguousarray(target), w, int(ignore_index),
            smooth, keep, epc, loss, lse, rw)
    return loss, lse, rw


def cross_entropy_grad(g, x, target, weight, lse, ignore_index, smoothing):
    dx = np.empty(x.shape, x.dtype)
    w, smooth, keep, epc = _ce_args(x, weight, smoothing)
    _ce_bwd(np.ascontiguousarray(g).reshape(-1), np.ascontiguousarray(x),
            np.ascontiguousarray(target), w, lse, int(ignore_index), smooth, keep, epc, dx)
    return dx


# ---- dropout -----------------------------------------------------------------------------------
_NB = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64"}
_keep_ufuncs: dict = {}


def _keep_ufunc(dtype):
    uf = _keep_ufuncs.get(dtype)
    if uf is None:
        t = _NB[dtype]
        uf = vectorize([f"{t}(uint64, uint64, {t}, {t})"])(make_keep(dtype.type, njit))
        _keep_ufuncs[dtype] = uf
    return uf


def dropout_mask(shape, p, seed, offset, dtype):
    dtype = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    q, scale = dropout_params(p, dtype)
    counters = np.arange(n, dtype=np.uint64) + np.uint64(offset)
    return np.asarray(_keep_ufunc(dtype)(np.uint64(seed), counters, q, scale)).reshape(shape)



def check_class_targets(target, C, ignore_index):
    t = target.reshape(-1)
    bad = (t != ignore_index) & ((t < 0) | (t >= C))
    if bad.any():
        raise TargetIndexError(f"Target {int(t[bad][0])} is out of bounds.")
