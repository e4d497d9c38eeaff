"""Shared pytest setup: the `cuda` and `ptx` markers, a deterministic hypothesis profile, the
`shared_data` path and the `cuda_device` fixture (skips when CUDA is unavailable).

Nothing here imports numba.cuda at import time: the CPU tier must not load it."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI must be deterministic: derandomize gives the same examples on every run and every machine;
# no example database is written.  HYPOTHESIS_PROFILE=dev explores more (random) examples.
settings.register_profile(
    "ci", max_examples=20, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much])
settings.register_profile("dev", max_examples=100, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "cuda: needs minidl's CUDA backend (a GPU, or NUMBA_ENABLE_CUDASIM=1); run in "
        "its own pytest process")
    config.addinivalue_line(
        "markers", "ptx: compiles CUDA kernels to PTX with numba.cuda.compile_ptx; run WITHOUT "
        "the simulator")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """/work/shared/data: the repository root's parent / "shared" / "data"."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def cuda_device() -> str:
    """"cuda", or skip the test (with the reason) when minidl.cuda.is_available() is False."""
    import minidl

    if not minidl.cuda.is_available():
        pytest.skip("CUDA is not available (no GPU; set NUMBA_ENABLE_CUDASIM=1 for the simulator)")
    return "cuda"
