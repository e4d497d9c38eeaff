"""minidl's random state: a counter-based generator whose whole state is (seed, offset).

Every random tensor of n elements uses counters offset .. offset+n-1 and then advances the
offset, so results do not depend on the device and a checkpoint restores them exactly.
"""
from __future__ import annotations

import numpy as np

from .backend.shared.counter_rng import bits64

_DEFAULT_SEED = 67280421310721


class Generator:
    """Counter-based random generator (PyTorch's `Generator` API subset)."""

    def __init__(self, device="cpu"):
        self.device = device
        self._seed = _DEFAULT_SEED
        self._offset = 0

    def manual_seed(self, seed: int) -> "Generator":
        """Set the seed and rewind the counter to 0; returns self."""
        seed = int(seed)
        if not -(1 << 63) <= seed < (1 << 64):
            raise ValueError(f"Overflow when unpacking long: seed {seed} out of range")
        self._seed = seed & ((1 << 64) - 1)
        self._offset = 0
        return self

    def seed(self) -> int:
        """Re-seed non-deterministically; returns the new seed."""
        s = int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> np.ndarray:
        """State as int64 array [seed, offset] (seed stored as its two's-complement bits)."""
        return np.array([self._seed, self._offset], dtype=np.uint64).view(np.int64)

    def set_state(self, state) -> "Generator":
        """Restore a state from get_state() (an int64 array or tensor [seed, offset]); returns
        self."""
        arr = np.asarray(state.numpy() if hasattr(state, "numpy") else state)
        arr = arr.astype(np.int64).view(np.uint64)
        if arr.shape != (2,):
            raise ValueError("generator state must have shape [2] (seed, offset), got "
                             f"{list(arr.shape)}")
        self._seed, self._offset = int(arr[0]), int(arr[1])
        return self

    def _take(self, n: int) -> tuple[int, int]:
        """Reserve n counters; returns (seed, first counter)."""
        off = self._offset
        self._offset = off + int(n)
        return self._seed, off

    def next_seed(self) -> int:
        """A fresh 63-bit integer (for seeding numpy Generators of loaders and transforms)."""
        seed, off = self._take(1)
        with np.errstate(over="ignore"):  # uint64 wrap-around is the hash's arithmetic
            return int(bits64(np.uint64(seed), np.uint64(off))) >> 1

    def numpy_generator(self) -> np.random.Generator:
        """A numpy Generator seeded from this generator (advances it by one counter)."""
        return np.random.default_rng(self.next_seed())


default_generator = Generator()
"""The generator minidl's random functions draw from unless given `generator=`."""


def manual_seed(seed: int) -> Generator:
    """Seed minidl's default generator (CPU and CUDA draw from the same counter stream)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Re-seed the default generator non-deterministically; returns the new seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed the default generator was last seeded with."""
    return default_generator.initial_seed()


def get_rng_state() -> np.ndarray:
    """The default generator's state, an int64 array [seed, offset]."""
    return default_generator.get_state()


def set_rng_state(state) -> None:
    """Restore the default generator's state from get_rng_state()."""
    default_generator.set_state(state)
