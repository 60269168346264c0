"""Predictions on raw inputs and model summaries: the TensorFlow side of the app.

The app's process never imports TensorFlow; it asks a helper process
(:mod:`rnnstudio.service`) to call these functions. They are plain library
functions too, usable from a notebook.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from rnnstudio.errors import DataError, RunError
from rnnstudio.recipe import recipe_from_dict
from rnnstudio.tasks.base import get_task

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|NaN")


def parse_numbers(text: str, *, name: str = "input") -> np.ndarray:
    """Numbers typed or pasted by a person: "1, 2.5 3" or one per line → [n] floats.

    Rows separated by ";" or new lines with several numbers each become [steps, features].
    """
    rows = [r for r in re.split(r"[;\n]", text.strip()) if r.strip()]
    if not rows:
        raise DataError(f"the {name} is empty.", fix="Paste numbers separated by commas or spaces, e.g. 1.2, 3.4, 5.0.")
    parsed = []
    for i, row in enumerate(rows, start=1):
        leftovers = _NUMBER.sub(" ", row).replace(",", " ").strip()
        if leftovers:
            raise DataError(f"'{leftovers.split()[0]}' in the {name} (row {i}) is not a number.",
                            fix="Use digits with '.' as the decimal point, separated by commas or spaces.")
        parsed.append([float(v) for v in _NUMBER.findall(row)])
    widths = {len(r) for r in parsed}
    if len(rows) > 1 and len(widths) == 1 and widths != {1}:
        return np.asarray(parsed, dtype="float64")  # steps × features
    values = np.asarray([v for r in parsed for v in r], dtype="float64")
    if not np.isfinite(values).all():
        raise DataError(f"the {name} has missing or infinite values.", fix="Give finite numbers only.")
    return values


class RunPredictor:
    """A finished run's model and fitted pipeline, predicting on raw inputs as a user types them."""

    def __init__(self, folder: Path | str):
        from rnnstudio.train.runner import load_run_model

        self.folder = Path(folder)
        self.recipe = recipe_from_dict(json.loads((self.folder / "recipe.json").read_text()))
        self.task = get_task(self.recipe.data.task)
        self.pipeline = self.task.load_pipeline(json.loads((self.folder / "pipeline.json").read_text()))
        self.model = load_run_model(self.folder)

    def _probabilities(self, x: np.ndarray) -> list[dict]:
        proba = np.asarray(self.model.predict_on_batch(x), dtype="float64")
        classes = self.pipeline.classes
        return [{"label": classes[int(p.argmax())], "probabilities": {c: float(v) for c, v in zip(classes, p)}}
                for p in proba]

    def predict(self, inputs: list) -> list[dict]:
        """``inputs``: texts (text tasks), or number strings / lists (series tasks); one result per input."""
        kind = self.task.name
        if kind == "text-classification":
            frame = pd.DataFrame({self.pipeline.text_column: [str(t) for t in inputs]})
            return self._probabilities(self.pipeline.transform_x(frame))
        if kind == "forecasting":
            return [self._forecast(parse_numbers(v) if isinstance(v, str) else v) for v in inputs]
        series = [parse_numbers(v) if isinstance(v, str) else np.asarray(v, dtype="float64") for v in inputs]
        if kind == "sequence-classification":
            n_features = len(self.pipeline.features)
            shaped = []
            for s in series:
                s = s.reshape(-1, 1) if s.ndim == 1 else s
                if s.shape[1] != n_features:
                    raise DataError(f"each step needs {n_features} value(s) ({', '.join(self.pipeline.features)}), "
                                    f"got {s.shape[1]}.", fix="Give one row per step with one number per feature.")
                shaped.append(s)
            return self._probabilities(self.pipeline.transform_series(shaped))
        raise AssertionError(f"unknown task {kind}")

    def _forecast(self, values, features=None) -> dict:
        """``values``: recent target values; ``features``: the same steps of the other input columns, if any."""
        pipe = self.pipeline
        if isinstance(values, dict):
            values, features = values["history"], values.get("features")
        values = np.asarray(values, dtype="float64").reshape(-1)
        if pipe.features and features is None:
            raise DataError(f"this model also reads {', '.join(pipe.features)}; typed input gives the target only.",
                            fix="Score a file with all columns: python -m rnnstudio evaluate RUN --data FILE.")
        needed = pipe.lookback + (1 if pipe.diff else 0)
        if len(values) < needed:
            raise DataError(f"the model looks back {pipe.lookback} steps, so it needs the last {needed} values; "
                            f"got {len(values)}.", fix=f"Paste at least {needed} recent values of '{pipe.target}'.")
        if pipe.log and (values <= -1).any():
            raise DataError("the model was trained on a log scale and needs values above -1.",
                            fix="Paste values in the same units as the training data.")
        extra = np.zeros((len(values), 0)) if features is None else np.asarray(features, "float64").reshape(len(values), -1)
        matrix, levels = pipe.model_matrix(values, extra)
        x = matrix[-pipe.lookback:][None].astype("float32")
        scaled = np.asarray(self.model.predict_on_batch(x), dtype="float64")
        forecast = pipe.to_original(scaled, levels[-1:])[0]
        return {"forecast": [float(v) for v in forecast], "horizon": pipe.horizon}


@lru_cache(maxsize=4)
def _predictor(folder: str, mtime: float) -> RunPredictor:
    return RunPredictor(folder)


def predict_run(folder: str, inputs: list) -> list[dict]:
    """Predictions of the run in ``folder`` (model cached until the file changes)."""
    path = Path(folder) / "model.keras"
    if not path.exists():
        raise RunError("this run has no trained model yet.", fix="Wait until it completes, or resume it.")
    return _predictor(str(folder), path.stat().st_mtime).predict(inputs)


@lru_cache(maxsize=8)
def _prepared(data_json: str):
    from rnnstudio.train.runner import prepare

    return prepare(recipe_from_dict(json.loads(data_json)))


def model_summary(recipe_dict: dict) -> dict:
    """Layer table, parameter counts, a memory estimate and the cuDNN verdict for a Recipe's model."""
    import keras

    from rnnstudio.train.runner import build
    from rnnstudio.zoo.rnn import RecurrentFields, cudnn_blockers

    recipe = recipe_from_dict(recipe_dict)
    # The data part decides the fitted pipeline; model changes reuse it.
    data_part = {k: v for k, v in recipe.to_dict().items() if k in ("version", "data", "preprocess")}
    prepared, task = _prepared(json.dumps(data_part, sort_keys=True))
    keras.backend.clear_session()
    model = build(recipe, prepared, task)
    layers = []
    activations = 0
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None and hasattr(shape, "shape") else None
        if shape:
            activations += math.prod(d for d in shape[1:] if d)
        layers.append({"name": layer.name, "type": type(layer).__name__,
                       "output_shape": "×".join("batch" if d is None else str(d) for d in shape) if shape else "",
                       "parameters": int(layer.count_params())})
    trainable = int(sum(math.prod(v.shape) for v in model.trainable_variables))
    total = int(model.count_params())
    batch = recipe.train.batch_size
    # Weights + gradients + two Adam moments, and activations kept for backprop (×3 for RNN gates, a rough bound).
    weight_bytes = 4 * (total + 3 * trainable)
    activation_bytes = 4 * batch * activations * 3
    blockers = cudnn_blockers(recipe.model) if isinstance(recipe.model, RecurrentFields) else []
    return {"layers": layers, "parameters": total, "trainable_parameters": trainable,
            "memory_bytes": {"weights_and_optimizer": weight_bytes, "activations": activation_bytes,
                             "total": weight_bytes + activation_bytes, "batch_size": batch},
            "cudnn": {"applies": getattr(recipe.model, "cell", None) in ("lstm", "gru"),
                      "blockers": blockers},
            "inputs": {"kind": prepared.input_spec.kind, "seq_len": prepared.input_spec.seq_len,
                       "n_features": prepared.input_spec.n_features, "vocab_size": prepared.input_spec.vocab_size},
            "outputs": prepared.n_outputs, "train_examples": len(prepared.train)}
