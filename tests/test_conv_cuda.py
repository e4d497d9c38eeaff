"""conv2d on CUDA (numba's simulator or a GPU) against the CPU backend at the kernels' tile
edges (read from minidl.cuda.kernels.conv, so the simulator's tiny tiles are crossed: tile-1 /
tile+1 rows and columns, the thin config, forced split-K) and the device-mismatch error.  The
awkward geometries (groups, stride, dilation, asymmetric "same" padding, unbatched, an empty
batch) are the conv2d op-table row's samples, compared CPU vs CUDA by tests/test_ops_cuda.py.  Each
launch stays at a few hundred threads for the simulator.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -m cuda tests/test_conv_cuda.py
    python -m pytest -q -m ptx tests/ -k conv   # inventory coverage here; tests/test_ptx.py
                                                # compiles each kernel for sm_80 and sm_90
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.errors import DeviceError

_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")


@pytest.fixture(scope="module")
def ck():
    """minidl.cuda.kernels.conv (skips without a GPU or the simulator)."""
    if not minidl.cuda.is_available():
        pytest.skip("no CUDA GPU and NUMBA_ENABLE_CUDASIM is not set")
    from minidl.cuda.kernels import conv

    return conv


def _np(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


def _run(device, x, w, b, kw, g):
    xt = minidl.tensor(x, device=device, requires_grad=True)
    wt = minidl.tensor(w, device=device, requires_grad=True)
    bt = None if b is None else minidl.tensor(b, device=device, requires_grad=True)
    out = F.conv2d(xt, wt, bt, **kw)
    out.backward(minidl.tensor(g, device=device))
    res = [out.detach().cpu().numpy(), xt.grad.cpu().numpy(), wt.grad.cpu().numpy()]
    return res + ([] if bt is None else [bt.grad.cpu().numpy()])


def _check(N, C, H, W, Co, kh, kw, b=True, **kw_):
    groups = kw_.get("groups", 1)
    x, w = _np((N, C, H, W), 1), _np((Co, C // groups, kh, kw), 2)
    bias = _np((Co,), 3) if b else None
    out_shape = F.conv2d(minidl.tensor(x), minidl.tensor(w), None, **kw_).shape
    g = _np(out_shape, 4)
    cpu = _run("cpu", x, w, bias, kw_, g)
    gpu = _run("cuda", x, w, bias, kw_, g)
    for name, a, c in zip(("out", "grad_input", "grad_weight", "grad_bias"), gpu, cpu):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5, err_msg=name)


def _tiles(ck, rows, dtype=np.float32):
    """(BM, BN, BK) of the config the launcher picks for a GEMM with `rows` rows."""
    return ck.config(dtype, rows)[1][:3]


@pytest.mark.cuda
def test_one_past_the_tile(ck):
    """Co = BM + 1 output channels, N*Ho*Wo = BN + 1 pixels, K = C*kh*kw = 2*BK - 1 (wide)."""
    BM, BN, BK = _tiles(ck, 1000)
    _check(1, 2 * BK - 1, 1, BN + 1, BM + 1, 1, 1)


@pytest.mark.cuda
def test_one_short_of_the_tile(ck):
    """Co = BM - 1, pixels = BN - 1, K = BK + 1 (a (BK+1) x 1 kernel on one input channel;
    grad-input then has a single row: the thin config)."""
    BM, BN, BK = _tiles(ck, 1000)
    _check(1, 1, BK + 1, BN - 1, BM - 1, BK + 1, 1, b=False)


@pytest.mark.cuda
def test_thin_tile_edge(ck):
    """Co = thin BM exactly (the largest GEMM still using the thin config), 2 groups."""
    tBM = _tiles(ck, 1)[0]
    _check(2, 2, 3, 4, 2 * tBM, 2, 2, groups=2, padding=(1, 0))


@pytest.mark.cuda
@pytest.mark.parametrize("splits", [1, 3])
def test_grad_weight_split_k_is_deterministic_and_matches(ck, splits, monkeypatch):
    from minidl.cuda.backend import conv as launch

    monkeypatch.setattr(launch, "_force_splits", splits)
    _check(2, 2, 5, 5, 3, 3, 3, padding=1, b=False)
    x = minidl.tensor(_np((2, 2, 5, 5), 1), device="cuda")
    g = minidl.tensor(_np((2, 3, 5, 5), 4), device="cuda")
    B = x._backend
    geo = ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    a = B.conv2d_grad_weight(g._data, x._data, (3, 2, 3, 3), *geo).copy_to_host()
    b = B.conv2d_grad_weight(g._data, x._data, (3, 2, 3, 3), *geo).copy_to_host()
    assert np.array_equal(a, b)


@pytest.mark.cuda
def test_device_mismatch_raises_before_launch(ck):
    x = minidl.zeros(1, 3, 8, 8)
    w = minidl.zeros(4, 3, 3, 3, device="cuda")
    with pytest.raises(DeviceError, match="cpu and cuda:0|cuda:0 and cpu"):
        F.conv2d(x, w)
    with pytest.raises(DeviceError):
        F.conv2d(x.to("cuda"), w, minidl.zeros(4))


@pytest.mark.ptx
def test_inventory_covers_every_launch_config():
    """Every (kernel, dtype, config) the launchers can pick on a GPU is in the PTX inventory
    (so tests/test_ptx.py compiles it for sm_80/sm_90 and fails on spills)."""
    if _SIM:
        pytest.skip("the inventory is collected without the simulator")
    from minidl.cuda import inventory
    from minidl.cuda.kernels import conv

    names = {k[0] for k in inventory.kernels(["minidl.cuda.kernels.conv"])}
    assert "minidl.cuda.kernels.conv" in inventory.KERNEL_MODULES
    for dt in ("float32", "float64"):
        for rows in (1, 16, 17, 1000):
            cname, cfg = conv.config(dt, rows, conv.GPU_CONFIGS)
            tag = f"{dt},{cname}:{'x'.join(map(str, cfg))}"
            for k in ("conv2d_fwd", "conv2d_grad_input", "conv2d_grad_weight"):
                assert f"{k}[{tag}]" in names
        assert f"conv2d_wsum[{dt}]" in names
