"""AlexNet (Krizhevsky, Sutskever, Hinton 2012, "ImageNet classification with deep convolutional
neural networks").

variant="paper": the two-GPU network written as one graph with groups=2 convolutions where the
towers do not talk (conv2, conv4, conv5) and full convolutions / fc layers where they do (conv3,
fc6-fc8).  Input [N, 3, 224, 224]; per layer (C x H x W):

    conv1 11x11/4, 96      + ReLU + LRN    96 x 55 x 55     34,944 parameters
    pool1 3x3/2 (overlapping max-pool)     96 x 27 x 27
    conv2 5x5 pad 2, 256, groups 2 + ReLU + LRN             256 x 27 x 27    307,456
    pool2 3x3/2                            256 x 13 x 13
    conv3 3x3 pad 1, 384   + ReLU          384 x 13 x 13    885,120
    conv4 3x3 pad 1, 384, groups 2 + ReLU  384 x 13 x 13    663,936
    conv5 3x3 pad 1, 256, groups 2 + ReLU  256 x 13 x 13    442,624
    pool5 3x3/2                            256 x 6 x 6
    fc6 9216 -> 4096 + ReLU + dropout 0.5                   37,752,832
    fc7 4096 -> 4096 + ReLU + dropout 0.5                   16,781,312
    fc8 4096 -> 1000                                        4,097,000
                                                   total    60,965,224

LRN uses the paper's parameterisation b = a / (k + alpha * sum a^2)^beta with k=2, n=5,
alpha=1e-4, beta=0.75 and alpha NOT divided by n (LocalResponseNorm(paper_alpha=True)).

The 224 -> 55 question: with standard arithmetic (224 - 11) / 4 + 1 = 54.25, so no symmetric
integer padding gives 55.  cuda-convnet, which the paper used, sizes outputs as
1 + ceil((H + 2 pad - k) / stride): with pad 0 that is 55, the last window reaching 3 pixels past
the border, where it reads zeros.  `CeilModePad` reproduces that rule exactly by zero-padding
the bottom and right edges just enough (3 pixels at 224, none at 227) before a pad-0 conv1, so
both 224 (the paper's text) and 227 (the usual reading) give 55 x 55.

Initialisation (paper, section 5): weights N(0, 0.01); biases 1 in conv2, conv4, conv5 and the
fc layers, 0 in conv1 and conv3.

variant="single": the one-tower network as torchvision ships it (64-192-384-256-256 filters,
conv1 padding 2, no LRN, adaptive average pool to 6x6, dropout before fc6 and fc7, PyTorch's
default initialisation; 61,100,840 parameters for 1000 classes).
"""
from __future__ import annotations

import math
from collections import OrderedDict

from .. import nn
from ..nn import functional as F
from ..nn import init
from ..tensor import Tensor

__all__ = ["alexnet", "AlexNet", "CeilModePad"]


class CeilModePad(nn.Module):
    """Zero-pad the bottom/right of [N, C, H, W] so that a following pad-0 convolution with
    `kernel_size` / `stride` yields cuda-convnet's 1 + ceil((H - k) / stride) outputs."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def _extra(self, n: int) -> int:
        out = 1 + math.ceil(max(n - self.kernel_size, 0) / self.stride)
        return max((out - 1) * self.stride + self.kernel_size - n, 0)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4:
            raise self._shape_error("input [N, C, H, W]", x)
        ph, pw = self._extra(x.shape[2]), self._extra(x.shape[3])
        return F.pad(x, (0, pw, 0, ph)) if ph or pw else x

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class AlexNet(nn.Module):
    """AlexNet; see the module docstring.  `features` (convolutions) and `classifier` (fc),
    [N, 3, 224, 224] -> [N, num_classes]."""

    def __init__(self, num_classes: int = 1000, variant: str = "paper",
                 dropout: float = 0.5) -> None:
        super().__init__()
        if variant not in ("paper", "single"):
            raise ValueError(f"alexnet: variant must be 'paper' or 'single', got {variant!r}")
        self.variant = variant
        if variant == "paper":
            def lrn() -> nn.Module:
                return nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0, paper_alpha=True)

            self.features = nn.Sequential(OrderedDict([
                ("pad1", CeilModePad(11, 4)),
                ("conv1", nn.Conv2d(3, 96, 11, stride=4)),
                ("relu1", nn.ReLU()), ("norm1", lrn()), ("pool1", nn.MaxPool2d(3, 2)),
                ("conv2", nn.Conv2d(96, 256, 5, padding=2, groups=2)),
                ("relu2", nn.ReLU()), ("norm2", lrn()), ("pool2", nn.MaxPool2d(3, 2)),
                ("conv3", nn.Conv2d(256, 384, 3, padding=1)), ("relu3", nn.ReLU()),
                ("conv4", nn.Conv2d(384, 384, 3, padding=1, groups=2)), ("relu4", nn.ReLU()),
                ("conv5", nn.Conv2d(384, 256, 3, padding=1, groups=2)), ("relu5", nn.ReLU()),
                ("pool5", nn.MaxPool2d(3, 2)),
            ]))
            self.avgpool = nn.Identity()
            self.classifier = nn.Sequential(OrderedDict([
                ("flatten", nn.Flatten()),
                ("fc6", nn.Linear(256 * 6 * 6, 4096)), ("relu6", nn.ReLU()),
                ("drop6", nn.Dropout(dropout)),
                ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()),
                ("drop7", nn.Dropout(dropout)),
                ("fc8", nn.Linear(4096, num_classes)),
            ]))
            self._paper_init()
        else:
            self.features = nn.Sequential(OrderedDict([
                ("conv1", nn.Conv2d(3, 64, 11, stride=4, padding=2)), ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(3, 2)),
                ("conv2", nn.Conv2d(64, 192, 5, padding=2)), ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(3, 2)),
                ("conv3", nn.Conv2d(192, 384, 3, padding=1)), ("relu3", nn.ReLU()),
                ("conv4", nn.Conv2d(384, 256, 3, padding=1)), ("relu4", nn.ReLU()),
                ("conv5", nn.Conv2d(256, 256, 3, padding=1)), ("relu5", nn.ReLU()),
                ("pool5", nn.MaxPool2d(3, 2)),
            ]))
            self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
            self.classifier = nn.Sequential(OrderedDict([
                ("flatten", nn.Flatten()),
                ("drop6", nn.Dropout(dropout)),
                ("fc6", nn.Linear(256 * 6 * 6, 4096)), ("relu6", nn.ReLU()),
                ("drop7", nn.Dropout(dropout)),
                ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()),
                ("fc8", nn.Linear(4096, num_classes)),
            ]))

    def _paper_init(self) -> None:
        ones = {"conv2", "conv4", "conv5", "fc6", "fc7", "fc8"}
        for seq in (self.features, self.classifier):
            for name, m in seq.named_children():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    init.normal_(m.weight, 0.0, 0.01)
                    init.constant_(m.bias, 1.0 if name in ones else 0.0)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise self._shape_error("input [N, 3, 224, 224]", x)
        return self.classifier(self.avgpool(self.features(x)))

    def extra_repr(self) -> str:
        return f"variant={self.variant!r}"


def alexnet(num_classes: int = 1000, variant: str = "paper", dropout: float = 0.5) -> AlexNet:
    """AlexNet: "paper" (two towers as groups=2 convolutions, LRN, 60,965,224 parameters) or
    "single" (torchvision's one-tower network).  Input [N, 3, 224, 224]."""
    return AlexNet(num_classes, variant, dropout)
