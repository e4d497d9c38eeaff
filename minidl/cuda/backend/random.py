"""CUDA random primitives: counter-based U[0,1) and N(0,1), bit-identical to the CPU backend."""
from __future__ import annotations

import warnings

import numpy as np

from ..kernels import random as rk
from ..kernels._common import SIMULATOR
from ._util import flat, launch_1d
from .memory import empty

__all__ = ["rand_uniform", "rand_normal"]

_U64 = (1 << 64) - 1


def _rand(kind, shape, dtype, seed, offset):
    out = empty(shape, dtype)
    if out.size:
        args = (rk.rand_kernel(kind, dtype), out.size, flat(out), np.uint64(int(seed) & _U64),
                np.uint64(int(offset) & _U64))
        if SIMULATOR:  # the simulator hashes with numpy uint64 scalars, which warn on wraparound
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "overflow encountered", RuntimeWarning)
                launch_1d(*args)
        else:
            launch_1d(*args)
    return out


def rand_uniform(shape, dtype, seed: int, offset: int):
    """U[0,1) from counter_rng at counters offset .. offset + n - 1."""
    return _rand("uniform", shape, dtype, seed, offset)


def rand_normal(shape, dtype, seed: int, offset: int):
    """N(0,1) from counter_rng.make_normal at counters offset .. offset + n - 1."""
    return _rand("normal", shape, dtype, seed, offset)
