"""Dropout layers: active in training mode, identity in eval mode."""
from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p in training and scale the rest by 1 / (1 - p).
    Dropout(p=0.5, inplace=False).  The mask comes from minidl's counter-based generator."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of [N, C, H, W] (or [C, H, W]) with probability p in training,
    scaling the rest by 1 / (1 - p).  Dropout2d(p=0.5, inplace=False)."""

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise self._shape_error("a 3D [C, H, W] or 4D [N, C, H, W] input", input)
        return F.dropout2d(input, self.p, self.training, self.inplace)
