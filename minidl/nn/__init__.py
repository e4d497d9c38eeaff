"""minidl.nn: Module and Parameter, layers, losses, initialisation (init) and utilities (utils),
with PyTorch's names, constructor signatures and defaults; `functional` holds the math."""
from . import functional, init, utils
from . import activation
from .activation import *  # noqa: F403  (every activation module: activation.__all__)
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout, Dropout2d
from .linear import Flatten, Identity, Linear
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm, LocalResponseNorm
from .parameter import Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "functional", "init", "utils", "Module", "Parameter",
    "Linear", "Identity", "Flatten", "Conv2d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    *activation.__all__, "Dropout", "Dropout2d", "LocalResponseNorm", "BatchNorm1d", "BatchNorm2d",
    "LayerNorm", "Sequential", "ModuleList", "ModuleDict",
    "CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss",
]
