"""minidl.distributed without an MPI job: DistributedSampler (PyTorch's semantics), and the
errors of the process-group API before init_process_group. The MPI tests are in
test_distributed_mpi.py."""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.distributed as dist
from minidl.data import DataLoader, DistributedSampler


@pytest.mark.parametrize("size", [0, 1, 7, 10, 12])
@pytest.mark.parametrize("replicas", [1, 2, 3, 5])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_partitions_every_index_once_per_epoch(size, replicas, drop_last):
    data = list(range(size))
    for epoch in (0, 1, 2):
        shards = []
        for rank in range(replicas):
            s = DistributedSampler(data, replicas, rank, shuffle=True, seed=9, drop_last=drop_last)
            s.set_epoch(epoch)
            shards.append(list(s))
            assert len(shards[-1]) == len(s)
        assert len({len(sh) for sh in shards}) == 1  # equal shards: no rank waits in a collective
        flat = [i for sh in shards for i in sh]
        if drop_last:  # each index at most once, the tail (size % replicas) dropped
            assert len(set(flat)) == len(flat) == size - size % replicas
        else:  # each index at least once, padded to a multiple of replicas by repeating the start
            assert set(flat) == set(range(size)) or size == 0
            assert len(flat) == -(-size // replicas) * replicas
            if size and size % replicas == 0:
                assert sorted(flat) == data


def test_sampler_shuffle_is_deterministic_per_seed_and_epoch():
    data = range(50)

    def order(seed, epoch):
        s = DistributedSampler(data, 2, 1, seed=seed)
        s.set_epoch(epoch)
        return list(s)
    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    s = DistributedSampler(data, 2, 0, shuffle=False)
    assert list(s) == list(range(0, 50, 2))
    s.set_epoch(3)
    assert s.state_dict() == {"epoch": 3}
    t = DistributedSampler(data, 2, 0)
    t.load_state_dict(s.state_dict())
    assert t.epoch == 3


def test_sampler_matches_torch_without_shuffle():
    pytest.importorskip("torch")
    from torch.utils.data.distributed import DistributedSampler as TorchSampler
    for size, replicas, drop_last in [(10, 3, False), (10, 3, True), (2, 5, False), (11, 2, True)]:
        for rank in range(replicas):
            ours = DistributedSampler(range(size), replicas, rank, shuffle=False,
                                      drop_last=drop_last)
            theirs = TorchSampler(range(size), replicas, rank, shuffle=False, drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_errors():
    msg = r"Invalid rank 2, rank should be in the interval \[0, 1\]"
    with pytest.raises(ValueError, match=msg):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))


def test_sampler_in_a_dataloader():
    x = np.arange(20, dtype=np.float32)[:, None]
    ds = minidl.data.TensorDataset(minidl.tensor(x))
    seen = []
    for rank in range(2):
        loader = DataLoader(ds, batch_size=3, sampler=DistributedSampler(ds, 2, rank, seed=1))
        seen += [int(v) for (b,) in loader for v in b.numpy().ravel()]
    assert sorted(seen) == list(range(20))


def test_process_group_api_before_init():
    assert not dist.is_initialized()
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(ValueError, match="Default process group has not been initialized"):
            fn()
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.all_reduce(minidl.ones(2))
    with pytest.raises(ValueError, match="Default process group has not been initialized"):
        dist.DistributedDataParallel(minidl.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="supports only the 'mpi' backend"):
        dist.init_process_group("nccl")
    assert not dist.is_initialized()
    assert [op.name for op in dist.ReduceOp] == ["SUM", "PRODUCT", "MIN", "MAX", "AVG"]


def test_local_rank_from_launcher_environment(monkeypatch):
    for var in dist._group._LOCAL_RANK_VARS:
        monkeypatch.delenv(var, raising=False)
    assert dist.get_node_local_rank(fallback_rank=5) == 5
    with pytest.raises(RuntimeError, match="no local rank"):
        dist.get_node_local_rank()
    monkeypatch.setenv("SLURM_LOCALID", "3")
    assert dist.get_node_local_rank() == 3
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_RANK", "1")
    assert dist.get_node_local_rank() == 1


class _Aborted(Exception):
    pass


@pytest.mark.parametrize("outcome, aborted", [("ok", False), ("exit0", False), ("exit3", True),
                                              ("return2", True), ("raise", True),
                                              ("interrupt", True)])
def test_cli_guard_aborts_on_any_failure(monkeypatch, outcome, aborted):
    """`minidl train --distributed` ends the whole MPI job (MPI_Abort) on an exception, Ctrl-C or
    a non-zero exit of one rank, which would otherwise leave the others blocked in a collective
    (seen: a rank calling sys.exit(3) alone hangs the job). MPI itself is stubbed out here."""
    import sys
    from types import SimpleNamespace

    from minidl import cli

    calls = []
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append("init"))
    monkeypatch.setattr(dist, "get_rank", lambda: 0)
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy"))

    def fake_abort(reason=None, exc_info=None, errorcode=1):
        raise _Aborted(reason or exc_info[0].__name__)
    monkeypatch.setattr(dist, "abort", fake_abort)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # restored even if the guard swapped it

    def body(args):
        assert args._in_group
        if outcome == "exit0":
            sys.exit(0)
        if outcome == "exit3":
            sys.exit(3)
        if outcome == "raise":
            raise ValueError("boom")
        if outcome == "interrupt":
            raise KeyboardInterrupt
        return 2 if outcome == "return2" else 0

    if aborted:
        with pytest.raises(_Aborted):
            cli._in_process_group(body, SimpleNamespace())
    elif outcome == "exit0":
        with pytest.raises(SystemExit):
            cli._in_process_group(body, SimpleNamespace())
    else:
        assert cli._in_process_group(body, SimpleNamespace()) == 0
        assert calls == ["init", "destroy"]
