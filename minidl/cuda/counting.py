"""Count what a piece of code asks of the GPU runtime, under numba's simulator: kernel launches,
pool allocations, allocations reaching the driver, and host <-> device copies.  bench/gpu.py
prints them per training step; tests assert budgets on them.

`skip_kernels=True` counts launches without running their bodies (the simulator runs every thread
in Python, which at real shapes takes hours); results are then garbage, which is fine for
counting because no launcher decides anything from device data; deferred checks
(minidl.cuda.checks) are neither read inside nor kept after such a block.
"""
from __future__ import annotations

import contextlib

__all__ = ["Counts", "counting"]


class Counts(dict):
    """{"launches", "pool_allocs", "driver_allocs", "d2h", "h2d"} since the counting began."""

    def __sub__(self, other: "Counts") -> "Counts":
        return Counts({k: v - other.get(k, 0) for k, v in self.items()})


_launches = [0]


def _snapshot() -> Counts:
    from . import memory

    alloc = drv = 0
    for a in memory.allocators().values():
        st = a.stats()
        alloc += st["allocation.all.allocated"]
        drv += st["num_device_alloc"]
    return Counts(launches=_launches[0], pool_allocs=alloc, driver_allocs=drv,
                  d2h=memory.transfer_counts["d2h"], h2d=memory.transfer_counts["h2d"])


@contextlib.contextmanager
def counting(skip_kernels: bool = False):
    """Within the block, count launches (simulator only); yields snapshot(), a callable giving
    the running Counts, so a caller can diff successive steps."""
    from . import is_simulator

    if not is_simulator():
        raise RuntimeError("minidl.cuda.counting needs the simulator (NUMBA_ENABLE_CUDASIM=1)")
    from numba.cuda.simulator import kernel as simkernel

    cls = simkernel.FakeCUDAKernel
    original = cls.__call__

    def counted(self, *args):
        if self._device or simkernel._kernel_context:  # device functions, calls inside kernels
            return original(self, *args)
        _launches[0] += 1
        if not skip_kernels:
            return original(self, *args)

    from . import checks

    cls.__call__ = counted
    saved_skip, checks.skip = checks.skip, skip_kernels or checks.skip
    try:
        yield _snapshot
    finally:
        cls.__call__ = original
        checks.skip = saved_skip
        if skip_kernels:  # check states written (or created) by skipped kernels are garbage
            checks._state.clear()
            checks._dirty.clear()
