"""minidl.nn.functional: the functional form of layers, with PyTorch's names, signatures,
defaults and NCHW layout.  Thin: argument handling lives in minidl.ops (pool, norm, loss,
dropout, elementwise), the math in the backends."""
from __future__ import annotations

from ..ops import dropout as _dropout
from ..ops.conv import conv2d  # noqa: F401  (2-D convolution, minidl/ops/conv.py)
from ..ops.matmul import linear as _linear
from ..ops import elementwise as _ew
from ..ops import loss as _loss
from ..ops import reduce as _red
from ..ops import norm as _norm
from ..ops import pool as _pool
from ..ops._base import require_float as _require_float


# ---- activations -------------------------------------------------------------------------------
def relu(input, inplace=False):
    """max(x, 0), elementwise."""
    if inplace:
        return input._inplace("relu_", lambda s: _ew.unary("relu", s))
    return _ew.unary("relu", input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    args = (float(negative_slope),)
    if inplace:
        return input._inplace("leaky_relu_", lambda s: _ew.unary("leaky_relu", s, args))
    return _ew.unary("leaky_relu", input, args)


def sigmoid(input):
    """1 / (1 + exp(-x)), elementwise."""
    return _ew.unary("sigmoid", input)


def tanh(input):
    """Hyperbolic tangent, elementwise."""
    return _ew.unary("tanh", input)


def gelu(input, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF (the exact erf form; no tanh approximation)."""
    if approximate != "none":
        raise NotImplementedError("gelu: only approximate='none' (the exact erf form) is supported")
    return _ew.unary("gelu", input)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    _require_float("elu", input)
    if inplace:
        return input._inplace("elu_", lambda s: _ew.unary("elu", s, (float(alpha),)))
    return _ew.unary("elu", input, (float(alpha),))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta; linear (x) where beta x > threshold."""
    _require_float("softplus", input)
    return _ew.unary("softplus", input, (float(beta), float(threshold)))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val); gradient zero outside (and at) the bounds, like PyTorch."""
    if min_val > max_val:
        raise ValueError("hardtanh: min_val cannot be greater than max_val")
    if inplace:
        return input._inplace("hardtanh_", lambda s: _ew.unary("hardtanh", s, (min_val, max_val)))
    return _ew.unary("hardtanh", input, (min_val, max_val))


def scaled_tanh(input):
    """LeNet-5's activation 1.7159 * tanh(2x / 3) (LeCun et al. 1998, appendix A): f(1) ~ 1,
    f(-1) ~ -1, maximal second derivative at +-1.  Not in PyTorch."""
    _require_float("scaled_tanh", input)
    return _ew.unary("scaled_tanh", input)


def logsigmoid(input):
    """log(sigmoid(x)), stable for any x."""
    _require_float("logsigmoid", input)
    return _ew.unary("log_sigmoid", input)


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along dim: exp of the fused, stable log_softmax."""
    return _red.softmax(input, dim, dtype)


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along dim: the fused backend primitive (another dim is moved last)."""
    return _red.log_softmax(input, dim, dtype)


# ---- linear ------------------------------------------------------------------------------------
def linear(input, weight, bias=None):
    """y = x W^T + b: input [*, in], weight [out, in], bias [out] -> [*, out] (one fused op)."""
    return _linear(input, weight, bias)


# ---- pooling -----------------------------------------------------------------------------------
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over kernel_size windows of [N, C, H, W] (or [C, H, W]); overlapping when
    stride < kernel (AlexNet: kernel 3, stride 2).  stride defaults to kernel_size."""
    return _pool.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode,
                            return_indices)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over kernel_size windows of [N, C, H, W] (or [C, H, W])."""
    return _pool.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                            divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling of [N, C, H, W] (or [C, H, W]) to output_size (int or pair; None keeps)."""
    return _pool.adaptive_avg_pool2d(input, output_size)


# ---- normalisation -----------------------------------------------------------------------------
def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """PyTorch's LRN across channels of [N, C, *]:
        b_c = a_c / (k + alpha / size * sum_{c' = c - size//2}^{c + (size-1)//2} a_c'^2)^beta.

    PyTorch divides alpha by `size`; the AlexNet paper (Krizhevsky et al. 2012, section 3.3)
    does not: b = a / (k + alpha * sum a^2)^beta with k=2, n=5, alpha=1e-4, beta=0.75.  The
    paper's layer is therefore `local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2.0)`
    (alpha = 1e-4 * n)."""
    return _norm.local_response_norm(input, size, alpha, beta, k)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Per-channel normalisation of [N, C], [N, C, L] or [N, C, H, W]; updates running stats in
    place in training (unbiased variance for the running estimate)."""
    return _norm.batch_norm(input, running_mean, running_var, weight, bias, training, momentum,
                            eps)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the trailing normalized_shape dims."""
    return _norm.layer_norm(input, normalized_shape, weight, bias, eps)


# ---- dropout -----------------------------------------------------------------------------------
def dropout(input, p=0.5, training=True, inplace=False):
    """Inverted dropout: zero with probability p, scale the rest by 1 / (1 - p); the mask comes
    from minidl's counter-based generator (same mask on CPU and CUDA for the same seed)."""
    return _dropout.dropout(input, p, training, inplace)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels of [N, C, H, W] (or [N, C, L]) with probability p."""
    return _dropout.dropout2d(input, p, training, inplace)


# ---- losses ------------------------------------------------------------------------------------
def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """log_softmax over dim 1 + nll for int64 class targets [N] / [N, d..], or soft-target cross
    entropy for float probability targets of the input's shape."""
    return _loss.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """-input[i, target[i]] * weight[target[i]], averaged over the weights of non-ignored rows."""
    return _loss.nll_loss(input, target, weight, ignore_index, reduction)


def mse_loss(input, target, reduction="mean"):
    """Mean (or sum, or elementwise with reduction="none") of (input - target)^2; shapes
    broadcast."""
    return _loss.mse_loss(input, target, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross entropy in one stable expression."""
    return _loss.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)


# ---- padding -----------------------------------------------------------------------------------
def pad(input, pad, mode="constant", value=0.0):
    """Pad the last dims with `value`: pad = (left, right) for the last dim, then (top, bottom),
    ...; mode "constant" only."""
    from ..ops.movement import pad as _pad
    return _pad(input, pad, mode, value)
