"""Before/after previews of the user's own rows, for the Data and Preprocess pages.

Every function here runs the task's real ``prepare`` (the same fitting a run
does: split, vocabulary or scalers, max length, windows, augmentation) and
reads its results back as plain data — dicts, lists and numbers, no figures —
so what a page shows is exactly what training will get. Nothing here imports
TensorFlow or Streamlit.

Pages re-run on every widget change, so the fitted result of the last few
(data, preprocess, seed, frame) combinations is kept in a small in-process
cache; the four functions called on the same inputs fit once. Frames above
:data:`PREVIEW_LIMITS` are previewed on a bounded, seeded sample (marked
``sampled`` in :func:`data_report`); then the fitted values are those of the
sample, close to but not exactly those of the full run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rnnstudio.errors import DataError, StudioError
from rnnstudio.memory import check_model_memory
from rnnstudio.preprocess import augment
from rnnstudio.preprocess.text import OOV_ID, PADDING, suggest_max_length
from rnnstudio.tasks.base import Prepared, Task, frame_overview, get_task, length_stats

__all__ = ["MAX_LENGTHS", "PREVIEW_LIMITS", "augment_preview", "check_model", "check_roles", "clear_cache", "data_report",
           "series_preview", "text_preview"]

PREVIEW_LIMITS: dict[str, int] = {
    "text-classification": 10_000,      # rows (texts)
    "sequence-classification": 1_000,   # series (rows in the wide layout, ids in the long layout)
    "forecasting": 20_000,              # time steps: the last ones of the file
}
"""Largest input a preview fits on; bigger frames are sampled (seeded by ``data.seed``)."""

MAX_LENGTHS = 5_000
"""Most per-example lengths :func:`data_report` returns for the histogram (a seeded sample beyond)."""

CACHE_SIZE = 4
"""Fitted previews kept in memory (the last few recipe/frame combinations)."""


# ------------------------------------------------------------------ fitting


@dataclass
class _Fitted:
    task: Task
    prepared: Prepared
    rows: int            # rows of the frame the caller gave
    rows_used: int       # rows prepare saw (fewer when sampled)
    sampled: bool
    frame: pd.DataFrame | None  # forecasting: a copy of what prepare saw (plus a separate test file)
    lazy: dict = field(default_factory=dict)  # derived values computed on first use


_cache: OrderedDict[str, _Fitted] = OrderedDict()
_lock = threading.Lock()


def clear_cache() -> None:
    """Forgets every fitted preview (the next call fits again)."""
    with _lock:
        _cache.clear()


def _fingerprint(frame: pd.DataFrame | None) -> str | None:
    if frame is None:
        return "none"
    try:
        values = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    except TypeError:  # unhashable cells (lists): no caching
        return None
    digest = hashlib.blake2b(values.tobytes(), digest_size=16)
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    return digest.hexdigest()


def _cache_key(recipe, frame: pd.DataFrame, test_frame: pd.DataFrame | None) -> str | None:
    prints = (_fingerprint(frame), _fingerprint(test_frame))
    if None in prints:
        return None
    # Only what prepare reads: the model and most training settings do not change the data.
    settings = {"data": recipe.data.model_dump(mode="json"), "preprocess": recipe.preprocess.model_dump(mode="json"),
                "seed": recipe.train.seed}
    return json.dumps([settings, prints], sort_keys=True)


def _fit(recipe, frame: pd.DataFrame, name: str | None, test_frame: pd.DataFrame | None = None) -> _Fitted:
    name = name or recipe.data.source or "data"
    task = get_task(recipe.data.task)
    if not isinstance(frame, pd.DataFrame):
        raise DataError("there is no table to preview.", file=name, fix="Load a CSV, TSV or TXT file first.")
    check_roles(recipe, frame, name=name)
    key = _cache_key(recipe, frame, test_frame)
    with _lock:
        if key is not None and key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    used = _bounded(recipe, frame)
    try:
        prepared = task.prepare(recipe, used, test_frame, name=name, check_model=False)
    except StudioError:
        raise
    except Exception as exc:  # a page shows a message, never a traceback
        raise DataError(f"the data could not be prepared ({exc.__class__.__name__}: {exc}).", file=name,
                        fix="Check the column roles and preprocessing settings.") from exc
    series = None
    if task.name == "forecasting":
        # A copy: the caller may change its frame later. As in prepare, a test file continues the series.
        series = used.copy() if test_frame is None else pd.concat([used, test_frame], ignore_index=True)
    fitted = _Fitted(task, prepared, rows=len(frame), rows_used=len(used), sampled=used is not frame, frame=series)
    if key is not None:
        with _lock:
            _cache[key] = fitted
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    return fitted


def check_roles(recipe, frame: pd.DataFrame, *, name: str = "data") -> None:
    """Raises a DataError naming the column when a column role in ``recipe.data`` cannot work.

    The task's own check, the one its ``prepare`` runs for training: a named
    column that is not in the table, a text column that holds numbers or is
    the label itself, a label column that looks like measurements.
    """
    get_task(recipe.data.task).check_roles(recipe, frame, name=name)


def check_model(recipe, frame: pd.DataFrame, name: str | None = None, *,
                test_frame: pd.DataFrame | None = None) -> dict:
    """The training-memory estimate of ``recipe``'s model on this data (see :mod:`rnnstudio.memory`).

    Raises:
        StudioError: when the model would not fit, naming the setting to lower, as a run would.
    """
    return check_model_memory(recipe, _fit(recipe, frame, name, test_frame).prepared)


def _bounded(recipe, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` itself, or a seeded sample of at most PREVIEW_LIMITS[task] examples."""
    task, data = recipe.data.task, recipe.data
    limit = PREVIEW_LIMITS.get(task)
    if limit is None:
        return frame
    rng = np.random.default_rng(data.seed)
    if task == "forecasting":
        # A series cannot be thinned: keep its most recent stretch (files are nearly always in time order).
        return frame.iloc[-limit:] if len(frame) > limit else frame
    if task == "sequence-classification":
        from rnnstudio.tasks.sequence_classification import infer_layout

        if len(frame) <= limit:
            return frame
        layout, id_column = infer_layout(frame, data, data.target)
        if layout == "long":
            ids = frame[id_column].drop_duplicates().to_numpy()
            if len(ids) <= limit:
                return frame
            keep = rng.choice(len(ids), size=limit, replace=False)
            return frame.loc[frame[id_column].isin(ids[keep])]
    if len(frame) <= limit:
        return frame
    # Sorted positions keep file order, which the split and the report depend on.
    return frame.iloc[np.sort(rng.choice(len(frame), size=limit, replace=False))]


def _require_task(fitted: _Fitted, *tasks: str, what: str) -> None:
    if fitted.task.name not in tasks:
        raise StudioError(f"{what} is for {' and '.join(tasks)}, not {fitted.task.name}.", field="data.task",
                          fix="Call the preview that matches the task.")


def _label(fitted: _Fitted, y) -> str | None:
    classes = getattr(fitted.prepared.pipeline, "classes", None)
    return classes[int(y)] if classes else None


def _copies(recipe) -> int:
    """Training examples per original after augmentation (prepare appends the copies after the originals)."""
    return 1 + sum(spec.multiplier for spec in recipe.preprocess.augment)


def _train_tokens(fitted: _Fitted) -> list[list[str]]:
    if "tokens" not in fitted.lazy:
        fitted.lazy["tokens"] = fitted.prepared.pipeline.encoder.tokenize(fitted.prepared.train.extra["texts"])
    return fitted.lazy["tokens"]


def _train_lengths(fitted: _Fitted) -> np.ndarray | None:
    """Per-example lengths of the training split (tokens or steps), what max_length is fitted on."""
    if fitted.task.name == "text-classification":
        return np.array([len(t) for t in _train_tokens(fitted)], dtype=int)
    if fitted.task.name == "sequence-classification":
        return np.array([len(s) for s in fitted.prepared.train.extra["series"]], dtype=int)
    return None


def _floats(array) -> list:
    return np.asarray(array, dtype=float).tolist()


# ------------------------------------------------------------------ report


def data_report(recipe, frame: pd.DataFrame, name: str | None = None, *,
                test_frame: pd.DataFrame | None = None) -> dict:
    """The validation report a page shows before training, with what a length histogram needs.

    Args:
        recipe: The Recipe (``data`` roles and ``preprocess`` settings are read).
        frame: The user's table (from ``load_source`` or an upload).
        name: File name used in messages; default ``recipe.data.source``.
        test_frame: The table of ``data.test_source``, if the recipe has one.

    Returns:
        ``report`` (the task's own report, as ``prepare`` makes it) plus
        top-level ``task``, ``rows``, ``rows_used``, ``sampled``, ``columns``,
        ``roles``, ``class_balance``, ``splits``, ``lengths`` (training
        examples, at most :data:`MAX_LENGTHS`), ``length_unit``,
        ``length_stats``, ``max_length``, ``coverage``,
        ``suggested_max_length``, ``suggested_coverage`` and ``warnings``.

    Raises:
        StudioError: (DataError, RecipeError) when the roles or data cannot work.
    """
    fitted = _fit(recipe, frame, name, test_frame)
    prepared, pre = fitted.prepared, recipe.preprocess
    report = copy.deepcopy(prepared.report)
    report["file"] = name or recipe.data.source or "data"
    warnings = list(report.get("warnings", []))
    if fitted.sampled:
        limit = PREVIEW_LIMITS[fitted.task.name]
        what = {"forecasting": f"its last {limit} steps"}.get(fitted.task.name, f"a sample of {limit} examples")
        warnings.insert(0, f"preview on {what} ({fitted.rows_used} of {fitted.rows} rows); training uses the whole file.")
    if any(spec.name == "synonym" for spec in pre.augment) and not augment.wordnet_available():
        warnings.append(augment.WORDNET_MISSING)
    result = {
        "report": report,
        "task": fitted.task.name,
        "rows": fitted.rows,
        "rows_used": fitted.rows_used,
        "sampled": fitted.sampled,
        "columns": frame_overview(frame, name=report["file"])["columns"] if fitted.sampled else report["columns"],
        "roles": report.get("roles", {}),
        "class_balance": report.get("class_balance"),
        "splits": report.get("splits", {}),
        "lengths": [], "length_unit": None, "length_stats": {}, "max_length": None, "coverage": None,
        "suggested_max_length": None, "suggested_coverage": None,
        "warnings": warnings,
    }
    lengths = _train_lengths(fitted)
    if lengths is not None and len(lengths):
        max_length = int(report["max_length"])
        suggested = suggest_max_length(lengths, pre.length_percentile)
        shown = lengths
        if len(lengths) > MAX_LENGTHS:
            shown = lengths[np.sort(np.random.default_rng(recipe.data.seed).choice(len(lengths), MAX_LENGTHS, replace=False))]
        result.update({
            "lengths": shown.tolist(),
            "length_unit": "tokens" if fitted.task.name == "text-classification" else "steps",
            "length_stats": length_stats(lengths),
            "max_length": max_length,
            "coverage": float(np.mean(lengths <= max_length)),
            "suggested_max_length": int(suggested),
            "suggested_coverage": float(np.mean(lengths <= suggested)),
        })
    return result


# -------------------------------------------------------------------- text


def text_preview(recipe, frame: pd.DataFrame, n: int = 5, *, name: str | None = None,
                 test_frame: pd.DataFrame | None = None) -> list[dict]:
    """The first ``n`` training texts as the model gets them.

    Returns:
        One dict per text: ``row`` (position in the training split), ``text``,
        ``label``, ``tokens`` (as the configured tokenizer makes them),
        ``token_ids`` (one id per token, 1 = out of vocabulary), ``oov``
        (distinct out-of-vocabulary tokens in order), ``n_tokens``,
        ``truncated``, ``n_padding`` and ``ids`` (the padded row fed to the
        model, ``max_length`` ids).
    """
    fitted = _fit(recipe, frame, name, test_frame)
    _require_task(fitted, "text-classification", what="text_preview")
    prepared = fitted.prepared
    encoder = prepared.pipeline.encoder
    texts = prepared.train.extra["texts"][: max(n, 0)]
    tokens = _train_tokens(fitted)[: len(texts)]
    rows = []
    for i, (text, toks) in enumerate(zip(texts, tokens)):
        token_ids = encoder.encode([toks])[0] if toks else []
        oov = [t for t, id_ in zip(toks, token_ids) if id_ == OOV_ID]
        rows.append({
            "row": i,
            "text": text,
            "label": _label(fitted, prepared.train.y[i]),
            "tokens": list(toks),
            "token_ids": [int(v) for v in token_ids],
            "oov": list(dict.fromkeys(oov)),
            "n_tokens": len(toks),
            "truncated": len(toks) > encoder.max_length_,
            "n_padding": int(np.sum(prepared.train.x[i] == 0)),
            "ids": prepared.train.x[i].tolist(),
        })
    return rows


# ------------------------------------------------------------------ series


def series_preview(recipe, frame: pd.DataFrame, n: int = 3, *, name: str | None = None,
                   test_frame: pd.DataFrame | None = None) -> dict:
    """Raw versus transformed series, as the fitted pipeline makes them.

    Returns:
        Forecasting: ``raw`` target series (time order, gaps filled) with
        ``times``; ``transformed`` — the training part after log, differencing
        and scaling — with ``transformed_times``; the fitted choices
        (``log_transform``, ``differencing``, ``scaling``, ``scaler``,
        ``season``), ``lookback``, ``horizon``, ``stride``, ``split_rows``,
        ``windows`` per split and one ``example`` training window (model
        ``inputs`` [lookback][channels], ``targets`` [horizon], and the same
        stretch in original units). Sequence classification: the scaler and
        padding settings and ``examples``: ``n`` training series ``raw``
        [T][F] and ``scaled`` [max_length][F] exactly as fed to the model.
    """
    fitted = _fit(recipe, frame, name, test_frame)
    _require_task(fitted, "forecasting", "sequence-classification", what="series_preview")
    if fitted.task.name == "forecasting":
        return _forecast_preview(recipe, fitted, name or recipe.data.source or "data")
    return _sequence_preview(recipe, fitted, n)


def _forecast_preview(recipe, fitted: _Fitted, name: str) -> dict:
    prepared, pre = fitted.prepared, recipe.preprocess
    pipeline, report = prepared.pipeline, prepared.report
    times, y, f = pipeline.table(fitted.frame, file=name)
    matrix, _ = pipeline.model_matrix(y, f)
    offset = 1 if pipeline.diff else 0  # model-matrix row r is raw row r + offset
    train_end = report["split_rows"]["train"]
    origins = pipeline.origins(len(matrix), 0, train_end - 1 - offset, pre.stride)  # the call prepare makes
    stamps = None if times is None else times.astype(str).tolist()
    last = int(origins[0]) + offset  # raw row of the example's last input step
    inputs = slice(last - pipeline.lookback + 1, last + 1)
    targets = slice(last + 1, last + 1 + pipeline.horizon)
    n_train = len(prepared.train) // _copies(recipe)
    return {
        "task": "forecasting",
        "target": pipeline.target,
        "time_column": pipeline.time_column,
        "features": list(pipeline.features),
        "times": stamps,
        "raw": _floats(y),
        "transformed": _floats(matrix[: train_end - offset, 0]),
        "transformed_times": None if stamps is None else stamps[offset:train_end],
        "log_transform": bool(pipeline.log),
        "differencing": bool(pipeline.diff),
        "scaling": pipeline.target_scaler.method,
        "scaler": {"center": pipeline.target_scaler.center_[0], "scale": pipeline.target_scaler.scale_[0]},
        "season": pipeline.season,
        "lookback": int(pipeline.lookback),
        "horizon": int(pipeline.horizon),
        "stride": int(pre.stride),
        "split_rows": dict(report["split_rows"]),
        "windows": {"train": n_train, "train_augmented": len(prepared.train),
                    "val": report["splits"]["val"], "test": report["splits"]["test"]},
        "example": {
            "channels": [pipeline.target, *pipeline.features],
            "inputs": prepared.train.x[0].astype(float).tolist(),
            "targets": _floats(prepared.train.y[0]),
            "raw_inputs": _floats(y[inputs]),
            "raw_targets": _floats(y[targets]),
            "input_times": None if stamps is None else stamps[inputs],
            "target_times": None if stamps is None else stamps[targets],
        },
    }


def _sequence_preview(recipe, fitted: _Fitted, n: int) -> dict:
    prepared = fitted.prepared
    pipeline = prepared.pipeline
    raw = prepared.train.extra["series"][: max(n, 0)]
    examples = [{
        "row": i,
        "label": _label(fitted, prepared.train.y[i]),
        "length": len(series),
        "truncated": len(series) > pipeline.max_length,
        "raw": np.asarray(series, dtype=float).tolist(),
        "scaled": prepared.train.x[i].astype(float).tolist(),
    } for i, series in enumerate(raw)]
    return {
        "task": "sequence-classification",
        "layout": pipeline.layout,
        "features": list(pipeline.features),
        "scaling": pipeline.scaler.method,
        "scaler": {"center": list(pipeline.scaler.center_), "scale": list(pipeline.scaler.scale_)},
        "max_length": int(pipeline.max_length),
        "padding": pipeline.padding,
        "truncating": pipeline.truncating,
        "examples": examples,
    }


# ---------------------------------------------------------------- augment


def augment_preview(recipe, frame: pd.DataFrame, n: int = 3, *, name: str | None = None,
                    test_frame: pd.DataFrame | None = None) -> list[dict]:
    """The first ``n`` training examples before and after each augmentation in ``recipe.preprocess.augment``.

    The copies shown are the very ones training adds (same generator seeded
    with ``train.seed``), so the preview is stable. Text shows tokens; series
    show the scaled steps the model gets (real steps only for padded series,
    the input window for forecasting).

    Returns:
        One dict per augmentation: ``name``, ``strength``, ``multiplier``,
        ``applied`` (the augmenter used: ``insert`` when ``synonym`` lacks
        WordNet), ``message`` (why, or None), ``kind`` ("tokens" or "series")
        and ``examples``: dicts with ``row``, ``label``, ``before``, ``after``
        and ``changed``. Empty when no augmentation is configured.
    """
    fitted = _fit(recipe, frame, name, test_frame)
    specs = list(recipe.preprocess.augment)
    if not specs:
        return []
    prepared = fitted.prepared
    n_train = len(prepared.train) // _copies(recipe)
    n = min(max(n, 0), n_train)
    text = fitted.task.name == "text-classification"
    if text:
        before, augmented = _text_copies(recipe, fitted)
    else:
        before = [_real_steps(fitted, i) for i in range(n)]
    out, block = [], 1
    for spec in specs:
        message = None
        applied = spec.name
        if spec.name == "synonym" and not augment.wordnet_available():
            applied, message = "insert", augment.WORDNET_MISSING
        examples = []
        for i in range(n):
            after = augmented[block * n_train + i] if text else _real_steps(fitted, block * n_train + i, like=i)
            examples.append({"row": i, "label": _label(fitted, prepared.train.y[i]), "before": before[i], "after": after,
                             "changed": before[i] != after})
        out.append({"name": spec.name, "strength": spec.strength, "multiplier": spec.multiplier, "applied": applied,
                    "message": message, "kind": "tokens" if text else "series", "examples": examples})
        block += spec.multiplier
    return out


def _text_copies(recipe, fitted: _Fitted) -> tuple[list[list[str]], list[list[str]]]:
    """Training tokens and their augmented copies, re-made exactly as prepare made them."""
    if "augmented" not in fitted.lazy:
        tokens = _train_tokens(fitted)
        encoder = fitted.prepared.pipeline.encoder
        labels = fitted.prepared.train.y[: len(tokens)]
        # Same arguments and seed as TextClassification.prepare, so the same copies.
        augmented, _ = augment.augment_texts(tokens, labels, recipe.preprocess.augment,
                                             np.random.default_rng(recipe.train.seed), encoder.vocabulary_[2:])
        fitted.lazy["augmented"] = augmented
    return _train_tokens(fitted), fitted.lazy["augmented"]


def _real_steps(fitted: _Fitted, index: int, *, like: int | None = None) -> list:
    """Row ``index`` of the training inputs; for padded series only the steps of example ``like``."""
    prepared = fitted.prepared
    x = prepared.train.x[index]
    if fitted.task.name == "sequence-classification":
        pipeline = prepared.pipeline
        original = index if like is None else like
        length = min(len(prepared.train.extra["series"][original]), pipeline.max_length)
        x = x[PADDING[pipeline.padding](length, pipeline.max_length)]
    return x.astype(float).tolist()

