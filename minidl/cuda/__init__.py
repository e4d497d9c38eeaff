"""minidl.cuda: is a CUDA device (or numba's CUDA simulator) usable, and what is it.

Importing this package does not import numba.cuda: `import minidl` must work on machines without
numba-cuda, and numba decides simulator-or-GPU when numba.cuda is first imported (so
NUMBA_ENABLE_CUDASIM=1 must be set before the first call below).  The contract implementation
lives in minidl.cuda.backend, the kernels in minidl.cuda.kernels, PTX/ptxas checks in
minidl.cuda.ptx, the caching device allocator in minidl.cuda.memory.
"""
from __future__ import annotations

from ..errors import DeviceError

__all__ = ["is_available", "unavailable_reason", "require", "is_simulator", "device_count",
           "current_device", "set_device", "get_device_name", "synchronize", "memory_allocated",
           "max_memory_allocated", "memory_reserved", "max_memory_reserved", "empty_cache",
           "reset_peak_memory_stats", "memory_stats", "precompile"]

INSTALL_HINT = 'pip install "minidl[cuda]"  (or "minidl[cuda12]" for CUDA 12 drivers)'
_NO_NUMBA_CUDA = ("CUDA support needs the numba-cuda package, which is not installed (numba's own "
                  "deprecated built-in CUDA target cannot run minidl's kernels): " + INSTALL_HINT)

_current = [0]  # the current device index (what "cuda" means); pure Python, no numba import


def has_numba_cuda() -> bool:
    """True when the numba-cuda package provides numba.cuda (not numba's built-in target)."""
    import importlib.util

    return importlib.util.find_spec("numba_cuda") is not None


def _numba_cuda():
    """numba.cuda from numba-cuda, or None (never numba's deprecated built-in CUDA target)."""
    if not has_numba_cuda():
        return None
    try:
        from numba import cuda
    except ImportError:  # also raised when numba-cuda lacks its cuda-python bindings
        return None
    return cuda


def is_simulator() -> bool:
    """True when numba runs kernels in its CUDA simulator (NUMBA_ENABLE_CUDASIM=1)."""
    if _numba_cuda() is None:
        return False
    try:  # the flag numba.cuda itself read at import (numba-cuda >= 0.2x keeps its own config)
        from numba.cuda.core import config
    except ImportError:
        from numba.core import config
    return bool(config.ENABLE_CUDASIM)


def unavailable_reason() -> str | None:
    """Why CUDA cannot be used (with what to do about it), or None when it can."""
    cuda = _numba_cuda()
    if cuda is None:
        return _NO_NUMBA_CUDA
    try:
        if cuda.is_available():
            return None
    except Exception as e:  # a broken driver install counts as "not available"
        return f"the CUDA driver failed to initialise ({type(e).__name__}: {e})"
    return "no CUDA GPU found (set NUMBA_ENABLE_CUDASIM=1 to use the simulator)"


def is_available() -> bool:
    """True with a usable CUDA GPU or under the simulator; False without numba-cuda
    (unavailable_reason() says why)."""
    return unavailable_reason() is None


def require() -> None:
    """Raise DeviceError (with what to do about it) unless CUDA can be used."""
    reason = unavailable_reason()
    if reason is not None:
        raise DeviceError(reason)


def device_count() -> int:
    """Number of visible CUDA devices (1 under the simulator, 0 when unavailable)."""
    if not is_available():
        return 0
    from numba import cuda

    return 1 if is_simulator() else len(cuda.gpus)


def _index(device) -> int:
    """The device index meant by None (current), an int, "cuda:N" or a Device."""
    if device is None:
        return _current[0]
    if isinstance(device, int):
        return device
    from ..device import Device

    d = Device(device)
    if d.type != "cuda":
        raise DeviceError(f"expected a CUDA device, got {d}")
    return d.index


def check_index(index: int) -> None:
    """Raise DeviceError unless `index` names a visible CUDA device."""
    require()
    n = device_count()
    if not 0 <= index < n:
        raise DeviceError(f"invalid device ordinal: cuda:{index} requested, but "
                          f"{n} CUDA device{'s are' if n != 1 else ' is'} visible "
                          f"(cuda:0{f'..cuda:{n - 1}' if n > 1 else ''})")


def current_device() -> int:
    """Index of the current CUDA device (what "cuda" without an index means)."""
    return _current[0]


def set_device(device) -> None:
    """Make `device` (an index, "cuda:N" or a Device) the current CUDA device."""
    index = _index(device)
    check_index(index)
    if index != _current[0]:
        if not is_simulator():
            from numba import cuda

            cuda.select_device(index)
        _current[0] = index


def get_device_name(device=None) -> str:
    """The GPU's name, e.g. "NVIDIA A100-SXM4-40GB"; "CUDA simulator" under the simulator."""
    index = _index(device)
    check_index(index)
    if is_simulator():
        return "CUDA simulator"
    from numba import cuda

    with cuda.gpus[index]:
        name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait for all launched kernels to finish (launches are asynchronous on a real GPU), then
    raise any error a device-side check recorded (minidl.cuda.checks)."""
    require()
    from numba import cuda

    from . import checks

    cuda.synchronize()
    checks.flush()


# ---- the caching allocator's observable state (minidl.cuda.memory) ----------------------------
def memory_stats(device=None) -> dict:
    """The allocator's counters for `device` (PyTorch's keys, e.g. "allocated_bytes.all.current",
    plus "num_device_alloc", "num_device_free", "num_pool_hits"); {} before its first use."""
    from . import memory

    a = memory.allocators().get(_index(device))
    return a.stats() if a is not None else {}


def memory_allocated(device=None) -> int:
    """Bytes held by live tensors on `device` (block sizes, rounded up to 512)."""
    return memory_stats(device).get("allocated_bytes.all.current", 0)


def max_memory_allocated(device=None) -> int:
    """Peak of memory_allocated() since the start or reset_peak_memory_stats()."""
    return memory_stats(device).get("allocated_bytes.all.peak", 0)


def memory_reserved(device=None) -> int:
    """Bytes the allocator holds from the driver (allocated + cached free blocks)."""
    return memory_stats(device).get("reserved_bytes.all.current", 0)


def max_memory_reserved(device=None) -> int:
    """Peak of memory_reserved() since the start or reset_peak_memory_stats()."""
    return memory_stats(device).get("reserved_bytes.all.peak", 0)


def empty_cache() -> None:
    """Return every fully free cached segment to the driver (live tensors keep theirs)."""
    from . import memory

    for a in list(memory.allocators().values()):
        a.empty_cache()


def reset_peak_memory_stats(device=None) -> None:
    """Restart the peaks of max_memory_allocated() / max_memory_reserved() from now."""
    from . import memory

    a = memory.allocators().get(_index(device))
    if a is not None:
        a.reset_peak_stats()


# ---- driver / toolkit / PTX ISA compatibility (for `minidl info`) ------------------------------
# PTX ISA -> the oldest CUDA driver that loads it: ISA 8.x is CUDA 12 (8.6 was skipped: ISA 8.7 is
# CUDA 12.8), ISA 9.x is CUDA 13 with the same minor.  Newer ISAs than listed assume that pattern.
_ISA_DRIVER = {(8, 0): (12, 0), (8, 1): (12, 1), (8, 2): (12, 2), (8, 3): (12, 3), (8, 4): (12, 4),
               (8, 5): (12, 5), (8, 7): (12, 8), (8, 8): (12, 9)}


def isa_driver(isa: tuple) -> tuple:
    """The oldest CUDA driver version (major, minor) that JIT-loads PTX of ISA `isa`."""
    return _ISA_DRIVER.get(tuple(isa), (isa[0] + 4, isa[1]))


def toolchain_report() -> list[str]:
    """Lines for `minidl info`: numba-cuda, CUDA toolkit, the PTX ISA it emits, the driver, and
    whether the driver can load that PTX (with the fix when it cannot).  Compiles one tiny kernel
    (about a second) unless running under the simulator."""
    if _numba_cuda() is None:
        return []
    from importlib.metadata import PackageNotFoundError, version

    lines = []
    try:
        lines.append(f"numba-cuda {version('numba-cuda')}")
    except PackageNotFoundError:
        pass
    if is_simulator():
        return lines + ["toolkit/driver: not probed under the simulator"]
    from numba import cuda

    try:
        rt = cuda.cudadrv.runtime.runtime.get_version()
        lines.append(f"CUDA toolkit (runtime) {rt[0]}.{rt[1]}")
    except Exception as e:
        lines.append(f"CUDA toolkit: not found ({type(e).__name__})")
    isa = None
    try:
        def _probe(a):
            a[0] = 1.0
        ptx, _ = cuda.compile_ptx(_probe, "void(float32[::1])", cc=(8, 0))
        ver = next(line for line in ptx.splitlines() if line.startswith(".version"))
        isa = tuple(int(v) for v in ver.split()[1].split("."))
        need = isa_driver(isa)
        lines.append(f"PTX ISA {isa[0]}.{isa[1]} (needs a CUDA {need[0]}.{need[1]}+ driver)")
    except Exception as e:
        lines.append(f"PTX: cannot compile ({type(e).__name__}: {str(e)[:120]})")
    try:
        from numba.cuda.cudadrv.driver import driver

        drv = driver.get_version()
    except Exception:
        return lines + ["driver: none found (no GPU here; compatibility checked on a GPU machine)"]
    lines.append(f"driver supports CUDA {drv[0]}.{drv[1]}")
    if isa is not None:
        need = isa_driver(isa)
        if tuple(drv) >= need:
            lines.append("compatible: the driver loads this PTX")
        else:
            lines.append(f"INCOMPATIBLE: the driver (CUDA {drv[0]}.{drv[1]}) cannot load PTX ISA "
                         f"{isa[0]}.{isa[1]}; install the toolkit matching it: "
                         f'pip install "minidl[cuda{drv[0]}]" (or upgrade the driver)')
    return lines


# ---- compile ahead -----------------------------------------------------------------------------
def precompile(model, input_shape, device=None) -> float:
    """Compile every kernel one training step of `model` launches (forward, cross-entropy or sum
    loss, backward) by running it once on zeros of `input_shape`; returns the seconds taken.

    On a GPU the kernels land in numba-cuda's disk cache, so later processes skip NVVM/ptxas.
    The model's parameters, gradients and buffers are left as they were; optimizer kernels are
    compiled by the first optimizer.step()."""
    import time

    import minidl

    from ..nn import functional as F

    device = device or next(iter(model.parameters())).device
    saved_grads = [(p, p.grad) for p in model.parameters()]
    saved_buffers = [(b, b.detach().clone()) for b in model.buffers()]
    t0 = time.perf_counter()
    out = model(minidl.zeros(*input_shape, device=device))
    if out.ndim == 2:
        loss = F.cross_entropy(out, minidl.zeros(out.shape[0], dtype=minidl.int64, device=device))
    else:
        loss = out.sum()
    loss.backward()
    loss.item()  # waits for the GPU
    seconds = time.perf_counter() - t0
    for p, g in saved_grads:
        p.grad = g
    with minidl.no_grad():
        for b, v in saved_buffers:
            b.copy_(v)
    return seconds
