"""In-memory data recipes: the built-in formats read into float arrays and conformed to a model's
input, for `minidl train`, the demo and the examples.

- `detect_data(path)`: "mnist", "cifar10" or "imagefolder" for a folder.
- `load_arrays(data, size)`: (x_train, y_train, x_test, y_test, classes, kind), images float32
  [N, C, H, W] in [0, 1]; data=None reads the vendored UCI digits (8x8).
- `conform(x, c, h, w)`: channels replicated or converted to grey (`conform_channels`), MNIST
  padded 28 -> 32 for LeNet-5's field, other sizes resized bilinearly (transforms.resize).
- `ArrayDataset(x, y, transform)`: (transform(x[i]), y[i]) from arrays.

What does not live here: per-model recipes (input sizes, augmentation, optimizer defaults:
minidl.models.recipes), the transforms themselves (transforms.py), file formats (datasets/).
"""
from __future__ import annotations

import glob
from pathlib import Path
from typing import Callable

import numpy as np

from . import transforms as T
from .dataset import Dataset

__all__ = ["ArrayDataset", "detect_data", "load_arrays", "conform", "conform_channels"]


class ArrayDataset(Dataset):
    """(x[i], y[i]) from in-memory arrays (x float32 [N, C, H, W], y int64 [N]), x optionally
    through a per-sample `transform`."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform: Callable | None = None) -> None:
        self.x, self.y, self.transform = x, np.asarray(y, dtype=np.int64), transform

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i):
        x = self.x[i]
        if self.transform is not None:
            x = self.transform(x)
        return x, self.y[i]


def _find_any(root: Path, patterns) -> bool:
    for sub in ("", "raw", "MNIST/raw", "cifar-10-batches-bin", "cifar-10-batches-py"):
        for pat in patterns:
            if glob.glob(str(root / sub / pat)):
                return True
    return False


def detect_data(path) -> str:
    """"mnist", "cifar10" or "imagefolder" for the folder `path` (ValueError if none fits)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ValueError(f"--data {path}: not a directory")
    if _find_any(root, ["train-images-idx3-ubyte*", "t10k-images-idx3-ubyte*"]):
        return "mnist"
    if _find_any(root, ["data_batch_*", "test_batch*"]):
        return "cifar10"
    if any(p.is_dir() for p in root.iterdir()):
        return "imagefolder"
    raise ValueError(f"--data {path}: found neither MNIST IDX files, CIFAR-10 batches nor "
                     "class subfolders of images")


def conform_channels(x: np.ndarray, c: int) -> np.ndarray:
    """[..., C0, H, W] -> [..., c, H, W]: 1 -> c by replication, 3 -> 1 by luminance."""
    c0 = x.shape[-3]
    if c0 == c:
        return x
    if c0 == 1:
        return np.repeat(x, c, axis=-3)
    if c0 == 3 and c == 1:
        lum = np.tensordot(x, np.array([0.299, 0.587, 0.114], np.float32), axes=([-3], [0]))
        return np.moveaxis(lum[..., None], -1, -3)
    raise ValueError(f"cannot convert {c0}-channel images to {c} channels")


def conform(x: np.ndarray, c: int, h: int, w: int, pad_mnist: bool = True) -> np.ndarray:
    """float [N, C0, H0, W0] -> float32 [N, c, h, w]: channels as `conform_channels`, then
    zero-padding by 2 when 28 -> 32 (LeNet's MNIST field), else a bilinear resize."""
    x = conform_channels(x, c)
    h0, w0 = x.shape[2:]
    if (h0, w0) == (h, w):
        return np.ascontiguousarray(x, dtype=np.float32)
    if pad_mnist and (h0, w0) == (28, 28) and (h, w) == (32, 32):
        return np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))).astype(np.float32)
    return T.resize(x.astype(np.float32), (h, w))


def _builtin_arrays(kind: str, root, train: bool):
    """(float images [N, C, H, W] in [0, 1], labels int64) of a built-in format."""
    from . import datasets as D
    if kind == "digits":
        ds = D.Digits(train=train)
        return ds.data[:, None].astype(np.float32) / 16.0, np.asarray(ds.targets, np.int64)
    if kind == "mnist":
        ds = D.MNIST(root, train=train)
        return ds.data[:, None].astype(np.float32) / 255.0, np.asarray(ds.targets, np.int64)
    if kind == "cifar10":
        ds = D.CIFAR10(root, train=train)
        x = np.asarray(ds.data).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return x, np.asarray(ds.targets, np.int64)
    raise ValueError(kind)


def _image_folder_arrays(root: Path, c: int, side: int, subset):
    """ImageFolder read into memory at side x side (train/ and val/ or test/ if present, else a
    fixed 80/20 split)."""
    from . import datasets as D

    def read(folder):
        ds = D.ImageFolder(folder)
        n = len(ds) if subset is None else min(len(ds), subset)
        xs, ys = [], []
        for i in range(n):
            img, y = ds[i]
            img = np.asarray(img)
            img = img[:, :, None] if img.ndim == 2 else img
            xs.append(conform(img.transpose(2, 0, 1)[None].astype(np.float32) / 255.0,
                              c, side, side)[0])
            ys.append(y)
        return np.stack(xs), np.array(ys, np.int64), len(ds.classes)

    tr = next((root / s for s in ("train",) if (root / s).is_dir()), None)
    te = next((root / s for s in ("val", "test") if (root / s).is_dir()), None)
    if tr is not None and te is not None:
        xtr, ytr, k = read(tr)
        xte, yte, _ = read(te)
    else:
        x, y, k = read(root)
        perm = np.random.default_rng(0).permutation(len(y))
        cut = int(0.8 * len(y))
        xtr, ytr, xte, yte = x[perm[:cut]], y[perm[:cut]], x[perm[cut:]], y[perm[cut:]]
    return xtr, ytr, xte, yte, k


def load_arrays(data=None, *, channels: int = 1, side: int = 32, subset: int | None = None):
    """(x_train, y_train, x_test, y_test, num_classes, kind) from the folder `data` (None: the
    built-in UCI digits).  Images float32 [N, C, H, W] in [0, 1], labels int64; an image folder
    is decoded at `channels` x `side` x `side` (other formats keep their own size).  `subset`
    keeps the first N training and N test images."""
    kind = "digits" if data is None else detect_data(data)
    if kind == "imagefolder":
        xtr, ytr, xte, yte, k = _image_folder_arrays(Path(data), channels, side, subset)
    else:
        xtr, ytr = _builtin_arrays(kind, data, True)
        xte, yte = _builtin_arrays(kind, data, False)
        k = 10
    if subset is not None:
        xtr, ytr, xte, yte = xtr[:subset], ytr[:subset], xte[:subset], yte[:subset]
    return xtr, ytr, xte, yte, k, kind
