"""Elementwise kernels: the generic map over backend.shared.scalar functions, plus fill, arange and
dtype casts (the memory primitives that are maps).  Launchers: minidl.cuda.backend.

Every kernel here is a 1-D grid-stride loop: thread t of the grid handles flat output elements
t, t + G, t + 2G, ... (G = total threads), so consecutive threads touch consecutive elements
(coalesced) and one launch covers any n.  Launch: `_common.grid_1d(n)` = 256 threads per block,
min(ceil(n / 256), 32 * SMs) blocks (simulator: 16 threads, <= 2 blocks).  No shared memory.
Zero-size outputs launch nothing.

map_contig[name, T]   fast path, every input contiguous and of the output's shape:
                      out[i] = f(x0[i], .., x{k-1}[i], p0, p1).
map_strided[name, T, ND]  broadcasting: out is C-contiguous of shape S (ND dims after the
                      launcher merged mergeable dims); input j is read at
                      sum_d idx_d(i) * st_j[d], with element stride 0 on broadcast dims, so a
                      0-d or [1, C] input is never materialised.  S and the strides are kernel
                      arguments (tuples in parameter space, no memory traffic); the index
                      decomposition costs ND-1 64-bit divisions per element.
    FLOPs: n * cost(f) (1 for add/mul/compare, ~20-40 for exp/tanh/erf-based functions).
    Bytes: n * (sum of input itemsizes + output itemsize) when no input is broadcast; a
    broadcast input is read from cache after its first touch.
fill[T]               out[i] = v.                          bytes 8n (float64)
arange[T]             out[i] = start + i * step, in float64 for float outputs (like the CPU
                      backend), int64 otherwise.         FLOPs 2n, bytes n * itemsize
cast[Tin, Tout]       out[i] = Tout(a[i]): float -> int truncates toward zero, x -> bool is
                      x != 0.                              bytes n * (in + out itemsize)

The scalar function f is `scalar.FUNCTIONS[name].make(T)` compiled with cuda.jit(device=True);
an adapter gives every function the same (x0, .., p0, p1) shape, so one kernel body per arity
serves all functions (unused params are passed as T(0) and cost nothing).  Kernels are built and
compiled lazily, once per (name, T, ND) (`_common.cached_kernel`).
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ...backend.shared import scalar
from ._common import DTYPES, FLOATS, arr, cached_kernel, device, nb, strided_offset, tup

BOOL = np.dtype(np.bool_)
MAX_ND = 8  # strided map / strided copy kernels exist for 1..MAX_ND dims (after merging)


# ---- which dtypes each scalar function is compiled for ---------------------------------------
_BOOL_ONLY = ("logical_and", "logical_or", "logical_not")


def map_dtypes(name: str) -> tuple:
    """The compute dtypes `map(name, ...)` supports on CUDA (T = dtype of the last operand).

    logical_* are bool-only: on numbers the scalar `x and y` returns y (Python semantics), which
    is not numpy's logical_and that the CPU backend uses; torch returns bool anyway."""
    fn = scalar.FUNCTIONS[name]
    if name in _BOOL_ONLY:
        return (BOOL,)
    return FLOATS if fn.floating_only else DTYPES


def map_types(name: str, dtype) -> tuple[tuple, np.dtype]:
    """(input dtypes, output dtype) of `map(name)` computing in `dtype`."""
    fn = scalar.FUNCTIONS[name]
    T = np.dtype(dtype)
    ins = (BOOL,) + (T,) * (fn.nin - 1) if name == "where" else (T,) * fn.nin
    return ins, (BOOL if fn.out == "bool" else T)


# ---- adapters: every scalar function as g(x0, .., p0, p1) --------------------------------------
def _adapt(f, nin: int, nparams: int):
    """A device function taking nin operands and exactly two params (the unused ones ignored)."""
    if nin == 1:
        if nparams == 0:
            def g(x, p0, p1):
                return f(x)
        elif nparams == 1:
            def g(x, p0, p1):
                return f(x, p0)
        else:
            def g(x, p0, p1):
                return f(x, p0, p1)
    elif nin == 2:
        if nparams == 0:
            def g(x, y, p0, p1):
                return f(x, y)
        elif nparams == 1:
            def g(x, y, p0, p1):
                return f(x, y, p0)
        else:
            def g(x, y, p0, p1):
                return f(x, y, p0, p1)
    elif nin == 3 and nparams == 0:
        def g(x, y, z, p0, p1):
            return f(x, y, z)
    else:
        raise NotImplementedError(f"map: no CUDA adapter for {nin} operands and {nparams} params")
    return device(g)


def _scalar_device_fn(name: str, dtype):
    fn = scalar.FUNCTIONS[name]
    return _adapt(device(fn.make(np.dtype(dtype).type)), fn.nin, fn.nparams)


# ---- map kernels -------------------------------------------------------------------------------
# The body is written once per arity (1, 2, 3 operands) and per path (contiguous, strided); `g`
# and `ND` are compile-time constants of the closure.
def _contig_kernel(g, nin: int):
    if nin == 1:
        def k1(out, x0, p0, p1):
            for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
                out[i] = g(x0[i], p0, p1)
        return k1
    if nin == 2:
        def k2(out, x0, x1, p0, p1):
            for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
                out[i] = g(x0[i], x1[i], p0, p1)
        return k2

    def k3(out, x0, x1, x2, p0, p1):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = g(x0[i], x1[i], x2[i], p0, p1)
    return k3


def _strided_kernel(g, nin: int, ND: int):
    # The flat output index i is decomposed innermost-dim first; the outermost index needs no
    # division (i < n).  q = rem // n_d; idx = rem - q * n_d costs one division, not two.  One
    # operand: _common.strided_offset (as strided_copy).  Two or three operands share each idx
    # in one loop: per-operand strided_offset calls would repeat the ND-1 divisions per operand
    # (NVVM does not merge the separate loops: `where` at ND = 8 had 22 instead of 8 64-bit
    # div/rem in its PTX and twice the instructions).
    if nin == 1:
        def s1(out, x0, p0, p1, shape, st0):
            for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
                out[i] = g(x0[strided_offset(i, shape, st0)], p0, p1)
        return s1
    if nin == 2:
        def s2(out, x0, x1, p0, p1, shape, st0, st1):
            for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
                rem = i
                o0 = 0
                o1 = 0
                for d in range(ND - 1, 0, -1):
                    q = rem // shape[d]
                    idx = rem - q * shape[d]
                    rem = q
                    o0 += idx * st0[d]
                    o1 += idx * st1[d]
                o0 += rem * st0[0]
                o1 += rem * st1[0]
                out[i] = g(x0[o0], x1[o1], p0, p1)
        return s2

    def s3(out, x0, x1, x2, p0, p1, shape, st0, st1, st2):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            rem = i
            o0 = 0
            o1 = 0
            o2 = 0
            for d in range(ND - 1, 0, -1):
                q = rem // shape[d]
                idx = rem - q * shape[d]
                rem = q
                o0 += idx * st0[d]
                o1 += idx * st1[d]
                o2 += idx * st2[d]
            o0 += rem * st0[0]
            o1 += rem * st1[0]
            o2 += rem * st2[0]
            out[i] = g(x0[o0], x1[o1], x2[o2], p0, p1)
    return s3


def build_map(name: str, dtype, nd: int):
    """(pyfunc, signature) of the map kernel for `name` in `dtype`; nd = 0 is the contiguous fast
    path, nd >= 1 the strided one over nd dims."""
    fn = scalar.FUNCTIONS[name]
    ins, out = map_types(name, dtype)
    g = _scalar_device_fn(name, dtype)
    T = nb(dtype)
    args = [arr(out)] + [arr(t) for t in ins] + [T, T]
    if nd == 0:
        pyfunc = _contig_kernel(g, fn.nin)
    else:
        pyfunc = _strided_kernel(g, fn.nin, nd)
        args += [tup(nd)] * (1 + fn.nin)
    return pyfunc, f"void({', '.join(args)})"


def map_kernel(name: str, dtype, nd: int):
    dtype = np.dtype(dtype)
    return cached_kernel(("map", name, dtype, nd), lambda: build_map(name, dtype, nd))


# ---- fill, arange, cast ------------------------------------------------------------------------
def build_fill(dtype):
    def fill(out, v):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = v
    return fill, f"void({arr(dtype)}, {nb(dtype)})"


def fill_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("fill", dtype), lambda: build_fill(dtype))


def arange_param_dtype(dtype) -> np.dtype:
    """start/step travel as float64 for float outputs (as the CPU backend computes), else int64."""
    return np.dtype(np.float64) if np.dtype(dtype).kind == "f" else np.dtype(np.int64)


def build_arange(dtype):
    P = arange_param_dtype(dtype).type

    def arange(out, start, step):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = start + P(i) * step
    p = nb(arange_param_dtype(dtype))
    return arange, f"void({arr(dtype)}, {p}, {p})"


def arange_kernel(dtype):
    dtype = np.dtype(dtype)
    return cached_kernel(("arange", dtype), lambda: build_arange(dtype))


def build_cast(src, dst):
    # numba's implicit conversion on store is exactly the contract: fptosi truncates toward
    # zero, x -> bool is x != 0, bool -> number is 0/1.
    def cast(out, a):
        for i in range(cuda.grid(1), out.shape[0], cuda.gridsize(1)):
            out[i] = a[i]
    return cast, f"void({arr(dst)}, {arr(src)})"


def cast_kernel(src, dst):
    src, dst = np.dtype(src), np.dtype(dst)
    return cached_kernel(("cast", src, dst), lambda: build_cast(src, dst))


# ---- what the PTX test compiles ----------------------------------------------------------------
# The strided map kernel is listed for every function and dtype at PTX_ND dims, and for every
# ND in 1..MAX_ND for the functions with the most operands (register pressure grows with
# operands x ND; typing does not depend on ND).
PTX_ND = 3
PTX_ND_SWEEP = (("where", np.float64), ("clamp_grad", np.float64), ("gelu_grad", np.float32),
                ("add", np.float32))


def ptx_signatures() -> list:
    out = []
    for name in scalar.FUNCTIONS:
        for dt in map_dtypes(name):
            out.append((f"map_contig[{name},{dt}]",) + build_map(name, dt, 0))
            out.append((f"map_strided[{name},{dt},{PTX_ND}]",) + build_map(name, dt, PTX_ND))
    for name, dt in PTX_ND_SWEEP:
        dt = np.dtype(dt)
        for nd in range(1, MAX_ND + 1):
            if nd != PTX_ND:
                out.append((f"map_strided[{name},{dt},{nd}]",) + build_map(name, dt, nd))
    for dt in DTYPES:
        out.append((f"fill[{dt}]",) + build_fill(dt))
    for dt in DTYPES[:3]:
        out.append((f"arange[{dt}]",) + build_arange(dt))
    for src in DTYPES:
        for dst in DTYPES:
            if src != dst:
                out.append((f"cast[{src},{dst}]",) + build_cast(src, dst))
    return out
