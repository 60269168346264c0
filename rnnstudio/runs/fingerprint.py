"""What identifies a run's inputs exactly: seeds, a hash of the Recipe and hashes of its data.

Written into the run's ``environment.json`` beside the library versions, so two runs
that claim to be the same experiment can be checked to be the same experiment.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["fingerprint", "recipe_hash", "source_hash"]

_DETERMINISM_ENV = ("PYTHONHASHSEED", "TF_DETERMINISTIC_OPS", "TF_ENABLE_ONEDNN_OPTS", "RNNSTUDIO_MAX_RUNS")


def recipe_hash(recipe) -> str:
    """SHA-256 of the Recipe's settings in canonical JSON (its display name left out)."""
    data = {k: v for k, v in recipe.to_dict().items() if k != "name"}
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def source_hash(source: str | None, *, seed: int = 0) -> str | None:
    """SHA-256 of a data file's bytes, or of a generated sample's column names and row hashes for ``sample:NAME``."""
    from rnnstudio.data.load import SAMPLE_PREFIX, load_source

    if not source:
        return None
    digest = hashlib.sha256()
    if source.startswith(SAMPLE_PREFIX):
        frame, _ = load_source(source, seed=seed)
        import pandas as pd

        digest.update("\x1f".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()
    path = Path(source).expanduser()
    if not path.is_file():
        return None
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(recipe) -> dict:
    """Seeds, Recipe hash, data hashes and determinism-related environment variables of a run."""
    return {"seeds": {"data": recipe.data.seed, "train": recipe.train.seed},
            "recipe_sha256": recipe_hash(recipe),
            "data_sha256": source_hash(recipe.data.source, seed=recipe.data.seed),
            "test_data_sha256": source_hash(recipe.data.test_source, seed=recipe.data.seed + 1),
            "determinism_env": {k: os.environ[k] for k in _DETERMINISM_ENV if k in os.environ}}
