"""The OpenBLAS numpy loaded, called directly: cblas gemm at offsets with leading dimensions and
beta (which numpy.matmul cannot do), and its thread count per call.

Small GEMMs run on one BLAS thread (`small_gemm_begin`): OpenBLAS hands every GEMM above ~260k
multiply-adds to its worker threads, whose wake-up costs more than such a GEMM saves, and on a
loaded machine a hand-off waits for a time slice (measured: [64, 256] @ [256, 120] mean 160 us
on 2 threads vs 65 us on one; the medians equal).  Setting the count is ~0.3 us.
What does not live here: which GEMMs a primitive runs (core.py, conv.py).
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

__all__ = ["GEMM", "gemm", "small_gemm_begin", "small_gemm_end"]

# multiply-adds from which a GEMM may use every BLAS thread (~2 ms on one core)
_THREADED_MNK = 1 << 24


def _load():
    """(gemm {dtype: cfunc} or None, set_num_threads or None, get_num_threads or None)."""
    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    paths = sorted(glob.glob(os.path.join(libs, "*openblas*")))  # numpy's wheel
    try:  # else whatever BLAS is loaded (a numpy built against a system OpenBLAS)
        with open("/proc/self/maps") as f:
            paths += sorted({ln.split()[-1] for ln in f if "blas" in ln.rsplit("/", 1)[-1]})
    except OSError:
        pass
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, tprefix in (("scipy_cblas_", "scipy_openblas_"), ("cblas_", "openblas_")):
            try:
                fns = {np.dtype(np.float32): getattr(lib, prefix + "sgemm64_"),
                       np.dtype(np.float64): getattr(lib, prefix + "dgemm64_")}
            except AttributeError:
                continue
            i64, vp, e = ctypes.c_int64, ctypes.c_void_p, ctypes.c_int
            for dt, fn in fns.items():
                real = ctypes.c_float if dt == np.float32 else ctypes.c_double
                fn.restype = None
                fn.argtypes = [e, e, e, i64, i64, i64, real, vp, i64, vp, i64, real, vp, i64]
            setn = getattr(lib, tprefix + "set_num_threads64_", None)
            getn = getattr(lib, tprefix + "get_num_threads64_", None)
            if setn is not None and getn is not None:
                setn.argtypes, setn.restype, getn.restype = [ctypes.c_int], None, ctypes.c_int
            else:
                setn = getn = None
            return fns, setn, getn
    return None, None, None


GEMM, _SET, _GET = _load()


def small_gemm_begin(mnk: int) -> int:
    """Before a GEMM of m*n*k multiply-adds: if small, drop OpenBLAS to one thread and return
    the previous count (pass it to small_gemm_end), else 0."""
    if mnk >= _THREADED_MNK or _SET is None:
        return 0
    old = _GET()
    if old <= 1:
        return 0
    _SET(1)
    return old


def small_gemm_end(old: int) -> None:
    if old:
        _SET(old)


def gemm(ta, tb, m, n, k, a, ao, lda, b, bo, ldb, beta, c, co, ldc, alpha=1.0):
    """c[co:] (m x n, ld ldc) = alpha a[ao:] (op: m x k) @ b[bo:] (op: k x n) + beta c,
    row-major, on flat arrays with element offsets; ta/tb: operand stored transposed."""
    s = a.itemsize
    GEMM[a.dtype](101, 112 if ta else 111, 112 if tb else 111, m, n, k, alpha,
                  a.ctypes.data + ao * s, lda, b.ctypes.data + bo * s, ldb, beta,
                  c.ctypes.data + co * s, ldc)
