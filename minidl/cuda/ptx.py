"""Compile kernels to PTX for real GPUs without one, and read ptxas's resource report.

`compile_ptx(pyfunc, sig, cc)` wraps numba.cuda.compile_ptx; `ptxas(ptx, cc)` runs
`ptxas -v` (from PyPI's nvidia-cuda-nvcc) and returns registers, spills, stack frame, shared and
constant memory as a dict; `report()` does both for every kernel of minidl.cuda.inventory and
`markdown()` formats the table pasted into docs/kernels.md:

    python -m minidl.cuda.ptx                 # whole inventory, sm_80 and sm_90, markdown
    python -m minidl.cuda.ptx --match matmul  # only kernels whose name contains "matmul"

Must run WITHOUT NUMBA_ENABLE_CUDASIM (the simulator has no compiler).  Used by
tests/test_ptx.py, bench/ptx_report.py and (later) `minidl info`.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

ARCHS = ((8, 0), (9, 0))


def ptxas_path() -> str | None:
    """ptxas from the `nvidia` pip packages (cu13/cu12 layouts), else $PATH, else None."""
    cands = []
    try:
        import nvidia

        for root in nvidia.__path__:
            cands += sorted(glob.glob(os.path.join(root, "*", "bin", "ptxas")))
    except ImportError:
        pass
    which = shutil.which("ptxas")
    if which:
        cands.append(which)
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return None


class _Device:
    def __init__(self, cc):
        self.compute_capability = cc


@contextlib.contextmanager
def _target_cc(cc):
    """Let device functions be typed without a GPU.

    numba-cuda compiles a device function the first time a kernel's typing reaches a call to it,
    asking the *current device* for its compute capability, which fails without a driver (the
    kernel itself gets `cc` from compile_ptx).  For the duration of the compile we answer with
    the capability compile_ptx targets.  Device functions are linked into the kernel as LLVM IR,
    so the final PTX is generated for the kernel's `cc` either way.
    """
    from numba.cuda import dispatcher

    saved = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: _Device(cc)
    try:
        yield
    finally:
        dispatcher.get_current_device = saved


def _require_compiler():
    from .. import cuda as mcuda

    if mcuda.is_simulator():
        raise RuntimeError("minidl.cuda.ptx: compile_ptx does not work under the CUDA simulator; "
                           "run without NUMBA_ENABLE_CUDASIM")


def compile_ptx(pyfunc, sig, cc=(8, 0), options=None) -> str:
    """PTX text of kernel `pyfunc` compiled for `sig` (numba signature) and compute capability;
    `options` are the kernel's cuda.jit options that compile_ptx knows (launch_bounds)."""
    _require_compiler()
    from numba import cuda

    kw = {k: v for k, v in (options or {}).items() if k == "launch_bounds"}
    with _target_cc(tuple(cc)):
        ptx, _ = cuda.compile_ptx(pyfunc, sig, cc=tuple(cc), **kw)
    return ptx


def sig_str(sig) -> str:
    """A signature as the launchers write it: "void(float32[::1], int64, UniTuple(int64, 3))"."""
    if isinstance(sig, str):
        return sig
    from numba.core import types

    def t(ty):
        if isinstance(ty, types.Array):
            dims = [":"] * ty.ndim
            if ty.layout == "C" and ty.ndim:
                dims[-1] = "::1"
            return f"{ty.dtype}[{', '.join(dims)}]"
        if isinstance(ty, types.UniTuple):
            return f"UniTuple({ty.dtype}, {ty.count})"
        return "boolean" if str(ty) == "bool" else str(ty)
    return f"{t(sig.return_type)}({', '.join(t(a) for a in sig.args)})"


_RE_ENTRY = re.compile(r"Compiling entry function '([^']+)'")
_RE_FRAME = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_RE_USED = re.compile(r"Used (\d+) registers")
_RE_SMEM = re.compile(r"(\d+) bytes smem")
_RE_CMEM = re.compile(r"(\d+) bytes cmem\[0\]")
_RE_BARRIERS = re.compile(r"used (\d+) barriers")


def parse_ptxas(text: str) -> dict:
    """registers, spill_stores, spill_loads, stack (bytes), smem, cmem0, barriers from `ptxas -v`.

    Spills and stack frames are summed over every function ptxas reports (the entry and any
    device function NVVM did not inline); registers/smem are the entry function's."""
    out = {"registers": 0, "spill_stores": 0, "spill_loads": 0, "stack": 0, "smem": 0,
           "cmem0": 0, "barriers": 0, "entries": len(_RE_ENTRY.findall(text))}
    for m in _RE_FRAME.finditer(text):
        out["stack"] += int(m.group(1))
        out["spill_stores"] += int(m.group(2))
        out["spill_loads"] += int(m.group(3))
    for key, rx in (("registers", _RE_USED), ("smem", _RE_SMEM), ("cmem0", _RE_CMEM),
                    ("barriers", _RE_BARRIERS)):
        vals = [int(v) for v in rx.findall(text)]
        out[key] = max(vals) if vals else 0
    return out


def ptxas(ptx: str, cc=(8, 0)) -> dict:
    """Assemble `ptx` for sm_XY with `ptxas -v`; the parsed report (see parse_ptxas) + "log"."""
    exe = ptxas_path()
    if exe is None:
        raise RuntimeError('ptxas not found: pip install "nvidia-cuda-nvcc" (cu13) or put ptxas '
                           "on PATH")
    arch = f"sm_{cc[0]}{cc[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "k.ptx")
        with open(src, "w") as f:
            f.write(ptx)
        res = subprocess.run([exe, "-v", f"-arch={arch}", src, "-o", os.devnull],
                             capture_output=True, text=True)
    log = res.stdout + res.stderr
    if res.returncode != 0:
        raise RuntimeError(f"ptxas -arch={arch} failed:\n{log}")
    out = parse_ptxas(log)
    out["log"] = log
    return out


def check(name: str, pyfunc, sig, cc=(8, 0), options=None) -> dict:
    """Compile one kernel and run ptxas: the report plus name, sig, cc and how many float64
    instructions the PTX has (`f64_ops`: a float32 kernel should have none)."""
    ptx = compile_ptx(pyfunc, sig, cc, options)
    rep = ptxas(ptx, cc)
    rep.update(name=name, sig=sig_str(sig), cc=tuple(cc),
               f64_ops=len(re.findall(r"^\s*[a-z][a-z0-9.]*\.f64\s", ptx, re.M)))
    return rep


def report(match: str | None = None, ccs=ARCHS) -> list[dict]:
    """check() for every inventory kernel (whose name contains `match`) and every cc."""
    from .inventory import kernels

    rows = []
    for name, pyfunc, sig, options in kernels():
        if match and match not in name:
            continue
        for cc in ccs:
            rows.append(check(name, pyfunc, sig, cc, options))
    return rows


def markdown(rows: list[dict]) -> str:
    """One line per kernel: regs / smem / stack / spills for each cc side by side."""
    ccs = sorted({r["cc"] for r in rows})
    by = {}
    for r in rows:
        by.setdefault((r["name"], r["sig"]), {})[r["cc"]] = r
    head = "| kernel | signature | " + " | ".join(
        f"sm_{a}{b} regs | smem B | stack B | spills" for a, b in ccs) + " |"
    sep = "|" + "---|" * (2 + 4 * len(ccs))
    lines = [head, sep]
    for (name, sig), per in by.items():
        cells = [f"`{name}`", f"`{sig}`"]
        for cc in ccs:
            r = per.get(cc)
            if r is None:
                cells += ["-"] * 4
            else:
                cells += [str(r["registers"]), str(r["smem"]), str(r["stack"]),
                          str(r["spill_stores"] + r["spill_loads"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m minidl.cuda.ptx",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--match", help="only kernels whose inventory name contains this")
    args = ap.parse_args(argv)
    rows = report(args.match)
    print(markdown(rows))
    bad = [r for r in rows if r["spill_stores"] or r["spill_loads"]]
    for r in bad:
        print(f"SPILL: {r['name']} sm_{r['cc'][0]}{r['cc'][1]}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
