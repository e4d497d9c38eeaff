"""Checks of device data that must not stall a training step: computed on the device, read at the
next natural synchronisation (any device -> host copy: .item(), .cpu(), printing), like CUDA's
device-side asserts in PyTorch.  MINIDL_EAGER_CHECKS=1 reads them at once (debugging: the error
then points at the offending call).

Only class-index targets of nll_loss / cross_entropy are checked this way today: one running
(flag, first bad value) pair per device, combined on the device across calls.
"""
from __future__ import annotations

import os

__all__ = ["defer_target_check", "flush", "pending"]

_pending: dict = {}  # device -> (bad: bool 0-d tensor, value: int64 0-d tensor)


def eager() -> bool:
    return os.environ.get("MINIDL_EAGER_CHECKS", "") == "1"


def pending() -> bool:
    """True while a deferred check waits for the next synchronisation."""
    return bool(_pending)


def defer_target_check(target, C: int, ignore_index: int) -> None:
    """Record, on the device, whether a class-index `target` (CUDA, int64) has a value outside
    [0, C) other than ignore_index, and the first such value; raise at the next sync."""
    from ..autograd import no_grad
    from ..ops.elementwise import where
    from ..tensor import Tensor
    from . import backend as B

    with no_grad():
        t = target.detach().reshape(-1)
        if t.numel() == 0:
            return
        bad = (t != ignore_index) & ((t < 0) | (t >= C))
        first = bad.long().argmax()  # indexing would read the index on the host: gather raw
        value = Tensor._wrap(B.take(t._data, first._data.reshape(1)).reshape(()), t.device)
        flag = bad.any()
        prev = _pending.get(target.device)
        if prev is not None:  # keep the first offender since the last sync
            value = where(prev[0], prev[1], value)
            flag = prev[0] | flag
        _pending[target.device] = (flag, value)
    if eager():
        flush()


def flush() -> None:
    """Read the pending checks (called by every device -> host copy); raise the first failure."""
    if not _pending:
        return
    from ..ops.loss import TargetIndexError

    items = list(_pending.values())
    _pending.clear()  # before reading: the reads below are device -> host copies themselves
    for flag, value in items:
        if bool(flag.item()):
            raise TargetIndexError(f"Target {int(value.item())} is out of bounds. (checked on the "
                                   "device by nll_loss/cross_entropy and reported at the next "
                                   "synchronisation; MINIDL_EAGER_CHECKS=1 reports it at the "
                                   "call)")
