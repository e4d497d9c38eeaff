"""Losses, the fused log-softmax, linear and the nn activations on the CPU, beyond the op table's
rows (minidl/testing/opinfo_nn.py, whose references these tests reuse): spatial, unbatched and
probability targets, nll/mse/bce corners, huge logits, in-place activations, error messages."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.errors import ShapeError
from minidl.testing.gradcheck import gradcheck
from minidl.testing.opinfo_nn import ref_cross_entropy
from minidl.testing.opinfo_refs import ref_log_softmax as ref_log_softmax_dim


def t(a, requires_grad=False):
    return minidl.from_numpy(np.ascontiguousarray(a)).requires_grad_(requires_grad)


def ref_log_softmax(x):
    return ref_log_softmax_dim(x, -1)  # over the last dim


# ---- log-softmax / softmax ---------------------------------------------------------------------
def test_log_softmax_is_stable_for_huge_logits():
    x = np.array([[1e30, 0.0, -1e30], [1000.0, 1000.0, 1000.0]])
    y = F.log_softmax(t(x), -1).numpy()
    assert np.isfinite(y[0, 0]) and y[0, 0] == 0.0
    np.testing.assert_allclose(y[1], -np.log(3.0))


# ---- cross entropy / nll -----------------------------------------------------------------------
def test_cross_entropy_spatial_targets_and_unbatched():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3, 2))
    target = rng.integers(0, 4, (2, 3, 2))
    got = F.cross_entropy(t(x), t(target), reduction="none")
    flat = ref_cross_entropy(np.moveaxis(x, 1, -1).reshape(-1, 4), target.reshape(-1),
                             reduction="none")  # the op table's [N, C] reference
    np.testing.assert_allclose(got.numpy(), flat.reshape(2, 3, 2), rtol=1e-12)
    xt = t(x, True)
    assert gradcheck(lambda a: F.cross_entropy(a, t(target), label_smoothing=0.1), (xt,))
    x1 = rng.standard_normal(5)
    got1 = F.cross_entropy(t(x1), minidl.tensor(3))
    np.testing.assert_allclose(got1.item(), -ref_log_softmax(x1)[3], rtol=1e-12)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_probability_targets(eps):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 6))
    p = rng.uniform(size=(4, 6))
    p /= p.sum(1, keepdims=True)
    w = rng.uniform(0.5, 1.5, 6)
    q = p * (1 - eps) + eps / 6
    ref = -(ref_log_softmax(x) * q * w).sum(1).mean()
    got = F.cross_entropy(t(x), t(p), t(w), label_smoothing=eps)
    np.testing.assert_allclose(got.item(), ref, rtol=1e-12)
    assert gradcheck(lambda a, b: F.cross_entropy(a, b, label_smoothing=eps),
                     (t(x, True), t(p, True)))


def test_nll_loss():
    rng = np.random.default_rng(4)
    lp = ref_log_softmax(rng.standard_normal((5, 4)))
    target = np.array([3, 0, -100, 1, 3])
    w = rng.uniform(0.5, 2.0, 4)
    ref = sum(-w[c] * lp[i, c] for i, c in enumerate(target) if c != -100) / \
        sum(w[c] for c in target if c != -100)
    got = F.nll_loss(t(lp), t(target), t(w))
    np.testing.assert_allclose(got.item(), ref, rtol=1e-12)
    assert gradcheck(lambda a: F.nll_loss(a, t(target), t(w), reduction="sum"), (t(lp, True),))


def test_loss_errors():
    # cross_entropy's messages are the op table's error inputs (test_ops.py::test_error_inputs)
    x = t(np.zeros((3, 10)))
    with pytest.raises(IndexError, match="Target -3 is out of bounds"):
        F.nll_loss(x, minidl.tensor([1, -3, 2]))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ShapeError, match=r"Target size \(\[3\]\) must be the same as input size"):
        F.binary_cross_entropy_with_logits(t(np.zeros(4)), t(np.zeros(3)))


def test_mse_loss():
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(F.mse_loss(t(a), t(b)).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(t(a), t(b), "sum").item(), ((a - b) ** 2).sum())
    assert gradcheck(lambda x, y: F.mse_loss(x, y), (t(a, True), t(b, True)))


@pytest.mark.parametrize("with_weights", [False, True])
def test_bce_with_logits_stable(with_weights):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3)) * 5
    y = rng.uniform(size=(4, 3))
    w = rng.uniform(0.5, 2, (4, 3)) if with_weights else None
    pw = rng.uniform(0.5, 3, 3) if with_weights else None
    s = 1 / (1 + np.exp(-x))
    ref = -((pw if pw is not None else 1) * y * np.log(s) + (1 - y) * np.log(1 - s))
    ref = (ref * (w if w is not None else 1)).mean()
    got = F.binary_cross_entropy_with_logits(t(x), t(y), None if w is None else t(w),
                                             pos_weight=None if pw is None else t(pw))
    np.testing.assert_allclose(got.item(), ref, rtol=1e-10)
    assert gradcheck(lambda a: F.binary_cross_entropy_with_logits(
        a, t(y), None if w is None else t(w), pos_weight=None if pw is None else t(pw)),
        (t(x, True),))
    big = F.binary_cross_entropy_with_logits(t(np.array([1000.0, -1000.0])),
                                             t(np.array([0.0, 1.0])), reduction="none")
    np.testing.assert_allclose(big.numpy(), [1000.0, 1000.0])


# ---- activations: forward, gradcheck and CUDA are the op table's rows (opinfo_nn.py) ---------
def test_scaled_tanh_lenet_properties():
    y = F.scaled_tanh(t(np.array([1.0, -1.0, 0.0]))).numpy()
    np.testing.assert_allclose(y, [1.0, -1.0, 0.0], atol=2e-4)  # f(+-1) = +-1 (LeCun 1998)


def test_inplace_activations():
    x = t(np.array([-2.0, 0.5, 3.0]))
    F.hardtanh(x, inplace=True)
    np.testing.assert_array_equal(x.numpy(), [-1.0, 0.5, 1.0])
    F.elu(x, inplace=True)
    np.testing.assert_allclose(x.numpy(), [np.expm1(-1.0), 0.5, 1.0])


# ---- linear ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)])
def test_linear(shape):
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((3, 4)), rng.standard_normal(3)
    np.testing.assert_allclose(F.linear(t(x), t(w), t(b)).numpy(), x @ w.T + b, rtol=1e-12)
    np.testing.assert_allclose(F.linear(t(x), t(w)).numpy(), x @ w.T, rtol=1e-12)
    assert gradcheck(F.linear, (t(x, True), t(w, True), t(b, True)))
    with pytest.raises(ShapeError, match="linear: input"):
        F.linear(t(x), t(rng.standard_normal((3, 5))))
