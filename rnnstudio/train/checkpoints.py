"""Epoch checkpoints of weights, optimizer state and loop state, written atomically.

Arrays go to ``.npz`` (no pickle) through a temporary file and a rename, then
``latest.json`` is replaced; it names the weights file and the best-epoch
weights that belong to it, so a kill at any moment leaves the previous
checkpoint whole and loadable. Files named by the newest and the previous
``latest.json`` are kept, every other one is removed. A full disk raises
:class:`DiskFullError` and changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from rnnstudio.errors import StudioError
from rnnstudio.runs.faults import disk_full_guard
from rnnstudio.runs.files import atomic_file, write_json_atomic

PENDING_BEST = "best.next.npz"  # best weights waiting for the checkpoint that will name them


class CheckpointStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._pending_best = False

    def _write_arrays(self, path: Path, arrays: list[np.ndarray]) -> None:
        with disk_full_guard(self.folder), atomic_file(path) as fh:
            np.savez(fh, *arrays)

    def save(self, model, optimizer, state) -> Path:
        previous = self.latest() or {}
        name = f"step-{state.step:09d}.npz"
        arrays = [v.numpy() for v in model.weights] + [v.numpy() for v in optimizer.variables]
        self._write_arrays(self.folder / name, arrays)
        best = previous.get("best")
        with disk_full_guard(self.folder):
            if self._pending_best:
                best = f"best-{state.step:09d}.npz"
                (self.folder / PENDING_BEST).replace(self.folder / best)
            write_json_atomic(self.folder / "latest.json", {
                "file": name, "best": best, "n_model": len(model.weights), "state": dataclasses.asdict(state)})
        self._pending_best = False
        self._prune(keep={name, best, previous.get("file"), previous.get("best")})
        return self.folder / name

    def _prune(self, keep: set) -> None:
        # Files neither checkpoint names: older ones, and ones a killed save wrote but never named.
        for old in [*self.folder.glob("step-*.npz"), *self.folder.glob("best-*.npz"), *self.folder.glob(".*.tmp")]:
            if old.name not in keep:
                old.unlink(missing_ok=True)

    def save_best(self, weights: list[np.ndarray]) -> None:
        """Stages the best-epoch weights; the next :meth:`save` makes them part of its checkpoint."""
        self._write_arrays(self.folder / PENDING_BEST, weights)
        self._pending_best = True

    def load_best(self) -> list[np.ndarray] | None:
        meta = self.latest() or {}
        path = self.folder / (meta.get("best") or "best.npz")  # best.npz: checkpoints of older versions
        if not path.exists():
            return None
        return self._read_arrays(path)

    def _read_arrays(self, path: Path) -> list[np.ndarray]:
        try:
            with np.load(path, allow_pickle=False) as data:
                return [data[f"arr_{i}"] for i in range(len(data.files))]
        except (OSError, ValueError, KeyError) as exc:
            raise StudioError(f"the checkpoint {path} cannot be read ({exc}).",
                           fix="start a new run from this run's recipe.") from exc

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
        arrays = self._read_arrays(self.folder / meta["file"])
        n = meta["n_model"]
        model.set_weights(arrays[:n])
        optimizer.build(model.trainable_variables)
        for variable, value in zip(optimizer.variables, arrays[n:]):
            variable.assign(value)
        return meta["state"]
