"""LeNet-5 on MNIST (or the built-in digits) with minidl's shared training loop.

    python examples/lenet5.py --data ../shared/data/mnist --epochs 20 --variant modern
    python examples/lenet5.py                       # built-in UCI digits, paper variant
    python examples/lenet5.py --data ../shared/data/mnist --variant modern --augment 2 \
        --batch-size 128 --lr 0.05 --epochs 14         # random shifts of up to 2 pixels

Writes metrics.json / metrics.csv / metrics.png and checkpoint.h5 to --out
(default runs/lenet5-VARIANT); --resume OUT/checkpoint.h5 continues a run.
"""
import argparse

import minidl
from minidl.data import DataLoader
from minidl.data import transforms as T
from minidl.models import lenet5
from minidl.models.recipes import load_data, make_optimizer
from minidl.train import fit

ap = argparse.ArgumentParser(description="LeNet-5 with minidl")
ap.add_argument("--data", help="folder with the MNIST IDX files (default: built-in digits)")
ap.add_argument("--variant", default="paper", choices=("paper", "modern"))
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--batch-size", type=int, default=64)
ap.add_argument("--lr", type=float, help="default: paper 0.002 (RBF output), modern 0.05")
ap.add_argument("--device", default="cpu")
ap.add_argument("--workers", type=int, default=0)
ap.add_argument("--out")
ap.add_argument("--resume")
ap.add_argument("--augment", type=int, default=0, metavar="P",
                help="shift training images by up to P pixels (LeCun et al. trained on distorted "
                     "images too); 0 = off")
args = ap.parse_args()

minidl.manual_seed(0)
# --augment: random crops of the zero-padded 32x32 image = shifts by up to P pixels
shift = T.RandomCrop(32, padding=args.augment) if args.augment else None
train, test, num_classes, desc = load_data("lenet5", args.data, train_transform=shift)
print(desc)
model = lenet5(args.variant, num_classes).to(args.device)
# SGD momentum 0.9 + ReduceLROnPlateau(validation accuracy, /10 after 2 flat epochs)
optimizer, scheduler = make_optimizer("lenet5", model, lr=args.lr)
history = fit(model,
              DataLoader(train, batch_size=args.batch_size, shuffle=True,
                         num_workers=args.workers),
              optimizer, val_loader=DataLoader(test, batch_size=500), epochs=args.epochs,
              scheduler=scheduler, device=args.device,
              out_dir=args.out or f"runs/lenet5-{args.variant}", resume=args.resume,
              title=f"LeNet-5 ({args.variant})")
best = max(history, key=lambda r: r["val_accuracy"])
print(f"best test error {1 - best['val_accuracy']:.2%} at epoch {best['epoch']}; last "
      f"{1 - history[-1]['val_accuracy']:.2%}")
