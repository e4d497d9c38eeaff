"""Per-op framework overhead: one op's forward (graph recorded) and forward + backward on
1-element tensors, in microseconds, minidl vs PyTorch eager (a benchmark, not a test).

    python bench/overhead.py                      # minidl and torch, 3 rounds, alternating
    python bench/overhead.py --baseline /work/main --no-torch   # before/after, alternating
    python bench/overhead.py --profile mul        # cProfile of minidl's fwd+bwd loop for one op

Each (library, round) runs in a fresh child process (`--child LIB [PYTHONPATH]`); per round
the libraries alternate.  Per op a child times `loops` iterations `repeats` times and keeps
the fastest repeat of process CPU time (timeit's rule: the minimum is the least disturbed run;
CPU time, not wall time, so being descheduled on a shared machine does not count), then the
parent prints the median over rounds.  Columns:

  fwd       y = op(x) with x.requires_grad (the node is recorded, no backward)
  fwd+bwd   y = op(x); y.backward(g); x.grad = None  (g made once; leaf .grad reset each time)
  no_grad   y = op(x) under no_grad (dispatch + the array work alone)

x, w are float32 tensors of shape [1] ([1, 1] for matmul); sum reduces to a 0-d tensor.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OPS = ["add", "mul", "relu", "matmul", "sum", "cross_entropy"]


def _ops(lib):
    """name -> (op(x, w), input shape)."""
    if lib == "torch":
        import torch as m
        import torch.nn.functional as F
    else:
        import minidl as m
        import minidl.nn.functional as F
    t3 = m.tensor([2], dtype=m.int64)
    return m, {
        "add": (lambda x, w: x + w, (1,)),
        "mul": (lambda x, w: x * w, (1,)),
        "relu": (lambda x, w: x.relu(), (1,)),
        "matmul": (lambda x, w: x @ w, (1, 1)),
        "sum": (lambda x, w: x.sum(), (1,)),
        # [1, 4] logits, one class-index target: the whole loss as one call
        "cross_entropy": (lambda x, w: F.cross_entropy(x, t3), (1, 4)),
    }


def _best(fn, loops, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(loops):
            fn()
        best = min(best, (time.process_time() - t0) / loops)
    return best * 1e6


def child(lib: str, loops: int, repeats: int, only) -> dict:
    m, ops = _ops(lib)
    if lib == "torch":
        m.set_num_threads(1)
    out = {}
    for name, (op, shape) in ops.items():
        if only and name not in only:
            continue
        x = m.ones(*shape, dtype=m.float32).requires_grad_()
        w = m.ones(*shape, dtype=m.float32).requires_grad_()
        y = op(x, w)
        g = m.ones_like(y)

        def fwd():
            op(x, w)

        def fwd_bwd():
            op(x, w).backward(g)
            x.grad = None
            w.grad = None

        def nograd():
            with m.no_grad():
                op(x, w)

        for f in (fwd, fwd_bwd, nograd):  # warm up (numba compiles, caches)
            for _ in range(50):
                f()
        out[name] = {"fwd": _best(fwd, loops, repeats), "fwd+bwd": _best(fwd_bwd, loops, repeats),
                     "no_grad": _best(nograd, loops, repeats)}
    return out


def _run_child(lib: str, path: str, args) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = path
    env.update(OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "torch" if lib == "torch"
           else "minidl", "--loops", str(args.loops), "--repeats", str(args.repeats)]
    if args.ops:
        cmd += ["--ops", args.ops]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=path or ROOT)
    if res.returncode != 0:
        sys.exit(f"{lib} child failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loops", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--ops", default="", help="comma-separated subset of " + ",".join(OPS))
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--baseline", default="", help="another minidl checkout, timed as 'before'")
    ap.add_argument("--child", default="")
    ap.add_argument("--profile", default="", help="cProfile minidl's fwd+bwd of one op")
    args = ap.parse_args()
    only = [o for o in args.ops.split(",") if o]
    if args.child:
        print(json.dumps(child(args.child, args.loops, args.repeats, only)))
        return
    if args.profile:
        import cProfile
        import pstats

        m, ops = _ops("minidl")
        op, shape = ops[args.profile]
        x = m.ones(*shape).requires_grad_()
        w = m.ones(*shape).requires_grad_()
        g = m.ones_like(op(x, w))

        def loop(n):
            for _ in range(n):
                op(x, w).backward(g)
                x.grad = None
                w.grad = None
        loop(100)
        pr = cProfile.Profile()
        pr.enable()
        loop(args.loops)
        pr.disable()
        pstats.Stats(pr, stream=sys.stderr).sort_stats("tottime").print_stats(30)
        return
    libs = [("minidl", ROOT)]
    if args.baseline:
        libs.append(("before", os.path.abspath(args.baseline)))
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            libs.append(("torch", ROOT))
        except ImportError:
            pass
    results = {lib: [] for lib, _ in libs}
    for r in range(args.rounds):
        order = libs if r % 2 == 0 else libs[::-1]
        for lib, path in order:
            results[lib].append(_run_child(lib, path, args))
            print(f"round {r + 1}: {lib} done", file=sys.stderr)
    names = [lib for lib, _ in libs]
    cols = ["fwd", "fwd+bwd", "no_grad"]
    head = "| op | " + " | ".join(f"{lib} {c} us" for c in cols for lib in names) + " |"
    print(head)
    print("|" + "---|" * (1 + len(cols) * len(names)))
    for op in results["minidl"][0]:
        cells = []
        for c in cols:
            for lib in names:
                vals = [res[op][c] for res in results[lib] if op in res]
                cells.append(f"{statistics.median(vals):.1f}" if vals else "-")
        print(f"| {op} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
