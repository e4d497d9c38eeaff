"""CUDA batched matmul: a [B, M, K] @ b [B, K, N] -> [B, M, N] with the tiled GEMM kernel."""
from __future__ import annotations

from ...errors import ShapeError
from ..kernels import matmul as mm
from .elementwise import map as _map
from .memory import empty, full, reshape
from .movement import strided_copy

__all__ = ["matmul", "addmm"]

_MAX_GRID_YZ = 65535


def matmul(a, b):
    """Batched product of C-contiguous float arrays of one dtype."""
    B, M, K = a.shape
    N = b.shape[2]
    out = empty((B, M, N), a.dtype)
    if out.size == 0:
        return out
    BM, BN = mm.CONFIG[0], mm.CONFIG[1]
    gy = (M + BM - 1) // BM
    if gy > _MAX_GRID_YZ:
        raise ShapeError(f"matmul: the CUDA kernel supports at most {_MAX_GRID_YZ * BM} rows per "
                         f"matrix, got a {list(a.shape)}")
    grid = ((N + BN - 1) // BN, gy, min(B, _MAX_GRID_YZ))
    mm.matmul_kernel(a.dtype)[grid, mm.threads()](out, a, b)
    return out


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
