"""minidl.save / minidl.load: round trips, the documented HDF5 layout, refusal of foreign or
damaged files, map_location, and atomic replacement."""
import collections
import io
import os
import pickle
import random
import subprocess
import sys

import h5py
import numpy as np
import pytest

import minidl
from minidl.errors import CheckpointError


def _state():
    gen = np.random.default_rng(5)
    gen.random(3)
    return {
        "model": collections.OrderedDict([
            ("conv1.weight", minidl.randn(4, 1, 3, 3)),
            ("conv1.bias", minidl.zeros(4, dtype=minidl.float64)),
            ("steps", minidl.tensor([3, 4])),
            ("mask", minidl.tensor([True, False])),
        ]),
        "optimizer": {"state": {0: {"step": 3, "exp_avg": minidl.ones(2)}, 2: {}},
                      "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1, 2],
                                        "amsgrad": False, "foreach": None}]},
        "epoch": 7,
        "loss": 0.25,
        "name": "lenet-5 ✓",
        "raw": b"\x00\xff",
        "minidl_rng": minidl.get_rng_state(),
        "numpy_rng": gen.bit_generator.state,
        "python_rng": random.Random(3).getstate(),
        "scalars": [np.float32(1.5), np.int64(-2), np.bool_(True), 2 ** 70, -(2 ** 64), 1j],
        "weird keys": {"a/b": 1, ".": 2, "__type__": 3, "": 4, 5: "int", "5": "str", None: 0,
                       2.5: "float", True: "bool"},
        "arrays": [np.arange(6.0).reshape(2, 3)[:, ::2], np.array(3), np.zeros((0, 4)),
                   np.array([1, 2], np.uint8)],
        "empty": [{}, [], ()],
        "nested": ((1, (2, [3, {"deep": None}])),),
    }


def _equal(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a.keys()) == list(b.keys()) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, minidl.Tensor):
        return (a.dtype == b.dtype and a.shape == b.shape and str(a.device) == str(b.device)
                and a.requires_grad == b.requires_grad
                and np.array_equal(a.detach().numpy(), b.detach().numpy()))
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a == b
    return a == b


def test_round_trip_preserves_types_order_and_values(tmp_path):
    state = _state()
    minidl.save(state, tmp_path / "ck.h5")
    out = minidl.load(tmp_path / "ck.h5")
    assert _equal(state, out)
    assert list(out["weird keys"]) == ["a/b", ".", "__type__", "", 5, "5", None, 2.5, True]
    assert isinstance(out["model"], collections.OrderedDict)
    # restored RNG states continue the same streams
    g = np.random.default_rng()
    g.bit_generator.state = out["numpy_rng"]
    ref = np.random.default_rng(5)
    ref.random(3)
    assert np.array_equal(g.random(4), ref.random(4))
    r = random.Random()
    r.setstate(out["python_rng"])
    assert r.random() == random.Random(3).random()
    # top-level non-containers and file objects
    minidl.save(minidl.arange(3), tmp_path / "t.h5")
    assert minidl.load(tmp_path / "t.h5").tolist() == [0, 1, 2]
    buf = io.BytesIO()
    minidl.save({"x": 1}, buf)
    buf.seek(0)
    assert minidl.load(buf) == {"x": 1}


def test_requires_grad_and_parameters(tmp_path):
    from minidl.nn import Parameter
    p = Parameter(minidl.randn(2, 2))
    t = minidl.randn(3, requires_grad=True)
    minidl.save({"p": p, "t": t, "d": t.detach()}, tmp_path / "ck.h5")
    out = minidl.load(tmp_path / "ck.h5")
    assert isinstance(out["p"], Parameter) and out["p"].requires_grad and out["p"].is_leaf
    assert out["t"].requires_grad and out["t"].is_leaf and not out["d"].requires_grad
    assert np.array_equal(out["p"].detach().numpy(), p.detach().numpy())


def test_layout_is_plain_hdf5(tmp_path):
    minidl.save(_state(), tmp_path / "ck.h5")
    with h5py.File(tmp_path / "ck.h5", "r") as f:
        assert f.attrs["minidl_format"] == "minidl-checkpoint" and f.attrs["format_version"] == 2
        assert list(f.keys())[:2] == ["model", "optimizer"]  # creation order kept
        w = f["model"]["conv1.weight"]
        assert isinstance(w, h5py.Dataset) and w.shape == (4, 1, 3, 3) and w.dtype == np.float32
        assert w.attrs["__type__"] == "tensor" and w.attrs["device"] == "cpu"
        assert f.attrs["epoch"] == 7 and f.attrs["loss"] == 0.25 and f.attrs["name"] == "lenet-5 ✓"
        assert isinstance(f["optimizer"]["state"]["0"], h5py.Group)  # int key 0 -> "0"
        assert f["optimizer"]["state"]["0"].attrs["step"] == 3
        assert f["python_rng"]["1"].attrs["__type__"] == "tuple[int]"
        assert f["numpy_rng"]["state"].attrs["state"].isdigit()  # 128-bit int as text


def test_unsupported_objects_name_their_location(tmp_path):
    with pytest.raises(TypeError, match="type object at '/a/0'"):
        minidl.save({"a": [object()]}, tmp_path / "x.h5")
    with pytest.raises(TypeError, match="dict key"):
        minidl.save({(1, 2): 3}, tmp_path / "x.h5")
    with pytest.raises(TypeError, match="dtype object"):
        minidl.save({"a": np.array([None])}, tmp_path / "x.h5")
    assert list(tmp_path.iterdir()) == []  # no temp file and no target left behind


def test_failed_save_keeps_previous_checkpoint(tmp_path):
    path = tmp_path / "ck.h5"
    minidl.save({"v": 1}, path)
    with pytest.raises(TypeError):
        minidl.save({"v": 2, "bad": object()}, path)
    assert minidl.load(path) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["ck.h5"]


def test_truncated_foreign_and_hostile_files(tmp_path):
    path = tmp_path / "ck.h5"
    minidl.save({"w": minidl.randn(256, 256), "e": 1}, path)
    blob = path.read_bytes()
    for cut in (len(blob) // 2, 100, 0):
        (tmp_path / "cut.h5").write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match="cut.h5"):
            minidl.load(tmp_path / "cut.h5")
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(CheckpointError, match="foreign.h5.*not a minidl checkpoint"):
        minidl.load(tmp_path / "foreign.h5")
    # a pickle is never unpickled
    (tmp_path / "model.pt").write_bytes(pickle.dumps({"w": np.zeros(3)}))
    with pytest.raises(CheckpointError, match="model.pt"):
        minidl.load(tmp_path / "model.pt")
    with pytest.raises(FileNotFoundError):
        minidl.load(tmp_path / "missing.h5")
    # newer format versions and non-numeric datasets are refused
    minidl.save({"a": 1}, tmp_path / "new.h5")
    with h5py.File(tmp_path / "new.h5", "a") as f:
        f.attrs["format_version"] = 99
    minidl.io._write_header(tmp_path / "new.h5")  # (edits with h5py break the file checksum)
    with pytest.raises(CheckpointError, match="version 99"):
        minidl.load(tmp_path / "new.h5")
    minidl.save({"a": np.zeros(2)}, tmp_path / "vlen.h5")
    with h5py.File(tmp_path / "vlen.h5", "a") as f:
        del f["a"]
        f.create_dataset("a", data=np.array([b"x", b"y"], dtype=object),
                         dtype=h5py.string_dtype())
        f["a"].attrs["__type__"] = "ndarray"
    minidl.io._write_header(tmp_path / "vlen.h5")
    with pytest.raises(CheckpointError, match="vlen.h5.*only numeric"):
        minidl.load(tmp_path / "vlen.h5")
    assert issubclass(CheckpointError, RuntimeError)


def _gpu_checkpoint(tmp_path):
    path = tmp_path / "ck.h5"
    minidl.save({"w": minidl.ones(2), "n": 1}, path)
    with h5py.File(path, "a") as f:  # pretend it was saved from a GPU (and re-seal it as such)
        f["w"].attrs["device"] = "cuda:0"
        minidl.io._seal(f["w"], f["w"][()])
    minidl.io._write_header(path)
    return path


def test_map_location_to_cpu(tmp_path):
    path = _gpu_checkpoint(tmp_path)
    for ml in ("cpu", minidl.device("cpu"), {"cuda:0": "cpu"}, lambda t, loc: t):
        out = minidl.load(path, map_location=ml)
        assert str(out["w"].device) == "cpu" and out["w"].tolist() == [1.0, 1.0]


def test_cuda_checkpoint_on_cpu_only_machine(tmp_path):
    # in a subprocess: asking whether CUDA exists imports numba.cuda, which unmarked tests avoid
    path = _gpu_checkpoint(tmp_path)
    code = (
        "import sys, minidl\n"
        "if minidl.cuda.is_available(): sys.exit(3)\n"
        "try:\n"
        f"    minidl.load({str(path)!r})\n"
        "except minidl.errors.DeviceError as e:\n"
        "    print(e); sys.exit(0)\n"
        "sys.exit(1)\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    if proc.returncode == 3:
        pytest.skip("a CUDA GPU is available")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "map_location='cpu'" in proc.stdout and "cuda:0" in proc.stdout


@pytest.mark.cuda
def test_map_location_cuda_round_trip(tmp_path, cuda_device):
    w = minidl.randn(3, 4).to(cuda_device)
    minidl.save({"w": w}, tmp_path / "gpu.h5")
    saved = minidl.load(tmp_path / "gpu.h5")
    assert str(saved["w"].device) == "cuda:0"
    cpu = minidl.load(tmp_path / "gpu.h5", map_location="cpu")["w"]
    assert str(cpu.device) == "cpu" and np.array_equal(cpu.numpy(), w.cpu().numpy())
    minidl.save({"w": cpu}, tmp_path / "cpu.h5")
    back = minidl.load(tmp_path / "cpu.h5", map_location="cuda")["w"]
    assert str(back.device) == "cuda:0" and np.array_equal(back.cpu().numpy(), cpu.numpy())


def test_empty_bytes_nul_strings_and_every_array_dtype_round_trip(tmp_path):
    state = {"empty": b"", "nul": b"a\x00b", "s_nul": "a\x00b", "s_empty": "", "s0": "\x00",
             "surrogate": "x\ud800y", "uni": "ü✓", "ba": bytearray(b"\x00"),
             "arrays": [np.arange(3).astype(dt) for dt in (
                 np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                 np.uint32, np.uint64, np.float16, np.float32, np.float64, np.complex64,
                 np.complex128)],
             "big_endian": np.arange(3, dtype=">f4"), "np_scalars": [np.float16(2), np.uint8(7)]}
    minidl.save(state, tmp_path / "ck.h5")
    out = minidl.load(tmp_path / "ck.h5")
    assert out["empty"] == b"" and out["nul"] == b"a\x00b" and out["s_nul"] == "a\x00b"
    assert out["s_empty"] == "" and out["s0"] == "\x00" and out["surrogate"] == "x\ud800y"
    assert out["uni"] == "ü✓" and out["ba"] == b"\x00"
    for a, b in zip(state["arrays"], out["arrays"]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert out["big_endian"].tolist() == [0.0, 1.0, 2.0]
    assert [type(v) for v in out["np_scalars"]] == [np.float16, np.uint8]
    with h5py.File(tmp_path / "ck.h5", "r") as f:  # plain h5py: bytes are uint8 vectors
        assert bytes(f.attrs["nul"]) == b"a\x00b" and f.attrs["uni"] == "ü✓"
    with pytest.raises(TypeError, match="dtype float128|dtype longdouble"):
        minidl.save({"x": np.zeros(2, np.longdouble)}, tmp_path / "ld.h5")


def test_save_writes_through_a_symlink(tmp_path):
    real_dir = tmp_path / "store"
    real_dir.mkdir()
    target = real_dir / "ck.h5"
    minidl.save({"v": 1}, target)
    link = tmp_path / "latest.h5"
    link.symlink_to(os.path.relpath(target, tmp_path))
    minidl.save({"v": 2}, link)
    assert link.is_symlink() and os.readlink(link) == os.path.relpath(target, tmp_path)
    assert minidl.load(target) == {"v": 2} and minidl.load(link) == {"v": 2}
    assert sorted(p.name for p in real_dir.iterdir()) == ["ck.h5"]  # temp file renamed there
    # a chain of links, and a dangling one (creates its target, as open(path, "w") would)
    chain = tmp_path / "chain.h5"
    chain.symlink_to(link)
    minidl.save({"v": 3}, chain)
    assert chain.is_symlink() and link.is_symlink() and minidl.load(target) == {"v": 3}
    dangling = tmp_path / "new.h5"
    dangling.symlink_to(real_dir / "new-target.h5")
    minidl.save({"v": 4}, dangling)
    assert dangling.is_symlink() and minidl.load(real_dir / "new-target.h5") == {"v": 4}


def test_map_location_errors_are_the_callers_not_checkpoint_errors(tmp_path):
    minidl.save({"w": minidl.ones(2)}, tmp_path / "ck.h5")

    def bad(t, loc):
        raise ValueError("my map_location failed")
    with pytest.raises(ValueError, match="my map_location failed"):
        minidl.load(tmp_path / "ck.h5", map_location=bad)


def test_ctrl_c_during_save_lands_after_the_save(tmp_path, monkeypatch):
    """h5py swallows a KeyboardInterrupt raised inside its callbacks (a save then carried on
    and training never stopped): save defers SIGINT until the checkpoint is complete."""
    import signal
    import minidl.io as mio
    sent = []

    def hook(phase):
        if phase == "dataset" and not sent:
            sent.append(1)
            signal.raise_signal(signal.SIGINT)  # as Ctrl-C would, in the middle of the save
    monkeypatch.setattr(mio, "_phase_hook", hook)
    with pytest.raises(KeyboardInterrupt):
        minidl.save({"a": minidl.ones(3), "b": minidl.zeros(2)}, tmp_path / "ck.h5")
    assert sent and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    monkeypatch.setattr(mio, "_phase_hook", None)
    assert minidl.load(tmp_path / "ck.h5")["b"].tolist() == [0.0, 0.0]
