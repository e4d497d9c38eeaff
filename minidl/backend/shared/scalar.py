"""Elementwise math written once, as scalar functions compiled by numba for every backend.

Each entry of `FUNCTIONS` is a factory `make(T)` returning a scalar function for one numpy scalar
type T (np.float32, np.float64, np.int64, np.bool_).  Constants are made with T(...) inside the
factory, so float32 math stays float32 on a GPU (a bare 0.5 literal would promote to float64).
The CPU backend compiles the function with `numba.vectorize` (or uses the named numpy ufunc,
which computes the same function faster); the CUDA backend compiles it with
`cuda.jit(device=True)` and calls it from one generic grid-stride map kernel.

`nin` counts array operands, `nparams` trailing scalar parameters (cast to T), `out` is "same"
(result dtype = input dtype) or "bool".  For "where" the first operand is bool.  A unary function
with `grad` is a differentiable op of minidl.ops.elementwise (its table is built from here):
`grad` names the function of (g, saved) giving its backward, `saves` what it reads besides g.
`floating_only` functions reject integer and bool tensors.
"""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class ScalarFn:
    name: str
    make: Callable
    nin: int
    nparams: int = 0
    out: str = "same"
    numpy: str | None = None  # a numpy ufunc computing exactly this function (CPU fast path)
    floating_only: bool = False
    grad: str | None = None   # a differentiable unary op: the function computing its backward,
    saves: str | None = None  # called as grad(g, saved); saved is "input", "output" or None


FUNCTIONS: dict[str, ScalarFn] = {}


def _register(nin, nparams=0, out="same", numpy=None, floating_only=False, grad=None,
              saves=None):
    def deco(make):
        name = make.__name__.lstrip("_")
        FUNCTIONS[name] = ScalarFn(name, make, nin, nparams, out, numpy, floating_only, grad,
                                   saves)
        return make
    return deco


# ---- arithmetic ----------------------------------------------------------------------------
@_register(2, numpy="add")
def _add(T):
    def f(x, y):
        return x + y
    return f


@_register(2, numpy="subtract")
def _sub(T):
    def f(x, y):
        return x - y
    return f


@_register(2, numpy="multiply")
def _mul(T):
    def f(x, y):
        return x * y
    return f


@_register(2, numpy="divide", floating_only=True)
def _div(T):
    def f(x, y):
        return x / y
    return f


@_register(2, numpy="power", floating_only=True)
def _pow(T):
    def f(x, y):
        return x ** y
    return f


@_register(2, numpy="maximum")
def _maximum(T):
    def f(x, y):
        # NaN propagates like torch.maximum
        if x != x:
            return x
        return x if x >= y else y
    return f


@_register(2, numpy="minimum")
def _minimum(T):
    def f(x, y):
        if x != x:
            return x
        return x if x <= y else y
    return f


@_register(1, numpy="negative", grad="neg")
def _neg(T):
    def f(x):
        return -x
    return f


@_register(1, numpy="absolute", grad="abs_grad", saves="input")
def _abs(T):
    zero = T(0)

    def f(x):
        return x if x >= zero else -x
    return f


@_register(1, numpy="sign")
def _sign(T):
    zero, one = T(0), T(1)

    def f(x):
        if x > zero:
            return one
        if x < zero:
            return -one
        return x  # keeps 0 and NaN
    return f


@_register(1, numpy="exp", floating_only=True, grad="mul", saves="output")
def _exp(T):
    def f(x):
        return math.exp(x)
    return f


@_register(1, numpy="log", floating_only=True, grad="div", saves="input")
def _log(T):
    def f(x):
        if x < T(0):
            return T(np.nan)
        if x == T(0):
            return T(-np.inf)
        return math.log(x)
    return f


@_register(1, numpy="sqrt", floating_only=True, grad="sqrt_grad", saves="output")
def _sqrt(T):
    def f(x):
        if x < T(0):
            return T(np.nan)
        return math.sqrt(x)
    return f


@_register(1, numpy="tanh", floating_only=True, grad="tanh_grad", saves="output")
def _tanh(T):
    def f(x):
        return math.tanh(x)
    return f


@_register(1, nparams=1, floating_only=True, grad="pow_scalar_grad", saves="input")
def _pow_scalar(T):
    """x ** p for a scalar exponent p."""
    def f(x, p):
        return x ** p
    return f


@_register(2, nparams=1, floating_only=True)
def _pow_scalar_grad(T):
    """g * p * x ** (p - 1); 0 for p == 0 at any x, 0 and NaN included (PyTorch)."""
    zero, one = T(0), T(1)

    def f(g, x, p):
        if p == zero:
            return zero
        return g * p * x ** (p - one)
    return f


@_register(1, nparams=2, grad="clamp_grad", saves="input")
def _clamp(T):
    """min(max(x, lo), hi) in that order, so lo > hi gives hi (PyTorch); NaN passes through."""
    def f(x, lo, hi):
        y = lo if x < lo else x
        return hi if y > hi else y
    return f


@_register(2, nparams=2)
def _clamp_grad(T):
    """g where lo <= x <= hi else 0 (torch's convention at the bounds)."""
    zero = T(0)

    def f(g, x, lo, hi):
        return g if (x >= lo and x <= hi) else zero
    return f


# ---- comparisons and selection -------------------------------------------------------------
@_register(2, out="bool", numpy="equal")
def _eq(T):
    def f(x, y):
        return x == y
    return f


@_register(2, out="bool", numpy="not_equal")
def _ne(T):
    def f(x, y):
        return x != y
    return f


@_register(2, out="bool", numpy="less")
def _lt(T):
    def f(x, y):
        return x < y
    return f


@_register(2, out="bool", numpy="less_equal")
def _le(T):
    def f(x, y):
        return x <= y
    return f


@_register(2, out="bool", numpy="greater")
def _gt(T):
    def f(x, y):
        return x > y
    return f


@_register(2, out="bool", numpy="greater_equal")
def _ge(T):
    def f(x, y):
        return x >= y
    return f


@_register(2, numpy="logical_and")
def _logical_and(T):
    def f(x, y):
        return x and y
    return f


@_register(2, numpy="logical_or")
def _logical_or(T):
    def f(x, y):
        return x or y
    return f


@_register(1, numpy="logical_not")
def _logical_not(T):
    def f(x):
        return not x
    return f


@_register(3)
def _where(T):
    """c ? x : y with c bool."""
    def f(c, x, y):
        return x if c else y
    return f


# ---- activations and their derivatives ------------------------------------------------------
@_register(1, grad="relu_grad", saves="input")
def _relu(T):
    """max(x, 0) with NaN kept (PyTorch: relu(NaN) is NaN, and -0.0 stays -0.0)."""
    zero = T(0)

    def f(x):
        return zero if x < zero else x
    return f


@_register(2)
def _relu_grad(T):
    """g where not x <= 0 (NaN included: PyTorch's threshold_backward)."""
    zero = T(0)

    def f(g, x):
        return zero if x <= zero else g
    return f


@_register(1, nparams=1, floating_only=True, grad="leaky_relu_grad", saves="input")
def _leaky_relu(T):
    zero = T(0)

    def f(x, slope):
        return x if x > zero else x * slope
    return f


@_register(2, nparams=1, floating_only=True)
def _leaky_relu_grad(T):
    zero = T(0)

    def f(g, x, slope):
        return g if x > zero else g * slope
    return f


@_register(1, floating_only=True, grad="sigmoid_grad", saves="output")
def _sigmoid(T):
    one, zero = T(1), T(0)

    def f(x):
        # two branches keep exp's argument <= 0, so it never overflows
        if x >= zero:
            return one / (one + math.exp(-x))
        e = math.exp(x)
        return e / (one + e)
    return f


@_register(2, floating_only=True)
def _sigmoid_grad(T):
    """g * y * (1 - y) with y = sigmoid(x)."""
    one = T(1)

    def f(g, y):
        return g * y * (one - y)
    return f


@_register(2, floating_only=True)
def _tanh_grad(T):
    """g * (1 - y^2) with y = tanh(x)."""
    one = T(1)

    def f(g, y):
        return g * (one - y * y)
    return f


@_register(1, floating_only=True, grad="gelu_grad", saves="input")
def _gelu(T):
    """Exact GELU: x * Phi(x)."""
    half, one, rsqrt2 = T(0.5), T(1), T(1 / math.sqrt(2.0))

    def f(x):
        return half * x * (one + math.erf(x * rsqrt2))
    return f


@_register(2, floating_only=True)
def _gelu_grad(T):
    half, one, rsqrt2, rsqrt2pi = T(0.5), T(1), T(1 / math.sqrt(2.0)), T(1 / math.sqrt(2 * math.pi))

    def f(g, x):
        cdf = half * (one + math.erf(x * rsqrt2))
        pdf = math.exp(-half * x * x) * rsqrt2pi
        return g * (cdf + x * pdf)
    return f


@_register(2, floating_only=True)
def _sqrt_grad(T):
    """g / (2 y) with y = sqrt(x)."""
    half = T(0.5)

    def f(g, y):
        return g * half / y
    return f


@_register(2)
def _abs_grad(T):
    """g * sign(x) (0 at x == 0, like torch)."""
    zero = T(0)

    def f(g, x):
        if x > zero:
            return g
        if x < zero:
            return -g
        return zero
    return f


# ---- nn activations (minidl.nn.functional: elu, softplus, hardtanh, scaled_tanh, logsigmoid) ---
@_register(1, nparams=1, floating_only=True, grad="elu_grad", saves="input")
def _elu(T):
    """alpha * expm1(x) if x <= 0 else x (NaN passes the second branch, like PyTorch)."""
    zero = T(0)

    def f(x, alpha):
        return alpha * math.expm1(x) if x <= zero else x
    return f


@_register(2, nparams=1, floating_only=True)
def _elu_grad(T):
    """g * alpha * exp(x) if x <= 0 else g (g at NaN, like PyTorch)."""
    zero = T(0)

    def f(g, x, alpha):
        return g * alpha * math.exp(x) if x <= zero else g
    return f


@_register(1, nparams=2, floating_only=True, grad="softplus_grad", saves="input")
def _softplus(T):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch)."""
    zero = T(0)

    def f(x, beta, threshold):
        z = beta * x
        if z > threshold:
            return x
        # log1p(exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))
        m = z if z > zero else zero
        a = -z if z > zero else z
        return (m + math.log1p(math.exp(a))) / beta
    return f


@_register(2, nparams=2, floating_only=True)
def _softplus_grad(T):
    """g * sigmoid(beta x), or g where beta x > threshold."""
    zero, one = T(0), T(1)

    def f(g, x, beta, threshold):
        z = beta * x
        if z > threshold:
            return g
        if z >= zero:
            return g / (one + math.exp(-z))
        e = math.exp(z)
        return g * e / (one + e)
    return f


# hardtanh's forward is clamp's; only the gradient differs (at the bounds)
FUNCTIONS["hardtanh"] = dataclasses.replace(FUNCTIONS["clamp"], name="hardtanh",
                                             grad="hardtanh_grad")


@_register(2, nparams=2)
def _hardtanh_grad(T):
    """g where lo < x < hi else 0 (PyTorch: zero at the bounds, unlike clamp).  At NaN this is
    0, PyTorch's vectorised CPU kernel (its scalar tail and CUDA kernel give g)."""
    zero = T(0)

    def f(g, x, lo, hi):
        return g if (x > lo and x < hi) else zero
    return f


@_register(1, floating_only=True, grad="scaled_tanh_grad", saves="output")
def _scaled_tanh(T):
    """LeNet-5's squashing function A tanh(S x) with A = 1.7159, S = 2/3 (LeCun et al. 1998)."""
    a, s = T(1.7159), T(2.0 / 3.0)

    def f(x):
        return a * math.tanh(s * x)
    return f


@_register(2, floating_only=True)
def _scaled_tanh_grad(T):
    """g * S * (A - y^2 / A) with y = A tanh(S x)."""
    a, s, inv_a = T(1.7159), T(2.0 / 3.0), T(1.0 / 1.7159)

    def f(g, y):
        return g * s * (a - y * y * inv_a)
    return f


@_register(1, floating_only=True, grad="log_sigmoid_grad", saves="input")
def _log_sigmoid(T):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), stable for any x."""
    zero = T(0)

    def f(x):
        if x >= zero:
            return -math.log1p(math.exp(-x))
        return x - math.log1p(math.exp(x))
    return f


@_register(2, floating_only=True)
def _log_sigmoid_grad(T):
    """g * sigmoid(-x)."""
    zero, one = T(0), T(1)

    def f(g, x):
        if x >= zero:
            e = math.exp(-x)
            return g * e / (one + e)
        return g / (one + math.exp(x))
    return f


@_register(1, floating_only=True, grad="silu_grad", saves="input")
def _silu(T):
    """x * sigmoid(x) (SiLU, swish)."""
    one, zero = T(1), T(0)

    def f(x):
        if x >= zero:  # exp's argument stays <= 0, as in sigmoid
            return x / (one + math.exp(-x))
        e = math.exp(x)
        return x * e / (one + e)
    return f


@_register(2, floating_only=True)
def _silu_grad(T):
    """g * s * (1 + x (1 - s)) with s = sigmoid(x)."""
    one, zero = T(1), T(0)

    def f(g, x):
        if x >= zero:
            s = one / (one + math.exp(-x))
        else:
            e = math.exp(x)
            s = e / (one + e)
        return g * s * (one + x * (one - s))
    return f
