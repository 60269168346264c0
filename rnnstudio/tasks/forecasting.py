"""Forecasting: a time column (optional) and numeric columns, one of them the target.

Windows of ``lookback`` past steps predict the next ``horizon`` target values
at once. Log transform and differencing (chosen from the training split) and
scaling happen inside the pipeline; forecasts are scored in original units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rnnstudio.errors import DataError
from rnnstudio.preprocess.augment import augment_series
from rnnstudio.preprocess.series import Scaler, detect_season, needs_differencing, needs_log
from rnnstudio.tasks.base import (Prepared, Split, Task, frame_overview, numeric_column, register_task,
                                  require_column)
from rnnstudio.zoo.registry import InputSpec

TIME_NAMES = ("date", "time", "timestamp", "datetime", "month", "day", "week", "year", "period", "ds")


def infer_time_column(frame: pd.DataFrame, target: str) -> str | None:
    """A column named like a time or whose values parse as dates, else None (row order)."""
    for column in frame.columns:
        if column == target or pd.api.types.is_float_dtype(frame[column]):
            continue
        series = frame[column]
        named = str(column).strip().lower() in TIME_NAMES
        if pd.api.types.is_numeric_dtype(series) and not named:
            continue
        if _parse_times(series).notna().mean() > 0.95:
            return column
    return None


def _parse_times(series: pd.Series) -> pd.Series:
    if pd.api.types.is_integer_dtype(series):  # years like 1990, or step numbers
        return pd.to_datetime(series.astype(str), format="%Y", errors="coerce")
    return pd.to_datetime(series.astype(str), errors="coerce", format="mixed")


class ForecastPipeline:
    """Raw table → model windows and back to original units.

    The target goes through log1p (optional) → first difference (optional) →
    scaling; other numeric columns are scaled. Channel 0 of every window is
    the target.
    """

    def __init__(self, *, time_column, target, features, log, diff, target_scaler, feature_scaler,
                 lookback, horizon, season, freq=None):
        self.time_column = time_column
        self.target = target
        self.features = features
        self.log = log
        self.diff = diff
        self.target_scaler = target_scaler
        self.feature_scaler = feature_scaler
        self.lookback = lookback
        self.horizon = horizon
        self.season = season
        self.freq = freq

    # ---- raw table → aligned arrays
    def table(self, frame: pd.DataFrame, *, file: str = "data", report: dict | None = None):
        """(times, target values, feature matrix) sorted by time, gaps filled, checked."""
        for column in [self.target, *self.features]:
            require_column(frame, column, role="numeric input", file=file, option="--target / data.feature_columns")
        times = None
        if self.time_column:
            require_column(frame, self.time_column, role="time", file=file, option="--set data.time_column=NAME")
            times = _parse_times(frame[self.time_column])
            bad = times.isna() & frame[self.time_column].notna()
            if bad.any():
                rows = (np.flatnonzero(bad.to_numpy()) + 2)[:5].tolist()
                raise DataError(f"{int(bad.sum())} time stamp(s) cannot be read as dates (e.g. {frame[self.time_column][bad].iloc[0]!r}).",
                                file=file, column=self.time_column, row=rows[0],
                                fix=f"Fix lines {', '.join(map(str, rows))}, or set data.time_column to empty to use row order.")
            order = np.argsort(times.to_numpy(), kind="stable")
            if report is not None and (np.diff(order) != 1).any():
                report["warnings"].append("rows were not in time order; they were sorted.")
            frame, times = frame.iloc[order], times.iloc[order].reset_index(drop=True)
            dup = times.duplicated(keep=False)
            if dup.any():
                raise DataError(f"{int(dup.sum())} rows share a time stamp (e.g. {times[dup].iloc[0]}).", file=file,
                                column=self.time_column, fix="Aggregate rows per time stamp (e.g. sum or mean) or remove duplicates.")
        y = numeric_column(frame, self.target, file=file)
        f = np.column_stack([numeric_column(frame, c, file=file) for c in self.features]) if self.features else np.zeros((len(y), 0))
        missing = np.isnan(y).sum() + np.isnan(f).sum()
        if np.isnan(y).all():
            raise DataError("every target value is missing.", file=file, column=self.target, fix="Pick the target with --target.")
        if missing and report is not None:
            report["warnings"].append(f"{int(missing)} missing value(s) were filled by linear interpolation.")
        y = _interpolate(y)
        f = np.column_stack([_interpolate(col) for col in f.T]) if f.shape[1] else f
        return times, y, f

    def level(self, y: np.ndarray) -> np.ndarray:
        return np.log1p(y) if self.log else y

    def unlevel(self, z: np.ndarray) -> np.ndarray:
        return np.expm1(z) if self.log else z

    def model_matrix(self, y: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The model's input channels [n', 1+F] and the level of the target at each row."""
        z = self.level(y)
        change = np.diff(z) if self.diff else z
        start = 1 if self.diff else 0
        channels = [self.target_scaler.transform(change[:, None])]
        if f.shape[1]:
            channels.append(self.feature_scaler.transform(f[start:]))
        return np.concatenate(channels, axis=1).astype("float32"), z[start:]

    def origins(self, n_rows: int, first_target: int, last_target: int, stride: int = 1) -> np.ndarray:
        """Row indices (in model-matrix rows) of forecast origins whose targets lie in [first, last]."""
        lo = max(first_target - 1, self.lookback - 1)
        hi = min(last_target, n_rows - 1) - self.horizon
        return np.arange(lo, hi + 1, stride) if hi >= lo else np.arange(0)

    def windows(self, matrix: np.ndarray, origins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(origins) == 0:
            return np.zeros((0, self.lookback, matrix.shape[1]), "float32"), np.zeros((0, self.horizon), "float32")
        x = np.stack([matrix[o - self.lookback + 1: o + 1] for o in origins])
        y = np.stack([matrix[o + 1: o + 1 + self.horizon, 0] for o in origins])
        return x.astype("float32"), y.astype("float32")

    def to_original(self, scaled: np.ndarray, origin_levels: np.ndarray) -> np.ndarray:
        """Model outputs [n, H] (scaled changes or levels) → forecasts in original units."""
        values = self.target_scaler.inverse_transform(scaled.reshape(-1, 1)).reshape(scaled.shape)
        if self.diff:
            values = origin_levels[:, None] + np.cumsum(values, axis=1)
        return self.unlevel(values)

    def scoring_split(self, frame: pd.DataFrame, *, file: str = "data", first_target: int | None = None,
                      last_target: int | None = None, stride: int = 1) -> Split:
        """Windows of ``frame`` with everything scoring needs (actuals and naive forecasts in original units)."""
        times, y, f = self.table(frame, file=file)
        matrix, levels = self.model_matrix(y, f)
        offset = 1 if self.diff else 0  # model-matrix row r is raw row r + offset
        n = len(matrix)
        first = 0 if first_target is None else first_target - offset
        last = n - 1 if last_target is None else last_target - offset
        origins = self.origins(n, first, last, stride)
        if len(origins) == 0:
            raise DataError(f"{len(y)} rows are too few for one window of lookback {self.lookback} + horizon {self.horizon}.",
                            file=file, field="preprocess.lookback", fix="Give a longer series, or lower preprocess.lookback / preprocess.horizon.")
        x, scaled_y = self.windows(matrix, origins)
        raw = origins + offset
        steps = np.arange(1, self.horizon + 1)
        actual = np.stack([y[r + 1: r + 1 + self.horizon] for r in raw])
        naive = np.repeat(y[raw][:, None], self.horizon, axis=1)
        m = self.season or 1
        back = m * np.ceil(steps / m).astype(int)
        seasonal = np.stack([y[r + steps - back] for r in raw]) if (raw.min() + 1 - back.max()) >= 0 else naive
        extra = {"origin_levels": levels[origins], "actual": actual, "naive": naive, "seasonal_naive": seasonal,
                 "times": None if times is None else [str(times.iloc[r + 1]) for r in raw]}
        return Split(x, scaled_y, extra)

    def to_dict(self) -> dict:
        return {"kind": "forecast", "time_column": self.time_column, "target": self.target, "features": self.features,
                "log": self.log, "diff": self.diff, "target_scaler": self.target_scaler.to_dict(),
                "feature_scaler": self.feature_scaler.to_dict() if self.features else None, "lookback": self.lookback, "horizon": self.horizon,
                "season": self.season, "freq": self.freq}

    @classmethod
    def from_dict(cls, d: dict) -> "ForecastPipeline":
        return cls(time_column=d["time_column"], target=d["target"], features=list(d["features"]), log=d["log"],
                   diff=d["diff"], target_scaler=Scaler.from_dict(d["target_scaler"]),
                   feature_scaler=Scaler.from_dict(d["feature_scaler"]) if d["feature_scaler"] else Scaler("none"), lookback=d["lookback"],
                   horizon=d["horizon"], season=d["season"], freq=d.get("freq"))


def _interpolate(values: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    if not missing.any():
        return values
    idx = np.arange(len(values))
    return np.interp(idx, idx[~missing], values[~missing])


def choose_lookback(season: int | None, horizon: int, n_train: int) -> int:
    """Two seasons or two horizons of history (at least 16 steps), leaving room for training windows."""
    wanted = max(2 * (season or 0), 2 * horizon, 16)
    room = max((n_train - horizon) // 2, 1)
    return int(min(wanted, room))


def forecast_scores(actual: np.ndarray, predicted: np.ndarray) -> dict:
    """MAE, RMSE, MAPE (%) and sMAPE (%) over every origin and horizon step."""
    actual, predicted = np.asarray(actual, float), np.asarray(predicted, float)
    error = predicted - actual
    nonzero = np.abs(actual) > 1e-12  # MAPE is undefined where the actual value is 0
    denom = np.abs(actual) + np.abs(predicted)
    return {
        "mae": float(np.mean(np.abs(error))),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "mape": float(np.mean(np.abs(error[nonzero] / actual[nonzero])) * 100) if nonzero.any() else float("nan"),
        "smape": float(np.mean(np.where(denom > 0, 2 * np.abs(error) / np.where(denom > 0, denom, 1), 0)) * 100),
    }


@register_task
class Forecasting(Task):
    name = "forecasting"
    title = "Forecasting"
    input_kind = "numeric"
    loss = "mse"
    activation = None
    monitor_metric = "mae"
    target_role = "target"
    pipeline_class = ForecastPipeline
    data_fields = ("target", "time_column", "feature_columns", "test_size", "val_size")
    preprocess_fields = ("scaling", "log_transform", "differencing", "lookback", "horizon", "stride", "season")
    augmentations = ("jitter", "scale")
    hidden_model_fields = ("embedding_dim", "embeddings_file", "embeddings_trainable", "embedding_dropout")

    def named_columns(self, data):
        return [*((c, "feature", "data.feature_columns") for c in data.feature_columns or []),
                (data.time_column, "time", "data.time_column")]

    def prepare_data(self, recipe, frame, test_frame, *, name):
        data, pre = recipe.data, recipe.preprocess
        report = frame_overview(frame, name=name)
        target = require_column(frame, data.target, role="target", file=name, option="--target")
        time_column = data.time_column if data.time_column is not None else infer_time_column(frame, target)
        if data.time_column == "":
            time_column = None
        skip = {target, time_column}
        features = data.feature_columns if data.feature_columns is not None else [
            c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])]
        pipeline = ForecastPipeline(time_column=time_column, target=target, features=list(features), log=False,
                                    diff=False, target_scaler=Scaler(pre.scaling), feature_scaler=Scaler(pre.scaling),
                                    lookback=1, horizon=pre.horizon, season=pre.season)
        times, y, f = pipeline.table(frame, file=name, report=report)
        if test_frame is not None:  # a separate test file continues the series in time
            frame = pd.concat([frame, test_frame], ignore_index=True)
            times, y, f = pipeline.table(frame, file=data.test_source or name)
        n = len(y)
        n_test = len(test_frame) if test_frame is not None else max(int(round(data.test_size * n)), pre.horizon)
        n_val = max(int(round(data.val_size * (n - n_test))), pre.horizon) if data.val_size > 0 else 0
        train_end = n - n_test - n_val  # rows [0, train_end) fit the scalers: no look at the future
        if train_end < pre.horizon + 4:
            raise DataError(f"{n} rows are too few: after holding out {n_test} test and {n_val} validation rows, "
                            f"{max(train_end, 0)} remain for training.", file=name, field="preprocess.horizon",
                            fix="Give a longer series, or lower preprocess.horizon, data.test_size or data.val_size.")
        freq = _frequency(times, report)
        season = pre.season or detect_season(y[:train_end], freq=freq, max_season=train_end // 3)
        pipeline.season, pipeline.freq = season, freq
        pipeline.log = {"on": True, "off": False}.get(pre.log_transform) if pre.log_transform != "auto" else bool(needs_log(y[:train_end]))
        if pipeline.log and (y <= -1).any():
            raise DataError("the log transform needs values above -1.", file=name, column=target,
                            fix="Set preprocess.log_transform to off.")
        level = pipeline.level(y[:train_end])
        pipeline.diff = {"on": True, "off": False}.get(pre.differencing) if pre.differencing != "auto" else bool(needs_differencing(level))
        change = np.diff(level) if pipeline.diff else level
        pipeline.target_scaler.fit(change[:, None])
        if f.shape[1]:
            pipeline.feature_scaler.fit(f[:train_end])
        pipeline.lookback = pre.lookback or choose_lookback(season, pre.horizon, train_end)
        matrix, _ = pipeline.model_matrix(y, f)
        offset = 1 if pipeline.diff else 0
        train_origins = pipeline.origins(len(matrix), 0, train_end - 1 - offset, pre.stride)
        if len(train_origins) == 0:
            raise DataError(f"{train_end} training rows are too few for one window of lookback {pipeline.lookback} + horizon {pre.horizon}.",
                            file=name, field="preprocess.lookback", fix="Lower preprocess.lookback or preprocess.horizon, or give a longer series.")
        x_train, y_train = pipeline.windows(matrix, train_origins)
        if pre.augment:
            rng = np.random.default_rng(recipe.train.seed)
            x_train, y_train = augment_series(x_train, y_train, pre.augment, rng)
        train = Split(x_train, y_train)
        val = pipeline.scoring_split(frame, file=name, first_target=train_end, last_target=n - n_test - 1) if n_val else None
        test = pipeline.scoring_split(frame, file=data.test_source or name, first_target=n - n_test, last_target=n - 1)
        report.update({
            "roles": {"time": time_column, "target": target, "features": list(features)},
            "series_length": n, "frequency": freq, "season": season, "log_transform": pipeline.log,
            "differencing": pipeline.diff, "lookback": pipeline.lookback, "horizon": pre.horizon,
            "splits": {"train": len(train), "val": 0 if val is None else len(val), "test": len(test)},
            "split_rows": {"train": train_end, "val": n_val, "test": n_test},
        })
        if len(train) < 30:
            report["warnings"].append(f"only {len(train)} training windows: the model leans on its linear path; compare with the seasonal-naive baseline.")
        return Prepared(train=train, val=val, test=test, pipeline=pipeline,
                        input_spec=InputSpec("numeric", pipeline.lookback, 1 + len(features), masked=False),
                        n_outputs=pre.horizon, report=report)

    def finalize_model(self, model, recipe, pipeline):
        """Adds LSTNet's linear autoregressive path on the target channel (Lai et al. 2018)."""
        if not recipe.model.linear_skip:
            return model
        import keras

        from rnnstudio.zoo.layers import SelectChannel

        inputs = model.inputs[0]
        linear = keras.layers.Dense(pipeline.horizon, kernel_initializer="zeros", dtype="float32",
                                    name="linear_skip")(SelectChannel(0, name="target_channel")(inputs))
        outputs = keras.layers.Add(name="forecast", dtype="float32")([model.outputs[0], linear])
        return keras.Model(inputs, outputs, name=model.name)

    def split_for(self, pipeline, frame, *, file):
        return pipeline.scoring_split(frame, file=file)

    def evaluate(self, pipeline, predict, split):
        extra = split.extra
        predicted = pipeline.to_original(predict(split.x), extra["origin_levels"])
        actual = extra["actual"]
        step = pipeline.horizon  # non-overlapping origins draw one continuous forecast line
        path = slice(None, None, step)
        return {
            "test": forecast_scores(actual, predicted),
            "baseline": {"naive_last_value": forecast_scores(actual, extra["naive"]),
                         "seasonal_naive": forecast_scores(actual, extra["seasonal_naive"])},
            "forecast": {"times": None if extra["times"] is None else extra["times"][path],
                         "actual": actual[path].tolist(), "predicted": predicted[path].tolist(),
                         "seasonal_naive": extra["seasonal_naive"][path].tolist(), "season": pipeline.season},
        }


def _frequency(times: pd.Series | None, report: dict) -> str | None:
    if times is None or len(times) < 3:
        return None
    index = pd.DatetimeIndex(times)
    freq = pd.infer_freq(index)
    if freq is None:
        step = pd.Series(index).diff().median()
        expected = int(round((index[-1] - index[0]) / step)) + 1 if step and step.total_seconds() > 0 else len(index)
        if expected > len(index):
            report["warnings"].append(f"the time column has gaps: {expected - len(index)} missing step(s) of {step}; values are taken in row order.")
    return freq
