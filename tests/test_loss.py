"""Losses, the fused log-softmax, linear and the nn activations (elu, softplus, hardtanh,
scaled_tanh, logsigmoid) on the CPU: forward against numpy references written here (row loops
for the losses), float64 gradcheck, error messages."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl.errors import DTypeError, ShapeError
from minidl.testing.gradcheck import gradcheck


def t(a, requires_grad=False):
    return minidl.from_numpy(np.ascontiguousarray(a)).requires_grad_(requires_grad)


def ref_log_softmax(x, axis=-1):
    out = np.empty_like(x)
    xm = np.moveaxis(x, axis, -1)
    om = np.moveaxis(out, axis, -1)
    for idx in np.ndindex(xm.shape[:-1]):
        row = xm[idx]
        m = row.max()
        om[idx] = row - m - np.log(np.exp(row - m).sum())
    return out


def ref_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", eps=0.0):
    """Row loop over [N, C] logits and int targets (PyTorch's definition incl. smoothing)."""
    N, C = x.shape
    w = np.ones(C) if weight is None else weight
    lp = ref_log_softmax(x)
    losses, denom = np.zeros(N), 0.0
    for i in range(N):
        if target[i] == ignore_index:
            continue
        nll = -w[target[i]] * lp[i, target[i]]
        smooth = -(w * lp[i]).sum()
        losses[i] = (1 - eps) * nll + eps / C * smooth
        denom += w[target[i]]
    if reduction == "none":
        return losses
    return losses.sum() / denom if reduction == "mean" else losses.sum()


# ---- log-softmax / softmax ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((4, 7), -1), ((3, 1), 1), ((2, 3, 5), 2), ((2, 3, 5), 1),
                                       ((6,), 0), ((2, 1000), -1)])
def test_log_softmax_and_softmax_forward(dtype, shape, dim):
    x = (np.random.default_rng(0).standard_normal(shape) * 10).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    ref = ref_log_softmax(x.astype(np.float64), dim)
    np.testing.assert_allclose(F.log_softmax(t(x), dim).numpy(), ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(F.softmax(t(x), dim).numpy(), np.exp(ref), rtol=tol, atol=tol)


def test_log_softmax_is_stable_for_huge_logits():
    x = np.array([[1e30, 0.0, -1e30], [1000.0, 1000.0, 1000.0]])
    y = F.log_softmax(t(x), -1).numpy()
    assert np.isfinite(y[0, 0]) and y[0, 0] == 0.0
    np.testing.assert_allclose(y[1], -np.log(3.0))


@given(st.integers(1, 4), st.integers(1, 9))
def test_log_softmax_gradcheck(rows, cols):
    x = t(np.random.default_rng(rows * 10 + cols).standard_normal((rows, cols)), True)
    assert gradcheck(lambda a: F.log_softmax(a, -1), (x,))
    assert gradcheck(lambda a: F.softmax(a, -1), (x,))


# ---- cross entropy / nll -----------------------------------------------------------------------
CE_CASES = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=2),
            dict(weight=True), dict(weight=True, ignore_index=1, eps=0.15), dict(eps=0.3),
            dict(weight=True, reduction="none", eps=0.1)]


@pytest.mark.parametrize("case", CE_CASES)
def test_cross_entropy_class_indices(case):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5)) * 3
    target = np.array([0, 2, 4, 1, 2, 3])
    w = rng.uniform(0.2, 2.0, 5) if case.get("weight") else None
    kw = dict(ignore_index=case.get("ignore_index", -100), reduction=case.get("reduction", "mean"))
    ref = ref_cross_entropy(x, target, w, eps=case.get("eps", 0.0), **kw)
    got = F.cross_entropy(t(x), t(target), None if w is None else t(w),
                          label_smoothing=case.get("eps", 0.0), **kw)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    xt = t(x, True)
    assert gradcheck(lambda a: F.cross_entropy(a, t(target), None if w is None else t(w),
                                               label_smoothing=case.get("eps", 0.0), **kw), (xt,))


def test_cross_entropy_spatial_targets_and_unbatched():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 3, 2))
    target = rng.integers(0, 4, (2, 3, 2))
    got = F.cross_entropy(t(x), t(target), reduction="none")
    flat = ref_cross_entropy(np.moveaxis(x, 1, -1).reshape(-1, 4), target.reshape(-1),
                             reduction="none")
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
    x = t(np.zeros((3, 10)))
    with pytest.raises(ShapeError, match=r"^Target 12 is out of bounds\.$"):
        F.cross_entropy(x, minidl.tensor([1, 2, 12]))
    with pytest.raises(IndexError, match="Target -3 is out of bounds"):
        F.nll_loss(x, minidl.tensor([1, -3, 2]))
    with pytest.raises(DTypeError, match=r"cross_entropy: expected target of dtype int64 \(class "
                                         r"indices\) or float \(probabilities\), got minidl.bool"):
        F.cross_entropy(x, minidl.tensor([True, False, True]))
    with pytest.raises(ShapeError, match=r"Expected input batch_size \(3\) to match target "
                                         r"batch_size \(4\)"):
        F.cross_entropy(x, minidl.tensor([1, 2, 1, 3]))
    with pytest.raises(ShapeError, match="weight tensor should be defined either for all 10"):
        F.cross_entropy(x, minidl.tensor([1, 2, 1]), weight=t(np.ones(3)))
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


# ---- activations -------------------------------------------------------------------------------
def _softplus(x, beta, th):
    return np.where(beta * x > th, x, np.log1p(np.exp(np.minimum(beta * x, th))) / beta)


ACTS = [
    ("elu", lambda a: F.elu(a), lambda x: np.where(x > 0, x, np.expm1(x))),
    ("elu_alpha", lambda a: F.elu(a, 0.3), lambda x: np.where(x > 0, x, 0.3 * np.expm1(x))),
    ("softplus", lambda a: F.softplus(a), lambda x: _softplus(x, 1.0, 20.0)),
    ("softplus_beta", lambda a: F.softplus(a, 2.0, 3.0), lambda x: _softplus(x, 2.0, 3.0)),
    ("hardtanh", lambda a: F.hardtanh(a), lambda x: np.clip(x, -1, 1)),
    ("hardtanh_range", lambda a: F.hardtanh(a, -0.5, 2.0), lambda x: np.clip(x, -0.5, 2.0)),
    ("scaled_tanh", F.scaled_tanh, lambda x: 1.7159 * np.tanh(2 * x / 3)),
    ("logsigmoid", F.logsigmoid, lambda x: -np.logaddexp(0, -x)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,ref", ACTS, ids=[a[0] for a in ACTS])
def test_activation_forward_and_gradcheck(dtype, name, fn, ref):
    x = np.linspace(-4, 4, 37) + 0.013  # avoid the kinks at 0, +-1, -0.5, 2 and the threshold
    x = x[np.abs(x - np.round(x)) > 0.05]
    x = np.concatenate([x, [-60.0, 60.0]]).astype(dtype)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(fn(t(x)).numpy(), ref(x.astype(np.float64)), rtol=tol, atol=tol)
    if dtype == np.float64:
        assert gradcheck(fn, (t(x, True),))


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
