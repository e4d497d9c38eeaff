"""Uploads overlapped with compute (issue 11): per-stream pools, record_stream, the upload's
event order, and minidl.train's one-batch-ahead prefetch.

The simulator runs every stream synchronously, so the stream logic is checked in the CPU tier
against fake streams whose queued work runs only when the test says: a block handed out while
work queued on another stream still reads it shows up as a read of the wrong value.
"""
from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minidl.cuda import memory as M

COPY = "copy"  # the copy stream's key in the fake driver; None is the compute stream


class FakeStream:
    """Work queued in order; run() executes it, stopping at a wait whose event is not done."""

    def __init__(self):
        self.work, self.done = [], 0

    def run(self, n: int | None = None) -> int:
        ran = 0
        while self.done < len(self.work) and (n is None or ran < n):
            item = self.work[self.done]
            if isinstance(item, FakeEvent):  # a wait
                if not item.query():
                    break
            else:
                item()
            self.done += 1
            ran += 1
        return ran


class FakeEvent:
    def __init__(self, stream: FakeStream):
        self.stream, self.at = stream, len(stream.work)

    def query(self) -> bool:
        return self.stream.done >= self.at

    def synchronize(self) -> None:
        self.stream.run(self.at - self.stream.done)
        assert self.query(), "an event waits on work that can never run"


class StreamDriver(M.HostDriver):
    """Host segments, two fake streams; `honour_events=False` is a broken driver whose events
    report done at once (the property test must catch it)."""

    def __init__(self, honour_events: bool = True):
        super().__init__("fake")
        self.streams = {None: FakeStream(), COPY: FakeStream()}
        self.honour_events = honour_events
        self.freed = []

    def free(self, segment) -> None:
        self.freed.append(segment.handle)  # queued work may still point into it: keep it
        segment.handle = None

    def record_event(self, stream):
        return FakeEvent(self.streams[stream]) if self.honour_events else M._Done


def _raw(a) -> np.ndarray:
    """A view of `a`'s memory that does not keep its lease alive (what a kernel holds)."""
    addr, n = M.HostDriver.address(a), a.shape[0]
    return np.frombuffer((ctypes.c_int64 * n).from_address(addr), np.int64)


def _pool(driver=None, limit=None):
    return M.CachingAllocator(driver or StreamDriver(), limit=limit)


# ---- per-stream pools and record_stream (CPU tier) ---------------------------------------------
def test_a_block_is_handed_out_again_only_for_its_own_stream():
    p = _pool()
    a = p.array((100,), np.float32, stream=COPY)
    addr = M.HostDriver.address(a)
    del a
    b = p.array((100,), np.float32)  # compute stream: its own segment
    assert M.HostDriver.address(b) != addr and p.stats()["num_device_alloc"] == 2
    c = p.array((100,), np.float32, stream=COPY)
    assert M.HostDriver.address(c) == addr and p.stats()["num_pool_hits"] == 1


def test_a_block_used_on_another_stream_waits_for_the_event_recorded_at_its_free():
    drv = StreamDriver()
    p = _pool(drv)
    a = p.array((100,), np.float32, stream=COPY, uses=(None,))  # an upload read by kernels
    addr = M.HostDriver.address(a)
    drv.streams[None].work.append(lambda: None)  # a kernel reading `a`, still queued
    del a
    b = p.array((100,), np.float32, stream=COPY)
    s = p.stats()
    assert M.HostDriver.address(b) != addr  # the kernel may still read the old block
    assert s["num_event_waits"] == 1 and s["num_blocks_awaiting_events"] == 1
    assert s["allocation.all.current"] == 1  # freed in the stats already (PyTorch's count)
    drv.streams[None].run()
    c = p.array((100,), np.float32, stream=COPY)
    assert M.HostDriver.address(c) == addr and p.stats()["num_blocks_awaiting_events"] == 0


def test_record_stream_on_a_view_and_on_the_own_stream():
    drv = StreamDriver()
    p = _pool(drv)
    a = p.array((64,), np.int64)
    block = p.block_at(M.HostDriver.address(a[10:]))  # a view finds its block
    assert block is not None and block.size == 512
    p.record_stream(block, None)  # its own stream: nothing to wait for
    assert block.stream_uses is None
    p.record_stream(block, COPY)
    drv.streams[COPY].work.append(lambda: None)
    del a
    assert p.stats()["num_blocks_awaiting_events"] == 1
    assert p.block_at(12345) is None


def test_empty_cache_and_out_of_memory_wait_for_pending_events():
    drv = StreamDriver()
    p = _pool(drv, limit=M.SMALL_SEGMENT)
    a = p.array((10,), np.float32, stream=COPY, uses=(None,))
    drv.streams[None].work.append(lambda: None)
    del a
    b = p.array((10,), np.float32)  # the limit allows one segment, held by the awaiting block
    assert drv.streams[None].done == 1  # the OOM path synchronised the event, then released it
    s = p.stats()
    assert s["num_alloc_retries"] == 1 and s["num_device_free"] == 1
    assert s["num_blocks_awaiting_events"] == 0 and s["segment.all.current"] == 1
    del b
    p.empty_cache()
    c = p.array((10,), np.float32, stream=COPY, uses=(None,))
    drv.streams[None].work.append(lambda: None)
    del c
    p.empty_cache()
    assert drv.streams[None].done == 2 and p.stats()["reserved_bytes.all.current"] == 0


# A random program on two fake streams: allocations on either stream (the first write queued on
# it), uses on the other stream (record_stream, a wait for the write's event, a queued read),
# host-side drops, and partial runs of either stream.  Every queued read must see the value its
# array was given: a block reused while another stream's queued work still reads it is caught.
_STREAMS = st.sampled_from([None, COPY])
_PROGRAM = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.sampled_from([1, 64, 200, 70000]), _STREAMS),
    st.tuples(st.just("use"), st.integers(0, 30), _STREAMS),
    st.tuples(st.just("drop"), st.integers(0, 30), st.none()),
    st.tuples(st.just("run"), st.integers(0, 3), _STREAMS)), min_size=1, max_size=50)


def _bad_reads(ops, driver) -> list:
    p = _pool(driver)
    streams = driver.streams
    live, bad = [], []  # (array, tag, stream, event of its first write)

    def write(raw, tag):
        return lambda: raw.__setitem__(slice(None), tag)

    def read(raw, tag):
        return lambda: None if np.all(raw == tag) else bad.append(tag)

    for n, (op, arg, stream) in enumerate(ops):
        if op == "alloc":
            a = p.array((arg,), np.int64, stream=stream)
            streams[stream].work.append(write(_raw(a), n))
            live.append((a, n, stream, FakeEvent(streams[stream])))
            del a  # only `live` holds arrays
        elif op == "use" and live:
            a, tag, own, written = live[arg % len(live)]
            if stream != own:
                p.record_stream(p.block_at(M.HostDriver.address(a)), stream)
                streams[stream].work.append(written)
            streams[stream].work.append(read(_raw(a), tag))
            del a
        elif op == "drop" and live:
            del live[arg % len(live)]
        elif op == "run":
            streams[stream].run(arg)
    live.clear()
    while streams[None].run() + streams[COPY].run():
        pass
    assert all(s.done == len(s.work) for s in streams.values())
    return bad


@settings(max_examples=60)
@given(ops=_PROGRAM)
def test_property_no_block_reused_while_another_stream_still_uses_it(ops):
    assert _bad_reads(ops, StreamDriver()) == []


def test_the_property_catches_a_pool_that_ignores_other_streams():
    # the copy stream allocates, the compute stream reads (queued, not run); the host drops the
    # array and the copy stream allocates again: the new write must not land before the read
    ops = [("alloc", 64, COPY), ("use", 0, None), ("drop", 0, None), ("alloc", 64, COPY),
           ("run", 3, COPY)]
    assert _bad_reads(ops, StreamDriver()) == []
    assert _bad_reads(ops, StreamDriver(honour_events=False)) == [0]


# ---- the simulator tier: uploads, record_stream, prefetch --------------------------------------
@pytest.mark.cuda
def test_upload_copies_into_a_copy_stream_block_without_waiting_for_compute(cuda_device,
                                                                            monkeypatch):
    """Order: copy (copy stream) -> record (copy stream) -> wait (compute stream); the copy
    stream waits for nothing, and the block is marked as used by the compute stream."""
    from numba import cuda

    from minidl.cuda import pinned
    from minidl.cuda.backend import memory as bm

    log = []

    class Ev:
        def record(self, stream):
            log.append(("record", stream))

        def wait(self, stream):
            log.append(("wait", stream))

    copy_stream = bm._copy_stream()
    real_copy = type(bm.empty((1,), np.float32)).copy_to_device

    def copy(self, ary, stream=0):
        log.append(("copy", stream))
        return real_copy(self, ary, stream=stream)

    monkeypatch.setattr(cuda, "event", Ev)
    monkeypatch.setattr(type(bm.empty((1,), np.float32)), "copy_to_device", copy)
    host = pinned.pin(np.arange(5, dtype=np.float32))
    out = bm.from_numpy(host, non_blocking=True)
    assert [(k, s is copy_stream) for k, s in log] == [("copy", True), ("record", True),
                                                       ("wait", False)]
    np.testing.assert_array_equal(out.copy_to_host(), host)
    pool = M.allocator(0)
    block = pool.block_at(pool.driver.address(out))
    assert block.segment.stream is copy_stream and block.stream_uses == {None}

    log.clear()
    with bm.deferred_waits() as events:  # a prefetch: the compute stream's wait comes later
        bm.from_numpy(host, non_blocking=True)
    assert [k for k, _ in log] == ["copy", "record"] and len(events) == 1
    bm.wait_events(events)
    assert [k for k, _ in log] == ["copy", "record", "wait"]


@pytest.mark.cuda
def test_tensor_record_stream(cuda_device):
    from numba import cuda

    import minidl
    from minidl.errors import DeviceError

    x = minidl.zeros(100, device="cuda")
    s = cuda.stream()
    x[10:].record_stream(s)  # a view marks its whole block
    pool = M.allocator(0)
    block = pool.block_at(pool.driver.address(x._data))
    assert block.stream_uses == {s}
    x.record_stream(None)  # the compute stream (the simulator cannot tell its default stream)
    assert len(block.stream_uses) == 1
    with pytest.raises(DeviceError, match="record_stream: expected a CUDA tensor"):
        minidl.zeros(3).record_stream(s)


def _data(n=24):
    import minidl
    from minidl.data import TensorDataset

    rng = np.random.default_rng(1)
    xs = minidl.tensor(rng.standard_normal((n, 6)).astype(np.float32))
    ys = minidl.tensor(rng.integers(0, 3, n))
    return TensorDataset(xs, ys)


def _model():
    import minidl
    from minidl import nn

    minidl.manual_seed(3)
    return nn.Sequential(nn.Dropout(0.3), nn.Linear(6, 3)).to("cuda")  # dropout: RNG order


@pytest.mark.cuda
def test_train_issues_the_next_upload_before_the_step_and_waits_at_hand_out(cuda_device,
                                                                            monkeypatch):
    import minidl
    from minidl.cuda.backend import memory as bm
    from minidl.data import DataLoader
    from minidl.nn import functional as F
    from minidl.train import train_epoch

    log, blocks = [], []
    real_upload, real_wait = bm._upload_async, bm.wait_events
    monkeypatch.setattr(bm, "_upload_async", lambda h: log.append("upload") or real_upload(h))
    monkeypatch.setattr(bm, "wait_events",
                        lambda ev: log.append(f"wait {len(ev)}") or real_wait(ev))
    pool = M.allocator(0)

    def hook(module, inp, out):
        log.append("step")
        blocks.append(pool.block_at(pool.driver.address(inp[0]._data)))

    model = _model()
    model.register_forward_hook(hook)
    opt = minidl.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(_data(32), batch_size=8, pin_memory=True)
    out = train_epoch(model, loader, opt, F.nll_loss, device="cuda", progress=False)
    assert out["steps"] == 4
    up = ["upload", "upload"]  # x and y of one batch
    step = ["wait 2", "step"]  # the compute stream waits for batch k, then step k
    assert log == up + up + step + up + step + up + step + step
    # the batches live in copy-stream blocks that come back once freed (the simulator's events
    # are done at once; on a GPU, once the step that read them is done)
    assert all(b.segment.stream is not None for b in blocks)
    assert len({id(b) for b in blocks}) <= 3  # batch k + 1 (ahead), batch k, batch k - 1
    log.clear()
    train_epoch(model, loader, opt, F.nll_loss, device="cuda", progress=False, max_steps=1)
    assert log == up + step  # no batch uploaded beyond max_steps


@pytest.mark.cuda
def test_training_with_the_prefetch_is_bit_identical_to_a_plain_loop(cuda_device):
    import minidl
    from minidl.data import DataLoader
    from minidl.nn import functional as F
    from minidl.train import evaluate, train_epoch

    def loader(pin, batch_size=8):
        return DataLoader(_data(24), batch_size=batch_size, shuffle=True, pin_memory=pin,
                          generator=minidl.Generator().manual_seed(5))

    loss_fn = F.nll_loss  # cheaper than cross_entropy in the simulator; uses the targets too
    model = _model()
    opt = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    minidl.manual_seed(7)
    train_epoch(model, loader(True), opt, loss_fn, device="cuda", progress=False, max_steps=2)
    ev = evaluate(model, loader(True, 12), loss_fn, device="cuda", progress=False)

    ref = _model()
    ref_opt = minidl.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    minidl.manual_seed(7)
    ref.train()
    for step, (x, y) in enumerate(loader(False)):  # pageable, synchronous, one at a time
        if step == 2:
            break
        loss = loss_fn(ref(x.to("cuda")), y.to("cuda"))
        ref_opt.zero_grad()
        loss.backward()
        ref_opt.step()
    for (name, p), q in zip(model.named_parameters(), ref.parameters()):
        np.testing.assert_array_equal(p.detach().cpu().numpy(), q.detach().cpu().numpy(),
                                      err_msg=name)
    ref_ev = evaluate(ref, loader(False, 12), loss_fn, device="cuda", progress=False)
    assert ev["loss"] == ref_ev["loss"] and ev["accuracy"] == ref_ev["accuracy"]
