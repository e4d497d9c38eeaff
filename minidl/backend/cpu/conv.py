"""CPU convolution primitives: conv2d, conv2d_grad_input, conv2d_grad_weight (NCHW, any groups).

Algorithm: im2col + BLAS GEMM over chunks of nb images, so the column matrix stays in cache.
Inside a chunk the images are repacked batch-innermost with the zero padding included, as
cuda-convnet's [C, H, W, N] layout, and with the columns split by phase modulo the stride
(space-to-depth along W): `xt[C, Hp, sw, Wq, nb]`.  Then the Wo*nb values one kernel tap
reads for one output row are contiguous, for any stride and dilation, and every im2col copy
is a single run of Wo*nb elements (short runs, not bytes, are what an im2col costs).  The
column matrix of a chunk is `cols[C, kh, kw, Ho, Wo, nb]`: per group g a [K, M] matrix with
K = C/G*kh*kw, M = Ho*Wo*nb, and

    forward       out_g [Co/G, M] = w_g [Co/G, K] @ cols_g [K, M]     then [Co, L, nb] -> NCHW
    grad_weight   gw_g  [Co/G, K] += gT_g [Co/G, M] @ cols_g^T [M, K]  (gT: g as [Co, L, nb])
    grad_input    dcols_g [K, M] = w_g^T [K, Co/G] @ gT_g [Co/G, M]   then col2im, unpack

Row-window path (used when Cg*kw >= _SHIFT_MIN_K and a cblas gemm is found, i.e. every
layer but a network's first): the columns are im2col over the kw taps only, every padded row
once, `[C, kw, sh, Hq, Wo, nb]` (kh times smaller), and kernel row i multiplies a window of
them (a strided matrix with leading dimension) in kh accumulating cblas GEMMs; see _Geom.
Full-im2col path (small Cg*kw): groups are the batch dimension of one `np.matmul` call.
There, when an image has >= _IMAGE_GEMM_COLS output positions (AlexNet's conv1, LeNet's C1;
measured, see there), each image gets its own [K, L] column matrix and GEMM: [Co, L] is already
NCHW, so the output and gradient skip the batch-innermost transposes; a chunk holds as many
images as fit _CHUNK_BYTES and runs as one im2col call and one batched np.matmul (one Python
round trip per chunk, not per image).  `_Geom.path` names the choice ("rows", "image", "cols").
The bias (optional) is added while the output leaves the GEMM's layout.  GEMMs of fewer than
~16M multiply-adds run on one BLAS thread (see _blas).

The packing, im2col, col2im and layout changes are nogil numba loops over channels, split
over a few Python threads for large chunks (see _run); the GEMMs run on BLAS's threads.
col2im accumulates each channel's taps in a fixed order on one thread, and the GEMMs run in a
fixed order: deterministic, no atomics.  Measured against PyTorch in bench/primitives.py.

Geometry arguments (validated by minidl.ops.conv): stride (sh, sw), padding ((top, bottom),
(left, right)), dilation (dh, dw), groups G; Ho = (H + top + bottom - dh*(kh-1) - 1) // sh + 1.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

from . import _blas

__all__ = ["conv2d", "conv2d_grad_input", "conv2d_grad_weight"]

# Target bytes of one chunk's column matrix: small enough to stay in L2/L3 between im2col and
# the GEMM that reads it, large enough that the GEMM's M = Ho*Wo*nb keeps BLAS efficient
# (bench/primitives.py; 2 MiB L2 per core, 32 MiB L3 here).  2 MiB measured against 8 MiB,
# fwd + both gradients, one thread, CPU time: CIFAR conv2 93 vs 117 ms, conv3 44 vs 47,
# LeNet C3 2.6 vs 2.9, AlexNet conv2 (batch 8) 252 vs 250.
_CHUNK_BYTES = 2 << 20
_MIN_GEMM_COLS = 2048
# full-im2col path: per-image GEMMs when an image has this many output positions (its GEMM
# is wide enough; the output and gradient skip the batch-innermost transposes).  Measured
# (fwd + grad_weight, one thread, alternating, 40 runs): LeNet's c1 at batch 64 (L = 576)
# 2.0 ms in one-image chunks vs 10 ms (p10: 1.7 vs 2.5) in one 64-image batch-innermost chunk;
# its C3 (L = 100) the other way, 3.7 vs 2.3 ms.  So below, batch-innermost chunks.  Batching
# the per-image GEMMs of a chunk into one np.matmul (2026-12-08) then took c1's fwd + both
# gradients from 2.2 to 1.0 ms at batch 64 and 8.5 to 4.1 ms at batch 256 (one thread).
_IMAGE_GEMM_COLS = 512
# the row-window path (see _Geom) from this GEMM depth Cg*kw on
_SHIFT_MIN_K = 64


# ---- layout kernels ------------------------------------------------------------------------------
# Flat 1-D arrays with explicit offsets; every inner loop runs over a slice view indexed by the
# loop variable alone.  (Indexing the flat array with `offset + e` makes numba emit a negative-
# index wraparound check per element that LLVM cannot vectorize away: measured 12x slower.)
@njit(cache=True, nogil=True)
def _pack(lo, hi, x, xt, n0, nb, C, H, W, pt, pl, Hp, sw, Wq):
    """xt[c, pt + h, (pl + w) % sw, (pl + w) // sw, n] = x[n0 + n, c, h, w]; zero elsewhere.

    Columns are split by phase modulo the stride (space-to-depth along W), so the columns a
    kernel tap reads at stride sw are contiguous: im2col copies runs of Wo*nb elements.
    A transpose: contiguous runs of nb on the write side when nb >= 2*W, else contiguous x rows
    read and scattered into one L1-sized row of xt."""
    HW = H * W
    CHW = C * HW
    plane_n = Hp * sw * Wq * nb
    for c in range(lo, hi):
        plane = xt[c * plane_n:(c + 1) * plane_n]
        plane[:] = 0
        for h in range(H):
            if nb >= 2 * W:
                row = x[(n0 * C + c) * HW + h * W:]
                for w in range(W):
                    d = (((pt + h) * sw + (pl + w) % sw) * Wq + (pl + w) // sw) * nb
                    dst = plane[d:d + nb]
                    src = row[w:w + (nb - 1) * CHW + 1:CHW]
                    for n in range(nb):
                        dst[n] = src[n]
                continue
            for n in range(nb):
                row = x[((n0 + n) * C + c) * HW + h * W:((n0 + n) * C + c) * HW + (h + 1) * W]
                for w0 in range(min(sw, W)):  # the columns of one phase: stride sw in x
                    ph = (pl + w0) % sw
                    d = (((pt + h) * sw + ph) * Wq + (pl + w0) // sw) * nb + n
                    src = row[w0::sw]
                    dst = plane[d:d + len(src) * nb:nb]
                    for e in range(len(src)):
                        dst[e] = src[e]


@njit(cache=True, nogil=True)
def _unpack(lo, hi, dxt, dx, n0, nb, C, H, W, pt, pl, Hp, sw, Wq):
    """dx[n0 + n, c, h, w] = dxt[c, pt + h, (pl + w) % sw, (pl + w) // sw, n] (inverse of _pack)."""
    HW = H * W
    CHW = C * HW
    plane_n = Hp * sw * Wq * nb
    for c in range(lo, hi):
        plane = dxt[c * plane_n:(c + 1) * plane_n]
        for h in range(H):
            if nb >= 2 * W:
                row = dx[(n0 * C + c) * HW + h * W:]
                for w in range(W):
                    s = (((pt + h) * sw + (pl + w) % sw) * Wq + (pl + w) // sw) * nb
                    src = plane[s:s + nb]
                    dst = row[w:w + (nb - 1) * CHW + 1:CHW]
                    for n in range(nb):
                        dst[n] = src[n]
                continue
            for n in range(nb):
                row = dx[((n0 + n) * C + c) * HW + h * W:((n0 + n) * C + c) * HW + (h + 1) * W]
                for w0 in range(min(sw, W)):
                    ph = (pl + w0) % sw
                    s = (((pt + h) * sw + ph) * Wq + (pl + w0) // sw) * nb + n
                    dst = row[w0::sw]
                    src = plane[s:s + len(dst) * nb:nb]
                    for e in range(len(dst)):
                        dst[e] = src[e]


# blocks of _LNB_BLOCK output positions when a channel's [L, nb] exceeds _LNB_L1 elements:
# the strided side of the transpose then stays in L1
_LNB_BLOCK = 32
_LNB_L1 = 8192


@njit(cache=True, nogil=True)
def _to_lnb(lo, hi, a, t, n0, nb, Co, L):
    """t[o, l, n] = a[n0 + n, o, l]: an NCHW output/gradient chunk in the GEMM's column order."""
    step = L if L * nb <= _LNB_L1 else _LNB_BLOCK
    for o in range(lo, hi):
        blk = t[o * L * nb:(o + 1) * L * nb]
        for l0 in range(0, L, step):
            l1 = min(l0 + step, L)
            for n in range(nb):
                s = ((n0 + n) * Co + o) * L
                src = a[s + l0:s + l1]
                dst = blk[l0 * nb + n:l1 * nb:nb]
                for e in range(l1 - l0):
                    dst[e] = src[e]


@njit(cache=True, nogil=True)
def _from_lnb(lo, hi, t, a, n0, nb, Co, L, bias):
    """a[n0 + n, o, l] = t[o, l, n] + bias[o] (the inverse of _to_lnb; bias may be empty)."""
    step = L if L * nb <= _LNB_L1 else _LNB_BLOCK
    for o in range(lo, hi):
        blk = t[o * L * nb:(o + 1) * L * nb]
        b = bias[o] if bias.shape[0] else t.dtype.type(0)
        for l0 in range(0, L, step):
            l1 = min(l0 + step, L)
            for n in range(nb):
                d = ((n0 + n) * Co + o) * L
                dst = a[d + l0:d + l1]
                src = blk[l0 * nb + n:l1 * nb:nb]
                for e in range(l1 - l0):
                    dst[e] = src[e] + b


@njit(cache=True, nogil=True)
def _im2col(lo, hi, xt, cols, nb, C, Hp, sw, Wq, kh, kw, Ho, Wo, sh, dh, dw):
    """cols[c, i, j, oh, ow, n] = padded x[n, c, oh*sh + i*dh, ow*sw + j*dw], read from the
    phase-split xt of _pack: one contiguous run of Wo*nb elements per (c, i, j, oh)."""
    run = Wo * nb
    for t in range(lo, hi):
        c = t // kh
        i = t - c * kh
        for j in range(kw):
            ph = (j * dw) % sw
            q = (j * dw) // sw
            d = ((t * kw + j) * Ho) * run
            for oh in range(Ho):
                s = (((c * Hp + oh * sh + i * dh) * sw + ph) * Wq + q) * nb
                dst = cols[d:d + run]
                src = xt[s:s + run]
                for e in range(run):
                    dst[e] = src[e]
                d += run


@njit(cache=True, nogil=True)
def _col2im(lo, hi, dcols, dxt, nb, C, Hp, sw, Wq, kh, kw, Ho, Wo, sh, dh, dw):
    """dxt (the phase-split layout of _pack) = sum over taps of dcols[c, i, j, oh, ow, n] at
    padded (oh*sh + i*dh, ow*sw + j*dw), zeroed first.  Taps accumulate in a fixed
    order: deterministic, no atomics."""
    run = Wo * nb
    plane = Hp * sw * Wq * nb
    for c in range(lo, hi):
        dxt[c * plane:(c + 1) * plane] = 0
        for i in range(kh):
            for j in range(kw):
                ph = (j * dw) % sw
                q = (j * dw) // sw
                s = (((c * kh + i) * kw + j) * Ho) * run
                for oh in range(Ho):
                    d = (((c * Hp + oh * sh + i * dh) * sw + ph) * Wq + q) * nb
                    src = dcols[s:s + run]
                    dst = dxt[d:d + run]
                    for e in range(run):
                        dst[e] += src[e]
                    s += run


@njit(cache=True, nogil=True)
def _im2row(lo, hi, xt, colsw, nb, C, Hp, sw, Wq, kw, Wo, sh, Hq, dw):
    """colsw[c, j, r, hq, ow, n] = padded x[n, c, hq*sh + r, ow*sw + j*dw]: im2col over the
    kw taps only, every padded row once (rows split by phase modulo sh, as columns in _pack).
    Kernel row i then reads rows oh*sh + i*dh as one window of this matrix (see _Geom.shift)."""
    run = Wo * nb
    for t in range(lo, hi):
        c = t // kw
        j = t - c * kw
        ph = (j * dw) % sw
        q = (j * dw) // sw
        d0 = t * sh * Hq * run
        for hp in range(Hp):
            d = d0 + ((hp % sh) * Hq + hp // sh) * run
            s = (((c * Hp + hp) * sw + ph) * Wq + q) * nb
            dst = colsw[d:d + run]
            src = xt[s:s + run]
            for e in range(run):
                dst[e] = src[e]


@njit(cache=True, nogil=True)
def _row2im(lo, hi, dcolsw, dxt, nb, C, Hp, sw, Wq, kw, Wo, sh, Hq, dw):
    """dxt = the sum over j of dcolsw[c, j, ...] at their columns (the adjoint of _im2row),
    zeroed first; taps in a fixed order: deterministic, no atomics."""
    run = Wo * nb
    plane = Hp * sw * Wq * nb
    for c in range(lo, hi):
        dxt[c * plane:(c + 1) * plane] = 0
        for j in range(kw):
            ph = (j * dw) % sw
            q = (j * dw) // sw
            s0 = (c * kw + j) * sh * Hq * run
            for hp in range(Hp):
                s = s0 + ((hp % sh) * Hq + hp // sh) * run
                d = (((c * Hp + hp) * sw + ph) * Wq + q) * nb
                src = dcolsw[s:s + run]
                dst = dxt[d:d + run]
                for e in range(run):
                    dst[e] += src[e]


@njit(cache=True, nogil=True)
def _images_im2col(lo, hi, x, cols, n0, C, H, W, pt, pl, Hp, sw, Wq, kh, kw, Ho, Wo, sh, dh, dw):
    """cols[n, c, i, j, oh, ow] for images n0 + [lo, hi): each image's own column matrix
    (_pack + _im2col of one image), so a batched GEMM writes NCHW output directly."""
    per = C * kh * kw * Ho * Wo
    xt = np.empty(C * Hp * sw * Wq, dtype=cols.dtype)
    for n in range(lo, hi):
        _pack(0, C, x, xt, n0 + n, 1, C, H, W, pt, pl, Hp, sw, Wq)
        _im2col(0, C * kh, xt, cols[n * per:(n + 1) * per], 1, C, Hp, sw, Wq, kh, kw, Ho, Wo,
                sh, dh, dw)


@njit(cache=True, nogil=True)
def _images_col2im(lo, hi, dcols, dx, n0, C, H, W, pt, pl, Hp, sw, Wq, kh, kw, Ho, Wo, sh, dh,
                   dw):
    """dx[n0 + n] = col2im of dcols[n] for n in [lo, hi) (the adjoint of _images_im2col)."""
    per = C * kh * kw * Ho * Wo
    dxt = np.empty(C * Hp * sw * Wq, dtype=dcols.dtype)
    for n in range(lo, hi):
        _col2im(0, C, dcols[n * per:(n + 1) * per], dxt, 1, C, Hp, sw, Wq, kh, kw, Ho, Wo, sh,
                dh, dw)
        _unpack(0, C, dxt, dx, n0 + n, 1, C, H, W, pt, pl, Hp, sw, Wq)


# ---- BLAS -------------------------------------------------------------------------------------
# numpy.matmul cannot accumulate (beta = 1) nor take a matrix at an offset with a leading
# dimension other than its width, which the row-window GEMMs need: _blas calls the cblas gemm
# of the OpenBLAS numpy loaded.  GEMM None: the full-im2col path only.
_GEMM = _blas.GEMM
_gemm = _blas.gemm


# ---- threads for the layout kernels ----------------------------------------------------------
# Python threads running the nogil kernels on disjoint ranges, not numba's parallel pool: idle
# pool threads here block on a lock instead of spin-waiting, so they do not fight BLAS's own
# threads (a numba pool beside BLAS's was measured 2-10x slower when the two cores are shared
# with another process).  NUMBA_NUM_THREADS sets the count (1: everything on the caller).
# From 2M elements (8 MB float32, ~1 ms of copying) per kernel call on: a hand-off to a pool
# thread costs tens of us idle and a time slice (ms) on a loaded machine, so LeNet- and
# CIFAR-sized chunks (<= 1M) stay on the caller; AlexNet's conv2-5 chunks split.
_PARALLEL_MIN_ELEMENTS = 1 << 21
_pool_state: list = [None, None]  # [executor, pid that created it]


def _pool(workers: int):
    ex, pid = _pool_state
    if ex is None or pid != os.getpid() or ex._max_workers < workers:  # new after a fork
        ex = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="minidl-conv")
        _pool_state[:] = [ex, os.getpid()]
    return ex


def _run(kernel, n: int, work: int, *args) -> None:
    """kernel(lo, hi, *args) over [0, n), split over threads when the chunk is large."""
    t = min(int(numba.config.NUMBA_NUM_THREADS), n)
    if t <= 1 or work < _PARALLEL_MIN_ELEMENTS:
        kernel(0, n, *args)
        return
    bounds = [n * k // t for k in range(t + 1)]
    futures = [_pool(t - 1).submit(kernel, bounds[k], bounds[k + 1], *args) for k in range(1, t)]
    kernel(bounds[0], bounds[1], *args)  # the caller takes the first range
    for f in futures:
        f.result()


# ---- driver --------------------------------------------------------------------------------------
def _chunk(n: int, k: int, L: int, itemsize: int, elems: int = 0) -> int:
    """Images per chunk: the column matrix (k*L, or elems, per image) near _CHUNK_BYTES, GEMM
    width >= _MIN_GEMM_COLS."""
    per_image = max(1, (elems or k * L) * itemsize)
    nb = max(_CHUNK_BYTES // per_image, -(-_MIN_GEMM_COLS // max(L, 1)), 1)
    return int(-(-n // -(-n // nb))) if n else 1  # chunks of equal size (16 = 8 + 8, not 10 + 6)


class _Geom:
    """Shapes of one call, and the chunk buffers (reused across full chunks).

    Row-window path (`shift`; needs _GEMM): the columns are _im2row's [C, kw, sh, Hq, Wo, nb],
    kh times smaller than im2col's; per group g and kernel row i the GEMM operand is the window
    [Cg*kw, Ho*Wo*nb] at rows (i*dh % sh, i*dh // sh + oh) with leading dimension sh*Hq*Wo*nb,
    and the weight is permuted to wp [G, Cog, kh, Cg*kw] so its slice for i is a plain matrix:

        forward       out_g  = sum_i wp_gi @ win_gi          (kh GEMMs, beta = 1)
        grad_weight   gwp_gi += gT_g @ win_gi^T
        grad_input    dwin_gi += wp_gi^T @ gT_g               (overlapping windows, in order of i)
    """

    def __init__(self, x_shape, w_shape, g_hw, stride, padding, dilation, groups, dtype):
        self.N, self.C, self.H, self.W = (int(s) for s in x_shape)
        self.Co, self.Cg, self.kh, self.kw = (int(s) for s in w_shape)
        (self.sh, self.sw), ((self.pt, _), (self.pl, _)) = stride, padding
        self.dh, self.dw = dilation
        self.G = int(groups)
        self.Ho, self.Wo = g_hw
        # rows/columns of padded input the taps can reach (bottom/right padding may be unused)
        self.Hp = max(self.H + self.pt, (self.Ho - 1) * self.sh + (self.kh - 1) * self.dh + 1)
        self.Wp = max(self.W + self.pl, (self.Wo - 1) * self.sw + (self.kw - 1) * self.dw + 1)
        self.Wq = -(-self.Wp // self.sw)  # padded columns per stride phase
        self.Hq = -(-self.Hp // self.sh)  # padded rows per stride phase (row-window path)
        self.K, self.L, self.Cog = self.Cg * self.kh * self.kw, self.Ho * self.Wo, self.Co // self.G
        self.Kr = self.Cg * self.kw
        self.dtype = np.dtype(dtype)
        # small Cg*kw makes thin GEMMs (first layers): full im2col is cheap there anyway
        self.shift = (_GEMM is not None and self.dtype in _GEMM and self.kh > 1
                      and self.Kr >= _SHIFT_MIN_K)
        self.rows_n = self.C * self.kw * self.sh * self.Hq * self.Wo  # _im2row elements per image
        if self.shift:
            self.path = "rows"
            self.nb = _chunk(self.N, self.K, self.L, self.dtype.itemsize, self.rows_n // self.G)
        elif self.L >= _IMAGE_GEMM_COLS:
            self.path = "image"
            per_image = max(1, self.C * self.kh * self.kw * self.L * self.dtype.itemsize)
            nb = max(_CHUNK_BYTES // per_image, 1)
            self.nb = -(-self.N // -(-self.N // nb)) if self.N else 1
        else:
            self.path = "cols"
            self.nb = _chunk(self.N, self.K, self.L, self.dtype.itemsize)
        self._bufs: dict = {}

    def gemm_mnk(self) -> int:
        """Multiply-adds of one GEMM call of a full chunk (decides the BLAS threads)."""
        return self.Cog * (self.Kr if self.shift else self.K) * self.nb * self.L

    def buf(self, name: str, per_image: int, m: int):
        """A flat scratch array of per_image*m elements (full chunks share one allocation)."""
        if m != self.nb:
            return np.empty(per_image * m, dtype=self.dtype)
        b = self._bufs.get(name)
        if b is None:
            b = self._bufs[name] = np.empty(per_image * m, dtype=self.dtype)
        return b

    def work(self, m: int) -> int:
        """Elements of a chunk's column matrix: what decides whether to split a layout kernel."""
        return (self.rows_n if self.shift else self.C * self.kh * self.kw * self.L) * m

    def chunks(self):
        """(first image, images) of each chunk."""
        for n0 in range(0, self.N, self.nb):
            yield n0, min(self.nb, self.N - n0)

    def pack(self, x, n0, m):
        q = self
        xt = q.buf("xt", q.C * q.Hp * q.sw * q.Wq, m)
        _run(_pack, q.C, q.work(m), x.reshape(-1), xt, n0, m, q.C, q.H, q.W, q.pt, q.pl, q.Hp,
             q.sw, q.Wq)
        return xt

    def image_cols(self, x, n0, m):
        """The chunk's per-image column matrices as [m, G, K, L]."""
        q = self
        cols = q.buf("cols", q.C * q.kh * q.kw * q.L, m)
        _run(_images_im2col, m, q.work(m), x.reshape(-1), cols, n0, q.C, q.H, q.W, q.pt, q.pl,
             q.Hp, q.sw, q.Wq, q.kh, q.kw, q.Ho, q.Wo, q.sh, q.dh, q.dw)
        return cols.reshape(m, q.G, q.K, q.L)

    def cols(self, x, n0, m):
        """The chunk's column matrix as [G, K, Ho*Wo*m]."""
        q = self
        xt = q.pack(x, n0, m)
        cols = q.buf("cols", q.C * q.kh * q.kw * q.L, m)
        _run(_im2col, q.C * q.kh, q.work(m), xt, cols, m, q.C, q.Hp, q.sw, q.Wq, q.kh, q.kw,
             q.Ho, q.Wo, q.sh, q.dh, q.dw)
        return cols.reshape(q.G, q.K, q.L * m)

    def rows(self, x, n0, m):
        """The chunk's _im2row matrix (flat)."""
        q = self
        xt = q.pack(x, n0, m)
        colsw = q.buf("cols", q.rows_n, m)
        _run(_im2row, q.C * q.kw, q.work(m), xt, colsw, m, q.C, q.Hp, q.sw, q.Wq, q.kw, q.Wo,
             q.sh, q.Hq, q.dw)
        return colsw

    def win(self, g, i, m):
        """Offset of group g's window for kernel row i in the _im2row matrix, and its ld."""
        r, h0 = divmod(i * self.dh, self.sh)[::-1]
        ld = self.sh * self.Hq * self.Wo * m
        return g * self.Kr * ld + (r * self.Hq + h0) * self.Wo * m, ld

    def wp(self, w):
        """The weight as flat [G, Cog, kh, Cg*kw] (row i of a group: a matrix of ld kh*Cg*kw)."""
        w5 = w.reshape(self.G, self.Cog, self.Cg, self.kh, self.kw)
        return np.ascontiguousarray(w5.transpose(0, 1, 3, 2, 4)).reshape(-1)

    def g_cols(self, g, n0, m):
        """The chunk of g as [G, Cog, Ho*Wo*m] (the GEMM's column order)."""
        if m == 1:  # one image: already in that order
            return g[n0].reshape(self.G, self.Cog, self.L)
        t = self.buf("gT", self.Co * self.L, m)
        _run(_to_lnb, self.Co, self.work(m), g.reshape(-1), t, n0, m, self.Co, self.L)
        return t.reshape(self.G, self.Cog, self.L * m)


def conv2d(x, w, stride, padding, dilation, groups, bias=None):
    """out [N, Co, Ho, Wo] = cross-correlation of x [N, C, H, W] with w [Co, C/G, kh, kw]
    (+ bias [Co] per output channel, added while the output is written)."""
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    (sh, sw), ((pt, pb), (pl, pr)), (dh, dw) = stride, padding, dilation
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((N, Co, Ho, Wo), dtype=x.dtype)
    if out.size == 0:
        return out
    if Cg * kh * kw == 0:
        out[...] = 0 if bias is None else bias.reshape(1, Co, 1, 1)
        return out
    q = _Geom(x.shape, w.shape, (Ho, Wo), stride, padding, dilation, groups, x.dtype)
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w)
    b = np.ascontiguousarray(bias).reshape(-1) if bias is not None else out.reshape(-1)[:0]
    wp = q.wp(w) if q.shift else None
    w3 = w.reshape(q.G, q.Cog, q.K)
    flat = out.reshape(-1)
    old = _blas.small_gemm_begin(q.gemm_mnk())
    try:
        for n0, m in q.chunks():
            if q.path == "image":  # per image [Co, L] is NCHW: the GEMMs write the output
                res = out[n0:n0 + m].reshape(m, q.G, q.Cog, q.L)
                np.matmul(w3, q.image_cols(x, n0, m), out=res)
                if bias is not None:  # still in cache
                    res.reshape(m, Co, q.L)[...] += b[:, None]
                continue
            # one image: [Co, L] is already NCHW, the GEMM writes the output directly
            res = out[n0].reshape(-1) if m == 1 else q.buf("res", Co * q.L, m)
            if q.shift:
                lm, colsw = q.L * m, q.rows(x, n0, m)
                for g in range(q.G):
                    for i in range(kh):
                        off, ld = q.win(g, i, m)
                        _gemm(False, False, q.Cog, lm, q.Kr, wp, (g * q.Cog * kh + i) * q.Kr,
                              kh * q.Kr, colsw, off, ld, float(i > 0), res, g * q.Cog * lm, lm)
            else:
                np.matmul(w3, q.cols(x, n0, m), out=res.reshape(q.G, q.Cog, q.L * m))
            if m > 1:
                _run(_from_lnb, Co, q.work(m), res, flat, n0, m, Co, q.L, b)
            elif bias is not None:  # still in cache
                res.reshape(Co, q.L)[...] += b[:, None]
    finally:
        _blas.small_gemm_end(old)
    return out


def conv2d_grad_weight(g, x, w_shape, stride, padding, dilation, groups):
    """dL/dw [Co, C/G, kh, kw] from g = dL/dout [N, Co, Ho, Wo] and x [N, C, H, W]."""
    q = _Geom(x.shape, w_shape, g.shape[2:], stride, padding, dilation, groups, g.dtype)
    gw = np.zeros((q.G, q.Cog, q.K), dtype=g.dtype)
    if q.N == 0 or q.L == 0 or gw.size == 0:
        return gw.reshape(w_shape)
    x = np.ascontiguousarray(x)
    g = np.ascontiguousarray(g)
    old = _blas.small_gemm_begin(q.gemm_mnk())
    try:
        return _grad_weight(q, g, x, gw, w_shape)
    finally:
        _blas.small_gemm_end(old)


def _grad_weight(q, g, x, gw, w_shape):
    if q.shift:  # gwp [G, Cog, kh, Cg*kw], accumulated over chunks by the GEMMs (beta = 1)
        kh, kr = q.kh, q.Kr
        gwp = gw.reshape(-1)
        for n0, m in q.chunks():
            lm, colsw, gt = q.L * m, q.rows(x, n0, m), q.g_cols(g, n0, m).reshape(-1)
            for gi in range(q.G):
                for i in range(kh):
                    off, ld = q.win(gi, i, m)
                    _gemm(False, True, q.Cog, kr, lm, gt, gi * q.Cog * lm, lm, colsw, off, ld,
                          1.0, gwp, (gi * q.Cog * kh + i) * kr, kh * kr)
        gw5 = gw.reshape(q.G, q.Cog, kh, q.Cg, q.kw).transpose(0, 1, 3, 2, 4)
        return np.ascontiguousarray(gw5).reshape(w_shape)
    part = np.empty_like(gw)
    if q.path == "image":  # sum over the chunk's images of g[n] @ cols[n]^T
        for n0, m in q.chunks():
            gc = g[n0:n0 + m].reshape(m, q.G, q.Cog, q.L)
            parts = np.matmul(gc, q.image_cols(x, n0, m).transpose(0, 1, 3, 2))
            if n0:
                gw += parts.sum(axis=0)
            else:
                parts.sum(axis=0, out=gw)
        return gw.reshape(w_shape)
    for n0, m in q.chunks():
        # [G, Cog, M] @ [G, M, K]: the transposed view goes to BLAS as a transpose flag
        np.matmul(q.g_cols(g, n0, m), q.cols(x, n0, m).transpose(0, 2, 1),
                  out=gw if n0 == 0 else part)
        if n0:
            gw += part
    return gw.reshape(w_shape)


def conv2d_grad_input(g, w, x_shape, stride, padding, dilation, groups):
    """dL/dx [N, C, H, W] from g = dL/dout [N, Co, Ho, Wo] and w [Co, C/G, kh, kw]."""
    q = _Geom(x_shape, w.shape, g.shape[2:], stride, padding, dilation, groups, g.dtype)
    dx = np.empty((q.N, q.C, q.H, q.W), dtype=g.dtype)
    if dx.size == 0:
        return dx
    if q.L == 0 or q.Cog == 0:
        dx[...] = 0
        return dx
    g = np.ascontiguousarray(g)
    w = np.ascontiguousarray(w)
    old = _blas.small_gemm_begin(q.gemm_mnk())
    try:
        _grad_input(q, g, w, dx)
    finally:
        _blas.small_gemm_end(old)
    return dx


def _grad_input(q, g, w, dx):
    wp = q.wp(w) if q.shift else None
    w3t = w.reshape(q.G, q.Cog, q.K).transpose(0, 2, 1)
    flat = dx.reshape(-1)
    for n0, m in q.chunks():
        if q.path == "image":
            dcols = q.buf("cols", q.C * q.kh * q.kw * q.L, m)
            np.matmul(w3t, g[n0:n0 + m].reshape(m, q.G, q.Cog, q.L),
                      out=dcols.reshape(m, q.G, q.K, q.L))
            _run(_images_col2im, m, q.work(m), dcols, flat, n0, q.C, q.H, q.W, q.pt, q.pl,
                 q.Hp, q.sw, q.Wq, q.kh, q.kw, q.Ho, q.Wo, q.sh, q.dh, q.dw)
            continue
        dxt = q.buf("xt", q.C * q.Hp * q.sw * q.Wq, m)
        if q.shift:
            kh, kr, lm = q.kh, q.Kr, q.L * m
            gt = q.g_cols(g, n0, m).reshape(-1)
            dcolsw = q.buf("cols", q.rows_n, m)
            # kernel row 0's window (the first lm of each row) is set with beta = 0; the rest
            # accumulates, and _row2im reads rows no window reaches
            dcolsw.reshape(q.C * q.kw, -1)[:, lm:] = 0
            for gi in range(q.G):
                for i in range(kh):
                    off, ld = q.win(gi, i, m)
                    _gemm(True, False, kr, lm, q.Cog, wp, (gi * q.Cog * kh + i) * kr, kh * kr,
                          gt, gi * q.Cog * lm, lm, float(i > 0), dcolsw, off, ld)
            _run(_row2im, q.C, q.work(m), dcolsw, dxt, m, q.C, q.Hp, q.sw, q.Wq, q.kw, q.Wo,
                 q.sh, q.Hq, q.dw)
        else:
            dcols = q.buf("cols", q.C * q.kh * q.kw * q.L, m)
            np.matmul(w3t, q.g_cols(g, n0, m), out=dcols.reshape(q.G, q.K, q.L * m))
            _run(_col2im, q.C, q.work(m), dcols, dxt, m, q.C, q.Hp, q.sw, q.Wq, q.kh, q.kw,
                 q.Ho, q.Wo, q.sh, q.dh, q.dw)
        _run(_unpack, q.C, q.work(m), dxt, flat, n0, m, q.C, q.H, q.W, q.pt, q.pl, q.Hp, q.sw,
             q.Wq)
