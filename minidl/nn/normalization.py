"""Normalisation layers: BatchNorm1d, BatchNorm2d, LayerNorm, LocalResponseNorm.

LocalResponseNorm follows PyTorch (alpha divided by size) by default; `paper_alpha=True` gives
the AlexNet paper's form b = a / (k + alpha * sum a^2)^beta (Krizhevsky et al. 2012, section
3.3: k=2, n=5, alpha=1e-4, beta=0.75), i.e. PyTorch's formula with alpha * size.
"""
from __future__ import annotations

import numbers

from .. import dtypes
from ..tensor import Tensor
from ..creation import empty, ones, tensor, zeros
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "LocalResponseNorm"]


class _BatchNorm(Module):
    """Shared BatchNorm machinery; subclasses check the input rank."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None, dtype=None):
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty(num_features, device=device, dtype=dtype))
            self.bias = Parameter(empty(num_features, device=device, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked",
                                 tensor(0, dtype=dtypes.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """With track_running_stats: running_mean to 0, running_var to 1, num_batches_tracked to
        0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics and, with affine=True, weight to ones and bias to zeros."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise self._shape_error(f"input with {self.num_features} features in dimension 1",
                                    input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.item())
        # batch statistics in training, or when there are no running statistics to use
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_running else None,
                            self.running_var if use_running else None, self.weight, self.bias,
                            bn_training, factor, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over [N, C] or [N, C, L] (statistics per channel C).
    BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True);
    momentum=None uses a cumulative average.  Running variance is the unbiased batch variance."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in (2, 3):
            raise self._shape_error(f"2D [N, {self.num_features}] or 3D "
                                    f"[N, {self.num_features}, L] input", input)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over [N, C, H, W] (statistics per channel C); arguments as
    BatchNorm1d."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim != 4:
            raise self._shape_error(f"4D input [N, {self.num_features}, H, W]", input)


class LayerNorm(Module):
    """Normalise over the trailing `normalized_shape` dimensions of each sample.
    LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(*self.normalized_shape, device=device, dtype=dtype))
            if bias:
                self.bias = Parameter(zeros(*self.normalized_shape, device=device, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        """With elementwise_affine=True: weight to ones, bias (if any) to zeros."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:
        n = len(self.normalized_shape)
        if input.ndim < n or tuple(input.shape[input.ndim - n:]) != self.normalized_shape:
            dims = ", ".join(map(str, self.normalized_shape))
            raise self._shape_error(f"input of shape [*, {dims}]", input)
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Normalise each activation by its neighbours across channels:
    b_c = a_c / (k + alpha / size * sum_{c' in window(c)} a_c'^2) ** beta  (PyTorch), or with
    paper_alpha=True: b_c = a_c / (k + alpha * sum a_c'^2) ** beta (AlexNet paper; use
    LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, paper_alpha=True) for its values).
    The window holds `size` channels centred on c, cut at the edges.  Input [N, C, *].
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0,
                 paper_alpha: bool = False):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.paper_alpha = paper_alpha

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim < 3:
            raise self._shape_error("input with 3 or more dimensions [N, C, *]", input)
        alpha = self.alpha * self.size if self.paper_alpha else self.alpha
        return F.local_response_norm(input, self.size, alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        s = f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
        return s + (", paper_alpha=True" if self.paper_alpha else "")
