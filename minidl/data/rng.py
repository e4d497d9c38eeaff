"""The random source of data augmentation: a per-thread "current" numpy Generator.

Random transforms draw from `current_rng()`. The DataLoader installs a fresh Generator for every
batch, seeded from (the epoch's base seed, the batch's position in the epoch), so an epoch of
augmented batches depends only on `minidl.manual_seed` / the loader's `generator`, not on the
number of workers nor on which worker fetched which batch. Outside a loader, `current_rng()` is
a Generator seeded from minidl's default generator (advancing it by one counter per call), so
`minidl.manual_seed(s)` makes direct transform calls reproducible too.

What does not live here: minidl's own counter-based generator (minidl/random.py).
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import numpy as np

__all__ = ["current_rng", "rng_context", "draw_seed", "batch_rng"]

_local = threading.local()


def _default_generator():
    try:
        from minidl.random import default_generator
    except ImportError:  # pragma: no cover - the core always ships minidl.random
        return None
    return default_generator


def draw_seed(generator=None) -> int:
    """A fresh 63-bit seed from `generator` (a minidl.Generator, a numpy Generator, or None for
    minidl's default generator). Advances that generator."""
    if generator is None:
        generator = _default_generator()
        if generator is None:  # pragma: no cover
            return int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)
    if hasattr(generator, "next_seed"):
        return int(generator.next_seed())
    if isinstance(generator, np.random.Generator):
        return int(generator.integers(0, 1 << 63))
    raise TypeError(
        "generator must be a minidl.Generator, a numpy.random.Generator or None, "
        f"got {type(generator).__name__}")


def batch_rng(base_seed: int, index: int) -> np.random.Generator:
    """The augmentation Generator of batch `index` of an epoch whose base seed is `base_seed`."""
    return np.random.default_rng([int(base_seed) & ((1 << 64) - 1), int(index)])


def current_rng() -> np.random.Generator:
    """The Generator random transforms draw from: the one installed by `rng_context` (the
    DataLoader installs one per batch), else a new one seeded from minidl's default generator."""
    rng = getattr(_local, "rng", None)
    if rng is not None:
        return rng
    return np.random.default_rng(draw_seed(None))


@contextlib.contextmanager
def rng_context(rng: np.random.Generator | int | None) -> Iterator[np.random.Generator | None]:
    """Make `rng` (a numpy Generator, or an int seed) the current augmentation Generator of this
    thread inside the block: `with rng_context(np.random.default_rng(0)): out = transform(x)`."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    prev = getattr(_local, "rng", None)
    _local.rng = rng
    try:
        yield rng
    finally:
        _local.rng = prev
