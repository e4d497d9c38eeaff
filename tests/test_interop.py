"""Zero-copy interop: DLPack on the CPU (numpy, PyTorch), __cuda_array_interface__ and numba
device arrays under the simulator.  Each round trip checks values and that a write through one
side is seen by the other."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl.errors import DTypeError, ShapeError


def test_numpy_reads_a_tensor_without_copy():
    t = minidl.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    a = np.from_dlpack(t)
    assert a.dtype == np.float32 and a.shape == (2, 3)
    a[0, 0] = 9.0
    assert t[0, 0].item() == 9.0
    assert t.__dlpack_device__() == (1, 0)


def test_from_dlpack_shares_numpy_memory():
    a = np.arange(6, dtype=np.int64).reshape(2, 3)
    t = minidl.from_dlpack(a)
    assert t.dtype == minidl.int64 and t.shape == (2, 3) and t.device == "cpu"
    a[1, 2] = 42
    assert t[1, 2].item() == 42
    t.add_(1)
    assert a[0, 0] == 1
    b = minidl.from_dlpack(np.array([True, False]))
    assert b.dtype == minidl.bool_


@pytest.mark.parametrize("dtype", ["float64", "bool"])
def test_round_trip_keeps_dtype(dtype):
    t = minidl.tensor([1, 0, 1], dtype=getattr(minidl, "bool_" if dtype == "bool" else dtype))
    back = minidl.from_dlpack(np.from_dlpack(t))
    assert back.dtype == t.dtype and back.tolist() == t.tolist()
    assert np.shares_memory(back.numpy(), t.numpy())


def test_torch_round_trips_share_memory():
    torch = pytest.importorskip("torch")
    t = minidl.tensor([1.0, 2.0, 3.0])
    tt = torch.from_dlpack(t)
    tt[1] = -5.0
    assert t.tolist() == [1.0, -5.0, 3.0]
    src = torch.arange(4, dtype=torch.float64)
    m = minidl.from_dlpack(src)
    src[0] = 7.0
    assert m.dtype == minidl.float64 and m.tolist() == [7.0, 1.0, 2.0, 3.0]
    m.mul_(2)
    assert src.tolist() == [14.0, 2.0, 4.0, 6.0]


def test_errors():
    with pytest.raises(ShapeError, match="C-contiguous"):
        minidl.from_dlpack(np.zeros((3, 4), np.float32).T)
    with pytest.raises(DTypeError, match="int32"):
        minidl.from_dlpack(np.zeros(3, np.int32))
    with pytest.raises(TypeError, match="__dlpack__"):
        minidl.from_dlpack([1, 2])
    with pytest.raises(RuntimeError, match="requires grad"):
        np.from_dlpack(minidl.ones(2, requires_grad=True))
    assert not hasattr(minidl.ones(2), "__cuda_array_interface__")


# ---- the simulator tier ------------------------------------------------------------------------
@pytest.mark.cuda
def test_cuda_array_interface_describes_the_storage(cuda_device):
    t = minidl.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")
    cai = t.__cuda_array_interface__
    assert cai["shape"] == (2, 2) and cai["typestr"] == "<f4" and cai["version"] == 3
    assert t.__dlpack_device__() == (2, 0)
    view = minidl.from_dlpack(_Producer(cai, t))  # a consumer reading only the interface
    assert view.device == "cuda:0" and view.tolist() == t.tolist()
    t.add_(10.0)
    assert view.tolist() == [[11.0, 12.0], [13.0, 14.0]]
    with pytest.raises(BufferError, match="__cuda_array_interface__"):
        t.__dlpack__()
    with pytest.raises(RuntimeError, match="requires grad"):
        minidl.ones(2, device="cuda", requires_grad=True).__cuda_array_interface__


class _Producer:
    def __init__(self, cai, owner):
        self.__cuda_array_interface__ = cai
        self.owner = owner


@pytest.mark.cuda
def test_numba_device_arrays_are_shared(cuda_device):
    from numba import cuda

    arr = cuda.to_device(np.arange(5, dtype=np.float64))
    t = minidl.from_dlpack(arr)
    assert t.device == "cuda:0" and t.dtype == minidl.float64
    arr[0] = 100.0  # write through numba
    assert t[0].item() == 100.0
    t.mul_(2.0)  # write through minidl
    np.testing.assert_array_equal(arr.copy_to_host(), [200.0, 2.0, 4.0, 6.0, 8.0])
    with pytest.raises(DTypeError, match="int32"):
        minidl.from_dlpack(cuda.to_device(np.zeros(2, np.int32)))


def test_strided_view_is_not_exported():
    t = minidl.arange(6.0).reshape(2, 3).t()
    with pytest.raises(ShapeError, match="non-contiguous view"):
        t.__dlpack__()
    np.testing.assert_array_equal(np.from_dlpack(t.contiguous()), np.arange(6.0).reshape(2, 3).T)
