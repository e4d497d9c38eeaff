"""minidl.nn.functional on CUDA (numba's simulator without a GPU) against the CPU backend, float32,
beyond the op table's CUDA parity (tests/test_ops_cuda.py runs every nn row: LRN, softmax,
activations, batch/layer norm, linear, losses): pooling bit for bit (values, indices and
gradients) at geometries around the simulator's 16-thread blocks, NaN/inf windows, unweighted,
spatial and probability-target losses, extreme logits, batch norm's running statistics, and the
same dropout masks as the CPU for the same seed.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -m cuda tests/test_nn_functional_cuda.py
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.errors import ShapeError

pytestmark = pytest.mark.cuda


def _run(fn, arrays, device, seed=0, grad_out=None):
    """(output, [input grads]) of fn on `device`; arrays are float32 host arrays (int64 ones
    are passed through as non-differentiable tensors)."""
    ins = []
    for a in arrays:
        tt = minidl.from_numpy(np.ascontiguousarray(a)).to(device)
        if a.dtype.kind == "f":
            tt = tt.detach().requires_grad_(True)
        ins.append(tt)
    out = fn(*ins)
    out = out[0] if isinstance(out, tuple) else out
    g = grad_out if grad_out is not None else \
        np.random.default_rng(seed).standard_normal(out.shape).astype(np.float32)
    out.backward(minidl.from_numpy(g).to(device))
    grads = [None if i.grad is None else i.grad.cpu().numpy() for i in ins if i.requires_grad]
    return out.detach().cpu().numpy(), grads


def check(fn, *arrays, rtol=1e-5, atol=1e-6, exact=False):
    yc, gc = _run(fn, arrays, "cpu")
    yg, gg = _run(fn, arrays, "cuda")
    assert yc.shape == yg.shape
    if exact:
        np.testing.assert_array_equal(yg, yc)
        for a, b in zip(gg, gc):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(yg, yc, rtol=rtol, atol=atol)
        for a, b in zip(gg, gc):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def rnd(*shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


POOL_GEOMS = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((1, 1, 1, 1), 1, 1, 0, 1, False),
    ((2, 3, 7, 5), 3, 2, 0, 1, False),  # overlapping 3x3 s2 (AlexNet), odd sizes
    ((1, 2, 9, 9), 3, 2, 1, 1, True),
    ((2, 1, 6, 7), 2, 2, 0, 1, True),  # LeNet 2x2 s2, odd width, ceil
    ((1, 2, 8, 6), (3, 2), (1, 2), (1, 1), (2, 1), False),  # dilation
    ((1, 1, 17, 3), (2, 3), (3, 1), (1, 1), 1, True),  # > one 16-thread block per plane
]


def test_cuda_available(cuda_device):
    assert cuda_device == "cuda"


@pytest.mark.parametrize("geom", POOL_GEOMS)
def test_max_pool_matches_cpu_bit_for_bit(cuda_device, geom):
    shape, k, s, p, d, ceil = geom
    x = rnd(*shape, seed=1)
    check(lambda a: F.max_pool2d(a, k, s, p, d, ceil), x, exact=True)
    ic = F.max_pool2d(minidl.from_numpy(x), k, s, p, d, ceil, return_indices=True)[1]
    ig = F.max_pool2d(minidl.from_numpy(x).cuda(), k, s, p, d, ceil, return_indices=True)[1]
    np.testing.assert_array_equal(ig.cpu().numpy(), ic.numpy())


def test_max_pool_nan_and_inf(cuda_device):
    x = rnd(1, 2, 5, 5, seed=2)
    x[0, 0, 1, 1] = np.nan
    x[0, 1, :2] = -np.inf
    outs = [F.max_pool2d(minidl.from_numpy(x).to(dev), 2, 1, return_indices=True)
            for dev in ("cpu", "cuda")]
    np.testing.assert_array_equal(outs[1][0].cpu().numpy(), outs[0][0].numpy())
    np.testing.assert_array_equal(outs[1][1].cpu().numpy(), outs[0][1].numpy())


@pytest.mark.parametrize("geom", POOL_GEOMS[1:4] + POOL_GEOMS[5:])
@pytest.mark.parametrize("variant", [(True, None), (False, None), (True, 2)])
def test_avg_pool_matches_cpu(cuda_device, geom, variant):
    shape, k, s, p, _, ceil = geom
    inc, override = variant
    check(lambda a: F.avg_pool2d(a, k, s, p, ceil, inc, override), rnd(*shape, seed=3),
          exact=True)


@pytest.mark.parametrize("out", [(3, 2), 2, (5, 4)])
def test_adaptive_avg_pool_matches_cpu(cuda_device, out):
    check(lambda a: F.adaptive_avg_pool2d(a, out), rnd(2, 3, 7, 5, seed=4))


def test_pool_gradients_deterministic_on_cuda(cuda_device):
    x = minidl.from_numpy(rnd(2, 2, 9, 9, seed=5)).cuda()
    g = minidl.from_numpy(rnd(2, 2, 4, 4, seed=6)).cuda()
    grads = []
    for _ in range(2):
        xx = x.detach().requires_grad_(True)
        F.max_pool2d(xx, 3, 2).backward(g)
        grads.append(xx.grad.cpu().numpy().tobytes())
    assert grads[0] == grads[1]


def test_log_softmax_extreme_logits(cuda_device):
    x = np.array([[1e30, 0.0, -1e30], [80.0, 80.0, 80.0]], np.float32)
    yc = F.log_softmax(minidl.from_numpy(x), -1).numpy()
    yg = F.log_softmax(minidl.from_numpy(x).cuda(), -1).cpu().numpy()
    np.testing.assert_allclose(yg, yc, rtol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(label_smoothing=0.2, reduction="sum"),
                                dict(ignore_index=1, reduction="none")])
def test_cross_entropy_matches_cpu(cuda_device, kw):
    t = np.array([1, 0, 4, 2, 1], np.int64)
    check(lambda a, tt: F.cross_entropy(a, tt, **kw), rnd(5, 9, seed=9), t)
    w = np.linspace(0.5, 2.0, 9).astype(np.float32)
    check(lambda a, tt, ww: F.cross_entropy(a, tt, ww, **kw), rnd(5, 9, seed=9), t, w)


def test_cross_entropy_spatial_and_probs_match_cpu(cuda_device):
    t = np.random.default_rng(10).integers(0, 3, (2, 2, 3))
    check(lambda a, tt: F.cross_entropy(a, tt), rnd(2, 3, 2, 3, seed=10), t)
    p = np.abs(rnd(4, 5, seed=11))
    p /= p.sum(1, keepdims=True)
    check(lambda a, pp: F.cross_entropy(a, pp, label_smoothing=0.1), rnd(4, 5, seed=12), p)
    check(lambda a, tt: F.nll_loss(F.log_softmax(a, 1), tt), rnd(3, 4, seed=13),
          np.array([3, 0, 2], np.int64))


def test_other_losses_match_cpu(cuda_device):
    a, b = rnd(3, 7, seed=14), np.abs(rnd(3, 7, seed=15)) / 3
    check(lambda x, y: F.mse_loss(x, y), a, b)
    check(lambda x, y: F.binary_cross_entropy_with_logits(x, y), a * 4, b)
    pw = np.linspace(0.5, 3, 7).astype(np.float32)
    check(lambda x, y, p: F.binary_cross_entropy_with_logits(x, y, pos_weight=p,
                                                             reduction="sum"), a, b, pw)


def test_batch_norm_running_stats_match_cpu(cuda_device):
    x = rnd(4, 3, 5, seed=17)
    rm_c, rv_c = minidl.zeros(3), minidl.ones(3)
    rm_g, rv_g = minidl.zeros(3).cuda(), minidl.ones(3).cuda()
    F.batch_norm(minidl.from_numpy(x), rm_c, rv_c, training=True)
    F.batch_norm(minidl.from_numpy(x).cuda(), rm_g, rv_g, training=True)
    np.testing.assert_allclose(rm_g.cpu().numpy(), rm_c.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rv_g.cpu().numpy(), rv_c.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_dropout_masks_identical_cpu_cuda(cuda_device, p):
    minidl.manual_seed(42)
    mc = F.dropout(minidl.ones(3, 37), p).numpy()
    mc2 = F.dropout2d(minidl.ones(3, 5, 2, 2), p).numpy()
    minidl.manual_seed(42)
    mg = F.dropout(minidl.ones(3, 37).cuda(), p).cpu().numpy()
    mg2 = F.dropout2d(minidl.ones(3, 5, 2, 2).cuda(), p).cpu().numpy()
    np.testing.assert_array_equal(mg, mc)
    np.testing.assert_array_equal(mg2, mc2)

    def seeded_dropout(a):
        minidl.manual_seed(43)  # the same counters for the CPU and the CUDA run
        return F.dropout(a, p)
    check(seeded_dropout, rnd(2, 9, seed=24), exact=True)


def test_errors_before_launch(cuda_device):
    x = minidl.zeros(1, 3, 5, 5).cuda()
    with pytest.raises(ShapeError, match="pad should be at most half"):
        F.max_pool2d(x, 3, 1, 2)
    with pytest.raises(ShapeError, match="Target 12 is out of bounds."):  # at the next sync
        F.cross_entropy(minidl.zeros(3, 10).cuda(), minidl.tensor([1, 2, 12]).cuda()).item()
