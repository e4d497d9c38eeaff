"""numba.cuda.jit kernels, one module per family (elementwise, movement, reduce, matmul, random,
optim, ...).  Each module's docstring states per kernel the thread-to-data mapping, launch
configuration, shared memory, FLOPs and bytes per launch, and the module lists the kernels and
numba signatures it launches (`PTX_SIGNATURES` or `ptx_signatures()`, collected by
minidl.cuda.inventory for the PTX test).  Launchers live in minidl.cuda.backend.
Importing any module here imports numba.cuda.
"""
