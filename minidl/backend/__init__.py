"""Backends: the contract (contract.py), the scalar math shared by all devices (scalar.py,
counter_rng.py), and the CPU implementation (cpu/).  The CUDA one lives in minidl.cuda."""
