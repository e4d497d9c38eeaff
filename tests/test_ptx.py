"""Every CUDA kernel in minidl.cuda.inventory compiles to PTX for sm_80 and sm_90 with the exact
numba signatures its launcher uses, and ptxas reports no register spills.

Runs WITHOUT NUMBA_ENABLE_CUDASIM (the simulator has no compiler), no GPU needed:
    python -m pytest -q -m ptx tests/test_ptx.py -n 2
"""
from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.ptx

ARCHS = ((8, 0), (9, 0))
_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")

# float32 kernels must not compute in float64 (numba's lazy typing promotes bare float literals);
# the exception is libdevice's own cosf, whose never-taken large-argument path uses a double.
_F64_ALLOWED = {"rand_normal[float32]"}
# Local-memory stack frames (not spills): libdevice's double cos keeps its Payne-Hanek
# reduction buffer on the stack.
_STACK_ALLOWED = {"rand_normal[float64]"}
# Register budgets: grid-stride elementwise-style kernels must stay small enough for full
# occupancy; the matmul kernel is capped by its launch_bounds (256 threads, 2 blocks per SM).
_REG_LIMIT = {"matmul": 128, "reduce": 64, "arg_reduce": 64}
# the implicit-GEMM conv kernels tile like matmul, capped by launch_bounds(256, 2)
_REG_LIMIT.update(dict.fromkeys(("conv2d_fwd", "conv2d_grad_input", "conv2d_grad_weight"), 128))
# fused cross-entropy: float64 libdevice exp + log in one kernel take 67-72 registers on sm_90
# (float32: 48-53), still 3 blocks of 256 threads per SM
_REG_LIMIT.update(dict.fromkeys(("ce_fwd", "ce_bwd"), 80))
_REG_DEFAULT = 64


def _inventory():
    if _SIM:
        return []
    from minidl.cuda import inventory

    return inventory.kernels()


_KERNELS = _inventory()


@pytest.fixture(scope="module")
def ptx():
    if _SIM:
        pytest.skip("compile_ptx does not work under NUMBA_ENABLE_CUDASIM")
    from minidl.cuda import ptx

    if ptx.ptxas_path() is None:
        pytest.skip('ptxas not found (pip install "nvidia-cuda-nvcc")')
    return ptx


def _reg_limit(name: str) -> int:
    return _REG_LIMIT.get(name.split("[")[0], _REG_DEFAULT)


@pytest.mark.parametrize("entry", _KERNELS, ids=[k[0] for k in _KERNELS])
def test_kernel_compiles_without_spills(ptx, entry):
    name, pyfunc, sig, options = entry
    for cc in ARCHS:
        r = ptx.check(name, pyfunc, sig, cc, options)
        where = f"{name} sm_{cc[0]}{cc[1]}: {r['log']}"
        assert r["entries"] == 1, where
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, "spills in " + where
        if name not in _STACK_ALLOWED:
            assert r["stack"] == 0, "local-memory stack frame in " + where
        assert r["registers"] <= _reg_limit(name), where
        if "float64" not in r["sig"] and name not in _F64_ALLOWED:
            assert r["f64_ops"] == 0, f"{name}: float64 instructions in a float32 kernel"


def test_inventory_covers_the_launchers():
    if _SIM:
        pytest.skip("inventory is collected without the simulator")
    from minidl.backend.shared import scalar
    from minidl.cuda.kernels.elementwise import map_dtypes

    names = {k[0] for k in _KERNELS}
    for fn in scalar.FUNCTIONS:
        for dt in map_dtypes(fn):
            assert f"map_contig[{fn},{dt}]" in names
            assert any(n.startswith(f"map_strided[{fn},{dt},") for n in names)
    for dt in ("float32", "float64", "int64", "bool"):
        for fam in ("fill", "take", "index_add", "put"):
            assert f"{fam}[{dt}]" in names
        assert any(n.startswith(f"strided_copy[{dt},") for n in names)
        assert any(n.startswith(f"strided_add[{dt},") for n in names)
        for red in ("sum", "max", "min"):
            assert f"reduce[{red},{dt}]" in names
        for red in ("argmax", "argmin"):
            assert f"arg_reduce[{red},{dt}]" in names
    for dt in ("float32", "float64"):
        assert any(n.startswith(f"matmul[{dt},") for n in names)
        assert f"rand_uniform[{dt}]" in names and f"rand_normal[{dt}]" in names


def test_parse_ptxas_report():
    from minidl.cuda.ptx import parse_ptxas

    log = """ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z1kPf' for 'sm_80'
ptxas info    : Function properties for _Z1kPf
    16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Used 40 registers, used 1 barriers, 8256 bytes smem, 392 bytes cmem[0]
"""
    r = parse_ptxas(log)
    assert (r["registers"], r["smem"], r["stack"], r["spill_stores"], r["spill_loads"],
            r["cmem0"], r["barriers"], r["entries"]) == (40, 8256, 16, 8, 4, 392, 1, 1)
