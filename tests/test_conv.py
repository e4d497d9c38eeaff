"""conv2d on the CPU: forward against a direct loop-based numpy reference written here (not the
im2col implementation), float64 gradcheck over hypothesis-drawn geometries (batch, channels,
odd/even sizes, stride, padding incl. "same"/"valid", dilation, groups), the batch-chunking of
the backend, PyTorch's argument checks and messages, and deterministic gradients.
CUDA parity lives in tests/test_conv_cuda.py."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minidl
import minidl.nn.functional as F
from minidl.backend.cpu import conv as cpu_conv
from minidl.errors import DTypeError, ShapeError
from minidl.testing.gradcheck import gradcheck


# ---- reference: direct summation over output pixels and taps ------------------------------------
def _pads(padding, k, d):
    """((top, bottom), (left, right)) from an int/pair/"same"/"valid" (PyTorch's rules)."""
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        return tuple((d[a] * (k[a] - 1) // 2, d[a] * (k[a] - 1) - d[a] * (k[a] - 1) // 2)
                     for a in range(2))
    p = (padding, padding) if isinstance(padding, int) else padding
    return ((p[0], p[0]), (p[1], p[1]))


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """out[n, o, p, q] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, g*Cg + c, p*sh + i*dh,
    q*sw + j*dw], with explicit loops over output pixels and kernel taps."""
    s = (stride, stride) if isinstance(stride, int) else stride
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    N, C, H, W = x.shape
    Co, Cg, kh, kw = w.shape
    (pt, pb), (pl, pr) = _pads(padding, (kh, kw), d)
    xp = np.zeros((N, C, H + pt + pb, W + pl + pr), dtype=np.float64)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    Ho = (H + pt + pb - d[0] * (kh - 1) - 1) // s[0] + 1
    Wo = (W + pl + pr - d[1] * (kw - 1) - 1) // s[1] + 1
    out = np.zeros((N, Co, Ho, Wo))
    Cog = Co // groups
    for o in range(Co):
        g = o // Cog
        for p in range(Ho):
            for q in range(Wo):
                acc = np.zeros(N)
                for i in range(kh):
                    for j in range(kw):
                        patch = xp[:, g * Cg:(g + 1) * Cg, p * s[0] + i * d[0], q * s[1] + j * d[1]]
                        acc += patch @ w[o, :, i, j]
                out[:, o, p, q] = acc + (0.0 if b is None else b[o])
    return out


def _t(shape, dtype=minidl.float64, seed=0, requires_grad=False):
    a = np.random.default_rng(seed).uniform(-1, 1, size=shape)
    return minidl.tensor(a, dtype=dtype, requires_grad=requires_grad)


# (N, C, H, W, Co, kh, kw, kwargs)
GEOMS = [
    (2, 3, 7, 6, 4, 3, 3, {}),
    (1, 3, 11, 11, 4, 11, 11, {}),                                # kernel == input
    (2, 2, 9, 8, 3, 3, 2, {"stride": 2, "padding": 1}),           # even kernel width
    (1, 4, 8, 9, 6, 3, 3, {"stride": (2, 1), "padding": (0, 2), "dilation": (1, 2)}),
    (2, 4, 6, 7, 4, 2, 3, {"groups": 2, "padding": "same"}),      # asymmetric same
    (1, 6, 5, 5, 6, 3, 3, {"groups": 6, "padding": 1}),           # depthwise
    (1, 6, 5, 5, 12, 1, 1, {"groups": 3}),                        # 1x1, channel multiplier 4
    (2, 3, 10, 10, 2, 4, 4, {"padding": "same", "dilation": 2}),
    (1, 2, 9, 9, 3, 3, 3, {"padding": "valid", "stride": 3}),
    (3, 1, 1, 1, 2, 1, 1, {}),                                    # 1x1 images
    (2, 3, 15, 13, 4, 5, 5, {"stride": 4, "padding": 2}),         # AlexNet-like stride
]


@pytest.mark.parametrize("dtype", [minidl.float64, minidl.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("geom", GEOMS, ids=[str(i) for i in range(len(GEOMS))])
def test_forward_matches_direct_loops(geom, dtype):
    N, C, H, W, Co, kh, kw, kw_ = geom
    g = kw_.get("groups", 1)
    x, w, b = _t((N, C, H, W), dtype, 1), _t((Co, C // g, kh, kw), dtype, 2), _t((Co,), dtype, 3)
    out = F.conv2d(x, w, b, **kw_)
    want = ref_conv2d(x.numpy().astype(np.float64), w.numpy().astype(np.float64),
                      b.numpy().astype(np.float64), **kw_)
    assert out.dtype is dtype and out.shape == want.shape
    tol = 1e-12 if dtype is minidl.float64 else 2e-5
    np.testing.assert_allclose(out.numpy(), want, rtol=tol, atol=tol * 10)


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


def test_unbatched_input():
    x, w, b = _t((3, 6, 5)), _t((4, 3, 3, 2), seed=1), _t((4,), seed=2)
    out = F.conv2d(x, w, b, padding=1)
    assert out.shape == (4, 6, 6)
    np.testing.assert_allclose(out.numpy(), F.conv2d(x.unsqueeze(0), w, b, padding=1).numpy()[0])
    xg = _t((3, 6, 5), requires_grad=True)
    F.conv2d(xg, w, b).sum().backward()
    assert xg.grad.shape == (3, 6, 5)


# ---- gradients -----------------------------------------------------------------------------------
@st.composite
def geometries(draw):
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 2))
    cog = draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = draw(st.sampled_from([1, 2, (1, 2), (2, 1), 3]))
    dilation = draw(st.sampled_from([1, 2, (1, 2)]))
    if stride == 1:
        padding = draw(st.sampled_from([0, 1, 2, (0, 1), "same", "valid"]))
    else:
        padding = draw(st.sampled_from([0, 1, (1, 0), "valid"]))
    d = (dilation, dilation) if isinstance(dilation, int) else dilation
    (pt, pb), (pl, pr) = _pads(padding, (kh, kw), d)
    assume(d[0] * (kh - 1) + 1 <= h + pt + pb and d[1] * (kw - 1) + 1 <= w + pl + pr)
    bias = draw(st.booleans())
    return dict(n=n, c=cg * groups, h=h, w=w, co=cog * groups, kh=kh, kw=kw, groups=groups,
                stride=stride, padding=padding, dilation=dilation, bias=bias)


@settings(max_examples=25, deadline=None)
@given(geometries())
def test_gradcheck_over_geometries(geo):
    x = _t((geo["n"], geo["c"], geo["h"], geo["w"]), seed=1, requires_grad=True)
    w = _t((geo["co"], geo["c"] // geo["groups"], geo["kh"], geo["kw"]), seed=2, requires_grad=True)
    b = _t((geo["co"],), seed=3, requires_grad=True) if geo["bias"] else None
    kw = {k: geo[k] for k in ("stride", "padding", "dilation", "groups")}
    inputs = (x, w) if b is None else (x, w, b)
    gradcheck(lambda *a: F.conv2d(*a, **kw), inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_gradients_match_reference_adjoints():
    """<dL/dx, u> and <dL/dw, v> equal directional derivatives of the direct reference."""
    kw = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2}
    x = _t((2, 4, 9, 8), seed=1, requires_grad=True)
    w = _t((6, 2, 3, 3), seed=2, requires_grad=True)
    b = _t((6,), seed=3, requires_grad=True)
    out = F.conv2d(x, w, b, **kw)
    g = np.random.default_rng(4).standard_normal(out.shape)
    out.backward(minidl.tensor(g))
    xn, wn = x.detach().numpy(), w.detach().numpy()
    # the reference is linear in x and in w separately: the adjoint identity is exact
    for arr, grad, f in ((xn, x.grad, lambda u: ref_conv2d(u, wn, None, **kw)),
                         (wn, w.grad, lambda v: ref_conv2d(xn, v, None, **kw))):
        u = np.random.default_rng(5).standard_normal(arr.shape)
        np.testing.assert_allclose(np.sum(grad.numpy() * u), np.sum(g * f(u)), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), g.sum(axis=(0, 2, 3)), rtol=1e-12)


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


# ---- argument checks (before any backend call) -------------------------------------------------
def _err(fn, error, match):
    with pytest.raises(error, match=match):
        fn()


def test_error_messages():
    x = minidl.zeros(1, 1, 224, 224)
    w = minidl.zeros(64, 3, 11, 11)
    _err(lambda: F.conv2d(x, w), ShapeError,
         r"^conv2d: weight \[64, 3, 11, 11\] expects input with 3 channels, got input "
         r"\[1, 1, 224, 224\]$")
    _err(lambda: F.conv2d(minidl.zeros(224, 224), w), ShapeError,
         r"conv2d: expected 4-D input \[N, C, H, W\] \(or 3-D unbatched\), got input \[224, 224\]")
    _err(lambda: F.conv2d(minidl.zeros(1, 2, 3, 4, 5), w), ShapeError,
         r"got input \[1, 2, 3, 4, 5\]")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(3, 3, 3)), ShapeError,
         r"expected 4-D weight .* got weight \[3, 3, 3\]")
    _err(lambda: F.conv2d(minidl.zeros(1, 4, 9, 9), minidl.zeros(6, 2, 3, 3), groups=3), ShapeError,
         r"weight \[6, 2, 3, 3\] expects input with 6 channels \(groups=3\), got input "
         r"\[1, 4, 9, 9\]")
    _err(lambda: F.conv2d(minidl.zeros(1, 4, 9, 9), minidl.zeros(5, 2, 3, 3), groups=2), ShapeError,
         r"5 output channels, which is not divisible by groups=2")
    _err(lambda: F.conv2d(minidl.zeros(1, 4, 9, 9), minidl.zeros(4, 4, 3, 3), groups=0), ShapeError,
         r"groups must be a positive int, got 0")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 4, 4), minidl.zeros(2, 3, 5, 5)), ShapeError,
         r"kernel size \(dilated\) \(5, 5\) can't be greater than the padded input size \(4, 4\)")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 4, 4), minidl.zeros(2, 3, 3, 3), dilation=2),
         ShapeError, r"kernel size \(dilated\) \(5, 5\)")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), stride=0), ShapeError,
         r"stride must be positive, got stride \(0, 0\)")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), dilation=(1, 0)),
         ShapeError, r"dilation must be positive")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), padding=-1),
         ShapeError, r"negative padding is not supported")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), padding="full"),
         ShapeError, r"invalid padding string 'full'")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), stride=2,
                          padding="same"), ShapeError, r"'same' is not supported for strided")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), stride=(1, 2, 3)),
         ShapeError, r"stride must be an int or a pair of ints")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3), minidl.zeros(3)),
         ShapeError, r"bias \[3\] must have shape \[2\]")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3, dtype=minidl.float64)),
         DTypeError, r"got input minidl.float32, weight minidl.float64")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9), minidl.zeros(2, 3, 3, 3),
                          minidl.zeros(2, dtype=minidl.float64)), DTypeError,
         r"bias minidl.float64")
    _err(lambda: F.conv2d(minidl.zeros(1, 3, 9, 9, dtype=minidl.int64),
                          minidl.zeros(2, 3, 3, 3, dtype=minidl.int64)), DTypeError,
         r"one floating dtype")


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
