"""Backends: the contract (contract.py), the device-neutral math every backend imports (shared/:
scalar functions, counter RNG, dropout keep rule, optimizer update rules, pool geometry), and the
CPU implementation (cpu/).  The CUDA one lives in minidl.cuda, which never imports cpu/ (nor cpu/
minidl.cuda): tests/test_layering.py checks it."""
