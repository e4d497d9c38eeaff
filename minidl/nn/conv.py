"""Conv2d: 2-D convolution (cross-correlation) with PyTorch's constructor and initialisation."""
from __future__ import annotations

from ..backend.shared.geometry import pair
from ..tensor import Tensor
from ..creation import empty
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(Module):
    """2-D convolution (cross-correlation): [N, C_in, H, W] -> [N, C_out, H_out, W_out].

    Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
    bias=True, padding_mode='zeros', device=None, dtype=None).

    Input [N, C_in, H, W] (or unbatched [C_in, H, W]) -> [N, C_out, H_out, W_out] with
    H_out = floor((H + 2 pad - dilation (k - 1) - 1) / stride + 1).  padding may be an int, a
    pair, 'valid' (0) or 'same' (stride 1 only).  weight [C_out, C_in / groups, kH, kW] and bias
    [C_out] are initialised like PyTorch: kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)),
    fan_in = C_in / groups * kH * kW, bias from the same range.  Only padding_mode='zeros'.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        if padding_mode != "zeros":
            raise NotImplementedError(f"Conv2d: padding_mode='{padding_mode}' is not supported "
                                      "(only 'zeros')")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size, "Conv2d", "kernel_size")
        self.stride = pair(stride, "Conv2d", "stride")
        self.dilation = pair(dilation, "Conv2d", "dilation")
        # PyTorch only fails at the first forward (or with a tensor-creation error); fail here
        if min(self.kernel_size) < 1:
            raise ValueError("Conv2d: kernel size should be greater than zero, but got "
                             f"kernel_size={self.kernel_size}")
        if min(self.stride) < 1:
            raise ValueError(f"Conv2d: non-positive stride is not supported, got "
                             f"stride={self.stride}")
        if min(self.dilation) < 1:
            raise ValueError("Conv2d: dilation should be greater than zero, but got "
                             f"dilation={self.dilation}")
        if not isinstance(padding, str) and min(pair(padding, "Conv2d", "padding")) < 0:
            raise ValueError(f"Conv2d: negative padding is not supported, got "
                             f"padding={pair(padding, 'Conv2d', 'padding')}")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string '{padding}', should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = pair(padding, "Conv2d", "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size,
                                      device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-initialise as PyTorch does: weight and bias U(+-1/sqrt(fan_in)),
        fan_in = in_channels / groups * kH * kW."""
        bound = init._layer_default_(self.weight)
        if self.bias is not None and bound:  # fan_in 0: PyTorch leaves the bias as allocated
            init.uniform_(self.bias, -bound, bound)

    def _explicit_padding(self) -> tuple:
        """(top, bottom, left, right) zero padding."""
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            out = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                out += [total // 2, total - total // 2]
            return tuple(out)
        ph, pw = self.padding
        return (ph, ph, pw, pw)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4) or input.shape[-3] != self.in_channels:
            c = self.in_channels
            raise self._shape_error(f"input with {c} channels ([N, {c}, H, W] or [{c}, H, W])",
                                    input)
        x = input.unsqueeze(0) if input.ndim == 3 else input
        top, bottom, left, right = self._explicit_padding()
        if top == bottom and left == right:
            padding = (top, left)
        else:  # asymmetric 'same' padding (even kernels): pad first, as PyTorch does
            x = F.pad(x, (left, right, top, bottom))
            padding = (0, 0)
        out = F.conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation,
                       self.groups)
        return out.squeeze(0) if input.ndim == 3 else out

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
