"""The caching device allocator (minidl.cuda.memory).

The pool logic runs twice: in the CPU tier over a host "fake driver" (numpy segments, no numba),
and in the simulator tier behind minidl.cuda.backend, where every tensor's storage comes from it.
"""
from __future__ import annotations

import gc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.cuda import memory as M
from minidl.errors import DeviceError

MiB = 1 << 20


def _pool(limit=None):
    return M.CachingAllocator(M.HostDriver("fake"), limit=limit)


def _addr(a) -> int:
    a = getattr(a, "_ary", a)  # the simulator's FakeCUDAArray wraps a numpy array
    return a.__array_interface__["data"][0]


# ---- pool logic against the fake driver (CPU tier) ---------------------------------------------
def test_reuse_returns_the_freed_block_without_the_driver():
    p = _pool()
    a = p.array((100,), np.float32)
    addr = _addr(a)
    del a
    b = p.array((100,), np.float32)
    s = p.stats()
    assert _addr(b) == addr
    assert s["num_device_alloc"] == 1 and s["num_pool_hits"] == 1
    assert s["allocation.all.allocated"] == 2 and s["allocation.all.freed"] == 1


def test_small_requests_split_one_segment_and_coalesce_on_free():
    p = _pool()
    arrs = [p.array((1000,), np.uint8) for _ in range(5)]  # 1024 bytes each after rounding
    s = p.stats()
    assert s["num_device_alloc"] == 1 and s["reserved_bytes.all.current"] == M.SMALL_SEGMENT
    assert s["allocated_bytes.all.current"] == 5 * 1024
    addrs = sorted(_addr(a) for a in arrs)
    assert all(b - a == 1024 for a, b in zip(addrs, addrs[1:]))
    del arrs[1], arrs[2]  # free the 2nd and 4th: two holes plus the tail
    assert p.stats()["num_free_blocks"] == 3
    del arrs[:]
    s = p.stats()
    assert s["num_free_blocks"] == 1 and s["allocated_bytes.all.current"] == 0
    p.empty_cache()
    assert p.stats()["reserved_bytes.all.current"] == 0


def test_large_request_splits_only_when_the_rest_is_worth_keeping():
    p = _pool()
    a = p.array((3 * MiB,), np.uint8)  # a 20 MiB segment: the 17 MiB rest stays free
    s = p.stats()
    assert s["reserved_bytes.all.current"] == M.LARGE_SEGMENT
    assert s["allocated_bytes.all.current"] == 3 * MiB
    b = p.array((16 * MiB + 512,), np.uint8)  # fits the rest: no new segment
    assert p.stats()["num_device_alloc"] == 1
    del b  # 17 MiB free again; 16.5 MiB leaves 0.5 MiB, not worth a block: handed out whole
    c = p.array((16 * MiB + 512 * 1024,), np.uint8)
    s = p.stats()
    assert s["allocated_bytes.all.current"] == M.LARGE_SEGMENT and s["num_free_blocks"] == 0
    assert _addr(c) == _addr(a) + 3 * MiB


def test_requests_of_10_mib_and_more_get_their_own_rounded_segment():
    p = _pool()
    p.array((10 * MiB + 1,), np.uint8)
    assert p.stats()["reserved_bytes.all.current"] == 12 * MiB


def test_peak_stats_and_reset():
    p = _pool()
    a = p.array((1000,), np.float64)
    b = p.array((1000,), np.float64)
    del a, b
    s = p.stats()
    assert s["allocated_bytes.all.current"] == 0 and s["allocated_bytes.all.peak"] == 2 * 8192
    p.reset_peak_stats()
    assert p.stats()["allocated_bytes.all.peak"] == 0
    c = p.array((10,), np.float32)
    assert p.stats()["allocated_bytes.all.peak"] == 512
    assert p.stats()["reserved_bytes.all.peak"] == M.SMALL_SEGMENT
    del c


def test_empty_cache_keeps_segments_with_live_blocks():
    p = _pool()
    keep = p.array((10,), np.float32)
    tmp = p.array((2 * MiB,), np.uint8)
    del tmp
    assert p.stats()["segment.all.current"] == 2
    p.empty_cache()
    s = p.stats()
    assert s["segment.all.current"] == 1 and s["num_device_free"] == 1
    keep[:] = 1.0  # still valid memory
    assert s["reserved_bytes.all.current"] == M.SMALL_SEGMENT


def test_a_view_keeps_the_block_after_its_base_dies():
    p = _pool()
    a = p.array((64,), np.float32)
    v = a.reshape(8, 8)[2:]
    v[...] = 7.0
    del a
    assert p.stats()["allocation.all.current"] == 1
    b = p.array((64,), np.float32)  # must not land on v's block
    b[...] = -1.0
    assert np.all(v == 7.0)
    del v
    assert p.stats()["allocation.all.current"] == 1  # only b


def test_oom_releases_the_cache_then_retries_once():
    p = _pool(limit=20 * MiB)
    a = p.array((12 * MiB,), np.uint8)  # a 12 MiB segment
    del a  # cached, not released
    b = p.array((16 * MiB,), np.uint8)  # 12 + 16 > 20: release the cached 12, retry: fits
    s = p.stats()
    assert s["num_alloc_retries"] == 1 and s["num_device_free"] == 1
    assert s["reserved_bytes.all.current"] == 16 * MiB
    with pytest.raises(DeviceError) as e:
        p.array((MiB // 2, 4), np.float32)  # 8 MiB -> a 20 MiB segment: no room even after retry
    msg = str(e.value)
    assert "out of memory" in msg and "8.00 MiB" in msg and "[524288, 4] float32" in msg
    assert "16.00 MiB allocated" in msg and "limit 20.00 MiB" in msg
    s = p.stats()
    assert s["num_ooms"] == 1 and s["num_alloc_retries"] == 2
    assert s["allocated_bytes.all.current"] == 16 * MiB  # the failed request left no trace
    del b


def test_zero_size_arrays_take_nothing_from_the_pool():
    p = _pool()
    a = p.array((0, 5), np.float32)
    assert a.shape == (0, 5) and p.stats()["allocation.all.allocated"] == 0


# A random program of allocations, views and drops: a block is never handed out while any array
# still views it (every live array keeps the tag written into it), ranges of distinct
# allocations never overlap, and the counters agree with what is alive.
_OPS = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.sampled_from([1, 7, 128, 200, 4096, 70000, 300000])),
    st.tuples(st.just("view"), st.integers(0, 50)),
    st.tuples(st.just("drop"), st.integers(0, 50))), min_size=1, max_size=40)


def _run_program(ops, make):
    live = []  # (array or a view of it, tag)
    for n, (op, arg) in enumerate(ops):
        if op == "alloc":
            a = make(arg)
            a[...] = n
            live.append((a, n))
        elif live and op == "view":
            i = arg % len(live)
            a, tag = live[i]
            live[i] = (a[1:] if a.shape[0] > 1 else a.reshape(a.shape), tag)  # base dies here
        elif live and op == "drop":
            del live[arg % len(live)]
        spans = []
        for a, tag in live:
            host = np.asarray(getattr(a, "_ary", a))
            assert np.all(host == tag), "a live array's block was handed out again"
            lo = _addr(a)
            spans.append((lo, lo + host.nbytes, tag))
        spans.sort()
        for (_, hi, t1), (lo, _, t2) in zip(spans, spans[1:]):
            assert hi <= lo or t1 == t2, "two live allocations overlap"
    return live


@settings(max_examples=30)
@given(ops=_OPS)
def test_property_no_block_reused_while_viewed(ops):
    p = _pool()
    live = _run_program(ops, lambda n: p.array((n,), np.int64))
    s = p.stats()
    assert s["allocation.all.current"] == len({t for _, t in live})
    del live
    gc.collect()
    s = p.stats()
    assert s["allocated_bytes.all.current"] == 0 and s["allocation.all.current"] == 0
    p.empty_cache()
    assert p.stats()["reserved_bytes.all.current"] == 0


# ---- the simulator tier: the pool behind every CUDA tensor --------------------------------------
@pytest.fixture
def sim(cuda_device):
    import minidl

    gc.collect()
    minidl.cuda.empty_cache()
    return minidl


@pytest.mark.cuda
def test_tensors_allocate_from_the_pool(sim):
    base = sim.cuda.memory_allocated()
    x = sim.zeros(1000, device="cuda")  # 4000 bytes -> 4096
    assert sim.cuda.memory_allocated() - base == 4096
    assert sim.cuda.memory_reserved() >= sim.cuda.memory_allocated()
    del x
    assert sim.cuda.memory_allocated() == base
    assert sim.cuda.max_memory_allocated() >= base + 4096
    sim.cuda.reset_peak_memory_stats()
    assert sim.cuda.max_memory_allocated() == base


@pytest.mark.cuda
def test_steady_state_ops_reach_no_driver_allocation(sim):
    x = sim.randn(4, 5, device="cuda", requires_grad=True)
    for step in range(4):
        if step == 2:
            before = sim.cuda.memory_stats()
        y = ((x * 2.0).relu() + 1.0).sum()
        y.backward()
        x.grad = None
        del y
    after = sim.cuda.memory_stats()
    assert after["num_device_alloc"] == before["num_device_alloc"]
    assert after["num_pool_hits"] > before["num_pool_hits"]
    assert after["allocated_bytes.all.current"] == before["allocated_bytes.all.current"]


@pytest.mark.cuda
def test_forced_oom_names_the_request_and_pool(sim, monkeypatch):
    from minidl.cuda import memory

    pool = memory.allocator(0)
    monkeypatch.setattr(pool, "limit", pool.stats()["reserved_bytes.all.current"] + 4 * MiB)
    with pytest.raises(DeviceError, match=r"out of memory.*\[1024, 1024, 3\] float32"):
        sim.empty(1024, 1024, 3, device="cuda")  # 12 MiB: over the limit
    x = sim.ones(1000, device="cuda")  # small requests still succeed
    assert float(x.sum()) == 1000.0


@pytest.mark.cuda
@settings(max_examples=15)
@given(ops=_OPS)
def test_property_no_block_reused_while_viewed_simulator(ops):
    import minidl
    from minidl.cuda import backend

    if not minidl.cuda.is_available():
        pytest.skip("CUDA is not available")
    _run_program(ops, lambda n: backend.empty((n,), np.int64))
