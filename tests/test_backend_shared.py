"""minidl.backend.shared: the device-neutral helpers both backends compile (the math itself is
covered by the op table and the CPU-vs-CUDA parity tests; these pin the moved helpers'
contracts)."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.backend import cpu
from minidl.backend.shared.dropout import dropout_params, make_keep
from minidl.backend.shared.geometry import avg_window, divisor_arg, pair
from minidl.errors import ShapeError


@pytest.mark.parametrize("value,want", [(3, (3, 3)), ((2,), (2, 2)), ([1, 4], (1, 4)),
                                        (np.int64(5), (5, 5)), ((np.int32(2), 3), (2, 3))])
def test_pair_accepts_ints_and_pairs(value, want):
    assert pair(value, "max_pool2d", "stride") == want


@pytest.mark.parametrize("value", [True, 2.0, (1, 2, 3), (), "2", (1, None), None])
def test_pair_rejects_with_the_op_and_argument_named(value):
    with pytest.raises(ShapeError, match=r"conv2d: padding must be an int or a pair of ints"):
        pair(value, "conv2d", "padding")


def test_avg_window_matches_pytorch_divisor_rules():
    # H = W = 5, kernel 3, stride 2, padding 1: window (0, 0) covers rows/cols -1..1
    args = (5, 5, 3, 3, 2, 2, 1, 1)
    assert avg_window(0, 0, *args, True, 0) == (0, 2, 0, 2, 9)   # padded window counted
    assert avg_window(0, 0, *args, False, 0) == (0, 2, 0, 2, 4)  # only real elements
    assert avg_window(2, 2, *args, False, 0) == (3, 5, 3, 5, 4)
    assert avg_window(1, 1, *args, True, 7) == (1, 4, 1, 4, 7)   # divisor_override wins
    assert divisor_arg(None) == 0 and divisor_arg(7) == 7


def test_dropout_rule_is_a_plain_factory():
    q, scale = dropout_params(0.25, np.float32)
    assert q.dtype == np.float32 and q == np.float32(0.75) and scale == np.float32(1 / 0.75)
    assert dropout_params(1.0, np.float64) == (0.0, 0.0)
    # "compiled" for plain Python, it gives the CPU backend's (numba) mask bit for bit
    keep = make_keep(np.float64, lambda f: f)
    q, scale = dropout_params(0.5, np.float64)
    with np.errstate(over="ignore"):  # uint64 hashing wraps around by design
        mask = [keep(np.uint64(7), np.uint64(3 + i), q, scale) for i in range(64)]
    assert set(mask) == {0.0, 2.0}
    np.testing.assert_array_equal(mask, cpu.dropout_mask((64,), 0.5, 7, 3, np.float64))
