"""default_collate's dtype for batches of numbers (issue 9 item 6): PyTorch's rule, with fixed
expectations and, when torch is installed, torch.utils.data.default_collate itself."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl.data import default_collate

# batch -> (minidl dtype, values); PyTorch 2.13 gives the same (float16 / int32 / uint8 are
# stored as minidl's float32 / int64)
CASES = [
    ([1, 2.5], "float32", [1.0, 2.5]),
    ([2.5, 1], "float64", [2.5, 1.0]),
    ([True, 2], "int64", [1, 2]),
    ([2, True], "int64", [2, 1]),
    ([True, False], "bool", [True, False]),
    ([1, 2], "int64", [1, 2]),
    ([1.0, 2.0], "float64", [1.0, 2.0]),
    ([True, 2.5], "float32", [1.0, 2.5]),
    ([2.5, True], "float64", [2.5, 1.0]),
    ([np.float32(1), 2.5], "float32", [1.0, 2.5]),
    ([np.float32(1), np.float64(2.5)], "float64", [1.0, 2.5]),
    ([np.int64(1), 2.5], "float32", [1.0, 2.5]),
    ([1, np.float64(2.5)], "float64", [1.0, 2.5]),
    ([1, np.float32(2.5)], "float32", [1.0, 2.5]),
    ([np.int32(1), 2], "int64", [1, 2]),
    ([np.uint8(1), np.uint8(3)], "int64", [1, 3]),
    ([np.float16(1), 2], "float32", [1.0, 2.0]),
    ([np.bool_(True), np.bool_(False)], "bool", [True, False]),
]


@pytest.mark.parametrize("batch,dtype,values", CASES, ids=[repr(c[0]) for c in CASES])
def test_numbers_promote_like_pytorch(batch, dtype, values):
    out = default_collate(batch)
    assert out.dtype is getattr(minidl, dtype) and out.tolist() == values


def test_nested_samples_promote_per_field():
    out = default_collate([{"y": 0}, {"y": 0.5}])
    assert out["y"].dtype is minidl.float32 and out["y"].tolist() == [0.0, 0.5]
    a, b = default_collate([(1, 2.5), (2.0, 3)])
    assert a.dtype is minidl.float32 and b.dtype is minidl.float64
    assert a.tolist() == [1.0, 2.0] and b.tolist() == [2.5, 3.0]


def test_mixed_non_numbers_raise():
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([1, "a"])


_TORCH_TO_MINIDL = {"float16": "float32", "int32": "int64", "uint8": "int64", "int16": "int64"}


@pytest.mark.parametrize("batch", [c[0] for c in CASES] + [[{"y": 0}, {"y": 0.5}]],
                         ids=[repr(c[0]) for c in CASES] + ["dict"])
def test_matches_torch_default_collate(batch):
    pytest.importorskip("torch")
    from torch.utils.data import default_collate as torch_collate

    want, got = torch_collate(batch), default_collate(batch)
    if isinstance(want, dict):
        want, got = want["y"], got["y"]
    name = str(want.dtype).split(".")[-1]
    assert got.dtype is getattr(minidl, _TORCH_TO_MINIDL.get(name, name))
    assert got.tolist() == want.tolist()
