"""MNIST (and Fashion-MNIST, same format) from the standard IDX files, gzipped or not.

Looks for the four files in `root`, `root/<Name>/raw` (torchvision's layout) or `root/raw`.
`download=True` fetches the official files into `root/<Name>/raw`, checking their md5; offline it
fails with a message saying where to put the files. Samples are (uint8 image [28, 28], int label).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Callable

import numpy as np

from ._base import RootedArrayDataset
from ._files import DatasetNotFoundError, download_file

__all__ = ["MNIST", "FashionMNIST", "read_idx"]

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzipped if its name ends in .gz) into an array of its declared shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX header says {list(dims)} ({expected} bytes of data) but "
                         f"the file holds {len(data) - header} bytes (truncated or corrupt?)")
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False) if dtype.byteorder == ">" else arr


class MNIST(RootedArrayDataset):
    """The MNIST digits: 60,000 training / 10,000 test images of 28x28 uint8, labels 0-9.

    Attributes: `data` [N, 28, 28] uint8, `targets` [N] int64 (numpy), `classes`."""

    resources = {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five",
               "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike, train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False) -> None:
        super().__init__(root, train, transform, target_transform)
        prefix = "train" if train else "t10k"
        names = [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]
        paths = [self._find(n) for n in names]
        if None in paths and download:
            self.download()
            paths = [self._find(n) for n in names]
        missing = [n for n, p in zip(names, paths) if p is None]
        if missing:
            raise DatasetNotFoundError(
                f"{type(self).__name__}: {', '.join(m + '[.gz]' for m in missing)} not found in "
                f"{self.root} (nor in {self.raw_folder}). Pass download=True to fetch the "
                f"official files, or put them (gzipped or not) in {self.raw_folder}")
        self.data = read_idx(paths[0])
        self.targets = read_idx(paths[1]).astype(np.int64)
        if self.data.ndim != 3 or self.targets.shape != (self.data.shape[0],):
            raise ValueError(f"{type(self).__name__}: images {list(self.data.shape)} and labels "
                             f"{list(self.targets.shape)} do not match")

    @property
    def raw_folder(self) -> Path:
        """`root/<ClassName>/raw`, where download() puts the files (torchvision's layout)."""
        return self.root / type(self).__name__ / "raw"

    def _find(self, name: str) -> Path | None:
        for folder in (self.root, self.raw_folder, self.root / "raw"):
            for candidate in (folder / name, folder / (name + ".gz")):
                if candidate.is_file():
                    return candidate
        return None

    def download(self) -> None:
        """Fetch the missing files (gzipped) into `raw_folder`, verifying md5s."""
        for name, md5 in self.resources.items():
            if self._find(name) is None:
                download_file(name + ".gz", md5, self.mirrors, self.raw_folder,
                              type(self).__name__)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: MNIST's format and sizes, 10 clothing classes. (Debian's
    `dataset-fashion-mnist` package installs the files; its re-compressed .gz files do not match
    the md5s below, which only `download` checks.)"""

    resources = {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
