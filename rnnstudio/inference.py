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
from rnnstudio.preprocess.text import OOV, PAD_ID, pad_sequences
from rnnstudio.recipe import recipe_from_dict
from rnnstudio.tasks.base import get_task
from rnnstudio.tasks.text_classification import check_text_lengths

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
    flat = np.asarray([v for r in parsed for v in r], dtype="float64")
    if not np.isfinite(flat).all():
        raise DataError(f"the {name} has missing or infinite values.", fix="Give finite numbers only.")
    if len(rows) > 1 and len(widths) == 1 and widths != {1}:
        return np.asarray(parsed, dtype="float64")  # steps × features
    return flat


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
        if self.task.name == "forecasting":
            return [self._forecast(parse_numbers(v) if isinstance(v, str) else v) for v in inputs]
        return self._probabilities(self._encoded(inputs)[0])

    def _encoded(self, inputs: list) -> tuple[np.ndarray, list[list[str] | None], np.ndarray]:
        """The model input for ``inputs``, each input's token per real step (None for series) and the real steps [n, T]."""
        kind = self.task.name
        if kind == "text-classification":
            texts = [str(t) for t in inputs]
            check_text_lengths(texts, file="input")
            x = self.pipeline.transform_x(pd.DataFrame({self.pipeline.text_column: texts}))
            encoder = self.pipeline.encoder
            # The typed tokens placed exactly as their ids were (same truncation and padding), unknown words kept.
            placed = pad_sequences([tokens or [OOV] for tokens in encoder.tokenize(texts)], encoder.max_length_,
                                   padding=encoder.padding, truncating=encoder.truncating, value=None, dtype=object)
            real = x != PAD_ID
            return x, [[str(t) for t in row[keep]] for row, keep in zip(placed, real)], real
        if kind == "forecasting":
            x = np.concatenate([self._forecast_input(parse_numbers(v) if isinstance(v, str) else v)[0] for v in inputs])
            return x, [None] * len(x), np.ones(x.shape[:2], dtype=bool)
        if kind == "sequence-classification":
            series = [parse_numbers(v) if isinstance(v, str) else np.asarray(v, dtype="float64") for v in inputs]
            n_features = len(self.pipeline.features)
            shaped = []
            for s in series:
                s = s.reshape(-1, 1) if s.ndim == 1 else s
                if s.shape[1] != n_features:
                    raise DataError(f"each step needs {n_features} value(s) ({', '.join(self.pipeline.features)}), "
                                    f"got {s.shape[1]}.", fix="Give one row per step with one number per feature.")
                shaped.append(s)
            pipe = self.pipeline
            real = pad_sequences([np.ones(len(s), dtype=bool) for s in shaped], pipe.max_length, padding=pipe.padding,
                                 truncating=pipe.truncating, value=False, dtype=bool)
            return pipe.transform_series(shaped), [None] * len(shaped), real
        raise AssertionError(f"unknown task {kind}")

    def explain(self, inputs: list) -> list[dict]:
        """What the network does with each input, at its real (unpadded) steps.

        One dict per input: ``tokens`` (the typed tokens, None for series),
        ``attention`` (weights per step of the attention layer, None without
        one) and ``hidden`` (``{"layer", "states": [steps][units]}`` of the first
        recurrent layer, None without one).
        """
        from rnnstudio.train.probes import attention_weights, hidden_states, recurrent_layers

        x, tokens, real = self._encoded(inputs)
        layers = recurrent_layers(self.model)
        states = hidden_states(self.model, x, layers[0]) if layers else None
        attention = attention_weights(self.model, x)
        return [{"tokens": tokens[i],
                 "attention": None if attention is None else np.round(attention[i][real[i]], 5).tolist(),
                 "hidden": None if states is None else {"layer": layers[0].name,
                                                        "states": np.round(states[i][real[i]], 4).tolist()}}
                for i in range(len(x))]

    def _forecast_input(self, values, features=None) -> tuple[np.ndarray, np.ndarray]:
        """The model input [1, lookback, F] for recent values, and the levels that undo differencing."""
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
        return matrix[-pipe.lookback:][None].astype("float32"), levels

    def _forecast(self, values, features=None) -> dict:
        """``values``: recent target values; ``features``: the same steps of the other input columns, if any."""
        pipe = self.pipeline
        x, levels = self._forecast_input(values, features)
        scaled = np.asarray(self.model.predict_on_batch(x), dtype="float64")
        forecast = pipe.to_original(scaled, levels[-1:])[0]
        return {"forecast": [float(v) for v in forecast], "horizon": pipe.horizon}


@lru_cache(maxsize=4)
def _predictor(folder: str, mtime: float) -> RunPredictor:
    return RunPredictor(folder)


def _run_predictor(folder: str) -> RunPredictor:
    path = Path(folder) / "model.keras"
    if not path.exists():
        raise RunError("this run has no trained model yet.", fix="Wait until it completes, or resume it.")
    return _predictor(str(folder), path.stat().st_mtime)


def predict_run(folder: str, inputs: list) -> list[dict]:
    """Predictions of the run in ``folder`` (model cached until the file changes)."""
    return _run_predictor(folder).predict(inputs)


def explain_run(folder: str, inputs: list) -> list[dict]:
    """Tokens, attention weights and hidden states of the run in ``folder`` on ``inputs`` (see RunPredictor.explain)."""
    return _run_predictor(folder).explain(inputs)


@lru_cache(maxsize=8)
def _prepared(data_json: str):
    from rnnstudio.train.runner import prepare

    return prepare(recipe_from_dict(json.loads(data_json)))


def model_summary(recipe_dict: dict) -> dict:
    """Layer table, parameter counts, a memory estimate and the cuDNN verdict for a Recipe's model."""
    import keras

    from rnnstudio.memory import check_model_memory
    from rnnstudio.train.runner import build
    from rnnstudio.zoo.rnn import RecurrentFields, cudnn_blockers

    recipe = recipe_from_dict(recipe_dict)
    # The data part decides the fitted pipeline; model changes reuse it.
    data_part = {k: v for k, v in recipe.to_dict().items() if k in ("version", "data", "preprocess")}
    prepared, task = _prepared(json.dumps(data_part, sort_keys=True))
    memory = check_model_memory(recipe, prepared)  # refuse before building, as training does
    keras.backend.clear_session()
    model = build(recipe, prepared, task)
    layers = []
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = tuple(shape.shape) if shape is not None and hasattr(shape, "shape") else None
        layers.append({"name": layer.name, "type": type(layer).__name__,
                       "output_shape": "×".join("batch" if d is None else str(d) for d in shape) if shape else "",
                       "parameters": int(layer.count_params())})
    trainable = int(sum(math.prod(v.shape) for v in model.trainable_variables))
    total = int(model.count_params())
    blockers = cudnn_blockers(recipe.model) if isinstance(recipe.model, RecurrentFields) else []
    return {"layers": layers, "parameters": total, "trainable_parameters": trainable,
            "memory_bytes": {k: memory[k] for k in ("weights_and_optimizer", "activations", "total", "batch_size")},
            "cudnn": {"applies": getattr(recipe.model, "cell", None) in ("lstm", "gru"),
                      "blockers": blockers},
            "inputs": {"kind": prepared.input_spec.kind, "seq_len": prepared.input_spec.seq_len,
                       "n_features": prepared.input_spec.n_features, "vocab_size": prepared.input_spec.vocab_size},
            "outputs": prepared.n_outputs, "train_examples": len(prepared.train)}
