"""CUDA batched matmul: a [B, M, K] @ b [B, K, N] -> [B, M, N] with the tiled GEMM kernel."""
from __future__ import annotations

from ...errors import ShapeError
from ..kernels import matmul as mm
from .memory import empty

__all__ = ["matmul"]

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
