"""`python -m minidl.demo` (`make demo`): the README's first run.

Trains LeNet-5 on the built-in UCI digits (1,437 training / 360 test images, 8x8 upscaled to
LeNet's 32x32 field) with minidl's shared training loop, then prints its test accuracy beside a
1-nearest-neighbour classifier on the raw 8x8 pixels of the same split (95.56%): the number a
network has to beat to be worth showing.

The recipe (chosen by measurement, see README): the modern variant (ReLU, max-pooling, full C3,
linear output; 61,706 parameters); training images shifted at random by up to 2 pixels of the
32x32 field (RandomCrop of the zero-padded image, before normalisation, so the padding is
background); cross-entropy with label smoothing 0.1; SGD with Nesterov momentum 0.9, weight
decay 5e-4, batch 32; a one-cycle learning rate peaking at 0.05 over 30 epochs, stepped once per
epoch.  About 40 s on 2 quiet cores.
Options: --epochs N, --variant modern|paper (paper: the 1998 network, RBF output, lr 0.002
with ReduceLROnPlateau, no augmentation), --out DIR.
(The CUDA kernels are covered by the test suite under numba's simulator, not here.)
"""
from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial

import numpy as np

import minidl
from minidl.data import DataLoader
from minidl.data import transforms as T
from minidl.data.recipes import load_arrays
from minidl.models import lenet5
from minidl.models.recipes import load_data, make_optimizer
from minidl.nn import functional as F
from minidl.optim import SGD
from minidl.optim.lr_scheduler import OneCycleLR
from minidl.train import evaluate, fit

EPOCHS = 30
MAX_LR = 0.05
LABEL_SMOOTHING = 0.1


def nearest_neighbour_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Test accuracy of 1-nearest-neighbour (Euclidean) on flattened images."""
    a = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
    b = np.asarray(x_test, np.float64).reshape(len(x_test), -1)
    d = (b * b).sum(1)[:, None] - 2.0 * b @ a.T + (a * a).sum(1)[None]
    return float((np.asarray(y_train)[d.argmin(1)] == np.asarray(y_test)).mean())


def digits_baseline() -> float:
    """1-NN on the raw 8x8 digits (the demo's split)."""
    xtr, ytr, xte, yte, _, _ = load_arrays(None)
    return nearest_neighbour_accuracy(xtr, ytr, xte, yte)


def build(variant: str = "modern", epochs: int = EPOCHS, log=print) -> dict:
    """The demo's parts: model, train/test datasets and loaders, loss, optimizer, scheduler,
    desc."""
    modern = variant == "modern"
    shift = T.RandomCrop(32, padding=2) if modern else None
    train, test, _, desc = load_data("lenet5", None, log=log, train_transform=shift)
    model = lenet5(variant)
    if modern:
        opt = SGD(model.parameters(), lr=MAX_LR, momentum=0.9, weight_decay=5e-4, nesterov=True)
        sched = OneCycleLR(opt, max_lr=MAX_LR, total_steps=epochs)
        loss = partial(F.cross_entropy, label_smoothing=LABEL_SMOOTHING)
    else:
        opt, sched = make_optimizer("lenet5", model)  # the paper variant: lr 0.002, plateau /10
        loss = F.cross_entropy
    return dict(model=model, train=train, test=test, desc=desc, optimizer=opt, scheduler=sched,
                loss_fn=loss,
                train_loader=DataLoader(train, batch_size=32, shuffle=True),
                test_loader=DataLoader(test, batch_size=360))


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(prog="python -m minidl.demo", description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--variant", default="modern", choices=("modern", "paper"))
    ap.add_argument("--out", help="where metrics and the checkpoint go (default: a temp folder)")
    args = ap.parse_args(argv)
    t0, c0 = time.perf_counter(), time.process_time()
    minidl.manual_seed(0)
    parts = build(args.variant, args.epochs)
    model, test = parts["model"], parts["test"]
    print(f"minidl {minidl.__version__} demo: LeNet-5 ({args.variant}, "
          f"{sum(p.numel() for p in model.parameters()):,} parameters) on {parts['desc']}")
    out = args.out or tempfile.mkdtemp(prefix="minidl-demo-")
    fit(model, parts["train_loader"], parts["optimizer"], val_loader=parts["test_loader"],
        epochs=args.epochs, scheduler=parts["scheduler"], loss_fn=parts["loss_fn"], out_dir=out,
        title=f"LeNet-5 ({args.variant}) on UCI digits")
    acc = evaluate(model, parts["test_loader"], progress=False)["accuracy"]
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"test accuracy: {acc:.2%} ({round(acc * len(test))}/{len(test)}) after {args.epochs} "
          f"epochs in {wall:.0f} s ({cpu:.0f} s of CPU time); metrics, plot and checkpoint in "
          f"{out}")
    print(f"baseline: 1-nearest-neighbour on the raw 8x8 pixels, same split: "
          f"{digits_baseline():.2%}")
    return acc


if __name__ == "__main__":
    main()
