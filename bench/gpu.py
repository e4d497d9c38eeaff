"""GPU runtime benchmark: per training step, what minidl asks of the GPU.

Without a GPU (or with --count) it runs under numba's simulator with kernel bodies skipped and
prints, per model at its real batch shape, the steady-state (step 4) kernel launches, pool
allocations, allocations reaching the driver, device->host and host->device copies, the peaks of
memory_allocated() and memory_reserved() over steps 1-4, and the framework's own Python time per
step (kernels stubbed out).
With a GPU it also times steps (img/s, synchronised) and reports the memory peaks.

    python bench/gpu.py [--count] [--models lenet5-paper,cifar_convnet] [--steps 4]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

MODELS = {  # name: (model, variant, batch)
    "lenet5-paper": ("lenet5", "paper", 64),
    "lenet5-modern": ("lenet5", "modern", 128),
    "cifar_convnet": ("cifar_convnet", None, 128),
    "alexnet-paper": ("alexnet", "paper", 128),
}


def _has_gpu() -> bool:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    probe = "from numba import cuda; print(cuda.is_available())"
    res = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    return res.stdout.strip().endswith("True")


def _step_fn(name: str):
    """(step(), batch) for one model: a full SGD step on fresh uploads of random data."""
    import numpy as np

    import minidl
    from minidl.cli import _build_model, make_optimizer
    from minidl.models import INPUT_SPECS
    from minidl.nn import functional as F

    model_name, variant, bs = MODELS[name]
    classes = 1000 if model_name == "alexnet" else 10
    minidl.manual_seed(0)
    model = _build_model(model_name, variant, classes).to("cuda")
    opt, _ = make_optimizer(model_name, model)
    model.train()
    c, h, w = INPUT_SPECS[model_name]
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((bs, c, h, w), dtype=np.float32)
    ys = rng.integers(0, classes, bs)

    def step():
        x = minidl.tensor(xs, device="cuda")
        y = minidl.tensor(ys, device="cuda")
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step, bs


def count(names, steps: int) -> None:
    import minidl
    from minidl.cuda.counting import counting

    print(f"per training step at step {steps} (simulator, kernel bodies skipped; host times are "
          "noisy on a shared machine)")
    print(f"{'model (batch)':<24}{'launches':>9}{'pool allocs':>12}{'driver allocs':>14}"
          f"{'d2h':>5}{'h2d':>5}{'peak MB':>9}{'reserved':>9}{'host ms':>9}")
    for name in names:
        with counting(skip_kernels=True) as snap:
            step, bs = _step_fn(name)
            minidl.cuda.reset_peak_memory_stats()
            for _ in range(steps - 1):
                step()
            before = snap()
            t0 = time.perf_counter()
            step()
            ms = (time.perf_counter() - t0) * 1e3
            d = snap() - before
        peak = minidl.cuda.max_memory_allocated() / 2**20
        reserved = minidl.cuda.max_memory_reserved() / 2**20
        print(f"{name + f' ({bs})':<24}{d['launches']:>9}{d['pool_allocs']:>12}"
              f"{d['driver_allocs']:>14}{d['d2h']:>5}{d['h2d']:>5}{peak:>9.0f}{reserved:>9.0f}"
              f"{ms:>9.1f}", flush=True)
        del step
        minidl.cuda.empty_cache()


def timed(names, steps: int) -> None:
    import minidl

    print("real GPU: synchronised step times (first steps compile kernels)")
    for name in names:
        step, bs = _step_fn(name)
        for _ in range(2):
            step()
        minidl.cuda.synchronize()
        minidl.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        minidl.cuda.synchronize()
        dt = (time.perf_counter() - t0) / steps
        st = minidl.cuda.memory_stats()
        print(f"{name} ({bs}): {bs / dt:.0f} img/s, {dt * 1e3:.1f} ms/step, peak allocated "
              f"{st['allocated_bytes.all.peak'] / 2**20:.0f} MB, reserved "
              f"{st['reserved_bytes.all.peak'] / 2**20:.0f} MB", flush=True)
        del step
        minidl.cuda.empty_cache()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", action="store_true", help="count under the simulator")
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated: " + ", ".join(MODELS))
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args(argv)
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        p.error(f"unknown models {unknown}; choose from {list(MODELS)}")
    sim = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if not sim and (args.count or not _has_gpu()):
        env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
        return subprocess.run([sys.executable, __file__, "--count", *(argv or sys.argv[1:])],
                              env=env).returncode
    if sim:
        count(names, max(args.steps, 2))
    else:
        timed(names, args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
