"""`Parameter`: a Tensor subclass that a Module registers automatically when assigned as an
attribute.  It shares storage (and the in-place version counter) with the tensor it is made
from, is a leaf, and requires grad by default."""
from __future__ import annotations

from ..tensor import Tensor
from ..creation import empty, from_numpy

__all__ = ["Parameter"]


class Parameter(Tensor):
    """Parameter(data=None, requires_grad=True): a trainable tensor of a Module.

    data: the tensor whose storage the parameter shares (an empty float32 tensor if None).
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a minidl Tensor as data, got "
                            f"{type(data).__name__}")
        p = cls._wrap(data._data, data._device)
        p._version = data._version  # same storage, so in-place writes are seen through both
        p._view = data._view  # where in that storage (data may be a view)
        p.requires_grad = requires_grad
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        pass  # everything happens in __new__ (Tensor.__init__ forbids direct construction)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        # pickling / deepcopy keep the Parameter type (a host copy, like Tensor's)
        return (_rebuild_parameter,
                (self._backend.to_numpy(self._data), str(self._device), self._requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        out = Parameter(self.detach().clone(), self._requires_grad)
        memo[id(self)] = out
        return out


def _rebuild_parameter(arr, device, requires_grad):
    return Parameter(from_numpy(arr).to(device), requires_grad)
