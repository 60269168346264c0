"""Batch prediction with an exported artifact: a file of raw rows in, a CSV of predictions out."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from rnnstudio.errors import StudioError
from rnnstudio.export.model_files import inspect_model_file

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    """A text cell that spreadsheets will not run as a formula (numbers pass unchanged)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _artifact(path: Path) -> tuple[str, Path, Path]:
    """(kind, model path, folder holding pipeline.json and recipe.json) of an export folder, SavedModel or .keras."""
    if path.is_file():
        inspect_model_file(path)  # refuses .h5, pickles and crafted .keras files before anything loads them
        return "keras", path, path.parent
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return "savedmodel", path, path.parent
        if (path / "savedmodel" / "saved_model.pb").exists():
            return "savedmodel", path / "savedmodel", path
        if (path / "model.keras").exists():
            return "keras", path / "model.keras", path
    raise StudioError(f"'{path}' is not an exported model.", fix="Give an export folder (python -m rnnstudio export RUN), "
                      "its savedmodel/ folder or a model.keras file; .h5, pickle and joblib files are refused.")


def predict_file(artifact: str | Path, input_path: str | Path, output_path: str | Path, *, batch_size: int = 256,
                 progress: bool = True) -> dict:
    """Predicts every example of ``input_path`` with ``artifact``; writes ``output_path``; returns a summary."""
    from tqdm import tqdm

    from rnnstudio.data.load import load_source
    from rnnstudio.export.run import serving_request
    from rnnstudio.recipe import recipe_from_dict
    from rnnstudio.tasks.base import get_task
    from rnnstudio.tasks.text_classification import check_text_lengths

    kind, model_path, folder = _artifact(Path(artifact))
    if not (folder / "pipeline.json").exists() or not (folder / "recipe.json").exists():
        raise StudioError(f"'{folder}' lacks pipeline.json or recipe.json next to the model.",
                          fix="Use the whole export folder written by `python -m rnnstudio export`.")
    recipe = recipe_from_dict(json.loads((folder / "recipe.json").read_text()))
    task = get_task(recipe.data.task)
    pipeline = task.load_pipeline(json.loads((folder / "pipeline.json").read_text()))
    frame, name = load_source(str(input_path))
    if task.name == "text-classification":
        examples = pipeline.texts(frame, file=name)
        check_text_lengths(examples, file=name)
        ids = list(range(1, len(examples) + 1))
    elif task.name == "sequence-classification":
        series, _ = pipeline.series(frame, file=name)
        examples = [np.asarray(s, "float64").tolist() for s in series]
        ids = list(range(1, len(examples) + 1))
    else:
        _, y, f = pipeline.table(frame, file=name)
        needed = pipeline.lookback + (1 if pipeline.diff else 0)
        if len(y) < needed:
            raise StudioError(f"the file has {len(y)} values of '{pipeline.target}'; the model needs the last {needed}.",
                              file=name, fix="Give a longer history.")
        window = {"history": y[-needed:].tolist(), "features": f[-needed:].tolist()}
        examples, ids = [window if pipeline.features else window["history"]], [len(y)]
    if not examples:
        raise StudioError("the input file has no examples to predict.", file=name, fix="Give a file with data rows.")
    predict = _savedmodel_predictor(model_path) if kind == "savedmodel" else _keras_predictor(model_path, pipeline, task)
    outputs = []
    for start in tqdm(range(0, len(examples), batch_size), desc="predicting", unit="batch", disable=not progress):
        outputs.append(predict(serving_request(task.name, examples[start:start + batch_size])))
    rows = _rows(task.name, pipeline, ids, outputs)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with open(output_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
    return {"artifact": str(model_path), "kind": kind, "examples": len(examples), "rows": len(rows),
            "output": str(output_path)}


def _savedmodel_predictor(path: Path):
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    specs = serve.structured_input_signature[1]

    def predict(request: dict) -> dict:
        inputs = {k: tf.constant(np.asarray(request[k], dtype=spec.dtype.as_numpy_dtype)) for k, spec in specs.items()}
        return {k: v.numpy() for k, v in serve(**inputs).items()}

    return predict


def _keras_predictor(path: Path, pipeline, task):
    from rnnstudio.export.model_files import load_keras_model

    model = load_keras_model(path)

    def predict(request: dict) -> dict:
        if task.name == "text-classification":
            import pandas as pd

            x = pipeline.transform_x(pd.DataFrame({pipeline.text_column: request["text"]}))
        elif task.name == "sequence-classification":
            x = pipeline.transform_series([np.asarray(s)[np.isfinite(np.asarray(s)).all(axis=-1)]
                                           for s in request["sequences"]])
        else:
            history = np.asarray(request["history"], "float64")
            features = request.get("features") or [np.zeros((len(h), 0)) for h in history]
            matrices = [pipeline.model_matrix(h, np.asarray(f, "float64").reshape(len(h), -1))
                        for h, f in zip(history, features)]
            x = np.stack([m[-pipeline.lookback:] for m, _ in matrices]).astype("float32")
            levels = np.array([z[-1] for _, z in matrices])
            return {"forecast": pipeline.to_original(np.asarray(model.predict_on_batch(x), "float64"), levels)}
        probabilities = np.asarray(model.predict_on_batch(x))
        return {"probabilities": probabilities, "label": np.array(pipeline.classes)[probabilities.argmax(axis=1)]}

    return predict


def _rows(task: str, pipeline, ids: list, outputs: list[dict]) -> list[dict]:
    if task == "forecasting":
        forecast = np.concatenate([o["forecast"] for o in outputs])[0]
        return [{"steps_after_last_row": i + 1, f"forecast_{pipeline.target}": float(v)} for i, v in enumerate(forecast)]
    labels = np.concatenate([o["label"] for o in outputs])
    probabilities = np.concatenate([o["probabilities"] for o in outputs])
    rows = []
    for example, label, p in zip(ids, labels, probabilities):
        row = {"example": example, "label": label.decode() if isinstance(label, bytes) else str(label)}
        row.update({f"p_{c}": float(v) for c, v in zip(pipeline.classes, p)})
        rows.append(row)
    return rows
