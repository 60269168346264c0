"""Crash-safe file writes for run folders.

A reader (the app, another process, a resumed run) must only ever see the old
file or the new one, never half of it: write to a temporary file in the same
folder, flush and fsync it, then ``os.replace`` it over the target.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Iterator

__all__ = ["atomic_file", "write_atomic", "write_json_atomic", "json_dumps"]


def _json_default(obj: Any) -> Any:
    """Turn the usual non-JSON values (numpy scalars/arrays, paths, sets) into JSON ones."""
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    item = getattr(obj, "item", None)  # numpy / tensor scalars
    if callable(item) and getattr(obj, "ndim", 0) == 0:
        try:
            return item()
        except Exception:  # noqa: BLE001 - fall through to the TypeError below
            pass
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def json_dumps(obj: Any, *, indent: int | None = None) -> str:
    """``json.dumps`` that keeps NaN/inf (as ``NaN``/``Infinity``) and numpy scalars."""
    return json.dumps(obj, indent=indent, allow_nan=True, default=_json_default)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX only; a no-op where unsupported)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file handle whose content replaces ``path`` only when the block ends without error.

    A kill or an error inside the block leaves ``path`` as it was (the
    temporary file is removed on error; after a kill it is a hidden ``.tmp``).
    """
    path = Path(path)
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; keep the mode of the file we replace, else 0644.
        try:
            mode = path.stat().st_mode & 0o777
        except FileNotFoundError:
            mode = 0o644
        try:
            os.chmod(tmp, mode)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` atomically; creates the parent folder.

    ``str`` data is encoded as UTF-8. Returns the path written.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    elif not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"write_atomic needs bytes or str, not {type(data).__name__}")
    with atomic_file(path) as fh:
        fh.write(data)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (NaN/inf kept, numpy scalars converted)."""
    return write_atomic(path, json_dumps(obj, indent=indent) + "\n")

