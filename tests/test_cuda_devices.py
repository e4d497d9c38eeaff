"""Device selection ("cuda:N", set_device, device_count) and the message when numba-cuda is missing.

The simulator has one device, so cuda:1 is always out of range there; the missing-numba-cuda path
is simulated by patching minidl.cuda's detection (it runs before numba.cuda is imported).
"""
from __future__ import annotations

import sys

import pytest

import minidl
from minidl.device import Device
from minidl.errors import DeviceError

device_mod = sys.modules["minidl.device"]  # (the attribute minidl.device is the Device class)


def test_device_strings_keep_their_index():
    assert Device("cuda:3").index == 3 and str(Device("cuda:3")) == "cuda:3"
    assert Device("cuda", 2) == "cuda:2"
    assert Device("cuda").index == minidl.cuda.current_device() == 0
    with pytest.raises(DeviceError, match="invalid device string"):
        Device("cuda:x")
    with pytest.raises(DeviceError, match="device type"):
        Device("gpu:0")


@pytest.fixture
def no_numba_cuda(monkeypatch):
    monkeypatch.setattr(minidl.cuda, "has_numba_cuda", lambda: False)
    monkeypatch.setattr(device_mod, "_backends", {k: v for k, v in device_mod._backends.items()
                                                  if k != "cuda"})


def test_missing_numba_cuda_is_reported_with_the_install_command(no_numba_cuda):
    hint = 'pip install "minidl[cuda]"'
    assert not minidl.cuda.is_available()
    assert minidl.cuda.device_count() == 0
    assert hint in minidl.cuda.unavailable_reason()
    assert "built-in CUDA target" in minidl.cuda.unavailable_reason()
    with pytest.raises(DeviceError, match=r'pip install "minidl\[cuda\]"'):
        minidl.cuda.require()
    with pytest.raises(DeviceError, match=r'pip install "minidl\[cuda\]"'):
        minidl.zeros(2, device="cuda")
    with pytest.raises(DeviceError, match=r'pip install "minidl\[cuda\]"'):
        minidl.ones(2).to("cuda")


def test_missing_numba_cuda_never_imports_the_builtin_target(no_numba_cuda, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def guard(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "numba" and fromlist and "cuda" in fromlist or name.startswith("numba.cuda"):
            raise AssertionError(f"imported {name} {fromlist} although numba-cuda is missing")
        return real_import(name, globals, locals, fromlist, level)

    monkeypatch.setattr(builtins, "__import__", guard)
    assert minidl.cuda.is_simulator() is False
    assert minidl.cuda.is_available() is False


def test_info_says_how_to_install(no_numba_cuda, capsys):
    from minidl import cli

    rc = cli.main(["info", "--no-ptx"])
    out = capsys.readouterr().out
    assert rc == 0 and 'pip install "minidl[cuda]"' in out
    assert out.count('pip install "minidl[cuda]"') == 1


@pytest.mark.cuda
def test_one_simulated_device(cuda_device):
    assert minidl.cuda.device_count() == 1
    assert minidl.cuda.current_device() == 0
    minidl.cuda.set_device(0)
    minidl.cuda.set_device("cuda:0")
    x = minidl.zeros(2, device="cuda:0")
    assert x.device == "cuda:0" and x.device.index == 0
    assert minidl.cuda.get_device_name(0) == "CUDA simulator"


@pytest.mark.cuda
def test_out_of_range_devices_raise(cuda_device):
    msg = r"invalid device ordinal: cuda:1 requested, but 1 CUDA device is visible \(cuda:0\)"
    with pytest.raises(DeviceError, match=msg):
        minidl.cuda.set_device(1)
    with pytest.raises(DeviceError, match=msg):
        minidl.zeros(2, device="cuda:1")
    with pytest.raises(DeviceError, match=msg):
        minidl.ones(2).to("cuda:1")
    with pytest.raises(DeviceError, match=msg):
        minidl.ones(2).cuda(1)
    with pytest.raises(DeviceError, match=msg):
        minidl.nn.Linear(2, 2).to("cuda:1")
    assert minidl.cuda.current_device() == 0  # a failed selection changes nothing
    with pytest.raises(DeviceError):
        minidl.cuda.get_device_name(5)


@pytest.mark.cuda
def test_mixing_devices_still_raises(cuda_device):
    with pytest.raises(DeviceError):
        minidl.ones(2, device="cuda") + minidl.ones(2)
