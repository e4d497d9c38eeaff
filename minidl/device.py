"""Device names ("cpu", "cuda", "cuda:N") and the backend module behind each, imported lazily.

"cuda" without an index means the current CUDA device (minidl.cuda.set_device), resolved when the
Device is made, so a tensor always remembers a concrete "cuda:N"."""
from __future__ import annotations

import importlib

from .errors import DeviceError


class Device:
    """A device: `type` is "cpu" or "cuda", `index` the GPU ordinal (None for cpu)."""

    __slots__ = ("type", "index")

    def __init__(self, spec="cpu", index: int | None = None):
        if isinstance(spec, Device):
            spec, index = spec.type, spec.index
        spec = str(spec)
        if ":" in spec:
            spec, _, idx = spec.partition(":")
            if not idx.isdigit():
                raise DeviceError(f"invalid device string: '{spec}:{idx}'")
            index = int(idx)
        if spec not in ("cpu", "cuda"):
            raise DeviceError("Expected one of cpu, cuda device type at start of device string: "
                              f"{spec}")
        if spec == "cuda" and index is None:
            from .cuda import current_device

            index = current_device()
        if spec == "cpu":
            index = None
        self.type = spec
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = Device(other)
        return isinstance(other, Device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (Device, (str(self),))


device = Device
CPU = Device("cpu")


def to_device(d) -> Device:
    if d is None:
        return CPU
    if isinstance(d, Device):
        return d
    if isinstance(d, int):
        return Device("cuda", d)
    return Device(d)


_backends: dict = {}


def backend_for(dev: Device):
    """The backend module implementing the contract on `dev` (minidl.backend.cpu or
    minidl.cuda.backend).

    For "cuda:N" it also makes N the current device (validating N), so launches and allocations
    that follow land on the tensor's GPU."""
    key = dev.type
    mod = _backends.get(key)
    if mod is None:
        if key == "cpu":
            mod = importlib.import_module("minidl.backend.cpu")
        else:
            from . import cuda

            cuda.require()
            if dev.index != cuda.current_device():
                cuda.check_index(dev.index)  # before importing the kernels
            mod = importlib.import_module("minidl.cuda.backend")
        _backends[key] = mod
    if key == "cuda":
        from . import cuda

        if dev.index != cuda._current[0]:
            cuda.set_device(dev.index)
    return mod
