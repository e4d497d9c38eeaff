"""minidl.data.datasets against the real files in ../shared/data (MNIST, CIFAR-10 subset), the
vendored Digits, and small files written by the tests (IDX, CIFAR pickles, PNG folders, HDF5)."""
import gzip
import hashlib
import os
import pickle
import shutil
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import minidl
from minidl.data import DataLoader
from minidl.data import transforms as T
from minidl.data.datasets import (CIFAR10, MNIST, DatasetNotFoundError, Digits, HDF5Dataset,
                                  ImageFolder, read_idx, safe_unpickle)
from minidl.data.datasets import _files

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "mnist").is_dir(),
                                  reason=f"shared data not found at {SHARED}")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Datasets must never reach the network in tests: every urlopen fails as if offline."""
    def offline(url, *a, **k):
        if str(url).startswith("file:"):
            return _real_urlopen(url, *a, **k)
        raise urllib.error.URLError("network disabled in tests")
    monkeypatch.setattr(_files.urllib.request, "urlopen", offline)


_real_urlopen = _files.urllib.request.urlopen


# ---------------------------------------------------------------- MNIST

@needs_shared
def test_mnist_full():
    train = MNIST(SHARED / "mnist", train=True)
    test = MNIST(SHARED / "mnist", train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert np.bincount(train.targets).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                   6265, 5851, 5949]
    assert test.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs(train.data.mean() - 33.318) < 1e-3
    img, label = test[0]
    assert img.shape == (28, 28) and isinstance(label, int) and label == 7


@needs_shared
def test_mnist_small_transform_and_loader():
    ds = MNIST(SHARED / "mnist-small", train=False,
               transform=T.Compose([T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]))
    assert len(ds) == 1000
    assert np.bincount(ds.targets).tolist() == [85, 126, 116, 107, 110, 87, 87, 99, 89, 94]
    x, y = next(iter(DataLoader(ds, batch_size=16)))
    assert x.shape == (16, 1, 28, 28) and x.dtype == minidl.float32
    assert y.dtype == minidl.int64 and y.tolist()[:3] == [7, 2, 1]


@needs_shared
def test_mnist_uncompressed_and_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with gzip.open(SHARED / "mnist-small" / (name + ".gz")) as src:
            (raw / name).write_bytes(src.read())
    ds = MNIST(tmp_path, train=False)
    ref = MNIST(SHARED / "mnist-small", train=False)
    assert np.array_equal(ds.data, ref.data) and np.array_equal(ds.targets, ref.targets)


def test_mnist_missing_files_message(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True") as info:
        MNIST(tmp_path)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value)


def test_mnist_download_offline_says_where_to_put_files(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        MNIST(tmp_path, download=True)
    msg = str(info.value)
    assert "no network access" in msg and str(tmp_path / "MNIST" / "raw") in msg
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg  # the md5 to check a manual download
    assert not list((tmp_path / "MNIST" / "raw").iterdir())  # nothing half-written


@needs_shared
def test_mnist_download_verifies_md5(tmp_path, monkeypatch):
    # a "mirror" on the local file system serving the official files
    monkeypatch.setattr(MNIST, "mirrors", [(SHARED / "mnist").as_uri() + "/"])
    ds = MNIST(tmp_path, train=False, download=True)
    assert len(ds) == 10000
    assert sorted(p.name for p in (tmp_path / "MNIST" / "raw").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz"]
    # a mirror serving different bytes (the 5,000-image subset) is rejected
    bad = tmp_path / "bad"
    monkeypatch.setattr(MNIST, "mirrors", [(SHARED / "mnist-small").as_uri() + "/"])
    with pytest.raises(DatasetNotFoundError, match="md5 mismatch"):
        MNIST(bad, download=True)
    assert not any((bad / "MNIST" / "raw").iterdir())


def test_read_idx_rejects_truncated_and_foreign(tmp_path):
    good = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], ">u4").tobytes()
    (tmp_path / "ok").write_bytes(header + good.tobytes())
    assert np.array_equal(read_idx(tmp_path / "ok"), good)
    (tmp_path / "short").write_bytes(header + good.tobytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "foreign").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "foreign")


# ---------------------------------------------------------------- CIFAR-10

@needs_shared
def test_cifar10_binary_subset():
    train = CIFAR10(SHARED / "cifar10-subset", train=True)
    test = CIFAR10(SHARED / "cifar10-subset", train=False)
    assert len(train) == 4000 and len(test) == 1000
    assert train.data.shape == (4000, 32, 32, 3) and train.data.dtype == np.uint8
    assert train.targets[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert test.targets[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert train.data[0, 0, :6, 0].tolist() == [59, 43, 50, 68, 98, 119]
    assert test.data[0, 0, :5, 0].tolist() == [158, 159, 165, 166, 160]
    assert np.bincount(test.targets).tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]
    assert train.classes[6] == "frog"
    np.testing.assert_allclose(train.data.reshape(-1, 3).mean(0), (125.4, 122.8, 113.4),
                               atol=0.1)


@needs_shared
@pytest.mark.parametrize("protocol", [2, 5])
def test_cifar10_pickle_batches_match_binary(tmp_path, protocol):
    ref = CIFAR10(SHARED / "cifar10-subset", train=False)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    flat = np.ascontiguousarray(ref.data[:50].transpose(0, 3, 1, 2)).reshape(50, -1)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": ref.targets[:50].tolist(),
             b"data": flat, b"filenames": [b"x.png"] * 50}
    (folder / "test_batch").write_bytes(pickle.dumps(batch, protocol=protocol))
    (folder / "batches.meta").write_bytes(pickle.dumps(
        {b"label_names": [c.encode() for c in ref.classes]}, protocol=protocol))
    ds = CIFAR10(tmp_path, train=False)
    assert np.array_equal(ds.data, ref.data[:50]) and np.array_equal(ds.targets, ref.targets[:50])
    assert ds.classes == ref.classes


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_restricted_unpickler_refuses_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [_Evil()]})
    with pytest.raises(pickle.UnpicklingError, match="posix.system|os.system|forbidden"):
        safe_unpickle(payload)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(pickle.UnpicklingError, match="test_batch"):
        CIFAR10(tmp_path, train=False)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(pickle.UnpicklingError, match="object dtype"):
        safe_unpickle(pickle.dumps(np.array([1, "a"], dtype=object)))
    assert safe_unpickle(pickle.dumps({"a": (1, 2.0, b"x", [None])})) == {"a": (1, 2.0, b"x",
                                                                                  [None])}


def test_cifar_missing_and_truncated(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        CIFAR10(tmp_path)
    (tmp_path / "test_batch.bin").write_bytes(b"\x00" * 3000)
    with pytest.raises(ValueError, match="truncated"):
        CIFAR10(tmp_path, train=False)


def test_cifar_download_offline(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="no network access"):
        CIFAR10(tmp_path, download=True)


def _tar(tmp_path, members):
    import io
    import tarfile
    src = tmp_path / "srv"
    src.mkdir(exist_ok=True)
    with tarfile.open(src / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return src, _files.md5sum(src / "cifar-10-python.tar.gz")


def test_cifar_download_extracts_checked_archive(tmp_path, monkeypatch):
    batch = {"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), "labels": [3, 5]}
    src, md5 = _tar(tmp_path, {"cifar-10-batches-py/test_batch": pickle.dumps(batch)})
    monkeypatch.setattr(CIFAR10, "mirrors", [src.as_uri() + "/"])
    monkeypatch.setattr(CIFAR10, "archive", ("cifar-10-python.tar.gz", md5))
    ds = CIFAR10(tmp_path / "root", train=False, download=True)
    assert ds.targets.tolist() == [3, 5] and ds.data.shape == (2, 32, 32, 3)
    assert ds.data[0, 0, 1, 0] == 1 and ds.data[0, 0, 0, 1] == 0  # CHW records -> HWC
    # an archive whose members escape the target folder is refused
    src, md5 = _tar(tmp_path, {"../escape": b"x"})
    monkeypatch.setattr(CIFAR10, "archive", ("cifar-10-python.tar.gz", md5))
    with pytest.raises(ValueError, match="unsafe member"):
        CIFAR10(tmp_path / "root2", train=False, download=True)
    assert not (tmp_path / "escape").exists()


# ---------------------------------------------------------------- ImageFolder

def test_image_folder(tmp_path):
    image_mod = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    arrays = {}
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for k in range(3):
            a = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
            image_mod.fromarray(a).save(tmp_path / cls / f"{k}.png")
            arrays[(cls, k)] = a
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    ds = ImageFolder(tmp_path, transform=T.ToTensor())
    assert ds.classes == ["cat", "dog"] and ds.class_to_idx == {"cat": 0, "dog": 1}
    assert len(ds) == 6 and ds.targets == [0, 0, 0, 1, 1, 1]
    x, y = ds[4]
    assert y == 1 and x.shape == (3, 5, 7)
    np.testing.assert_allclose(x, arrays[("dog", 1)].transpose(2, 0, 1) / 255.0, rtol=1e-6)
    xb, yb = next(iter(DataLoader(ds, batch_size=6)))
    assert xb.shape == (6, 3, 5, 7) and yb.tolist() == [0, 0, 0, 1, 1, 1]


def test_image_folder_without_pillow(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        ImageFolder(tmp_path)


# ---------------------------------------------------------------- HDF5

def _h5(tmp_path, n=50):
    import h5py
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as f:
        x = np.zeros((n, 4, 4), np.uint8)
        x[:, 0, 0] = (np.arange(n) * 16) % 256
        x[:, 0, 1] = np.arange(n) + 1
        f["x"] = x
        f["y"] = np.arange(n) % 10
    return path


def test_hdf5_dataset(tmp_path):
    ds = HDF5Dataset(_h5(tmp_path), "x", "y")
    assert len(ds) == 50 and ds._file is None  # nothing opened until used
    x, y = ds[7]
    assert x.shape == (4, 4) and x[0, 0] == 7 * 16 and y == 7 and isinstance(y, int)
    assert ds[-1][1] == 9
    items = ds.__getitems__([9, 3, 9])
    assert [t for _, t in items] == [9, 3, 9] and items[1][0][0, 1] == 4
    clone = pickle.loads(pickle.dumps(ds))  # a handle never travels
    assert clone._file is None and clone[2][1] == 2
    with pytest.raises(KeyError, match="no dataset 'z'"):
        HDF5Dataset(ds.path, "z")
    with pytest.raises(IndexError):
        ds[50]
    ds.close()


@pytest.mark.parametrize("num_workers", [0, 2])
def test_hdf5_with_workers(tmp_path, num_workers):
    ds = HDF5Dataset(_h5(tmp_path), "x", "y", transform=lambda a: a.astype(np.int64))
    ds[0]  # the main process opens its handle before the workers fork
    minidl.manual_seed(0)
    batches = list(DataLoader(ds, batch_size=8, shuffle=True, num_workers=num_workers))
    ys = np.concatenate([b[1].numpy() for b in batches])
    idx = np.concatenate([b[0].numpy() for b in batches])[:, 0, 1] - 1  # x[i, 0, 1] == i + 1
    assert sorted(idx.tolist()) == list(range(50)) and idx.tolist() != list(range(50))
    assert np.array_equal(ys, idx % 10)


# ---------------------------------------------------------------- Digits (vendored)

def test_digits_vendored():
    import minidl.data.datasets as pkg
    here = Path(pkg.__file__).parent
    blob = (here / "digits.csv.gz").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == (
        "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22")
    assert "CC BY 4.0" in (here / "README.md").read_text()
    ds = Digits()
    assert len(ds) == 1797 and ds.data.shape == (1797, 8, 8)
    assert ds.data.max() == 16 and ds.data.min() == 0
    assert np.bincount(ds.targets).min() >= 170
    img, y = ds[0]
    assert img.dtype == np.uint8 and y == 0
    assert len(Digits(train=True)) + len(Digits(train=False)) == 1797
    x, _ = next(iter(DataLoader(Digits(transform=T.ToTensor()), batch_size=4)))
    assert x.shape == (4, 1, 8, 8)


def test_no_mnist_or_cifar_files_in_the_package():
    import minidl
    root = Path(minidl.__file__).parent
    names = [p.name for p in root.rglob("*") if p.is_file()]
    assert not [n for n in names if "idx3" in n or "idx1" in n or n.endswith(".bin")
                or "batches" in n]
    assert shutil.which  # keep the import used on all platforms
