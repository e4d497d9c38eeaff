"""The CUDA backend: every primitive of minidl.backend.contract as a launcher that picks the grid,
allocates the output and launches a numba.cuda kernel from minidl.cuda.kernels.

Launchers validate nothing user-facing (minidl.ops does, before any launch) and keep data on the
device: the only host <-> device copies are from_numpy / to_numpy.  Arrays are numba
DeviceNDArrays, C-contiguous; 0-d and zero-size arrays are allowed (zero-size launches nothing).
One module per family; a new family (conv, pool, optim, ...) adds its module here with one
`from .<family> import *` line and lists its names in that module's __all__.
"""
from .elementwise import *  # noqa: F401,F403
from .matmul import *  # noqa: F401,F403
from .memory import *  # noqa: F401,F403
from .movement import *  # noqa: F401,F403
from .random import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
