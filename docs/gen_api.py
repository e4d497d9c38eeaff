"""Generate docs/api.md, the API reference: every public name of minidl, its signature and the
first paragraph of its docstring, grouped by module.

    .venv/bin/python docs/gen_api.py           # rewrite docs/api.md
    .venv/bin/python docs/gen_api.py --check   # exit 1 (naming the entries) if it is out of date

Public names: a module's `__all__`; without one, the names the module defines itself (def, class,
assignment) plus imports marked as re-exports with `# noqa: F401`.  Classes list their own public
methods and properties, except overrides of a documented base method (`forward`, `step`, ...),
which the base documents.  Constants take the string literal that follows their assignment (an
attribute docstring).  Importing the modules never imports numba.cuda (minidl.cuda defers it),
so this runs in the CPU test process; nothing here calls into a backend.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import functools
import importlib
import inspect
import re
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
API_MD = ROOT / "docs" / "api.md"

# (module, one-line summary) in the order of the reference; "minidl.Tensor" is the class
SECTIONS = [
    ("minidl", "tensor creation, math, grad mode, RNG, dtypes, save/load"),
    ("minidl.Tensor", "the n-dimensional array with autograd"),
    ("minidl.autograd", "custom Functions, backward, grad, grad mode"),
    ("minidl.dtypes", "the four dtypes and type promotion"),
    ("minidl.random", "the global generator and seeding"),
    ("minidl.errors", "minidl's error classes"),
    ("minidl.nn", "Module, Parameter, layers, losses"),
    ("minidl.nn.functional", "the functional form of layers"),
    ("minidl.nn.init", "parameter initialisation"),
    ("minidl.nn.utils", "gradient clipping, parameter vectors"),
    ("minidl.optim", "optimizers"),
    ("minidl.optim.lr_scheduler", "learning-rate schedules"),
    ("minidl.data", "datasets, samplers, DataLoader"),
    ("minidl.data.transforms", "image transforms on numpy arrays"),
    ("minidl.data.datasets", "MNIST, CIFAR, image folders, HDF5, the built-in digits"),
    ("minidl.data.rng", "per-worker random streams for transforms"),
    ("minidl.io", "checkpoints: save / load"),
    ("minidl.testing", "gradcheck, assert_close"),
    ("minidl.testing.strategies", "hypothesis strategies for tensors and shapes"),
    ("minidl.testing.opinfo", "the op table the test suite is generated from"),
    ("minidl.models", "LeNet-5, AlexNet, the CIFAR convnet"),
    ("minidl.models.recipes", "per-model training defaults, data loading, optimizers"),
    ("minidl.data.recipes", "data-set detection and conforming for the CLI"),
    ("minidl.train", "the training loop behind `minidl train`"),
    ("minidl.distributed", "data-parallel training over MPI"),
    ("minidl.cuda", "is CUDA (or the simulator) usable"),
]

_EMPTY = inspect.Parameter.empty


@dataclasses.dataclass
class Entry:
    name: str        # full public name, e.g. "minidl.nn.Linear" or "minidl.Tensor.add"
    kind: str        # "function", "class", "method", "property", "constant", "module", "alias"
    signature: str   # "(x, dim=0)", "" when there is none
    doc: str         # first paragraph of the docstring, on one line
    note: str = ""   # "Subclass of ...", "Alias of ...", "Methods: see ..."
    members: list = dataclasses.field(default_factory=list)


# ---------------------------------------------------------------- rendering signatures

class _Raw:
    """Renders as the given text inside an inspect.Signature."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _value_text(v, depth: int = 0) -> str:
    """A default value as code a reader would write; never a memory address."""
    if isinstance(v, (types.FunctionType, types.BuiltinFunctionType, types.MethodType, type)):
        return getattr(v, "__qualname__", getattr(v, "__name__", type(v).__name__))
    if isinstance(v, types.ModuleType):
        return v.__name__
    if isinstance(v, enum.Enum):
        return f"{type(v).__name__}.{v.name}"
    if depth < 3:
        if isinstance(v, tuple):
            items = [_value_text(x, depth + 1) for x in v]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if isinstance(v, list):
            return "[" + ", ".join(_value_text(x, depth + 1) for x in v) + "]"
        if isinstance(v, (set, frozenset)):  # set order depends on hash seeds
            return "{" + ", ".join(sorted(_value_text(x, depth + 1) for x in v)) + "}"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{_value_text(k, depth + 1)}: {_value_text(x, depth + 1)}"
                                   for k, x in v.items()) + "}"
    text = repr(v)
    if re.search(r"0x[0-9a-fA-F]{4,}", text) or (text.startswith("<") and text.endswith(">")):
        return f"{type(v).__name__}()"
    return text


def _annotation_text(a) -> str:
    if isinstance(a, str):
        # a quoted annotation under `from __future__ import annotations` is a string of a string
        if len(a) > 1 and a[0] == a[-1] and a[0] in "'\"":
            return a[1:-1]
        return a
    return inspect.formatannotation(a)


def signature_text(obj, drop_first: bool = False) -> str:
    """"(a, b=1) -> T" with readable defaults and annotations; "" when there is none."""
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return ""
    params = list(sig.parameters.values())
    if drop_first and params and params[0].kind in (params[0].POSITIONAL_ONLY,
                                                    params[0].POSITIONAL_OR_KEYWORD):
        params = params[1:]
    factories = {}  # a dataclass field's default_factory shows as "<factory>" otherwise
    if inspect.isclass(obj) and dataclasses.is_dataclass(obj):
        factories = {f.name: f"{_value_text(f.default_factory)}()" for f in dataclasses.fields(obj)
                     if f.default_factory is not dataclasses.MISSING}
    new = []
    for p in params:
        kw = {}
        if p.name in factories:
            kw["default"] = _Raw(factories[p.name])
        elif p.default is not _EMPTY:
            kw["default"] = _Raw(_value_text(p.default))
        if p.annotation is not _EMPTY:
            kw["annotation"] = _Raw(_annotation_text(p.annotation))
        new.append(p.replace(**kw))
    ret = sig.return_annotation
    ret = _EMPTY if ret is _EMPTY or inspect.isclass(obj) else _Raw(_annotation_text(ret))
    return str(sig.replace(parameters=new, return_annotation=ret))


# ---------------------------------------------------------------- docstrings

def first_paragraph(doc: str | None) -> str:
    if not doc:
        return ""
    doc = inspect.cleandoc(doc).strip()
    para = re.split(r"\n\s*\n", doc, maxsplit=1)[0]
    return " ".join(line.strip() for line in para.splitlines()).strip()


def own_doc(obj) -> str:
    """The object's own docstring: no inheritance from a base class (inspect.getdoc's
    fallback would hide a missing one)."""
    if isinstance(obj, property):
        return first_paragraph(obj.__doc__ or (obj.fget.__doc__ if obj.fget else None))
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return first_paragraph(doc if isinstance(doc, str) else None)


_SOURCE_CACHE: dict[str, ast.Module | None] = {}


def _module_ast(modname: str) -> ast.Module | None:
    if modname not in _SOURCE_CACHE:
        mod = sys.modules.get(modname) or importlib.import_module(modname)
        path = getattr(mod, "__file__", None)
        _SOURCE_CACHE[modname] = (ast.parse(Path(path).read_text(encoding="utf-8"))
                                  if path and path.endswith(".py") else None)
    return _SOURCE_CACHE[modname]


def _top_statements(tree: ast.Module):
    """Module-level statements, looking into top-level if/try blocks."""
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try)):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", [])):
                yield from block
            for h in getattr(node, "handlers", []):
                yield from h.body
        else:
            yield node


def _assigned_names(node) -> list[str]:
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def attribute_doc(modname: str, name: str, depth: int = 0) -> str:
    """The string literal after `name = ...` in the module's source (following `from .x import
    name` re-exports), as Sphinx reads attribute docstrings."""
    tree = _module_ast(modname)
    if tree is None or depth > 5:
        return ""
    body = list(_top_statements(tree))
    for i, node in enumerate(body):
        if name in _assigned_names(node):
            nxt = body[i + 1] if i + 1 < len(body) else None
            if (isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)):
                return first_paragraph(nxt.value.value)
        if isinstance(node, ast.ImportFrom) and node.level:
            for a in node.names:
                if (a.asname or a.name) == name:
                    pkg = modname if _is_package(modname) else modname.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    src = f"{pkg}.{node.module}" if node.module else f"{pkg}.{a.name}"
                    return attribute_doc(src, a.name, depth + 1)
    return ""


def _is_package(modname: str) -> bool:
    return hasattr(sys.modules[modname], "__path__")


# ---------------------------------------------------------------- which names are public

def _reexport_lines(src: str) -> set[int]:
    return {i for i, line in enumerate(src.splitlines(), 1) if "noqa: F401" in line}


def public_names(mod: types.ModuleType) -> list[str]:
    """`__all__`, else the module's own definitions and its marked re-exports, in source order."""
    if hasattr(mod, "__all__"):
        return list(mod.__all__)
    tree = _module_ast(mod.__name__)
    src = Path(mod.__file__).read_text(encoding="utf-8")
    marked = _reexport_lines(src)
    package = _is_package(mod.__name__)
    names: list[str] = []
    for node in _top_statements(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found = [node.name]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            # a package's namespace is what it imports; a module re-exports what it marks
            relative = isinstance(node, ast.ImportFrom) and node.level > 0
            if not (package and relative) and not (
                    set(range(node.lineno, (node.end_lineno or node.lineno) + 1)) & marked):
                continue
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                continue
            found = [a.asname or a.name.split(".")[0] for a in node.names]
        else:
            found = _assigned_names(node)
        for n in found:
            if not n.startswith("_") and n not in names and hasattr(mod, n):
                names.append(n)
    return names


# ---------------------------------------------------------------- building entries

class Builder:
    def __init__(self):
        self.home: dict[int, str] = {}   # id(object) -> full name where it is documented
        self.docs: dict[str, str] = {}   # full name -> its description

    def function(self, full: str, obj) -> Entry:
        return Entry(full, "function", signature_text(obj), own_doc(obj))

    def constant(self, full: str, modname: str, name: str, obj) -> Entry:
        value = _value_text(obj)
        if value in (full, f"minidl.{name}"):  # a dtype's repr is its name
            sig = ""
        else:
            sig = f" = {value}" if len(value) <= 60 else f": {type(obj).__name__}"
        return Entry(full, "constant", sig, attribute_doc(modname, name))

    def cls(self, full: str, obj: type, members: bool = True) -> Entry:
        bases = [b for b in obj.__bases__ if b is not object and b.__module__ != "typing"
                 and not b.__name__.startswith("_")]
        # a private base (e.g. _Loss) stands for its first public ancestor
        for b in obj.__bases__:
            if b.__name__.startswith("_"):
                bases += [a for a in b.__mro__[1:] if a is not object
                          and not a.__name__.startswith("_")][:1]
        note = ""
        if bases:
            names = [f"[`{self.home[id(b)]}`](#{self.home[id(b)]})" if id(b) in self.home
                     else f"`{b.__qualname__}`" for b in bases]
            note = "Subclass of " + ", ".join(names) + "."
        sig = signature_text(obj)
        e = Entry(full, "class", sig, own_doc(obj), note)
        if members:
            e.members = self.class_members(full, obj)
        return e

    def class_members(self, full: str, obj: type) -> list[Entry]:
        # members of private bases (_Loss, _BatchNorm, ...) are documented on each public subclass
        own = [obj]
        for base in obj.__mro__[1:]:
            if base is object or not base.__name__.startswith("_"):
                break
            own.append(base)
        bases = [b for b in obj.__mro__[1:] if b not in own and b is not object]
        out, seen = [], set()
        for name, raw in [(n, r) for c in own for n, r in c.__dict__.items()]:
            if name.startswith("_") or name in seen:
                continue
            seen.add(name)
            if any(name in b.__dict__ for b in bases):  # an override: the base documents it
                continue
            mfull = f"{full}.{name}"
            if isinstance(raw, property):
                out.append(Entry(mfull, "property", "", own_doc(raw),
                                 "settable" if raw.fset is not None else ""))
                continue
            if isinstance(raw, (staticmethod, classmethod)):
                fn = raw.__func__
                out.append(self._method(mfull, name, fn, getattr(obj, name), False))
                continue
            if inspect.isfunction(raw):
                out.append(self._method(mfull, name, raw, raw, True))
                continue
            # nested classes, __slots__ fields and class constants are not listed
        return out

    def _method(self, mfull: str, name: str, fn, sig_obj, drop_first: bool) -> Entry:
        if fn.__name__ != name:  # `clip = clamp`
            return Entry(mfull, "alias", signature_text(sig_obj, drop_first), own_doc(fn),
                         f"Alias of `{fn.__name__}`.")
        return Entry(mfull, "method", signature_text(sig_obj, drop_first), own_doc(fn))

    def module_entries(self, modname: str) -> list[Entry]:
        mod = importlib.import_module(modname)
        documented = {m for m, _ in SECTIONS}
        out = []
        for name in public_names(mod):
            obj = getattr(mod, name)
            full = f"{modname}.{name}"
            if isinstance(obj, types.ModuleType):
                where = (f"See [{obj.__name__}](#{anchor(obj.__name__)})."
                         if obj.__name__ in documented else "")
                out.append(Entry(full, "module", "", first_paragraph(obj.__doc__), where))
                continue
            home = self.home.get(id(obj))
            if home is not None and (inspect.isclass(obj) or inspect.isroutine(obj)):
                e = Entry(full, "alias", "", self.docs.get(home, ""),
                          f"Same object as [`{home}`](#{home}).")
                out.append(e)
                continue
            if inspect.isclass(obj):
                if obj.__module__ == "minidl.tensor" and obj.__name__ == "Tensor":
                    e = self.cls(full, obj, members=False)
                    e.note = (e.note + " " if e.note else "") + \
                        "Methods and properties: [minidl.Tensor](#minidltensor)."
                else:
                    e = self.cls(full, obj)
            elif inspect.isroutine(obj) or isinstance(obj, functools.partial):
                e = self.function(full, obj)
            else:
                e = self.constant(full, modname, name, obj)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                self.home.setdefault(id(obj), full)
            self.docs[full] = e.doc
            out.append(e)
        return out

    def tensor_entries(self) -> list[Entry]:
        import minidl

        e = self.cls("minidl.Tensor", minidl.Tensor)
        return e.members


def anchor(name: str) -> str:
    """GitHub's anchor for the heading `## name` (module sections)."""
    return re.sub(r"[^a-z0-9 _-]", "", name.lower()).replace(" ", "-")


# ---------------------------------------------------------------- markdown

MARK = '<a id="{}"></a>'
MARK_RE = re.compile(r'<a id="([^"]+)"></a>')

HEADER = """# API reference

Every public name of minidl: its signature and the first paragraph of its docstring (the source
has the rest). Generated by `docs/gen_api.py` from the code; do not edit by hand:
`.venv/bin/python docs/gen_api.py` rewrites it and `tests/test_docs_api.py` fails when it is out
of date or a public name has no docstring. Shapes are written `[N, C, H, W]`. For the ideas
behind the names start with [architecture.md](architecture.md).
"""


def _entry_md(e: Entry, module: str) -> list[str]:
    short = e.name[len(module) + 1:] if e.name.startswith(module + ".") else e.name
    lines = [f"### {MARK.format(e.name)}`{short}`", ""]
    prefix = {"class": "class ", "module": "module "}.get(e.kind, "")
    code = f"{prefix}{e.name}{e.signature}"
    lines += [f"`{code}`", ""]
    text = " ".join(x for x in (_md_text(e.doc), e.note) if x)
    if text:
        lines += [text, ""]
    if e.members:
        lines += [_member_md(m) for m in e.members] + [""]
    return lines


def _member_md(m: Entry) -> str:
    name = m.name.rpartition(".")[2]
    if m.kind == "property":
        head = f"`{name}` (property{', settable' if m.note else ''})"
        text = _md_text(m.doc)
    else:
        head = f"`{name}{m.signature}`"
        text = " ".join(x for x in (_md_text(m.doc), m.note) if x)
    return f"- {MARK.format(m.name)}{head}: {text}" if text else f"- {MARK.format(m.name)}{head}"


def _md_text(text: str) -> str:
    """Docstring text as markdown: outside code spans, `<name>` would be taken for an HTML tag
    and `*args` or `__init__` for emphasis."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):
        t = re.sub(r"<(?=[A-Za-z/!?])", "&lt;", parts[i])
        parts[i] = re.sub(r"(?<![A-Za-z0-9])_", r"\_", t.replace("*", r"\*"))
    return "`".join(parts)


def build() -> tuple[str, list[Entry]]:
    """The markdown of docs/api.md and every entry (members included)."""
    b = Builder()
    sections = []
    # Tensor first, so later re-exports of it point here
    import minidl

    tensor_members = b.tensor_entries()
    for modname, _summary in SECTIONS:
        if modname == "minidl.Tensor":
            sections.append((modname, tensor_members))
        else:
            sections.append((modname, b.module_entries(modname)))
        if modname == "minidl":
            b.home[id(minidl.Tensor)] = "minidl.Tensor"
    out = [HEADER, "## Contents", ""]
    for (modname, summary), (_, entries) in zip(SECTIONS, sections):
        out.append(f"- [{modname}](#{anchor(modname)}): {summary} ({len(entries)})")
    out.append("")
    all_entries: list[Entry] = []
    for (modname, summary), (_, entries) in zip(SECTIONS, sections):
        out += [f"## {modname}", ""]
        if modname == "minidl.Tensor":
            out += ["`class minidl.Tensor`", "",
                    _md_text(first_paragraph(minidl.Tensor.__doc__)) + " Create tensors with "
                    "`minidl.tensor`, `minidl.zeros`, `minidl.randn`, ... (the constructor raises "
                    "TypeError).", ""]
            out += [_member_md(m) for m in entries] + [""]
            all_entries += entries
            continue
        mod = sys.modules[modname]
        intro = _md_text(first_paragraph(mod.__doc__))
        if intro:
            out += [intro, ""]
        lazy = lazy_submodules(modname)
        if lazy:
            out += ["Submodules loaded on first attribute access: " + ", ".join(
                f"[`{modname}.{n}`](#{anchor(f'{modname}.{n}')})" for n in lazy) + ".", ""]
        for e in entries:
            out += _entry_md(e, modname)
            all_entries.append(e)
            all_entries += e.members
    text = "\n".join(out).rstrip() + "\n"
    return text, all_entries


def lazy_submodules(modname: str) -> list[str]:
    """The names a package's module-level `__getattr__` imports on demand (`if name in (...)`)."""
    tree = _module_ast(modname)
    names: list[str] = []
    for node in tree.body if tree else []:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Compare) and isinstance(sub.ops[0], (ast.In, ast.Eq))
                        and isinstance(sub.left, ast.Name) and sub.left.id == "name"):
                    for c in ast.walk(sub.comparators[0]):
                        if isinstance(c, ast.Constant) and isinstance(c.value, str):
                            names.append(c.value)
    return sorted(set(names))


def undocumented(entries: list[Entry]) -> list[str]:
    """Entries with an empty description (modules and aliases carry their target's)."""
    return [e.name for e in entries if not e.doc and e.kind not in ("module",)
            and not (e.kind == "alias" and e.note)]


def _blocks(text: str) -> dict[str, str]:
    """Entry name -> its markdown, split at the entry markers."""
    out = {}
    parts = MARK_RE.split(text)
    for i in range(1, len(parts), 2):
        body = parts[i + 1].split("\n## ", 1)[0].rstrip()
        body = body.removesuffix("###").rstrip().removesuffix("-").rstrip()
        out[parts[i]] = body
    return out


def stale(current: str, wanted: str) -> list[str]:
    """What differs between the file and the generated text, by entry name."""
    have, want = _blocks(current), _blocks(wanted)
    problems = [f"missing: {n}" for n in want if n not in have]
    problems += [f"outdated: {n}" for n in want if n in have and have[n] != want[n]]
    problems += [f"no longer public: {n}" for n in have if n not in want]
    if not problems and current != wanted:
        problems.append("outdated: headings, contents or intro text")
    return problems


def check(path: Path = API_MD) -> tuple[list[str], list[str]]:
    """(stale entries, undocumented names); both empty when docs/api.md is up to date."""
    wanted, entries = build()
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    return stale(current, wanted), undocumented(entries)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if docs/api.md is out of date")
    args = p.parse_args(argv)
    if args.check:
        problems, missing = check()
        for line in problems:
            print(f"docs/api.md {line}")
        for name in missing:
            print(f"no docstring: {name}")
        if problems:
            print("run: .venv/bin/python docs/gen_api.py")
        return 1 if problems or missing else 0
    text, entries = build()
    API_MD.write_text(text, encoding="utf-8")
    missing = undocumented(entries)
    print(f"wrote {API_MD.relative_to(ROOT)}: {len(entries)} entries, "
          f"{len(missing)} without a docstring")
    for name in missing:
        print(f"no docstring: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
