"""Data-pipeline throughput: images/second of the MNIST and CIFAR-10 loaders with augmentation,
batch 128, with 0, 1 and 2 workers (a benchmark, not a test).

    python bench/data.py [--data ../shared/data] [--batches 100] [--workers 0 1 2]

Each configuration loads 3 warm-up batches (worker start-up is not timed), then times `--batches`
batches, epochs back to back with persistent workers. Results are printed as a table.
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import time
from pathlib import Path

import minidl
from minidl.data import DataLoader
from minidl.data import transforms as T
from minidl.data.datasets import CIFAR10, MNIST

ROOT = Path(__file__).resolve().parents[1]


def pipelines(data: Path):
    mnist = MNIST(data / "mnist", train=True, transform=T.Compose([
        T.RandomCrop(28, padding=2), T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    cifar = CIFAR10(data / "cifar10-subset", train=True, transform=T.Compose([
        T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
        T.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))]))
    return {"MNIST (crop+normalize)": mnist, "CIFAR-10 (crop+flip+normalize)": cifar}


def _epochs(loader):
    while True:  # epochs back to back (persistent workers keep running between them)
        yield from loader


def _cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the workers, once shut down)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(dataset, workers: int, batches: int, batch_size: int) -> tuple[float, float]:
    """(images per wall-clock second, images per CPU second of all processes involved)."""
    cpu0 = _cpu_seconds()
    minidl.manual_seed(0)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                        drop_last=True, persistent_workers=workers > 0)
    it = _epochs(loader)
    for _ in range(3):  # warm-up (and worker start-up)
        next(it)
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
    elapsed = time.perf_counter() - start
    it.close()
    del it, loader
    gc.collect()  # shut the workers down, so their CPU time is counted
    cpu = _cpu_seconds() - cpu0
    return batches * batch_size / elapsed, (batches + 3) * batch_size / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    args = ap.parse_args()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"batch {args.batch_size}, {args.batches} batches per run, {os.cpu_count()} CPUs, "
          f"load average {load} (other processes skew the numbers)")
    print("images/s (wall clock), and in brackets images per CPU-second summed over the main "
          "process and its workers (start-up included)")
    print(f"{'dataset':32s}" + "".join(f"{f'{w} workers':>24s}" for w in args.workers))
    for name, ds in pipelines(args.data).items():
        row = [measure(ds, w, args.batches, args.batch_size) for w in args.workers]
        print(f"{name:32s}" + "".join(f"{r:>12,.0f} ({c:>7,.0f})/s" for r, c in row))


if __name__ == "__main__":
    main()
