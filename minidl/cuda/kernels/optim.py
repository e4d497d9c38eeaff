"""CUDA kernels for fused optimizer steps, updating parameters and state in place on the device:
no host round trip, one launch per parameter tensor.  Launchers: minidl.cuda.backend.optim.

The per-element rules are the scalar functions of minidl/backend/shared/optim_rules.py (`math_*`),
compiled here with `cuda.jit(device=True)`, so CPU and GPU run the same math.  The rules have
no float literals; every constant is computed on the host and passed as a scalar of the
parameter's dtype (np.float32 for float32 parameters), so the float32 kernels stay float32.

Kernels (all: 1-D grid-stride loop over the flattened parameter: thread t handles elements
t, t + G, t + 2G, ... (G = total threads), one element per thread per iteration, consecutive
threads on consecutive elements (coalesced), every access guarded by i < n.  Launch:
`_common.grid_1d(n)` = 256 threads per block, min(ceil(n / 256), 32 * SMs) blocks.  No shared
memory.  The flags are uniform across the grid, so branches on them never diverge).  Compiled
per dtype with an explicit signature (`_common.cached_kernel`); PTX_SIGNATURES lists the float32
ones.  Bytes per launch for float32, n elements (read + write):
  _sgd_kernel        p, g, buf           FLOPs ~5n      bytes 20n (12n without momentum)
  _sgd_paper_kernel  p, g, v             FLOPs ~6n      bytes 20n
  _adam_kernel       p, g, m, v(, vmax)  FLOPs ~15n     bytes 28n (36n with amsgrad)
  _rmsprop_kernel    p, g, sq(, ga, b)   FLOPs ~10n     bytes 20n .. 36n
  _adagrad_kernel    p, g, sum           FLOPs ~7n      bytes 20n
  _adadelta_kernel   p, g, sq, acc       FLOPs ~14n     bytes 28n
A state buffer that is unused (its flag off) is passed as the parameter itself and never
touched.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from ...backend.shared.optim_rules import (
    math_adadelta, math_adagrad, math_adam, math_rmsprop, math_sgd, math_sgd_paper,
)
from ._common import arr, cached_kernel, nb


# inline="always": the rule is pasted into each kernel at the numba IR level, so typing it needs
# no GPU (and no compute capability) and compile_ptx works anywhere.
_sgd_dev = cuda.jit(device=True, inline="always")(math_sgd)
_sgd_paper_dev = cuda.jit(device=True, inline="always")(math_sgd_paper)
_adam_dev = cuda.jit(device=True, inline="always")(math_adam)
_rmsprop_dev = cuda.jit(device=True, inline="always")(math_rmsprop)
_adagrad_dev = cuda.jit(device=True, inline="always")(math_adagrad)
_adadelta_dev = cuda.jit(device=True, inline="always")(math_adadelta)


# ---- kernels -----------------------------------------------------------------------------------
def _sgd_kernel(p, g, b, lr, momentum, omd, wd, nesterov, maximize, first_step, has_momentum):
    n = p.shape[0]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < n:
        bi = p[i]
        if has_momentum:
            bi = b[i]
        pi, bi = _sgd_dev(p[i], g[i], bi, lr, momentum, omd, wd, nesterov, maximize, first_step,
                          has_momentum)
        p[i] = pi
        if has_momentum:
            b[i] = bi
        i += stride


def _one_buffer_kernel(rule):
    """The kernel of a rule with one always-used state buffer s and three scalars:
    p[i], s[i] = rule(p[i], g[i], s[i], c0, c1, c2, maximize).  sgd_paper: s = v,
    (c0, c1, c2) = (lr, momentum, wd); adagrad: s = sum, (clr, eps, wd)."""
    def kernel(p, g, s, c0, c1, c2, maximize):
        n = p.shape[0]
        i = cuda.grid(1)
        stride = cuda.gridsize(1)
        while i < n:
            pi, si = rule(p[i], g[i], s[i], c0, c1, c2, maximize)
            p[i] = pi
            s[i] = si
            i += stride
    return kernel


_sgd_paper_kernel = _one_buffer_kernel(_sgd_paper_dev)
_adagrad_kernel = _one_buffer_kernel(_adagrad_dev)


def _adam_kernel(p, g, m, v, vmax, wd, decay, b1, omb1, b2, omb2, step_size, bc2s, eps, amsgrad,
                 maximize, decoupled):
    n = p.shape[0]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < n:
        vm = v[i]
        if amsgrad:
            vm = vmax[i]
        pi, mi, vi, vm = _adam_dev(p[i], g[i], m[i], v[i], vm, wd, decay, b1, omb1, b2, omb2,
                                   step_size, bc2s, eps, amsgrad, maximize, decoupled)
        p[i] = pi
        m[i] = mi
        v[i] = vi
        if amsgrad:
            vmax[i] = vm
        i += stride


def _rmsprop_kernel(p, g, sq, gavg, b, lr, alpha, oma, eps, wd, centered, has_momentum, momentum,
                    maximize):
    n = p.shape[0]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < n:
        ga = sq[i]
        if centered:
            ga = gavg[i]
        bi = sq[i]
        if has_momentum:
            bi = b[i]
        pi, si, ga, bi = _rmsprop_dev(p[i], g[i], sq[i], ga, bi, lr, alpha, oma, eps, wd, centered,
                                      has_momentum, momentum, maximize)
        p[i] = pi
        sq[i] = si
        if centered:
            gavg[i] = ga
        if has_momentum:
            b[i] = bi
        i += stride


def _adadelta_kernel(p, g, sq, acc, lr, rho, omr, eps, wd, maximize):
    n = p.shape[0]
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < n:
        pi, si, ai = _adadelta_dev(p[i], g[i], sq[i], acc[i], lr, rho, omr, eps, wd, maximize)
        p[i] = pi
        sq[i] = si
        acc[i] = ai
        i += stride


def _signature(name: str, dtype) -> str:
    """The numba signature a launcher uses for parameters of `dtype` (scalars of that dtype,
    flags boolean, every array 1-D C-contiguous)."""
    A, T, B = arr(dtype), nb(dtype), "boolean"
    args = {
        "sgd": [A, A, A, T, T, T, T, B, B, B, B],
        "sgd_paper": [A, A, A, T, T, T, B],
        "adam": [A, A, A, A, A, T, T, T, T, T, T, T, T, T, B, B, B],
        "rmsprop": [A, A, A, A, A, T, T, T, T, T, B, B, T, B],
        "adagrad": [A, A, A, T, T, T, B],
        "adadelta": [A, A, A, A, T, T, T, T, T, B],
    }[name]
    return f"void({', '.join(args)})"


_PYFUNCS = {"sgd": _sgd_kernel, "sgd_paper": _sgd_paper_kernel, "adam": _adam_kernel,
            "rmsprop": _rmsprop_kernel, "adagrad": _adagrad_kernel, "adadelta": _adadelta_kernel}

# What minidl.cuda.inventory (the PTX test, docs/kernels.md) compiles: the float32 kernels.
PTX_SIGNATURES = {f"optim.{name}[float32]": (fn, _signature(name, np.float32))
                  for name, fn in _PYFUNCS.items()}


def kernel(name: str, dtype):
    """The compiled kernel `name` ("sgd", "adam", ...) for parameters of `dtype`."""
    dt = np.dtype(dtype)
    return cached_kernel(("optim", name, dt), lambda: (_PYFUNCS[name], _signature(name, dt)))
