"""The `minidl` command: `minidl train`, `minidl info`.

    minidl train lenet5|alexnet|cifar_convnet [--variant V] [--device cpu|cuda] [--data PATH]
                 [--epochs N] [--batch-size N] [--lr X] [--workers N] [--checkpoint PATH]
                 [--resume PATH] [--seed N] [--out DIR] [--dry-run N] [--subset N]
    minidl info [--no-ptx]      versions, devices, simulator or GPU, do all kernels compile to PTX

Data (`--data`): a folder of MNIST IDX files, of CIFAR-10 batches (binary or python), or an image
folder (class subfolders, optionally under train/ and val/ or test/; decoded into memory once,
at 256x256 for AlexNet, so meant for small folders); without --data the built-in UCI
digits (8x8) are upscaled to the model's input.  Images are conformed to the model's input
(channels replicated or converted to grey, MNIST padded 28 -> 32 for LeNet-5, other sizes
resized bilinearly) and normalised with the training set's per-channel mean and std.
AlexNet trains with the paper's recipe: SGD (the paper's update form) momentum 0.9, weight decay
5e-4, batch 128, lr 0.01 divided by 10 when validation accuracy plateaus, random 224 crops of a
256 image, horizontal flips (not for digit sets) and PCA lighting (alphastd 0.1).
This module only parses arguments and calls: the recipes (data, augmentation, optimizer defaults)
live in minidl.models.recipes and minidl.data.recipes, which the demo and examples/ use too.
The benchmarks (bench/ in the repository, not installed) run as `python bench/<name>.py`.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .models.recipes import DEFAULTS, VARIANTS, load_data, make_optimizer

__all__ = ["main"]

# ---------------------------------------------------------------- train


def _build_model(name: str, variant, num_classes: int):
    from .models import get_model
    kwargs = {"num_classes": num_classes}
    if VARIANTS[name]:
        kwargs["variant"] = variant or DEFAULTS[name]["variant"]
    elif variant:
        raise SystemExit(f"minidl train: {name} has no variants (got --variant {variant})")
    return get_model(name, **kwargs)


def _dry_run(args, model, device) -> int:
    import minidl
    from .models import INPUT_SPECS
    from .nn import functional as F

    c, h, w = INPUT_SPECS[args.model]
    bs = args.batch_size or DEFAULTS[args.model]["batch_size"]
    opt, _ = make_optimizer(args.model, model, args.lr)
    model.train()
    rng = np.random.default_rng(args.seed)
    num_classes = args._num_classes
    times = []
    print(f"dry run: {args.model} ({sum(p.numel() for p in model.parameters()):,} parameters), "
          f"{args.dry_run} steps of batch {bs} x {c}x{h}x{w} random data on {device}")
    for step in range(args.dry_run):
        x = minidl.tensor(rng.standard_normal((bs, c, h, w), dtype=np.float32), device=device)
        y = minidl.tensor(rng.integers(0, num_classes, bs), device=device)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = loss.item()
        times.append(time.perf_counter() - t0)
        print(f"  step {step + 1}: loss {value:.4f}  {times[-1]:.2f} s")
    steady = times[1:] or times
    mean = sum(steady) / len(steady)
    print(f"{mean:.2f} seconds/step ({bs / mean:.1f} images/s)"
          + (f"; first step {times[0]:.2f} s (includes compilation)" if len(times) > 1 else ""))
    return 0


def cmd_train(args) -> int:
    import minidl
    from .data import DataLoader
    from .train import fit

    if args.device == "cuda":
        minidl.cuda.require()
    device = args.device
    minidl.manual_seed(args.seed)
    d = DEFAULTS[args.model]
    if args.dry_run:
        args._num_classes = 1000 if args.model == "alexnet" else 10
        model = _build_model(args.model, args.variant, args._num_classes).to(device)
        return _dry_run(args, model, device)
    train_ds, test_ds, k, desc = load_data(args.model, args.data, subset=args.subset)
    print(desc)
    model = _build_model(args.model, args.variant, k).to(device)
    opt, sched = make_optimizer(args.model, model, args.lr)
    bs = args.batch_size or d["batch_size"]
    workers = args.workers
    train_loader = DataLoader(train_ds, batch_size=bs, shuffle=True, num_workers=workers,
                              persistent_workers=workers > 0)
    test_loader = DataLoader(test_ds, batch_size=max(bs, 256) if args.model != "alexnet" else bs,
                             num_workers=workers, persistent_workers=workers > 0)
    variant = (args.variant or d["variant"]) if VARIANTS[args.model] else None
    tag = args.model + (f"-{variant}" if variant else "")
    out = Path(args.out or Path("runs") / tag)
    print(f"{tag}: {sum(p.numel() for p in model.parameters()):,} parameters, batch {bs}, "
          f"lr {opt.param_groups[0]['lr']}, device {device}, output in {out}/")
    history = fit(model, train_loader, opt, val_loader=test_loader,
                  epochs=args.epochs or d["epochs"], scheduler=sched, device=device, out_dir=out,
                  checkpoint=args.checkpoint, resume=args.resume, progress=not args.no_progress,
                  title=f"{tag} on {desc.split(':')[0]}")
    if history:
        last = history[-1]
        print(f"final: test accuracy {last['val_accuracy']:.2%} (error "
              f"{1 - last['val_accuracy']:.2%}) after {last['epoch']} epochs")
    return 0


# ---------------------------------------------------------------- info


_PTX_PROBE = r"""
import json, sys, time
from minidl.cuda import inventory, ptx
rows = []
try:
    kernels = inventory.kernels()
except Exception as e:
    print(json.dumps({"error": f"inventory: {type(e).__name__}: {e}"})); sys.exit(0)
for name, fn, sig, opts in kernels:
    for cc in ptx.ARCHS:
        t0 = time.perf_counter()
        try:
            ptx.compile_ptx(fn, sig, cc, opts)
            rows.append([name, list(cc), True, ""])
        except Exception as e:
            rows.append([name, list(cc), False, f"{type(e).__name__}: {str(e)[:200]}"])
print(json.dumps({"rows": rows}))
"""


def _version(mod: str) -> str:
    try:
        from importlib.metadata import version
        return version(mod)
    except Exception:
        return "not installed"


def cmd_info(args) -> int:
    import minidl

    print(f"minidl {minidl.__version__}  (python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs)")
    for pkg in ("numpy", "numba", "numba-cuda", "h5py", "tqdm", "matplotlib"):
        print(f"  {pkg:<11} {_version(pkg)}")
    print("devices:")
    print("  cpu")
    sim_env = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    try:
        avail = minidl.cuda.is_available()
        if avail:
            kind = "numba CUDA simulator (no GPU; NUMBA_ENABLE_CUDASIM=1)" \
                if minidl.cuda.is_simulator() else f"real GPU: {minidl.cuda.get_device_name()}"
            print(f"  cuda: {kind}")
        else:
            print("  cuda: not available (no GPU found; NUMBA_ENABLE_CUDASIM=1 runs the kernels in "
                  "numba's simulator)" if not sim_env else "  cuda: not available")
    except Exception as e:  # pragma: no cover - depends on the machine
        print(f"  cuda: error while probing: {type(e).__name__}: {e}")
    if args.no_ptx:
        return 0
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    t0 = time.perf_counter()
    print("PTX check (numba.cuda.compile_ptx for sm_80 and sm_90, in a subprocess without the "
          "simulator) ...", flush=True)
    try:
        res = subprocess.run([sys.executable, "-c", _PTX_PROBE], env=env, capture_output=True,
                             text=True, timeout=args.ptx_timeout)
    except subprocess.TimeoutExpired:
        print(f"  timed out after {args.ptx_timeout} s")
        return 1
    try:
        out = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        print(f"  the probe failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
        return 1
    if "error" in out:
        print(f"  {out['error']}")
        return 1
    rows = out["rows"]
    bad = [r for r in rows if not r[2]]
    names = {r[0] for r in rows}
    if not bad:
        print(f"  all {len(names)} kernels compile to PTX for sm_80 and sm_90 "
              f"({len(rows)} compiles, {time.perf_counter() - t0:.0f} s)")
    else:
        print(f"  {len(bad)} of {len(rows)} compiles FAILED:")
        for name, cc, _, err in bad:
            print(f"    {name} sm_{cc[0]}{cc[1]}: {err}")
    return 1 if bad else 0


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="minidl", description="minidl: train the classic "
                                 "networks, inspect the install")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train lenet5, alexnet or cifar_convnet")
    t.add_argument("model", choices=sorted(DEFAULTS))
    t.add_argument("--variant", help="lenet5: paper|modern; alexnet: paper|single")
    t.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    t.add_argument("--data", help="MNIST / CIFAR-10 / image folder (default: built-in digits)")
    t.add_argument("--epochs", type=int, help="epochs (lenet5 10, alexnet 90, cifar_convnet 30)")
    t.add_argument("--batch-size", type=int, help="(lenet5 64, alexnet 128, cifar_convnet 128)")
    t.add_argument("--lr", type=float, help="initial learning rate (lenet5 paper 0.002, modern "
                   "0.05; alexnet, cifar_convnet 0.01)")
    t.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    t.add_argument("--checkpoint", help="checkpoint path (default OUT/checkpoint.h5)")
    t.add_argument("--resume", help="continue from this checkpoint")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", help="output folder (default runs/MODEL-VARIANT)")
    t.add_argument("--dry-run", type=int, default=0, metavar="N",
                   help="N steps on random data at full input size; prints seconds/step")
    t.add_argument("--subset", type=int, metavar="N",
                   help="use only the first N training and N test images")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.set_defaults(func=cmd_train)
    i = sub.add_parser("info", help="versions, devices, PTX compile check")
    i.add_argument("--no-ptx", action="store_true", help="skip the PTX compile check")
    i.add_argument("--ptx-timeout", type=float, default=900.0)
    i.set_defaults(func=cmd_info)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "variant", None) and args.variant not in VARIANTS.get(args.model, ()):
        if VARIANTS.get(args.model):
            raise SystemExit(f"minidl train: --variant for {args.model} must be one of "
                             f"{', '.join(VARIANTS[args.model])}")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
