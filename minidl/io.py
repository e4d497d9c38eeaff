"""Checkpoints: `save(obj, path)` / `load(path, map_location=None)` in HDF5 (h5py), atomic.

What can be saved: nested dicts (keys: str, int, float, bool or None, order kept), lists and
tuples of minidl Tensors (and Parameters), numpy arrays (numeric or bool), numpy scalars, Python
bool / int (any size) / float / complex / str / bytes / None. That covers the state_dicts of
models, optimizers, schedulers and DataLoaders, epochs and RNG states (minidl's generator state,
numpy `bit_generator.state`, Python's `random.getstate()`).

Layout (format version 1), readable with plain h5py (docs/checkpoints.md has the full spec):
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
- scalars are attributes of their container (ints beyond int64 as decimal strings).

Crash safety: the file is written to `<name>.tmp-<pid>-<random>` in the same directory, flushed,
fsynced, renamed over the target with os.replace, and the directory is fsynced; temp files of
that path left by dead processes are removed on the next save. `load` never unpickles: a
truncated, corrupt or foreign file raises `minidl.errors.CheckpointError` naming the path.
"""
from __future__ import annotations

import collections
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import CheckpointError, DeviceError

__all__ = ["save", "load", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "minidl-checkpoint"
"""The `minidl_format` attribute of every checkpoint's root."""
FORMAT_VERSION = 1
"""The checkpoint format version this minidl writes (and the newest it reads)."""
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
        group.attrs[name] = value
        codes[name] = "str"
    elif isinstance(value, (bytes, bytearray)):
        group.attrs[name] = np.void(bytes(value))
        codes[name] = "bytes"
    elif isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"minidl.save: numpy scalar of dtype {value.dtype} at '{where}' is "
                            "not supported")
        group.attrs[name] = value
        codes[name] = f"np.{value.dtype.name}"
    else:
        return False
    return True


def _write_array(group, name: str, arr: np.ndarray, where: str):
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"minidl.save: numpy array of dtype {arr.dtype} at '{where}' is not "
                        "supported (numeric and bool arrays only)")
    # (not np.ascontiguousarray: it turns 0-d arrays into 1-d ones)
    ds = group.create_dataset(name, data=arr if arr.flags.c_contiguous else arr.copy())
    if _phase_hook is not None:
        _phase_hook("dataset")
    return ds


def _write_value(group, name: str, value, codes: dict, where: str) -> None:
    tensor_cls = _tensor_cls()
    if isinstance(value, tensor_cls):
        data = value.detach().cpu().numpy() if value.is_cuda else value.detach().numpy()
        ds = _write_array(group, name, data, where)
        ds.attrs["__type__"] = "tensor"
        ds.attrs["dtype"] = value.dtype.name
        ds.attrs["device"] = str(value.device)
        ds.attrs["requires_grad"] = bool(value.requires_grad)
        ds.attrs["parameter"] = type(value).__name__ == "Parameter"
    elif isinstance(value, np.ndarray):
        _write_array(group, name, value, where).attrs["__type__"] = "ndarray"
    elif isinstance(value, (dict, list, tuple)):
        kind = _homogeneous(value) if isinstance(value, (list, tuple)) else None
        if kind is not None:
            seq_type = "tuple" if isinstance(value, tuple) else "list"
            dt = np.int64 if kind == "int" else np.float64
            ds = group.create_dataset(name, data=np.asarray(value, dtype=dt))
            ds.attrs["__type__"] = f"{seq_type}[{kind}]"
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


def save(obj: Any, f) -> None:
    """Write `obj` to the checkpoint `f` (a path; or a binary file object, without the atomic
    rename). Raises TypeError naming the location of anything it cannot store."""
    h5py = _h5py()
    if hasattr(f, "write") and not isinstance(f, (str, os.PathLike)):
        with h5py.File(f, "w", track_order=True) as h5:
            _write_file(h5, obj)
        return
    path = Path(os.fspath(f))
    directory = path.parent if str(path.parent) else Path(".")
    _clean_stale_temps(directory, path.name)
    tmp = str(directory / f"{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    with _active_lock:
        _active_temps.add(tmp)
    try:
        with h5py.File(tmp, "w", track_order=True) as h5:
            _write_file(h5, obj)
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
        if parameter:
            from .nn.parameter import Parameter
            return Parameter(t.detach(), requires_grad)
        if requires_grad:
            t = t.detach().requires_grad_()
        return t


def _attr_str(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_str(value.item())
    if not isinstance(value, str):
        raise ValueError(f"expected a string attribute, got {type(value).__name__}")
    return value


def _read_scalar(value, code: str):
    if code == "none":
        return None
    if code == "bool":
        return bool(value)
    if code == "int":
        return int(value)
    if code == "bigint":
        return int(_attr_str(value))
    if code == "float":
        return float(value)
    if code == "complex":
        return complex(value)
    if code == "str":
        return _attr_str(value)
    if code == "bytes":
        return np.asarray(value).tobytes()
    if code.startswith("np."):
        dt = np.dtype(code[3:])
        if dt.kind not in "biufc":
            raise ValueError(f"scalar type code {code!r} is not allowed")
        return np.asarray(value, dtype=dt)[()]
    raise ValueError(f"unknown scalar type code {code!r}")


def _read_dataset(ds, mapper: _Mapper):
    kind = _attr_str(ds.attrs.get("__type__", ""))
    if ds.dtype.kind not in "biufc":
        raise ValueError(f"dataset {ds.name} has dtype {ds.dtype}; only numeric and bool arrays "
                         "are allowed")
    arr = ds[()]
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    if kind == "ndarray":
        return arr
    if kind == "tensor":
        return mapper.tensor(arr, _attr_str(ds.attrs["dtype"]), _attr_str(ds.attrs["device"]),
                             bool(ds.attrs.get("requires_grad", False)),
                             bool(ds.attrs.get("parameter", False)))
    if kind in ("list[int]", "tuple[int]", "list[float]", "tuple[float]"):
        values = arr.tolist()
        return tuple(values) if kind.startswith("tuple") else values
    raise ValueError(f"dataset {ds.name} has unknown __type__ {kind!r}")


def _read_entry(group, name: str, codes: dict, mapper: _Mapper):
    if name in codes:
        return _read_scalar(group.attrs[name], codes[name])
    obj = group.get(name)
    if obj is None:
        raise KeyError(f"entry {name!r} missing from group {group.name}")
    h5py = _h5py()
    if isinstance(obj, h5py.Dataset):
        return _read_dataset(obj, mapper)
    return _read_container(obj, mapper)


def _read_container(group, mapper: _Mapper):
    kind = _attr_str(group.attrs["__type__"])
    codes = json.loads(_attr_str(group.attrs.get("__scalars__", "{}")))
    if kind in ("dict", "ordereddict"):
        keys = json.loads(_attr_str(group.attrs["__keys__"]))
        out = collections.OrderedDict() if kind == "ordereddict" else {}
        used: set[str] = set()
        for i, k in enumerate(keys):
            out[k] = _read_entry(group, _entry_name(k, i, used), codes, mapper)
        return out
    if kind in ("list", "tuple"):
        n = int(group.attrs["__len__"])
        items = [_read_entry(group, str(i), codes, mapper) for i in range(n)]
        return tuple(items) if kind == "tuple" else items
    if kind == "value":
        return _read_entry(group, "value", codes, mapper)
    raise ValueError(f"group {group.name} has unknown __type__ {kind!r}")


def load(f, map_location=None) -> Any:
    """Read a checkpoint written by `save`.

    map_location: None (tensors go back to the device they were saved from), a device ("cpu",
    "cuda:0", minidl.device), a dict {saved device: target device}, or a callable
    f(cpu_tensor, saved_device) -> tensor. Raises CheckpointError for truncated, corrupt or
    foreign files, FileNotFoundError if `f` does not exist."""
    h5py = _h5py()
    is_file_obj = hasattr(f, "read") and not isinstance(f, (str, os.PathLike))
    label = getattr(f, "name", "<file object>") if is_file_obj else os.fspath(f)
    if not is_file_obj and not os.path.exists(label):
        raise FileNotFoundError(f"[Errno 2] No such file or directory: '{label}'")
    try:
        h5 = h5py.File(f, "r")
    except OSError as e:
        raise CheckpointError(f"{label}: not a readable minidl checkpoint (truncated, corrupt or "
                              f"not HDF5): {e}") from None
    try:
        with h5:
            fmt = h5.attrs.get("minidl_format")
            if fmt is None or _attr_str(fmt) != FORMAT_NAME:
                raise CheckpointError(f"{label}: an HDF5 file but not a minidl checkpoint "
                                      "(no minidl_format attribute)")
            version = int(h5.attrs.get("format_version", -1))
            if version < 1 or version > FORMAT_VERSION:
                raise CheckpointError(f"{label}: checkpoint format version {version} is not "
                                      f"supported by this minidl (reads 1..{FORMAT_VERSION})")
            return _read_container(h5, _Mapper(map_location))
    except (CheckpointError, DeviceError):
        raise
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{label}: corrupt minidl checkpoint ({type(e).__name__}: "
                              f"{e})") from None
