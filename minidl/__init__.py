"""minidl: a small deep learning framework with PyTorch's API, numpy/numba on the CPU and
numba.cuda kernels on the GPU.  Public names only; see docs/architecture.md for the house."""
from . import autograd, dtypes, random  # noqa: F401
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .device import Device, device
from .dtypes import bool_, float32, float64, int64
from .errors import DeviceError, DTypeError, ShapeError
from .functions import (abs, amax, amin, argmax, argmin, cat, clamp, clip, exp, expand, flatten,
                        gather, log, log_softmax, matmul, maximum, mean, minimum, permute, pow,
                        relu, reshape, sigmoid, softmax, sqrt, squeeze, stack, std, sum, tanh,
                        transpose, unsqueeze, var, where)
from .functions import max, min  # noqa: F401  (shadow builtins inside this namespace, like torch)
from .random import Generator, get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from .interop import from_dlpack  # noqa: F401
from .tensor import Tensor
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)

float = float32  # noqa: A001
"""Alias of float32, as torch.float."""
double = float64
"""Alias of float64, as torch.double."""
long = int64
"""Alias of int64, as torch.long."""
bool = bool_  # noqa: A001
"""Alias of bool_, as torch.bool."""

__version__ = "0.1.0"


def save(obj, f) -> None:
    """Save nested dicts/lists/tuples of tensors, arrays, numbers and strings to an HDF5
    checkpoint, atomically (see minidl/io.py and docs/checkpoints.md)."""
    from .io import save as _save  # lazy: h5py loads on first use
    _save(obj, f)


def load(f, map_location=None):
    """Load a checkpoint written by `minidl.save` (no pickle; `map_location` moves tensors)."""
    from .io import load as _load
    return _load(f, map_location=map_location)


def __getattr__(name):
    # minidl.cuda, minidl.nn, ... load on first use, so `import minidl` never imports numba.cuda
    import importlib

    if name in ("cuda", "nn", "optim", "data", "testing", "io", "models"):
        return importlib.import_module(f"minidl.{name}")
    raise AttributeError(f"module 'minidl' has no attribute '{name}'")
