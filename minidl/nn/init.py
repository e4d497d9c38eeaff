"""minidl.nn.init: in-place parameter initialisation with PyTorch's names and formulas.

Every random draw uses the tensor's own `uniform_` / `normal_` (or minidl.rand/randn) on the
tensor's device, i.e. minidl's counter-based generator, so `minidl.manual_seed(s)` makes the
initial weights reproducible and identical on CPU and CUDA.  All functions work under no_grad
and return the tensor.

fan_in / fan_out of a weight [out, in, *kernel] are in * prod(kernel) and out * prod(kernel).
"""
from __future__ import annotations

import math
import numbers
import warnings

from ..autograd import no_grad
from ..functions import where
from ..tensor import Tensor
from ..creation import rand, randn

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
           "trunc_normal_"]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: 1 for linear/conv/sigmoid, 5/3 for tanh,
    sqrt(2) for relu, sqrt(2 / (1 + negative_slope^2)) for leaky_relu (slope default 0.01),
    3/4 for selu."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, numbers.Real):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         "dimensions")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid = ["fan_in", "fan_out"]
    if mode not in valid:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _no_op_if_empty(tensor: Tensor) -> bool:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with U(a, b)."""
    with no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with N(mean, std^2)."""
    with no_grad():
        return tensor.normal_(mean, std, generator=generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill `tensor` with `val`, in place, without recording a graph."""
    with no_grad():
        return tensor.fill_(val)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill `tensor` with zeros, in place, without recording a graph."""
    with no_grad():
        return tensor.zero_()


def ones_(tensor: Tensor) -> Tensor:
    """Fill `tensor` with ones, in place, without recording a graph."""
    with no_grad():
        return tensor.fill_(1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He uniform: U(-bound, bound), bound = gain * sqrt(3 / fan), gain =
    calculate_gain(nonlinearity, a).  With a = sqrt(5) (Linear/Conv2d default) bound is
    1 / sqrt(fan_in)."""
    if _no_op_if_empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def _layer_default_(weight: Tensor) -> float:
    """PyTorch's Linear/Conv weight init, kaiming_uniform_(a=sqrt(5)) = U(+-1/sqrt(fan_in)).

    Returns that bound, 1/sqrt(fan_in) (0 when fan_in is 0), which is the bias's range too."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    fan_in, _ = _calculate_fan_in_and_fan_out(weight)
    return 1 / math.sqrt(fan_in) if fan_in > 0 else 0


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He normal: N(0, std^2), std = gain / sqrt(fan)."""
    if _no_op_if_empty(tensor):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def _norm_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """N(mean, std^2) truncated to [a, b] (a and b are absolute bounds, as in PyTorch).

    Exact rejection sampling on the tensor's device: normal proposals when [a, b] holds at
    least 25% of the mass, otherwise uniform proposals on [a, b] accepted with probability
    density(x) / max density on [a, b] (an infinite bound is then cut 12 std beyond the other
    bound or the mean, which loses < 1e-30 of the mass).  Each round redraws the whole tensor
    and keeps the new draw only where nothing was accepted yet.
    """
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    lo, hi = (a - mean) / std, (b - mean) / std  # bounds in standard units
    use_normal = _norm_cdf(hi) - _norm_cdf(lo) >= 0.25
    if not use_normal:
        if math.isinf(lo):
            lo = min(hi, 0.0) - 12.0
        if math.isinf(hi):
            hi = max(lo, 0.0) + 12.0
    peak = 0.0 if lo <= 0.0 <= hi else (lo if lo > 0 else hi)  # where the density peaks
    shape, dt, dev = tensor.shape, tensor.dtype, tensor.device
    with no_grad():
        accepted = None
        for _ in range(1000):
            if use_normal:
                x = randn(*shape, dtype=dt, device=dev, generator=generator)
                ok = (x >= lo) & (x <= hi)
            else:
                x = rand(*shape, dtype=dt, device=dev, generator=generator) * (hi - lo) + lo
                u = rand(*shape, dtype=dt, device=dev, generator=generator)
                ok = u <= ((peak * peak - x * x) * 0.5).exp()
            if accepted is None:
                tensor.copy_(x)
                accepted = ok
            else:
                tensor.copy_(where(ok & ~accepted, x, tensor))
                accepted = accepted | ok
            if bool(accepted.all()):
                break
        tensor.clamp_(lo, hi)  # only matters if 1000 rounds were not enough (never in practice)
        return tensor.mul_(std).add_(mean)
