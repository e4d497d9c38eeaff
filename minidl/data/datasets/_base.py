"""The in-memory base of the array datasets (MNIST, CIFAR, Digits) and the transform step."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..dataset import Dataset


def apply_transforms(dataset, sample, target) -> tuple:
    """(sample, target) through `dataset.transform` / `dataset.target_transform` where not None."""
    if dataset.transform is not None:
        sample = dataset.transform(sample)
    if dataset.target_transform is not None:
        target = dataset.target_transform(target)
    return sample, target


class ArrayDataset(Dataset):
    """Serves (data[i], int(targets[i])) through the optional transforms; the subclass's
    __init__ fills `data` [N, ...] and `targets` [N]."""

    data: np.ndarray
    targets: np.ndarray

    def __init__(self, train: bool | None, transform: Callable | None,
                 target_transform: Callable | None) -> None:
        self.train = train
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def __getitem__(self, index: int):
        return apply_transforms(self, self.data[index], int(self.targets[index]))


class RootedArrayDataset(ArrayDataset):
    """An ArrayDataset read from the train or test files under `root`."""

    def __init__(self, root: str | os.PathLike, train: bool, transform: Callable | None,
                 target_transform: Callable | None) -> None:
        super().__init__(train, transform, target_transform)
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split}, n={len(self)}, root={str(self.root)!r})"
