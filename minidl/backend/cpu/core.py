"""CPU primitives for memory, movement, elementwise maps, reductions, matmul and random numbers."""
from __future__ import annotations

import numpy as np
from numba import njit, vectorize

from ..shared import counter_rng, scalar
from . import _blas

__all__ = [
    "from_numpy", "to_numpy", "empty", "full", "arange", "astype", "copy", "reshape", "copy_into",
    "strided_copy", "strided_add_", "take", "index_add", "put_", "map", "reduce", "arg_reduce",
    "matmul", "addmm",
    "rand_uniform", "rand_normal",
]


# ---- memory ------------------------------------------------------------------------------------
def from_numpy(a):
    return np.array(a, copy=True, order="C")


def to_numpy(a):
    return np.array(a, copy=True)


def empty(shape, dtype):
    return np.empty(shape, dtype=dtype)


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


def arange(start, step, n, dtype):
    return (start + step * np.arange(n, dtype=np.float64 if np.dtype(dtype).kind == "f"
                                     else np.int64)
            ).astype(dtype)


def astype(a, dtype):
    return a.astype(dtype, copy=True)


def copy(a):
    return np.array(a, copy=True, order="C")


def reshape(a, shape):
    return a.reshape(shape)


def copy_into(dst, src):
    dst[...] = src


# ---- movement ----------------------------------------------------------------------------------
def _view_neg(a, shape, strides, offset):
    # as_strided needs a base whose first element is the lowest address reached
    lo = offset + sum((n - 1) * s for n, s in zip(shape, strides) if s < 0 and n > 0)
    flat = a.reshape(-1)
    isz = a.itemsize
    v = np.lib.stride_tricks.as_strided(flat[lo:], shape=shape,
                                        strides=[abs(s) * isz for s in strides],
                                        writeable=True)
    flips = tuple(i for i, s in enumerate(strides) if s < 0)
    return np.flip(v, flips) if flips else v


def strided_copy(a, shape, strides, offset):
    if 0 in shape:
        return np.empty(shape, a.dtype)
    return np.array(_view_neg(a, shape, strides, offset), copy=True, order="C")


def strided_add_(dst, shape, strides, offset, src):
    if 0 in shape:
        return
    v = _view_neg(dst, shape, strides, offset)
    v += src


def take(a, index):
    return a.reshape(-1)[index]


def index_add(size, index, src):
    out = np.zeros(size, dtype=src.dtype)
    np.add.at(out, index.reshape(-1), src.reshape(-1))
    return out


def put_(a, index, src):
    a.reshape(-1)[index.reshape(-1)] = src.reshape(-1)


# ---- elementwise -------------------------------------------------------------------------------
_NB = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
       np.dtype(np.int64): "int64", np.dtype(np.bool_): "boolean"}
_ufuncs: dict = {}


def _ufunc(name, dtype):
    key = (name, dtype)
    uf = _ufuncs.get(key)
    if uf is None:
        fn = scalar.FUNCTIONS[name]
        t = _NB[dtype]
        out_t = "boolean" if fn.out == "bool" else t
        ins = ["boolean"] + [t] * (fn.nin - 1) if name == "where" else [t] * fn.nin
        sig = f"{out_t}({', '.join(ins + [t] * fn.nparams)})"
        uf = vectorize([sig])(fn.make(dtype.type))
        _ufuncs[key] = uf
    return uf


def _scaled_tanh(x):
    # numba's vectorised math.tanh is a scalar libm call per element (measured 4.7 ms on
    # 64x6x28x28 float32); numpy's SIMD tanh, 3 passes in place: 0.17 ms
    T = x.dtype.type
    out = np.empty(x.shape, x.dtype)
    np.multiply(x, T(2.0 / 3.0), out=out)
    np.tanh(out, out=out)
    out *= T(1.7159)
    return out


# scalar functions whose numba ufunc is far slower than a numpy composition of the same math
_COMPOSED = {"scaled_tanh": _scaled_tanh}


def map(name, arrays, params=()):
    fn = scalar.FUNCTIONS[name]
    dtype = arrays[-1].dtype
    composed = _COMPOSED.get(name)
    if composed is not None and dtype.kind == "f":
        return composed(np.asarray(arrays[0]))
    if fn.numpy is not None:
        out = getattr(np, fn.numpy)(*arrays)
    else:
        out = _ufunc(name, dtype)(*arrays, *[dtype.type(p) for p in params])
    out = np.asarray(out)
    want = np.dtype(np.bool_) if fn.out == "bool" else dtype
    if out.dtype != want:
        out = out.astype(want)
    return out


# ---- reductions --------------------------------------------------------------------------------
def reduce(name, a, axes, keepdims):
    axes = tuple(axes)
    if name == "sum":
        if a.dtype.kind in "bi":
            return np.sum(a, axis=axes, keepdims=keepdims, dtype=np.int64)
        return np.asarray(np.sum(a, axis=axes, keepdims=keepdims))
    f = np.max if name == "max" else np.min
    return np.asarray(f(a, axis=axes, keepdims=keepdims))


def arg_reduce(name, a, axis, keepdims):
    f = np.argmax if name == "argmax" else np.argmin
    out = f(a, axis=axis, keepdims=keepdims)
    return np.asarray(out, dtype=np.int64)


# ---- linear algebra ----------------------------------------------------------------------------
def matmul(a, b):
    B, M, K = a.shape
    old = _blas.small_gemm_begin(M * K * b.shape[2])
    try:
        return np.matmul(a, b)
    finally:
        _blas.small_gemm_end(old)


# below this many multiply-adds numpy's matmul (a transposed view goes to BLAS as a flag) plus
# an in-place bias add is cheaper than the ctypes call (~4 us of argument marshalling)
_ADDMM_CBLAS_MNK = 1 << 16


def addmm(bias, a, b, trans_a, trans_b):
    """op(a) @ op(b) (+ bias per row): one BLAS GEMM with transpose flags (no transposed copy);
    for large products the bias is broadcast into the output first and accumulated with
    beta = 1 (no extra pass)."""
    M, K = (a.shape[1], a.shape[0]) if trans_a else a.shape
    N = b.shape[0] if trans_b else b.shape[1]
    dtype = a.dtype
    out = np.empty((M, N), dtype)
    if out.size == 0:
        return out
    if K == 0:
        out[...] = 0 if bias is None else bias
        return out
    mnk = M * N * K
    if mnk < _ADDMM_CBLAS_MNK or _blas.GEMM is None or dtype not in _blas.GEMM:
        old = _blas.small_gemm_begin(mnk)
        try:
            np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)
        finally:
            _blas.small_gemm_end(old)
        if bias is not None:
            out += bias
        return out
    if bias is not None:
        out[...] = bias
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    old = _blas.small_gemm_begin(mnk)
    try:
        _blas.gemm(trans_a, trans_b, M, N, K, a, 0, a.shape[1], b, 0, b.shape[1],
                   0.0 if bias is None else 1.0, out, 0, N)
    finally:
        _blas.small_gemm_end(old)
    return out


# ---- random ------------------------------------------------------------------------------------
_rng_ufuncs: dict = {}


def _rng(kind, dtype):
    key = (kind, dtype)
    uf = _rng_ufuncs.get(key)
    if uf is None:
        make = counter_rng.make_uniform if kind == "uniform" else counter_rng.make_normal
        uf = vectorize([f"{_NB[dtype]}(uint64, uint64)"])(make(dtype.type, njit))
        _rng_ufuncs[key] = uf
    return uf


def _counters(n, offset):
    return np.arange(n, dtype=np.uint64) + np.uint64(offset)


def rand_uniform(shape, dtype, seed, offset):
    n = int(np.prod(shape, dtype=np.int64))
    out = _rng("uniform", np.dtype(dtype))(np.uint64(seed), _counters(n, offset))
    return np.asarray(out).reshape(shape)


def rand_normal(shape, dtype, seed, offset):
    n = int(np.prod(shape, dtype=np.int64))
    out = _rng("normal", np.dtype(dtype))(np.uint64(seed), _counters(n, offset))
    return np.asarray(out).reshape(shape)
