"""local_response_norm, batch_norm and layer_norm on the CPU beyond the op table's rows: the
AlexNet paper's LRN form, batch norm's running statistics and eval mode, errors.  Layer norm is
the op table's row only."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.errors import ShapeError
from minidl.testing.gradcheck import gradcheck


def t(a, requires_grad=False):
    return minidl.from_numpy(np.ascontiguousarray(a)).requires_grad_(requires_grad)


def ref_lrn_paper(x, n, alpha, beta, k):
    """Krizhevsky et al. 2012, section 3.3: sum over max(0, i - n/2) .. min(N-1, i + n/2)."""
    C = x.shape[1]
    out = np.empty_like(x)
    for i in range(C):
        lo, hi = max(0, i - n // 2), min(C - 1, i + n // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        out[:, i] = x[:, i] / (k + alpha * s) ** beta
    return out


# ---- local response norm (the op table's row covers torch's definition) ---------------------
def test_lrn_alexnet_paper_parameters():
    # the paper's layer (k=2, n=5, alpha=1e-4, beta=0.75, alpha not divided by n) is
    # local_response_norm(x, 5, alpha=5e-4, beta=0.75, k=2)
    x = np.random.default_rng(1).standard_normal((2, 96, 3, 3)) * 30
    y = F.local_response_norm(t(x), 5, alpha=5e-4, beta=0.75, k=2.0)
    np.testing.assert_allclose(y.numpy(), ref_lrn_paper(x, 5, 1e-4, 0.75, 2.0), rtol=1e-12)


# ---- batch norm --------------------------------------------------------------------------------
def ref_bn(x, mean, var, w, b, eps):
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6), (2, 3, 4, 5)])
def test_batch_norm_training_and_running_stats(shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.0, 2.0, 0.5])
    rmt, rvt = t(rm.copy()), t(rv.copy())
    y = F.batch_norm(t(x), rmt, rvt, t(w), t(b), training=True, momentum=0.2, eps=1e-3)
    axes = (0,) + tuple(range(2, x.ndim))
    m, v = x.mean(axis=axes), x.var(axis=axes)
    n = x.size // 3
    np.testing.assert_allclose(y.numpy(), ref_bn(x, m, v, w, b, 1e-3), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rmt.numpy(), 0.8 * rm + 0.2 * m, rtol=1e-12)
    np.testing.assert_allclose(rvt.numpy(), 0.8 * rv + 0.2 * v * n / (n - 1), rtol=1e-12)
    # eval mode uses the running statistics and leaves them alone
    y2 = F.batch_norm(t(x), rmt, rvt, t(w), t(b), training=False, eps=1e-3)
    np.testing.assert_allclose(y2.numpy(), ref_bn(x, rmt.numpy(), rvt.numpy(), w, b, 1e-3),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 5), (2, 3, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(shape, training):
    rng = np.random.default_rng(4)
    x = t(rng.standard_normal(shape), requires_grad=True)
    w = t(rng.standard_normal(shape[1]), requires_grad=True)
    b = t(rng.standard_normal(shape[1]), requires_grad=True)
    rm, rv = t(rng.standard_normal(shape[1])), t(rng.uniform(0.5, 2, shape[1]))
    assert gradcheck(lambda a, ww, bb: F.batch_norm(a, None if training else rm,
                                                    None if training else rv, ww, bb,
                                                    training=training), (x, w, b))


def test_batch_norm_errors():
    with pytest.raises(ShapeError, match=r"Expected more than 1 value per channel when training, "
                                         r"got input size \[1, 3\]"):
        F.batch_norm(t(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(ShapeError, match=r"batch_norm: expected running_mean of shape \[3\]"):
        F.batch_norm(t(np.zeros((2, 3))), t(np.zeros(4)), t(np.ones(3)))
