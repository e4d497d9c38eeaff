"""Image transforms on numpy arrays (torchvision's names and defaults), vectorised and seeded.

Layouts: a 2-D array is HW; a 3-D array is HWC (an image, as a dataset returns it) or CHW (a
"tensor", as `ToTensor` returns it); a 4-D array is a stack of those (e.g. `TenCrop(stack=True)`).
HWC vs CHW is read from the shape: the side with at most 4 entries is the channel axis; when both
ends have at most 4 entries, uint8 arrays are taken as HWC and others as CHW; when neither does,
the layout is ambiguous and a ValueError says so.

`ToTensor` returns a float32 CHW numpy array in [0, 1] (the DataLoader's collate turns batches into
minidl Tensors), so the whole pipeline runs on numpy in the loader's workers.

Randomness: every random transform draws from `minidl.data.rng.current_rng()`, the Generator the
DataLoader installs per batch (reproducible from `minidl.manual_seed` / the loader's generator).

What does not live here: decoding files (minidl/data/datasets/), batching (collate.py).
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import numpy as np

from ..backend.shared.geometry import pair
from .rng import current_rng

__all__ = [
    "Compose", "Lambda", "ToTensor", "Normalize", "Pad", "RandomCrop", "CenterCrop",
    "RandomHorizontalFlip", "RandomVerticalFlip", "Resize", "RandomResizedCrop", "FiveCrop",
    "TenCrop", "Lighting", "pca_lighting_stats", "IMAGENET_PCA",
    "pad", "crop", "center_crop", "hflip", "vflip", "resize", "resized_crop", "normalize",
    "to_tensor", "five_crop", "ten_crop",
]

# AlexNet / fb.resnet.torch ImageNet RGB PCA (eigenvectors are the columns of eigvec), for images
# scaled to [0, 1].
IMAGENET_PCA = {
    "eigval": np.array([0.2175, 0.0188, 0.0045], dtype=np.float32),
    "eigvec": np.array([[-0.5675, 0.7192, 0.4009],
                        [-0.5808, -0.0045, -0.8140],
                        [-0.5836, -0.6948, 0.4203]], dtype=np.float32),
}
"""ImageNet's RGB eigenvalues ("eigval") and eigenvectors (columns of "eigvec"): AlexNet's
lighting noise."""


# ---------------------------------------------------------------- layout helpers

def _layout(img: np.ndarray) -> str:
    """'HW', 'HWC' or 'CHW' for the trailing image axes of `img` (leading axes are a batch)."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"transforms expect a numpy array, got {type(img).__name__} "
                        "(apply them before the DataLoader turns batches into Tensors)")
    if img.ndim == 2:
        return "HW"
    if img.ndim not in (3, 4):
        raise ValueError(f"transforms expect an HW, HWC, CHW or N x (HWC|CHW) array, got shape "
                         f"{list(img.shape)}")
    a, c = img.shape[-3], img.shape[-1]
    if c <= 4 < a:
        return "HWC"
    if a <= 4 < c:
        return "CHW"
    if a <= 4 and c <= 4:
        return "HWC" if img.dtype == np.uint8 else "CHW"
    raise ValueError(f"cannot tell HWC from CHW for an array of shape {list(img.shape)}: neither "
                     "the first nor the last image axis looks like channels (<= 4)")


def _hw_axes(img: np.ndarray) -> tuple[int, int]:
    """Negative axis numbers of height and width."""
    return (-3, -2) if _layout(img) == "HWC" else (-2, -1)


def _size(img: np.ndarray) -> tuple[int, int]:
    ha, wa = _hw_axes(img)
    return img.shape[ha], img.shape[wa]


def _padding4(padding) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from an int, (lr, tb) or (l, t, r, b)."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = tuple(int(p) for p in padding)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return padding[0], padding[1], padding[0], padding[1]
    if len(padding) == 4:
        return padding  # type: ignore[return-value]
    raise ValueError(f"padding must be an int or a 1, 2 or 4 element sequence, got {padding!r}")


# ---------------------------------------------------------------- functional ops

def pad(img: np.ndarray, padding, fill=0, padding_mode: str = "constant") -> np.ndarray:
    """Pad the spatial axes: `padding` int, (left/right, top/bottom) or (left, top, right, bottom);
    `padding_mode` one of constant (with `fill`), edge, reflect, symmetric."""
    left, top, right, bottom = _padding4(padding)
    if min(left, top, right, bottom) < 0:
        raise ValueError(f"pad: negative padding {padding!r} is not supported")
    ha, wa = _hw_axes(img)
    widths = [(0, 0)] * img.ndim
    widths[img.ndim + ha] = (top, bottom)
    widths[img.ndim + wa] = (left, right)
    if padding_mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=fill)
    if padding_mode in ("edge", "reflect", "symmetric"):
        return np.pad(img, widths, mode=padding_mode)
    raise ValueError(f"pad: padding_mode should be constant, edge, reflect or symmetric, "
                     f"got {padding_mode!r}")


def crop(img: np.ndarray, top: int, left: int, height: int, width: int,
         fill=0) -> np.ndarray:
    """The [top:top+height, left:left+width] window: a view when it lies inside the image, else a
    new array with `fill` where the window leaves the image."""
    ha, wa = _hw_axes(img)
    h, w = img.shape[ha], img.shape[wa]
    index = [slice(None)] * img.ndim
    if top >= 0 and left >= 0 and top + height <= h and left + width <= w:
        index[img.ndim + ha] = slice(top, top + height)
        index[img.ndim + wa] = slice(left, left + width)
        return img[tuple(index)]
    shape = list(img.shape)
    shape[img.ndim + ha], shape[img.ndim + wa] = height, width
    out = np.full(shape, fill, dtype=img.dtype)
    # overlap of the window with the image, in image and in output coordinates
    y0, y1 = max(top, 0), min(top + height, h)
    x0, x1 = max(left, 0), min(left + width, w)
    if y0 < y1 and x0 < x1:
        src, dst = list(index), list(index)
        src[img.ndim + ha], src[img.ndim + wa] = slice(y0, y1), slice(x0, x1)
        dst[img.ndim + ha] = slice(y0 - top, y1 - top)
        dst[img.ndim + wa] = slice(x0 - left, x1 - left)
        out[tuple(dst)] = img[tuple(src)]
    return out


def center_crop(img: np.ndarray, output_size) -> np.ndarray:
    """The central `output_size` (h, w or one int) window of an HW / HWC image."""
    th, tw = pair(output_size, "center_crop", "size")
    h, w = _size(img)
    return crop(img, int(round((h - th) / 2.0)), int(round((w - tw) / 2.0)), th, tw)


def hflip(img: np.ndarray) -> np.ndarray:
    """Mirror left-right (a view)."""
    _, wa = _hw_axes(img)
    return np.flip(img, axis=wa)


def vflip(img: np.ndarray) -> np.ndarray:
    """Mirror top-bottom (a view)."""
    ha, _ = _hw_axes(img)
    return np.flip(img, axis=ha)


def _linear_taps(n_in: int, n_out: int):
    """Source indices and weights of 1-D linear interpolation with half-pixel centres
    (align_corners=False, edges clamped), as in PyTorch's bilinear without antialiasing."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0.0, n_in - 1)
    i0 = np.floor(x).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (x - i0).astype(np.float32)
    return i0, i1, 1.0 - w1, w1


def _interp_axis(a: np.ndarray, axis: int, n_out: int) -> np.ndarray:
    i0, i1, w0, w1 = _linear_taps(a.shape[axis], n_out)
    shape = [1] * a.ndim
    shape[axis] = n_out
    return (np.take(a, i0, axis=axis) * w0.reshape(shape)
            + np.take(a, i1, axis=axis) * w1.reshape(shape))


def _output_size(h: int, w: int, size, max_size=None) -> tuple[int, int]:
    if isinstance(size, numbers.Number) or (isinstance(size, Sequence) and len(size) == 1):
        s = int(size if isinstance(size, numbers.Number) else size[0])
        short, long = (h, w) if h <= w else (w, h)
        new_short, new_long = s, int(s * long / short)
        if max_size is not None and new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
        return (new_short, new_long) if h <= w else (new_long, new_short)
    return pair(size, "resize", "size")


def resize(img: np.ndarray, size, interpolation: str = "bilinear", max_size=None) -> np.ndarray:
    """Resize the spatial axes to `size` ((h, w), or an int for the shorter edge keeping the
    aspect ratio). Bilinear (half-pixel centres, no antialiasing) or nearest; uint8 in, uint8
    out (rounded), float dtypes kept."""
    ha, wa = _hw_axes(img)
    h, w = img.shape[ha], img.shape[wa]
    oh, ow = _output_size(h, w, size, max_size)
    if (oh, ow) == (h, w):
        return img
    if oh <= 0 or ow <= 0:
        raise ValueError(f"resize: output size {(oh, ow)} must be positive")
    if interpolation == "nearest":
        ys = np.minimum((np.arange(oh) * (h / oh)).astype(np.intp), h - 1)
        xs = np.minimum((np.arange(ow) * (w / ow)).astype(np.intp), w - 1)
        return np.take(np.take(img, ys, axis=ha), xs, axis=wa)
    if interpolation != "bilinear":
        raise ValueError(f"resize: interpolation should be 'bilinear' or 'nearest', "
                         f"got {interpolation!r}")
    work = img.astype(np.float32, copy=False) if img.dtype != np.float64 else img
    out = _interp_axis(_interp_axis(work, img.ndim + ha, oh), img.ndim + wa, ow)
    if img.dtype == np.uint8:
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if np.issubdtype(img.dtype, np.integer):
        return np.rint(out).astype(img.dtype)
    return out.astype(img.dtype, copy=False)


def resized_crop(img, top, left, height, width, size, interpolation="bilinear") -> np.ndarray:
    """Crop the window at (top, left) of height x width, then resize it to `size`."""
    return resize(crop(img, top, left, height, width), size, interpolation)


def to_tensor(pic: np.ndarray) -> np.ndarray:
    """HW / HWC (or N x HWC) -> C x H x W (N x C x H x W); uint8 scaled to float32 [0, 1],
    other dtypes kept (as torchvision)."""
    if not isinstance(pic, np.ndarray):
        raise TypeError(f"ToTensor: expected a numpy array, got {type(pic).__name__}")
    if pic.ndim == 2:
        out = pic[None]
    elif pic.ndim == 3:
        out = pic.transpose(2, 0, 1)
    elif pic.ndim == 4:
        out = pic.transpose(0, 3, 1, 2)
    else:
        raise ValueError(f"ToTensor: expected an HW, HWC or NHWC array, got shape "
                         f"{list(pic.shape)}")
    if pic.dtype == np.uint8:
        return np.multiply(out, np.float32(1.0 / 255.0), dtype=np.float32)
    if pic.dtype == np.bool_:
        return out.astype(np.float32)
    return np.ascontiguousarray(out)


def normalize(tensor: np.ndarray, mean, std, inplace: bool = False) -> np.ndarray:
    """(x - mean[c]) / std[c] over the channel axis of a CHW (or NCHW) float array."""
    if not isinstance(tensor, np.ndarray) or tensor.ndim < 3:
        shape = list(getattr(tensor, "shape", []))
        raise ValueError(f"Normalize: expected a CHW or NCHW numpy array, got shape {shape}")
    if tensor.dtype.kind != "f":
        tensor = tensor.astype(np.float32)
        inplace = True
    c = tensor.shape[-3]
    mean = np.asarray(mean, dtype=tensor.dtype).reshape(-1)
    std = np.asarray(std, dtype=tensor.dtype).reshape(-1)
    if (std == 0).any():
        raise ValueError(f"Normalize: std evaluated to zero after conversion to {tensor.dtype}, "
                         "leading to division by zero.")
    if mean.size not in (1, c) or std.size not in (1, c):
        raise ValueError(f"Normalize: {mean.size} means / {std.size} stds for {c} channels "
                         f"(input shape {list(tensor.shape)})")
    mean, std = mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
    if inplace:
        tensor -= mean
        tensor /= std
        return tensor
    return (tensor - mean) / std


def five_crop(img: np.ndarray, size) -> tuple[np.ndarray, ...]:
    """Top-left, top-right, bottom-left, bottom-right and centre crops."""
    th, tw = pair(size, "five_crop", "size")
    h, w = _size(img)
    if th > h or tw > w:
        raise ValueError(f"five_crop: requested crop size {(th, tw)} is bigger than input size "
                         f"{(h, w)}")
    return (crop(img, 0, 0, th, tw), crop(img, 0, w - tw, th, tw), crop(img, h - th, 0, th, tw),
            crop(img, h - th, w - tw, th, tw), center_crop(img, (th, tw)))


def ten_crop(img: np.ndarray, size, vertical_flip: bool = False) -> tuple[np.ndarray, ...]:
    """`five_crop` of the image, then of its horizontal (or vertical) mirror."""
    flipped = vflip(img) if vertical_flip else hflip(img)
    return five_crop(img, size) + five_crop(flipped, size)


# ---------------------------------------------------------------- transform classes

class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class Lambda:
    """Apply a user function (must be picklable for spawn-started workers)."""

    def __init__(self, lambd: Callable) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class ToTensor:
    """HW/HWC uint8 image -> CHW float32 array in [0, 1] (see `to_tensor`)."""

    def __call__(self, pic):
        return to_tensor(pic)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Normalize:
    """Per-channel (x - mean) / std of a CHW float array."""

    def __init__(self, mean, std, inplace: bool = False) -> None:
        self.mean, self.std, self.inplace = mean, std, inplace
        self._cache: dict = {}

    def __call__(self, tensor):
        if isinstance(tensor, np.ndarray) and tensor.dtype.kind == "f" and tensor.ndim >= 3:
            # fast path: per-dtype (mean, 1/std) arrays computed once
            key = (tensor.dtype, tensor.shape[-3])
            ms = self._cache.get(key)
            if ms is None:
                normalize(np.zeros((tensor.shape[-3], 1, 1), tensor.dtype), self.mean, self.std)
                mean = np.asarray(self.mean, dtype=tensor.dtype).reshape(-1, 1, 1)
                std = np.asarray(self.std, dtype=tensor.dtype).reshape(-1, 1, 1)
                ms = self._cache[key] = (mean, std)
            if self.inplace:
                tensor -= ms[0]
                tensor /= ms[1]
                return tensor
            out = np.subtract(tensor, ms[0])
            out /= ms[1]
            return out
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"


class Pad:
    """Pad the borders (see `pad`)."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant") -> None:
        _padding4(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"Pad: padding_mode should be constant, edge, reflect or symmetric, "
                             f"got {padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class CenterCrop:
    """Crop the centre (zero-padded if the image is smaller)."""

    def __init__(self, size) -> None:
        self.size = pair(size, "CenterCrop", "size")

    def __call__(self, img):
        return center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class RandomCrop:
    """Crop at a random position, after optional padding (CIFAR's `RandomCrop(32, padding=4)`)."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant") -> None:
        self.size = pair(size, "RandomCrop", "size")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, img):
        th, tw = self.size
        left = top = 0
        if self.padding is not None:
            if self.padding_mode == "constant":
                # cropping from the virtually padded image: no full-size padded copy
                left, top, right, bottom = _padding4(self.padding)
                h, w = _size(img)
                h, w = h + top + bottom, w + left + right
            else:
                img = pad(img, self.padding, self.fill, self.padding_mode)
                h, w = _size(img)
        else:
            h, w = _size(img)
        if self.pad_if_needed and (h < th or w < tw):
            if left or top:  # materialise the constant padding first
                img = pad(img, self.padding, self.fill)
                left = top = 0
            img = pad(img, (max(0, tw - w), max(0, th - h)), self.fill, self.padding_mode)
            h, w = _size(img)
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than input "
                             f"image size {(h, w)}")
        rng = current_rng()
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return crop(img, i - top, j - left, th, tw, self.fill)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror left-right with probability p."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        return hflip(img) if current_rng().random() < self.p else img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomVerticalFlip:
    """Mirror top-bottom with probability p."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img):
        return vflip(img) if current_rng().random() < self.p else img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class Resize:
    """Resize to `size` ((h, w), or an int for the shorter edge); see `resize`."""

    def __init__(self, size, interpolation: str = "bilinear", max_size=None) -> None:
        self.size, self.interpolation, self.max_size = size, interpolation, max_size

    def __call__(self, img):
        return resize(img, self.size, self.interpolation, self.max_size)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, interpolation={self.interpolation})"


class RandomResizedCrop:
    """Crop a random area fraction in `scale` with aspect ratio in `ratio` (log-uniform), then
    resize to `size` (the Inception / ResNet training crop)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation: str = "bilinear") -> None:
        self.size = pair(size, "RandomResizedCrop", "size")
        if scale[0] > scale[1] or ratio[0] > ratio[1]:
            raise ValueError("RandomResizedCrop: scale and ratio should be of kind (min, max)")
        self.scale, self.ratio, self.interpolation = tuple(scale), tuple(ratio), interpolation

    def get_params(self, img, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the crop: 10 tries, then a centre crop clamped to
        `ratio` (PyTorch's algorithm)."""
        h, w = _size(img)
        area = h * w
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(rng.uniform(*log_ratio))
            cw = int(round(math.sqrt(target_area * aspect)))
            ch = int(round(math.sqrt(target_area / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                i = int(rng.integers(0, h - ch + 1))
                j = int(rng.integers(0, w - cw + 1))
                return i, j, ch, cw
        in_ratio = w / h
        if in_ratio < min(self.ratio):
            cw, ch = w, int(round(w / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            ch, cw = h, int(round(h * max(self.ratio)))
        else:
            cw, ch = w, h
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def __call__(self, img):
        i, j, h, w = self.get_params(img, current_rng())
        return resized_crop(img, i, j, h, w, self.size, self.interpolation)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(size={self.size}, scale={self.scale}, "
                f"ratio={self.ratio})")


class FiveCrop:
    """The four corner crops and the centre crop (a tuple, or a stacked array if `stack`)."""

    def __init__(self, size, stack: bool = False) -> None:
        self.size, self.stack = pair(size, "FiveCrop", "size"), stack

    def __call__(self, img):
        crops = five_crop(img, self.size)
        return np.stack(crops) if self.stack else crops

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size})"


class TenCrop:
    """Ten-crop test-time evaluation (AlexNet): the five crops of the image and of its mirror.

    Returns a tuple of 10 arrays (torchvision), or with `stack=True` one array [10, ...] that
    `ToTensor` / `Normalize` accept as a batch; the loader then yields [B, 10, C, h, w] and the
    prediction is the mean over the 10 crops: `model(x.view(-1, C, h, w)).view(B, 10, -1).mean(1)`.
    """

    def __init__(self, size, vertical_flip: bool = False, stack: bool = False) -> None:
        self.size = pair(size, "TenCrop", "size")
        self.vertical_flip, self.stack = vertical_flip, stack

    def __call__(self, img):
        crops = ten_crop(img, self.size, self.vertical_flip)
        return np.stack(crops) if self.stack else crops

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={self.size}, vertical_flip={self.vertical_flip})"


class Lighting:
    """AlexNet's PCA colour augmentation: add eigvec @ (alpha * eigval) to every pixel's RGB, with
    alpha ~ N(0, alphastd^2) drawn per image. Works on CHW or HWC float arrays (after ToTensor, so
    in [0, 1] units, matching `pca_lighting_stats`); `eigvec` columns are the eigenvectors."""

    def __init__(self, alphastd: float, eigval=IMAGENET_PCA["eigval"],
                 eigvec=IMAGENET_PCA["eigvec"]) -> None:
        self.alphastd = float(alphastd)
        self.eigval = np.asarray(eigval, dtype=np.float64).reshape(3)
        self.eigvec = np.asarray(eigvec, dtype=np.float64).reshape(3, 3)

    def __call__(self, img):
        if self.alphastd == 0:
            return img
        alpha = current_rng().normal(0.0, self.alphastd, size=3)
        rgb = self.eigvec @ (alpha * self.eigval)
        layout = _layout(img)
        if layout == "HW":
            raise ValueError("Lighting: needs a 3-channel image, got a 2-D array")
        # the axis of size 3 is the colour axis, whatever the shape rule guessed
        chw = img.shape[-3] == 3 and (layout == "CHW" or img.shape[-1] != 3)
        if not chw and img.shape[-1] != 3:
            raise ValueError(f"Lighting: needs 3 channels, got shape {list(img.shape)}")
        dtype = img.dtype if img.dtype.kind == "f" else np.float32
        shift = rgb.astype(dtype)
        return img.astype(dtype, copy=False) + (shift.reshape(3, 1, 1) if chw else shift)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alphastd={self.alphastd})"


def pca_lighting_stats(images: np.ndarray, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition of the RGB covariance of a training set, for `Lighting`.

    images: [N, H, W, 3] or [N, 3, H, W]; uint8 is scaled to [0, 1] (ToTensor's units).
    Returns (eigval [3] descending, eigvec [3, 3] with eigenvectors as columns), float32.
    Accumulates in float64 over chunks of `chunk` images, so memory stays small."""
    images = np.asarray(images)
    if images.ndim != 4 or 3 not in (images.shape[1], images.shape[-1]):
        raise ValueError(f"pca_lighting_stats: expected [N, H, W, 3] or [N, 3, H, W], got "
                         f"{list(images.shape)}")
    channels_last = images.shape[-1] == 3
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
    total = np.zeros(3)
    outer = np.zeros((3, 3))
    count = 0
    for start in range(0, images.shape[0], chunk):
        block = images[start:start + chunk]
        block = block if channels_last else np.moveaxis(block, 1, -1)
        px = block.reshape(-1, 3).astype(np.float64) * scale
        total += px.sum(axis=0)
        outer += px.T @ px
        count += px.shape[0]
    mean = total / count
    cov = outer / count - np.outer(mean, mean)
    eigval, eigvec = np.linalg.eigh(cov)
    order = np.argsort(eigval)[::-1]
    return eigval[order].astype(np.float32), eigvec[:, order].astype(np.float32)
