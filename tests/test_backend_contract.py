"""Every backend implements every primitive of the contract (minidl/backend/contract.py)."""
import inspect

import pytest

from minidl.backend import contract


def _check(backend):
    missing = [n for n in contract.primitive_names() if not callable(getattr(backend, n, None))]
    assert not missing, f"{backend.__name__} lacks contract primitives: {missing}"
    for n in contract.primitive_names():
        want = list(inspect.signature(getattr(contract.Backend, n)).parameters)[1:]
        have = list(inspect.signature(getattr(backend, n)).parameters)
        assert have[:len(want)] == want, (
            f"{backend.__name__}.{n}{have} differs from contract {want}")


def test_contract_is_not_empty():
    names = contract.primitive_names()
    assert {"map", "reduce", "matmul", "strided_copy", "take", "index_add"} <= set(names)


def test_cpu_backend_implements_contract():
    from minidl.backend import cpu
    _check(cpu)


@pytest.mark.cuda
def test_cuda_backend_implements_contract():
    import minidl
    if not minidl.cuda.is_available():
        pytest.skip("no CUDA device or simulator")
    from minidl.cuda import backend
    _check(backend)


def test_import_minidl_does_not_import_numba_cuda():
    import subprocess
    import sys
    code = ("import sys, minidl; x = minidl.randn(3, requires_grad=True); "
            "(x * x).sum().backward(); "
            "assert 'numba.cuda' not in sys.modules, 'numba.cuda imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
