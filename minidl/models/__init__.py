"""minidl.models: the classic networks, built from minidl.nn layers.

- `lenet5(variant="paper" | "modern", num_classes=10, output=...)`: LeCun et al. 1998 (lenet.py),
  with the paper's layers `Subsampling`, `SparseConv2d`, `ScaledTanh`, `LENET5_C3_TABLE`
  (lenet_layers.py).
- `alexnet(num_classes=1000, variant="paper" | "single")`: Krizhevsky et al. 2012 (alexnet.py).
- `cifar_convnet(num_classes=10)`: cuda-convnet's CIFAR-10 "18% error" network (cifar.py).

`get_model(name, **kwargs)` builds one by name (used by the `minidl train` CLI), and
`INPUT_SPECS[name]` says what input each expects (channels, height, width).
What does not live here: generic layers (minidl.nn), the training loop (minidl.train).
"""
from __future__ import annotations

from .alexnet import AlexNet, alexnet
from .cifar import CifarConvNet, cifar_convnet
from .lenet import LeNet5, RBFOutput, lenet5
from .lenet_layers import LENET5_C3_TABLE, ScaledTanh, SparseConv2d, Subsampling

__all__ = ["lenet5", "LeNet5", "RBFOutput", "Subsampling", "SparseConv2d", "ScaledTanh",
           "LENET5_C3_TABLE", "alexnet", "AlexNet", "cifar_convnet",
           "CifarConvNet", "get_model", "MODELS", "INPUT_SPECS"]

MODELS = {"lenet5": lenet5, "alexnet": alexnet, "cifar_convnet": cifar_convnet}
"""Model name -> constructor (`get_model` and `minidl train` look names up here)."""

INPUT_SPECS = {"lenet5": (1, 32, 32), "alexnet": (3, 224, 224), "cifar_convnet": (3, 32, 32)}
"""Model name -> the (channels, height, width) input it is built for."""


def get_model(name: str, **kwargs):
    """Build the model `name` ("lenet5", "alexnet", "cifar_convnet") with `kwargs`."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)
