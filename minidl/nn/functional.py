"""minidl.nn.functional: the functional form of layers, with PyTorch's names, signatures,
defaults and NCHW layout.  Thin: argument handling lives in minidl.ops (pool, norm, loss,
dropout, elementwise), the math in the backends."""
from __future__ import annotations

from ..ops import dropout as _dropout
from ..ops.conv import conv2d  # noqa: F401  (2-D convolution, minidl/ops/conv.py)
from ..ops.matmul import linear as _linear
from ..ops import loss as _loss
from ..ops import norm as _norm
from ..ops import pool as _pool
from . import activation as _activation


# ---- activations: defined beside their modules in minidl/nn/activation.py --------------------
globals().update({name: getattr(_activation, name) for name in _activation.FUNCTIONAL})


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
