"""Samplers (PyTorch's API): the order in which a DataLoader visits a map-style dataset.

Random samplers draw one seed per epoch (from their `generator`, else minidl's default generator)
and build the permutation with numpy. `state_dict()` returns the seed of the current epoch and
`load_state_dict()` makes the next `iter()` replay it, which is how a DataLoader resumes mid-epoch.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

from .rng import draw_seed

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "DistributedSampler"]


class Sampler:
    """Base class: `__iter__` yields dataset indices (or lists of them, for batch samplers)."""

    def __iter__(self) -> Iterator:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """State needed to replay the current epoch's order (empty for deterministic samplers)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Make the next `iter()` replay the epoch described by `state`."""


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class _SeededSampler(Sampler):
    """Shared seed bookkeeping: one seed per epoch, replayable."""

    generator = None

    def _epoch_seed(self) -> int:
        pending = getattr(self, "_pending_seed", None)
        if pending is not None:
            self._pending_seed = None
            seed = pending
        else:
            seed = draw_seed(self.generator)
        self._seed = seed
        return seed

    def state_dict(self) -> dict:
        seed = getattr(self, "_seed", None)
        return {} if seed is None else {"seed": int(seed)}

    def load_state_dict(self, state: dict) -> None:
        self._pending_seed = state.get("seed")


class RandomSampler(_SeededSampler):
    """A random permutation of the indices (or `num_samples` draws with replacement)."""

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator=None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(f"num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")

    @property
    def num_samples(self) -> int:
        """Indices drawn per epoch: `num_samples` if given, else len(data_source)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self._epoch_seed())
        n = len(self.data_source)
        if self.replacement:
            idx = rng.integers(0, n, size=self.num_samples)
        else:
            reps = -(-self.num_samples // n)
            idx = np.concatenate([rng.permutation(n) for _ in range(reps)])[:self.num_samples]
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(_SeededSampler):
    """The given indices in a random order."""

    def __init__(self, indices: Sequence[int], generator=None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        perm = np.random.default_rng(self._epoch_seed()).permutation(len(self.indices))
        return iter([self.indices[i] for i in perm.tolist()])

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(_SeededSampler):
    """`num_samples` indices drawn with probabilities proportional to `weights`."""

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator=None) -> None:
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, np.float64)
        if w.ndim != 1 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError("weights must be a 1-D sequence of finite, non-negative numbers "
                             "with a positive sum")
        if not replacement and num_samples > (w > 0).sum():
            raise ValueError("cannot draw more samples than non-zero weights without replacement")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng(self._epoch_seed())
        idx = rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                         p=self.weights / self.weights.sum())
        return iter(idx.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of `sampler` into lists of `batch_size` (the last one may be shorter
    unless `drop_last`)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        # iter(sampler) now, not at the first next(): the epoch's seed is drawn at iter() time
        return self._batches(iter(self.sampler))

    def _batches(self, it: Iterator[int]) -> Iterator[list[int]]:
        batch: list[int] = []
        for idx in it:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        if self.drop_last:
            return len(self.sampler) // self.batch_size
        return -(-len(self.sampler) // self.batch_size)

    def state_dict(self) -> dict:
        inner = getattr(self.sampler, "state_dict", None)
        return {"sampler": inner()} if inner is not None else {}

    def load_state_dict(self, state: dict) -> None:
        inner = getattr(self.sampler, "load_state_dict", None)
        if inner is not None and "sampler" in state:
            inner(state["sampler"])


class DistributedSampler(Sampler):
    """This rank's share of the indices: every rank gets `num_samples` = ceil(N / num_replicas)
    indices (the order padded by repeating its start), or floor with `drop_last` (the tail
    dropped), taken with stride num_replicas from one order that all ranks compute alike
    (a permutation seeded by seed + epoch when shuffling). Call `set_epoch(e)` before each
    epoch to reshuffle. num_replicas and rank default to the process group's (PyTorch's
    torch.utils.data.distributed.DistributedSampler)."""

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: num_replicas and rank default to the "
                                   "process group's, but init_process_group has not been called")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.epoch = 0
        self.drop_last = drop_last
        n = len(dataset)
        if drop_last and n % self.num_replicas != 0:
            self.num_samples = -(-(n - self.num_replicas) // self.num_replicas)
        else:
            self.num_samples = -(-n // self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle, self.seed = shuffle, int(seed)

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            idx = np.arange(n)
        if self.total_size > n:
            idx = np.resize(idx, self.total_size)  # repeats from the start as often as needed
        else:
            idx = idx[:self.total_size]
        return iter(idx[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of `epoch` (seed + epoch) from the next iter() on."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state.get("epoch", self.epoch))
