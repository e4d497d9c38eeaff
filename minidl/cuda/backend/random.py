"""CUDA random primitives: counter-based U[0,1) and N(0,1), bit-identical to the CPU backend."""
from __future__ import annotations

from ..kernels import random as rk
from ._util import launch_counter_rng
from .memory import empty

__all__ = ["rand_uniform", "rand_normal"]


def _rand(kind, shape, dtype, seed, offset):
    out = empty(shape, dtype)
    if out.size:
        launch_counter_rng(rk.rand_kernel(kind, dtype), out, seed, offset)
    return out


def rand_uniform(shape, dtype, seed: int, offset: int):
    """U[0,1) from counter_rng at counters offset .. offset + n - 1."""
    return _rand("uniform", shape, dtype, seed, offset)


def rand_normal(shape, dtype, seed: int, offset: int):
    """N(0,1) from counter_rng.make_normal at counters offset .. offset + n - 1."""
    return _rand("normal", shape, dtype, seed, offset)
