"""minidl.distributed: data-parallel training over MPI (torch.distributed's API, backend "mpi").

    import minidl.distributed as dist
    dist.init_process_group("mpi")       # rank and world size from mpiexec / srun
    model = dist.DistributedDataParallel(model)
    sampler = dist.DistributedSampler(train_set, shuffle=True, seed=0)   # set_epoch(e) per epoch

Process group (_group.py), collectives on tensors (collectives.py), DistributedDataParallel
(ddp.py); DistributedSampler lives with the other samplers (minidl.data.sampler). mpi4py is
imported by init_process_group only. See docs/distributed.md.
"""
from ..data.sampler import DistributedSampler
from ._group import (CollectiveMismatchError, abort, barrier, destroy_process_group,
                     get_node_local_rank, get_rank, get_world_size, init_process_group,
                     is_available, is_cuda_aware_mpi, is_initialized)
from .collectives import (ReduceOp, Work, all_gather, all_gather_into_tensor, all_reduce,
                          broadcast, reduce_scatter, reduce_scatter_tensor)
from .ddp import DistributedDataParallel

__all__ = ["init_process_group", "is_initialized", "is_available", "get_rank", "get_world_size",
           "barrier", "destroy_process_group", "get_node_local_rank", "is_cuda_aware_mpi", "abort",
           "CollectiveMismatchError", "ReduceOp", "Work", "all_reduce", "broadcast", "all_gather",
           "all_gather_into_tensor", "reduce_scatter", "reduce_scatter_tensor",
           "DistributedDataParallel", "DistributedSampler"]
