"""Files a person uploads through the browser, stored under the studio home by content hash.

An uploaded file's name is never used as a path: the stored file is named by
the SHA-256 of its bytes plus an extension from a fixed list, and the name the
person gave is kept beside it only for messages.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePath

from rnnstudio.errors import DataError
from rnnstudio.limits import LimitError, session_upload_bytes
from rnnstudio.runs.files import write_atomic, write_json_atomic

#: Extensions the readers understand; anything else is stored as .csv and sniffed.
EXTENSIONS = (".csv", ".tsv", ".txt", ".gz", ".bz2", ".zip", ".xz")
_NAME_LIMIT = 200
_OWNER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # session ids become ledger file names, so only these characters


def uploads_dir(home: Path) -> Path:
    return Path(home) / "uploads"


def _suffix(original_name: str) -> str:
    suffixes = [s.lower() for s in PurePath(original_name.replace("\\", "/")).suffixes][-2:]
    kept = [s for s in suffixes if s in EXTENSIONS]
    return "".join(kept) or ".csv"


def store_upload(data: bytes, original_name: str, *, home: Path, owner: str | None = None) -> str:
    """Saves uploaded bytes once (same bytes, same file) and returns the data source to put in a Recipe.

    With an ``owner`` (a browser session), the bytes count against that session's upload limit.
    """
    if not data:
        raise DataError("the uploaded file is empty (0 bytes).", file=original_name,
                        fix="Upload a CSV, TSV or TXT file with a header row and data.")
    digest = hashlib.sha256(data).hexdigest()[:24]
    folder = uploads_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{_suffix(original_name)}"
    if owner is not None:
        _count_for_session(folder, owner, path.name, len(data), original_name)
    if not path.exists():
        write_atomic(path, data)
    write_json_atomic(path.with_name(path.name + ".json"), {"name": str(original_name)[:_NAME_LIMIT]})
    return str(path)


def display_name(path: Path | str) -> str | None:
    """The name the person gave an uploaded file, or None for other files."""
    sidecar = Path(str(path) + ".json")
    try:
        return str(json.loads(sidecar.read_text())["name"])[:_NAME_LIMIT]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _count_for_session(folder: Path, owner: str, stored: str, size: int, original_name: str) -> None:
    """Adds a file to the session's ledger of uploads, or refuses it when the session's limit would be passed."""
    if not _OWNER.match(owner):
        raise DataError("this browser session has an invalid id.", fix="Reload the page to get a new session.")
    ledger_path = folder / "sessions" / f"{owner}.json"
    try:
        ledger = {str(k): int(v) for k, v in json.loads(ledger_path.read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        ledger = {}
    if stored in ledger:
        return  # the same bytes again cost nothing
    used, limit = sum(ledger.values()), session_upload_bytes()
    if used + size > limit:
        raise LimitError(f"this session has stored {used / 1024**2:.1f} MB of uploads; {size / 1024**2:.1f} MB "
                         f"more would pass the limit of {limit / 1024**2:.0f} MB per session on this server.",
                         file=str(original_name)[:_NAME_LIMIT], fix="Reuse a file you already uploaded or upload a "
                         "smaller sample (the server's operator sets RNNSTUDIO_SESSION_UPLOAD_MB).")
    ledger[stored] = size
    write_json_atomic(ledger_path, ledger)
