"""Sequence classification: numeric series, wide (row = series) or long (row = step) CSV, variable length."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudio.errors import DataError
from rnnstudio.preprocess.augment import augment_series
from rnnstudio.preprocess.series import Scaler
from rnnstudio.preprocess.text import pad_sequences
from rnnstudio.tasks import classification as cls
from rnnstudio.tasks.base import (Prepared, Split, Task, frame_overview, length_stats, numeric_column,
                                  register_task, require_column)
from rnnstudio.zoo.registry import InputSpec

ID_NAMES = ("series", "series_id", "id", "sample", "sequence", "sequence_id", "case", "subject")


def infer_layout(frame: pd.DataFrame, data, target: str) -> tuple[str, str | None]:
    """("long", id column) when rows are steps of series, else ("wide", None)."""
    if data.series_id_column:
        return "long", data.series_id_column
    if data.layout == "wide":
        return "wide", None
    candidates = [c for c in frame.columns if c != target and str(c).strip().lower() in ID_NAMES]
    for column in candidates:
        groups = frame.groupby(column, sort=False)[target].nunique(dropna=True)
        if len(groups) < len(frame) and (groups <= 1).all():
            return "long", column
    if data.layout == "long":
        raise DataError("the long layout needs a series id column, and none is named like one "
                        f"({', '.join(ID_NAMES)}).", field="data.series_id_column",
                        fix="Name it with --set data.series_id_column=NAME, or set data.layout to wide.")
    return "wide", None


class SequencePipeline:
    """Raw series → scaled, padded [n, T, F] arrays; labels ↔ class indices."""

    def __init__(self, *, layout, target, id_column, step_column, features, scaler, max_length, padding, truncating, classes):
        self.layout = layout
        self.target = target
        self.id_column = id_column
        self.step_column = step_column
        self.features = features
        self.scaler = scaler
        self.max_length = max_length
        self.padding = padding
        self.truncating = truncating
        self.classes = classes

    # -- raw series and labels, one entry per example
    def series(self, frame: pd.DataFrame, *, file: str = "data") -> tuple[list[np.ndarray], pd.Series | None]:
        missing = [c for c in self.features + ([self.id_column] if self.id_column else []) if c not in frame.columns]
        if missing:
            raise DataError(f"column(s) {', '.join(map(repr, missing[:5]))} are missing.", file=file,
                            fix=f"The model was trained on columns: {', '.join(self.features)}.")
        values = np.column_stack([numeric_column(frame, c, file=file) for c in self.features])
        labels = frame[self.target] if self.target in frame.columns else None
        if self.layout == "wide":
            out = []
            for row in values:
                real = np.flatnonzero(~np.isnan(row))
                if len(real) == 0:
                    out.append(np.zeros((1, 1)))
                    continue
                row = row[: real[-1] + 1]  # trailing empty cells = a shorter series
                out.append(_fill_gaps(row)[:, None])
            return out, labels
        order = frame[self.step_column] if self.step_column and self.step_column in frame.columns else None
        out, series_labels = [], []
        keys = frame[self.id_column].to_numpy()
        for key, rows in pd.Series(np.arange(len(frame))).groupby(keys, sort=False).indices.items():
            if order is not None:
                rows = rows[np.argsort(order.iloc[rows].to_numpy(), kind="stable")]
            out.append(np.column_stack([_fill_gaps(values[rows, j]) for j in range(values.shape[1])]))
            if labels is not None:
                distinct = labels.iloc[rows].dropna().unique()
                if len(distinct) > 1:
                    raise DataError(f"series '{key}' has more than one label ({', '.join(map(str, distinct[:3]))}).",
                                    file=file, column=self.target, fix="Give every row of a series the same label.")
                series_labels.append(distinct[0] if len(distinct) else np.nan)
        return out, (pd.Series(series_labels) if labels is not None else None)

    def transform_series(self, series: list[np.ndarray]) -> np.ndarray:
        scaled = []
        for s in series:
            s = np.asarray(self.scaler.transform(s), dtype="float32")
            # An all-zero step reads as padding to the Masking layer; nudge real ones off zero.
            s[np.all(s == 0, axis=-1)] = 1e-6
            scaled.append(s)
        return pad_sequences(scaled, self.max_length, padding=self.padding, truncating=self.truncating, dtype="float32")

    def transform_x(self, frame: pd.DataFrame, *, file: str = "data") -> np.ndarray:
        return self.transform_series(self.series(frame, file=file)[0])

    def labels_to_y(self, labels: pd.Series, *, file: str = "data") -> np.ndarray:
        return cls.encode_labels(labels, self.classes, file=file, column=self.target)

    def decode(self, proba: np.ndarray) -> list[str]:
        return [self.classes[i] for i in proba.argmax(axis=1)]

    def to_dict(self) -> dict:
        return {"kind": "sequence", "layout": self.layout, "target": self.target, "id_column": self.id_column,
                "step_column": self.step_column, "features": self.features, "scaler": self.scaler.to_dict(),
                "max_length": self.max_length, "padding": self.padding, "truncating": self.truncating,
                "classes": self.classes}

    @classmethod
    def from_dict(cls_, d: dict) -> "SequencePipeline":
        return cls_(layout=d["layout"], target=d["target"], id_column=d["id_column"], step_column=d["step_column"],
                    features=list(d["features"]), scaler=Scaler.from_dict(d["scaler"]), max_length=d["max_length"],
                    padding=d["padding"], truncating=d["truncating"], classes=list(d["classes"]))


def _fill_gaps(values: np.ndarray) -> np.ndarray:
    """Interior missing values filled by linear interpolation (edges by the nearest value)."""
    missing = np.isnan(values)
    if not missing.any():
        return values
    if missing.all():
        return np.zeros_like(values)
    idx = np.arange(len(values))
    return np.interp(idx, idx[~missing], values[~missing])


@register_task
class SequenceClassification(Task):
    name = "sequence-classification"
    title = "Sequence classification"
    input_kind = "numeric"
    loss = "sparse_categorical_crossentropy"
    activation = "softmax"
    monitor_metric = "accuracy"
    pipeline_class = SequencePipeline
    data_fields = ("target", "layout", "series_id_column", "step_column", "feature_columns", "test_size", "val_size",
                   "seed")
    preprocess_fields = ("scaling", "max_length", "length_percentile", "padding", "truncating")
    augmentations = ("jitter", "scale", "magnitude_warp", "window_slice")
    hidden_model_fields = ("embedding_dim", "embeddings_file", "embeddings_trainable", "embedding_dropout", "linear_skip")

    def named_columns(self, data):
        return [*((c, "feature", "data.feature_columns") for c in data.feature_columns or []),
                (data.series_id_column, "series id", "data.series_id_column"), (data.step_column, "step", "data.step_column")]

    def check_roles(self, recipe, frame, *, name):
        super().check_roles(recipe, frame, name=name)
        cls.check_label_column(frame, recipe.data.target, file=name)

    def prepare_data(self, recipe, frame, test_frame, *, name):
        data, pre = recipe.data, recipe.preprocess
        report = frame_overview(frame, name=name)
        target = require_column(frame, data.target, role="label", file=name, option="--target")
        frame = cls.drop_missing_labels(frame, target, report, file=name)
        layout, id_column = infer_layout(frame, data, target)
        step_column = data.step_column or ("t" if layout == "long" and "t" in frame.columns else None)
        skip = {target, id_column, step_column}
        features = data.feature_columns or [c for c in frame.columns if c not in skip and _is_numeric(frame[c])]
        if not features:
            raise DataError("no numeric columns to read series from.", file=name,
                            fix="Sequence classification needs numbers: one row per series (t0, t1, ...) or one row per step.")
        for column in features:
            require_column(frame, column, role="feature", file=name, option="--set data.feature_columns=[...]")
        report["roles"] = {"layout": layout, "label": target, "series_id": id_column, "step": step_column, "features": features}
        probe = SequencePipeline(layout=layout, target=target, id_column=id_column, step_column=step_column,
                                 features=features, scaler=Scaler(pre.scaling), max_length=1, padding=pre.padding,
                                 truncating=pre.truncating, classes=[])
        series, labels = probe.series(frame, file=name)
        classes = cls.fit_classes(cls.label_strings(labels), file=name, column=target)
        probe.classes = classes
        y_all = probe.labels_to_y(labels, file=name)
        if test_frame is None:
            rest, held = cls.stratified_split(len(series), y_all, data.test_size, data.seed, what="test")
            test_series, y_test = [series[i] for i in held], y_all[held]
            series, y_all = [series[i] for i in rest], y_all[rest]
        else:
            test_series, test_labels = probe.series(test_frame, file=data.test_source or "test")
            y_test = probe.labels_to_y(test_labels, file=data.test_source or "test")
        val_series, y_val = None, None
        if data.val_size > 0:
            rest, held = cls.stratified_split(len(series), y_all, data.val_size, data.seed + 1, what="validation")
            val_series, y_val = [series[i] for i in held], y_all[held]
            series, y_all = [series[i] for i in rest], y_all[rest]
        cls.check_split_classes(classes, {"train": y_all, "validation": y_val, "test": y_test}, report, file=name,
                                column=target)
        lengths = np.array([len(s) for s in series])
        probe.scaler.fit(np.concatenate(series, axis=0))
        probe.max_length = pre.max_length or int(lengths.max())
        x_train, y_train = probe.transform_series(series), y_all
        if pre.augment:
            rng = np.random.default_rng(recipe.train.seed)
            x_train, y_train = augment_series(x_train, y_train, pre.augment, rng, lengths=lengths, padding=pre.padding)
        train = Split(x_train.astype("float32"), np.asarray(y_train, dtype="int32"), {"series": series})
        val = None if val_series is None else Split(probe.transform_series(val_series), y_val)
        test = Split(probe.transform_series(test_series), y_test, {"train_y": y_all, "train_x": probe.transform_series(series)})
        report.update({
            "series": len(series) + len(test_series) + (len(val_series) if val_series else 0),
            "class_balance": cls.balance(np.concatenate([y_all, y_test] + ([y_val] if y_val is not None else [])), classes),
            "lengths": length_stats(np.array([len(s) for s in series + test_series])),
            "max_length": probe.max_length,
            "coverage": float(np.mean(lengths <= probe.max_length)),
            "splits": {"train": len(train), "val": 0 if val is None else len(val), "test": len(test)},
        })
        if lengths.min() != lengths.max():
            report["warnings"].append(f"series lengths vary ({lengths.min()}–{lengths.max()} steps); shorter ones are padded and masked.")
        return Prepared(train=train, val=val, test=test, pipeline=probe,
                        input_spec=InputSpec("numeric", probe.max_length, 1 if layout == "wide" else len(features),
                                                     masked=bool(lengths.min() != lengths.max())), n_outputs=len(classes),
                        report=report, sample_weight=cls.class_weights(train.y, len(classes), recipe.train.class_weights))

    def split_for(self, pipeline, frame, *, file):
        require_column(frame, pipeline.target, role="label", file=file, option="a label column")
        series, labels = pipeline.series(frame, file=file)
        return Split(pipeline.transform_series(series), pipeline.labels_to_y(labels, file=file))

    def evaluate(self, pipeline, predict, split):
        result = {"test": cls.scores(split.y, predict(split.x), pipeline.classes), "baseline": {}}
        if "train_y" in split.extra:
            result["baseline"]["majority_class"] = cls.majority_baseline(split.extra["train_y"], split.y, pipeline.classes)
            result["baseline"]["nearest_neighbour"] = nearest_neighbour_baseline(
                split.extra["train_x"], split.extra["train_y"], split.x, split.y, pipeline.classes)
        return result


def nearest_neighbour_baseline(x_train, y_train, x_test, y_test, classes) -> dict:
    """1-NN with Euclidean distance on the scaled series, the classic UCR-archive baseline."""
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=1).fit(x_train.reshape(len(x_train), -1), y_train)
    proba = np.zeros((len(x_test), len(classes)))
    proba[np.arange(len(x_test)), knn.predict(x_test.reshape(len(x_test), -1))] = 1.0
    return cls.scores(y_test, proba, classes)


def _is_numeric(series: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(series):
        return True
    converted = pd.to_numeric(series.dropna(), errors="coerce")
    return len(converted) > 0 and converted.notna().mean() > 0.9
