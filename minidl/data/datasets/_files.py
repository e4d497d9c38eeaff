"""File helpers shared by the datasets: md5 checks and downloads that fail clearly offline.

Downloads go to a temporary file beside the target and are renamed only after the md5 matches,
so an interrupted or corrupted download never leaves a file that looks valid.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

__all__ = ["md5sum", "download_file", "DatasetNotFoundError"]


class DatasetNotFoundError(RuntimeError):
    """The dataset's files are not where they were looked for (and were not downloaded)."""


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download_file(filename: str, md5: str, mirrors: Sequence[str], dest_dir: Path,
                  dataset: str, timeout: float = 30.0) -> Path:
    """Fetch `filename` from the first mirror that serves it with the right md5 into `dest_dir`.

    Raises RuntimeError listing what was tried and where to put the file by hand."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / filename
    if target.exists() and md5sum(target) == md5:
        return target
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=dest_dir)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
            got = md5sum(tmp)
            if got != md5:
                errors.append(f"{url}: md5 mismatch (got {got}, expected {md5})")
                continue
            os.replace(tmp, target)
            return target
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {e}")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    tried = "\n  ".join(errors)
    raise DatasetNotFoundError(
        f"{dataset}: could not download {filename} (no network access?). Tried:\n  {tried}\n"
        f"Download it by hand (md5 {md5}) and put it in {dest_dir}")
