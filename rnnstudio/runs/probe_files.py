"""Probe records: one JSON file per epoch in ``<run folder>/probes/``.

``epoch-0000.json`` is the untrained network (written before the first step),
``epoch-0001.json`` the network after one epoch, and so on. Each file is
written atomically, so a reader never sees half a record; floats are rounded
to 5 significant digits to keep a record small.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from rnnstudio.runs.files import write_json_atomic

__all__ = ["PROBES_DIR", "probe_path", "write_probe", "probe_records", "probe_epochs", "round_floats",
           "remove_probes_after"]

PROBES_DIR = "probes"
SIGNIFICANT_DIGITS = 5
_NAME = re.compile(r"^epoch-(\d+)\.json$")


def probe_path(folder: str | os.PathLike, epoch: int) -> Path:
    """Where the record of ``epoch`` lives inside run ``folder``."""
    return Path(folder) / PROBES_DIR / f"epoch-{int(epoch):04d}.json"


def _round_array(values: np.ndarray, digits: int) -> np.ndarray:
    """Rounds to ``digits`` significant digits as n / 10^k (a correctly rounded division, so each value
    prints as its short decimal); non-finite values and zeros pass through."""
    values = values.astype("float64")
    finite = np.isfinite(values) & (values != 0)
    exponent = np.zeros(values.shape, dtype="int64")
    exponent[finite] = digits - 1 - np.floor(np.log10(np.abs(values[finite]))).astype("int64")
    out = values.copy()
    up = finite & (exponent >= 0)
    down = finite & (exponent < 0)
    out[up] = np.round(values[up] * 10.0 ** exponent[up]) / 10.0 ** exponent[up]
    out[down] = np.round(values[down] / 10.0 ** -exponent[down]) * 10.0 ** -exponent[down]
    return out


def round_floats(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """``value`` with every float (also numpy scalars/arrays) rounded to ``digits`` significant digits."""
    if isinstance(value, dict):
        return {str(k): round_floats(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)) and len(value):
        # Whole float arrays at once: probe records hold tens of thousands of numbers.
        try:
            array = np.asarray(value)
        except ValueError:  # ragged
            array = None
        if array is not None and array.dtype.kind == "f":
            return _round_array(array, digits).tolist()
        if array is not None and array.dtype.kind in "iub":
            return array.tolist()
    if isinstance(value, (list, tuple)):
        return [round_floats(v, digits) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return float(f"{value:.{digits}g}") if math.isfinite(value) else value
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars
    if callable(tolist):
        return round_floats(tolist(), digits)
    return value


def write_probe(folder: str | os.PathLike, record: dict) -> Path:
    """Write ``record`` (needs an integer ``"epoch"``) as ``probes/epoch-NNNN.json`` in run ``folder``."""
    if "epoch" not in record:
        raise ValueError("A probe record needs an 'epoch' number.")
    return write_json_atomic(probe_path(folder, record["epoch"]), round_floats(record), indent=None)


def probe_epochs(folder: str | os.PathLike) -> list[int]:
    """Epoch numbers that have a probe file in run ``folder``, ascending (``[]`` when none)."""
    probes = Path(folder) / PROBES_DIR
    if not probes.is_dir():
        return []
    return sorted(int(m.group(1)) for p in probes.iterdir() if (m := _NAME.match(p.name)))


def probe_records(folder: str | os.PathLike) -> list[dict]:
    """Every probe record of run ``folder``, sorted by epoch; ``[]`` for a missing folder.

    A file that cannot be read as JSON (e.g. from a disk that filled up) is skipped.
    """
    records = []
    for epoch in probe_epochs(folder):
        try:
            record = json.loads(probe_path(folder, epoch).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            record.setdefault("epoch", epoch)
            records.append(record)
    return records


def remove_probes_after(folder: str | os.PathLike, epoch: int) -> None:
    """Deletes the records of epochs after ``epoch`` (a resumed run trains them again)."""
    for later in probe_epochs(folder):
        if later > epoch:
            probe_path(folder, later).unlink(missing_ok=True)
