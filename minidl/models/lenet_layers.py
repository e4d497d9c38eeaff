"""Layers of LeNet-5 (LeCun et al. 1998) that PyTorch does not ship (the model: lenet.py).

- `Subsampling`: the S2/S4 layers: each unit adds the 4 inputs of its 2x2 window, multiplies by
  a trainable coefficient and adds a trainable bias, one coefficient and one bias per map.
- `SparseConv2d`: a convolution where output map o only sees the input maps the connection
  table marks (C3: 16 maps from 6 with the paper's Table I: 60 connections, 1,516 parameters).
- `ScaledTanh`: the paper's squashing function A * tanh(S * x), A = 1.7159, S = 2/3.
"""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from ..creation import empty, tensor
from ..nn import functional as F
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..ops.conv import scatter_weight as _scatter_weight
from ..tensor import Tensor

__all__ = ["Subsampling", "SparseConv2d", "ScaledTanh", "LENET5_C3_TABLE"]


def _pair(v) -> tuple:
    return tuple(int(x) for x in v) if isinstance(v, (tuple, list)) else (int(v), int(v))


# The paper's Table I: row i = S2 map i, column o = C3 map o, True = connected.
_C3_INPUTS = [(0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
              (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
              (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5)]
LENET5_C3_TABLE = tuple(tuple(i in _C3_INPUTS[o] for o in range(16)) for i in range(6))
"""LeNet-5's C3 connection table (the paper's Table I), 6 x 16: [i][o] is True when S2 map i
feeds C3 map o."""


class Subsampling(Module):
    """LeNet-5's trainable subsampling: y[n, c] = weight[c] * sum_{window} x[n, c] + bias[c].

    Subsampling(num_maps, kernel_size=2, stride=None (= kernel_size)).  Input [N, C, H, W] ->
    [N, C, H_out, W_out]; 2 parameters per map (S2: 12, S4: 32).  Initialised as in the paper
    (appendix C): U(-2.4 / F, 2.4 / F) with fan-in F = kernel area.
    """

    def __init__(self, num_maps: int, kernel_size=2, stride=None, device=None, dtype=None):
        super().__init__()
        self.num_maps = num_maps
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.weight = Parameter(empty(num_maps, device=device, dtype=dtype))
        self.bias = Parameter(empty(num_maps, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise as the paper does: weight and bias U(-2.4 / F, 2.4 / F), F = kernel
        area."""
        bound = 2.4 / (self.kernel_size[0] * self.kernel_size[1])
        with no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4 or input.shape[1] != self.num_maps:
            raise self._shape_error(f"input [N, {self.num_maps}, H, W]", input)
        window_sum = F.avg_pool2d(input, self.kernel_size, self.stride, divisor_override=1)
        c = self.num_maps
        return window_sum * self.weight.reshape(1, c, 1, 1) + self.bias.reshape(1, c, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.num_maps}, kernel_size={self.kernel_size}, stride={self.stride}"


class SparseConv2d(Module):
    """Convolution with a connection table: output map o sums only over the input maps i with
    connection_table[i][o] true (the paper's Table I layout: rows = input maps).

    SparseConv2d(connection_table, kernel_size, stride=1, padding=0, bias=True).  Parameters:
    weight [num_connections, kH, kW] (connections ordered by output map, then input map) and
    bias [out_channels], so the count is num_connections * kH * kW + out_channels.  Forward
    scatters the weights into a dense [out, in, kH, kW] kernel (zeros where not connected; one
    op through an index map built once, so gradients flow back to the compact weights) and
    runs F.conv2d.
    Initialisation follows PyTorch's rule per output unit: U(+-1/sqrt(fan_in)) with fan_in =
    (inputs of that map) * kH * kW, for its weights and its bias.
    """

    def __init__(self, connection_table, kernel_size, stride=1, padding=0, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        table = np.asarray(connection_table, dtype=bool)
        if table.ndim != 2:
            raise ValueError(f"SparseConv2d: connection_table must be 2-D [in_channels, "
                             f"out_channels], got shape {list(table.shape)}")
        if not table.any(axis=0).all():
            empty_maps = np.flatnonzero(~table.any(axis=0)).tolist()
            raise ValueError(f"SparseConv2d: output maps {empty_maps} have no input connection")
        self.in_channels, self.out_channels = table.shape
        self.connection_table = table
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        kh, kw = self.kernel_size
        # connection c = (o, i) in output-major order; its kh x kw taps sit at flat positions
        # ((o * in + i) * kh + y) * kw + x of the dense kernel.  Built once, as a buffer on the
        # weight's device: a forward is one scatter op, with no index upload or host read.
        outs, ins = np.nonzero(table.T)
        self.num_connections = len(outs)
        base = (outs * self.in_channels + ins) * (kh * kw)
        index = (base[:, None] + np.arange(kh * kw)).reshape(self.num_connections, kh, kw)
        self.weight = Parameter(empty(self.num_connections, kh, kw, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(self.out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.register_buffer("scatter_index", tensor(index.astype(np.int64), device=device),
                             persistent=False)
        self._conn_outputs = outs  # output map of each connection (for the init bounds)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise each output map's weights and bias U(+-1/sqrt(F)),
        F = its number of input maps * kH * kW."""
        kh, kw = self.kernel_size
        bound = 1.0 / np.sqrt(self.connection_table.sum(axis=0) * kh * kw)  # per output map
        dt, dev = self.weight.dtype, self.weight.device
        with no_grad():
            self.weight.uniform_(-1.0, 1.0).mul_(
                tensor(bound[self._conn_outputs].reshape(-1, 1, 1), dtype=dt, device=dev))
            if self.bias is not None:
                self.bias.uniform_(-1.0, 1.0).mul_(tensor(bound, dtype=dt, device=dev))

    def dense_weight(self) -> Tensor:
        """The equivalent dense kernel [out_channels, in_channels, kH, kW] (zeros where not
        connected); differentiable with respect to `weight`."""
        kh, kw = self.kernel_size
        return _scatter_weight(self.weight, self.scatter_index,
                               (self.out_channels, self.in_channels, kh, kw))

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 4 or input.shape[1] != self.in_channels:
            raise self._shape_error(f"input [N, {self.in_channels}, H, W]", input)
        return F.conv2d(input, self.dense_weight(), self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, connections={self.num_connections}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.bias is None:
            s += ", bias=False"
        return s


class ScaledTanh(Module):
    """A * tanh(S * x) with LeCun's A = 1.7159, S = 2/3 (so f(1) = 1 and f(-1) = -1)."""

    def __init__(self, A: float = 1.7159, S: float = 2.0 / 3.0):
        super().__init__()
        self.A = A
        self.S = S

    def forward(self, input: Tensor) -> Tensor:
        if (self.A, self.S) == (1.7159, 2.0 / 3.0):
            return F.scaled_tanh(input)  # one fused elementwise op
        return F.tanh(input * self.S) * self.A

    def extra_repr(self) -> str:
        return f"A={self.A}, S={self.S:.4g}" if (self.A, self.S) != (1.7159, 2.0 / 3.0) else ""
