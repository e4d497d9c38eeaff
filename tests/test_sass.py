"""The GEMM-like CUDA kernels (matmul, conv2d forward / grad-input / grad-weight) judged by their
SASS, and executed once at their real GPU tile sizes.

PTX tier (marked `ptx`, WITHOUT NUMBA_ENABLE_CUDASIM, no GPU): each float32 kernel the
launchers can pick is compiled for sm_90 and sm_80 with its launch signature, assembled with
`ptxas -O3`, disassembled with `nvdisasm`; the hot loop (the back-edge region with the most
FFMA, minidl.cuda.ptx.hot_loop) must be at least MIN_SHARE FFMA, with no spills and at least
512 resident threads (16 warps) per SM.  The table the test prints is the one in
docs/kernels.md (`python bench/ptx_report.py --sass`).  Missing ptxas/nvdisasm is a failure:
they come with the test extra.

    python -m pytest -q -m ptx tests/test_sass.py -s

Simulator tier (marked `cuda` and `slow`, NUMBA_ENABLE_CUDASIM=1): the launchers forced to each
real GPU config (128x128x8 "big", 64x64 "wide", 16x128x16 "thin"; the simulator otherwise
shrinks the tiles) on the smallest problems that cross every edge of one tile (rows BM + 1,
columns BN + 1, a reduction of two full tiles and a partial one), against the CPU backend.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q -m cuda tests/test_sass.py
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from minidl.backend import cpu as C

_SIM = os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
_GEMMS = ("matmul", "conv2d_fwd", "conv2d_grad_input", "conv2d_grad_weight")
# Minimum sm_90 hot-loop FFMA share per (kernel, config), a little under what every variant
# reaches (tap masks or ",bounds", bias or not; docs/kernels.md has the numbers).  The goal of
# issue 12, 70%, is met by every "big" 128x128 and "wide" 64x64 tile (unit-stride for
# grad-input).  The "thin" 16-row tiles give each gathered element of B only 16 FFMA, which
# caps them near 55% (docs/kernels.md, "Why thin and the strided grad-input stay below 70%").
MIN_SHARE = {
    ("matmul", "big"): 0.80, ("matmul", "wide"): 0.70,
    ("conv2d_fwd", "big"): 0.78, ("conv2d_fwd", "wide"): 0.70, ("conv2d_fwd", "thin"): 0.49,
    ("conv2d_grad_input", "big"): 0.72, ("conv2d_grad_input", "wide"): 0.70,
    ("conv2d_grad_input", "thin"): 0.49,
    ("conv2d_grad_weight", "big"): 0.77, ("conv2d_grad_weight", "wide"): 0.70,
    ("conv2d_grad_weight", "thin"): 0.48,
}
# the strided grad-input (no ",s1"): the stride remainder decode per tile, and (",bounds") the
# remainder test per gathered element
MIN_SHARE_STRIDED = {"wide": 0.61, "thin": 0.42}
MIN_THREADS_PER_SM = 512


def _gemm_kernels():
    if _SIM:
        return []
    from minidl.cuda import inventory

    return [k for k in inventory.kernels(["minidl.cuda.kernels.matmul",
                                          "minidl.cuda.kernels.conv"])
            if k[0].split("[")[0] in _GEMMS and "[float32," in k[0]]


_KERNELS = _gemm_kernels()


def _config_name(kernel_name: str) -> str:
    """"conv2d_fwd[float32,big:128x128x8x8x8]" -> "big"."""
    return kernel_name.split(",")[1].split(":")[0]


@pytest.fixture(scope="module")
def ptx():
    if _SIM:
        pytest.skip("compile_ptx does not work under NUMBA_ENABLE_CUDASIM")
    from minidl.cuda import ptx

    if ptx.ptxas_path() is None or ptx.nvdisasm_path() is None:
        pytest.fail("ptxas/nvdisasm not found: pip install nvidia-cuda-nvcc "
                    "nvidia-cuda-nvdisasm (both are in minidl's test extra)")
    return ptx


@pytest.mark.ptx
@pytest.mark.parametrize("entry", _KERNELS, ids=[k[0] for k in _KERNELS])
def test_gemm_inner_loop_is_ffma(ptx, entry):
    name, pyfunc, sig, options = entry
    threads = options["launch_bounds"][0]
    rows = [ptx.sass_check(name, pyfunc, sig, cc, options, threads=threads)
            for cc in ((9, 0), (8, 0))]
    print("\n" + ptx.sass_markdown(rows))
    for r in rows:
        where = f"{name} sm_{r['cc'][0]}{r['cc'][1]}"
        assert r["spill_stores"] == 0 and r["spill_loads"] == 0, f"spills in {where}"
        assert r["blocks_per_sm"] * threads >= MIN_THREADS_PER_SM, (
            f"{where}: {r['registers']} registers, {r['smem']} B shared: only "
            f"{r['blocks_per_sm']} blocks of {threads} per SM")
    loop = rows[0]["loop"]
    assert loop, f"{name}: no loop with FFMA in its sm_90 SASS"
    cname = _config_name(name)
    strided = name.startswith("conv2d_grad_input") and ",s1" not in name
    want = MIN_SHARE_STRIDED[cname] if strided else MIN_SHARE[(name.split("[")[0], cname)]
    assert loop["share"] >= want, (
        f"{name} sm_90: hot loop {loop['ffma']} FFMA of {loop['instructions']} instructions "
        f"({loop['share']:.0%} < {want:.0%}): {loop['histogram']}")


@pytest.mark.ptx
def test_every_gemm_config_is_checked():
    """The SASS test covers every float32 config the launchers can pick (incl. grad-input's
    unit-stride variant)."""
    if _SIM:
        pytest.skip("the inventory is collected without the simulator")
    from minidl.cuda.kernels import conv, matmul

    names = {k[0] for k in _KERNELS}
    for cname, cfg in matmul.GPU_CONFIGS["float32"].items():
        assert f"matmul[float32,{cname}:{'x'.join(map(str, cfg))}]" in names
    for cname, cfg in conv.GPU_CONFIGS["float32"].items():
        tag = f"float32,{cname}:{'x'.join(map(str, cfg))}"
        for k in ("conv2d_fwd", "conv2d_grad_weight"):
            assert f"{k}[{tag}]" in names
        assert f"conv2d_grad_input[{tag},s1]" in names
        assert (f"conv2d_grad_input[{tag}]" in names) == (cname != "big")
        # kernels of more than MAX_MASK_TAPS taps: bounds tests instead of tap masks
        assert f"conv2d_fwd[{tag},bounds]" in names
        assert (f"conv2d_grad_input[{tag},s1,bounds]" in names) == (cname != "big")


_SASS = """
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   LDS.128 R4, [R2] ;
        /*0020*/                   FFMA R8, R4, R5, R8 ;
        /*0030*/                   FFMA R9, R4, R6, R9 ;
        /*0040*/              @P0 BRA `(.L_x_0) ;
        /*0050*/                   NOP ;
.L_x_1:
        /*0060*/                   FFMA R8, R4, R5, R8 ;
        /*0070*/                   IADD3 R2, R2, 0x4, RZ ;
        /*0080*/                   IADD3 R3, R3, 0x4, RZ ;
        /*0090*/                   BRA `(.L_x_1) ;
"""


def test_hot_loop_and_occupancy_arithmetic():
    from minidl.cuda.ptx import hot_loop, occupancy

    lp = hot_loop(_SASS)
    assert (lp["instructions"], lp["ffma"], lp["range"]) == (4, 2, (0x10, 0x40))
    assert lp["histogram"] == {"FFMA": 2, "LDS.128": 1, "BRA": 1}
    assert hot_loop("        /*0000*/   EXIT ;\n") == {}
    # 128 registers x 256 threads = 32K registers: 2 blocks of 64K; 129 rounds up to 136
    assert occupancy(128, 16896, 256, (9, 0)) == 2
    assert occupancy(129, 0, 256, (9, 0)) == 1
    assert occupancy(32, 0, 256, (9, 0)) == 8  # thread limit: 2048 / 256
    assert occupancy(32, 100 * 1024, 128, (8, 0)) == 1  # shared memory: 164 KiB per SM


# ---- the real GPU tile sizes in the simulator ---------------------------------------------------
@pytest.fixture(scope="module")
def G():
    if not _SIM:
        pytest.skip("runs the GPU tile configs under NUMBA_ENABLE_CUDASIM=1")
    import minidl.cuda

    if not minidl.cuda.is_available():
        pytest.skip("numba-cuda is not installed")
    from minidl.cuda import backend

    return backend


def _force(monkeypatch, module, name):
    """Make the launchers of a kernel module pick GPU config `name` for every problem."""
    table = module.GPU_CONFIGS
    monkeypatch.setattr(module, "config",
                        lambda dtype, *a, **k: (name, table[str(np.dtype(dtype))][name]))
    return table["float32"][name]


def _rand(shape, seed):
    return np.random.default_rng(seed).uniform(-1, 1, size=shape).astype(np.float32)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("name", ["big", "wide"])
def test_matmul_at_gpu_tiles(G, monkeypatch, name):
    from minidl.cuda.kernels import matmul

    BM, BN, BK = _force(monkeypatch, matmul, name)[:3]
    a, b = _rand((1, BM + 1, 2 * BK + 1), 1), _rand((1, 2 * BK + 1, BN + 1), 2)
    _close(G.to_numpy(G.matmul(G.from_numpy(a), G.from_numpy(b))), C.matmul(a, b))


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("name", ["big", "wide"])
@pytest.mark.parametrize("trans", [(False, True), (True, False)], ids=["NT", "TN"])
def test_addmm_transposed_with_bias_at_gpu_tiles(G, monkeypatch, name, trans):
    """The transpose variants (Linear's forward x @ W^T and weight gradient g^T @ x) with the
    bias epilogue, crossing every tile edge."""
    from minidl.cuda.kernels import matmul

    BM, BN, BK = _force(monkeypatch, matmul, name)[:3]
    M, K, N = BM + 1, 2 * BK + 1, BN + 1
    ta, tb = trans
    a = _rand((K, M) if ta else (M, K), 1)
    b = _rand((N, K) if tb else (K, N), 2)
    bias = _rand((N,), 3)
    got = G.addmm(G.from_numpy(bias), G.from_numpy(a), G.from_numpy(b), ta, tb)
    _close(G.to_numpy(got), C.addmm(bias, a, b, ta, tb))


def _geo(stride=1, pad=(1, 1)):
    return (stride, stride), ((pad[0], pad[0]), (pad[1], pad[1])), (1, 1), 1


# Per config, the smallest geometries whose GEMM (rows x cols, reduction) is
# (BM+1) x (BN+1) with a reduction of two tiles and a bit, for each kernel.
_CONV = {
    "big": {"fwd": ((1, 2, 3, 43), (129, 2, 3, 3)),          # 129 x 129, K 18
            "grad_input": ((1, 129, 3, 43), (2, 129, 3, 3), 1),  # 129 x 129, K 18
            "grad_weight": ((1, 43, 17, 1), (129, 43, 3, 1))},   # 129 x 129, P 17
    "wide": {"fwd": ((1, 8, 5, 13), (65, 8, 3, 3)),           # 65 x 65, K 72
             "grad_input": ((1, 65, 5, 13), (8, 65, 3, 3), 2),  # 65 x 65, K 72, stride 2
             "grad_weight": ((1, 65, 63, 1), (65, 65, 1, 1))},  # 65 x 65, P 65
    "thin": {"fwd": ((1, 4, 3, 43), (17, 4, 3, 3)),           # 17 x 129, K 36
             "grad_input": ((1, 17, 3, 43), (4, 17, 3, 3), 2),  # 17 x 129, K 36, stride 2
             "grad_weight": ((1, 43, 33, 1), (17, 43, 3, 1))},  # 17 x 129, P 33
}


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("name", list(_CONV))
@pytest.mark.parametrize("kernel", ["fwd", "grad_input", "grad_weight"])
def test_conv_at_gpu_tiles(G, monkeypatch, name, kernel):
    from minidl.cuda.backend import conv as launch
    from minidl.cuda.kernels import conv

    _force(monkeypatch, conv, name)
    case = _CONV[name][kernel]
    if kernel == "fwd":
        x, w = _rand(case[0], 1), _rand(case[1], 2)
        geo = _geo(pad=(1, 1))
        got = G.conv2d(G.from_numpy(x), G.from_numpy(w), *geo)
        _close(G.to_numpy(got), C.conv2d(x, w, *geo))
        bias = _rand(w.shape[:1], 5)  # the bias variant (its epilogue)
        got = G.conv2d(G.from_numpy(x), G.from_numpy(w), *geo, bias=G.from_numpy(bias))
        _close(G.to_numpy(got), C.conv2d(x, w, *geo, bias=bias))
    elif kernel == "grad_input":
        x_shape, w, stride = case[0], _rand(case[1], 2), case[2]
        geo = _geo(stride, pad=(1, 1))
        out_shape = C.conv2d(np.zeros(x_shape, np.float32), w, *geo).shape
        g = _rand(out_shape, 3)
        got = G.conv2d_grad_input(G.from_numpy(g), G.from_numpy(w), x_shape, *geo)
        _close(G.to_numpy(got), C.conv2d_grad_input(g, w, x_shape, *geo))
        if stride == 2:  # the unit-stride variant of the same config too
            geo = _geo(1, pad=(1, 1))
            g = _rand(C.conv2d(np.zeros(x_shape, np.float32), w, *geo).shape, 4)
            got = G.conv2d_grad_input(G.from_numpy(g), G.from_numpy(w), x_shape, *geo)
            _close(G.to_numpy(got), C.conv2d_grad_input(g, w, x_shape, *geo))
    else:
        x, w_shape = _rand(case[0], 1), case[1]
        geo = _geo(pad=(1, 0))
        g = _rand(C.conv2d(x, np.zeros(w_shape, np.float32), *geo).shape, 3)
        want = C.conv2d_grad_weight(g, x, w_shape, *geo)
        monkeypatch.setattr(launch, "_force_splits", 2)  # a split-K slice edge too
        got = G.conv2d_grad_weight(G.from_numpy(g), G.from_numpy(x), w_shape, *geo)
        _close(G.to_numpy(got), want)


@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("name,stride", [("wide", 1), ("thin", 1), ("thin", 2)])
def test_conv_more_taps_than_a_mask_at_gpu_tiles(G, monkeypatch, name, stride):
    """A 6x6 kernel (36 taps > MAX_MASK_TAPS): forward and grad-input take their ",bounds"
    variants (per-element bounds tests), at the GPU tiles.  The wide tile runs one block of
    rows (its row edge is test_conv_at_gpu_tiles'); thin crosses its row edge.  (Each case at
    the wide tile or the simulator's own tiles costs ~50 s of simulation: one is enough.)"""
    from minidl.cuda.kernels import conv

    assert 6 * 6 > conv.MAX_MASK_TAPS
    rows = _force(monkeypatch, conv, name)[0] + (name == "thin")
    x, w = _rand((1, 2, 9, 13), 1), _rand((rows, 2, 6, 6), 2)  # K = 72: past a full k tile
    geo = _geo(stride, pad=(1, 2))
    got = G.conv2d(G.from_numpy(x), G.from_numpy(w), *geo)
    _close(G.to_numpy(got), C.conv2d(x, w, *geo))
    g = _rand(C.conv2d(x, w, *geo).shape, 3)
    got = G.conv2d_grad_input(G.from_numpy(g), G.from_numpy(w), x.shape, *geo)
    _close(G.to_numpy(got), C.conv2d_grad_input(g, w, x.shape, *geo))
