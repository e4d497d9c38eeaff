"""The CPU backend: the contract implemented with numpy and numba; also the reference oracle.

One module per family; each exports only contract primitives (and private helpers with _)."""
from .core import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
