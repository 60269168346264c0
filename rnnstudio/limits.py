"""Every size limit the studio enforces, in one place.

Files are checked against these before they are parsed, settings before a
model is built, so a shared server never runs out of memory on one person's
upload or one impossible setting; per-session limits of a shared server are read
from the environment. The README's "Limits" section lists them.
"""

from __future__ import annotations

import os

from rnnstudio.errors import StudioError

MAX_FILE_BYTES = 200 * 1024**2
"""Largest data file accepted, as stored (compressed files: their compressed size)."""

MAX_DECOMPRESSED_BYTES = 500 * 1024**2
"""Largest content a compressed file (.gz, .zip, .bz2, .xz) may expand to; reading stops there."""

MAX_ROWS = 1_000_000
"""Most data rows (CSV/TSV) or non-blank lines (TXT) in one file; counted before pandas parses."""

MAX_COLUMNS = 2_000
"""Most columns in one file; the header is checked before any row is parsed."""

MAX_LINE_CHARS = 10 * 1024**2
"""Longest line (characters) in a file; a longer one is refused before it is split into fields."""

MAX_FIELD_CHARS = 131_072
"""Longest single value in a CSV/TSV cell (Python's csv default); longer ones usually mean an unclosed quote."""

MAX_VOCAB = 2_000_000
"""Largest vocabulary (``preprocess.max_vocab``), reserved padding and out-of-vocabulary ids included."""

MIN_VOCAB = 3
"""Smallest useful vocabulary: padding, out-of-vocabulary and at least one real token."""

MAX_PREDICT_TEXT_CHARS = 1_000_000
"""Longest text accepted by a prediction; models only read ``max_length`` tokens of it anyway."""

MAX_MODEL_MEMORY_BYTES = 4 * 1024**3
"""Most memory a model may need to train (weights, gradients, optimizer state, activations of one batch)."""


def physical_memory_bytes() -> int | None:
    """This machine's RAM, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def model_memory_budget() -> int:
    """Memory a model may use here: the limit, or half the machine's RAM if that is less."""
    ram = physical_memory_bytes()
    return min(MAX_MODEL_MEMORY_BYTES, ram // 2) if ram else MAX_MODEL_MEMORY_BYTES


DEFAULT_SESSION_MAX_RUNS = 3
DEFAULT_SESSION_UPLOAD_MB = 500


class LimitError(StudioError):
    """A session reached one of the shared server's limits."""


def _positive_int(name: str, default: int) -> int:
    configured = os.environ.get(name, "").strip()
    if not configured:
        return default
    try:
        value = int(configured)
    except ValueError:
        value = 0
    if value < 1:
        raise StudioError(f"{name} must be a whole number of at least 1, got '{configured}'.",
                          fix=f"Set it to 1, 2, ... or unset it (default {default}).")
    return value


def session_max_runs() -> int:
    """Runs one session may have queued or running at once."""
    return _positive_int("RNNSTUDIO_SESSION_MAX_RUNS", DEFAULT_SESSION_MAX_RUNS)


def session_runs_error(active: int, cap: int) -> LimitError:
    """The message for one run more than a session may have queued or running."""
    runs = f"{active} run" + ("s" if active != 1 else "")
    return LimitError(f"this session already has {runs} queued or running; the limit is {cap} per session on this "
                      "server.", fix="Wait for one to finish, or stop one on the Train or Runs page (the server's "
                      "operator sets RNNSTUDIO_SESSION_MAX_RUNS).")


def session_upload_bytes() -> int:
    """Bytes of uploaded files one session may store."""
    return _positive_int("RNNSTUDIO_SESSION_UPLOAD_MB", DEFAULT_SESSION_UPLOAD_MB) * 1024**2
