"""docs/api.md is generated from the code by docs/gen_api.py: these tests fail when it is out of
date or when a public name has no docstring (the fix for both: write the docstring, then run
`.venv/bin/python docs/gen_api.py`).  The generator runs in-process and never imports numba.cuda,
so this belongs to the CPU tier."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gen_api():
    spec = importlib.util.spec_from_file_location("minidl_docs_gen_api",
                                                  ROOT / "docs" / "gen_api.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while the class is created
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def generated(gen_api):
    """(markdown, entries)."""
    return gen_api.build()


def test_api_md_is_up_to_date(gen_api, generated):
    text, _ = generated
    current = gen_api.API_MD.read_text(encoding="utf-8") if gen_api.API_MD.exists() else ""
    problems = gen_api.stale(current, text)
    assert not problems, (
        f"docs/api.md is out of date ({len(problems)} entries); run "
        "`.venv/bin/python docs/gen_api.py` and commit the result:\n  "
        + "\n  ".join(problems[:60]))


def test_every_public_name_has_a_docstring(gen_api, generated):
    _, entries = generated
    missing = gen_api.undocumented(entries)
    assert not missing, ("public names without a docstring (write one; shapes where relevant):\n  "
                         + "\n  ".join(missing))


def test_reference_covers_the_main_names(generated):
    _, entries = generated
    names = {e.name for e in entries}
    for name in ("minidl.tensor", "minidl.Tensor.backward", "minidl.Tensor.shape",
                 "minidl.nn.Conv2d", "minidl.nn.Module.state_dict", "minidl.nn.functional.conv2d",
                 "minidl.optim.SGD",
                 "minidl.optim.lr_scheduler.StepLR", "minidl.data.DataLoader", "minidl.io.save",
                 "minidl.testing.gradcheck", "minidl.cuda.is_available", "minidl.train.fit"):
        assert name in names, name


def test_output_is_deterministic(gen_api, generated):
    text, _ = generated
    assert " at 0x" not in text and "<function " not in text and "<object " not in text
    assert gen_api._value_text({"b", "a", "c"}) == "{'a', 'b', 'c'}"
    assert "0x" not in gen_api._value_text(object())
    assert gen_api._value_text(len) == "len"


def test_generating_does_not_import_numba_cuda():
    # in a fresh process: other tests of this worker may have imported numba.cuda already
    gen = str(ROOT / "docs" / "gen_api.py")
    probe = ("import sys, importlib.util\n"
             f"spec = importlib.util.spec_from_file_location('g', {gen!r})\n"
             "m = importlib.util.module_from_spec(spec); sys.modules['g'] = m\n"
             "spec.loader.exec_module(m); m.build()\n"
             "print('numba.cuda' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"
