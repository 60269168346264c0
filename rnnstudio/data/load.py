"""Resolving a Recipe's data source (a file or a built-in sample) into DataFrames."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from rnnstudio.data.uploads import display_name
from rnnstudio.data.read import read_table
from rnnstudio.data.samples import SAMPLES, load_sample, split_sample_name
from rnnstudio.errors import DataError

SAMPLE_PREFIX = "sample:"


def load_source(source: str | None, *, seed: int = 0) -> tuple[pd.DataFrame, str]:
    """The table behind ``source`` and the name to use for it in messages."""
    if not source:
        raise DataError("no data file was given.", fix="Pass --data FILE (or --data sample:NAME; see `python -m rnnstudio samples`).")
    if source.startswith(SAMPLE_PREFIX):
        name = source[len(SAMPLE_PREFIX):]
        return load_sample(name, seed=seed), source
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError("file not found.", file=source, fix="Check the path (relative paths start from the current folder).")
    if path.is_dir():
        raise DataError("this is a folder, not a file.", file=source, fix="Give the path of a CSV, TSV or TXT file.")
    name = display_name(path) or path.name
    return read_table(path, name=name), name


def sample_defaults(source: str | None) -> dict:
    """Task and column roles of a built-in sample, so ``--data sample:NAME`` needs nothing else."""
    if not source or not source.startswith(SAMPLE_PREFIX):
        return {}
    sample = SAMPLES.get(split_sample_name(source[len(SAMPLE_PREFIX):])[0])
    if sample is None:
        return {}
    return {"task": sample.task, "target": sample.target, **sample.data_fields}
