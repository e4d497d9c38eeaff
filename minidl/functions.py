"""The op functions under their PyTorch names (minidl.cat, minidl.flatten, ...)."""
from __future__ import annotations

from .ops import elementwise as _ew
from .ops import matmul as _mm
from .ops import movement as _mv
from .ops import reduce as _red
from .ops.elementwise import clamp, pow, where  # noqa: F401
from .ops.matmul import matmul  # noqa: F401
from .ops.movement import (cat, expand, flatten, gather, permute, reshape, squeeze,  # noqa: F401
                           stack, transpose, unsqueeze)
from .ops.reduce import (amax, amin, argmax, argmin, log_softmax, max, mean, min,  # noqa: F401
                         softmax, std, sum, var)

clip = clamp
_ = (_ew, _mm, _mv, _red)


def abs(x):
    """|x|, elementwise."""
    return _ew.unary("abs", x)


def exp(x):
    """e ** x, elementwise."""
    return _ew.unary("exp", x)


def log(x):
    """Natural logarithm, elementwise."""
    return _ew.unary("log", x)


def sqrt(x):
    """Square root, elementwise."""
    return _ew.unary("sqrt", x)


def relu(x):
    """max(x, 0), elementwise."""
    return _ew.unary("relu", x)


def sigmoid(x):
    """1 / (1 + exp(-x)), elementwise."""
    return _ew.unary("sigmoid", x)


def tanh(x):
    """Hyperbolic tangent, elementwise."""
    return _ew.unary("tanh", x)


def maximum(a, b):
    """Elementwise maximum of a and b, broadcasting."""
    return _ew.binary("maximum", a, b)


def minimum(a, b):
    """Elementwise minimum of a and b, broadcasting."""
    return _ew.binary("minimum", a, b)
