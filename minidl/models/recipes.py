"""Training recipes of the classic networks: per-model defaults, the optimizer and scheduler, the
data pipeline (input conformed to the model, normalisation, augmentation).  `minidl train`,
`python -m minidl.demo` (whose own recipe is `minidl.demo.build`) and examples/ build their runs
from here.

- `DEFAULTS[name]`, `VARIANTS[name]`, `default_lr`: per-model hyper-parameters (CLI defaults).
- `make_optimizer(name, model)`: SGD (AlexNet: the paper's update form) + ReduceLROnPlateau.
- `load_data(name, data)`: (train, test, classes, description) datasets for the model's input.
- `alexnet_transform(mean, std, train, flip)`: the paper's augmentation from data.transforms.

What does not live here: reading files (minidl.data.recipes, minidl.data.datasets), the training
loop (minidl.train), argument parsing (minidl.cli).
"""
from __future__ import annotations

from functools import partial

import numpy as np

from ..data import transforms as T
from ..data.recipes import ArrayDataset, conform, conform_channels, load_arrays
from . import INPUT_SPECS

__all__ = ["DEFAULTS", "VARIANTS", "default_lr", "make_optimizer", "load_data",
           "alexnet_transform"]

# per-model training defaults (the CLI flags override them)
DEFAULTS = {
    # LeNet-5 paper: the RBF output's gradient is ~2 (sum_i p_i c_i - c_target) per F6 unit, an
    # order of magnitude above a linear layer's, so it needs a smaller lr to keep tanh unsaturated
    "lenet5": dict(variant="paper", epochs=10, batch_size=64, lr={"paper": 0.002, "modern": 0.05},
                   momentum=0.9,
                   weight_decay=0.0, patience=2, paper_sgd=False),
    "alexnet": dict(variant="paper", epochs=90, batch_size=128, lr=0.01, momentum=0.9,
                    weight_decay=5e-4, patience=3, paper_sgd=True),
    "cifar_convnet": dict(variant=None, epochs=30, batch_size=128, lr=0.01, momentum=0.9,
                          weight_decay=5e-4, patience=3, paper_sgd=False),
}
"""Model name -> variant, epochs, batch_size, lr (or {variant: lr}), momentum, weight_decay,
patience (of ReduceLROnPlateau), paper_sgd (AlexNet's update form)."""

VARIANTS = {"lenet5": ("paper", "modern"), "alexnet": ("paper", "single"), "cifar_convnet": ()}
"""Model name -> its variants (empty: none)."""


def default_lr(model_name: str, variant: str | None = None) -> float:
    """The default initial learning rate of a model (and variant)."""
    lr = DEFAULTS[model_name]["lr"]
    if isinstance(lr, dict):
        lr = lr[variant or DEFAULTS[model_name]["variant"]]
    return float(lr)


def make_optimizer(model_name: str, model, lr=None, momentum=None, weight_decay=None):
    """(SGD optimizer, ReduceLROnPlateau scheduler on validation accuracy) with the model's
    defaults (AlexNet: the paper's SGD update form)."""
    from ..optim import SGD
    from ..optim.lr_scheduler import ReduceLROnPlateau

    d = DEFAULTS[model_name]
    if lr is None:
        lr = default_lr(model_name, getattr(getattr(model, "module", model), "variant", None))
    opt = SGD(model.parameters(), lr=lr,
              momentum=d["momentum"] if momentum is None else momentum,
              weight_decay=d["weight_decay"] if weight_decay is None else weight_decay,
              paper_form=d["paper_sgd"])
    sched = ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=d["patience"])
    return opt, sched


def alexnet_transform(mean, std, train: bool, flip: bool, size: int = 224, base: int = 256):
    """The paper's pipeline on one float CHW image: 3 channels (grey replicated), resized to
    base x base; then for training a random size x size crop, a horizontal flip (if `flip`) and
    PCA lighting (alphastd 0.1), for testing the centre crop; then normalised with the
    per-channel `mean` and `std`."""
    steps = [partial(conform_channels, c=3), T.Resize((base, base))]
    if train:
        steps += [T.RandomCrop(size)] + ([T.RandomHorizontalFlip()] if flip else [])
        steps += [T.Lighting(0.1)]
    else:
        steps += [T.CenterCrop(size)]
    return T.Compose(steps + [T.Normalize(mean, std)])


def _mean_std(x: np.ndarray):
    return (x.mean(axis=(0, 2, 3)).astype(np.float32),
            (x.std(axis=(0, 2, 3)) + 1e-6).astype(np.float32))


def load_data(model: str, data=None, *, subset: int | None = None, log=print,
              train_transform=None):
    """(train dataset, test dataset, number of classes, description) for `model` from `data`
    (None: the built-in digits, with a one-line note).  Samples are (float32 [C, H, W], int),
    normalised with the training set's per-channel mean and std.  AlexNet augments per sample
    (`alexnet_transform`); other models get `train_transform` (applied to training images in
    [0, 1] units, before normalisation) if given."""
    c, h, w = INPUT_SPECS[model]
    xtr, ytr, xte, yte, k, kind = load_arrays(data, channels=c, side=256 if h == 224 else h,
                                              subset=subset)
    src = f"{kind}" + (f" ({data})" if data is not None else "")
    if data is None:
        log(f"note: no --data given, using the built-in UCI digits (8x8, upscaled to {h}x{w}"
            f"{', 3 replicated channels' if c == 3 else ''})")
    if model == "alexnet":
        # augmentation happens per sample at 256 -> 224; keep the (small) sources as they are
        flip = kind not in ("digits", "mnist")
        mean, std = _mean_std(conform_channels(xtr[:2048], 3))
        train = ArrayDataset(xtr, ytr, alexnet_transform(mean, std, True, flip))
        test = ArrayDataset(xte, yte, alexnet_transform(mean, std, False, flip))
        desc = (f"{src}: {len(train)} train / {len(test)} test images -> 3x224x224 "
                f"(random crops{', flips' if flip else ''}, PCA lighting)")
        return train, test, k, desc
    xtr, xte = conform(xtr, c, h, w), conform(xte, c, h, w)
    mean, std = _mean_std(xtr)
    norm = T.Normalize(mean, std)
    desc = f"{src}: {len(ytr)} train / {len(yte)} test images -> {c}x{h}x{w}"
    if train_transform is not None:
        train = ArrayDataset(xtr, ytr, T.Compose([train_transform, norm]))
    else:
        train = ArrayDataset(_normalized(xtr, mean, std), ytr)
    return train, ArrayDataset(_normalized(xte, mean, std), yte), k, desc


def _normalized(x: np.ndarray, mean, std) -> np.ndarray:
    return ((x - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
