"""max_pool2d / avg_pool2d / adaptive_avg_pool2d on the CPU, beyond the op table's rows: its
references (minidl/testing/opinfo_nn.py) on ties, NaN, inf and windows with no valid tap, float64
gradcheck over hypothesis-drawn geometries, PyTorch's output size rules (ceil_mode), error
messages, and bit-identical (deterministic) gradients."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl.errors import ShapeError
from minidl.testing.gradcheck import gradcheck
from minidl.testing.opinfo_nn import (pool_out_size, ref_adaptive_avg_pool2d, ref_avg_pool2d,
                                      ref_max_pool2d)


def ref_max_pool(x, k, s, p, d, ceil):
    return ref_max_pool2d(x, k, s, p, d, ceil, return_indices=True)


def t(a, requires_grad=False):
    return minidl.from_numpy(np.ascontiguousarray(a)).requires_grad_(requires_grad)


# ---- geometry strategy -------------------------------------------------------------------------
@st.composite
def pool_geometry(draw, dilation=True):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    ceil = draw(st.booleans())
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    for n, i in ((H, 0), (W, 1)):
        o = pool_out_size(n, k[i], s[i], p[i], d[i], ceil)
        assume(o >= 1)
        # with dilation a window can miss the input entirely (output -inf): not differentiable
        assume(all(any(0 <= j * s[i] - p[i] + t * d[i] < n for t in range(k[i]))
                   for j in range(o)))
    return (N, C, H, W), k, s, p, d, ceil


# ---- output sizes ------------------------------------------------------------------------------
@pytest.mark.parametrize("H,k,s,p,ceil,want", [
    (55, 3, 2, 0, False, 27), (27, 3, 2, 0, False, 13), (13, 3, 2, 0, False, 6),  # AlexNet
    (5, 2, 2, 0, True, 3), (6, 3, 2, 1, True, 4),
    (5, 3, 2, 1, True, 3),  # the last window would start in the right padding: dropped
    (28, 2, 2, 0, False, 14), (1, 1, 1, 0, True, 1), (4, 3, 3, 1, True, 2),
])
def test_output_size_rules(H, k, s, p, ceil, want):
    x = t(np.zeros((1, 1, H, H)))
    assert tuple(F.max_pool2d(x, k, s, p, ceil_mode=ceil).shape) == (1, 1, want, want)
    assert tuple(F.avg_pool2d(x, k, s, p, ceil_mode=ceil).shape) == (1, 1, want, want)


# ---- max pooling corners the op table's samples avoid (no ties, NaN, inf there) -----------
def test_max_pool_window_without_valid_tap():
    # dilation 3 with padding 1 over a width-2 input: the only window's taps (-1, 2) miss it
    out, idx = F.max_pool2d(t(np.ones((1, 1, 2, 2))), 2, 1, 1, 3, return_indices=True)
    assert out.numpy()[0, 0, 0, 0] == -np.inf and idx.numpy()[0, 0, 0, 0] == -1


def test_max_pool_ties_nan_and_inf():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 3, :] = -np.inf
    out, idx = F.max_pool2d(t(x), 2, 2, return_indices=True)
    rout, ridx = ref_max_pool(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(out.numpy(), rout)  # nan == nan for assert_array_equal
    np.testing.assert_array_equal(idx.numpy(), ridx)
    assert idx.numpy()[0, 0, 0, 1] == 2  # all zeros: the first element of the window wins



@given(pool_geometry(), st.integers(0, 2 ** 16), st.sampled_from([np.float32, np.float64]))
def test_max_pool_ties_nan_inf_match_loops(geom, seed, dtype):
    # values from {0, 1, nan, -inf}: most windows tie; both CPU kernels (the unpadded
    # phase-split one and the general one) must keep the raster-order scan's winner
    shape, k, s, p, d, ceil = geom
    x = np.random.default_rng(seed).choice(np.array([0.0, 1.0, np.nan, -np.inf], dtype),
                                           size=shape, p=[0.4, 0.4, 0.1, 0.1])
    out, idx = F.max_pool2d(t(x), k, s, p, d, ceil, return_indices=True)
    rout, ridx = ref_max_pool(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(out.numpy(), rout)
    np.testing.assert_array_equal(idx.numpy(), ridx)

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geom", [
    ((2, 3, 11, 11), (3, 3), (2, 2), (1, 1), True, True, None),
    ((2, 3, 11, 11), (3, 3), (2, 2), (1, 1), True, False, None),
    ((1, 2, 7, 6), (2, 3), (1, 2), (1, 0), False, True, 4),
    ((1, 1, 5, 5), (2, 2), (2, 2), (0, 0), True, True, None),
])
def test_avg_pool_forward_matches_loops(dtype, geom):
    shape, k, s, p, ceil, inc, override = geom
    x = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    out = F.avg_pool2d(t(x), k, s, p, ceil, inc, override)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.numpy(), ref_avg_pool2d(x, k, s, p, ceil, inc, override),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("size,out", [((6, 6), (6, 6)), ((13, 13), (6, 6)), ((7, 5), (3, 2)),
                                      ((5, 7), 1), ((8, 9), (None, 4)), ((3, 3), (5, 4))])
def test_adaptive_avg_pool_matches_loops(size, out):
    x = np.random.default_rng(4).standard_normal((2, 3) + size)
    y = F.adaptive_avg_pool2d(t(x), out)
    np.testing.assert_allclose(y.numpy(), ref_adaptive_avg_pool2d(x, out), rtol=1e-12, atol=1e-12)


# ---- gradients (max/avg over hypothesis geometries: the rows' strategies in test_ops.py) --------
@pytest.mark.parametrize("out", [(3, 2), (4, 4), 1])
def test_adaptive_avg_pool_gradcheck(out):
    x = t(np.random.default_rng(6).standard_normal((2, 2, 7, 5)), requires_grad=True)
    assert gradcheck(lambda a: F.adaptive_avg_pool2d(a, out), (x,))


def test_max_pool_backward_sums_overlapping_windows():
    # a single large value inside 4 overlapping 3x3/s2 windows receives all their gradients
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 5.0
    xt = t(x, requires_grad=True)
    F.max_pool2d(xt, 3, 2).sum().backward()
    assert xt.grad.numpy()[0, 0, 2, 2] == 4.0 and xt.grad.numpy().sum() == 4.0


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_gradients_are_bit_identical_across_runs(pool):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 8, 27, 27)).astype(np.float32)
    g = rng.standard_normal((4, 8, 13, 13)).astype(np.float32)
    grads = []
    for _ in range(2):
        xt = t(x, requires_grad=True)
        if pool == "max":
            y = F.max_pool2d(xt, 3, 2)
        else:
            y = F.avg_pool2d(xt, 3, 2, 1, ceil_mode=True)[..., :13, :13]
        y.backward(t(g))
        grads.append(xt.grad.numpy().tobytes())
    assert grads[0] == grads[1]


# ---- errors (max/avg pooling's messages are the op-table rows' error inputs) ------------------
def test_adaptive_and_override_errors():
    with pytest.raises(ShapeError, match="output_size must be positive"):
        F.adaptive_avg_pool2d(t(np.zeros((1, 1, 4, 4))), 0)
    with pytest.raises(ShapeError, match="divisor must be not zero"):
        F.avg_pool2d(t(np.zeros((1, 1, 4, 4))), 2, divisor_override=0)
