"""minidl.optim: optimizers (PyTorch's names, defaults and update rules) and lr schedulers.

Each optimizer step runs one fused backend primitive per parameter, in place on the
parameter's device (numba loops on CPU, grid-stride kernels on CUDA).
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler"]
