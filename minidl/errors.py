"""minidl's named error classes: each subclasses the builtin a PyTorch user would catch."""


class ShapeError(ValueError):
    """Shapes that do not fit the op (broadcast, matmul, conv geometry, ...)."""


class DTypeError(TypeError):
    """A dtype the op or kernel does not support."""


class DeviceError(RuntimeError):
    """Tensors on different devices, or a device that is not available."""


class TargetIndexError(ShapeError, IndexError):
    """A class-index target outside [0, C) (an IndexError too, like PyTorch's)."""


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be loaded: truncated, corrupt, foreign or too new."""
