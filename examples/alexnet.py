"""AlexNet with the 2012 paper's recipe, using minidl's shared training loop.

    python examples/alexnet.py --dry-run 3 --batch-size 8     # seconds/step at 224x224, no data
    python examples/alexnet.py --data PATH/TO/IMAGEFOLDER --epochs 90
    python examples/alexnet.py --subset 64 --epochs 1         # built-in digits, a quick look

Recipe (minidl.models.recipes.make_optimizer / load_data): SGD in the paper's update form,
momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 divided by 10 when validation accuracy
plateaus; random 224 crops of 256 images, horizontal flips, PCA lighting.  On a CPU this is for
checking that it works and measuring speed, not for training to convergence.
"""
import argparse
import time

import numpy as np

import minidl
from minidl.data import DataLoader
from minidl.models import alexnet
from minidl.models.recipes import load_data, make_optimizer
from minidl.nn import functional as F
from minidl.train import fit

ap = argparse.ArgumentParser(description="AlexNet with minidl")
ap.add_argument("--data", help="image folder / CIFAR-10 / MNIST (default: built-in digits)")
ap.add_argument("--variant", default="paper", choices=("paper", "single"))
ap.add_argument("--epochs", type=int, default=90)
ap.add_argument("--batch-size", type=int, default=128)
ap.add_argument("--subset", type=int)
ap.add_argument("--device", default="cpu")
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--dry-run", type=int, default=0, metavar="N")
ap.add_argument("--out", default="runs/alexnet")
args = ap.parse_args()

minidl.manual_seed(0)
if args.dry_run:
    model = alexnet(1000, args.variant).to(args.device)
    optimizer, _ = make_optimizer("alexnet", model)
    rng = np.random.default_rng(0)
    for step in range(args.dry_run):
        x = minidl.tensor(rng.standard_normal((args.batch_size, 3, 224, 224), dtype=np.float32),
                          device=args.device)
        y = minidl.tensor(rng.integers(0, 1000, args.batch_size), device=args.device)
        t0 = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f"step {step + 1}: loss {loss.item():.4f}, {time.perf_counter() - t0:.2f} s/step")
else:
    train, test, num_classes, desc = load_data("alexnet", args.data, subset=args.subset)
    print(desc)
    model = alexnet(num_classes, args.variant).to(args.device)
    optimizer, scheduler = make_optimizer("alexnet", model)
    fit(model, DataLoader(train, batch_size=args.batch_size, shuffle=True,
                          num_workers=args.workers),
        optimizer, val_loader=DataLoader(test, batch_size=args.batch_size,
                                         num_workers=args.workers),
        epochs=args.epochs, scheduler=scheduler, device=args.device, out_dir=args.out,
        title=f"AlexNet ({args.variant})")
