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


def _tool_path(tool: str) -> str | None:
    cands = []
    try:
        import nvidia

        for root in nvidia.__path__:
            cands += sorted(glob.glob(os.path.join(root, "*", "bin", tool)))
    except ImportError:
        pass
    which = shutil.which(tool)
    if which:
        cands.append(which)
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    return None


def ptxas_path() -> str | None:
    """ptxas from the `nvidia` pip packages (cu13 before cu12: nvidia/cu13 sorts before
    nvidia/cuda_nvcc), else $PATH, else None.  minidl.cuda.toolchains picks one explicitly."""
    return _tool_path("ptxas")


def nvdisasm_path() -> str | None:
    """nvdisasm from PyPI's nvidia-cuda-nvdisasm (same layouts as ptxas), else $PATH, else None."""
    return _tool_path("nvdisasm")


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
    from . import toolchains

    toolchains.match_libdevice()  # NVVM and libdevice of one toolkit (see toolchains)


def compile_ptx(pyfunc, sig, cc=(8, 0), options=None) -> str:
    """PTX text of kernel `pyfunc` compiled for `sig` (numba signature) and compute capability;
    `options` are the kernel's cuda.jit options that compile_ptx knows (launch_bounds)."""
    _require_compiler()
    from numba import cuda

    kw = {k: v for k, v in (options or {}).items() if k == "launch_bounds"}
    with _target_cc(tuple(cc)):
        ptx, _ = cuda.compile_ptx(pyfunc, sig, cc=tuple(cc), **kw)
    return ptx


_PTX_CACHE: dict = {}


def cached_ptx(pyfunc, sig, cc=(8, 0), options=None) -> str:
    """compile_ptx() once per process for (kernel, signature, cc, launch_bounds): the PTX test
    and the SASS test of one pytest process share their NVVM compiles."""
    lb = (options or {}).get("launch_bounds")
    key = (pyfunc, sig_str(sig), tuple(cc), lb)
    if key not in _PTX_CACHE:
        _PTX_CACHE[key] = compile_ptx(pyfunc, sig, cc, options)
    return _PTX_CACHE[key]


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


def ptxas(ptx: str, cc=(8, 0), exe: str | None = None) -> dict:
    """Assemble `ptx` for sm_XY with `ptxas -v` (`exe`, default ptxas_path()); the parsed
    report (see parse_ptxas) + "log"."""
    exe = exe or ptxas_path()
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
    ptx = cached_ptx(pyfunc, sig, cc, options)
    rep = ptxas(ptx, cc)
    rep.update(name=name, sig=sig_str(sig), cc=tuple(cc),
               f64_ops=len(re.findall(r"^\s*[a-z][a-z0-9.]*\.f64\s", ptx, re.M)))
    return rep


# Per-SM limits for the occupancy estimate: registers, threads, blocks, shared memory usable by
# resident blocks (bytes, after the carve-out) and the driver's reservation per block.
SM_LIMITS = {(8, 0): {"regs": 65536, "threads": 2048, "blocks": 32, "smem": 164 * 1024,
                      "smem_reserved": 1024},
             (9, 0): {"regs": 65536, "threads": 2048, "blocks": 32, "smem": 228 * 1024,
                      "smem_reserved": 1024}}


def occupancy(registers: int, smem: int, threads: int, cc=(9, 0)) -> int:
    """Resident blocks of `threads` threads per SM, limited by registers (allocated per warp in
    units of 256, i.e. per-thread counts rounded up to 8), threads, blocks and shared memory."""
    lim = SM_LIMITS[tuple(cc)]
    warps = -(-threads // 32)
    per_warp = -(-max(registers, 1) // 8) * 8 * 32
    by_regs = (lim["regs"] // per_warp) // warps
    by_threads = lim["threads"] // (warps * 32)
    by_smem = lim["smem"] // (smem + lim["smem_reserved"]) if smem else lim["blocks"]
    return min(by_regs, by_threads, by_smem, lim["blocks"])


def sass(ptx: str, cc=(9, 0)) -> tuple[str, dict]:
    """(nvdisasm's SASS text, ptxas report) of `ptx` assembled with `ptxas -O3 -v` for sm_XY."""
    exe, dis = ptxas_path(), nvdisasm_path()
    if exe is None or dis is None:
        raise RuntimeError("ptxas/nvdisasm not found: pip install nvidia-cuda-nvcc "
                           "nvidia-cuda-nvdisasm (the test extra)")
    arch = f"sm_{cc[0]}{cc[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        src, cubin = os.path.join(tmp, "k.ptx"), os.path.join(tmp, "k.cubin")
        with open(src, "w") as f:
            f.write(ptx)
        res = subprocess.run([exe, "-O3", "-v", f"-arch={arch}", src, "-o", cubin],
                             capture_output=True, text=True)
        log = res.stdout + res.stderr
        if res.returncode != 0:
            raise RuntimeError(f"ptxas -arch={arch} failed:\n{log}")
        res = subprocess.run([dis, "-c", cubin], capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"nvdisasm failed:\n{res.stdout}{res.stderr}")
    rep = parse_ptxas(log)
    rep["log"] = log
    return res.stdout, rep


_RE_INSN = re.compile(r"/\*([0-9a-f]{4,})\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]*)([^;]*);")
_RE_BRA = re.compile(r"`\(([^)]+)\)")
_RE_LABEL = re.compile(r"^(\.L_x_\d+):", re.M)


def parse_sass(text: str) -> list[tuple[int, str, str]]:
    """[(address, opcode with modifiers, operands)] of every instruction in nvdisasm output."""
    return [(int(a, 16), op, rest) for a, op, rest in _RE_INSN.findall(text)]


def hot_loop(text: str) -> dict:
    """The innermost hot loop of a kernel's SASS: over every back edge (a branch to an earlier
    label), the address range [label, branch] with the most FFMA, the smallest such range on a
    tie (so an unrolled k-step inside an outer tile loop is found as the k-tile loop, and a
    non-unrolled k-step loop as itself).  Returns instructions (NOPs excluded), ffma, share,
    the opcode histogram and the loop's address range (float64 kernels: DFMA counts as FFMA);
    an empty dict if there is no loop."""
    insns = parse_sass(text)
    labels = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        m = _RE_LABEL.match(line.strip())
        if m:
            for nxt in lines[i + 1:]:
                a = re.search(r"/\*([0-9a-f]{4,})\*/", nxt)
                if a:
                    labels[m.group(1)] = int(a.group(1), 16)
                    break
    best = None
    for addr, op, rest in insns:
        if not op.startswith("BRA"):
            continue
        t = _RE_BRA.search(rest)
        if not t or t.group(1) not in labels or labels[t.group(1)] > addr:
            continue
        lo = labels[t.group(1)]
        body = [o for a, o, _ in insns if lo <= a <= addr and not o.startswith("NOP")]
        ffma = sum(o.split(".")[0] in ("FFMA", "DFMA") for o in body)
        key = (ffma, -len(body))
        if best is None or key > best[0]:
            best = (key, lo, addr, body)
    if best is None or best[0][0] == 0:
        return {}
    (_, _), lo, hi, body = best
    hist: dict = {}
    for o in body:
        hist[o] = hist.get(o, 0) + 1
    ffma = best[0][0]
    return {"instructions": len(body), "ffma": ffma, "share": ffma / len(body),
            "histogram": dict(sorted(hist.items(), key=lambda kv: -kv[1])), "range": (lo, hi)}


def sass_check(name: str, pyfunc, sig, cc=(9, 0), options=None, threads=256, ptx=None) -> dict:
    """ptxas -O3 + nvdisasm of one kernel: its ptxas report, the hot loop (hot_loop()) and the
    resident blocks of `threads` threads per SM (occupancy())."""
    text, rep = sass(ptx or cached_ptx(pyfunc, sig, cc, options), cc)
    rep.update(name=name, cc=tuple(cc), threads=threads,
               blocks_per_sm=occupancy(rep["registers"], rep["smem"], threads, cc))
    rep["loop"] = hot_loop(text)
    return rep


def sass_markdown(rows: list[dict]) -> str:
    """The SASS table of docs/kernels.md: hot-loop instructions, FFMA, share, registers,
    spills, blocks per SM."""
    lines = ["| kernel | arch | inner-loop instructions | FFMA | FFMA share | LDS (.64/.128) "
             "| registers | spills B | threads/block | blocks/SM | warps/SM |",
             "|" + "---|" * 11]
    for r in rows:
        lp = r["loop"]
        h = lp.get("histogram", {})
        lds = sum(v for k, v in h.items() if k.startswith("LDS"))
        wide = sum(v for k, v in h.items() if k in ("LDS.64", "LDS.128", "LDS.U.64",
                                                    "LDS.U.128"))
        lines.append(
            f"| `{r['name']}` | sm_{r['cc'][0]}{r['cc'][1]} | {lp.get('instructions', '-')} | "
            f"{lp.get('ffma', 0)} | {100 * lp.get('share', 0):.0f}% | {lds} ({wide}) | "
            f"{r['registers']} | {r['spill_stores'] + r['spill_loads']} | {r['threads']} | "
            f"{r['blocks_per_sm']} | {r['blocks_per_sm'] * -(-r['threads'] // 32)} |")
    return "\n".join(lines)


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
