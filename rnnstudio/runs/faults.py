"""Faults while training or saving, told in words a user can act on.

A full disk, a process the system killed for memory, a ``MemoryError``: each
becomes one readable reason stored with the run and shown by the app and the
CLI. Nothing here imports TensorFlow (the app and the worker supervisor use it).
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rnnstudio.errors import StudioError

__all__ = ["DiskFullError", "is_disk_full", "disk_full_guard", "crash_reason", "exit_reason", "exit_status", "OUT_OF_MEMORY"]

_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_SQLITE_FULL = 13
# What TensorFlow's and h5py's own errors say when a save runs out of space (they are not OSError).
_FULL_TEXTS = ("no space left on device", "disk quota exceeded", "database or disk is full")
OUT_OF_MEMORY = "try a smaller batch size, fewer units or layers, or a shorter sequence length, then resume the run."


class DiskFullError(StudioError):
    """A write failed because the disk (or the user's quota) is full; what was saved before is intact."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        super().__init__(f"disk full: free space in {self.path}.",
                         fix="delete old runs (`python -m rnnstudio runs delete RUN`) or other files there, "
                             "then try again; earlier checkpoints and exports are unchanged.")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-space error from the OS or from SQLite."""
    if isinstance(exc, DiskFullError):
        return True
    if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
        return True
    if isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL:
        return True
    return any(text in str(exc).lower() for text in _FULL_TEXTS)


@contextmanager
def disk_full_guard(path: str | os.PathLike) -> Iterator[None]:
    """Turns an out-of-space error raised inside the block into a :class:`DiskFullError` naming ``path``."""
    try:
        yield
    except StudioError:
        raise
    except Exception as exc:
        if is_disk_full(exc):
            raise DiskFullError(path) from exc
        raise


def crash_reason(exc: BaseException) -> str:
    """One readable sentence for an exception that ended a training run."""
    if isinstance(exc, StudioError):
        return str(exc)
    if is_disk_full(exc):
        return f"disk full while saving ({exc}): free space in the studio folder, then resume the run."
    # By name: ResourceExhaustedError is TensorFlow's (GPU/host allocation failed), no import needed here.
    if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
        return f"the training ran out of memory ({type(exc).__name__}); {OUT_OF_MEMORY}"
    text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "no message"
    return f"{type(exc).__name__}: {text} (details in traceback.txt in the run folder)"


#: Signals that mean "asked to stop" (a shutdown, Ctrl-C), not a crash: the run is resumable as interrupted.
_STOP_SIGNALS = {getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n)}


def exit_status(returncode: int) -> str:
    """The final status of a run whose training process ended with ``returncode`` before finishing it."""
    return "interrupted" if returncode < 0 and -returncode in _STOP_SIGNALS else "failed"


def exit_reason(returncode: int) -> str:
    """Why a training process that ended without finishing its run stopped, from its exit code."""
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        if number == getattr(signal, "SIGKILL", 9):
            return (f"the training process was killed by the system ({name}), most often because it ran out of "
                    f"memory; {OUT_OF_MEMORY}")
        return f"the training process was stopped by {name} (signal {number}); resume the run to continue."
    return (f"the training process exited with code {returncode} without finishing the run; "
            "see worker.log in the run folder, then resume the run.")
