"""CUDA toolchains side by side, and what a model's first training step compiles.

A toolchain is one CUDA release's NVVM (CUDA IR -> PTX), libdevice (the math library NVVM links)
and ptxas (PTX -> SASS), as PyPI ships them in the `nvidia` namespace package:

    cuda13  numba-cuda[cu13]'s wheels: nvidia/cu13/{lib/libnvvm.so.4, nvvm/libdevice, bin/ptxas}
            PTX ISA 9.x, which only CUDA 13 (R580+) drivers load
    cuda12  nvidia-cuda-nvcc-cu12: nvidia/cuda_nvcc/{nvvm/lib64/libnvvm.so, nvvm/libdevice,
            bin/ptxas}; PTX ISA 8.x, for CUDA 12 drivers (numba-cuda[cu12] = minidl[cuda12])

numba-cuda loads one NVVM per process (cuda-pathfinder takes an already loaded libnvvm.so.4
first, else nvidia/cu13 before nvidia/cuda_nvcc), so compiling with another toolchain runs a
subprocess that loads that NVVM before numba does (`activate`):

    python -m minidl.cuda.toolchains compile --toolchain cuda12 --arch 80 --arch 90 NAME ...
    python -m minidl.cuda.toolchains step-kernels lenet5 --variant paper --batch 64   (simulator)

`compile_kernels()` and `step_kernels()` run those and parse their JSON; tests/test_ptx_cuda12.py
and `minidl info` use them.  With both wheels installed numba-cuda takes libdevice from
nvidia-cuda-nvcc-cu12 even for the CUDA 13 NVVM; `match_libdevice()` (called by minidl.cuda.ptx
before compiling) puts back the libdevice of the NVVM actually loaded.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

# name: (NVVM, libdevice, ptxas) relative to a directory of the `nvidia` namespace package
LAYOUTS = {
    "cuda13": ("cu13/lib/libnvvm.so.4", "cu13/nvvm/libdevice/libdevice.10.bc", "cu13/bin/ptxas"),
    "cuda12": ("cuda_nvcc/nvvm/lib64/libnvvm.so", "cuda_nvcc/nvvm/libdevice/libdevice.10.bc",
               "cuda_nvcc/bin/ptxas"),
}

# One kernel per family, at the configs that weigh most (the GEMM/conv "big" tiles have the most
# registers): what the CUDA 12 PTX tier compiles.
REPRESENTATIVE = [
    "map_contig[exp,float32]",  # the elementwise map (with a libdevice call)
    "reduce[sum,float32]",
    "matmul[float32,big:128x128x8x8x8]",
    "conv2d_fwd[float32,big:128x128x8x8x8,bias]",
    "conv2d_grad_input[float32,big:128x128x8x8x8,s1]",
    "conv2d_grad_weight[float32,big:128x128x8x8x8]",
    "max_pool_fwd[float32]",
    "lrn_fwd[float32]",
    "ce_fwd[float32]",  # fused log-softmax + cross-entropy
    "dropout_mask[float32]",
    "optim.adam[float32]",
]


@dataclass(frozen=True)
class Toolchain:
    name: str
    nvvm: str
    libdevice: str
    ptxas: str

    def release(self) -> str:
        """The CUDA release of its ptxas ("12.9"), or "?"."""
        try:
            out = subprocess.run([self.ptxas, "--version"], capture_output=True, text=True).stdout
        except OSError:
            return "?"
        m = re.search(r"release (\d+\.\d+)", out)
        return m.group(1) if m else "?"


def _nvidia_roots() -> list[str]:
    try:
        import nvidia
    except ImportError:
        return []
    return list(nvidia.__path__)


def find(name: str) -> Toolchain | None:
    """Toolchain `name` ("cuda12", "cuda13") if all three of its files are installed."""
    for root in _nvidia_roots():
        paths = [os.path.join(root, rel) for rel in LAYOUTS[name]]
        if all(os.path.isfile(p) for p in paths):
            return Toolchain(name, *paths)
    return None


def installed() -> list[Toolchain]:
    """Every toolchain of LAYOUTS that is installed."""
    return [t for t in (find(n) for n in LAYOUTS) if t is not None]


def _same(a: str | None, b: str | None) -> bool:
    try:
        return bool(a and b) and os.path.samefile(a, b)
    except OSError:
        return False


def _libdevice_beside(nvvm: str) -> str | None:
    """The libdevice shipped with the NVVM library at `nvvm` (toolkit, conda or wheel layout)."""
    lib_dir = os.path.dirname(os.path.realpath(nvvm))
    for cand in (os.path.join(lib_dir, "..", "libdevice"),  # <root>/nvvm/lib64 -> nvvm/libdevice
                 os.path.join(lib_dir, "..", "nvvm", "libdevice")):  # nvidia/cu13/lib
        path = os.path.normpath(os.path.join(cand, "libdevice.10.bc"))
        if os.path.isfile(path):
            return path
    return None


def _set_libdevice(path: str, why: str) -> None:
    from numba.cuda import cuda_paths

    paths = cuda_paths.get_cuda_paths()  # numba-cuda's cached dict: later lookups see the change
    paths["libdevice"] = cuda_paths._env_path_tuple(why, path)


def match_libdevice() -> str | None:
    """Make numba-cuda link the libdevice of the NVVM it loaded (it prefers the
    nvidia-cuda-nvcc-cu12 wheel's libdevice even for a CUDA 13 NVVM); returns the libdevice
    path in use, or None when numba-cuda cannot say."""
    try:
        from numba.cuda import cuda_paths

        paths = cuda_paths.get_cuda_paths()
        nvvm, lib = paths["nvvm"].info, paths["libdevice"].info
    except Exception:  # no numba-cuda paths: numba-cuda reports it at compile time
        return None
    want = _libdevice_beside(nvvm) if nvvm else None
    if want and not _same(want, lib):
        _set_libdevice(want, "minidl: libdevice beside the loaded NVVM")
        return want
    return lib


def activate(name: str) -> Toolchain:
    """Make this process compile with toolchain `name`: load its NVVM before numba-cuda loads
    one, and point numba-cuda at its libdevice.  Raises if another NVVM is already loaded."""
    import ctypes

    tc = find(name)
    if tc is None:
        raise RuntimeError(f"toolchain {name} not installed ({_INSTALL[name]})")
    ctypes.CDLL(tc.nvvm, mode=os.RTLD_GLOBAL)  # cuda-pathfinder takes an already loaded NVVM
    from numba.cuda import cuda_paths

    loaded = cuda_paths.get_cuda_paths()["nvvm"].info
    if not _same(loaded, tc.nvvm):
        raise RuntimeError(f"numba-cuda already uses the NVVM at {loaded}, not {tc.nvvm}: "
                           "activate() must run before numba.cuda compiles (use a subprocess)")
    _set_libdevice(tc.libdevice, f"minidl toolchain {name}")
    return tc


_INSTALL = {"cuda12": 'pip install nvidia-cuda-nvcc-cu12 (in the "test" extra)',
            "cuda13": 'pip install "minidl[cuda13]" nvidia-cuda-nvcc'}


def in_use() -> Toolchain | None:
    """The installed toolchain whose NVVM numba-cuda loaded (or loads) in this process."""
    try:
        from numba.cuda import cuda_paths

        nvvm = cuda_paths.get_cuda_paths()["nvvm"].info
    except Exception:
        return None
    return next((tc for tc in installed() if _same(tc.nvvm, nvvm)), None)


def _current() -> Toolchain:
    """in_use(), else a Toolchain of numba-cuda's own NVVM, libdevice and ptxas_path()."""
    from numba.cuda import cuda_paths

    from . import ptx

    return in_use() or Toolchain("default", cuda_paths.get_cuda_paths()["nvvm"].info,
                                 match_libdevice() or "", ptx.ptxas_path() or "")


def isa(ptx_text: str) -> tuple[int, int]:
    """The `.version` (PTX ISA) of a PTX text, e.g. (8, 8)."""
    m = re.search(r"^\.version (\d+)\.(\d+)", ptx_text, re.M)
    if m is None:
        raise ValueError("no .version line in the PTX")
    return int(m.group(1)), int(m.group(2))


def _resolve(names: list[str]) -> dict:
    """name -> (pyfunc, signature, options) from minidl.cuda.inventory; strided maps of a rank
    the inventory does not list ("map_strided[relu,float32,2]") are built directly."""
    from . import inventory
    from .kernels import elementwise

    inv = {n: (f, s, o) for n, f, s, o in inventory.kernels()}
    out = {}
    for name in names:
        if name in inv:
            out[name] = inv[name]
            continue
        m = re.fullmatch(r"map_strided\[(\w+),(\w+),(\d+)\]", name)
        if m is None:
            raise KeyError(f"{name}: not a kernel of minidl.cuda.inventory")
        out[name] = (*elementwise.build_map(m.group(1), m.group(2), int(m.group(3))), {})
    return out


def _compile_worker(toolchain: str | None, names: list[str], archs: list[tuple]) -> dict:
    """Compile `names` for `archs` with one toolchain (None: numba-cuda's choice): PTX ISA,
    target, NVVM and ptxas seconds and ptxas's resource report per (kernel, arch)."""
    tc = activate(toolchain) if toolchain else None
    from . import ptx

    tc = tc or _current()
    entries = _resolve(names)
    rows = []
    for name in names:
        fn, sig, opts = entries[name]
        for cc in archs:
            t0 = time.perf_counter()
            code = ptx.compile_ptx(fn, sig, cc, opts)
            t1 = time.perf_counter()
            rep = ptx.ptxas(code, cc, exe=tc.ptxas)
            t2 = time.perf_counter()
            target = re.search(r"^\.target (\S+)", code, re.M)
            rep.pop("log")
            rows.append(dict(rep, name=name, cc=list(cc), isa=list(isa(code)),
                             target=target.group(1) if target else None,
                             nvvm_s=t1 - t0, ptxas_s=t2 - t1))
    from numba.cuda import cuda_paths

    paths = cuda_paths.get_cuda_paths()
    return {"toolchain": tc.name, "release": tc.release(), "nvvm": paths["nvvm"].info,
            "libdevice": paths["libdevice"].info, "ptxas": tc.ptxas, "rows": rows}


def _fingerprint(obj, depth: int = 0):
    """What identifies a kernel function within one process: its code object and, recursively,
    what its closure holds (device functions by their Python function, constants by repr)."""
    inner = getattr(obj, "py_func", None) or getattr(obj, "fn", None)  # dispatcher / simulator
    if callable(inner) and hasattr(inner, "__code__"):
        obj = inner
    if depth > 8:
        return "..."
    if hasattr(obj, "__code__"):
        cells = tuple(_fingerprint(c.cell_contents, depth + 1) for c in obj.__closure__ or ())
        return (obj.__code__, cells)
    if isinstance(obj, (tuple, list)):
        return tuple(_fingerprint(v, depth + 1) for v in obj)
    return repr(obj)


def _step_kernels_worker(model: str, variant: str | None, batch: int, sms: int) -> list[str]:
    """Inventory names of the kernels that building `model` on "cuda" and one SGD training step
    (cross-entropy, backward, the recipe's optimizer) compile, under the simulator with kernel
    bodies skipped and the launchers choosing as on a GPU with `sms` multiprocessors."""
    import numpy as np

    import minidl

    from . import inventory, is_simulator
    from .counting import counting
    from .kernels import _common, conv, matmul
    from .ptx import sig_str

    if not is_simulator():
        raise RuntimeError("step-kernels runs under NUMBA_ENABLE_CUDASIM=1")
    matmul.CONFIGS, conv.CONFIGS = matmul.GPU_CONFIGS, conv.GPU_CONFIGS  # a GPU's tiles
    _common._SM_COUNT[:] = [sms]
    built = {}
    jit = _common._jit

    def record(pyfunc, sig, options):
        k = jit(pyfunc, sig, options)
        built[id(k)] = (pyfunc, sig)
        return k

    _common._jit = record
    from ..models import INPUT_SPECS, get_model
    from ..models.recipes import make_optimizer
    from ..nn import functional as F

    with counting(skip_kernels=True):
        kwargs = {"num_classes": 1000 if model == "alexnet" else 10}
        if variant:
            kwargs["variant"] = variant
        net = get_model(model, **kwargs).to("cuda")
        opt, _ = make_optimizer(model, net)
        net.train()
        x = minidl.tensor(np.zeros((batch, *INPUT_SPECS[model]), np.float32), device="cuda")
        y = minidl.tensor(np.zeros(batch, np.int64), device="cuda")
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _common._jit = jit
    known = {}
    for name, fn, sig, _ in inventory.kernels():
        known.setdefault((_fingerprint(fn), sig_str(sig)), name)
    names = []
    for key, k in _common._KERNELS.items():
        if id(k) not in built:  # built before this function ran: not part of the step
            continue
        pyfunc, sig = built[id(k)]
        name = known.get((_fingerprint(pyfunc), sig_str(sig)))
        if name is None and key[0] == "map" and key[3] > 0:  # a rank the inventory skips
            name = f"map_strided[{key[1]},{np.dtype(key[2])},{key[3]}]"
        names.append(name or f"?{key}")
    return names


def _run(args: list[str], sim: bool, timeout: float) -> dict | list:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if sim:
        env["NUMBA_ENABLE_CUDASIM"] = "1"
    res = subprocess.run([sys.executable, "-m", "minidl.cuda.toolchains", *args], env=env,
                         capture_output=True, text=True, timeout=timeout)
    lines = res.stdout.strip().splitlines()
    if res.returncode != 0 or not lines:
        raise RuntimeError(f"minidl.cuda.toolchains {args[0]} failed (exit {res.returncode}):\n"
                           f"{res.stderr[-3000:]}")
    return json.loads(lines[-1])


def compile_kernels(names: list[str], archs=((8, 0), (9, 0)), toolchain: str | None = None,
            timeout: float = 900) -> dict:
    """Compile inventory kernels `names` for `archs` in a fresh process (nothing cached) with
    `toolchain` ("cuda12", "cuda13"; None: numba-cuda's own choice) and assemble each with that
    toolchain's ptxas.  {"toolchain", "release", "nvvm", "libdevice", "ptxas", "rows": [{name,
    cc, isa, target, nvvm_s, ptxas_s, registers, spill_stores, spill_loads, stack, ...}]}"""
    args = ["compile", *[a for cc in archs for a in ("--arch", f"{cc[0]}{cc[1]}")], *names]
    if toolchain:
        args[1:1] = ["--toolchain", toolchain]
    return _run(args, sim=False, timeout=timeout)


def step_kernels(model: str = "lenet5", variant: str | None = "paper", batch: int = 64,
                 sms: int = 108, timeout: float = 300) -> list[str]:
    """Inventory names of the distinct kernels a fresh process compiles to build `model` on a GPU
    with `sms` multiprocessors (108: an A100) and run one training step at `batch`; names
    starting with "?" are kernels the inventory does not list.  Runs a simulator subprocess."""
    args = ["step-kernels", model, "--batch", str(batch), "--sms", str(sms)]
    if variant:
        args += ["--variant", variant]
    return _run(args, sim=True, timeout=timeout)


def first_step_compile_time(model: str = "lenet5", variant: str | None = "paper",
                            batch: int = 64, cc=(8, 0)) -> dict:
    """Compile, in a fresh process, the kernels of `model`'s first training step (step_kernels)
    for one GPU architecture: {"kernels", "unknown", "seconds", "nvvm_s", "ptxas_s", "release"}.
    NVVM + ptxas is what numba-cuda runs per kernel on a GPU before the first launch (there
    nvJitLink or the driver assembles instead of the ptxas binary)."""
    names = step_kernels(model, variant, batch)
    known = [n for n in names if not n.startswith("?")]
    t0 = time.perf_counter()
    rep = compile_kernels(known, archs=(cc,))
    wall = time.perf_counter() - t0
    return {"kernels": len(names), "unknown": [n for n in names if n.startswith("?")],
            "seconds": wall, "nvvm_s": sum(r["nvvm_s"] for r in rep["rows"]),
            "ptxas_s": sum(r["ptxas_s"] for r in rep["rows"]), "release": rep["release"],
            "toolchain": rep["toolchain"]}


def _main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m minidl.cuda.toolchains")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compile", help="compile inventory kernels with one toolchain (JSON)")
    c.add_argument("--toolchain", choices=sorted(LAYOUTS))
    c.add_argument("--arch", action="append", default=[], help="80, 90, ... (repeatable)")
    c.add_argument("names", nargs="+")
    s = sub.add_parser("step-kernels", help="kernels of one training step (simulator; JSON)")
    s.add_argument("model")
    s.add_argument("--variant")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--sms", type=int, default=108)
    args = ap.parse_args(argv)
    if args.cmd == "compile":
        archs = [(int(a[:-1]), int(a[-1])) for a in args.arch or ["80"]]
        out = _compile_worker(args.toolchain, args.names, archs)
    else:
        out = _step_kernels_worker(args.model, args.variant, args.batch, args.sms)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
