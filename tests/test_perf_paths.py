"""Speed-relevant behaviour, checked without timing: which conv path a shape takes, that
nn.Linear is one fused addmm per product (no transposed copies), that the conv bias is fused,
that SparseConv2d builds its index map once, and that small pooling calls stay on one thread.
Timings live in bench/ (bench/train.py, bench/primitives.py), never here."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn as nn
import minidl.nn.functional as F
from minidl import models
from minidl.backend import cpu as B
from minidl.backend.cpu import conv as cconv
from minidl.backend.cpu import nn as cnn


def _geom(x, w, stride=1, pad=0):
    N, C, H, W = x
    Co, Cg, kh, kw = w
    Ho, Wo = (H + 2 * pad - kh) // stride + 1, (W + 2 * pad - kw) // stride + 1
    return cconv._Geom(x, w, (Ho, Wo), (stride, stride), ((pad, pad), (pad, pad)), (1, 1),
                       C // Cg, np.float32)


def test_conv_path_by_shape():
    # LeNet's second layer (10x10 / 8x8 maps): chunks of many images, not 64 chunks
    for x in ((64, 6, 12, 12), (64, 6, 14, 14)):
        q = _geom(x, (16, 6, 5, 5))
        assert q.path == "cols" and len(list(q.chunks())) <= 2
    # 24x24 / 28x28 outputs: per-image GEMMs (NCHW output, no transposes), many images per
    # chunk in one batched matmul: 2 chunks at batch 64, not 64 (see conv._IMAGE_GEMM_COLS)
    q = _geom((64, 1, 28, 28), (6, 1, 5, 5))
    assert q.path == "image" and len(list(q.chunks())) == 2
    # AlexNet's first layer: one image per chunk (wide GEMMs, no batch-innermost transposes)
    q = _geom((8, 3, 227, 227), (96, 3, 11, 11), stride=4)
    assert (q.path, q.nb) == ("image", 1)
    # deep layers: row-window GEMMs (when the cblas gemm was found)
    q = _geom((128, 32, 16, 16), (32, 32, 5, 5), pad=2)
    assert q.path == ("rows" if cconv._GEMM is not None else "cols")


@pytest.mark.parametrize("shape", [((4, 1, 28, 28), (6, 1, 5, 5), 0),      # image chunks
                                   ((8, 6, 12, 12), (16, 6, 5, 5), 0),     # cols
                                   ((3, 32, 8, 8), (8, 32, 3, 3), 1),      # rows, batched
                                   ((1, 32, 9, 9), (8, 32, 3, 3), 1)])     # rows, one image
def test_conv_bias_fused_matches_separate_add(shape):
    xs, ws, pad = shape
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    geo = ((1, 1), ((pad, pad), (pad, pad)), (1, 1), 1)
    want = B.conv2d(x, w, *geo) + b.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(B.conv2d(x, w, *geo, b), want, rtol=1e-12, atol=1e-12)


def _count(monkeypatch, names):
    calls = {n: 0 for n in names}
    for n in names:
        fn = getattr(B, n)

        def wrapped(*a, _fn=fn, _n=n, **k):
            calls[_n] += 1
            return _fn(*a, **k)
        monkeypatch.setattr(B, n, wrapped)
    return calls


def test_conv_op_adds_bias_inside_the_primitive(monkeypatch):
    x = minidl.randn(2, 3, 8, 8)
    conv = nn.Conv2d(3, 4, 3)
    calls = _count(monkeypatch, ["map", "conv2d"])
    conv(x)
    assert calls == {"map": 0, "conv2d": 1}


def test_nn_linear_is_one_addmm_per_product(monkeypatch):
    lin = nn.Linear(5, 3)
    x = minidl.randn(4, 5, requires_grad=True)
    g = minidl.ones(4, 3)
    calls = _count(monkeypatch, ["addmm", "matmul", "strided_copy", "copy", "map"])
    lin(x).backward(g)
    # forward y = x W^T + b, backward dx = g W and dW = g^T x; no transposed copy, no bias add
    assert calls["addmm"] == 3
    assert calls["matmul"] == calls["strided_copy"] == calls["copy"] == 0
    ref = x.detach().numpy() @ lin.weight.detach().numpy().T + lin.bias.detach().numpy()
    np.testing.assert_allclose(lin(x).detach().numpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("mnk", [(4, 3, 5), (1, 7, 1), (0, 3, 2), (3, 2, 0), (40, 50, 60)])
def test_addmm_matches_numpy(dtype, ta, tb, mnk):
    M, N, K = mnk
    rng = np.random.default_rng(1)
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    bias = rng.standard_normal(N).astype(dtype)
    prod = (a.T if ta else a) @ (b.T if tb else b)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    for bb, want in ((None, prod), (bias, prod + bias)):
        got = B.addmm(bb, a, b, ta, tb)
        assert got.shape == (M, N) and got.dtype == dtype
        np.testing.assert_allclose(got, want, **tol)


def test_linear_gradcheck():
    from minidl.testing import gradcheck

    x = minidl.randn(3, 4, dtype=minidl.float64, requires_grad=True)
    w = minidl.randn(2, 4, dtype=minidl.float64, requires_grad=True)
    b = minidl.randn(2, dtype=minidl.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: F.linear(x, w, b), (x, w, b))
    x3 = minidl.randn(2, 3, 4, dtype=minidl.float64, requires_grad=True)
    assert gradcheck(lambda x, w: F.linear(x, w), (x3, w))


def test_sparse_conv_builds_its_index_map_once(monkeypatch):
    c3 = models.SparseConv2d(models.LENET5_C3_TABLE, 5)
    index = c3.scatter_index
    x = minidl.randn(2, 6, 14, 14)
    calls = _count(monkeypatch, ["from_numpy", "to_numpy", "arange", "index_add"])
    for _ in range(2):
        c3(x).sum().backward()
    assert c3.scatter_index is index
    assert calls == {"from_numpy": 0, "to_numpy": 0, "arange": 0, "index_add": 0}
    # the dense kernel holds each compact weight at its (output, input) map
    dense = c3.dense_weight().detach().numpy()
    w = c3.weight.detach().numpy()
    table = np.asarray(models.LENET5_C3_TABLE)
    outs, ins = np.nonzero(table.T)
    np.testing.assert_array_equal(dense[outs, ins], w)
    assert not dense[~table.T].any()
    assert c3.weight.grad is not None and c3.weight.grad.shape == c3.weight.shape


def test_ceil_mode_max_pool_flat_path_matches_generic_kernel():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 9, 11)).astype(np.float32)
    x[0, 0, -1, :] = np.nan
    x[0, 1] = -np.inf
    x[1, 2, 4:, 4:] = 1.5  # ties
    out, idx = B.max_pool2d(x, (3, 3), (2, 2), (0, 0), (1, 1), True)
    ref_o = np.empty_like(out)
    ref_i = np.empty_like(idx)
    cnn._max_pool_fwd(x.reshape(6, 9, 11), ref_o.reshape(6, *out.shape[2:]),
                      ref_i.reshape(6, *out.shape[2:]), 3, 3, 2, 2, 0, 0, 1, 1, 1)
    np.testing.assert_array_equal(out, ref_o)
    np.testing.assert_array_equal(idx, ref_i)


def test_small_pooling_runs_on_one_thread(monkeypatch):
    seen = []
    monkeypatch.setattr(cnn, "get_num_threads", lambda: 2)
    monkeypatch.setattr(cnn, "set_num_threads", seen.append)
    x = np.random.default_rng(3).standard_normal((4, 6, 28, 28)).astype(np.float32)
    B.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert seen == [1, 2]  # one thread for the call, then the count restored
    seen.clear()
    monkeypatch.setattr(cnn, "_PARALLEL_MIN_ELEMENTS", 1)
    B.max_pool2d(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert seen == []


@pytest.mark.cuda
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_cuda_addmm_matches_cpu(ta, tb):
    if not minidl.cuda.is_available():
        pytest.skip("no CUDA device or simulator")
    from minidl.cuda import backend as G

    rng = np.random.default_rng(4)
    M, N, K = 3, 5, 4
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    for bb in (None, bias):
        got = G.to_numpy(G.addmm(None if bb is None else G.from_numpy(bb), G.from_numpy(a),
                                 G.from_numpy(b), ta, tb))
        np.testing.assert_allclose(got, B.addmm(bb, a, b, ta, tb), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("geo", [
    ((5, 4, 24, 23), (6, 2, 3, 4), (1, 1), ((1, 0), (2, 1)), (1, 1), 2),
    ((3, 3, 27, 26), (4, 3, 5, 3), (2, 3), ((2, 2), (0, 1)), (2, 1), 1)])
def test_conv_image_path_matches_column_path(monkeypatch, geo):
    """The batched per-image path (chunks of 2 images over 5: a short last chunk) against the
    batch-innermost column path, forward and both gradients, with groups, strides, dilation and
    asymmetric padding."""
    xs, ws, stride, pad, dil, groups = geo
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    args = (stride, pad, dil, groups)

    def run():
        out = cconv.conv2d(x, w, *args, b)
        g = rng.standard_normal(out.shape)
        return (out, cconv.conv2d_grad_weight(g, x, ws, *args),
                cconv.conv2d_grad_input(g, w, xs, *args))

    per_image = xs[1] * ws[2] * ws[3] * 8  # bytes of one image's columns per output position
    monkeypatch.setattr(cconv, "_IMAGE_GEMM_COLS", 1)
    monkeypatch.setattr(cconv, "_SHIFT_MIN_K", 10 ** 6)
    q = cconv._Geom(xs, ws, run()[0].shape[2:], *args, np.float64)
    monkeypatch.setattr(cconv, "_CHUNK_BYTES", 2 * per_image * q.L)
    rng = np.random.default_rng(2)
    got = run()
    q = cconv._Geom(xs, ws, got[0].shape[2:], *args, np.float64)
    assert (q.path, q.nb) == ("image", 2)
    monkeypatch.setattr(cconv, "_IMAGE_GEMM_COLS", 10 ** 9)
    rng = np.random.default_rng(2)
    want = run()
    for a, e in zip(got, want):
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
