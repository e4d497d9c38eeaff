"""CIFAR-10 / CIFAR-100 from the official batches: the python-pickle version (read through a
restricted unpickler) or the binary `.bin` version.

Looks in `root`, `root/cifar-10-batches-py` and `root/cifar-10-batches-bin` (CIFAR-100:
`root/cifar-100-python`, `root/cifar-100-binary`). The training split is every `data_batch_N`
present (all five in the official archive; the test subset in shared/data has only the first).
`download=True` fetches and md5-checks the python archive and unpacks it (member paths checked).
Samples are (uint8 HWC image [32, 32, 3], int label), torchvision's layout.

The restricted unpickler admits only builtin containers and scalars, bytes and plain numpy arrays
(no object dtype), so a hostile pickle cannot run code: it raises `pickle.UnpicklingError`.
"""
from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np

from ._base import RootedArrayDataset
from ._files import DatasetNotFoundError, download_file

__all__ = ["CIFAR10", "CIFAR100", "safe_unpickle"]


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise pickle.UnpicklingError("restricted unpickler: numpy object dtype is not allowed")
    return dt


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"restricted unpickler: array subtype {subtype!r} not allowed")
    return np.ndarray.__new__(np.ndarray, shape, _safe_dtype(dtype))


def _safe_frombuffer(buf, dtype, shape, order):
    # protocol-5 pickles of contiguous arrays
    return np.frombuffer(buf, _safe_dtype(dtype)).reshape(shape, order=order)


def _safe_encode(text, encoding="utf-8"):
    # protocol-2 pickles written by Python 3 encode bytes as _codecs.encode(str, 'latin1')
    if encoding not in ("latin1", "latin-1", "utf-8", "utf8"):
        raise pickle.UnpicklingError(f"restricted unpickler: codec {encoding!r} not allowed")
    return text.encode(encoding)


_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _safe_frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _safe_dtype,
    ("_codecs", "encode"): _safe_encode,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("__builtin__", "set"): set,
    ("__builtin__", "bytearray"): bytearray,
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        fn = _ALLOWED.get((module, name))
        if fn is None:
            raise pickle.UnpicklingError(
                f"restricted unpickler: global '{module}.{name}' is forbidden (only builtin "
                "containers, bytes and numpy arrays are allowed)")
        return fn


def safe_unpickle(data: bytes, encoding: str = "latin1"):
    """Unpickle `data` allowing only builtin containers/scalars, bytes and numpy arrays."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def _load_pickle_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        entry = safe_unpickle(path.read_bytes())
    except pickle.UnpicklingError as e:
        raise pickle.UnpicklingError(f"{path}: {e}") from None
    if not isinstance(entry, dict):
        raise ValueError(f"{path}: expected a dict batch, got {type(entry).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    if "data" not in entry or label_key not in entry:
        raise ValueError(f"{path}: batch lacks 'data' / '{label_key}' entries "
                         f"(has {sorted(entry)})")
    data = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(entry[label_key], dtype=np.int64)
    if labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: {data.shape[0]} images but {labels.size} labels")
    return data, labels


def _load_bin_batch(path: Path, label_bytes: int,
                    label_index: int) -> tuple[np.ndarray, np.ndarray]:
    record = label_bytes + 3 * 32 * 32
    raw = np.fromfile(path, np.uint8)
    if raw.size % record:
        raise ValueError(f"{path}: size {raw.size} is not a multiple of the {record}-byte "
                         "CIFAR record (truncated?)")
    raw = raw.reshape(-1, record)
    return raw[:, label_bytes:].reshape(-1, 3, 32, 32), raw[:, label_index].astype(np.int64)


class CIFAR10(RootedArrayDataset):
    """CIFAR-10: 50,000 training / 10,000 test 32x32 RGB images in 10 classes.

    Attributes: `data` [N, 32, 32, 3] uint8 (HWC), `targets` [N] int64, `classes`, `files`."""

    base_folder_py = "cifar-10-batches-py"
    base_folder_bin = "cifar-10-batches-bin"
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    test_names = ["test_batch"]
    label_key = "labels"
    label_bytes, label_index = 1, 0
    archive = ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False) -> None:
        super().__init__(root, train, transform, target_transform)
        files = self._find_files()
        if not files and download:
            self.download()
            files = self._find_files()
        if not files:
            names = ", ".join(self.train_names if train else self.test_names)
            raise DatasetNotFoundError(
                f"{type(self).__name__}: no {'training' if train else 'test'} batches ({names}, "
                f"pickled or .bin) in {self.root}, {self.root / self.base_folder_py} or "
                f"{self.root / self.base_folder_bin}. Pass download=True, or unpack the official "
                f"archive into {self.root}")
        parts = [self._load(p) for p in files]
        self.files = files
        self.data = np.ascontiguousarray(
            np.concatenate([d for d, _ in parts]).transpose(0, 2, 3, 1))
        self.targets = np.concatenate([t for _, t in parts])
        self._load_meta()

    def _load_meta(self) -> None:
        folders = (self.root, self.root / self.base_folder_py, self.root / self.base_folder_bin)
        for folder in folders:
            txt = folder / "batches.meta.txt" if self.label_key == "labels" else None
            if txt is not None and txt.is_file():
                names = [ln.strip() for ln in txt.read_text().splitlines() if ln.strip()]
                if names:
                    self.classes = names
                return
            meta = folder / ("batches.meta" if self.label_key == "labels" else "meta")
            if meta.is_file():
                entry = safe_unpickle(meta.read_bytes())
                key = "label_names" if self.label_key == "labels" else "fine_label_names"
                names = entry.get(key) if isinstance(entry, dict) else None
                if names:
                    self.classes = [n.decode() if isinstance(n, bytes) else n for n in names]
                return

    def _find_files(self) -> list[Path]:
        names = self.train_names if self.train else self.test_names
        folders = [self.root, self.root / self.base_folder_py, self.root / self.base_folder_bin]
        found = []
        for name in names:
            for folder in folders:
                hit = next((folder / n for n in (name, name + ".bin")
                            if (folder / n).is_file()), None)
                if hit is not None:
                    found.append(hit)
                    break
        return found

    def _load(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        if path.suffix == ".bin":
            return _load_bin_batch(path, self.label_bytes, self.label_index)
        return _load_pickle_batch(path, self.label_key)

    def download(self) -> None:
        """Fetch and unpack the archive into `root`, verifying its md5."""
        name, md5 = self.archive
        tar_path = download_file(name, md5, self.mirrors, self.root, type(self).__name__)
        with tarfile.open(tar_path, "r:gz") as tar:
            root = self.root.resolve()
            for member in tar.getmembers():
                target = (root / member.name).resolve()
                if root not in target.parents and target != root:
                    raise ValueError(f"{tar_path}: unsafe member path {member.name!r}")
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{tar_path}: unexpected member type {member.name!r}")
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, filter="data")
            else:  # Python without extraction filters: members were checked above
                tar.extractall(root)


class CIFAR100(CIFAR10):
    """CIFAR-100 with its 100 fine labels."""

    base_folder_py = "cifar-100-python"
    base_folder_bin = "cifar-100-binary"
    train_names = ["train"]
    test_names = ["test"]
    label_key = "fine_labels"
    label_bytes, label_index = 2, 1
    archive = ("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")
    classes: list[str] = []
