"""ImageFolder / DatasetFolder: one sub-folder per class (root/<class>/<file>), torchvision's API.

Decoding PNG/JPEG uses Pillow, an optional extra (`pip install pillow`, or minidl's `images`
extra); a clear ImportError says so when it is missing. Images load as uint8 HWC RGB arrays.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from ..dataset import Dataset
from ._base import apply_transforms

__all__ = ["DatasetFolder", "ImageFolder", "pil_loader", "IMG_EXTENSIONS"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


def _require_pillow():
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            "ImageFolder needs Pillow to decode PNG/JPEG files, and it is not installed: "
            "pip install pillow  (or: pip install minidl[images])") from e
    return Image


def pil_loader(path: str | os.PathLike, mode: str = "RGB") -> np.ndarray:
    """Decode an image file to a uint8 array: HWC for RGB, HW for mode "L"."""
    image_mod = _require_pillow()
    with open(path, "rb") as f:
        img = image_mod.open(f)
        return np.asarray(img.convert(mode))


def find_classes(directory: Path) -> tuple[list[str], dict[str, int]]:
    classes = sorted(e.name for e in os.scandir(directory) if e.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {c: i for i, c in enumerate(classes)}


class DatasetFolder(Dataset):
    """Samples (loader(path), class_index) from root/<class>/**/<file>, sorted, for files whose
    extension is in `extensions` (or accepted by `is_valid_file`)."""

    def __init__(self, root: str | os.PathLike, loader: Callable,
                 extensions: tuple[str, ...] | None = None, transform: Callable | None = None,
                 target_transform: Callable | None = None,
                 is_valid_file: Callable[[str], bool] | None = None) -> None:
        if (extensions is None) == (is_valid_file is None):
            raise ValueError("Both extensions and is_valid_file cannot be None or not None at "
                             "the same time")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(f"{type(self).__name__}: {self.root} is not a directory")
        self.loader = loader
        self.extensions = extensions
        self.transform = transform
        self.target_transform = target_transform
        self.classes, self.class_to_idx = find_classes(self.root)
        if is_valid_file is None:
            exts = tuple(e.lower() for e in extensions)  # type: ignore[union-attr]

            def is_valid_file(p: str) -> bool:
                return p.lower().endswith(exts)
        samples = []
        for cls in self.classes:
            for dirpath, _, files in sorted(os.walk(self.root / cls, followlinks=True)):
                for name in sorted(files):
                    path = os.path.join(dirpath, name)
                    if is_valid_file(path):
                        samples.append((path, self.class_to_idx[cls]))
        if not samples:
            raise FileNotFoundError(f"{type(self).__name__}: found no valid files in the class "
                                    f"folders of {self.root} (extensions {extensions})")
        self.samples = samples
        self.targets = [t for _, t in samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        return apply_transforms(self, self.loader(path), target)


class ImageFolder(DatasetFolder):
    """root/<class>/<image>.png|jpg|... -> (uint8 HWC RGB array, class index). Needs Pillow."""

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, loader: Callable | None = None,
                 is_valid_file: Callable[[str], bool] | None = None) -> None:
        if loader is None:
            _require_pillow()  # fail at construction, not in the first worker
            loader = pil_loader
        super().__init__(root, loader, IMG_EXTENSIONS if is_valid_file is None else None,
                         transform, target_transform, is_valid_file)
        self.imgs = self.samples
