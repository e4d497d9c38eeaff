"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998, "Gradient-based learning applied to document
recognition"), in the paper's form and in today's usual form.

Input [N, 1, 32, 32]: the paper's 32x32 field, i.e. 28x28 MNIST padded by 2 on every side.

variant="paper" (section II-B of the paper), trainable parameters per layer:
    C1  6@28x28   5x5 convolution                                          156
    S2  6@14x14   trainable 2x2 subsampling (sum * coefficient + bias)     12
    C3  16@10x10  5x5 convolution over the S2 maps of Table I (60 links)   1,516
    S4  16@5x5    trainable 2x2 subsampling                                32
    C5  120@1x1   5x5 convolution                                          48,120
    F6  84        fully connected                                          10,164
                                                                 total   60,000
Every layer up to F6 is followed by the squashing function 1.7159 tanh(2a/3) (ScaledTanh).
The output layer is either
  - output="rbf" (default, the paper's): 10 Euclidean RBF units y_i = sum_j (x_j - w_ij)^2 with
    fixed +-1 codes w_i (7x12 bitmaps, see `DIGIT_BITMAPS`; no trainable parameter).  The module
    returns -y as logits, so cross_entropy(-y, target) = y_target + log sum_i exp(-y_i) is the
    paper's criterion (eq. 9) with its constant j -> infinity; the prediction is argmin y.
  - output="linear": Linear(84, num_classes) (850 parameters for 10 classes).
Initialisation: PyTorch's defaults for C1/C5/F6, the paper's for S2/S4 and PyTorch's per-unit
rule for C3 (see lenet_layers.py).

variant="modern": ReLU, 2x2 max-pooling, a full 6->16 C3, linear output (61,706 parameters).
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..nn import functional as F
from ..creation import tensor
from ..tensor import Tensor
from .lenet_layers import LENET5_C3_TABLE, ScaledTanh, SparseConv2d, Subsampling

__all__ = ["lenet5", "LeNet5", "RBFOutput", "DIGIT_BITMAPS", "rbf_codes"]

# Hand-drawn 7 (wide) x 12 (high) stylised digits standing in for the paper's ASCII bitmaps
# (Fig. 3 of the paper shows them; its exact bitmaps are not reproduced here): '#' = +1, '.' = -1.
DIGIT_BITMAPS = (
    (".......", "..###..", ".#...#.", "#.....#", "#.....#", "#.....#",
     "#.....#", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "...#...", "..##...", ".#.#...", "...#...", "...#...",
     "...#...", "...#...", "...#...", "...#...", ".#####.", "......."),
    (".......", "..###..", ".#...#.", "#.....#", "......#", ".....#.",
     "....#..", "...#...", "..#....", ".#.....", "#######", "......."),
    (".......", ".####..", "#....#.", "......#", ".....#.", "..###..",
     ".....#.", "......#", "......#", "#....#.", ".####..", "......."),
    (".......", ".....#.", "....##.", "...#.#.", "..#..#.", ".#...#.",
     "#....#.", "#######", ".....#.", ".....#.", ".....#.", "......."),
    (".......", "#######", "#......", "#......", "#####..", ".....#.",
     "......#", "......#", "......#", "#....#.", ".####..", "......."),
    (".......", "...###.", "..#....", ".#.....", "#......", "#.###..",
     "##...#.", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "#######", "......#", ".....#.", "....#..", "...#...",
     "...#...", "..#....", "..#....", "..#....", "..#....", "......."),
    (".......", "..###..", ".#...#.", "#.....#", ".#...#.", "..###..",
     ".#...#.", "#.....#", "#.....#", ".#...#.", "..###..", "......."),
    (".......", "..###..", ".#...#.", "#.....#", "#.....#", ".#...##",
     "..###.#", "......#", ".....#.", "....#..", ".###...", "......."),
)


def rbf_codes(num_classes: int = 10, seed: int = 1998) -> np.ndarray:
    """The fixed RBF centres [num_classes, 84] in {-1, +1}: the digit bitmaps for 10 classes,
    otherwise random +-1 codes from a fixed numpy seed (independent of minidl.manual_seed)."""
    if num_classes == 10:
        rows = [[1.0 if ch == "#" else -1.0 for line in bm for ch in line]
                for bm in DIGIT_BITMAPS]
        codes = np.array(rows, dtype=np.float32)
        assert codes.shape == (10, 84)
        return codes
    rng = np.random.default_rng(seed)
    return rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(num_classes, 84))


class RBFOutput(nn.Module):
    """Euclidean RBF output units with fixed centres: [N, F] -> logits [N, K] = -||x - c_k||^2.

    RBFOutput(centers [K, F] array).  The centres are a (persistent) buffer, not parameters."""

    def __init__(self, centers) -> None:
        super().__init__()
        c = np.asarray(centers, dtype=np.float32)
        if c.ndim != 2:
            raise ValueError(f"RBFOutput: centers must be [K, F], got shape {list(c.shape)}")
        self.num_classes, self.in_features = c.shape
        self.register_buffer("centers", tensor(c))

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim != 2 or input.shape[1] != self.in_features:
            raise self._shape_error(f"input [N, {self.in_features}]", input)
        c = self.centers
        # -||x - c||^2 = (2 x.c - ||c||^2) - ||x||^2: one fused linear (the constant terms
        # computed without graph) instead of an [N, K, F] tensor or five ops on [N, K]
        with no_grad():
            w2, b2 = c * 2.0, -(c * c).sum(1)
        return F.linear(input, w2, b2) - (input * input).sum(1, keepdim=True)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"


class LeNet5(nn.Module):
    """LeNet-5; see the module docstring.  Submodules c1, s2, c3, s4, c5, f6, output (each
    followed by its activation act1..act6 where the variant has one).  [N, 1, 32, 32] ->
    [N, num_classes]."""

    def __init__(self, variant: str = "paper", num_classes: int = 10,
                 output: str | None = None) -> None:
        super().__init__()
        if variant not in ("paper", "modern"):
            raise ValueError(f"lenet5: variant must be 'paper' or 'modern', got {variant!r}")
        if output is None:
            output = "rbf" if variant == "paper" else "linear"
        if output not in ("rbf", "linear"):
            raise ValueError(f"lenet5: output must be 'rbf' or 'linear', got {output!r}")
        self.variant, self.output_kind, self.num_classes = variant, output, num_classes
        paper = variant == "paper"

        def act() -> nn.Module:
            return ScaledTanh() if paper else nn.ReLU()

        self.c1 = nn.Conv2d(1, 6, 5)
        self.act1 = act()
        if paper:
            self.s2 = Subsampling(6, 2)
            self.act2 = act()
            self.c3 = SparseConv2d(LENET5_C3_TABLE, 5)
        else:
            self.s2 = nn.MaxPool2d(2)
            self.c3 = nn.Conv2d(6, 16, 5)
        self.act3 = act()
        if paper:
            self.s4 = Subsampling(16, 2)
            self.act4 = act()
        else:
            self.s4 = nn.MaxPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.act5 = act()
        self.flatten = nn.Flatten()
        self.f6 = nn.Linear(120, 84)
        self.act6 = act()
        self.output = (RBFOutput(rbf_codes(num_classes)) if output == "rbf"
                       else nn.Linear(84, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, 32, 32):
            raise self._shape_error("input [N, 1, 32, 32] (28x28 MNIST padded by 2)", x)
        for module in self.children():
            x = module(x)
        return x

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}, output={self.output_kind!r}"


def lenet5(variant: str = "paper", num_classes: int = 10, output: str | None = None) -> LeNet5:
    """LeNet-5: variant "paper" (LeCun et al. 1998; output "rbf" by default, or "linear") or
    "modern" (ReLU, max-pool, full C3, linear output).  Input [N, 1, 32, 32]."""
    return LeNet5(variant, num_classes, output)
