"""CUDA batched matmul: a [B, M, K] @ b [B, K, N] -> [B, M, N] with the tiled GEMM kernel."""
from __future__ import annotations

from ...errors import ShapeError
from ..kernels import matmul as mm
from .memory import empty, full

__all__ = ["matmul"]

_MAX_GRID_YZ = 65535


def matmul(a, b):
    """Batched product of C-contiguous float arrays of one dtype."""
    B, M, K = a.shape
    N = b.shape[2]
    if B * M * N == 0:
        return empty((B, M, N), a.dtype)
    if K == 0:  # the kernel clamps loads to valid elements, so it needs K >= 1
        return full((B, M, N), 0, a.dtype)
    out = empty((B, M, N), a.dtype)
    _, cfg = mm.config(a.dtype, M, N, B)
    BM, BN = cfg[0], cfg[1]
    gy = (M + BM - 1) // BM
    if gy > _MAX_GRID_YZ:
        raise ShapeError(f"matmul: the CUDA kernel supports at most {_MAX_GRID_YZ * BM} rows per "
                         f"matrix, got a {list(a.shape)}")
    grid = ((N + BN - 1) // BN, gy, min(B, _MAX_GRID_YZ))
    mm.matmul_kernel(a.dtype, cfg)[grid, mm.threads(cfg)](
        out.reshape(out.size), a.reshape(a.size), b.reshape(b.size), B, M, K, N)
    return out
