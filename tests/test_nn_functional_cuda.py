"""minidl.nn.functional on CUDA (numba's simulator without a GPU) against the CPU backend, float32,
beyond the op table's CUDA parity (tests/test_ops_cuda.py runs every nn row within tolerances:
pooling, LRN, softmax, activations, batch/layer norm, linear, every loss and its reductions,
weights, spatial and probability targets; tests/test_numerics.py has the NaN/inf windows):
pooling bit for bit on the table's own samples (values, indices and gradients), deterministic
pooling gradients, extreme logits, batch norm's running statistics, and the same dropout masks
as the CPU for the same seed.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -m cuda tests/test_nn_functional_cuda.py
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.testing.opinfo import make_tensor, op_by_name

pytestmark = pytest.mark.cuda


def rnd(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("row", ["max_pool2d", "max_pool2d_with_indices", "avg_pool2d"])
def test_pooling_is_bit_identical_to_cpu(cuda_device, row):
    """The op table's pooling samples (dilation, ceil_mode, padding, count_include_pad,
    divisor_override, a plane wider than one simulator block), compared exactly: values,
    indices and input gradients."""
    op = op_by_name(row)
    for c, g in zip(op.sample_inputs("cpu", minidl.float32, True),
                    op.sample_inputs(cuda_device, minidl.float32, True)):
        outs = []
        for s in (c, g):
            y = op.op(*s.args, **s.kwargs)
            y, idx = y if isinstance(y, tuple) else (y, None)
            y.backward(make_tensor(y.shape, s.args[0].device.type, minidl.float32, seed=1))
            outs.append([y.detach().cpu().numpy(), s.args[0].grad.cpu().numpy()]
                        + ([] if idx is None else [idx.cpu().numpy()]))
        for a, b in zip(*outs):
            np.testing.assert_array_equal(b, a, err_msg=f"{row}[{c.name}]")


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
    out = []
    for dev in ("cpu", cuda_device):
        minidl.manual_seed(42)
        m = F.dropout(minidl.ones(3, 37, device=dev), p).cpu().numpy()
        m2 = F.dropout2d(minidl.ones(3, 5, 2, 2, device=dev), p).cpu().numpy()
        minidl.manual_seed(43)  # the same counters: values and gradients of a real input
        x = minidl.tensor(rnd(2, 9, seed=24), device=dev, requires_grad=True)
        y = F.dropout(x, p)
        y.backward(minidl.tensor(rnd(2, 9, seed=25), device=dev))
        out.append((m, m2, y.detach().cpu().numpy(), x.grad.cpu().numpy()))
    for a, b in zip(*out):
        np.testing.assert_array_equal(b, a)
