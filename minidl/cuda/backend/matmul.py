"""CUDA batched matmul: a [B, M, K] @ b [B, K, N] -> [B, M, N] with the tiled GEMM kernel."""
from __future__ import annotations

from ...errors import ShapeError
from ..kernels import matmul as mm
from .elementwise import map as _map
from .memory import empty, full, reshape

__all__ = ["matmul", "addmm"]

_MAX_GRID_YZ = 65535
_MAX_ELEMS = 1 << 31


def matmul(a, b):
    """Batched product of C-contiguous float arrays of one dtype."""
    B, M, K = a.shape
    return _gemm(a, b, B, M, K, int(b.shape[2]), False, False, None)


def _gemm(a, b, B, M, K, N, trans_a, trans_b, bias):
    """c [B, M, N] = op(a) @ op(b) (+ bias[N]) with a stored [B, M, K] ([B, K, M] if trans_a)
    and b [B, K, N] ([B, N, K] if trans_b), C-contiguous: one GEMM launch per batch chunk, the
    transposes read in place and the bias added in the kernel's epilogue."""
    if B * M * N == 0:
        return empty((B, M, N), a.dtype)
    if K == 0:  # the kernel clamps loads to valid elements, so it needs K >= 1
        out = full((B, M, N), 0, a.dtype)
        if bias is not None:
            out = _map("add", [out, reshape(bias, (1, 1, N))])
        return out
    _, cfg = mm.config(a.dtype, M, N, B)
    BM, BN = cfg[0], cfg[1]
    gy = (M + BM - 1) // BM
    per = max(M * K, K * N, M * N)  # elements of one batch's largest operand
    if gy > _MAX_GRID_YZ or per >= _MAX_ELEMS:
        raise ShapeError(f"matmul: the CUDA kernel supports at most {_MAX_GRID_YZ * BM} rows "
                         f"and {_MAX_ELEMS - 1} elements per matrix, got a {list(a.shape)} @ b "
                         f"{list(b.shape)}")
    # batches per launch: grid z <= 65535 and 32-bit offsets within every operand
    chunk = min(B, _MAX_GRID_YZ, (_MAX_ELEMS - 1) // per)
    out = empty((B, M, N), a.dtype)
    kernel = mm.matmul_kernel(a.dtype, cfg, trans_a, trans_b)
    bias_arg = _flat(out) if bias is None else _flat(bias)  # not read without a bias
    for b0 in range(0, B, chunk):
        b1 = min(B, b0 + chunk)
        views = (out, a, b) if b1 - b0 == B else (out[b0:b1], a[b0:b1], b[b0:b1])
        grid = ((N + BN - 1) // BN, gy, b1 - b0)
        kernel[grid, mm.threads(cfg)](*(_flat(v) for v in views), bias_arg, M, K, N,
                                      bias is not None)
    return out


def _flat(x):
    return x.reshape(x.size)


def addmm(bias, a, b, trans_a, trans_b):
    """op(a) @ op(b) (+ bias per column): one transpose-aware GEMM launch with the bias in its
    epilogue (no transposed copy, no separate bias add)."""
    M, K = (int(s) for s in (a.shape[::-1] if trans_a else a.shape))
    N = int(b.shape[0] if trans_b else b.shape[1])
    out = _gemm(reshape(a, (1,) + tuple(a.shape)), reshape(b, (1,) + tuple(b.shape)), 1, M, K,
                N, bool(trans_a), bool(trans_b), bias)
    return reshape(out, (M, N))
