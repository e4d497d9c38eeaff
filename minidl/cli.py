"""The `minidl` command: `minidl train`, `minidl info`.

    minidl train lenet5|alexnet|cifar_convnet [--variant V] [--device cpu|cuda] [--data PATH]
                 [--epochs N] [--batch-size N] [--lr X] [--workers N] [--checkpoint PATH]
                 [--resume PATH] [--seed N] [--out DIR] [--dry-run N] [--subset N]
                 [--distributed]     (under mpiexec / srun: data-parallel over the MPI ranks)
    minidl info [--no-ptx] [--compile-time]   versions, devices, simulator or GPU, toolchains
                 and their PTX ISA, do all kernels compile to PTX, LeNet-5's first-step compile time

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
Bad arguments are one-line usage errors (`minidl train: error: ...`, exit 2); Ctrl-C during
training prints the last checkpoint and exits 130.
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

from .data.recipes import detect_data
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
    bs = DEFAULTS[args.model]["batch_size"] if args.batch_size is None else args.batch_size
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


def _stat(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _last_checkpoint(args) -> str:
    """"last checkpoint: PATH (epoch N)" for the checkpoint this run wrote, else the one it
    resumed from, else "no checkpoint written yet" (a file at the checkpoint path that this run
    did not write belongs to an earlier run)."""
    path = getattr(args, "_checkpoint", None)
    if path is None or _stat(path) in (None, args._checkpoint_stat):
        if args.resume is None:
            return "no checkpoint written yet"
        path = args.resume
    try:  # just the epoch attribute: the user is waiting, and save_checkpoint wrote this file
        import h5py
        with h5py.File(path, "r") as f:
            epoch = int(f.attrs["epoch"])
    except Exception:
        return f"last checkpoint: {path}"
    return f"last checkpoint: {path} (epoch {epoch})"


def cmd_train(args) -> int:
    import minidl
    from .data import DataLoader
    from .train import fit

    if args.distributed and not getattr(args, "_in_group", False):
        return _in_process_group(cmd_train, args)
    if args.device == "cuda":
        minidl.cuda.require()
    device = args.device
    rank, world = 0, 1
    if args.distributed:
        import minidl.distributed as dist
        rank, world = dist.get_rank(), dist.get_world_size()
        if device == "cuda":  # one GPU per process: the launcher's local rank picks it
            device = f"cuda:{dist.get_node_local_rank() % max(minidl.cuda.device_count(), 1)}"
    minidl.manual_seed(args.seed)
    d = DEFAULTS[args.model]
    if args.dry_run:
        args._num_classes = 1000 if args.model == "alexnet" else 10
        model = _build_model(args.model, args.variant, args._num_classes).to(device)
        if args.distributed:
            from .distributed import DistributedDataParallel
            model = DistributedDataParallel(model)
        return _dry_run(args, model, device)
    train_ds, test_ds, k, desc = load_data(args.model, args.data, subset=args.subset)
    print(desc)
    model = _build_model(args.model, args.variant, k).to(device)
    opt, sched = make_optimizer(args.model, model, args.lr)
    bs = d["batch_size"] if args.batch_size is None else args.batch_size
    workers = args.workers
    sampler = None
    if args.distributed:
        from .data import DistributedSampler, Subset
        from .distributed import DistributedDataParallel
        model = DistributedDataParallel(model)
        # batch size is per rank; each rank evaluates every world-th test image
        sampler = DistributedSampler(train_ds, shuffle=True, seed=args.seed)
        test_ds = Subset(test_ds, range(rank, len(test_ds), world))
    train_loader = DataLoader(train_ds, batch_size=bs, shuffle=sampler is None, sampler=sampler,
                              num_workers=workers, persistent_workers=workers > 0)
    test_loader = DataLoader(test_ds, batch_size=max(bs, 256) if args.model != "alexnet" else bs,
                             num_workers=workers, persistent_workers=workers > 0)
    variant = (args.variant or d["variant"]) if VARIANTS[args.model] else None
    tag = args.model + (f"-{variant}" if variant else "")
    out = Path(args.out or Path("runs") / tag)
    print(f"{tag}: {sum(p.numel() for p in model.parameters()):,} parameters, batch {bs}"
          f"{f' per rank x {world} ranks' if args.distributed else ''}, "
          f"lr {opt.param_groups[0]['lr']}, device {device}, output in {out}/")
    if args.resume is not None:
        _check_resume(args, model, tag)
    args._checkpoint = args.checkpoint or out / "checkpoint.h5"
    args._checkpoint_stat = _stat(args._checkpoint)
    epochs = d["epochs"] if args.epochs is None else args.epochs
    history = fit(model, train_loader, opt, val_loader=test_loader,
                  epochs=epochs, scheduler=sched, device=device, out_dir=out,
                  checkpoint=args.checkpoint, resume=args.resume, progress=not args.no_progress,
                  title=f"{tag} on {desc.split(':')[0]}")
    if history:
        last = history[-1]
        print(f"final: test accuracy {last['val_accuracy']:.2%} (error "
              f"{1 - last['val_accuracy']:.2%}) after {last['epoch']} epochs")
    return 0


def _in_process_group(fn, args) -> int:
    """fn(args) as one rank of the MPI job: ranks other than 0 print nothing to stdout, and any
    way out but success (an exception, Ctrl-C, a non-zero exit) ends every rank with MPI_Abort
    rather than leaving the others blocked in a collective."""
    import minidl.distributed as dist
    dist.init_process_group("mpi")
    if dist.get_rank() != 0:
        sys.stdout = open(os.devnull, "w")
    args._in_group = True
    try:
        rc = fn(args)
    except SystemExit as e:
        if e.code in (None, 0):
            raise
        dist.abort(f"exit status {e.code}")
    except BaseException:
        dist.abort(None, sys.exc_info())
    if rc:
        dist.abort(f"exit status {rc}")
    dist.destroy_process_group()
    return rc


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


def _other_toolchains(args) -> None:
    """A line per CUDA toolchain installed beside the one numba-cuda uses (the test extra puts
    CUDA 12's beside CUDA 13's) with the PTX ISA it emits: a subprocess each, skipped by
    --no-ptx."""
    import minidl
    from .cuda import toolchains

    if minidl.cuda.is_simulator():
        return
    current = toolchains.in_use()
    for tc in toolchains.installed():
        if tc == current:
            continue
        head = f"{tc.name} toolchain beside it (CUDA {tc.release()})"
        if args.no_ptx:
            print(f"  {head}: PTX ISA not probed (--no-ptx)")
            continue
        try:
            rep = toolchains.compile_kernels(["fill[float32]"], archs=((8, 0),),
                                             toolchain=tc.name, timeout=args.ptx_timeout)
        except Exception as e:
            print(f"  {head}: cannot compile ({type(e).__name__}: {str(e)[-200:]})")
            continue
        isa = tuple(rep["rows"][0]["isa"])
        need = minidl.cuda.isa_driver(isa)
        print(f"  {head}: PTX ISA {isa[0]}.{isa[1]} (a CUDA {need[0]}.{need[1]}+ driver "
              "JIT-loads it)")


def _first_step_compile_time() -> None:
    """Compile, in fresh processes, the kernels LeNet-5's first training step needs (found by
    running the step under the simulator with kernel bodies skipped) and print how long."""
    from .cuda import toolchains

    print("first-step compile time (LeNet-5 paper, batch 64, sm_80; fresh process, no cache) ...",
          flush=True)
    try:
        r = toolchains.first_step_compile_time("lenet5", "paper", 64)
    except Exception as e:
        print(f"  not measured: {type(e).__name__}: {str(e)[-300:]}")
        return
    unknown = f"; {len(r['unknown'])} not in the inventory, not compiled" if r["unknown"] else ""
    print(f"  first training step of LeNet-5 compiles {r['kernels']} kernels in "
          f"{r['nvvm_s'] + r['ptxas_s']:.1f} s (NVVM {r['nvvm_s']:.1f} s + ptxas "
          f"{r['ptxas_s']:.1f} s with CUDA {r['release']}{unknown}; {r['seconds']:.1f} s wall "
          "with the process start; cached on a GPU by cache=True)")


def cmd_info(args) -> int:
    import minidl

    print(f"minidl {minidl.__version__}  (python {platform.python_version()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs)")
    for pkg in ("numpy", "numba", "numba-cuda", "h5py", "tqdm", "matplotlib"):
        print(f"  {pkg:<11} {_version(pkg)}")
    print("devices:")
    print("  cpu")
    sim_env = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
    if not minidl.cuda.has_numba_cuda():  # say it once; never compile on numba's built-in target
        print(f"  cuda: not available: {minidl.cuda.unavailable_reason()}")
        if args.compile_time:
            print("first-step compile time: not measured (needs numba-cuda, see above)")
        return 0
    for line in minidl.cuda.toolchain_report():
        print(f"  {line}")
    _other_toolchains(args)
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
    if args.compile_time:
        _first_step_compile_time()
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


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: `minidl train: error: ...`, exit 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(low: int):
    what = "a positive integer" if low == 1 else "an integer >= 0"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be {what}, got {value}")
        return value
    parse.__name__ = what  # (argparse names the type in some messages)
    return parse


def _learning_rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _validate_train(args) -> None:
    """Usage errors argparse cannot see: paths, devices (before any data or model loads)."""
    sub = _Parser(prog="minidl train")
    if args.data is not None:
        if not os.path.exists(os.path.expanduser(args.data)):
            sub.error(f"argument --data: no such file or directory: {args.data}")
        try:
            detect_data(args.data)
        except (ValueError, OSError) as e:
            sub.error(str(e))
    if args.resume is not None and not os.path.isfile(args.resume):
        sub.error(f"argument --resume: no such checkpoint file: {args.resume}")
    if args.device == "cuda":
        import minidl
        from .errors import DeviceError
        try:
            minidl.cuda.require()
        except DeviceError as e:
            sub.error(f"argument --device cuda: {e}")


def _check_resume(args, model, tag: str) -> None:
    """Refuse (exit 2) a --resume file that is not a checkpoint of this model."""
    import minidl
    from .errors import CheckpointError
    sub = _Parser(prog="minidl train")
    try:
        state = minidl.load(args.resume, map_location="cpu")
    except CheckpointError as e:
        sub.error(f"argument --resume: {e}")
    saved = state.get("model") if isinstance(state, dict) else None
    if not isinstance(saved, dict) or "epoch" not in state:
        sub.error(f"argument --resume: {args.resume} is a minidl file but not a training "
                  "checkpoint (no model state and epoch)")
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(getattr(v, "shape", ())) for k, v in saved.items()}
    if want != have:
        diff = sorted(set(want) ^ set(have)) or [k for k in want if want[k] != have[k]]
        k = diff[0]
        sub.error(f"argument --resume: {args.resume} is a checkpoint of another model: {tag} "
                  f"has {k!r} {list(want[k]) if k in want else '(none)'}, the checkpoint "
                  f"{list(have[k]) if k in have else '(none)'}")


def build_parser() -> argparse.ArgumentParser:
    ap = _Parser(prog="minidl", description="minidl: train the classic "
                 "networks, inspect the install")
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train lenet5, alexnet or cifar_convnet")
    t.add_argument("model", choices=sorted(DEFAULTS))
    t.add_argument("--variant", help="lenet5: paper|modern; alexnet: paper|single")
    t.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    t.add_argument("--data", help="MNIST / CIFAR-10 / image folder (default: built-in digits)")
    t.add_argument("--epochs", type=_int_at_least(1),
                   help="epochs (lenet5 10, alexnet 90, cifar_convnet 30)")
    t.add_argument("--batch-size", type=_int_at_least(1),
                   help="(lenet5 64, alexnet 128, cifar_convnet 128)")
    t.add_argument("--lr", type=_learning_rate, help="initial learning rate (lenet5 paper "
                   "0.002, modern 0.05; alexnet, cifar_convnet 0.01)")
    t.add_argument("--workers", type=_int_at_least(0), default=0,
                   help="DataLoader worker processes")
    t.add_argument("--checkpoint", help="checkpoint path (default OUT/checkpoint.h5)")
    t.add_argument("--resume", help="continue from this checkpoint")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", help="output folder (default runs/MODEL-VARIANT)")
    t.add_argument("--dry-run", type=_int_at_least(0), default=0, metavar="N",
                   help="N steps on random data at full input size; prints seconds/step")
    t.add_argument("--subset", type=_int_at_least(1), metavar="N",
                   help="use only the first N training and N test images")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    t.add_argument("--distributed", action="store_true", help="data-parallel over the MPI "
                   "ranks (launch with mpiexec -n N / srun); batch size is per rank")
    t.set_defaults(func=cmd_train)
    i = sub.add_parser("info", help="versions, devices, PTX compile check")
    i.add_argument("--no-ptx", action="store_true", help="skip the PTX compile check")
    i.add_argument("--ptx-timeout", type=float, default=900.0)
    i.add_argument("--compile-time", action="store_true", help="measure what compiling the "
                   "kernels of LeNet-5's first training step takes (about 10-30 s)")
    i.set_defaults(func=cmd_info)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "variant", None) and args.variant not in VARIANTS.get(args.model, ()):
        if VARIANTS.get(args.model):
            raise SystemExit(f"minidl train: --variant for {args.model} must be one of "
                             f"{', '.join(VARIANTS[args.model])}")
    if args.func is not cmd_train:
        return int(args.func(args) or 0)
    _validate_train(args)
    try:
        return int(cmd_train(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C: one line naming the last checkpoint, exit 130
        print(f"interrupted; {_last_checkpoint(args)}", file=sys.stderr, flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
