"""minidl.cuda: is a CUDA device (or numba's CUDA simulator) usable, and what is it.

Importing this package does not import numba.cuda: `import minidl` must work on machines without
numba-cuda, and numba decides simulator-or-GPU when numba.cuda is first imported (so
NUMBA_ENABLE_CUDASIM=1 must be set before the first call below).  The contract implementation
lives in minidl.cuda.backend, the kernels in minidl.cuda.kernels, PTX/ptxas checks in
minidl.cuda.ptx.
"""
from __future__ import annotations

from ..errors import DeviceError

__all__ = ["is_available", "require", "is_simulator", "device_count", "get_device_name",
           "synchronize"]

_INSTALL_HINT = 'pip install "numba-cuda[cu13]"'


def _numba_cuda():
    """numba.cuda, or None when numba-cuda is not installed."""
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


def is_available() -> bool:
    """True with a usable CUDA GPU or under the simulator; False without numba-cuda."""
    cuda = _numba_cuda()
    if cuda is None:
        return False
    try:
        return bool(cuda.is_available())
    except Exception:  # a broken driver install counts as "not available"
        return False


def require() -> None:
    """Raise DeviceError (with what to do about it) unless CUDA can be used."""
    if _numba_cuda() is None:
        raise DeviceError(f"CUDA support needs numba-cuda, which is not installed: {_INSTALL_HINT}")
    if not is_available():
        raise DeviceError("no CUDA GPU found (set NUMBA_ENABLE_CUDASIM=1 to use the simulator)")


def device_count() -> int:
    """Number of visible CUDA devices (1 under the simulator, 0 when unavailable)."""
    if not is_available():
        return 0
    from numba import cuda

    return len(cuda.gpus)


def get_device_name(device: int = 0) -> str:
    """The GPU's name, e.g. "NVIDIA A100-SXM4-40GB"; "CUDA simulator" under the simulator."""
    require()
    if is_simulator():
        return "CUDA simulator"
    from numba import cuda

    with cuda.gpus[device]:
        name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def synchronize() -> None:
    """Wait for all launched kernels to finish (launches are asynchronous on a real GPU)."""
    require()
    from numba import cuda

    cuda.synchronize()
