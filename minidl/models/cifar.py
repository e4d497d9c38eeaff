"""cuda-convnet's CIFAR-10 network from its "18% error" layer files (layers-18pct.cfg).

Input [N, 3, 32, 32]:
    conv1 5x5 pad 2, 32  -> max-pool 3/2 -> ReLU -> LRN(3)   32 x 16 x 16     2,432 parameters
    conv2 5x5 pad 2, 32 + ReLU -> avg-pool 3/2 -> LRN(3)     32 x 8 x 8      25,632
    conv3 5x5 pad 2, 64 + ReLU -> avg-pool 3/2               64 x 4 x 4      51,264
    fc10 1024 -> 10                                                          10,250
                                                                     total   89,578
cuda-convnet sizes pooling outputs as 1 + ceil((H - 3) / 2) (32 -> 16 -> 8 -> 4), which is
PyTorch's ceil_mode=True.  Its cross-map response norm ("cmrnorm", size 3, scale 5e-5,
pow 0.75) divides the scale by the size, i.e. PyTorch's LocalResponseNorm(3, alpha=5e-5,
beta=0.75, k=1) convention.  (ReLU after a max-pool equals ReLU before it.)
Initialisation: PyTorch's defaults (cuda-convnet drew N(0, 1e-4) for conv1 and N(0, 0.01) for
the rest, tuned for its own long schedule).
"""
from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ..tensor import Tensor

__all__ = ["cifar_convnet", "CifarConvNet"]


class CifarConvNet(nn.Module):
    """cuda-convnet's layers-18pct network; [N, 3, 32, 32] -> [N, num_classes]."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()

        def lrn() -> nn.Module:
            return nn.LocalResponseNorm(3, alpha=5e-5, beta=0.75, k=1.0)

        self.features = nn.Sequential(OrderedDict([
            ("conv1", nn.Conv2d(3, 32, 5, padding=2)),
            ("pool1", nn.MaxPool2d(3, 2, ceil_mode=True)), ("relu1", nn.ReLU()), ("norm1", lrn()),
            ("conv2", nn.Conv2d(32, 32, 5, padding=2)), ("relu2", nn.ReLU()),
            ("pool2", nn.AvgPool2d(3, 2, ceil_mode=True)), ("norm2", lrn()),
            ("conv3", nn.Conv2d(32, 64, 5, padding=2)), ("relu3", nn.ReLU()),
            ("pool3", nn.AvgPool2d(3, 2, ceil_mode=True)),
        ]))
        self.classifier = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()), ("fc10", nn.Linear(64 * 4 * 4, num_classes)),
        ]))

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, 32, 32):
            raise self._shape_error("input [N, 3, 32, 32]", x)
        return self.classifier(self.features(x))


def cifar_convnet(num_classes: int = 10) -> CifarConvNet:
    """cuda-convnet's CIFAR-10 "18% error" configuration (89,578 parameters for 10 classes)."""
    return CifarConvNet(num_classes)
