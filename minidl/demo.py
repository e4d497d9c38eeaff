"""`python -m minidl.demo` (`make demo`): the README's main job.

Trains LeNet-5 (the 1998 paper's network: trainable subsampling, Table I's sparse C3, scaled
tanh, RBF output) on the built-in UCI digits (1,437 training / 360 test images, 8x8 upscaled to
LeNet's 32x32 field) with minidl's shared training loop, then prints the test accuracy.
A few minutes at most on 2 CPU cores.  Options: --epochs N, --variant paper|modern, --out DIR.
(The CUDA kernels are covered by the test suite under numba's simulator, not here.)
"""
from __future__ import annotations

import argparse
import tempfile
import time

import minidl
from minidl.cli import load_data, make_optimizer
from minidl.data import DataLoader
from minidl.models import lenet5
from minidl.train import evaluate, fit


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(prog="python -m minidl.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--variant", default="paper", choices=("paper", "modern"))
    ap.add_argument("--out", help="where metrics and the checkpoint go (default: a temp folder)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    minidl.manual_seed(0)
    train, test, _, desc = load_data("lenet5", None)
    model = lenet5(args.variant)
    print(f"minidl {minidl.__version__} demo: LeNet-5 ({args.variant}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters) on {desc}")
    opt, sched = make_optimizer("lenet5", model)  # lr: paper 0.002, modern 0.05
    out = args.out or tempfile.mkdtemp(prefix="minidl-demo-")
    fit(model, DataLoader(train, batch_size=32, shuffle=True), opt,
        val_loader=DataLoader(test, batch_size=360), epochs=args.epochs, scheduler=sched,
        out_dir=out, title=f"LeNet-5 ({args.variant}) on UCI digits")
    acc = evaluate(model, DataLoader(test, batch_size=360), progress=False)["accuracy"]
    print(f"test accuracy: {acc:.2%} ({round(acc * len(test))}/{len(test)}) after {args.epochs} "
          f"epochs in {time.perf_counter() - t0:.0f} s; metrics, plot and checkpoint in {out}")
    return acc


if __name__ == "__main__":
    main()
