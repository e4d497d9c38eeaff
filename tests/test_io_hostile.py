"""Hostile checkpoints: `minidl.load` reads only what `minidl.save` writes.

Each forged file is a real checkpoint edited with plain h5py the way an attacker would, then
given valid checksums again (the attacker can recompute them: `_reseal`), so the refusal under
test is the structural check, not the checksum. Every case must raise CheckpointError naming
the file and the reason, and no byte from outside the file may reach a returned value or the
error. Random bit flips (no re-sealing) must all be refused by the checksums."""
import io
import os
import pickle
import random
import sys
import zipfile

import h5py
import numpy as np
import pytest

import minidl
from minidl import io as mio
from minidl.errors import CheckpointError

SECRET = b"TOP-SECRET-0123456789abcdef-NOT-IN-THE-CHECKPOINT!"  # 50 bytes


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch):
    """load must never unpickle: make every pickle entry point fail loudly."""
    def boom(*args, **kwargs):
        raise AssertionError("minidl.load unpickled something")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, boom)


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    return path


def _reseal(path) -> None:
    """Recompute every object checksum and the file header, as an attacker could."""
    with h5py.File(path, "a") as f:
        objs = []
        f.visititems(lambda name, obj: objs.append(obj))
        for obj in objs + [f]:  # (any order: a checksum covers one object's attrs and data)
            if not isinstance(obj, h5py.Dataset):
                mio._seal(obj)
                continue
            if obj.id.get_create_plist().get_external_count() or obj.is_virtual or \
                    obj.size * obj.dtype.itemsize > 1 << 20:
                continue  # sealed by the caller with the data it knows (or never read)
            try:
                mio._seal(obj, np.asarray(obj[()]))
            except (OSError, TypeError, ValueError):
                continue  # types minidl cannot hash are refused before their checksum matters
    mio._write_header(path)


def _base(tmp_path, name="ck.h5"):
    path = tmp_path / name
    minidl.save({"w": minidl.arange(4.0), "epoch": 3}, path)
    minidl.load(path)  # the unedited file loads
    return path


def _refused(path, *reasons):
    with pytest.raises(CheckpointError) as info:
        minidl.load(path)
    msg = str(info.value)
    assert str(path) in msg, msg
    for reason in reasons:
        assert reason in msg, msg
    assert SECRET.decode() not in msg and SECRET[:16].hex() not in msg
    return msg


def test_external_raw_storage_is_refused_before_reading(tmp_path, secret_file):
    path = _base(tmp_path)
    with h5py.File(path, "a") as f:
        del f["w"]
        ds = f.create_dataset("w", shape=(len(SECRET),), dtype=np.uint8,
                              external=[(str(secret_file), 0, len(SECRET))])
        ds.attrs["__type__"] = "ndarray"
        mio._seal(ds, np.frombuffer(SECRET, np.uint8))  # the checksum the stolen bytes have
    _reseal(path)
    with h5py.File(path, "r") as f:  # the exploit is real: plain h5py returns the secret
        assert f["w"][()].tobytes() == SECRET
    _refused(path, "/w", "external raw storage", "secret.bin")


def test_external_link_is_refused(tmp_path, secret_file):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["w"] = np.frombuffer(SECRET, np.uint8)
        f["w"].attrs["__type__"] = "ndarray"
    path = _base(tmp_path)
    with h5py.File(path, "a") as f:
        del f["w"]
        f["w"] = h5py.ExternalLink(str(other), "/w")
    _reseal(path)
    _refused(path, "/w", "external link", "other.h5")


def test_soft_links_and_cycles_are_refused(tmp_path):
    path = _base(tmp_path)
    with h5py.File(path, "a") as f:
        f.move("w", "hidden")
        f["w"] = h5py.SoftLink("/hidden")
    _reseal(path)
    _refused(path, "/w", "soft link")
    # a soft-link cycle (used to raise RecursionError)
    path = tmp_path / "cycle.h5"
    minidl.save({"g": {"x": {}}}, path)
    with h5py.File(path, "a") as f:
        del f["g"]["x"]
        f["g"]["x"] = h5py.SoftLink("/g")
    _reseal(path)
    _refused(path, "/g/x", "soft link")
    # a hard-link cycle: the group contains itself
    path = tmp_path / "hard.h5"
    minidl.save({"g": {"x": {}}}, path)
    with h5py.File(path, "a") as f:
        del f["g"]["x"]
        f["g"]["x"] = f["g"]
    _reseal(path)
    _refused(path, "linked 2 times")
    # one dataset reachable under two names
    path = tmp_path / "shared.h5"
    minidl.save({"a": minidl.ones(2), "b": minidl.ones(2)}, path)
    with h5py.File(path, "a") as f:
        del f["b"]
        f["b"] = f["a"]
    _reseal(path)
    _refused(path, "linked 2 times")


def test_size_lies_are_refused_before_allocating(tmp_path):
    # a ~10 KB file declaring a 73 TiB dataset (storage never allocated)
    path = _base(tmp_path)
    with h5py.File(path, "a") as f:
        del f["w"]
        ds = f.create_dataset("w", shape=(10 ** 13,), dtype=np.float64)
        ds.attrs["__type__"] = "ndarray"
        mio._seal(ds, np.zeros(0))
    _reseal(path)
    assert os.path.getsize(path) < 16384
    _refused(path, "/w", "80000000000000 bytes", "file has only")
    # the dataspace edited in place to claim more elements than the data stored: bigger than
    # the file, and a small lie that would fit in it (HDF5 2.0 itself refuses to open such a
    # dataset; older HDF5 did not, and minidl's own check stands either way)
    for claimed in (60_000, 4098):
        path = tmp_path / f"lie{claimed}.h5"
        minidl.save({"w": np.arange(4097, dtype=np.uint16)}, path)
        blob = bytearray(path.read_bytes())
        dims = (4097).to_bytes(8, "little")
        assert blob.count(dims) == 2  # the dataspace message's dimension and max dimension
        path.write_bytes(bytes(blob.replace(dims, claimed.to_bytes(8, "little"))))
        mio._write_header(path)
        msg = _refused(path, "/w")
        assert any(r in msg for r in ("file has only", "stores 8194", "invalid dataset size"))


def test_datasets_together_cannot_claim_more_than_the_file(tmp_path):
    """Seven small datasets re-pointed (address, size and shape) at one big one: each fits in
    the file, together they would allocate 8x its data."""
    path = tmp_path / "alias.h5"
    minidl.save({"big": np.ones(40_000, np.uint8),
                 **{f"a{i}": np.zeros(1000 + i, np.uint8) for i in range(1, 8)}}, path)
    with h5py.File(path, "r") as f:  # (addresses in the file are relative to the user block)
        big = f["big"].id.get_offset() - 512
        offsets = {i: f[f"a{i}"].id.get_offset() - 512 for i in range(1, 8)}
    blob = bytearray(path.read_bytes())
    for i, off in offsets.items():
        n = (1000 + i).to_bytes(8, "little")
        layout = off.to_bytes(8, "little") + n  # contiguous layout message: address, size
        assert blob.count(layout) == 1 and blob.count(n) == 3  # (+ dataspace dim, max dim)
        blob = blob.replace(layout, big.to_bytes(8, "little") + (40_000).to_bytes(8, "little"))
        blob = blob.replace(n, (40_000).to_bytes(8, "little"))
    path.write_bytes(bytes(blob))
    mio._write_header(path)
    assert 40_000 < os.path.getsize(path) < 8 * 40_000
    with h5py.File(path, "r") as f:  # plain h5py would read the same bytes 8 times
        assert f["a7"][()].sum() == 40_000
    _refused(path, "in total", "file has only")


def _random_state(rng: random.Random):
    n = rng.randrange(1, 6)
    return {"model": {f"l{i}.weight": minidl.tensor(np.float32(rng.random()) * np.ones(
                      (rng.randrange(1, 5), 3), np.float32)) for i in range(n)},
            "epoch": rng.randrange(100), "lr": rng.random(), "name": "run-%d" % rng.randrange(9),
            "hist": [rng.random() for _ in range(rng.randrange(20))], "raw": b"\x00\x01"}


def test_200_checkpoints_with_4_bit_flips_are_all_refused(tmp_path):
    """Every byte of a checkpoint is covered: the header's own bytes must match exactly (magic,
    version, digest and NUL padding), the rest is its sha256, so any flip is refused."""
    rng = random.Random(2026)
    bad = tmp_path / "bad.h5"
    refused = 0
    for _ in range(200):
        buf = io.BytesIO()  # (no fsync per checkpoint: the same bytes as a file)
        minidl.save(_random_state(rng), buf)
        blob = bytearray(buf.getvalue())
        for _ in range(4):
            bit = rng.randrange(len(blob) * 8)
            blob[bit // 8] ^= 1 << (bit % 8)
        bad.write_bytes(bytes(blob))
        with pytest.raises(CheckpointError, match="bad.h5"):
            minidl.load(bad)
        refused += 1
    assert refused == 200


def test_edits_behind_a_recomputed_file_checksum_hit_the_array_checksums(tmp_path):
    path = _base(tmp_path)
    with h5py.File(path, "a") as f:
        f["w"][1] = 99.0
    mio._write_header(path)
    _refused(path, "/w", "checksum mismatch")
    path = _base(tmp_path, "attr.h5")
    with h5py.File(path, "a") as f:
        f.attrs["epoch"] = np.int64(4)
    mio._write_header(path)
    _refused(path, "/:", "checksum mismatch")


def test_foreign_layouts_are_refused(tmp_path):
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["model/w"] = np.zeros(3)
        f.attrs["epoch"] = 3
    _refused(plain, "not a minidl checkpoint")
    cases = {
        "extra_group": (lambda f: f.create_group("extra"), "unexpected entries ['extra']"),
        "extra_attr": (lambda f: f.attrs.__setitem__("note", "hi"),
                       "unexpected attribute(s) ['note']"),
        "extra_ds_attr": (lambda f: f["w"].attrs.__setitem__("x", 1),
                          "unexpected attribute(s) ['x']"),
        "missing": (lambda f: f.__delitem__("w"), "missing entries ['w']"),
        "chunked": (lambda f: _replace(f, chunks=(2,), compression="gzip"), "chunked layout"),
        "compact": (_compact, "compact layout"),
        "virtual": (lambda f: _virtual(f, tmp_path), "virtual dataset"),
        "named_type": (_named_type, "named (committed) datatype"),
        "named_type_entry": (_named_type_entry, "is a Datatype"),
        "strings": (lambda f: _replace(f, data=np.array([b"ab", b"cd"])), "only numeric"),
        "references": (lambda f: _replace(f, data=np.array([f.ref], dtype=h5py.ref_dtype)),
                       "only numeric"),
        "pickle_bytes": (lambda f: _replace(f, data=np.void(pickle.dumps({"a": 1}))),
                         "only numeric"),
        "fixed_string_attr": (lambda f: f.attrs.__setitem__("__type__", np.bytes_(b"dict")),
                              "which minidl does not write"),
        "bad_code": (lambda f: f.attrs.__setitem__("__scalars__", '{"epoch": "pickle"}'),
                     "unknown scalar type code 'pickle'"),
        "deep_json": (lambda f: f.attrs.__setitem__("__keys__", "[" * 100_000),
                      "nested too deeply"),
        "bad_device": (lambda f: f["w"].attrs.__setitem__("device", "../../etc"),
                       "device='../../etc'"),
        "no_header": (None, "no minidl header"),
    }
    for name, (edit, reason) in cases.items():
        path = _base(tmp_path, f"{name}.h5")
        if edit is None:
            with h5py.File(path, "r") as src, h5py.File(tmp_path / "nh.h5", "w") as dst:
                for k, v in src.attrs.items():
                    dst.attrs[k] = v
                src.copy("w", dst)
            os.replace(tmp_path / "nh.h5", path)
        else:
            with h5py.File(path, "a") as f:
                edit(f)
            _reseal(path)
        _refused(path, reason)


def _replace(f, **kwargs):
    del f["w"]
    data = kwargs.pop("data", np.arange(4.0))
    ds = f.create_dataset("w", data=data, **kwargs)
    ds.attrs["__type__"] = "ndarray"


def _compact(f):
    del f["w"]
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    h5py.h5d.create(f.id, b"w", h5py.h5t.NATIVE_DOUBLE, h5py.h5s.create_simple((4,)), dcpl=dcpl)
    f["w"][...] = np.arange(4.0)
    f["w"].attrs["__type__"] = "ndarray"


def _virtual(f, tmp_path):
    src = tmp_path / "src.h5"
    with h5py.File(src, "w") as g:
        g["x"] = np.frombuffer(SECRET, np.uint8)
    del f["w"]
    layout = h5py.VirtualLayout(shape=(len(SECRET),), dtype=np.uint8)
    layout[:] = h5py.VirtualSource(str(src), "x", shape=(len(SECRET),))
    f.create_virtual_dataset("w", layout).attrs["__type__"] = "ndarray"


def _named_type(f):
    f["mytype"] = np.dtype("f8")
    del f["w"]
    f.create_dataset("w", data=np.arange(4.0), dtype=f["mytype"]).attrs["__type__"] = "ndarray"
    del f["mytype"]  # the type object lives on, referenced by "w" only


def _named_type_entry(f):
    f["epoch"] = np.dtype("f8")  # a committed datatype where an entry should be
    f.attrs["__keys__"] = '["w", "epoch"]'
    f.attrs["__scalars__"] = "{}"
    del f.attrs["epoch"]


def test_pickles_and_torch_files_are_refused(tmp_path):
    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps({"w": np.zeros(3)}))
    _refused(p, "not a minidl checkpoint")
    z = tmp_path / "model.pt"  # torch.save's zip-of-pickles layout
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    _refused(z, "not a minidl checkpoint")


def test_deeply_nested_groups_are_refused_not_recursion_error(tmp_path):
    path = tmp_path / "deep.h5"
    minidl.save({"g": {}}, path)
    with h5py.File(path, "a") as f:
        g = f["g"]
        for _ in range(300):
            g.attrs["__keys__"] = '["g"]'
            g = g.create_group("g")
            for k, v in (("__type__", "dict"), ("__keys__", "[]"), ("__scalars__", "{}")):
                g.attrs[k] = v
    _reseal(path)
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(250)  # (instead of 1,000 nested groups: building them is slow)
    try:
        _refused(path, "nested too deeply")
    finally:
        sys.setrecursionlimit(limit)


def _format1(path, extra_attr=False):
    """A checkpoint as minidl wrote it before checksums (format 1: no header, no __sha256__)."""
    with h5py.File(path, "w", track_order=True) as f:
        f.attrs.update({"minidl_format": "minidl-checkpoint", "format_version": 1,
                        "__type__": "dict", "__keys__": '["w", "epoch", "raw"]',
                        "__scalars__": '{"epoch": "int", "raw": "bytes"}', "epoch": 3,
                        "raw": np.void(b"\x00\xff")})
        ds = f.create_dataset("w", data=np.arange(3, dtype=np.float32))
        ds.attrs.update({"__type__": "tensor", "dtype": "float32", "device": "cpu",
                         "requires_grad": False, "parameter": False})
        if extra_attr:
            ds.attrs["__sha256__"] = "0" * 64


def test_format_1_loads_unverified_with_a_warning(tmp_path):
    path = tmp_path / "v1.h5"
    _format1(path)
    with pytest.warns(UserWarning, match="format 1.*without an integrity check"):
        out = minidl.load(path)
    assert out["w"].tolist() == [0.0, 1.0, 2.0] and out["epoch"] == 3
    assert out["raw"] == b"\x00\xff"
    _format1(path, extra_attr=True)  # the structural rules still apply
    _refused(path, "unexpected attribute(s) ['__sha256__']")
    # a format 2 checkpoint stripped of its header is not taken for an unverified format 1
    path = _base(tmp_path)
    path.write_bytes(path.read_bytes()[512:])
    _refused(path)
