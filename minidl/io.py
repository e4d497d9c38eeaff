"""Checkpoints: `save(obj, path)` / `load(path, map_location=None)` in HDF5 (h5py), atomic.

What can be saved: nested dicts (keys: str, int, float, bool or None, order kept), lists and
tuples of minidl Tensors (and Parameters), numpy arrays (numeric or bool), numpy scalars, Python
bool / int (any size) / float / complex / str / bytes / None. That covers the state_dicts of
models, optimizers, schedulers and DataLoaders, epochs and RNG states (minidl's generator state,
numpy `bit_generator.state`, Python's `random.getstate()`).

Layout (format version 2), readable with plain h5py (docs/checkpoints.md has the full spec):
- the first 512 bytes are an HDF5 user block holding the header "minidl-checkpoint 2\n" +
  "sha256 <hex of every byte after the header>\n", NUL-padded: `load` verifies it before HDF5
  parses anything (a corrupt HDF5 structure can hang the HDF5 library).
- root attrs: `minidl_format` = "minidl-checkpoint", `format_version` = 1, and the root is the
  top-level container (a non-container object is stored as the entry "value" of a root of
  `__type__` "value").
- a container (dict / list / tuple) is a group with attrs `__type__` ("dict", "ordereddict",
  "list", "tuple"), `__keys__` (dicts: JSON list of the keys, in order) or `__len__` (sequences),
  and `__scalars__` (JSON {entry name: type code} of the entries stored as attributes).
- entry names: a dict's str key itself when it is a valid, unreserved HDF5 name (no "/", not
  ".", not starting with "__"), an int key's decimal string; otherwise "__k<i>" (i = position).
  List / tuple items are named "0", "1", ...
- arrays and tensors are datasets with attr `__type__` "ndarray" or "tensor" (+ `dtype`, `device`,
  `requires_grad`, `parameter`); long lists / tuples of plain ints or floats are one dataset of
  `__type__` "list[int]", "tuple[float]", ...
- scalars are attributes of their container (ints beyond int64 as decimal strings; bytes, and
  strs that HDF5 strings cannot hold (NUL, lone surrogates), as uint8 vectors of UTF-8).
- every group and dataset has an attribute `__sha256__`: the checksum of its path, its other
  attributes and (datasets) its data; `load` verifies all of them (format 1 files have none and
  load unverified, with a warning).

Crash safety: the file is written to `<name>.tmp-<pid>-<random>` in the same directory, flushed,
fsynced, renamed over the target with os.replace, and the directory is fsynced; temp files of
that path left by dead processes are removed on the next save; a path that is a symlink is
written through to its target (the link stays a link). `load` never unpickles and reads only
what `save` writes: a truncated, corrupt, modified or foreign file (links, external or virtual
storage, other layouts or types, sizes beyond the file's) raises
`minidl.errors.CheckpointError` naming the path and the reason, before any data is read.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import secrets
import signal
import threading
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import CheckpointError, DeviceError

__all__ = ["save", "load", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "minidl-checkpoint"
"""The `minidl_format` attribute of every checkpoint's root."""
FORMAT_VERSION = 2
"""The checkpoint format version this minidl writes (and the newest it reads; 1 has no
checksums)."""
_DIGEST = "__sha256__"
_HEADER_SIZE = 512  # an HDF5 user block: h5py skips it, minidl keeps the file checksum there
_MAGIC = b"minidl-checkpoint "
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ARRAY_DTYPES = frozenset(np.dtype(t).name for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float16, np.float32, np.float64, np.complex64, np.complex128))
_SEQ_MIN = 16  # lists/tuples of >= this many plain ints/floats become one dataset
_INT64 = (-(1 << 63), (1 << 63) - 1)

# test hook: called with "dataset" (after each array), "written", "synced", "replaced" during
# save (the SIGKILL test uses it)
_phase_hook: Callable[[str], None] | None = None
_active_temps: set[str] = set()
_active_lock = threading.Lock()


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise ImportError("minidl.save/load need h5py: pip install h5py") from e
    return h5py


def _tensor_cls():
    from .tensor import Tensor
    return Tensor


# ---------------------------------------------------------------- checksums

def _attr_bytes(value) -> bytes:
    """An attribute value, as h5py reads it, in an unambiguous byte form."""
    if isinstance(value, str):
        return b"U" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes):
        return b"S" + value
    a = np.asarray(value)
    if a.dtype.kind == "O":
        raise TypeError(f"attribute of object type {type(value).__name__}")
    return b"A" + f"{a.dtype.str}{a.shape}|".encode() + a.tobytes()


def _digest(path: str, attrs: dict, data: np.ndarray | None = None) -> str:
    """sha256 (hex) of an object's HDF5 path, its attributes but `__sha256__` (sorted by name,
    values as h5py reads them) and, for a dataset, the dtype, shape and C-order bytes of its
    data: a flipped bit anywhere that changes a loaded value changes this."""
    h = hashlib.sha256()

    def field(b: bytes) -> None:
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)

    field(path.encode("utf-8", "surrogatepass"))
    for name in sorted(attrs):
        field(name.encode("utf-8", "surrogatepass"))
        field(_attr_bytes(attrs[name]))
    if data is not None:
        field(f"{data.dtype.str}{data.shape}".encode())
        data = data if data.flags.c_contiguous else data.copy()
        h.update(data.nbytes.to_bytes(8, "little"))
        h.update(data.reshape(-1).view(np.uint8) if data.size else b"")
    return h.hexdigest()


def _hash_tail(f) -> str:
    """sha256 (hex) of the binary file object `f` from byte _HEADER_SIZE to its end."""
    h = hashlib.sha256()
    f.seek(_HEADER_SIZE)
    while chunk := f.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


def _header(digest: str) -> bytes:
    text = _MAGIC + f"{FORMAT_VERSION}\nsha256 {digest}\n".encode()
    return text + b"\0" * (_HEADER_SIZE - len(text))


def _write_header(f) -> None:
    """Fill the user block of the closed checkpoint `f` (path or r+w file object)."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, "r+b") as fh:
            _write_header(fh)
        return
    header = _header(_hash_tail(f))
    f.seek(0)
    f.write(header)
    f.seek(0, os.SEEK_END)


def _seal(obj, data: np.ndarray | None = None) -> None:
    """Store `obj`'s checksum (after all its other attributes are written)."""
    attrs = {k: obj.attrs[k] for k in obj.attrs if k != _DIGEST}
    obj.attrs[_DIGEST] = _digest(obj.name, attrs, data)


# ---------------------------------------------------------------- writing

def _entry_name(key, i: int, used: set[str]) -> str:
    if isinstance(key, str):
        name = key
        ok = name not in ("", ".") and "/" not in name and not name.startswith("__")
    elif isinstance(key, int) and not isinstance(key, bool):
        name, ok = str(key), True
    else:
        name, ok = "", False
    if not ok or name in used:
        name = f"__k{i}"
    used.add(name)
    return name


def _check_key(key, where: str) -> None:
    if key is None or isinstance(key, (str, bool, int, float)):
        return
    raise TypeError(f"minidl.save: dict key {key!r} at '{where}' has type {type(key).__name__}; "
                    "keys must be str, int, float, bool or None")


def _homogeneous(seq) -> str | None:
    """'int' / 'float' if `seq` is a long run of plain ints (in int64) / floats, else None."""
    if len(seq) < _SEQ_MIN:
        return None
    if all(type(v) is int for v in seq):
        if all(_INT64[0] <= v <= _INT64[1] for v in seq):
            return "int"
        return None
    if all(type(v) is float for v in seq):
        return "float"
    return None


def _write_scalar(group, name: str, value, codes: dict, where: str) -> bool:
    """Store a scalar as an attribute; False if `value` is not a scalar."""
    if value is None:
        group.attrs[name] = ""
        codes[name] = "none"
    elif isinstance(value, bool):
        group.attrs[name] = np.bool_(value)
        codes[name] = "bool"
    elif isinstance(value, int):
        if _INT64[0] <= value <= _INT64[1]:
            group.attrs[name] = np.int64(value)
            codes[name] = "int"
        else:
            group.attrs[name] = str(value)
            codes[name] = "bigint"
    elif isinstance(value, float):
        group.attrs[name] = np.float64(value)
        codes[name] = "float"
    elif isinstance(value, complex):
        group.attrs[name] = np.complex128(value)
        codes[name] = "complex"
    elif isinstance(value, str):
        # HDF5 strings end at NUL and must be valid UTF-8: other strs become UTF-8 bytes
        try:
            value.encode("utf-8")
            plain = "\x00" not in value
        except UnicodeEncodeError:
            plain = False
        group.attrs[name] = value if plain else \
            np.frombuffer(value.encode("utf-8", "surrogatepass"), np.uint8)
        codes[name] = "str"
    elif isinstance(value, (bytes, bytearray)):
        group.attrs[name] = np.frombuffer(bytes(value), np.uint8)  # b"": HDF5 has no 0-size opaque
        codes[name] = "bytes"
    elif isinstance(value, np.generic):
        if value.dtype.name not in _ARRAY_DTYPES:
            raise TypeError(f"minidl.save: numpy scalar of dtype {value.dtype} at '{where}' is "
                            "not supported")
        group.attrs[name] = value
        codes[name] = f"np.{value.dtype.name}"
    else:
        return False
    return True


def _write_array(group, name: str, arr: np.ndarray, where: str, attrs: dict):
    """A contiguous, unfiltered dataset with `attrs`, sealed with its checksum."""
    if arr.dtype.name not in _ARRAY_DTYPES:
        raise TypeError(f"minidl.save: numpy array of dtype {arr.dtype} at '{where}' is not "
                        "supported (numeric and bool arrays only)")
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    # (not np.ascontiguousarray: it turns 0-d arrays into 1-d ones)
    arr = arr if arr.flags.c_contiguous else arr.copy()
    ds = group.create_dataset(name, data=arr)
    for k, v in attrs.items():
        ds.attrs[k] = v
    _seal(ds, arr)
    if _phase_hook is not None:
        _phase_hook("dataset")
    return ds


def _write_value(group, name: str, value, codes: dict, where: str) -> None:
    tensor_cls = _tensor_cls()
    if isinstance(value, tensor_cls):
        data = value.detach().cpu().numpy() if value.is_cuda else value.detach().numpy()
        _write_array(group, name, data, where, {
            "__type__": "tensor", "dtype": value.dtype.name, "device": str(value.device),
            "requires_grad": bool(value.requires_grad),
            "parameter": type(value).__name__ == "Parameter"})
    elif isinstance(value, np.ndarray):
        _write_array(group, name, value, where, {"__type__": "ndarray"})
    elif isinstance(value, (dict, list, tuple)):
        kind = _homogeneous(value) if isinstance(value, (list, tuple)) else None
        if kind is not None:
            seq_type = "tuple" if isinstance(value, tuple) else "list"
            dt = np.int64 if kind == "int" else np.float64
            _write_array(group, name, np.asarray(value, dtype=dt), where,
                         {"__type__": f"{seq_type}[{kind}]"})
        else:
            _write_container(group.create_group(name, track_order=True), value, where)
    elif not _write_scalar(group, name, value, codes, where):
        raise TypeError(f"minidl.save: cannot store an object of type {type(value).__name__} at "
                        f"'{where}' (supported: dict, list, tuple, Tensor, numpy array or "
                        "scalar, bool, int, float, complex, str, bytes, None)")


def _write_container(group, obj, where: str) -> None:
    codes: dict[str, str] = {}
    if isinstance(obj, dict):
        group.attrs["__type__"] = "ordereddict" if isinstance(obj, collections.OrderedDict) \
            else "dict"
        keys = list(obj.keys())
        for k in keys:
            _check_key(k, where)
        group.attrs["__keys__"] = json.dumps(keys)
        used: set[str] = set()
        for i, (k, v) in enumerate(obj.items()):
            name = _entry_name(k, i, used)
            _write_value(group, name, v, codes, f"{where}/{k}")
    else:
        group.attrs["__type__"] = "tuple" if isinstance(obj, tuple) else "list"
        group.attrs["__len__"] = len(obj)
        for i, v in enumerate(obj):
            _write_value(group, str(i), v, codes, f"{where}/{i}")
    group.attrs["__scalars__"] = json.dumps(codes)
    _seal(group)


def _write_file(h5, obj) -> None:
    h5.attrs["minidl_format"] = FORMAT_NAME
    h5.attrs["format_version"] = FORMAT_VERSION
    if isinstance(obj, (dict, list, tuple)):
        _write_container(h5, obj, "")
    else:
        codes: dict[str, str] = {}
        h5.attrs["__type__"] = "value"
        _write_value(h5, "value", obj, codes, "")
        h5.attrs["__scalars__"] = json.dumps(codes)
        _seal(h5)


def _fsync_path(path: str, directory: bool = False) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:  # some platforms cannot open directories; the rename is still atomic
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_stale_temps(directory: Path, base: str) -> None:
    """Remove temp files of this target left behind by processes that died mid-save."""
    prefix = f"{base}.tmp-"
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        with _active_lock:
            active = entry.path in _active_temps
        if active or (pid != os.getpid() and _pid_alive(pid)):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            pass


class _SigintDeferred:
    """Within it (main thread only) Ctrl-C waits until the block ends, then acts as before: a
    save finishes or never replaces the target, and h5py swallows a KeyboardInterrupt raised
    inside its callbacks (seen: a save carried on and the process never stopped)."""

    def __enter__(self):
        self.received = False
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            try:
                self.previous = signal.signal(signal.SIGINT, self._note)
            except (ValueError, OSError):  # no signals here (embedded interpreters)
                self.previous = None
        return self

    def _note(self, signum, frame) -> None:
        self.received = True

    def __exit__(self, *exc) -> None:
        if self.previous is None:
            return
        signal.signal(signal.SIGINT, self.previous)
        if self.received:
            if callable(self.previous):
                self.previous(signal.SIGINT, None)  # Python's default: KeyboardInterrupt
            elif self.previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


def save(obj: Any, f) -> None:
    """Write `obj` to the checkpoint `f` (a path; or a binary file object, without the atomic
    rename). A path that is a symlink is written through to its target, atomically; the link
    stays a link. Ctrl-C during a save takes effect when it is done. Raises TypeError naming
    the location of anything it cannot store."""
    with _SigintDeferred():
        _save(obj, f)


def _save(obj: Any, f) -> None:
    h5py = _h5py()
    if hasattr(f, "write") and not isinstance(f, (str, os.PathLike)):
        with h5py.File(f, "w", track_order=True, userblock_size=_HEADER_SIZE) as h5:
            _write_file(h5, obj)
        _write_header(f)
        return
    path = Path(os.fspath(f))
    if path.is_symlink():
        # replace the file the link points to (as open(path, "w") would write to it), not the link
        path = Path(os.path.realpath(path))
    directory = path.parent if str(path.parent) else Path(".")
    _clean_stale_temps(directory, path.name)
    tmp = str(directory / f"{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    with _active_lock:
        _active_temps.add(tmp)
    try:
        with h5py.File(tmp, "w", track_order=True, userblock_size=_HEADER_SIZE) as h5:
            _write_file(h5, obj)
        _write_header(tmp)
        if _phase_hook is not None:
            _phase_hook("written")
        _fsync_path(tmp)
        if _phase_hook is not None:
            _phase_hook("synced")
        os.replace(tmp, path)
        if _phase_hook is not None:
            _phase_hook("replaced")
        _fsync_path(str(directory), directory=True)
    finally:
        with _active_lock:
            _active_temps.discard(tmp)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- reading
#
# `load` trusts nothing in the file. A first pass walks the whole object tree and checks its
# structure against what `save` writes (hard links only, each object linked once, contiguous
# in-file datasets of numeric dtypes whose declared sizes fit in the file, exactly the expected
# attributes and entries, the root and group checksums) before any dataset is read; the second
# pass reads the data and verifies each dataset's checksum.

_DEVICE_RE = re.compile(r"cpu|cuda(:[0-9]{1,4})?")
_TENSOR_DTYPES = ("float32", "float64", "int64", "bool")
_GROUP_ATTRS = {"dict": ("__type__", "__keys__", "__scalars__"),
                "ordereddict": ("__type__", "__keys__", "__scalars__"),
                "list": ("__type__", "__len__", "__scalars__"),
                "tuple": ("__type__", "__len__", "__scalars__"),
                "value": ("__type__", "__scalars__")}
_ROOT_ATTRS = ("minidl_format", "format_version")
_DATASET_ATTRS = {"ndarray": ("__type__",),
                  "tensor": ("__type__", "dtype", "device", "requires_grad", "parameter"),
                  "list[int]": ("__type__",), "tuple[int]": ("__type__",),
                  "list[float]": ("__type__",), "tuple[float]": ("__type__",)}
# the attribute dtypes each scalar type code may have (besides the shapes checked in _attrs)
_CODE_KINDS = {"none": "str", "bool": "bool", "int": "int64", "bigint": "str", "float": "float64",
               "complex": "complex128", "str": "str|u8", "bytes": "u8|void"}


class _UserError(Exception):
    """Carries an exception raised by the caller's map_location through load's error mapping."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Mapper:
    """Applies `map_location` to a (numpy array, saved device) pair."""

    def __init__(self, map_location) -> None:
        self.map_location = map_location

    def tensor(self, arr: np.ndarray, dtype: str, device: str, requires_grad: bool,
               parameter: bool):
        import minidl
        from .dtypes import from_name
        t = minidl.from_numpy(arr)
        if t.dtype.name != dtype:
            t = t.to(from_name(dtype))
        try:
            t = self._place(t, device)
        except DeviceError:
            raise
        except Exception as e:  # the caller's map_location failed: not the file's fault
            raise _UserError(e) from e
        if parameter:
            from .nn.parameter import Parameter
            return Parameter(t.detach(), requires_grad)
        if requires_grad:
            t = t.detach().requires_grad_()
        return t

    def _place(self, t, device: str):
        import minidl
        ml = self.map_location
        target = device
        if ml is None:
            pass
        elif callable(ml) and not isinstance(ml, (str, minidl.device)):
            out = ml(t, device)
            target = None if out is not None else device
            if out is not None:
                t = out
        elif isinstance(ml, dict):
            target = str(ml.get(device, device))
        else:
            target = str(ml)
        if target is not None and target != "cpu":
            if target.startswith("cuda"):
                from . import cuda
                if not cuda.is_available():
                    raise DeviceError(
                        f"Attempting to load a tensor saved on {device} onto {target}, but CUDA "
                        "is not available. On a CPU-only machine, use "
                        "minidl.load(path, map_location='cpu').")
            t = t.to(target)
        return t


class _Refused(Exception):
    """A structural or integrity check failed at HDF5 path `where`."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")


def _attr_text(value, where: str, name: str) -> str:
    if not isinstance(value, str):
        raise _Refused(where, f"attribute {name!r} should be a string, got "
                       f"{type(value).__name__}")
    return value


def _json(value, where: str, name: str):
    try:
        return json.loads(_attr_text(value, where, name))
    except RecursionError:
        raise _Refused(where, f"attribute {name!r} is nested too deeply") from None
    except ValueError as e:
        raise _Refused(where, f"attribute {name!r} is not valid JSON ({e})") from None


def _attr_kind(value) -> str:
    """The kind of a validated attribute value: "str", "u8" (uint8 vector), "void" or the
    numpy dtype name of a 0-d value."""
    if isinstance(value, str):
        return "str"
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return "u8"
    if isinstance(value, np.void):
        return "void"
    return np.asarray(value).dtype.name


def _read_scalar(value, code: str, where: str, name: str):
    kind = _attr_kind(value)
    allowed = _CODE_KINDS.get(code)
    if allowed is None and code.startswith("np.") and code[3:] in _ARRAY_DTYPES:
        allowed = code[3:]
    if allowed is None:
        raise _Refused(where, f"entry {name!r} has unknown scalar type code {code!r}")
    if kind not in allowed.split("|"):
        raise _Refused(where, f"entry {name!r} of type {code!r} is stored as {kind}")
    if code == "none":
        return None
    if code == "bool":
        return bool(value)
    if code == "int":
        return int(value)
    if code == "bigint":
        if not re.fullmatch(r"-?[0-9]{1,100000}", value):
            raise _Refused(where, f"entry {name!r} is not a decimal integer")
        return int(value)
    if code == "float":
        return float(value)
    if code == "complex":
        return complex(value)
    if code == "str":
        return value if kind == "str" else value.tobytes().decode("utf-8", "surrogatepass")
    if code == "bytes":
        return np.asarray(value).tobytes()
    return np.asarray(value)[()]


class _Reader:
    """Validates (pass 1: `group`) and then reads (pass 2: `build`) one open checkpoint."""

    def __init__(self, size: int, mapper: _Mapper) -> None:
        self.size, self.mapper = size, mapper
        self.version = 0
        self.seen: set[int] = set()
        self.data_bytes = 0

    # -- pass 1: structure, sizes and attribute checksums; no dataset is read

    def attrs(self, obj) -> dict:
        """Every attribute of `obj`, each checked to be a type `save` writes before it is read."""
        h5py = _h5py()
        where = obj.name
        out = {}
        for name in list(obj.attrs):
            aid = obj.attrs.get_id(name)
            if aid.get_type().committed():
                raise _Refused(where, f"attribute {name!r} uses a named (committed) datatype")
            space = aid.get_space().get_simple_extent_type()
            if space not in (h5py.h5s.SCALAR, h5py.h5s.SIMPLE):
                raise _Refused(where, f"attribute {name!r} has a null dataspace")
            shape, dt = aid.shape, aid.dtype
            sinfo = h5py.check_string_dtype(dt)
            if shape == ():
                if sinfo is not None:
                    ok = sinfo.length is None
                elif dt.kind == "V":
                    ok = self.version == 1 and dt.names is None and dt.subdtype is None \
                        and dt.itemsize <= self.size
                else:
                    ok = dt.name in _ARRAY_DTYPES
            else:
                ok = len(shape) == 1 and dt == np.uint8 and shape[0] <= self.size
            if not ok:
                raise _Refused(where, f"attribute {name!r} has type {dt} and shape {shape}, "
                               "which minidl does not write")
            out[name] = obj.attrs[name]
        return out

    def verify(self, where: str, attrs: dict, data: np.ndarray | None = None) -> None:
        if self.version < 2:
            return
        stored = attrs.get(_DIGEST)
        if not isinstance(stored, str):
            raise _Refused(where, f"the {_DIGEST} checksum attribute is missing")
        rest = {k: v for k, v in attrs.items() if k != _DIGEST}
        if _digest(where, rest, data) != stored:
            raise _Refused(where, "checksum mismatch: the file is corrupt or was modified "
                           "after minidl.save wrote it")

    def expect_attrs(self, where: str, attrs: dict, expected) -> None:
        expected = set(expected) | ({_DIGEST} if self.version >= 2 else set())
        extra, missing = sorted(set(attrs) - expected), sorted(expected - set(attrs))
        if extra:
            raise _Refused(where, f"unexpected attribute(s) {extra}; minidl does not write them")
        if missing:
            raise _Refused(where, f"missing attribute(s) {missing}")

    def enter(self, obj) -> None:
        """Refuse an object reachable twice (hard-link cycles, shared objects)."""
        h5py = _h5py()
        info = h5py.h5o.get_info(obj.id)
        if info.rc != 1 or info.addr in self.seen:
            raise _Refused(obj.name, f"object is linked {max(info.rc, 2)} times (a hard-link "
                           "cycle or a shared object); minidl writes every object once")
        self.seen.add(info.addr)

    def links(self, g) -> set[str]:
        """The names of `g`'s links, all checked to be hard links (never followed otherwise)."""
        h5py = _h5py()
        names = set()
        for name in g:
            link = g.get(name, getlink=True)
            where = f"{g.name.rstrip('/')}/{name}"
            if isinstance(link, h5py.ExternalLink):
                raise _Refused(where, f"is an external link to {link.filename!r}:{link.path}; "
                               "minidl never writes links to other files")
            if isinstance(link, h5py.SoftLink):
                raise _Refused(where, f"is a soft link to {link.path!r}; minidl never writes "
                               "soft links")
            if not isinstance(link, h5py.HardLink):
                raise _Refused(where, f"is a link of unknown type {type(link).__name__}")
            names.add(name)
        return names

    def group(self, g, root: bool = False) -> tuple:
        h5py = _h5py()
        where = g.name
        self.enter(g)
        attrs = self.attrs(g)
        if "__type__" not in attrs:
            raise _Refused(where, "group has no __type__ attribute")
        kind = _attr_text(attrs["__type__"], where, "__type__")
        if kind not in _GROUP_ATTRS or (kind == "value" and not root):
            raise _Refused(where, f"group has unknown __type__ {kind!r}")
        struct = _GROUP_ATTRS[kind] + (_ROOT_ATTRS if root else ())
        self.expect_attrs(where, {k: v for k, v in attrs.items() if k in struct + (_DIGEST,)},
                          struct)
        self.verify(where, attrs)
        codes = _json(attrs["__scalars__"], where, "__scalars__")
        if not isinstance(codes, dict) or not all(isinstance(v, str) for v in codes.values()):
            raise _Refused(where, "attribute '__scalars__' is not a JSON object of type codes")
        self.expect_attrs(where, attrs, struct + tuple(codes))
        links = self.links(g)
        keys = None
        if kind in ("dict", "ordereddict"):
            keys = _json(attrs["__keys__"], where, "__keys__")
            if not isinstance(keys, list) or not all(
                    k is None or isinstance(k, (str, int, float)) for k in keys):
                raise _Refused(where, "attribute '__keys__' is not a JSON list of str, int, "
                               "float, bool or null keys")
            if len(dict.fromkeys(keys)) != len(keys):
                raise _Refused(where, "attribute '__keys__' repeats a key")
            used: set[str] = set()
            names = [_entry_name(k, i, used) for i, k in enumerate(keys)]
        elif kind in ("list", "tuple"):
            n = attrs["__len__"]
            if _attr_kind(n) != "int64" or not 0 <= int(n) <= len(links) + len(attrs):
                raise _Refused(where, f"attribute '__len__' = {n!r} does not match the entries")
            names = [str(i) for i in range(int(n))]
        else:
            names = ["value"]
        if not set(codes) <= set(names):
            raise _Refused(where, "'__scalars__' names entries that do not exist")
        stored = set(names) - set(codes)
        if links != stored:
            extra, missing = sorted(links - stored), sorted(stored - links)
            raise _Refused(where, f"unexpected entries {extra}" if extra
                           else f"missing entries {missing}")
        entries = []
        for name in names:
            if name in codes:
                entries.append(("scalar", _read_scalar(attrs[name], codes[name], where, name)))
                continue
            try:
                child = g[name]
            except (KeyError, OSError, ValueError) as e:
                raise _Refused(f"{where.rstrip('/')}/{name}", f"cannot be opened ({e})") from None
            if isinstance(child, h5py.Group):
                entries.append(self.group(child))
            elif isinstance(child, h5py.Dataset):
                entries.append(self.dataset(child))
            else:
                raise _Refused(child.name, f"is a {type(child).__name__}; minidl writes only "
                               "groups and datasets")
        return ("group", kind, keys, entries)

    def dataset(self, ds) -> tuple:
        h5py = _h5py()
        where = ds.name
        self.enter(ds)
        dcpl = ds.id.get_create_plist()
        if dcpl.get_external_count():
            ext = dcpl.get_external(0)[0]
            ext = ext.decode("utf-8", "replace") if isinstance(ext, bytes) else ext
            raise _Refused(where, f"uses external raw storage (file {ext!r}); minidl keeps all "
                           "data inside the checkpoint")
        layout = dcpl.get_layout()
        if layout == h5py.h5d.VIRTUAL:
            raise _Refused(where, "is a virtual dataset (its data lives in other datasets or "
                           "files); minidl never writes one")
        if layout != h5py.h5d.CONTIGUOUS:
            name = {h5py.h5d.CHUNKED: "chunked", h5py.h5d.COMPACT: "compact"}.get(layout, layout)
            raise _Refused(where, f"has a {name} layout; minidl writes contiguous datasets only")
        if dcpl.get_nfilters():
            raise _Refused(where, "has filters (compression); minidl writes none")
        if ds.id.get_type().committed():
            raise _Refused(where, "uses a named (committed) datatype")
        dt = ds.dtype
        if dt.name not in _ARRAY_DTYPES:
            raise _Refused(where, f"has dtype {dt}; only numeric and bool arrays are allowed")
        space = ds.id.get_space().get_simple_extent_type()
        if space not in (h5py.h5s.SCALAR, h5py.h5s.SIMPLE):
            raise _Refused(where, "has a null dataspace")
        shape = ds.shape
        nbytes = dt.itemsize
        for n in shape:
            nbytes *= int(n)
        if nbytes > self.size:
            raise _Refused(where, f"declares shape {shape} of {dt} ({nbytes} bytes) but the file "
                           f"has only {self.size} bytes")
        storage = ds.id.get_storage_size()
        if storage != nbytes:
            raise _Refused(where, f"declares {nbytes} bytes of data but stores {storage}")
        if nbytes:
            offset = ds.id.get_offset()
            if offset is None or offset + nbytes > self.size:
                raise _Refused(where, "its data lies outside the file")
        self.data_bytes += nbytes
        if self.data_bytes > self.size:
            raise _Refused(where, f"the datasets declare {self.data_bytes} bytes in total but "
                           f"the file has only {self.size} bytes")
        attrs = self.attrs(ds)
        kind = _attr_text(attrs.get("__type__"), where, "__type__")
        if kind not in _DATASET_ATTRS:
            raise _Refused(where, f"dataset has unknown __type__ {kind!r}")
        self.expect_attrs(where, attrs, _DATASET_ATTRS[kind])
        meta = None
        if kind == "tensor":
            dtype = _attr_text(attrs["dtype"], where, "dtype")
            device = _attr_text(attrs["device"], where, "device")
            flags = (attrs["requires_grad"], attrs["parameter"])
            if dtype not in _TENSOR_DTYPES or not _DEVICE_RE.fullmatch(device) or \
                    any(_attr_kind(v) != "bool" for v in flags):
                raise _Refused(where, f"tensor attributes dtype={dtype!r}, device={device!r}, "
                               f"requires_grad={flags[0]!r}, parameter={flags[1]!r} are invalid")
            meta = (dtype, device, bool(flags[0]), bool(flags[1]))
        elif kind != "ndarray":
            want = "int64" if "int" in kind else "float64"
            if len(shape) != 1 or dt.name != want:
                raise _Refused(where, f"a {kind} dataset must be 1-d {want}, got {shape} {dt}")
        return ("dataset", ds, kind, attrs, meta)

    # -- pass 2: read the data, verify checksums, build the objects

    def build(self, node):
        if node[0] == "scalar":
            return node[1]
        if node[0] == "dataset":
            return self.read(*node[1:])
        _, kind, keys, entries = node
        values = [self.build(e) for e in entries]
        if kind in ("dict", "ordereddict"):
            cls = collections.OrderedDict if kind == "ordereddict" else dict
            return cls(zip(keys, values))
        if kind == "tuple":
            return tuple(values)
        if kind == "list":
            return values
        return values[0]  # "value"

    def read(self, ds, kind: str, attrs: dict, meta):
        arr = np.asarray(ds[()])
        self.verify(ds.name, attrs, arr)
        if kind == "ndarray":
            return arr
        if kind == "tensor":
            return self.mapper.tensor(arr, *meta)
        values = arr.tolist()
        return tuple(values) if kind.startswith("tuple") else values


def _check_header(fh, label: str) -> int:
    """The format version the first bytes of `fh` announce: 2 once the file checksum in the
    minidl header matched, 1 for a file that starts as bare HDF5 (format 1, or foreign)."""
    fh.seek(0)
    head = fh.read(_HEADER_SIZE)
    if head.startswith(_HDF5_SIGNATURE):
        return 1
    if not head.startswith(_MAGIC):
        raise CheckpointError(f"{label}: not a minidl checkpoint (it starts with neither a "
                              "minidl header nor HDF5 data)")
    version = re.match(rb"minidl-checkpoint ([0-9]{1,9})\n", head)
    if version is not None and int(version[1]) > FORMAT_VERSION:
        raise CheckpointError(f"{label}: checkpoint format version {int(version[1])} is not "
                              f"supported by this minidl (reads 1..{FORMAT_VERSION})")
    m = re.fullmatch(rb"minidl-checkpoint 2\nsha256 ([0-9a-f]{64})\n\0*", head)
    if m is None or len(head) != _HEADER_SIZE:
        raise CheckpointError(f"{label}: corrupt minidl checkpoint (damaged or truncated "
                              "header)")
    if _hash_tail(fh) != m[1].decode():
        raise CheckpointError(f"{label}: corrupt minidl checkpoint (file checksum mismatch: "
                              "damaged, truncated or modified after minidl.save wrote it)")
    return 2


def load(f, map_location=None) -> Any:
    """Read a checkpoint written by `save`.

    map_location: None (tensors go back to the device they were saved from), a device ("cpu",
    "cuda:0", minidl.device), a dict {saved device: target device}, or a callable
    f(cpu_tensor, saved_device) -> tensor. Raises CheckpointError for truncated, corrupt,
    modified or foreign files (anything `save` does not write: links, external storage, other
    layouts or types, sizes beyond the file's), FileNotFoundError if `f` does not exist.
    Ctrl-C during a load takes effect when it is done."""
    with _SigintDeferred():
        return _load(f, map_location)


def _load(f, map_location=None) -> Any:
    h5py = _h5py()
    is_file_obj = hasattr(f, "read") and not isinstance(f, (str, os.PathLike))
    label = getattr(f, "name", "<file object>") if is_file_obj else os.fspath(f)
    if not is_file_obj and not os.path.exists(label):
        raise FileNotFoundError(f"[Errno 2] No such file or directory: '{label}'")
    try:
        if is_file_obj:
            announced = _check_header(f, label)
            size = f.seek(0, os.SEEK_END)
            f.seek(0)
        else:
            with open(label, "rb") as fh:
                announced = _check_header(fh, label)
                size = os.fstat(fh.fileno()).st_size
        h5 = h5py.File(f, "r")
    except OSError as e:
        raise CheckpointError(f"{label}: not a readable minidl checkpoint (truncated, corrupt or "
                              f"not HDF5): {e}") from None
    try:
        with h5:
            reader = _Reader(size, _Mapper(map_location))
            reader.version = announced  # (format 1 stored bytes as opaque attributes)
            root = reader.attrs(h5)
            fmt = root.get("minidl_format")
            if not isinstance(fmt, str) or fmt != FORMAT_NAME:
                raise CheckpointError(f"{label}: an HDF5 file but not a minidl checkpoint "
                                      "(no minidl_format attribute)")
            version = root.get("format_version")
            version = int(version) if _attr_kind(version) == "int64" else -1
            if version < 1 or version > FORMAT_VERSION:
                raise CheckpointError(f"{label}: checkpoint format version {version} is not "
                                      f"supported by this minidl (reads 1..{FORMAT_VERSION})")
            if version != announced:
                raise CheckpointError(f"{label}: refused: format version {version} in the HDF5 "
                                      + ("data but no minidl header" if announced == 1 else
                                         f"data but {announced} in the minidl header"))
            reader.version = version
            userblock = h5.id.get_create_plist().get_userblock()
            if userblock != (_HEADER_SIZE if version >= 2 else 0):
                raise _Refused("/", f"the file has a {userblock}-byte user block; minidl "
                               "writes none (format 1) or its 512-byte header")
            tree = reader.group(h5, root=True)
            if version == 1:
                warnings.warn(f"{label}: checkpoint format 1 (minidl before checksums) is loaded "
                              "without an integrity check; save it again to add checksums",
                              UserWarning, stacklevel=4)
            return reader.build(tree)
    except (CheckpointError, DeviceError):
        raise
    except _UserError as e:
        raise e.error from None
    except _Refused as e:
        raise CheckpointError(f"{label}: refused: {e}") from None
    except RecursionError:
        raise CheckpointError(f"{label}: refused: groups are nested too deeply") from None
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, OverflowError) as e:
        raise CheckpointError(f"{label}: corrupt minidl checkpoint ({type(e).__name__}: "
                              f"{e})") from None
