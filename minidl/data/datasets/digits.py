"""Digits: the UCI optical-recognition handwritten digits (1,797 8x8 images, values 0-16),
vendored as package data (digits.csv.gz, CC BY 4.0; see README.md beside it), so examples and
tests run with no download.
"""
from __future__ import annotations

import gzip
import io
from importlib import resources
from typing import Callable

import numpy as np

from ._base import ArrayDataset

__all__ = ["Digits", "load_digits"]

N_TRAIN = 1437  # the first 80 % (rounded down) form the training split


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images [1797, 8, 8] uint8 in 0..16, labels [1797] int64) from the vendored CSV."""
    raw = resources.files(__package__).joinpath("digits.csv.gz").read_bytes()
    with gzip.open(io.BytesIO(raw), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)
    if table.shape != (1797, 65):
        raise ValueError(f"digits.csv.gz: expected 1797 rows of 65 values, got {table.shape}")
    return table[:, :64].astype(np.uint8).reshape(-1, 8, 8), table[:, 64].copy()


class Digits(ArrayDataset):
    """(uint8 image [8, 8] with values 0..16, int label 0-9).

    train=None: all 1,797 images; True: the first 1,437; False: the last 360 (a fixed split, as
    the set has none). Attributes `data`, `targets`, `classes`. Scale with `x / 16.0` (or
    ToTensor, which divides uint8 by 255) before training."""

    classes = [str(i) for i in range(10)]

    def __init__(self, train: bool | None = None, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
        data, targets = load_digits()
        if train is True:
            data, targets = data[:N_TRAIN], targets[:N_TRAIN]
        elif train is False:
            data, targets = data[N_TRAIN:], targets[N_TRAIN:]
        super().__init__(train, transform, target_transform)
        self.data, self.targets = data, targets
