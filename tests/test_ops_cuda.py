"""CUDA parity tests generated from the op table: for every row with supports_cuda and every
sample, the CUDA backend (numba's simulator under NUMBA_ENABLE_CUDASIM=1, or a real GPU) must
give the CPU backend's forward values and input gradients in float32.

Samples are built twice by the row's `sample_inputs`, once per device, from the same seeds: the
values match, and permuted/sliced inputs are produced on the device itself.  Sizes are awkward
but small (1, 15, 17, 31, 33; 17x33 @ 33x15): the simulator runs every GPU thread as a Python
thread.  Skipped (with the reason) when minidl.cuda.is_available() is False."""
from __future__ import annotations

import pytest

import minidl
from minidl.testing import assert_close
from minidl.testing.opinfo import OP_DB, OpInfo, make_tensor

pytestmark = pytest.mark.cuda

CUDA_ROWS = [o for o in OP_DB if o.supports_cuda]


def _outputs(out) -> tuple:
    return tuple(out) if isinstance(out, tuple) else (out,)


def _params():
    params = []
    for op in CUDA_ROWS:
        dtype = minidl.float32 if minidl.float32 in op.dtypes else op.dtypes[0]
        for i, s in enumerate(op.sample_inputs("cpu", dtype, op.differentiable)):
            params.append(pytest.param(op, dtype, i, id=f"{op.name}-{s.name}"))
    return params


def tolerances(op: OpInfo) -> tuple[float, float]:
    """(rtol, atol) for CUDA float32 vs CPU float32: summation orders differ between backends."""
    return max(op.rtol, 1e-4), max(op.atol, 1e-4)


@pytest.mark.parametrize("op,dtype,i", _params())
def test_cuda_matches_cpu(op, dtype, i, cuda_device):
    rg = op.differentiable and dtype.is_floating_point
    cpu = op.sample_inputs("cpu", dtype, rg)[i]
    gpu = op.sample_inputs(cuda_device, dtype, rg)[i]
    where = f"{op.name}[{cpu.name}]"
    for t in gpu.tensors():
        assert t.device.type == "cuda", f"{where}: sample_inputs ignored the device"
    out_c = _outputs(op.op(*cpu.args, **cpu.kwargs))
    out_g = _outputs(op.op(*gpu.args, **gpu.kwargs))
    rtol, atol = tolerances(op)
    assert len(out_c) == len(out_g)
    for k, (c, g) in enumerate(zip(out_c, out_g)):
        assert g.device.type == "cuda", f"{where}: output {k} on {g.device}"
        assert g.dtype is c.dtype and g.shape == c.shape, f"{where}: output {k}"
        assert_close(g.cpu().detach(), c.detach(), rtol=rtol, atol=atol,
                     msg=f"{where}: forward output {k}")
    if not rg:
        return
    ins_c = [t for t in cpu.tensors() if t.requires_grad]
    ins_g = [t for t in gpu.tensors() if t.requires_grad]
    diff = [k for k, o in enumerate(out_c) if o.requires_grad]
    if not ins_c or not diff:
        return
    # the same random cotangent on both devices, so every input gradient is exercised
    cots_c = [make_tensor(out_c[k].shape, "cpu", dtype, seed=100 + k) for k in diff]
    cots_g = [c.to(cuda_device) for c in cots_c]
    gc = minidl.autograd.grad([out_c[k] for k in diff], ins_c, cots_c, allow_unused=True)
    gg = minidl.autograd.grad([out_g[k] for k in diff], ins_g, cots_g, allow_unused=True)
    for j, (a, b) in enumerate(zip(gc, gg)):
        assert (a is None) == (b is None), f"{where}: gradient {j} is None on one device only"
        if a is None:
            continue
        assert b.device.type == "cuda" and b.shape == a.shape and b.dtype is a.dtype
        assert_close(b.cpu(), a, rtol=rtol, atol=atol, msg=f"{where}: gradient of input {j}")


@pytest.mark.parametrize("op", [o for o in CUDA_ROWS if o.error_inputs is not None],
                         ids=lambda o: o.name)
def test_cuda_error_inputs(op, cuda_device):
    for e in op.error_inputs(cuda_device):
        with pytest.raises(e.error, match=e.match):
            op.op(*e.args, **e.kwargs)
            minidl.cuda.synchronize()  # device-side checks (target range) report at a sync


def test_mixed_devices_raise(cuda_device):
    a = minidl.ones(2, 3)
    b = minidl.ones(2, 3, device=cuda_device)
    idx = minidl.zeros(2, 1, dtype=minidl.int64)
    for fn in (lambda: a + b, lambda: b * a, lambda: minidl.matmul(a, b.T),
               lambda: minidl.where(a > 0, a, b), lambda: minidl.cat([a, b]),
               lambda: b.gather(1, idx), lambda: minidl.maximum(a, b)):
        with pytest.raises(minidl.DeviceError, match="same device"):
            fn()


def test_cuda_rows_exist():
    assert {"add", "matmul", "sum", "softmax", "getitem"} <= {o.name for o in CUDA_ROWS}
