"""dropout / dropout2d on the CPU: inverted scaling, keep rate within a binomial bound, masks
equal to the counter-based stream (so CUDA, which tests/test_nn_functional_cuda.py pins to the
CPU, draws the same ones), reproducibility under manual_seed and resumption from (seed, offset),
gradients, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minidl
import minidl.nn.functional as F
from minidl.backend.shared.counter_rng import bits64
from minidl.errors import ShapeError
from minidl.testing.gradcheck import gradcheck


def ref_mask(n, p, seed, offset, dtype=np.float32):
    """The mask straight from the hash: keep where uniform < 1 - p (numpy only, no numba)."""
    with np.errstate(over="ignore"):
        b = bits64(np.uint64(seed), np.arange(n, dtype=np.uint64) + np.uint64(offset))
    if dtype == np.float32:
        u = (b >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    else:
        u = (b >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    q = dtype(1.0 - p)
    return np.where(u < q, dtype(1.0 / q), dtype(0)).astype(dtype)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_and_scaling(p):
    minidl.manual_seed(123)
    n = 200_000
    y = F.dropout(minidl.ones(n), p).numpy()
    kept = int((y != 0).sum())
    # binomial(n, 1-p): 6 standard deviations
    assert abs(kept - n * (1 - p)) < 6 * math.sqrt(n * p * (1 - p))
    np.testing.assert_allclose(np.unique(y), [0.0, np.float32(1 / (1 - p))], rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mask_is_the_counter_stream(dtype):
    minidl.manual_seed(7)
    minidl.rand(5)  # advance the offset: the mask starts at counter 5
    x = minidl.from_numpy(np.ones((3, 11), dtype))
    y = F.dropout(x, 0.4).numpy()
    np.testing.assert_array_equal(y.reshape(-1), ref_mask(33, 0.4, 7, 5, dtype))
    assert minidl.random.default_generator.get_state()[1] == 5 + 33


def test_reproducible_and_resumable():
    minidl.manual_seed(0)
    a = F.dropout(minidl.ones(4, 9), 0.5).numpy()
    state = minidl.get_rng_state()
    b = F.dropout(minidl.ones(4, 9), 0.5).numpy()
    minidl.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(minidl.ones(4, 9), 0.5).numpy(), a)
    minidl.set_rng_state(state)
    np.testing.assert_array_equal(F.dropout(minidl.ones(4, 9), 0.5).numpy(), b)
    assert not np.array_equal(a, b)


def test_dropout2d_drops_whole_channels():
    minidl.manual_seed(1)
    y = F.dropout2d(minidl.ones(8, 16, 3, 4), 0.5).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert (per_channel.min(-1) == per_channel.max(-1)).all()
    np.testing.assert_array_equal(per_channel[..., 0].reshape(-1), ref_mask(128, 0.5, 1, 0))
    y3 = F.dropout2d(minidl.ones(2, 5, 7), 0.5).numpy()  # [N, C, L]
    assert (y3.min(-1) == y3.max(-1)).all()


def test_eval_mode_and_edge_probabilities():
    x = minidl.randn(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((3, 4), np.float32))


def test_gradient_is_the_mask():
    minidl.manual_seed(3)
    x = minidl.randn(5, 6, dtype=minidl.float64, requires_grad=True)
    y = F.dropout(x, 0.3)
    y.backward(minidl.ones_like(y))
    np.testing.assert_array_equal(x.grad.numpy().reshape(-1), ref_mask(30, 0.3, 3, 30, np.float64))

    def fixed_seed_dropout(a):
        minidl.manual_seed(4)
        return F.dropout(a, 0.3)
    assert gradcheck(fixed_seed_dropout, (x,))


def test_inplace():
    minidl.manual_seed(5)
    x = minidl.ones(4, 4)
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x and set(np.unique(x.numpy())) <= {0.0, 2.0}


def test_errors():
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but "
                                         "got 1.5"):
        F.dropout(minidl.ones(3), 1.5)
    with pytest.raises(ShapeError, match=r"dropout2d: expected a 3D \[N, C, L\] or 4D"):
        F.dropout2d(minidl.ones(3, 4), 0.5)
