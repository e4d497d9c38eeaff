"""The fused cross-entropy (ops.loss.CrossEntropy over the backend's cross_entropy /
cross_entropy_grad primitives): one graph node, the composed path's values and gradients,
gradcheck in float64, CPU vs CUDA (simulator) at awkward row lengths.  The NaN / -inf /
ignore_index corners run through it in tests/test_loss_nan.py."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl.ops import loss as L
from minidl.ops.reduce import log_softmax
from minidl.testing import gradcheck

KWARGS = [{}, dict(label_smoothing=0.15), dict(weight=True), dict(ignore_index=1),
          dict(weight=True, ignore_index=2, label_smoothing=0.3)]


def _composed(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """The composed path the fused op replaced: log_softmax, then the coefficient nll."""
    xx, batch = L._channels_last(x)
    return L._nll_from_log_probs("cross_entropy", log_softmax(xx, -1), t, batch, weight,
                                 ignore_index, reduction, label_smoothing)


def _args(rs, shape, C, kw, dtype=np.float64, device="cpu"):
    x = minidl.tensor(rs.randn(*shape).astype(dtype), device=device, requires_grad=True)
    tshape = (shape[0],) + tuple(shape[2:]) if len(shape) > 1 else ()
    t = minidl.tensor(rs.randint(0, C, tshape), device=device)
    k = dict(kw)
    if k.get("weight"):
        k["weight"] = minidl.tensor((rs.rand(C) + 0.1).astype(dtype), device=device)
    return x, t, k


def test_class_targets_record_one_fused_node():
    x, t, _ = _args(np.random.RandomState(0), (4, 5), 5, {})
    assert F.cross_entropy(x, t).grad_fn.name() == "CrossEntropyBackward0"
    # probability targets keep the composed path
    p = minidl.tensor(np.full((4, 5), 0.2))
    assert F.cross_entropy(x, p).grad_fn.name() != "CrossEntropyBackward0"


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kw", KWARGS, ids=lambda k: ",".join(k) or "plain")
@pytest.mark.parametrize("shape,C", [((1, 1), 1), ((3, 7), 7), ((6, 33), 33), ((2, 4, 3), 4),
                                     ((5,), 5)])
def test_fused_matches_composed(shape, C, kw, reduction):
    rs = np.random.RandomState(C)
    x, t, k = _args(rs, shape, C, kw)
    out, ref = (fn(x, t, reduction=reduction, **k) for fn in (F.cross_entropy, _composed))
    g = minidl.tensor(rs.randn(*out.shape))
    gx, = minidl.autograd.grad(out, x, g)
    rx, = minidl.autograd.grad(ref, x, g)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(gx.numpy(), rx.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kw", KWARGS, ids=lambda k: ",".join(k) or "plain")
def test_fused_gradcheck(kw):
    rs = np.random.RandomState(3)
    x, t, k = _args(rs, (4, 6), 6, kw)
    for reduction in ("mean", "none"):
        assert gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction, **k), (x,))


@settings(max_examples=25, deadline=None)
@given(M=st.integers(1, 6), C=st.integers(1, 12), eps=st.sampled_from([0.0, 0.1]),
       seed=st.integers(0, 2 ** 16))
def test_fused_matches_torch_property(M, C, eps, seed):
    torch = pytest.importorskip("torch")
    rs = np.random.RandomState(seed)
    x = rs.randn(M, C) * 3
    t = rs.randint(0, C, M)
    t[rs.rand(M) < 0.3] = -100
    w = rs.rand(C) + 0.1
    res = []
    for lib, Fn in ((torch, torch.nn.functional), (minidl, F)):
        xx = lib.tensor(x, requires_grad=True)
        loss = Fn.cross_entropy(xx, lib.tensor(t), weight=lib.tensor(w), label_smoothing=eps,
                                reduction="sum")
        loss.backward()
        res.append((float(loss.detach().numpy()), xx.grad.numpy()))
    np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-10, atol=1e-12)


def test_backend_primitives_directly():
    from minidl.backend import cpu

    x = np.array([[0.0, 1.0, 2.0], [3.0, -np.inf, 0.0]], np.float32)
    t = np.array([2, -100])
    loss, lse, rw = cpu.cross_entropy(x, t, None, -100, 0.0)
    want = np.log(np.exp(x[0]).sum())
    np.testing.assert_allclose(lse[0], want, rtol=1e-6)
    np.testing.assert_allclose(loss, [want - 2.0, 0.0], rtol=1e-6)
    assert rw.tolist() == [1.0, 0.0]
    dx = cpu.cross_entropy_grad(np.ones(1, np.float32), x, t, None, lse, -100, 0.0)
    p = np.exp(x[0] - want)
    np.testing.assert_allclose(dx[0], p - [0, 0, 1], rtol=1e-6, atol=1e-7)
    assert (dx[1] == 0).all()


@pytest.mark.cuda
@pytest.mark.parametrize("C", [1, 7, 8, 9, 17])  # the simulator's block: 1..8 threads
@pytest.mark.parametrize("kw", KWARGS, ids=lambda k: ",".join(k) or "plain")
def test_fused_cuda_matches_cpu(C, kw, cuda_device):
    for reduction, M in (("mean", 3), ("none", 5)):  # 5 rows > 2 blocks: the row loop
        res = []
        for d in ("cpu", cuda_device):
            x, t, k = _args(np.random.RandomState(C), (M, C), C, kw, np.float32, d)
            loss = F.cross_entropy(x, t, reduction=reduction, **k)
            loss.sum().backward()
            res.append((loss.detach().cpu().numpy(), x.grad.cpu().numpy()))
        np.testing.assert_allclose(res[1][0], res[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-5, atol=1e-6)
