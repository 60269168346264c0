"""Epoch checkpoints of weights, optimizer state and loop state, written atomically.

Arrays go to ``.npz`` (no pickle) through a temporary file and a rename, then
``latest.json`` is replaced; a kill at any moment leaves the previous
checkpoint loadable. The two newest checkpoints are kept.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from rnnstudio.runs.files import write_json_atomic

KEEP = 2


class CheckpointStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def _write_arrays(self, path: Path, arrays: list[np.ndarray]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, *arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def save(self, model, optimizer, state) -> Path:
        name = f"step-{state.step:09d}.npz"
        arrays = [v.numpy() for v in model.weights] + [v.numpy() for v in optimizer.variables]
        self._write_arrays(self.folder / name, arrays)
        write_json_atomic(self.folder / "latest.json", {
            "file": name, "n_model": len(model.weights), "state": dataclasses.asdict(state)})
        for old in sorted(self.folder.glob("step-*.npz"))[:-KEEP]:
            old.unlink(missing_ok=True)
        return self.folder / name

    def save_best(self, weights: list[np.ndarray]) -> None:
        self._write_arrays(self.folder / "best.npz", weights)

    def load_best(self) -> list[np.ndarray] | None:
        path = self.folder / "best.npz"
        if not path.exists():
            return None
        with np.load(path) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    def latest(self) -> dict | None:
        path = self.folder / "latest.json"
        if not path.exists():
            return None
        return json.loads(path.read_text())

    def restore(self, model, optimizer) -> dict | None:
        """Loads the newest checkpoint into ``model`` and ``optimizer``; returns its loop state."""
        meta = self.latest()
        if meta is None:
            return None
        with np.load(self.folder / meta["file"]) as data:
            arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
        n = meta["n_model"]
        model.set_weights(arrays[:n])
        optimizer.build(model.trainable_variables)
        for variable, value in zip(optimizer.variables, arrays[n:]):
            variable.assign(value)
        return meta["state"]
