"""conv2d behaviour the op table (minidl/testing/opinfo_conv.py: forward vs a direct-loop
reference on awkward geometries, float64 gradcheck, hypothesis geometries, error messages, CUDA
parity) does not cover: "same" padding's extra row/column, which gradients are computed,
deterministic gradients, the CPU backend's batch chunking, row-window and threaded paths, zero
sizes, checks before the backend, and PyTorch itself when installed."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.backend.cpu import conv as cpu_conv
from minidl.errors import ShapeError


def _t(shape, dtype=minidl.float64, seed=0, requires_grad=False):
    a = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    return minidl.tensor(a, dtype=dtype, requires_grad=requires_grad)


def test_same_padding_keeps_size_and_puts_extra_bottom_right():
    x = _t((1, 1, 4, 5))
    w = minidl.ones(1, 1, 2, 2, dtype=minidl.float64)
    out = F.conv2d(x, w, padding="same")
    assert out.shape == (1, 1, 4, 5)
    xn = x.numpy()[0, 0]
    # total padding 1 -> 0 before, 1 after: out[p, q] = sum of x[p:p+2, q:q+2] (zero past the end)
    xp = np.pad(xn, ((0, 1), (0, 1)))
    want = xp[:-1, :-1] + xp[1:, :-1] + xp[:-1, 1:] + xp[1:, 1:]
    np.testing.assert_allclose(out.numpy()[0, 0], want, rtol=1e-12)


@pytest.mark.parametrize("needs", [(True, False, False), (False, True, False), (False, False, True),
                                   (True, True, True)])
def test_only_requested_gradients(needs):
    x = _t((2, 2, 5, 5), seed=1, requires_grad=needs[0])
    w = _t((3, 2, 3, 3), seed=2, requires_grad=needs[1])
    b = _t((3,), seed=3, requires_grad=needs[2])
    F.conv2d(x, w, b, padding=1).sum().backward()
    for t, need in zip((x, w, b), needs):
        assert (t.grad is not None) == need


def test_gradients_are_deterministic():
    x = _t((3, 4, 9, 9), dtype=minidl.float32, seed=1, requires_grad=True)
    w = _t((6, 2, 3, 3), dtype=minidl.float32, seed=2, requires_grad=True)
    grads = []
    for _ in range(2):
        x.grad = w.grad = None
        (F.conv2d(x, w, stride=2, padding=1, groups=2) ** 2).sum().backward()
        grads.append((x.grad.numpy().copy(), w.grad.numpy().copy()))
    for a, b in zip(*grads):
        assert np.array_equal(a, b)


# ---- the backend's batch chunking -------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backend_chunks_agree_with_one_chunk(monkeypatch, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 4, 6, 5)).astype(dtype)
    w = rng.standard_normal((6, 2, 3, 2)).astype(dtype)
    geo = ((1, 2), ((1, 0), (2, 1)), (2, 1), 2)
    one = [cpu_conv.conv2d(x, w, *geo)]
    g = rng.standard_normal(one[0].shape).astype(dtype)
    one += [cpu_conv.conv2d_grad_input(g, w, x.shape, *geo),
            cpu_conv.conv2d_grad_weight(g, x, w.shape, *geo)]
    # 3 images per chunk: chunks of 3, 3 and a partial 1
    per_image = 2 * 3 * 2 * one[0].shape[2] * one[0].shape[3] * np.dtype(dtype).itemsize
    monkeypatch.setattr(cpu_conv, "_CHUNK_BYTES", 3 * per_image * 2)
    monkeypatch.setattr(cpu_conv, "_MIN_GEMM_COLS", 1)
    assert cpu_conv._chunk(7, 2 * 3 * 2 * 2, one[0].shape[2] * one[0].shape[3],
                           np.dtype(dtype).itemsize) == 3
    many = [cpu_conv.conv2d(x, w, *geo), cpu_conv.conv2d_grad_input(g, w, x.shape, *geo),
            cpu_conv.conv2d_grad_weight(g, x, w.shape, *geo)]
    for a, b in zip(one, many):
        np.testing.assert_allclose(a, b, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


@pytest.mark.skipif(cpu_conv._GEMM is None, reason="no cblas gemm found: full im2col only")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [
    ((7, 4, 9, 8), (6, 2, 3, 2), ((1, 2), ((1, 0), (2, 1)), (2, 1), 2)),
    ((5, 6, 11, 10), (8, 3, 4, 3), ((3, 2), ((2, 1), (0, 2)), (2, 1), 2)),
    ((4, 8, 12, 12), (8, 8, 5, 5), ((1, 1), ((2, 2), (2, 2)), (1, 1), 1)),
    ((3, 4, 24, 24), (6, 2, 3, 3), ((1, 1), ((1, 1), (1, 1)), (1, 1), 2)),  # L >= 512
])
def test_row_window_path_agrees_with_im2col(monkeypatch, dtype, case):
    x_shape, w_shape, geo = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)

    def run(min_k, g=None):
        monkeypatch.setattr(cpu_conv, "_SHIFT_MIN_K", min_k)
        out = cpu_conv.conv2d(x, w, *geo)
        g = rng.standard_normal(out.shape).astype(dtype) if g is None else g
        return [out, cpu_conv.conv2d_grad_input(g, w, x.shape, *geo),
                cpu_conv.conv2d_grad_weight(g, x, w.shape, *geo)], g

    ref, g = run(10 ** 9)
    monkeypatch.setattr(cpu_conv, "_MIN_GEMM_COLS", 1)
    for chunk_bytes in (1, 1 << 30):  # chunks of one image, then all images in one
        monkeypatch.setattr(cpu_conv, "_CHUNK_BYTES", chunk_bytes)
        got, _ = run(0, g)
        again, _ = run(0, g)
        for a, b, c in zip(ref, got, again):
            tol = 1e-4 if dtype == np.float32 else 1e-12  # another summation order
            np.testing.assert_allclose(b, a, rtol=tol, atol=tol)
            assert np.array_equal(b, c)


def test_threaded_layout_kernels_are_bit_identical(monkeypatch):
    import numba

    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 9, 8)).astype(np.float32)
    w = rng.standard_normal((4, 5, 3, 3)).astype(np.float32)
    geo = ((2, 1), ((1, 1), (0, 2)), (1, 2), 1)
    g = rng.standard_normal(cpu_conv.conv2d(x, w, *geo).shape).astype(np.float32)

    def run():
        return [cpu_conv.conv2d(x, w, *geo), cpu_conv.conv2d_grad_input(g, w, x.shape, *geo),
                cpu_conv.conv2d_grad_weight(g, x, w.shape, *geo)]

    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 1)
    one = run()
    monkeypatch.setattr(numba.config, "NUMBA_NUM_THREADS", 3)
    monkeypatch.setattr(cpu_conv, "_PARALLEL_MIN_ELEMENTS", 0)
    for a, b in zip(one, run()):
        assert np.array_equal(a, b)


def test_zero_size_batch_and_channels():
    out = F.conv2d(minidl.zeros(0, 3, 5, 5), minidl.zeros(4, 3, 3, 3), minidl.ones(4))
    assert out.shape == (0, 4, 3, 3)
    x = minidl.zeros(0, 3, 5, 5, requires_grad=True)
    w = minidl.ones(4, 3, 3, 3, requires_grad=True)
    F.conv2d(x, w).sum().backward()
    assert x.grad.shape == (0, 3, 5, 5) and float(w.grad.abs().sum()) == 0.0


# ---- argument checks happen before any backend call ---------------------------------------------
def test_errors_raise_before_the_backend(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("backend called")

    monkeypatch.setattr(cpu_conv, "conv2d", boom)
    monkeypatch.setattr(minidl.backend.cpu, "conv2d", boom)
    with pytest.raises(ShapeError):
        F.conv2d(minidl.zeros(1, 1, 8, 8), minidl.zeros(4, 3, 3, 3))


def test_against_torch_if_installed():
    torch = pytest.importorskip("torch")
    kw = {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2}
    x = _t((2, 4, 11, 9), seed=1, requires_grad=True)
    w = _t((6, 2, 3, 4), seed=2, requires_grad=True)
    b = _t((6,), seed=3, requires_grad=True)
    out = F.conv2d(x, w, b, **kw)
    (out * out).sum().backward()
    xt, wt, bt = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (x, w, b))
    ot = torch.nn.functional.conv2d(xt, wt, bt, **kw)
    (ot * ot).sum().backward()
    for a, t in ((out, ot), (x.grad, xt.grad), (w.grad, wt.grad), (b.grad, bt.grad)):
        np.testing.assert_allclose(a.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-10)
