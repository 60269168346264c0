"""First guesses of the task and column roles for a table a person just uploaded."""

from __future__ import annotations

import warnings

import pandas as pd

LABEL_NAMES = ("label", "labels", "class", "target", "y", "category", "sentiment", "outcome")
TIME_NAMES = ("date", "time", "timestamp", "datetime", "month", "day", "year", "week", "period", "ds")


def _looks_like_time(series: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if pd.api.types.is_numeric_dtype(series) and str(series.name).strip().lower() not in TIME_NAMES:
        return False
    sample = series.dropna().astype(str).head(50)
    if sample.empty:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return parsed.notna().mean() > 0.9 and (str(series.name).strip().lower() in TIME_NAMES
                                           or not pd.api.types.is_numeric_dtype(series))


def _label_like(frame: pd.DataFrame, exclude: set) -> str | None:
    candidates = [c for c in frame.columns if c not in exclude and 2 <= frame[c].nunique() <= max(2, len(frame) // 5)]
    named = [c for c in candidates if str(c).strip().lower() in LABEL_NAMES]
    if named:
        return named[0]
    return min(candidates, key=lambda c: frame[c].nunique()) if candidates else None


def suggest_roles(frame: pd.DataFrame) -> dict:
    """``{"task": .., "target": .., other data fields}``: a starting point the person can change."""
    if frame.empty or len(frame.columns) == 0:
        return {}
    strings = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    text = [c for c in strings if frame[c].dropna().astype(str).str.len().mean() > 20]
    if text:
        column = max(text, key=lambda c: frame[c].dropna().astype(str).str.len().mean())
        return {"task": "text-classification", "text_column": column, "target": _label_like(frame, {column})}
    times = [c for c in frame.columns if _looks_like_time(frame[c])]
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) and c not in times]
    if times and numeric:
        return {"task": "forecasting", "time_column": times[0], "target": numeric[0]}
    target = _label_like(frame, set())
    if target is not None and len(numeric) >= 2:
        return {"task": "sequence-classification", "target": target}
    if numeric:
        return {"task": "forecasting", "target": numeric[0]}
    return {"target": target} if target else {}
