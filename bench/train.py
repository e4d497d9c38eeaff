"""Whole training steps, minidl vs PyTorch CPU: the table of issue 10, with one command
(a benchmark, not a test).

    python bench/train.py                          # every case, 3 rounds
    python bench/train.py --cases lenet64,cifar128 --rounds 5
    python bench/train.py --quick                  # small cases, 2 rounds, few steps
    python bench/train.py --stub                   # + minidl with every kernel stubbed out
    python bench/train.py --profile lenet64        # cProfile of minidl's steps for one case
    python bench/train.py --threads 1              # one thread each (loaded machine)
    python bench/train.py --baseline /tmp/old      # + minidl from another checkout ("before")

One step = zero_grad, forward, cross-entropy, backward, SGD(lr 0.01, momentum 0.9) step, on one
fixed random batch.  Every (case, library) runs in a fresh child process (`--child`), one
library per process, 2 threads (torch.set_num_threads(2); NUMBA/OPENBLAS/OMP_NUM_THREADS=2);
per round the two libraries alternate (and which goes first alternates), so load changes on a
shared machine hit both alike.  Each child prints the median of its timed steps, wall time and
process CPU time (all threads; robust to being descheduled on a loaded machine, but it counts
spinning pool threads too); the table shows, per case, the median over rounds of each
library's medians and the medians of the per-round ratios PyTorch/minidl (> 1: minidl faster).

Children run with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed from the environment (the
machine's defaults pin an old kernel); each reports which OpenBLAS kernel numpy (and torch)
actually loaded, via threadpoolctl.

`--stub` adds a row per case: minidl with every backend primitive replaced by a stub that
returns a cached array of the right shape (computed once per distinct call signature), and
in-place primitives (optimizer steps, copies) by no-ops: what is left is the framework's own
Python per step (autograd, modules, argument checks, dispatch) plus the stub's key lookup
(~1-2 us per primitive call).

The models are written here for both libraries (the same layers and shapes); the paper and
modern LeNet-5 come from minidl.models, with a PyTorch transcription of each.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# name: (model, batch, input [C, H, W], classes, warmup steps, timed steps)
CASES = {
    "lenet1": ("lenet", 1, (1, 28, 28), 10, 10, 60),
    "lenet64": ("lenet", 64, (1, 28, 28), 10, 5, 30),
    "lenet256": ("lenet", 256, (1, 28, 28), 10, 3, 15),
    "cifar128": ("cifar", 128, (3, 32, 32), 10, 2, 10),
    "alexnet8": ("alexnet", 8, (3, 227, 227), 1000, 1, 4),
    "alexnet32": ("alexnet", 32, (3, 227, 227), 1000, 1, 3),
    "lenet5-modern64": ("lenet5-modern", 64, (1, 32, 32), 10, 5, 30),
    "lenet5-paper64": ("lenet5-paper", 64, (1, 32, 32), 10, 5, 30),
}
QUICK = ["lenet1", "lenet64", "cifar128", "lenet5-modern64", "lenet5-paper64"]
LABELS = {
    "lenet1": "LeNet-like, batch 1", "lenet64": "LeNet-like, batch 64",
    "lenet256": "LeNet-like, batch 256", "cifar128": "cuda-convnet CIFAR (18pct), batch 128",
    "alexnet8": "AlexNet (227, one tower), batch 8",
    "alexnet32": "AlexNet (227, one tower), batch 32",
    "lenet5-modern64": "LeNet-5 modern, batch 64", "lenet5-paper64": "LeNet-5 paper, batch 64",
}
BASELINE = [""]  # --baseline DIR: a minidl checkout timed as library "before"
THREADS = int(os.environ.get("MINIDL_BENCH_THREADS", "2"))  # set by --threads for the children


# ---- models --------------------------------------------------------------------------------------
def build(lib: str, model: str, classes: int):
    """The model `model` in library `lib` ("minidl" | "torch")."""
    if lib == "minidl":
        import minidl.nn as nn
    else:
        import torch.nn as nn
    if model == "lenet":  # conv-relu-maxpool x2, three Linear layers, 1x28x28
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, classes))
    if model == "cifar":  # cuda-convnet layers-18pct (minidl.models.cifar)
        if lib == "minidl":
            from minidl.models import cifar_convnet
            return cifar_convnet(classes)

        def lrn():
            return nn.LocalResponseNorm(3, alpha=5e-5, beta=0.75, k=1.0)
        return nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(), lrn(),
            nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True), lrn(),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
            nn.Flatten(), nn.Linear(1024, classes))
    if model == "alexnet":  # the paper's layer sizes on one tower (Caffe's 227 reading)
        def lrn():
            return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
        return nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
            nn.Linear(9216, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, classes))
    if model.startswith("lenet5-"):
        variant = model.split("-")[1]
        if lib == "minidl":
            from minidl.models import lenet5
            return lenet5(variant, classes)
        return _torch_lenet5(variant, classes)
    raise ValueError(model)


def _torch_lenet5(variant: str, classes: int):
    """minidl.models.lenet5 transcribed into torch (sparse C3 as a masked dense kernel)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    if variant == "modern":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
            nn.MaxPool2d(2), nn.Conv2d(16, 120, 5), nn.ReLU(), nn.Flatten(), nn.Linear(120, 84),
            nn.ReLU(), nn.Linear(84, classes))
    from minidl.models.lenet import rbf_codes
    from minidl.models.lenet_layers import LENET5_C3_TABLE

    class Tanh(nn.Module):
        def forward(self, x):
            return 1.7159 * torch.tanh(x * (2.0 / 3.0))

    class Sub(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.weight = nn.Parameter(torch.rand(c) * 0.6 - 0.3)
            self.bias = nn.Parameter(torch.rand(c) * 0.6 - 0.3)

        def forward(self, x):
            c = x.shape[1]
            return (F.avg_pool2d(x, 2) * 4.0 * self.weight.reshape(1, c, 1, 1)
                    + self.bias.reshape(1, c, 1, 1))

    class Sparse(nn.Module):
        def __init__(self):
            super().__init__()
            table = torch.tensor(LENET5_C3_TABLE, dtype=torch.float32).t()  # [out, in]
            self.register_buffer("mask", table.reshape(16, 6, 1, 1))
            self.weight = nn.Parameter(torch.randn(16, 6, 5, 5) * 0.1)
            self.bias = nn.Parameter(torch.zeros(16))

        def forward(self, x):
            return F.conv2d(x, self.weight * self.mask, self.bias)

    class RBF(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("c", torch.from_numpy(rbf_codes(classes)))

        def forward(self, x):
            c = self.c
            return -((x * x).sum(1, keepdim=True) - 2.0 * (x @ c.t()) + (c * c).sum(1)[None])

    return nn.Sequential(
        nn.Conv2d(1, 6, 5), Tanh(), Sub(6), Tanh(), Sparse(), Tanh(), Sub(16), Tanh(),
        nn.Conv2d(16, 120, 5), Tanh(), nn.Flatten(), nn.Linear(120, 84), Tanh(), RBF())


# ---- the stubbed backend -------------------------------------------------------------------------
_IN_PLACE = ("copy_into", "strided_add_", "put_", "sgd_step", "sgd_paper_step", "adam_step",
             "rmsprop_step", "adagrad_step", "adadelta_step")


def stub_backend() -> None:
    """Replace every CPU contract primitive by a cached-result stub (see the module doc)."""
    import minidl.backend.cpu as B
    from minidl.backend.contract import primitive_names

    def key_of(a):
        if isinstance(a, np.ndarray):
            return (a.shape, a.dtype.char)
        if isinstance(a, (list, tuple)):
            return tuple(key_of(v) for v in a)
        return a if a is None or isinstance(a, (int, float, str, bool)) else type(a).__name__

    def make(name, fn):
        if name in _IN_PLACE:
            return lambda *a, **k: None
        if name in ("reshape",):
            return fn
        cache = {}

        def stub(*args, **kwargs):
            k = key_of(args)
            r = cache.get(k)
            if r is None:
                r = cache[k] = fn(*args, **kwargs)
            return r
        return stub

    for name in primitive_names():
        if hasattr(B, name):
            setattr(B, name, make(name, getattr(B, name)))


# ---- one library in one process ------------------------------------------------------------------
def blas_kernels() -> list[str]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return ["threadpoolctl not installed"]
    return [f"{p.get('internal_api')} {p.get('version')} {p.get('architecture', '?')} "
            f"threads={p.get('num_threads')} ({os.path.basename(p.get('filepath', ''))})"
            for p in threadpool_info()]


def child(lib: str, case: str, stub: bool, profile: bool, steps: int | None) -> dict:
    model_name, batch, shape, classes, warmup, timed = CASES[case]
    timed = steps or timed
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch,) + shape).astype(np.float32)
    y = rng.integers(0, classes, batch)
    if lib == "torch":
        import torch
        torch.set_num_threads(THREADS)
        torch.manual_seed(0)
        model = build("torch", model_name, classes)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        F = torch.nn.functional
    else:
        import minidl
        minidl.manual_seed(0)
        model = build("minidl", model_name, classes)
        xt, yt = minidl.tensor(x), minidl.tensor(y)
        opt = minidl.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        import minidl.nn.functional as F
    model.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()

    for _ in range(warmup):  # JIT compilation, caches, BLAS pools
        step()
    if stub:
        stub_backend()
        for _ in range(2):
            step()  # fill the stub caches
    if profile:
        import cProfile
        import pstats
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(timed):
            step()
        pr.disable()
        pstats.Stats(pr, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    times, cpu = [], []
    for _ in range(timed):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"ms": 1e3 * statistics.median(times), "cpu_ms": 1e3 * statistics.median(cpu),
            "blas": blas_kernels()}


def run_child(lib: str, case: str, stub: bool = False, steps: int | None = None) -> dict:
    root = ROOT
    if lib == "before":  # minidl from another checkout (--baseline)
        lib, root = "minidl", BASELINE[0]
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
              "MINIDL_BENCH_THREADS"):
        env[k] = str(THREADS)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", lib, case]
    if stub:
        cmd.append("--stub")
    if steps:
        cmd += ["--steps", str(steps)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    if r.returncode:
        raise RuntimeError(f"{lib} {case} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    global THREADS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", default="", help=f"comma-separated, of {', '.join(CASES)}")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=None, help="timed steps per process")
    ap.add_argument("--quick", action="store_true", help=f"{','.join(QUICK)}, 2 rounds")
    ap.add_argument("--stub", action="store_true", help="add minidl with kernels stubbed out")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also time minidl from this checkout (column 'before'), alternating")
    ap.add_argument("--threads", type=int, default=THREADS,
                    help="threads per library (default 2; 1 is the fairer comparison when other "
                         "jobs load the cores: a spinning pool then waits for time slices)")
    ap.add_argument("--profile", metavar="CASE", help="cProfile minidl on CASE (to stderr)")
    ap.add_argument("--child", nargs=2, metavar=("LIB", "CASE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    THREADS = args.threads
    if args.child:
        print(json.dumps(child(*args.child, args.stub, False, args.steps)))
        return 0
    if args.baseline:
        BASELINE[0] = os.path.abspath(args.baseline)
    if args.profile:
        child("minidl", args.profile, args.stub, True, args.steps)
        return 0
    cases = (args.cases.split(",") if args.cases else QUICK if args.quick else list(CASES))
    rounds = 2 if args.quick and args.rounds == 3 else args.rounds
    libs = ["minidl"]
    if not args.no_torch:
        try:
            import torch  # noqa: F401
            libs = ["torch", "minidl"]
        except ImportError:
            print("torch not importable: minidl only")
    if args.baseline:
        libs.append("before")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"{THREADS} threads, {rounds} rounds; children without OPENBLAS_CORETYPE/L2_SIZE")
    blas_shown = set()
    head = ("| case |" + "".join(f" {lib} ms |" for lib in libs)
            + "".join(f" {lib} CPU ms |" for lib in libs)
            + (" PyTorch/minidl CPU |" if "torch" in libs else "")
            + (" PyTorch/minidl |" if "torch" in libs else "")
            + (" before/minidl CPU |" if "before" in libs else "")
            + (" minidl, kernels stubbed CPU ms |" if args.stub else ""))
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    print("\n".join(rows), flush=True)
    for case in cases:
        ms = {lib: [] for lib in libs}
        cpu = {lib: [] for lib in libs}
        ratios, stubbed, gains, cratios = [], [], [], []
        for r in range(rounds):
            order = libs if r % 2 == 0 else libs[::-1]
            got = {}
            for lib in order:
                res = run_child(lib, case, steps=args.steps)
                got[lib] = res["ms"]
                ms[lib].append(res["ms"])
                cpu[lib].append(res["cpu_ms"])
                for line in res["blas"]:
                    if (lib, line) not in blas_shown:
                        blas_shown.add((lib, line))
                        print(f"  [{lib} BLAS: {line}]", flush=True)
            if "torch" in libs:
                ratios.append(got["torch"] / got["minidl"])
                cratios.append(cpu["torch"][-1] / cpu["minidl"][-1])
            if "before" in libs:
                gains.append(cpu["before"][-1] / cpu["minidl"][-1])
            if args.stub:
                stubbed.append(run_child("minidl", case, stub=True, steps=args.steps)["cpu_ms"])
        row = f"| {LABELS[case]} |" + "".join(
            f" {statistics.median(ms[lib]):.1f} ({min(ms[lib]):.1f}-{max(ms[lib]):.1f}) |"
            for lib in libs)
        row += "".join(f" {statistics.median(cpu[lib]):.1f} |" for lib in libs)
        if "torch" in libs:
            row += f" {statistics.median(cratios):.2f} |"
        if "torch" in libs:
            row += f" {statistics.median(ratios):.2f} |"
        if "before" in libs:
            row += f" {statistics.median(gains):.2f} |"
        if args.stub:
            row += f" {statistics.median(stubbed):.1f} |"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
