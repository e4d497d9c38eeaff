"""Activations: each functional form (`F.relu`, ...) beside its module (`nn.ReLU`, ...).

An elementwise activation is a scalar function in backend.shared.scalar (the math, its
derivative, the float-only rule), a function here calling `_unary`, and an `_Elementwise`
module naming that function: its constructor takes the function's keyword arguments, stores
them as attributes and shows them in the repr like PyTorch.  minidl.nn exports every module of
this file and minidl.nn.functional every function (`__all__` and `FUNCTIONAL` are derived
below), so adding one touches no other file of minidl.nn.
"""
from __future__ import annotations

import inspect
import warnings

from ..ops import elementwise as _ew
from ..ops import reduce as _red
from ..tensor import Tensor
from .module import Module


def _unary(name: str, input, params=(), inplace=False):
    if inplace:
        return input._inplace(name + "_", lambda s: _ew.unary(name, s, params))
    return _ew.unary(name, input, params)


class _Elementwise(Module):
    """A module applying `function` elementwise; the constructor takes `function`'s arguments
    after `input` (positionally or by name, with its defaults)."""

    function = None  # staticmethod(the functional form)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        params = list(inspect.signature(cls.function).parameters.values())[1:]
        cls.__signature__ = inspect.Signature(params)  # help() and docs show the real arguments
        cls._arg_names = tuple(p.name for p in params)

    def __init__(self, *args, **kwargs):
        super().__init__()
        bound = self.__signature__.bind(*args, **kwargs)
        bound.apply_defaults()
        for name in self._arg_names:
            setattr(self, name, bound.arguments[name])

    def forward(self, input: Tensor) -> Tensor:
        return self.function(input, *[getattr(self, n) for n in self._arg_names])

    def extra_repr(self) -> str:
        return ", ".join(f"{n}={getattr(self, n)!r}" for n in self._arg_names
                         if n != "inplace" or self.inplace)


def relu(input, inplace=False):
    """max(x, 0), elementwise."""
    return _unary("relu", input, (), inplace)


class ReLU(_Elementwise):
    """max(0, x), elementwise.  ReLU(inplace=False)."""
    function = staticmethod(relu)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x if x > 0 else negative_slope * x."""
    return _unary("leaky_relu", input, (float(negative_slope),), inplace)


class LeakyReLU(_Elementwise):
    """x if x >= 0 else negative_slope * x.  LeakyReLU(negative_slope=0.01, inplace=False)."""
    function = staticmethod(leaky_relu)


def sigmoid(input):
    """1 / (1 + exp(-x)), elementwise."""
    return _unary("sigmoid", input)


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), elementwise."""
    function = staticmethod(sigmoid)


def tanh(input):
    """Hyperbolic tangent, elementwise."""
    return _unary("tanh", input)


class Tanh(_Elementwise):
    """tanh(x), elementwise."""
    function = staticmethod(tanh)


def gelu(input, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF (the exact erf form; no tanh approximation)."""
    if approximate != "none":
        raise NotImplementedError("gelu: only approximate='none' (the exact erf form) is supported")
    return _unary("gelu", input)


class GELU(_Elementwise):
    """x * Phi(x) (Phi the standard normal CDF).  GELU(approximate='none')."""
    function = staticmethod(gelu)


def elu(input, alpha=1.0, inplace=False):
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _unary("elu", input, (float(alpha),), inplace)


class ELU(_Elementwise):
    """x if x > 0 else alpha * (exp(x) - 1).  ELU(alpha=1.0, inplace=False)."""
    function = staticmethod(elu)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """clamp(x, min_val, max_val); gradient zero outside (and at) the bounds, like PyTorch."""
    if min_val > max_val:
        raise ValueError("hardtanh: min_val cannot be greater than max_val")
    return _unary("hardtanh", input, (min_val, max_val), inplace)


class Hardtanh(_Elementwise):
    """clamp(x, min_val, max_val).  Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)."""
    function = staticmethod(hardtanh)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.max_val <= self.min_val:
            raise ValueError("max_val must be greater than min_val")


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta; linear (x) where beta x > threshold."""
    return _unary("softplus", input, (float(beta), float(threshold)))


class Softplus(_Elementwise):
    """log(1 + exp(beta x)) / beta (linear above threshold).  Softplus(beta=1.0,
    threshold=20.0)."""
    function = staticmethod(softplus)


def logsigmoid(input):
    """log(sigmoid(x)), stable for any x."""
    return _unary("log_sigmoid", input)


class LogSigmoid(_Elementwise):
    """log(sigmoid(x)), elementwise."""
    function = staticmethod(logsigmoid)


def silu(input, inplace=False):
    """x * sigmoid(x), elementwise (also called swish)."""
    return _unary("silu", input, (), inplace)


class SiLU(_Elementwise):
    """x * sigmoid(x), elementwise.  SiLU(inplace=False)."""
    function = staticmethod(silu)


def scaled_tanh(input):
    """LeNet-5's activation 1.7159 * tanh(2x / 3) (LeCun et al. 1998, appendix A): f(1) ~ 1,
    f(-1) ~ -1, maximal second derivative at +-1.  Not in PyTorch (its module is
    minidl.models.ScaledTanh)."""
    return _unary("scaled_tanh", input)


# ---- along a dim ------------------------------------------------------------------------------
def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along dim: exp of the fused, stable log_softmax."""
    return _red.softmax(input, dim, dtype)


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along dim: the fused backend primitive (another dim is moved last)."""
    return _red.log_softmax(input, dim, dtype)


def _implicit_dim(name: str, ndim: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along `dim`.  Softmax(dim=None): None picks PyTorch's legacy
    default (dim 0 for 0-, 1- and 3-D input, else 1) with a warning."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _implicit_dim("softmax", input.ndim)
        return softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """log(softmax(x)) along `dim`, computed stably.  LogSoftmax(dim=None)."""

    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        dim = self.dim if self.dim is not None else _implicit_dim("log_softmax", input.ndim)
        return log_softmax(input, dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


def _public(kind) -> list:
    return [n for n, v in list(globals().items())
            if not n.startswith("_") and getattr(v, "__module__", None) == __name__ and kind(v)]


__all__ = _public(lambda v: isinstance(v, type) and issubclass(v, Module))  # -> minidl.nn
FUNCTIONAL = _public(inspect.isfunction)  # -> minidl.nn.functional
