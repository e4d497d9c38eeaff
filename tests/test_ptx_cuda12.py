"""The CUDA 12 PTX tier, and what LeNet-5's first training step compiles.

A kernel of every family (minidl.cuda.toolchains.REPRESENTATIVE) compiles with the CUDA 12
toolchain (PyPI's nvidia-cuda-nvcc-cu12: NVVM, libdevice, ptxas; the test extra installs it beside
numba-cuda[cu13]'s) for sm_80 and sm_90 to PTX ISA 8.x, which CUDA 12 drivers load, and that
toolchain's ptxas assembles it with no spills.  numba-cuda loads one NVVM per process, so every
compile runs in a fresh subprocess (nothing cached between runs).

Runs WITHOUT NUMBA_ENABLE_CUDASIM (the step-kernels helper starts its own simulator process):
    python -m pytest -q -m ptx tests/test_ptx_cuda12.py
"""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ptx

_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ((8, 0), (9, 0))


@pytest.fixture(scope="module")
def toolchains():
    if _SIM:
        pytest.skip("compile_ptx does not work under NUMBA_ENABLE_CUDASIM")
    pytest.importorskip("numba_cuda")
    from minidl.cuda import toolchains

    return toolchains


def test_cuda12_toolchain_compiles_a_kernel_of_every_family(toolchains):
    # one test, so that `pytest -n 2` compiles the set once
    import minidl

    tc = toolchains.find("cuda12")
    if tc is None:
        pytest.skip("CUDA 12 toolchain not installed (pip install nvidia-cuda-nvcc-cu12: the "
                    "test extra)")
    rep = toolchains.compile_kernels(toolchains.REPRESENTATIVE, ARCHS, toolchain="cuda12")
    # CUDA 12's NVVM, libdevice and ptxas did the work
    assert os.path.samefile(rep["nvvm"], tc.nvvm), rep["nvvm"]
    assert os.path.samefile(rep["libdevice"], tc.libdevice), rep["libdevice"]
    assert rep["ptxas"] == tc.ptxas
    assert re.fullmatch(r"12\.\d+", rep["release"]), rep["release"]
    rows = {(r["name"], tuple(r["cc"])): r for r in rep["rows"]}
    assert set(rows) == {(n, cc) for n in toolchains.REPRESENTATIVE for cc in ARCHS}
    for (name, cc), r in rows.items():
        where = f"{name} sm_{cc[0]}{cc[1]} (CUDA {rep['release']}): {r}"
        # a PTX ISA that CUDA 12 drivers load, for the right target
        assert r["isa"][0] == 8, "PTX ISA is not CUDA 12's (8.x) in " + where
        assert minidl.cuda.isa_driver(tuple(r["isa"]))[0] == 12, where
        assert r["target"] == f"sm_{cc[0]}{cc[1]}", where
        # CUDA 12's ptxas assembles it without spills
        assert r["entries"] == 1, where
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, "spills in " + where
        assert r["stack"] == 0, "local-memory stack frame in " + where


def test_the_representative_set_has_a_kernel_of_every_family(toolchains):
    from minidl.cuda import inventory

    module = {n: f.__module__.rsplit(".", 1)[-1] for n, f, _, _ in inventory.kernels()}
    assert set(toolchains.REPRESENTATIVE) <= set(module), "renamed kernels"
    families = {module[n] for n in toolchains.REPRESENTATIVE}
    assert families >= {"elementwise", "reduce", "matmul", "conv", "pool", "lrn", "loss",
                        "dropout", "optim"}
    convs = {n.split("[")[0] for n in toolchains.REPRESENTATIVE if module[n] == "conv"}
    assert convs == {"conv2d_fwd", "conv2d_grad_input", "conv2d_grad_weight"}


def test_default_toolchain_links_its_own_libdevice(toolchains):
    # with nvidia-cuda-nvcc-cu12 installed, numba-cuda alone would link CUDA 12's libdevice into
    # CUDA 13 NVVM output; minidl.cuda.ptx puts back the libdevice of the NVVM it loaded
    rep = toolchains.compile_kernels(["map_contig[tanh,float32]"], archs=((8, 0),))
    nvvm, lib = os.path.realpath(rep["nvvm"]), os.path.realpath(rep["libdevice"])
    kit = os.path.dirname(os.path.dirname(nvvm))  # nvidia/cu13, nvidia/cuda_nvcc/nvvm, ...
    assert os.path.commonpath([kit, lib]) == kit, (nvvm, lib)
    if rep["toolchain"] == "cuda13":
        assert rep["rows"][0]["isa"][0] == 9


def test_first_training_step_of_lenet5_kernel_set(toolchains):
    names = toolchains.step_kernels("lenet5", "paper", 64)
    assert not [n for n in names if n.startswith("?")], names
    assert len(names) == len(set(names)) >= 20
    stems = {n.split("[")[0] for n in names}
    assert stems >= {"conv2d_fwd", "conv2d_grad_input", "conv2d_grad_weight", "matmul",
                     "ce_fwd", "ce_bwd", "avg_pool_fwd", "avg_pool_bwd", "optim.sgd"}
    # every name is compilable: the inventory lists it (or it is a strided map of another rank)
    from minidl.cuda import inventory

    listed = {n for n, *_ in inventory.kernels()}
    assert all(n in listed or n.startswith("map_strided[") for n in names)


@pytest.mark.slow
def test_info_reports_the_first_step_compile_time():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    res = subprocess.run([sys.executable, "-m", "minidl.cli", "info", "--no-ptx",
                          "--compile-time"], env=env, capture_output=True, text=True, cwd=ROOT,
                         timeout=600)
    assert res.returncode == 0, res.stderr
    m = re.search(r"first training step of LeNet-5 compiles (\d+) kernels in ([\d.]+) s",
                  res.stdout)
    assert m, res.stdout
    assert int(m.group(1)) >= 20 and float(m.group(2)) > 0
    assert "not in the inventory" not in res.stdout


def test_info_compile_time_without_numba_cuda_says_so(monkeypatch, capsys):
    import minidl
    from minidl import cli

    monkeypatch.setattr(minidl.cuda, "has_numba_cuda", lambda: False)
    assert cli.main(["info", "--no-ptx", "--compile-time"]) == 0
    out = capsys.readouterr().out
    assert "first-step compile time: not measured (needs numba-cuda" in out
    assert out.count('pip install "minidl[cuda]"') == 1
