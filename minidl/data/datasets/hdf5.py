"""HDF5Dataset: samples streamed from two datasets of an HDF5 file, never loading it whole.

The file is opened lazily, once per process (the handle is dropped when pickled and reopened when
the process id changes), so DataLoader workers, forked or spawned, each use their own handle.
Batches are read with one h5py call (`__getitems__`, sorted indices), not one per sample.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..dataset import Dataset

__all__ = ["HDF5Dataset"]


class HDF5Dataset(Dataset):
    """Samples (f[x_key][i], f[y_key][i]) of the HDF5 file at `path` (y_key None: x only)."""

    def __init__(self, path: str | os.PathLike, x_key: str, y_key: str | None = None,
                 transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        import h5py
        self.path = Path(path)
        self.x_key, self.y_key = x_key, y_key
        self.transform, self.target_transform = transform, target_transform
        with h5py.File(self.path, "r") as f:
            for key in (x_key, y_key):
                if key is not None and not isinstance(f.get(key), h5py.Dataset):
                    raise KeyError(f"HDF5Dataset: {self.path} has no dataset {key!r} "
                                   f"(top level: {sorted(f.keys())})")
            self._len = int(f[x_key].shape[0])
            if y_key is not None and int(f[y_key].shape[0]) != self._len:
                raise ValueError(f"HDF5Dataset: {x_key!r} has {self._len} samples but {y_key!r} "
                                 f"has {f[y_key].shape[0]}")
        self._file = None
        self._pid = None

    def _handle(self):
        if self._file is None or self._pid != os.getpid():
            import h5py
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        return state

    def __len__(self) -> int:
        return self._len

    def _finish(self, x, y):
        if self.transform is not None:
            x = self.transform(x)
        if self.y_key is None:
            return x
        if isinstance(y, np.generic):
            y = y.item()
        if self.target_transform is not None:
            y = self.target_transform(y)
        return x, y

    def __getitem__(self, index: int):
        n = self._len
        if not -n <= index < n:
            raise IndexError(f"HDF5Dataset: index {index} out of range for {n} samples")
        index = int(index) % n
        f = self._handle()
        y = f[self.y_key][index] if self.y_key is not None else None
        return self._finish(f[self.x_key][index], y)

    def __getitems__(self, indices: list[int]) -> list:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < -self._len or idx.max() >= self._len):
            raise IndexError(f"HDF5Dataset: indices out of range for {self._len} samples")
        idx %= max(self._len, 1)
        # h5py fancy reads need increasing, unique indices
        uniq, inverse = np.unique(idx, return_inverse=True)
        f = self._handle()
        xs = f[self.x_key][uniq][inverse]
        ys = f[self.y_key][uniq][inverse] if self.y_key is not None else [None] * len(idx)
        return [self._finish(x, y) for x, y in zip(xs, ys)]

    def close(self) -> None:
        """Close this process's handle of the file (it reopens on the next access)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: h5py may already be gone
            pass
