"""Losses, the fused log-softmax and the nn activations on the CPU, beyond the op table's rows
(minidl/testing/opinfo_nn.py: values, gradcheck, CUDA parity and error messages of every loss,
its weights, reductions, ignored, spatial, unbatched and probability targets, and of linear):
huge logits, LeNet's scaled tanh, in-place activations."""
from __future__ import annotations

import numpy as np

import minidl.nn.functional as F
from minidl import from_numpy


def t(a):
    return from_numpy(np.ascontiguousarray(a))


def test_log_softmax_is_stable_for_huge_logits():
    x = np.array([[1e30, 0.0, -1e30], [1000.0, 1000.0, 1000.0]])
    y = F.log_softmax(t(x), -1).numpy()
    assert np.isfinite(y[0, 0]) and y[0, 0] == 0.0
    np.testing.assert_allclose(y[1], -np.log(3.0))


def test_bce_with_logits_is_stable_for_huge_logits():
    big = F.binary_cross_entropy_with_logits(t(np.array([1000.0, -1000.0])),
                                             t(np.array([0.0, 1.0])), reduction="none")
    np.testing.assert_allclose(big.numpy(), [1000.0, 1000.0])


def test_scaled_tanh_lenet_properties():
    y = F.scaled_tanh(t(np.array([1.0, -1.0, 0.0]))).numpy()
    np.testing.assert_allclose(y, [1.0, -1.0, 0.0], atol=2e-4)  # f(+-1) = +-1 (LeCun 1998)


def test_inplace_activations():
    x = t(np.array([-2.0, 0.5, 3.0]))
    F.hardtanh(x, inplace=True)
    np.testing.assert_array_equal(x.numpy(), [-1.0, 0.5, 1.0])
    F.elu(x, inplace=True)
    np.testing.assert_allclose(x.numpy(), [np.expm1(-1.0), 0.5, 1.0])
