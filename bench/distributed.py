"""Data-parallel scaling on this machine (a benchmark, not a test): images/s of LeNet-5 and the
CIFAR-10 net with 1 and 2 MPI ranks (1 thread each, batch B per rank), MPI_Allreduce bandwidth
against message size, and how much of the gradient allreduce DDP hides behind backward.

    python bench/distributed.py [--ranks 1 2] [--steps 10] [--json out.json]

The script launches itself under `mpiexec -n R` for each R (as root it sets Open MPI's
OMPI_ALLOW_RUN_AS_ROOT*, and --oversubscribe), so run it from a plain shell, not under mpiexec.

Overlap: per model, with 2 ranks, the median time of
  local    forward+backward of the bare model (no communication),
  serial   the same + one blocking allreduce of all gradients after backward (no overlap),
  ddp      forward+backward of DistributedDataParallel with small buckets (bucket_cap_mb
           0.05, so several Iallreduces run while backward goes on).
hidden = (serial - ddp) / (serial - local): the share of the communication time overlapped;
and, measured inside DDP, the wait at the end of backward (the allreduce time not hidden) with
one bucket (default 25 MB: these models fit in one, so nothing can overlap) and small buckets.
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

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"lenet5": (1, 64), "cifar_convnet": (3, 32)}  # name -> (channels, batch per rank)


def _env() -> dict:
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def launch(ranks: int, steps: int) -> dict:
    exe = Path(sys.executable).parent / "mpiexec"
    cmd = [str(exe) if exe.exists() else "mpiexec", "-n", str(ranks), "--oversubscribe",
           sys.executable, str(Path(__file__).resolve()), "--worker", "--steps", str(steps)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=1800)
    for line in res.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise SystemExit(f"mpiexec -n {ranks} failed (exit {res.returncode}):\n{res.stderr[-3000:]}")


# ---------------------------------------------------------------- worker (one MPI rank)


def _model(name):
    import minidl
    from minidl.models import get_model
    minidl.manual_seed(0)
    return get_model(name, **({"variant": "modern"} if name == "lenet5" else {}))


def _batch(c, b, rank):
    import minidl
    rng = np.random.default_rng(rank)
    return (minidl.tensor(rng.standard_normal((b, c, 32, 32)).astype(np.float32)),
            minidl.tensor(rng.integers(0, 10, b)))


def _time_steps(comm, fn, steps: int) -> float:
    """Median seconds per call of fn over `steps` calls after 2 warm-up calls, each call timed
    on the slowest rank (the median resists the other jobs of a shared machine)."""
    for _ in range(2):
        fn()
    comm.Barrier()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times = np.max(np.array(comm.allgather(times)), axis=0)
    return float(np.median(times))


def _MPI():
    from mpi4py import MPI
    return MPI


def worker(steps: int) -> None:
    import minidl.distributed as dist
    from minidl.nn import functional as F
    from minidl.optim import SGD

    dist.init_process_group("mpi")
    comm = dist._group._get().comm
    rank, world = dist.get_rank(), dist.get_world_size()
    out = {"world": world, "models": {}, "allreduce": []}
    for name, (c, b) in MODELS.items():
        model = _model(name)
        ddp = dist.DistributedDataParallel(model)
        opt = SGD(ddp.parameters(), lr=0.01, momentum=0.9)
        x, y = _batch(c, b, rank)

        def train_step():
            loss = F.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sec = _time_steps(comm, train_step, steps)
        row = {"batch_per_rank": b, "step_s": sec, "img_s": world * b / sec,
               "params": sum(p.numel() for p in model.parameters()),
               "buckets": len(ddp._buckets)}
        if world > 1:
            row.update(_overlap(comm, dist, name, c, b, rank, steps))
        out["models"][name] = row
    if world > 1:
        MPI = _MPI()
        for nbytes in [2 ** k for k in range(12, 26, 2)]:
            buf = np.ones(nbytes // 4, np.float32)
            reps = max(3, min(200, (1 << 24) // nbytes))
            sec = _time_steps(comm, lambda: comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM), reps)
            out["allreduce"].append({"bytes": nbytes, "us": sec * 1e6,
                                     "algbw_GBs": nbytes / sec / 1e9,
                                     "busbw_GBs": 2 * (world - 1) / world * nbytes / sec / 1e9})
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)
    dist.destroy_process_group()


def _overlap(comm, dist, name, c, b, rank, steps) -> dict:
    from minidl.nn import functional as F
    MPI = _MPI()
    x, y = _batch(c, b, rank)
    bare = _model(name)
    params = list(bare.parameters())

    def local():
        bare.zero_grad()
        F.cross_entropy(bare(x), y).backward()

    def serial():
        local()
        flat = np.concatenate([p.grad.numpy().ravel() for p in params])
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
    t_local = _time_steps(comm, local, steps)
    t_serial = _time_steps(comm, serial, steps)
    out = {"fwd_bwd_local_s": t_local, "fwd_bwd_serial_allreduce_s": t_serial}
    for tag, cap in (("one_bucket", None), ("small_buckets", 0.05)):
        ddp_model = _model(name)
        ddp = dist.DistributedDataParallel(ddp_model, bucket_cap_mb=cap)
        waits, done = _time_finalize(ddp)

        def step():
            ddp_model.zero_grad()
            F.cross_entropy(ddp(x), y).backward()
        out[f"fwd_bwd_ddp_{tag}_s"] = _time_steps(comm, step, steps)
        out[f"ddp_{tag}"] = len(ddp._buckets)
        # the wait at the end of backward: the allreduce time backward did not hide
        out[f"exposed_wait_{tag}_s"] = float(np.median(waits[2:]))
        out[f"reduced_before_end_{tag}"] = float(np.mean(done[2:]))
    comm_s = t_serial - t_local
    out["hidden"] = ((t_serial - out["fwd_bwd_ddp_small_buckets_s"]) / comm_s
                     if comm_s > 0 else float("nan"))
    return out


def _time_finalize(ddp) -> tuple[list, list]:
    """Record, per backward of `ddp`, the seconds of the end-of-backward wait + gradient write,
    and how many buckets were already reduced when backward reached its end."""
    waits, done, orig = [], [], ddp._finalize

    def timed(last):
        done.append(sum(b.work.is_completed() for b in ddp._buckets))
        t0 = time.perf_counter()
        res = orig(last)
        waits.append(time.perf_counter() - t0)
        return res
    ddp._finalize = timed
    return waits, done


# ---------------------------------------------------------------- report


def report(runs: dict) -> None:
    print(f"# minidl.distributed on {platform.node()} ({os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), 1 thread per rank")
    one = runs.get(1)
    for name in MODELS:
        print(f"\n{name}:")
        for world, r in sorted(runs.items()):
            m = r["models"][name]
            eff = (f", scaling efficiency {m['img_s'] / (world * one['models'][name]['img_s']):.0%}"
                   if one and world > 1 else "")
            print(f"  {world} rank(s) x batch {m['batch_per_rank']}: {m['img_s']:8.1f} img/s "
                  f"({m['step_s'] * 1e3:.1f} ms/step, {m['buckets']} bucket(s)){eff}")
            if "hidden" in m:
                print(f"    fwd+bwd: local {m['fwd_bwd_local_s'] * 1e3:.1f} ms, + blocking "
                      f"allreduce {m['fwd_bwd_serial_allreduce_s'] * 1e3:.1f} ms, DDP 1 bucket "
                      f"{m['fwd_bwd_ddp_one_bucket_s'] * 1e3:.1f} ms, DDP "
                      f"{m['ddp_small_buckets']} buckets "
                      f"{m['fwd_bwd_ddp_small_buckets_s'] * 1e3:.1f} ms -> {m['hidden']:.0%} "
                      "of the allreduce hidden")
                print(f"    wait at the end of backward: 1 bucket "
                      f"{m['exposed_wait_one_bucket_s'] * 1e3:.2f} ms, {m['ddp_small_buckets']} "
                      f"buckets {m['exposed_wait_small_buckets_s'] * 1e3:.2f} ms; buckets already "
                      f"reduced when backward ended: {m['reduced_before_end_small_buckets']:.1f} "
                      f"of {m['ddp_small_buckets']}")
    for world, r in sorted(runs.items()):
        if r["allreduce"]:
            print(f"\nMPI_Allreduce, {world} ranks (float32 sum, in place):")
            print("  bytes       time (us)   algbw (GB/s)   busbw (GB/s)")
            for a in r["allreduce"]:
                print(f"  {a['bytes']:>9}  {a['us']:>10.1f}   {a['algbw_GBs']:>12.3f}   "
                      f"{a['busbw_GBs']:>12.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.steps)
    runs = {r: launch(r, args.steps) for r in args.ranks}
    report(runs)
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
