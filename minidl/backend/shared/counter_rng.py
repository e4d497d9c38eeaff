"""The counter-based random generator, written once as scalar functions for every backend.

A random value is a pure function of (seed, counter): counter = offset + element index, hashed by
two rounds of the splitmix64 finaliser.  No per-thread state, so a CUDA kernel and the CPU loop
produce bit-identical streams, and a generator's whole state is (seed, offset).
All arithmetic stays in uint64 (mixing in a signed int would make numba promote to float64).
"""
from __future__ import annotations

import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_S40, _S11, _S32 = np.uint64(40), np.uint64(11), np.uint64(32)
_MASK32 = np.uint64(0xFFFFFFFF)


def bits64(seed, counter):
    """64 random bits for (seed, counter); both uint64 (two splitmix64 finaliser rounds)."""
    z = seed ^ _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = (z ^ (z >> _S31)) + counter * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


def make_uniform(T, jit):
    """U[0, 1) with 24 (float32) or 53 (float64) random mantissa bits.

    `jit` compiles the helper for the target (numba.njit on CPU, cuda.jit(device=True) on GPU)."""
    bits = jit(bits64)
    if T == np.float32:
        scale = np.float32(1.0 / (1 << 24))

        def f(seed, counter):
            return np.float32(bits(seed, counter) >> _S40) * scale
    else:
        scale = np.float64(1.0 / (1 << 53))

        def f(seed, counter):
            return np.float64(bits(seed, counter) >> _S11) * scale
    return f


def make_normal(T, jit):
    """N(0, 1) by Box-Muller from the two 32-bit halves of one hash."""
    bits = jit(bits64)
    two_pi = T(2.0 * math.pi)
    m2 = T(-2.0)
    half = T(0.5)
    inv32 = T(1.0 / 4294967296.0)

    def f(seed, counter):
        b = bits(seed, counter)
        u1 = (T(b >> _S32) + half) * inv32  # in (0, 1): log never sees 0
        u2 = T(b & _MASK32) * inv32
        return math.sqrt(m2 * math.log(u1)) * math.cos(two_pi * u2)
    return f
