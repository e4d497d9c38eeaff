"""minidl.data: datasets combinators, samplers, collate and the DataLoader (workers, seeding,
errors, shutdown, resumable position)."""
import collections
import gc
import os
import signal
import time
import warnings

import numpy as np
import pytest

import minidl
from minidl.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, IterableDataset,
                         RandomSampler, SequentialSampler, Subset, TensorDataset,
                         WeightedRandomSampler, default_collate, get_worker_info, random_split)
from minidl.data import transforms as T
from minidl.data.rng import current_rng

# ---------------------------------------------------------------- helpers (module level, so
# spawn-started workers can import them)


class Images(Dataset):
    """uint8 HWC images with a random crop + flip + a draw from the augmentation rng."""

    def __init__(self, n=40, size=8):
        self.x = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        self.t = T.Compose([T.RandomCrop(size, padding=2), T.RandomHorizontalFlip(),
                            T.ToTensor()])

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.t(self.x[i]), i, float(current_rng().random())


class Failing(Images):
    def __getitem__(self, i):
        if i == 13:
            raise ValueError("sample 13 is broken")
        return super().__getitem__(i)


class Killing(Images):
    def __getitem__(self, i):
        if i == 5 and get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


class Slow(Images):
    def __getitem__(self, i):
        time.sleep(0.3)
        return super().__getitem__(i)


class WhoAmI(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return np.array([i, -1 if info is None else info.id, os.getpid()])


class Stream(IterableDataset):
    """0..n-1, split between workers."""

    def __init__(self, n=23):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(wid, self.n, nw))

    def __len__(self):
        return self.n


def _epoch(loader):
    return [(x.numpy().copy(), idx.numpy().copy(), r.numpy().copy()) for x, idx, r in loader]


def _same(a, b):
    return len(a) == len(b) and all(
        all(np.array_equal(p, q) for p, q in zip(u, v)) for u, v in zip(a, b))


def _run(num_workers, seed=0, **kw):
    minidl.manual_seed(seed)
    return _epoch(DataLoader(Images(), batch_size=8, shuffle=True, num_workers=num_workers, **kw))


# ---------------------------------------------------------------- datasets and samplers

def test_tensor_subset_concat_datasets():
    x, y = minidl.arange(10).float(), np.arange(10) * 2
    ds = TensorDataset(x, y)
    assert len(ds) == 10 and ds[3][0].item() == 3.0 and ds[3][1] == 6
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(x, np.arange(3))
    sub = Subset(ds, [7, 2])
    assert len(sub) == 2 and sub[0][1] == 14
    cat = ConcatDataset([sub, ds])
    assert len(cat) == 12 and cat[1][1] == 4 and cat[2][1] == 0 and cat[-1][1] == 18
    assert len(sub + ds) == 12
    with pytest.raises(IndexError):
        cat[12]


def test_random_split():
    minidl.manual_seed(0)
    a, b = random_split(range(10), [7, 3])
    assert sorted(list(a.indices) + list(b.indices)) == list(range(10))
    minidl.manual_seed(0)
    a2, _ = random_split(range(10), [7, 3])
    assert a.indices == a2.indices
    parts = random_split(range(10), [0.5, 0.3, 0.2], generator=minidl.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [5, 3, 2]
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    g = minidl.Generator().manual_seed(3)
    perm = list(RandomSampler(range(50), generator=g))
    assert sorted(perm) == list(range(50)) and perm != list(range(50))
    assert list(RandomSampler(range(5), generator=minidl.Generator().manual_seed(3))) != \
        list(RandomSampler(range(5), generator=minidl.Generator().manual_seed(4)))
    rep = list(RandomSampler(range(3), replacement=True, num_samples=20))
    assert len(rep) == 20 and set(rep) <= {0, 1, 2}
    assert len(list(RandomSampler(range(3), num_samples=7))) == 7
    bs = BatchSampler(SequentialSampler(range(10)), 4, drop_last=False)
    assert list(bs) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(bs) == 3
    assert len(BatchSampler(range(10), 4, drop_last=True)) == 2
    w = list(WeightedRandomSampler([0, 0, 1, 0], 5))
    assert w == [2] * 5
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), 0, False)


def test_sampler_state_replays_epoch():
    s = RandomSampler(range(30))
    first = list(s)
    state = s.state_dict()
    second = list(s)
    assert first != second
    s2 = RandomSampler(range(30))
    s2.load_state_dict(state)
    assert list(s2) == first


# ---------------------------------------------------------------- collate

def test_default_collate_nested():
    Point = collections.namedtuple("Point", "x y")
    batch = [{"img": np.ones((2, 3), np.float32), "label": 1, "w": 0.5, "name": "a",
              "p": Point(1, 2.0), "t": minidl.ones(2), "flag": True},
             {"img": np.zeros((2, 3), np.float32), "label": 2, "w": 1.5, "name": "b",
              "p": Point(3, 4.0), "t": minidl.zeros(2), "flag": False}]
    out = default_collate(batch)
    assert out["img"].shape == (2, 2, 3) and out["img"].dtype == minidl.float32
    assert out["label"].dtype == minidl.int64 and out["label"].tolist() == [1, 2]
    assert out["w"].dtype == minidl.float64
    assert out["name"] == ["a", "b"]
    assert isinstance(out["p"], Point) and out["p"].y.tolist() == [2.0, 4.0]
    assert out["t"].shape == (2, 2) and out["flag"].dtype == minidl.bool_
    pairs = default_collate([(np.arange(3), 0), (np.arange(3), 1)])
    assert isinstance(pairs, list) and pairs[0].shape == (2, 3)
    with pytest.raises(ValueError, match="equal size"):
        default_collate([np.zeros(2), np.zeros(3)])


# ---------------------------------------------------------------- the loader

def test_loader_batches_and_len():
    ds = TensorDataset(np.arange(10, dtype=np.float32).reshape(10, 1), np.arange(10))
    dl = DataLoader(ds, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [b[0].shape for b in batches] == [(4, 1), (4, 1), (2, 1)]
    assert batches[1][1].tolist() == [4, 5, 6, 7]
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    # batch_size=None: no batching, arrays still become Tensors
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 10 and single[0][0].shape == (1,)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)


def test_shuffle_reproducible_from_manual_seed_and_generator():
    a, b, c = _run(0, seed=1), _run(0, seed=1), _run(0, seed=2)
    assert _same(a, b) and not _same(a, c)
    order = np.concatenate([idx for _, idx, _ in a])
    assert sorted(order.tolist()) == list(range(40)) and order.tolist() != list(range(40))
    g1 = minidl.Generator().manual_seed(9)
    g2 = minidl.Generator().manual_seed(9)
    e1 = _epoch(DataLoader(Images(), batch_size=8, shuffle=True, generator=g1))
    e2 = _epoch(DataLoader(Images(), batch_size=8, shuffle=True, generator=g2))
    assert _same(e1, e2)
    # two epochs of one loader differ
    minidl.manual_seed(1)
    dl = DataLoader(Images(), batch_size=8, shuffle=True)
    assert not _same(_epoch(dl), _epoch(dl))


def test_workers_give_the_same_batches_as_the_main_process():
    ref = _run(0)
    assert _same(ref, _run(2))
    assert _same(ref, _run(1, prefetch_factor=1))
    assert _same(ref, _run(2, multiprocessing_context="thread"))


@pytest.mark.slow
def test_spawn_workers():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent fall-back to threads
        assert _same(_run(0), _run(1, multiprocessing_context="spawn"))


class _NoSemaphores:
    """A multiprocessing context on a system without working semaphores."""

    def Queue(self):
        raise OSError("[Errno 38] Function not implemented (sem_open)")


def test_falls_back_to_threads_when_processes_are_unavailable():
    ref = _run(0)
    with pytest.warns(RuntimeWarning, match="using 2 worker threads"):
        assert _same(ref, _run(2, multiprocessing_context=_NoSemaphores()))


def test_worker_info_and_seeds():
    assert get_worker_info() is None
    minidl.manual_seed(0)
    out = np.concatenate([b.numpy() for b in DataLoader(WhoAmI(), batch_size=2,
                                                        num_workers=2)])
    assert out[:, 0].tolist() == list(range(8))
    assert out[:, 1].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]  # batches go round-robin
    assert len(set(out[:, 2].tolist())) == 2 and os.getpid() not in out[:, 2]
    seeds = []

    def init(wid):
        seeds.append(get_worker_info().seed)  # runs in the thread workers: visible here

    list(DataLoader(WhoAmI(), batch_size=2, num_workers=2, worker_init_fn=init,
                    multiprocessing_context="thread"))
    assert len(seeds) == 2 and abs(seeds[0] - seeds[1]) == 1


@pytest.mark.parametrize("num_workers", [0, 2, 3])
def test_iterable_dataset(num_workers):
    out = [b.tolist() for b in DataLoader(Stream(), batch_size=4, num_workers=num_workers)]
    flat = sorted(v for b in out for v in b)
    assert flat == list(range(23))
    if num_workers == 0:
        assert out[0] == [0, 1, 2, 3] and len(out) == 6
    dropped = [b.tolist() for b in DataLoader(Stream(), batch_size=4, drop_last=True,
                                              num_workers=num_workers)]
    assert all(len(b) == 4 for b in dropped)
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(), shuffle=True)


def test_worker_exception_has_worker_traceback():
    dl = DataLoader(Failing(), batch_size=4, num_workers=2)
    with pytest.raises(ValueError) as info:
        list(dl)
    msg = str(info.value)
    assert "in DataLoader worker process" in msg
    assert "sample 13 is broken" in msg and "__getitem__" in msg
    with pytest.raises(ValueError, match="sample 13"):
        list(DataLoader(Failing(), batch_size=4, num_workers=2, multiprocessing_context="thread"))


def test_dead_worker_is_reported_not_hung():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \d .*exit code -9"):
        list(DataLoader(Killing(), batch_size=4, num_workers=2))
    assert time.monotonic() - start < 10


def test_timeout():
    dl = DataLoader(Slow(4), batch_size=4, num_workers=1, timeout=0.2)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="timed out"):
        next(iter(dl))
    assert time.monotonic() - start < 1.5


def _alive(pids):
    alive = []
    for p in pids:
        try:
            os.kill(p, 0)
            with open(f"/proc/{p}/stat") as f:
                if f.read().split()[2] != "Z":
                    alive.append(p)
        except (ProcessLookupError, FileNotFoundError):
            pass
    return alive


def test_shutdown_mid_epoch_and_persistent_workers():
    dl = DataLoader(WhoAmI(), batch_size=1, num_workers=2)
    it = iter(dl)
    pids = {int(next(it)[0, 2]) for _ in range(2)}
    workers = [w.pid for w in it._pool.workers]
    del it
    gc.collect()
    deadline = time.monotonic() + 5
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(workers) and pids <= set(workers)
    if os.path.isdir("/dev/shm"):  # the shared-memory segments of the batches are gone too
        assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"mdl{os.getpid()}_")]

    pdl = DataLoader(WhoAmI(), batch_size=4, num_workers=2, persistent_workers=True)
    p1 = {int(p) for b in pdl for p in b[:, 2].tolist()}
    p2 = {int(p) for b in pdl for p in b[:, 2].tolist()}
    assert p1 == p2 and len(p1) == 2
    # abandoning an epoch half way leaves the workers usable for the next one
    it = iter(pdl)
    next(it)
    assert [b[:, 0].tolist() for b in pdl] == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resume_mid_epoch(num_workers, tmp_path):
    minidl.manual_seed(3)
    dl = DataLoader(Images(), batch_size=8, shuffle=True, num_workers=num_workers)
    _epoch(dl)  # an earlier epoch
    it = iter(dl)
    head = [next(it) for _ in range(2)]
    state = dl.state_dict()
    rng_state = minidl.get_rng_state()
    rest = [(x.numpy(), i.numpy(), r.numpy()) for x, i, r in it]
    after = _epoch(dl)
    assert state["in_epoch"] and state["batches_yielded"] == 2 and len(head) == 2
    assert not dl.state_dict()["in_epoch"]

    minidl.save({"loader": state, "rng": rng_state}, tmp_path / "ck.h5")
    ck = minidl.load(tmp_path / "ck.h5")
    minidl.manual_seed(12345)  # anything: the checkpoint restores it
    minidl.set_rng_state(ck["rng"])
    dl2 = DataLoader(Images(), batch_size=8, shuffle=True, num_workers=num_workers)
    dl2.load_state_dict(ck["loader"])
    assert _same(_epoch(dl2), rest)
    assert _same(_epoch(dl2), after)


def test_state_survives_break():
    dl = DataLoader(Images(), batch_size=8, shuffle=True, num_workers=2)
    for k, _ in enumerate(dl):
        if k == 1:
            break
    gc.collect()
    state = dl.state_dict()
    assert state["in_epoch"] and state["batches_yielded"] == 2


def test_resume_iterable_dataset():
    dl = DataLoader(Stream(), batch_size=4)
    it = iter(dl)
    next(it)
    state = dl.state_dict()
    rest = [b.tolist() for b in it]
    dl2 = DataLoader(Stream(), batch_size=4)
    dl2.load_state_dict(state)
    assert [b.tolist() for b in dl2] == rest
