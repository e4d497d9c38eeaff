"""Side-by-side CPU benchmark of the heavy primitives: minidl vs PyTorch (if installed) in one
process, at LeNet-5, cuda-convnet CIFAR-10 and AlexNet shapes, forward and forward+backward
(a benchmark, not a test).

    python bench/primitives.py                       # every case, 15 timed runs each
    python bench/primitives.py --filter alexnet --reps 9 --no-torch
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/primitives.py   # BLAS auto-detect
    OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1 python bench/primitives.py
                                 # one core each: the fair comparison on a shared, loaded machine
        ... --cpu-time           # and CPU time instead of wall time (load-proof with 1 thread)
    python bench/primitives.py --only minidl; python bench/primitives.py --only torch
                                 # each library alone in its process: on 2 cores one library's
                                 # spinning pool threads otherwise slow the other's runs

Each case is a `Case` in CASES: a name (the --filter matches it), a builder `make(lib)` ->
{mode: zero-argument callable} for lib in ("minidl", "torch"), and a shape note.  minidl and
torch runs alternate (so load changes on a shared machine hit both alike), with a short pause
before every timed run so the other library's spinning worker threads (OpenMP / OpenBLAS) have
gone to sleep.  Printed: median milliseconds of each, the ratio minidl / torch, for the
memory-bound rows (pooling, LRN) the bandwidth achieved (the minimum bytes the primitive must
read and write over the time), and the BLAS kernel numpy (and torch) use.

Adding a row (e.g. a pooling layer): write a builder returning {"fwd": fn, "fwd+bwd": fn} for
lib in ("minidl", "torch") and append a Case to CASES.  Conv rows: a network's first layer has
no input gradient ("no dx"); interior layers compute dx, dw and db.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

import minidl
import minidl.nn.functional as MF


@dataclass
class Case:
    name: str
    make: Callable[[str], dict]  # lib ("minidl" | "torch") -> {mode: zero-argument callable}
    note: str = ""
    nbytes: dict | None = None  # mode -> minimum bytes moved (memory-bound rows: GB/s column)


# ---- builders ------------------------------------------------------------------------------------
def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def conv_case(N, C, H, Co, k, stride=1, padding=0, groups=1, input_grad=True):
    """conv2d(x [N, C, H, H], w [Co, C/groups, k, k], b) with a fixed upstream gradient; the
    backward computes dw, db and, when input_grad, dx (False for a network's first layer)."""
    def make(lib):
        x, w, b = _arrays([(N, C, H, H), (Co, C // groups, k, k), (Co,)])
        Ho = (H + 2 * padding - k) // stride + 1
        (g,) = _arrays([(N, Co, Ho, Ho)], seed=1)
        if lib == "minidl":
            xt, wt, bt = minidl.from_numpy(x), minidl.from_numpy(w), minidl.from_numpy(b)
            gt = minidl.from_numpy(g)
            xt.requires_grad_(input_grad)
            wt.requires_grad_(True)
            bt.requires_grad_(True)

            def fwd():
                with minidl.no_grad():
                    MF.conv2d(xt, wt, bt, stride, padding, 1, groups)

            def fwd_bwd():
                wt.grad = bt.grad = xt.grad = None
                MF.conv2d(xt, wt, bt, stride, padding, 1, groups).backward(gt)
        else:
            import torch
            xt, wt, bt, gt = (torch.from_numpy(a) for a in (x, w, b, g))
            xt.requires_grad_(input_grad)
            wt.requires_grad_(True)
            bt.requires_grad_(True)

            def fwd():
                with torch.no_grad():
                    torch.nn.functional.conv2d(xt, wt, bt, stride, padding, 1, groups)

            def fwd_bwd():
                wt.grad = bt.grad = xt.grad = None
                torch.nn.functional.conv2d(xt, wt, bt, stride, padding, 1, groups).backward(gt)
        return {"fwd": fwd, "fwd+bwd": fwd_bwd}
    return make


def _conv(name, N, C, H, Co, k, stride=1, padding=0, groups=1, input_grad=True):
    note = (f"N{N} {C}->{Co} {H}x{H} k{k}" + (f" s{stride}" if stride != 1 else "")
            + (f" p{padding}" if padding else "") + (f" g{groups}" if groups != 1 else "")
            + ("" if input_grad else ", no dx"))
    return Case(name, conv_case(N, C, H, Co, k, stride, padding, groups, input_grad), note)


CASES: list[Case] = [
    _conv("lenet5 c1", 64, 1, 32, 6, 5, input_grad=False),
    _conv("lenet5 c2", 64, 6, 14, 16, 5),
    _conv("cifar10 c1", 128, 3, 32, 64, 5, padding=2, input_grad=False),
    _conv("cifar10 c2", 128, 64, 16, 64, 5, padding=2),
    _conv("cifar10 c2 (no dx)", 128, 64, 16, 64, 5, padding=2, input_grad=False),
    _conv("alexnet conv1", 16, 3, 227, 96, 11, stride=4, input_grad=False),
    _conv("alexnet conv2", 16, 96, 27, 256, 5, padding=2, groups=2),
    _conv("alexnet conv3", 16, 256, 13, 384, 3, padding=1),
    _conv("alexnet conv4", 16, 384, 13, 384, 3, padding=1, groups=2),
    _conv("alexnet conv5", 16, 384, 13, 256, 3, padding=1, groups=2),
]


# ---- pooling and LRN (minidl.nn.functional: max_pool2d, avg_pool2d, local_response_norm) -----
def nn_case(N, C, H, kind, k=3, s=2, ceil=False, lrn=(5, 5e-4, 0.75, 2.0)):
    """max_pool2d(x, k, s) (kind "pool"), avg_pool2d (kind "avg") or local_response_norm(x,
    *lrn) (kind "lrn"; default the AlexNet paper's layer in PyTorch's alpha convention) on
    x [N, C, H, H], with a fixed upstream gradient; the backward computes dx."""
    def make(lib):
        x, = _arrays([(N, C, H, H)])
        x *= 10.0  # LRN's scale then differs visibly from k
        Ho = _pool_out(H, k, s, ceil) if kind != "lrn" else H
        (g,) = _arrays([(N, C, Ho, Ho)], seed=1)
        if lib == "minidl":
            xt, gt, no_grad, F = minidl.from_numpy(x), minidl.from_numpy(g), minidl.no_grad, MF
        else:
            import torch
            xt, gt, no_grad = torch.from_numpy(x), torch.from_numpy(g), torch.no_grad
            F = torch.nn.functional
        xt.requires_grad_(True)

        def op():
            if kind == "pool":
                return F.max_pool2d(xt, k, s, ceil_mode=ceil)
            if kind == "avg":
                return F.avg_pool2d(xt, k, s, ceil_mode=ceil)
            return F.local_response_norm(xt, *lrn)

        def fwd():
            with no_grad():
                op()

        def fwd_bwd():
            xt.grad = None
            op().backward(gt)
        return {"fwd": fwd, "fwd+bwd": fwd_bwd}
    return make


def _pool_out(H, k, s, ceil):
    o = (H - k + (s - 1 if ceil else 0)) // s + 1
    return o - 1 if ceil and (o - 1) * s >= H else o


def nn_bytes(N, C, H, kind, k=3, s=2, ceil=False):
    """mode -> bytes a kernel must move at least (float32; int64 argmax for max-pool): what the
    GB/s column divides by."""
    x = N * C * H * H * 4
    o = N * C * _pool_out(H, k, s, ceil) ** 2 * 4 if kind != "lrn" else x
    if kind == "pool":  # fwd: read x, write out + idx; bwd: read g + idx, write dx
        fwd, bwd = x + 3 * o, 3 * o + x
    elif kind == "avg":
        fwd, bwd = x + o, o + x
    else:  # fwd: read x, write out + scale; bwd: read g, x, out, scale, write dx
        fwd, bwd = 3 * x, 5 * x
    return {"fwd": fwd, "fwd+bwd": fwd + bwd}


def _nn(name, N, C, H, kind, note, **kw):
    lrn = kw.pop("lrn", None)
    make = nn_case(N, C, H, kind, **kw, **({"lrn": lrn} if lrn else {}))
    return Case(name, make, note, nn_bytes(N, C, H, kind, **kw))


CASES += [
    _nn("lenet maxpool", 64, 6, 28, "pool", "N64 6x28x28 2x2 s2", k=2, s=2),
    _nn("cifar10 maxpool p1", 128, 32, 32, "pool", "N128 32x32x32 3x3 s2 ceil", ceil=True),
    _nn("cifar10 avgpool p2", 128, 32, 16, "avg", "N128 32x16x16 3x3 s2 ceil", ceil=True),
    _nn("cifar10 lrn", 128, 32, 16, "lrn", "N128 32x16x16 size 3",
        lrn=(3, 5e-5, 0.75, 1.0)),
    _nn("alexnet maxpool p1", 16, 96, 55, "pool", "N16 96x55x55 3x3 s2"),
    _nn("alexnet maxpool p2", 16, 256, 27, "pool", "N16 256x27x27 3x3 s2"),
    _nn("alexnet maxpool p5", 16, 256, 13, "pool", "N16 256x13x13 3x3 s2"),
    _nn("alexnet lrn1", 16, 96, 55, "lrn", "N16 96x55x55 size 5"),
    _nn("alexnet lrn2", 16, 256, 27, "lrn", "N16 256x27x27 size 5"),
]


# ---- timing --------------------------------------------------------------------------------------
_SETTLE = 0.005  # seconds of idle before each timed run: lets spin-waiting pool threads sleep


_CLOCK = [time.perf_counter]  # --cpu-time: time.process_time (all threads' CPU time)


def _time(fn) -> float:
    time.sleep(_SETTLE)
    t0 = _CLOCK[0]()
    fn()
    return _CLOCK[0]() - t0


def run_case(case: Case, libs, reps: int, warmup: int = 2) -> dict:
    fns = {lib: case.make(lib) for lib in libs}
    out = {}
    for mode in fns[libs[0]]:
        for lib in libs:
            for _ in range(warmup):
                fns[lib][mode]()
        times = {lib: [] for lib in libs}
        for _ in range(reps):
            for lib in libs:
                times[lib].append(_time(fns[lib][mode]))
        out[mode] = {lib: 1e3 * statistics.median(ts) for lib, ts in times.items()}
    return out


def blas_info() -> list[str]:
    lines = [f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')} "
             f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE', '(unset)')} "
             f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}"]
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return lines + ["threadpoolctl not installed: BLAS kernel unknown"]
    for p in threadpool_info():
        lines.append(f"{p.get('user_api')}: {p.get('internal_api')} {p.get('version')} "
                     f"kernel={p.get('architecture', '?')} threads={p.get('num_threads')} "
                     f"({os.path.basename(p.get('filepath', ''))})")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--filter", default="", help="only cases whose name contains this")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--only", choices=("minidl", "torch"),
                    help="time one library in this process (run twice, once each, to keep the "
                         "other's thread pools off the cores)")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time process CPU time instead of wall time: with one thread per "
                         "library, immune to being descheduled on a loaded machine")
    args = ap.parse_args(argv)
    if args.cpu_time:
        _CLOCK[0] = time.process_time
    libs = ["minidl"]
    if args.only == "torch" or (not args.no_torch and args.only is None):
        try:
            import torch
            libs.append("torch")
        except ImportError:
            print("torch not installed: minidl only")
    if args.only:
        libs = [args.only]
    cases = [c for c in CASES if args.filter in c.name]
    # run one tiny case first so numba's JIT/cache load and the BLAS pools are warm
    conv_case(2, 2, 6, 2, 3)(libs[0])["fwd+bwd"]()
    import numba

    print("\n".join(blas_info()))
    try:  # initialised only if some minidl kernel used numba's parallel pool
        layer = numba.threading_layer()
    except ValueError:
        layer = "unused"
    print(f"numba {numba.__version__}: threading layer {layer}, NUMBA_NUM_THREADS "
          f"{numba.config.NUMBA_NUM_THREADS}"
          + (f"; torch {torch.__version__} threads {torch.get_num_threads()}"
             if "torch" in libs else ""))
    head = "| case | shape | mode |" + "".join(f" {lib} ms |" for lib in libs) + (
        " minidl/torch |" if len(libs) == 2 else "") + "".join(f" {lib} GB/s |" for lib in libs)
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for case in cases:
        res = run_case(case, libs, args.reps)
        for mode, r in res.items():
            row = (f"| {case.name} | {case.note} | {mode} |"
                   + "".join(f" {r[lib]:.2f} |" for lib in libs))
            if len(libs) == 2:
                row += f" {r['minidl'] / r['torch']:.2f} |"
            for lib in libs:  # bytes per ms = 1e-6 GB/s
                row += f" {case.nbytes[mode] / r[lib] * 1e-6:.1f} |" if case.nbytes else " - |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
