"""Datasets: MNIST / Fashion-MNIST (IDX), CIFAR-10/100 (pickle or binary batches), ImageFolder
(Pillow, optional), HDF5Dataset (streaming) and the vendored UCI Digits (no download needed)."""
from ._files import DatasetNotFoundError
from .cifar import CIFAR10, CIFAR100, safe_unpickle
from .digits import Digits, load_digits
from .hdf5 import HDF5Dataset
from .image_folder import DatasetFolder, ImageFolder
from .mnist import MNIST, FashionMNIST, read_idx

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "ImageFolder", "DatasetFolder",
           "HDF5Dataset", "Digits", "load_digits", "read_idx", "safe_unpickle",
           "DatasetNotFoundError"]
