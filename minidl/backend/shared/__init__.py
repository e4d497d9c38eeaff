"""Device-neutral math, written once and imported by every backend (minidl.backend.cpu and
minidl.cuda): plain Python scalar functions and host-side integer arithmetic, no arrays, no numba
targets, no imports of either backend.  Each backend compiles what it needs for its own target
(numba.njit / vectorize on the CPU, cuda.jit(device=True) on the GPU).

- scalar.py         elementwise functions and derivatives (the `map` primitive's table)
- counter_rng.py    the counter-based random generator (uniform, normal)
- dropout.py        the dropout keep rule and its host-side parameters
- optim_rules.py    per-element optimizer update rules (SGD, Adam/AdamW, RMSprop, ...)
- pool_geometry.py  pooled output sizes (PyTorch's rules, ceil_mode), adaptive windows
- geometry.py       `pair` (int-or-pair arguments), the average-pool window and divisor
"""
