"""minidl.data: datasets, samplers, DataLoader (with worker processes), transforms.

PyTorch's torch.utils.data API; transforms and datasets follow torchvision's names but work on
numpy arrays (see transforms.py). Submodules: `transforms`, `datasets`, `rng`.
"""
from . import rng, transforms
from ._worker import WorkerInfo, get_worker_info
from .collate import default_collate, default_convert
from .dataset import (ChainDataset, ConcatDataset, Dataset, IterableDataset, Subset,
                      TensorDataset, random_split)
from .loader import DataLoader
from .sampler import (BatchSampler, DistributedSampler, RandomSampler, Sampler,
                      SequentialSampler, SubsetRandomSampler, WeightedRandomSampler)

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "ChainDataset",
    "random_split", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
    "WeightedRandomSampler", "BatchSampler", "DistributedSampler", "DataLoader", "get_worker_info",
    "WorkerInfo",
    "default_collate", "default_convert", "transforms", "rng", "datasets",
]


def __getattr__(name):
    # datasets imports h5py lazily etc.; keep `import minidl.data` light
    if name == "datasets":
        import importlib
        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module 'minidl.data' has no attribute {name!r}")
