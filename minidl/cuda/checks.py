"""Checks of device data that must not stall a training step: computed on the device, read at the
next natural synchronisation (any device -> host copy: .item(), .cpu(), printing), like CUDA's
device-side asserts in PyTorch.  MINIDL_EAGER_CHECKS=1 reads them at once (debugging: the error
then points at the offending call).

Only class-index targets of nll_loss / cross_entropy are checked this way today: one launch per
loss call (kernels.checks.target_check) into a persistent [flag, first bad value] int64 state per
device; the state is read (one 16-byte copy) only at a sync that follows a check.
"""
from __future__ import annotations

import os

from ..errors import TargetIndexError

__all__ = ["defer_target_check", "flush", "pending"]

_state: dict = {}  # device index -> int64[2] device array [flag, value]
_dirty: set = set()  # devices checked since their state was last read
skip = False  # minidl.cuda.counting with skipped kernels: the state is garbage, never read it


def eager() -> bool:
    return os.environ.get("MINIDL_EAGER_CHECKS", "") == "1"


def pending() -> bool:
    """True while a deferred check waits for the next synchronisation."""
    return bool(_dirty)


def defer_target_check(target, C: int, ignore_index: int) -> None:
    """Record, on the current device, whether a class-index `target` (int64 device array) has a
    value outside [0, C) other than ignore_index, and the first such value; raise at the next
    sync."""
    if target.size == 0:
        return
    from . import _current
    from . import backend as B
    from .backend._util import flat
    from .kernels.checks import TPB, target_check_kernel

    index = _current[0]
    state = _state.get(index)
    if state is None:
        state = _state[index] = B.full((2,), 0, "int64")
    target_check_kernel()[1, TPB](flat(target), int(C), int(ignore_index), state)
    _dirty.add(index)
    if eager():
        flush()


def flush() -> None:
    """Read the states checked since the last read (called by every device -> host copy) and
    raise the first failure, clearing it."""
    if not _dirty or skip:
        return
    from . import backend as B

    dirty = sorted(_dirty)
    _dirty.clear()  # before reading: the reads below are device -> host copies themselves
    for index in dirty:
        flag, value = (int(v) for v in B.to_numpy(_state[index]))
        if flag:
            _state[index] = B.full((2,), 0, "int64")
            raise TargetIndexError(f"Target {value} is out of bounds. (checked on the device by "
                                   "nll_loss/cross_entropy and reported at the next "
                                   "synchronisation; MINIDL_EAGER_CHECKS=1 reports it at the "
                                   "call)")
