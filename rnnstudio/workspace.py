"""Paths that come from a browser stay inside the studio's workspace (``$RNNSTUDIO_HOME``).

Anything a page or the helper process receives -- a data source in a Recipe,
a word-vector file, a run folder, an export folder -- is resolved (``..`` and
symlinks followed) and must land inside the workspace; otherwise it is
refused before any file is opened. The command line is run by a person on
their own files, so its file arguments are not confined; its run ids are,
since they only ever name folders under ``<home>/runs``.
"""

from __future__ import annotations

import re
from pathlib import Path

from rnnstudio.errors import StudioError

__all__ = ["PathError", "confine", "recipe_path_problems", "check_run_id", "RECIPE_PATHS"]

SAMPLE_PREFIX = "sample:"
#: Recipe fields holding file paths: (section, field).
RECIPE_PATHS = (("data", "source"), ("data", "test_source"), ("model", "embeddings_file"))
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class PathError(StudioError):
    """A path outside the workspace, or a name that cannot be a run id."""


def confine(path: str | Path, root: str | Path, *, field: str | None = None) -> Path:
    """``path`` resolved (relative paths from ``root``) if it lies inside ``root``; PathError otherwise."""
    root = Path(root).expanduser().resolve()
    candidate = Path(path)
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise PathError(f"'{path}' is outside the studio's workspace.", field=field,
                        fix="Upload the file on the Data page (or pick a built-in sample); the app opens only files "
                            "inside its workspace.")
    return resolved


def recipe_path_problems(recipe: dict, home: str | Path) -> list[StudioError]:
    """One PathError per file path in a Recipe (as a dict) that leaves the workspace; samples are fine."""
    problems = []
    for section, name in RECIPE_PATHS:
        value = (recipe.get(section) or {}).get(name)
        if not value or (name != "embeddings_file" and str(value).startswith(SAMPLE_PREFIX)):
            continue
        try:
            confine(str(value), home, field=f"{section}.{name}")
        except PathError as exc:
            problems.append(exc)
    return problems


def check_run_id(run_id: str) -> str:
    """``run_id`` when it can only name a folder directly under the runs folder; PathError otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id) or ".." in run_id:
        raise PathError(f"'{str(run_id)[:80]}' is not a run id.",
                        fix="Use an id from `python -m rnnstudio runs list` or the Runs page.")
    return run_id
