"""minidl.distributed under a real MPI job: `mpiexec -n 2` launched from pytest.

MPI start-up costs seconds, so the checks are batched: one 2-rank job runs every check of the
"suite" scenario (this file run as a script, `python tests/test_distributed_mpi.py suite DIR`)
and prints one JSON line of {check: [failure, ...]}, which one test reads. Other jobs: a rank
raising mid-epoch, the CLI with --distributed, and (simulator tier) the CUDA staging path. A
check that raises instead of recording a failure aborts its job (MPI_Abort) and the test fails
with the job's stderr.

Threads: 1 per rank (the machine has 2 cores); Open MPI needs --oversubscribe for that and
OMPI_ALLOW_RUN_AS_ROOT* when CI runs as root.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
NRANKS = 2

pytestmark = pytest.mark.mpi


# ================================================================ launcher side


def _mpiexec() -> list[str]:
    pytest.importorskip("mpi4py",
                        reason="mpi4py is not installed (pip install 'minidl[distributed]')")
    exe = Path(sys.executable).parent / "mpiexec"
    exe = str(exe) if exe.exists() else shutil.which("mpiexec")
    assert exe, "mpi4py is installed but no mpiexec was found next to python nor on PATH"
    probe = subprocess.run([sys.executable, "-c", "from mpi4py import MPI; "
                            "print(MPI.Get_library_version())"], capture_output=True, text=True,
                           timeout=60, env=_env())
    cmd = [exe, "-n", str(NRANKS)]
    if "Open MPI" in probe.stdout:
        cmd.append("--oversubscribe")
    return cmd


def _env(**extra) -> dict:
    env = dict(os.environ)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    env.update(extra)
    return env


def _launch(scenario: str, out: Path, timeout: float = 300, **env):
    t0 = time.perf_counter()
    res = subprocess.run(_mpiexec() + [sys.executable, str(HERE), scenario, str(out)],
                         capture_output=True, text=True, timeout=timeout, env=_env(**env),
                         cwd=str(ROOT))
    return res, time.perf_counter() - t0


def _results(res) -> dict:
    for line in res.stdout.splitlines():
        if line.startswith("RESULTS "):
            return json.loads(line[len("RESULTS "):])
    pytest.fail(f"the MPI job gave no results (exit {res.returncode}):\n"
                f"stdout:\n{res.stdout[-3000:]}\nstderr:\n{res.stderr[-6000:]}")


CHECKS = ["collectives_vs_numpy", "mismatch_errors", "ddp_equals_single_process", "no_sync",
          "find_unused_parameters", "broadcast_buffers", "sampler_partition", "checkpoint_resume_2"]


def test_mpi_suite_and_resume_in_one_process(tmp_path):
    """All 2-rank checks of one job (one test, not one per check: pytest-xdist would run a
    shared fixture once per worker); then the job's epoch-1 checkpoint, resumed by one process
    with batch 2B, ends where the uninterrupted 2-rank run ended (float32 tolerance), with the
    same validation metrics."""
    res, _ = _launch("suite", tmp_path)
    results = _results(res)
    assert sorted(results) == sorted(CHECKS)
    failed = {k: v for k, v in results.items() if v}
    assert not failed, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in failed.items())

    full = np.load(tmp_path / "full_params.npy")
    hist2 = json.loads((tmp_path / "full_history.json").read_text())
    params, hist1 = _fit_run(tmp_path, resume=tmp_path / "ck1.h5", world=1, epochs=2)
    np.testing.assert_allclose(params, full, rtol=1e-4, atol=1e-5)
    assert hist1[-1]["val_loss"] == pytest.approx(hist2[-1]["val_loss"], rel=1e-4)
    assert hist1[-1]["val_accuracy"] == pytest.approx(hist2[-1]["val_accuracy"])
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        assert hist1[0][key] == hist2[0][key]  # epoch 1 comes from the checkpoint's history


def test_rank_failure_aborts_the_job(tmp_path):
    """A rank raising mid-epoch ends every rank (MPI_Abort) with its traceback, quickly."""
    res, seconds = _launch("fail", tmp_path, timeout=120)
    assert res.returncode != 0
    assert seconds < 30, f"the job took {seconds:.1f} s to end"
    err = res.stderr
    assert "[rank 1/2] unhandled exception" in err, err[-3000:]
    assert "injected failure on rank 1" in err and "MPI_Abort" in err, err[-3000:]
    assert "rank 0 finished" not in res.stdout


def test_cli_train_distributed(tmp_path):
    """`mpiexec -n 2 minidl train ... --distributed`: one report (rank 0's), one checkpoint."""
    out = tmp_path / "run"
    res = subprocess.run(_mpiexec() + [sys.executable, "-m", "minidl.cli", "train", "lenet5",
                                       "--variant", "modern", "--distributed", "--epochs", "1",
                                       "--subset", "64", "--batch-size", "16", "--no-progress",
                                       "--out", str(out)],
                         capture_output=True, text=True, timeout=300, env=_env(), cwd=str(ROOT))
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.count("epoch 1/1: train loss") == 1, res.stdout
    assert "batch 16 per rank x 2 ranks" in res.stdout
    assert (out / "checkpoint.h5").exists() and (out / "metrics.json").exists()
    hist = json.loads((out / "metrics.json").read_text())
    assert hist[0]["epoch"] == 1 and 0 <= hist[0]["val_accuracy"] <= 1


@pytest.mark.cuda
def test_cuda_staged_collectives_and_ddp_match_cpu(tmp_path):
    """Under the CUDA simulator: CUDA tensors go through host staging and give the CPU path's
    results, for the collectives and for DDP's gradients."""
    res, _ = _launch("cuda", tmp_path, NUMBA_ENABLE_CUDASIM="1")
    results = _results(res)
    assert results and all(v == [] for v in results.values()), results


# ================================================================ rank side


def _flat_params(model) -> np.ndarray:
    return np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])


def _fit_run(out: Path, resume=None, world: int = 2, epochs: int = 1, checkpoint=None):
    """LeNet-5 (modern) on 64 random 32x32 images, batch 8 per rank (16 in one process), SGD
    with momentum, DistributedSampler(seed=3); returns (parameters, history)."""
    import minidl
    from minidl.data import DataLoader, DistributedSampler, Subset, TensorDataset
    from minidl.models import lenet5
    from minidl.optim import SGD
    from minidl.train import fit

    rank = 0
    if world > 1:
        import minidl.distributed as dist
        rank = dist.get_rank()
    rng = np.random.default_rng(5)
    x = minidl.tensor(rng.standard_normal((84, 1, 32, 32)).astype(np.float32))
    y = minidl.tensor(rng.integers(0, 10, 84))
    train, val = Subset(TensorDataset(x, y), range(64)), Subset(TensorDataset(x, y), range(64, 84))
    minidl.manual_seed(11)
    model = lenet5(variant="modern")
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9)
    if world > 1:
        model = dist.DistributedDataParallel(model, bucket_cap_mb=0.1)
    sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=3)
    loader = DataLoader(train, batch_size=16 // world, sampler=sampler)
    vloader = DataLoader(Subset(val, range(rank, len(val), world)), batch_size=8)
    hist = fit(model, loader, opt, val_loader=vloader, epochs=epochs, resume=resume,
               checkpoint=checkpoint, progress=False, log=lambda m: None)
    return _flat_params(getattr(model, "module", model)), hist


class _Checks:
    def __init__(self, comm):
        self.comm, self.rank, self.results = comm, comm.Get_rank(), {}

    def run(self, name, fn, *args):
        fails: list[str] = []
        fn(fails, *args)
        every = self.comm.allgather(fails)
        self.results[name] = [f"rank {r}: {f}" for r, fs in enumerate(every) for f in fs]


def _compare(fails, what, got, want, rtol=0.0, atol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        fails.append(f"{what}: shape {got.shape} != {want.shape}")
    elif rtol == 0 and atol == 0:
        if not np.array_equal(got, want, equal_nan=True):
            fails.append(f"{what}: not bitwise equal (max diff "
                         f"{np.max(np.abs(got.astype(float) - want.astype(float)), initial=0)})")
    elif not np.allclose(got, want, rtol=rtol, atol=atol):
        fails.append(f"{what}: max abs diff {np.max(np.abs(got - want))}")


# ---- collectives, property-tested against numpy


def _rank_data(spec, r):
    rng = np.random.default_rng([spec["seed"], r])
    shape, dt = tuple(spec["shape"]), np.dtype(spec["dtype"])
    if dt == np.bool_:
        return rng.random(shape) < 0.5
    if dt.kind == "i":
        return rng.integers(-5, 6, shape).astype(dt)
    return rng.standard_normal(shape).astype(dt)


def _numpy_reduce(arrs, op):
    a = np.stack(arrs)
    if a.dtype == np.bool_:
        return a.any(0) if op in ("SUM", "MAX") else a.all(0)
    if op in ("SUM", "AVG"):
        out = a[0].copy()
        for b in a[1:]:
            out = out + b  # rank order, as MPI's reduction for 2 ranks
        return out / np.asarray(len(arrs), a.dtype) if op == "AVG" else out
    return {"PRODUCT": np.prod, "MIN": np.min, "MAX": np.max}[op](a, axis=0).astype(a.dtype)


def _run_collective(spec, dist, n, r, device="cpu"):
    """Run spec's collective on this rank; returns (got, expected) numpy arrays."""
    import minidl
    from minidl.tensor import Tensor

    mine = _rank_data(spec, r)
    every = [_rank_data(spec, k) for k in range(n)]
    kind, op = spec["kind"], getattr(dist.ReduceOp, spec["op"])

    def tens(a, strided=False):
        if strided and a.ndim and a.shape[-1] > 0 and device == "cpu":
            big = np.repeat(a, 2, axis=-1)  # a strided (non-contiguous) view holding a
            return Tensor._wrap(big[..., ::2], minidl.zeros(1).device)
        return minidl.tensor(a, device=device)
    asyn = spec["async"]
    if kind == "all_reduce":
        t = tens(mine, spec["strided"])
        w = dist.all_reduce(t, op, async_op=asyn)
        if asyn:
            w.wait()
        return t.cpu().numpy(), _numpy_reduce(every, spec["op"])
    if kind == "broadcast":
        root = spec["root"] % n
        t = tens(mine, spec["strided"])
        w = dist.broadcast(t, root, async_op=asyn)
        if asyn:
            w.wait()
        return t.cpu().numpy(), every[root]
    if kind == "all_gather":
        outs = [minidl.zeros(*mine.shape, dtype=minidl.tensor(mine).dtype, device=device)
                for _ in range(n)]
        w = dist.all_gather(outs, tens(mine), async_op=asyn)
        if asyn:
            w.wait()
        return np.stack([o.cpu().numpy() for o in outs]), np.stack(every)
    if kind == "reduce_scatter":
        ins = [tens(_rank_data(dict(spec, seed=spec["seed"] + 1000 * j), r)) for j in range(n)]
        out = minidl.zeros(*mine.shape, dtype=ins[0].dtype, device=device)
        w = dist.reduce_scatter(out, ins, op, async_op=asyn)
        if asyn:
            w.wait()
        want = _numpy_reduce([_rank_data(dict(spec, seed=spec["seed"] + 1000 * r), k)
                              for k in range(n)], spec["op"])
        return out.cpu().numpy(), want
    if kind == "all_gather_into_tensor":  # the blocks stacked along dim 0
        lead = mine.shape[:1] if mine.ndim else (1,)
        out = minidl.zeros(n * lead[0], *mine.shape[1:], dtype=minidl.tensor(mine).dtype,
                           device=device)
        w = dist.all_gather_into_tensor(out, tens(mine), async_op=asyn)
        if asyn:
            w.wait()
        return out.cpu().numpy(), np.concatenate([e.reshape(lead + e.shape[1:]) for e in every])
    if kind == "reduce_scatter_tensor":  # rank k's block of every rank's stacked input
        stacked = [_rank_data(dict(spec, shape=[n * (spec["shape"] or [1])[0]]
                                   + spec["shape"][1:]), k) for k in range(n)]
        out = minidl.zeros(*mine.shape, dtype=minidl.tensor(mine).dtype, device=device)
        w = dist.reduce_scatter_tensor(out, tens(stacked[r]), op, async_op=asyn)
        if asyn:
            w.wait()
        rows = stacked[0].shape[0] // n
        want = _numpy_reduce([a[r * rows:(r + 1) * rows].reshape(mine.shape) for a in stacked],
                             spec["op"])
        return out.cpu().numpy(), want
    raise ValueError(kind)


def _check_collectives(fails, comm, dist):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    n, r = comm.Get_size(), comm.Get_rank()

    def one(spec):
        got, want = _run_collective(spec, dist, n, r)
        local = []
        _compare(local, f"{spec}", got, want)
        ok = comm.allreduce(0 if local else 1, op=_MPI().MIN)
        return local, ok

    if r != 0:
        while True:
            spec = comm.bcast(None, root=0)
            if spec is None:
                break
            local, _ = one(spec)
            fails.extend(local[:1])
        return

    spec_st = st.fixed_dictionaries({
        "kind": st.sampled_from(["all_reduce", "broadcast", "all_gather", "reduce_scatter",
                                 "all_gather_into_tensor", "reduce_scatter_tensor"]),
        "shape": st.lists(st.integers(0, 5), min_size=0, max_size=3),
        "dtype": st.sampled_from(["float32", "float64", "int64", "bool"]),
        "op": st.sampled_from(["SUM", "AVG", "PRODUCT", "MIN", "MAX"]),
        "seed": st.integers(0, 2 ** 31), "root": st.integers(0, 7),
        "async": st.booleans(), "strided": st.booleans()})

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(spec_st)
    def prop(spec):
        if spec["op"] == "AVG" and spec["dtype"] in ("int64", "bool"):
            spec["op"] = "SUM"  # AVG on integers is an error, checked in mismatch_errors
        comm.bcast(spec, root=0)
        local, ok = one(spec)
        assert ok, local or "another rank disagreed with numpy"

    try:
        prop()
    except AssertionError as e:
        fails.append(str(e)[:2000])
    finally:
        comm.bcast(None, root=0)


def _MPI():
    from mpi4py import MPI
    return MPI


def _check_mismatch(fails, comm, dist):
    import minidl
    from minidl.errors import DTypeError
    from minidl.nn import Linear

    r = comm.Get_rank()
    cases = [("shape", lambda: dist.all_reduce(minidl.zeros(3 + r))),
             ("dtype", lambda: dist.all_reduce(minidl.zeros(3, dtype=minidl.float32 if r == 0
                                                             else minidl.float64))),
             ("op", lambda: dist.all_reduce(minidl.zeros(3), dist.ReduceOp.SUM if r == 0
                                            else dist.ReduceOp.MAX)),
             ("root", lambda: dist.broadcast(minidl.zeros(3), src=r)),
             ("collective", lambda: dist.all_reduce(minidl.zeros(3)) if r == 0
              else dist.all_gather([minidl.zeros(3), minidl.zeros(3)], minidl.zeros(3))),
             ("ddp layout", lambda: dist.DistributedDataParallel(Linear(4, 3 + r)))]
    for what, fn in cases:
        try:
            fn()
            fails.append(f"{what} mismatch raised nothing")
        except dist.CollectiveMismatchError as e:
            if "rank 0" not in str(e) or "rank 1" not in str(e):
                fails.append(f"{what} mismatch: message names no ranks: {e}")
    from minidl.errors import ShapeError
    for what, fn in [("all_gather_into_tensor", lambda: dist.all_gather_into_tensor(
                          minidl.zeros(5, 2), minidl.zeros(3, 2))),
                     ("reduce_scatter_tensor", lambda: dist.reduce_scatter_tensor(
                          minidl.zeros(3, 2), minidl.zeros(3, 2)))]:
        try:
            fn()
            fails.append(f"{what} with a wrong stacked shape raised nothing")
        except ShapeError as e:
            if "[6, 2]" not in str(e) or "world size 2" not in str(e):
                fails.append(f"{what}: unclear shape error: {e}")
    for what, fn in [("all_gather", lambda: dist.all_gather([minidl.zeros(3)], minidl.zeros(3))),
                     ("reduce_scatter", lambda: dist.reduce_scatter(minidl.zeros(3),
                                                                    [minidl.zeros(3)]))]:
        try:
            fn()
            fails.append(f"{what} with one tensor for two ranks raised nothing")
        except ValueError as e:
            if "has 1 tensors, expected the world size 2" not in str(e):
                fails.append(f"{what}: unclear list-length error: {e}")
    try:
        dist.all_reduce(minidl.zeros(2, dtype=minidl.int64), dist.ReduceOp.AVG)
        fails.append("AVG on int64 raised nothing")
    except DTypeError:
        pass
    t = minidl.ones(2)  # the group still works after the errors
    dist.all_reduce(t)
    _compare(fails, "all_reduce after mismatches", t.numpy(), [2.0, 2.0])


# ---- DDP


def _lenet(seed):
    import minidl
    from minidl.models import lenet5
    minidl.manual_seed(seed)
    return lenet5(variant="modern")


def _check_ddp_equivalence(fails, comm, dist):
    """N steps of 2 ranks x batch B == N steps of 1 process x batch 2B (LeNet-5, SGD momentum)."""
    import minidl
    from minidl.nn import functional as F
    from minidl.optim import SGD

    r, n = comm.Get_rank(), comm.Get_size()
    B, N = 8, 3
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N * n * B, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, N * n * B)
    model = _lenet(100 + r)  # different on each rank: DDP must broadcast rank 0's
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=0.05)  # several buckets
    if len(ddp._buckets) < 3:
        fails.append(f"expected several buckets, got {len(ddp._buckets)}")
    opt = SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    import minidl.distributed.ddp as ddp_mod
    launches, start = [], ddp_mod._iallreduce_array

    def spy(*args):  # how many parameters had their gradient when each bucket's allreduce began
        launches.append(ddp._ready)
        return start(*args)
    ddp_mod._iallreduce_array = spy
    for k in range(N):
        if k == 1:
            ddp_mod._iallreduce_array = start
            n_params = len(ddp._params)
            if len(launches) != len(ddp._buckets) or launches[0] >= n_params:
                fails.append(f"bucket allreduces did not start during backward: {launches} "
                             f"(params ready at each start, of {n_params})")
        lo = k * n * B + r * B
        loss = F.cross_entropy(ddp(minidl.tensor(x[lo:lo + B])), minidl.tensor(y[lo:lo + B]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    mine = _flat_params(model)
    every = comm.allgather(mine)
    _compare(fails, "parameters identical on all ranks", every[1], every[0])
    if r == 0:
        ref = _lenet(100)
        ropt = SGD(ref.parameters(), lr=0.05, momentum=0.9)
        for k in range(N):
            sl = slice(k * n * B, (k + 1) * n * B)
            loss = F.cross_entropy(ref(minidl.tensor(x[sl])), minidl.tensor(y[sl]))
            ropt.zero_grad()
            loss.backward()
            ropt.step()
        want = _flat_params(ref)
        _compare(fails, "2 ranks x B vs 1 process x 2B", mine, want, rtol=1e-4, atol=1e-5)
        diff = float(np.max(np.abs(mine - want)))
        print(f"DDP_VS_SINGLE max_abs_diff {diff:.3g} bitwise {diff == 0}", flush=True)


def _check_no_sync(fails, comm, dist):
    import minidl
    from minidl.nn import functional as F

    r, n = comm.Get_rank(), comm.Get_size()
    B, M = 4, 3
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n * M * B, 1, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, n * M * B)
    model = _lenet(7)
    ddp = dist.DistributedDataParallel(model)
    for m in range(M):
        lo = (r * M + m) * B
        xb, yb = minidl.tensor(x[lo:lo + B]), minidl.tensor(y[lo:lo + B])
        if m < M - 1:
            with ddp.no_sync():
                (F.cross_entropy(ddp(xb), yb) / M).backward()
        else:
            every = comm.allgather(_flat_grads(model))
            if np.array_equal(every[0], every[1]):
                fails.append("gradients were already equal across ranks inside no_sync")
            (F.cross_entropy(ddp(xb), yb) / M).backward()
    got = _flat_grads(model)
    ref = _lenet(7)
    F.cross_entropy(ref(minidl.tensor(x)), minidl.tensor(y)).backward()
    _compare(fails, "no_sync accumulation vs one big batch", got, _flat_grads(ref), rtol=1e-4,
             atol=1e-6)


def _flat_grads(model):
    return np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])


def _check_find_unused(fails, comm, dist):
    import minidl
    from minidl.nn import Linear, Module

    class Branches(Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = Linear(4, 3), Linear(4, 3), Linear(4, 3)

        def forward(self, x, use_b):
            out = self.a(x)
            return out + self.b(x) if use_b else out

    r = comm.Get_rank()
    minidl.manual_seed(0)
    m = Branches()
    ddp = dist.DistributedDataParallel(m, find_unused_parameters=True)
    xs = [np.random.default_rng(k).standard_normal((5, 4)).astype(np.float32) for k in (0, 1)]
    for it in range(2):  # twice: the second iteration must not report an unfinished reduction
        m.zero_grad()
        ddp(minidl.tensor(xs[r]), use_b=(r == 0)).sum().backward()
    _compare(fails, "a.weight.grad", m.a.weight.grad.numpy(),
             np.tile((xs[0].sum(0) + xs[1].sum(0)) / 2, (3, 1)), rtol=1e-6, atol=1e-6)
    _compare(fails, "b.weight.grad (used on rank 0 only)", m.b.weight.grad.numpy(),
             np.tile(xs[0].sum(0) / 2, (3, 1)), rtol=1e-6, atol=1e-6)
    _compare(fails, "b.bias.grad", m.b.bias.grad.numpy(), np.full(3, 2.5, np.float32))
    if m.c.weight.grad is not None:
        fails.append("c is unused on every rank but got a gradient")
    # without find_unused_parameters the next forward says what went wrong
    minidl.manual_seed(0)
    m2 = Branches()
    ddp2 = dist.DistributedDataParallel(m2)
    ddp2(minidl.tensor(xs[r]), use_b=True).sum().backward()
    try:
        ddp2(minidl.tensor(xs[r]), use_b=True)
        fails.append("an unfinished reduction raised nothing")
    except RuntimeError as e:
        if "find_unused_parameters=True" not in str(e) or "c.weight" not in str(e):
            fails.append(f"unfinished reduction message: {e}")


def _check_broadcast_buffers(fails, comm, dist):
    import minidl
    from minidl.nn import BatchNorm2d, Conv2d, Sequential

    r = comm.Get_rank()
    minidl.manual_seed(0)
    m = Sequential(Conv2d(1, 2, 3), BatchNorm2d(2))
    ddp = dist.DistributedDataParallel(m)
    bn = m[1]
    x = minidl.tensor(np.random.default_rng(r).standard_normal((4, 1, 6, 6)).astype(np.float32))
    ddp(x).sum().backward()  # train mode: each rank's running stats move with its own batch
    every = comm.allgather(bn.running_mean.numpy().copy())
    if np.array_equal(every[0], every[1]):
        fails.append("running means equal after one forward on different data (test is void)")
    ddp.eval()
    ddp(x).sum().backward()  # eval: no update; after the pre-forward broadcast all hold rank 0's
    every = comm.allgather(np.concatenate([bn.running_mean.numpy(), bn.running_var.numpy()]))
    _compare(fails, "BatchNorm buffers after a forward", every[1], every[0])
    with minidl.no_grad():
        bn.running_mean.fill_(float(r))
        ddp(x)  # no graph recorded: no broadcast (eval loops may differ per rank)
    if float(bn.running_mean.numpy()[0]) != float(r):
        fails.append("buffers were broadcast in a forward under no_grad")


def _check_sampler(fails, comm, dist):
    from minidl.data import DistributedSampler

    n_ranks = comm.Get_size()
    for size in (10, 11, 3):
        for drop_last in (False, True):
            s = DistributedSampler(list(range(size)), shuffle=True, seed=4, drop_last=drop_last)
            if (s.num_replicas, s.rank) != (n_ranks, comm.Get_rank()):
                fails.append("num_replicas/rank do not default to the group's")
            for epoch in (0, 1):
                s.set_epoch(epoch)
                every = comm.allgather(list(s))
                if len({len(e) for e in every}) != 1:
                    fails.append(f"size {size}: ranks got different counts")
                flat = sorted(i for e in every for i in e)
                if drop_last:
                    ok = len(set(flat)) == len(flat) == size - size % n_ranks
                else:
                    ok = (set(flat) == set(range(size))
                          and len(flat) == -(-size // n_ranks) * n_ranks)
                if not ok:
                    fails.append(f"size {size} drop_last {drop_last} epoch {epoch}: {every}")


def _check_checkpoint(fails, comm, dist, out):
    """Epoch 1 -> checkpoint -> resume for epoch 2 == 2 epochs straight (2 ranks, bitwise)."""
    _fit_run(out, world=2, epochs=1, checkpoint=out / "ck1.h5")
    resumed, _ = _fit_run(out, world=2, epochs=2, resume=out / "ck1.h5")
    full, hist = _fit_run(out, world=2, epochs=2)
    _compare(fails, "resumed under 2 ranks vs uninterrupted", resumed, full)
    if comm.Get_rank() == 0:
        np.save(out / "full_params.npy", full)
        (out / "full_history.json").write_text(json.dumps(hist))


def _suite(out: Path):
    import minidl.distributed as dist
    dist.init_process_group("mpi")
    comm = dist._group._get().comm
    c = _Checks(comm)
    c.run("collectives_vs_numpy", _check_collectives, comm, dist)
    c.run("mismatch_errors", _check_mismatch, comm, dist)
    c.run("ddp_equals_single_process", _check_ddp_equivalence, comm, dist)
    c.run("no_sync", _check_no_sync, comm, dist)
    c.run("find_unused_parameters", _check_find_unused, comm, dist)
    c.run("broadcast_buffers", _check_broadcast_buffers, comm, dist)
    c.run("sampler_partition", _check_sampler, comm, dist)
    c.run("checkpoint_resume_2", _check_checkpoint, comm, dist, out)
    if c.rank == 0:
        print("RESULTS " + json.dumps(c.results), flush=True)
    dist.destroy_process_group()


def _fail(out: Path):
    """fit() on 2 ranks whose data set raises on rank 1 at its 3rd batch."""
    import minidl.distributed as dist
    from minidl.data import DataLoader, DistributedSampler, Dataset
    from minidl.nn import Flatten, Linear, Sequential
    from minidl.optim import SGD
    from minidl.train import fit

    dist.init_process_group("mpi")
    rank = dist.get_rank()

    class Flaky(Dataset):
        calls = 0

        def __len__(self):
            return 64

        def __getitem__(self, i):
            Flaky.calls += 1
            if rank == 1 and Flaky.calls > 8:
                raise ValueError("injected failure on rank 1")
            return np.zeros((1, 4, 4), np.float32) + i, i % 10

    model = dist.DistributedDataParallel(Sequential(Flatten(), Linear(16, 10)))
    ds = Flaky()
    fit(model, DataLoader(ds, batch_size=4, sampler=DistributedSampler(ds)),
        SGD(model.parameters(), lr=0.1), epochs=1, progress=False)
    print(f"rank {rank} finished", flush=True)


def _cuda(out: Path):
    """CUDA tensors (simulator: staged through host buffers) vs the CPU path."""
    import minidl
    import minidl.distributed as dist
    from minidl.nn import Linear, ReLU, Sequential

    dist.init_process_group("mpi")
    comm = dist._group._get().comm
    c = _Checks(comm)
    n, r = comm.Get_size(), comm.Get_rank()

    def collectives(fails):
        if dist.is_cuda_aware_mpi():
            fails.append("the simulator must use the staging path")
        for i, (kind, shape, dtype, op) in enumerate([
                ("all_reduce", [3, 4], "float32", "SUM"), ("all_reduce", [5], "float64", "AVG"),
                ("all_reduce", [2, 3], "float32", "MAX"), ("all_reduce", [0], "float32", "SUM"),
                ("broadcast", [4], "float32", "SUM"), ("all_gather", [2, 2], "float32", "SUM"),
                ("reduce_scatter", [3], "float32", "SUM"),
                ("reduce_scatter", [3], "float64", "AVG")]):
            spec = dict(kind=kind, shape=shape, dtype=dtype, op=op, seed=i, root=1,
                        strided=False, **{"async": i % 2 == 1})
            got, want = _run_collective(spec, dist, n, r, device="cuda")
            cpu, _ = _run_collective(spec, dist, n, r, device="cpu")
            _compare(fails, f"cuda {kind} {dtype} {op}", got, want)
            _compare(fails, f"cuda vs cpu {kind} {dtype} {op}", got, cpu)

    def ddp(fails):
        grads = {}
        for device in ("cpu", "cuda"):
            minidl.manual_seed(0)
            m = Sequential(Linear(3, 4), ReLU(), Linear(4, 2)).to(device)
            d = dist.DistributedDataParallel(m, bucket_cap_mb=0.0001)
            x = np.random.default_rng(r).standard_normal((5, 3)).astype(np.float32)
            d(minidl.tensor(x, device=device)).sum().backward()
            grads[device] = np.concatenate([p.grad.cpu().numpy().ravel() for p in m.parameters()])
        _compare(fails, "DDP grads cuda vs cpu", grads["cuda"], grads["cpu"], rtol=1e-6,
                 atol=1e-6)

    c.run("cuda_collectives", collectives)
    c.run("cuda_ddp", ddp)
    if r == 0:
        print("RESULTS " + json.dumps(c.results), flush=True)


if __name__ == "__main__":
    {"suite": _suite, "fail": _fail, "cuda": _cuda}[sys.argv[1]](Path(sys.argv[2]))
