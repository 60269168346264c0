"""What every task provides, and the task registry.

A task knows what its data must look like, how raw rows become tensors (its
fitted pipeline), which head and loss the model gets, and how predictions are
scored next to naive baselines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from rnnstudio.errors import DataError
from rnnstudio.memory import check_model_memory
from rnnstudio.zoo.registry import InputSpec


@dataclass
class Split:
    """Model-ready arrays of one split; ``extra`` holds what scoring needs (raw targets, origins)."""

    x: np.ndarray
    y: np.ndarray
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class Prepared:
    """Everything training needs, learnt from the training split only."""

    train: Split
    val: Split | None
    test: Split
    pipeline: Any
    input_spec: InputSpec
    n_outputs: int
    report: dict
    sample_weight: np.ndarray | None = None


class Task:
    """Base class of tasks; subclasses fill in the class attributes and methods."""

    name: str = ""
    title: str = ""
    input_kind: str = "numeric"
    loss: str = "mse"
    activation: str | None = None
    monitor_metric: str = "loss"  # shown beside the loss while training
    target_role: str = "label"  # what messages call the target column
    pipeline_class: type = object
    # What forms show for this task (the app draws its widgets from these lists).
    data_fields: tuple[str, ...] = ("target",)
    preprocess_fields: tuple[str, ...] = ()
    augmentations: tuple[str, ...] = ()
    hidden_model_fields: tuple[str, ...] = ()

    def prepare(self, recipe, frame: pd.DataFrame, test_frame: pd.DataFrame | None, *, name: str,
                check_model: bool = True) -> Prepared:
        """Checks the column roles, fits the pipeline on the training split and checks the model fits in memory.

        Training and the previews both come through here, so they refuse the
        same data with the same message. Previews of the data pass
        ``check_model=False``: the model's size is not theirs to judge.

        Raises:
            StudioError: (DataError for the data) naming the file, column or setting and the fix.
        """
        self.check_roles(recipe, frame, name=name)
        prepared = self.prepare_data(recipe, frame, test_frame, name=name)
        if check_model:
            check_model_memory(recipe, prepared)  # before anything builds the model
        return prepared

    def check_roles(self, recipe, frame: pd.DataFrame, *, name: str) -> None:
        """Raises a DataError when a column named in ``recipe.data`` is missing or cannot play its role."""
        require_column(frame, recipe.data.target, role=self.target_role, file=name, option="--target")
        for column, role, setting in self.named_columns(recipe.data):
            if column and column not in frame.columns:
                raise DataError(f"there is no column '{column}' (wanted as the {role} column).", file=name,
                                field=setting, fix=f"Use one of: {', '.join(map(str, frame.columns))}.")

    def named_columns(self, data) -> list[tuple[str | None, str, str]]:
        """(column, role, setting) of every column the Recipe names for this task, besides the target."""
        return []

    def prepare_data(self, recipe, frame: pd.DataFrame, test_frame: pd.DataFrame | None, *, name: str) -> Prepared:
        """Splits the data and fits the task's pipeline on the training split (roles already checked)."""
        raise NotImplementedError

    def evaluate(self, pipeline, predict: Callable[[np.ndarray], np.ndarray], split: Split) -> dict:
        raise NotImplementedError

    def split_for(self, pipeline, frame: pd.DataFrame, *, file: str) -> Split:
        """Model inputs and targets of a new labelled file, through the fitted pipeline."""
        raise NotImplementedError

    def finalize_model(self, model, recipe, pipeline):
        """Task-specific additions to a built model (default: none)."""
        return model

    def load_pipeline(self, data: dict):
        return self.pipeline_class.from_dict(data)


_TASKS: dict[str, Task] = {}


def register_task(cls: type[Task]) -> type[Task]:
    if cls.name in _TASKS:
        raise ValueError(f"task {cls.name!r} is already registered")
    _TASKS[cls.name] = cls()
    return cls


def get_task(name: str | None) -> Task:
    from rnnstudio.tasks import forecasting, sequence_classification, text_classification  # noqa: F401  (registers)

    if name not in _TASKS:
        raise DataError(f"unknown or missing task {name!r}.", field="data.task",
                        fix=f"Give --task with one of: {', '.join(sorted(_TASKS))}.")
    return _TASKS[name]


def list_tasks() -> list[Task]:
    from rnnstudio.tasks import forecasting, sequence_classification, text_classification  # noqa: F401

    return list(_TASKS.values())


# ------------------------------------------------------------ shared helpers


def require_column(frame: pd.DataFrame, column: str | None, *, role: str, file: str, option: str) -> str:
    """``column`` if it is in ``frame``; otherwise a DataError listing the columns."""
    if not column:
        raise DataError(f"no {role} column was given.", file=file,
                        fix=f"Name it with {option}; the columns are: {', '.join(map(str, frame.columns))}.")
    if column not in frame.columns:
        raise DataError(f"there is no column '{column}' (wanted as the {role}).", file=file,
                        fix=f"Use one of: {', '.join(map(str, frame.columns))}.")
    return column


def numeric_column(frame: pd.DataFrame, column: str, *, file: str) -> np.ndarray:
    """The column as float64; non-numbers and inf are reported with counts and examples."""
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
    if bad.any():
        rows = (np.flatnonzero(bad.to_numpy()) + 2)[:5].tolist()  # +2: header line and 1-based rows
        examples = ", ".join(repr(v) for v in raw[bad].astype(str).unique()[:3])
        raise DataError(f"{int(bad.sum())} value(s) are not numbers (e.g. {examples}).", file=file, column=column,
                        row=rows[0], fix=f"Fix or remove {_lines(rows)}; use . or , consistently as decimal mark.")
    array = values.to_numpy(dtype="float64")
    inf = np.isinf(array) | (np.abs(np.nan_to_num(array)) > 1e300)
    if inf.any():
        rows = (np.flatnonzero(inf) + 2)[:5].tolist()
        raise DataError(f"{int(inf.sum())} value(s) are infinite or too large to train on.", file=file, column=column,
                        row=rows[0], fix=f"Replace them on {_lines(rows)} with real measurements or leave them empty.")
    return array


def _lines(rows: list[int]) -> str:
    """``"line 3"`` or ``"lines 3, 8"``."""
    return f"line {rows[0]}" if len(rows) == 1 else f"lines {', '.join(map(str, rows))}"


def length_stats(lengths: np.ndarray) -> dict:
    lengths = np.asarray(lengths)
    if len(lengths) == 0:
        return {}
    return {"min": int(lengths.min()), "median": float(np.median(lengths)), "p95": float(np.percentile(lengths, 95)),
            "max": int(lengths.max()), "mean": float(lengths.mean())}


def frame_overview(frame: pd.DataFrame, *, name: str) -> dict:
    """Rows, columns, types and missing values of a frame, for the validation report."""
    return {
        "file": name,
        "rows": int(len(frame)),
        "columns": [{"name": str(c), "type": _kind(frame[c]), "missing": int(frame[c].isna().sum())} for c in frame.columns],
        "warnings": [],
    }


def _kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        return "integer" if pd.api.types.is_integer_dtype(series) else "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "time"
    return "text"
