"""Every CUDA kernel with the numba signatures its launcher uses: what tests/test_ptx.py compiles
for sm_80 and sm_90 and what docs/kernels.md reports.

A family registers by being named in KERNEL_MODULES and defining, at module level, either
`PTX_SIGNATURES` (a list of (name, pyfunc, signature[, options]) or a dict
name -> (pyfunc, signature[, options])) or `ptx_signatures()` returning such a list (for families
whose kernels are built by factories).  `options` is the dict of cuda.jit options the launcher
compiles with (e.g. {"launch_bounds": (256, 2)}), since they change register allocation.
Adding a family = one line below.
"""
from __future__ import annotations

import importlib

KERNEL_MODULES = [
    "minidl.cuda.kernels.elementwise",
    "minidl.cuda.kernels.movement",
    "minidl.cuda.kernels.reduce",
    "minidl.cuda.kernels.matmul",
    "minidl.cuda.kernels.random",
    "minidl.cuda.kernels.optim",
    "minidl.cuda.kernels.conv",
    "minidl.cuda.kernels.checks",
    "minidl.cuda.kernels.loss",  # fused cross-entropy
    "minidl.cuda.kernels.pool", "minidl.cuda.kernels.lrn", "minidl.cuda.kernels.softmax", "minidl.cuda.kernels.dropout",  # noqa: E501
]


def _entries(mod) -> list:
    src = getattr(mod, "ptx_signatures", None)
    src = src() if callable(src) else getattr(mod, "PTX_SIGNATURES")
    if isinstance(src, dict):
        src = [(name, *rest) for name, rest in src.items()]
    return [tuple(e) if len(e) == 4 else (*e, {}) for e in src]


def kernels(modules=None) -> list[tuple]:
    """[(name, pyfunc, signature, options)] over the kernel modules; names without a "[...]"
    specialisation get their family as prefix ("_sgd_kernel" -> "optim._sgd_kernel")."""
    out = []
    for modname in modules or KERNEL_MODULES:
        mod = importlib.import_module(modname)
        family = modname.rsplit(".", 1)[-1]
        for name, pyfunc, sig, options in _entries(mod):
            out.append((name if "[" in name else f"{family}.{name}", pyfunc, sig, options))
    return out
