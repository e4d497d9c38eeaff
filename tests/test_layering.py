"""The house's import rules (docs/architecture.md): minidl.cuda never imports minidl.backend.cpu,
the CPU backend never imports minidl.cuda, and minidl.backend.shared imports neither (nor numba).

Checked twice: statically over every import statement of the source files (relative imports
resolved), and in fresh interpreters, where loading one backend must not load the other."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import minidl

PKG = Path(minidl.__file__).resolve().parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Absolute names of every module `path` imports (any scope; `from a import b` counts both
    a and a.b, since b may be a submodule)."""
    mod = _module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return found


def _violations(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    bad = []
    for path in sorted((PKG / folder).rglob("*.py")):
        for name in sorted(imports_of(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                bad.append(f"{path.relative_to(PKG.parent)} imports {name}")
    return bad


def test_imports_of_resolves_relative_imports():
    # the checker itself: a relative import three levels up from a nested package
    src = PKG / "cuda" / "kernels" / "pool.py"
    names = imports_of(src)
    assert "minidl.backend.shared.geometry" in names
    assert "numba.cuda" in names or "numba" in names


def test_cuda_never_imports_the_cpu_backend():
    assert not _violations("cuda", ("minidl.backend.cpu",))


def test_cpu_backend_never_imports_cuda():
    assert not _violations("backend/cpu", ("minidl.cuda", "numba.cuda"))


def test_shared_math_imports_no_backend_and_no_numba():
    assert not _violations("backend/shared",
                           ("minidl.backend.cpu", "minidl.cuda", "numba", "minidl.tensor"))


def _fresh(code: str, **env) -> str:
    full = {**os.environ, **env}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full,
                         cwd=str(PKG.parent), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout.strip().splitlines()[-1]


def test_cpu_backend_loads_without_cuda_in_a_fresh_interpreter():
    code = ("import sys, minidl, minidl.nn.functional as F\n"
            "import minidl.backend.cpu\n"
            "x = minidl.randn(1, 2, 5, 5, requires_grad=True)\n"
            "y = F.dropout(F.avg_pool2d(x, 2), 0.5)\n"
            "minidl.optim.Adam([x]).zero_grad(); y.sum().backward()\n"
            "print(sorted(m for m in sys.modules if m.startswith(('minidl.cuda', 'numba.cuda'))))")
    assert _fresh(code) == "[]"


def test_cuda_backend_loads_without_the_cpu_backend_in_a_fresh_interpreter():
    pytest.importorskip("numba.cuda")
    code = ("import pkgutil, importlib, sys\n"
            "import minidl.cuda.backend, minidl.cuda.kernels, minidl.cuda.inventory\n"
            "for m in pkgutil.iter_modules(minidl.cuda.kernels.__path__):\n"
            "    importlib.import_module('minidl.cuda.kernels.' + m.name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('minidl.backend.cpu')))")
    assert _fresh(code, NUMBA_ENABLE_CUDASIM="1") == "[]"


# ---- the op boundary (docs/architecture.md, "How one op runs") ---------------------------------
# tensor-level: a view's output shares its input's storage record; ToDevice crosses devices
VIEW_FUNCTIONS = {"Reshape", "AsStrided", "Expand", "ToDevice"}


def _ops_files():
    return sorted((PKG / "ops").glob("*.py"))


def test_ops_import_nothing_inside_functions():
    bad = []
    for path in _ops_files():
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        bad.append(f"{path.name}:{node.lineno} in {fn.name}()")
    assert not bad, "function-level imports in minidl.ops (import at module level): " + str(bad)


def test_every_primitive_is_an_op():
    """minidl's primitives subclass autograd.Op (forward on arrays, Op.apply wraps); only the
    view ops stay tensor-level Functions, and nothing in ops defines its own wrapping helper."""
    functions, wrappers = [], []
    for path in _ops_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", None)) for b in node.bases}
                if "Function" in bases and node.name not in VIEW_FUNCTIONS:
                    functions.append(f"{path.name}:{node.name}")
            if isinstance(node, ast.FunctionDef) and node.name == "_wrap":
                wrappers.append(f"{path.name}:{node.lineno}")
    assert not functions, f"ops subclassing Function instead of Op: {functions}"
    assert not wrappers, f"_wrap helpers in minidl.ops (Op.apply wraps): {wrappers}"


def test_activations_are_exported_from_one_file():
    """nn/activation.py is the one place an activation's F. form and module are written."""
    from minidl import nn
    from minidl.nn import activation, functional

    assert activation.FUNCTIONAL and activation.__all__
    for name in activation.FUNCTIONAL:
        assert getattr(functional, name) is getattr(activation, name), name
    for name in activation.__all__:
        assert name in nn.__all__ and getattr(nn, name) is getattr(activation, name), name
