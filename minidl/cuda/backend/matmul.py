"""CUDA batched matmul: a [B, M, K] @ b [B, K, N] -> [B, M, N] with the tiled GEMM kernel."""
from __future__ import annotations

from ...errors import ShapeError
from ..kernels import matmul as mm
from .elementwise import map as _map
from .memory import empty, full, reshape
from .movement import strided_copy

__all__ = ["matmul", "addmm"]

_MAX_GRID_YZ = 65535
_MAX_ELEMS = 1 << 31


def matmul(a, b):
    """Batched product of C-contiguous float arrays of one dtype."""
    B, M, K = a.shape
    N = b.shape[2]
    if B * M * N == 0:
        return empty((B, M, N), a.dtype)
    if K == 0:  # the kernel clamps loads to valid elements, so it needs K >= 1
        return full((B, M, N), 0, a.dtype)
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
    kernel = mm.matmul_kernel(a.dtype, cfg)
    for b0 in range(0, B, chunk):
        b1 = min(B, b0 + chunk)
        views = (out, a, b) if b1 - b0 == B else (out[b0:b1], a[b0:b1], b[b0:b1])
        grid = ((N + BN - 1) // BN, gy, b1 - b0)
        kernel[grid, mm.threads(cfg)](*(_flat(v) for v in views), M, K, N)
    return out


def _flat(x):
    return x.reshape(x.size)


def addmm(bias, a, b, trans_a, trans_b):
    """op(a) @ op(b) (+ bias per row), composed for now: a transposed operand is copied by
    strided_copy, the product is the tiled GEMM above, the bias one broadcast-add launch (a
    transpose-aware GEMM with a bias epilogue is the fusion still to write)."""
    if trans_a:
        a = strided_copy(a, (a.shape[1], a.shape[0]), (1, a.shape[1]), 0)
    if trans_b:
        b = strided_copy(b, (b.shape[1], b.shape[0]), (1, b.shape[1]), 0)
    M, K = (int(s) for s in a.shape)
    N = int(b.shape[1])
    if M * N == 0 or K == 0:
        out = full((M, N), 0, a.dtype)
    else:
        out = reshape(matmul(reshape(a, (1, M, K)), reshape(b, (1, K, N))), (M, N))
    if bias is not None and M * N:
        out = _map("add", [out, reshape(bias, (1, N))])
    return out
