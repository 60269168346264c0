"""Runs: the run registry (SQLite) and the run folders."""

from rnnstudio.runs.files import write_atomic, write_json_atomic
from rnnstudio.runs.registry import STATUSES, RunInfo, RunRegistry, studio_home

__all__ = [
    "RunRegistry",
    "RunInfo",
    "STATUSES",
    "studio_home",
    "write_atomic",
    "write_json_atomic",
]
