"""The bad-input catalogue: every way a file, a setting or a prediction input can be wrong.

Each case feeds real bytes, a real Recipe or a real prediction input through
the library entry point a user reaches (``load_source``, ``read_table``,
``recipe_from_dict``, a task's ``prepare``, the prediction helpers) and checks
that the message names the place (file, row, column or setting), says what is
wrong and how to fix it -- or, for input that is merely messy, that it is read
correctly. Decoding and parsing details have their own tests in
``tests/data/test_read.py``; this module is the list a reader can scan.
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnstudio import limits
from rnnstudio.data.load import load_source
from rnnstudio.data.read import read_table
from rnnstudio.errors import StudioError
from rnnstudio.inference import parse_numbers
from rnnstudio.memory import check_model_memory
from rnnstudio.recipe import default_recipe, recipe_from_dict
from rnnstudio.tasks.base import get_task
from rnnstudio.tasks.text_classification import check_text_lengths


@dataclass(frozen=True)
class Case:
    """One bad input: how to feed it, and what the user must be told (or get)."""

    id: str
    run: Callable[[Path], object]
    says: tuple[str, ...] = ()
    where: dict = field(default_factory=dict)  # expected error attributes: file, row, column, field
    error: type[Exception] | None = StudioError  # None: the input must be read, and `check` holds
    check: Callable[[object], None] | None = None


# ------------------------------------------------------------------ feeding inputs


def load(data: bytes | str, name: str = "data.csv") -> Callable[[Path], pd.DataFrame]:
    """Save the bytes as a file and load it the way a run does (``load_source``)."""
    def run(tmp: Path) -> pd.DataFrame:
        path = tmp / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return load_source(str(path))[0]
    return run


def read(data: bytes | str, name: str = "data.csv", **limits_) -> Callable[[Path], pd.DataFrame]:
    """Read uploaded bytes with ``read_table``, optionally with smaller limits."""
    return lambda tmp: read_table(data.encode() if isinstance(data, str) else data, name=name, **limits_)


def prepare(csv: str, task: str, target: str, *, test_csv: str | None = None, **settings) -> Callable[[Path], object]:
    """Fit a task's pipeline on a CSV, as a training run does before it builds the model."""
    def run(tmp: Path):
        recipe = default_recipe(task=task, target=target, source="data.csv").with_overrides(settings)
        frame = read_table(csv.encode(), name="data.csv")
        test = read_table(test_csv.encode(), name="test.csv") if test_csv else None
        return get_task(task).prepare(recipe, frame, test, name="data.csv")
    return run


def settings(values: dict) -> Callable[[Path], object]:
    """Validate a Recipe written by hand (a YAML/JSON file or --set flags)."""
    return lambda tmp: recipe_from_dict(values)


def model(task_csv: tuple, **overrides) -> Callable[[Path], object]:
    """Check a model's training memory on fitted data, the check training runs before building."""
    csv, task, target = task_csv
    def run(tmp: Path):
        recipe = default_recipe(task=task, target=target, source="data.csv").with_overrides(overrides)
        prepared = get_task(task).prepare(recipe, read_table(csv.encode(), name="data.csv"), None,
                                          name="data.csv", check_model=False)
        return check_model_memory(recipe, prepared)
    return run


# ------------------------------------------------------------------ small real data sets


def text_csv(n: int = 40, *, labels: tuple = ("pos", "neg"), text=None) -> str:
    words = {"pos": "good fine nice film", "neg": "bad awful poor film", "meh": "so so film"}
    rows = [f"{text(i) if text else words.get(labels[i % len(labels)], 'film') + f' number {i % 4}'},"
            f"{labels[i % len(labels)]}" for i in range(n)]
    return "text,label\n" + "\n".join(rows) + "\n"


def series_csv(values, *, times=None) -> str:
    times = times or [d.strftime("%Y-%m-%d") for d in pd.date_range("2010-01-01", periods=len(values), freq="D")]
    return "date,sales\n" + "".join(f"{t},{v}\n" for t, v in zip(times, values))


SEASONAL = [round(10 + 3 * np.sin(i / 7 * 2 * np.pi) + i * 0.05, 3) for i in range(120)]


def sequences_csv(n: int = 40, *, constant: bool = False) -> str:
    rows = []
    for i in range(n):
        label = "up" if i % 2 else "down"
        values = [5.0] * 8 if constant else [(t if label == "up" else 8 - t) + (i % 3) * 0.1 for t in range(8)]
        rows.append(",".join(map(str, values)) + f",{label}")
    return ",".join(f"t{t}" for t in range(8)) + ",label\n" + "\n".join(rows) + "\n"


TEXT = (text_csv(), "text-classification", "label")
FORECAST = (series_csv(SEASONAL), "forecasting", "sales")
SEQUENCES = (sequences_csv(), "sequence-classification", "label")


def _fitted(task_csv: tuple):
    csv, task, target = task_csv
    recipe = default_recipe(task=task, target=target, source="data.csv")
    return get_task(task).prepare(recipe, read_table(csv.encode(), name="data.csv"), None, name="data.csv").pipeline


# ------------------------------------------------------------------ checks of inputs that must work


def equals(expected: dict) -> Callable[[pd.DataFrame], None]:
    def check(frame: pd.DataFrame) -> None:
        assert {c: frame[c].tolist() for c in frame.columns} == expected
    return check


def finite_windows(prepared) -> None:
    assert np.isfinite(prepared.train.x).all() and np.isfinite(prepared.train.y).all()
    assert len(prepared.train) > 0


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _predict_folder(task_csv: tuple) -> Callable[[Path], Path]:
    """An export folder as `export` writes it; the model file is never opened when the input is wrong."""
    csv, task, target = task_csv
    def make(tmp: Path) -> Path:
        folder = tmp / "export"
        folder.mkdir(exist_ok=True)
        recipe = default_recipe(task=task, target=target, source="data.csv")
        (folder / "recipe.json").write_text(json.dumps(recipe.to_dict()))
        (folder / "pipeline.json").write_text(json.dumps(_fitted(task_csv).to_dict()))
        (folder / "model.keras").write_bytes(b"never opened: the input is checked first")
        return folder
    return make


def predict(task_csv: tuple, rows: str, name: str = "new.csv") -> Callable[[Path], object]:
    """Batch prediction (`python -m rnnstudio predict`) of a file with an export folder."""
    def run(tmp: Path):
        from rnnstudio.export.predict import predict_file

        folder = _predict_folder(task_csv)(tmp)
        (tmp / name).write_text(rows)
        return predict_file(folder, tmp / name, tmp / "out.csv", progress=False)
    return run


def pipeline_call(task_csv: tuple, call: Callable) -> Callable[[Path], object]:
    return lambda tmp: call(_fitted(task_csv))


HUGE_RNN = {"model.units": 4096, "model.layers": 16, "model.bidirectional": True, "model.cell": "lstm"}


# ------------------------------------------------------------------ the catalogue

FILES = [
    Case("file-0-bytes", load(b""), ("is empty (0 bytes)",), {"file": "data.csv"}),
    Case("file-header-only", load("a,b,label\n"), ("header but no rows",), {"file": "data.csv", "row": 1}),
    Case("file-blank-lines-only", load("\n \n\t\n"), ("only blank lines",), {"file": "data.csv"}),
    Case("file-utf8-bom", load(codecs.BOM_UTF8 + "name,n\ncafé,1\n".encode()), error=None,
         check=equals({"name": ["café"], "n": [1]})),
    Case("file-utf16-with-bom", load("name,n\nnaïve,2\n".encode("utf-16")), error=None,
         check=equals({"name": ["naïve"], "n": [2]})),
    Case("file-utf16-be-without-bom", load("name,n\nÜber,3\n".encode("utf-16-be")), error=None,
         check=equals({"name": ["Über"], "n": [3]})),
    Case("file-cp1252", load("dish;price\nCrème brûlée;4,50\n".encode("cp1252")), error=None,
         check=equals({"dish": ["Crème brûlée"], "price": [4.5]})),
    Case("file-semicolon-decimal-comma", load("a;b\n1,5;2,25\n-3,75;4\n"), error=None,
         check=equals({"a": [1.5, -3.75], "b": [2.25, 4.0]})),
    Case("file-cr-only-line-ends", load("a,b\r1,2\r3,4\r"), error=None, check=equals({"a": [1, 3], "b": [2, 4]})),
    Case("file-ragged-long-rows", load("a,b\n1,2\n3,4,5\n6,7\n8,9,10\n"),
         ("line 3 has 3 fields", "line 5 has 3 fields", "2 rows do not have the 2 fields"),
         {"file": "data.csv", "row": 3}),
    Case("file-ragged-short-rows", load("a,b,c\n1,2,3\n4,5\n"), ("line 3 has 2 fields", "Fill in the missing"),
         {"file": "data.csv", "row": 3}),
    Case("file-unclosed-quote", load('a,b\n1,"oops\n2,3\n'), ("opened on line 2 is never closed",),
         {"file": "data.csv", "row": 2}),
    Case("file-png-renamed-csv", load(_png(), "photo.csv"), ("looks like a PNG image",), {"file": "photo.csv"}),
    Case("file-elf-renamed-csv", load(b"\x7fELF\x02\x01\x01" + bytes(100), "prog.csv"), ("ELF executable",),
         {"file": "prog.csv"}),
    Case("file-pdf-renamed-csv", load(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "doc.csv"), ("PDF document",),
         {"file": "doc.csv"}),
    Case("file-nul-bytes", load(b"a,b\n1,2\n3\x004,5\n"), ("NUL characters", "line 3"), {"row": 3}),
    Case("file-xlsx", load(_zip({"[Content_Types].xml": b"<x/>"}), "book.xlsx"), ("'.xlsx' cannot be read",),
         {"file": "book.xlsx"}),
    Case("file-gzip-damaged", load(b"\x1f\x8b\x08\x00garbage", "data.csv.gz"), ("could not be decompressed",),
         {"file": "data.csv.gz"}),
    Case("file-gzip-bomb-capped", read(gzip.compress(b"a,b\n" + b"1,2\n" * 50_000), "bomb.csv.gz",
                                       max_decompressed_bytes=10_000),
         ("decompresses to more than 9.8 KB",), {"file": "bomb.csv.gz"}),
    Case("file-zip-two-files", load(_zip({"a.csv": b"a\n1\n", "b.csv": b"b\n2\n"}), "data.zip"),
         ("contains 2 files", "exactly one"), {"file": "data.zip"}),
    Case("file-too-many-bytes", read(b"a,b\n" + b"1,2\n" * 1000, "big.csv", max_bytes=1024),
         ("more than the limit of 1 KB",), {"file": "big.csv"}),
    Case("file-million-rows", read(b"a\n" + b"1\n" * (limits.MAX_ROWS + 1), "long.csv"),
         (f"more than {limits.MAX_ROWS:,} rows",), {"file": "long.csv"}),
    Case("file-10000-columns", read(",".join(f"c{i}" for i in range(10_000)) + "\n" + "1," * 9_999 + "1\n", "wide.csv"),
         ("10,000 columns", f"limit of {limits.MAX_COLUMNS:,}"), {"file": "wide.csv", "row": 1}),
    Case("file-single-100mb-line", read(b"a,b\n" + b"x" * (100 * 1024**2) + b",1\n", "line.csv"),
         ("line 2 is 104,857,602 characters long", f"limit of {limits.MAX_LINE_CHARS:,}"),
         {"file": "line.csv", "row": 2}),
    Case("file-value-longer-than-field-limit", load("a,b\n" + "y" * 200_000 + ",1\n"),
         ("a value starting on line 2 is longer than",), {"row": 2}),
    Case("file-duplicate-and-empty-column-names", load("a,a,,b\n1,2,3,4\n"), error=None,
         check=lambda f: list(f.columns) == ["a", "a_2", "column_3", "b"] or pytest.fail(list(f.columns))),
    Case("file-very-long-column-name", load("n" * 5000 + ",b\n1,2\n"), error=None,
         check=lambda f: list(f.columns) == ["n" * 5000, "b"] or pytest.fail("name changed")),
    Case("file-zero-width-and-rtl-names", load("\u200bשם\u200d,عمر\nדנה,30\n"), error=None,
         check=equals({"שם": ["דנה"], "عمر": [30]})),
    Case("file-txt-blank-lines-only", load("\n\n  \n", "notes.txt"), ("only blank lines",), {"file": "notes.txt"}),
    Case("file-txt-emoji", load("great 😀\tpos\nawful 😡\tneg\n", "tweets.txt"), error=None,
         check=equals({"text": ["great 😀", "awful 😡"], "label": ["pos", "neg"]})),
    Case("file-txt-line-without-label", load("good\tpos\nbad\tneg\nno label here\nfine\tpos\n", "t.txt"),
         ("line 3 is missing the text, the tab or the label",), {"file": "t.txt", "row": 3}),
    Case("file-not-found", lambda tmp: load_source(str(tmp / "nope.csv")), ("file not found",)),
    Case("file-is-a-folder", lambda tmp: load_source(str(tmp)), ("folder, not a file",)),
]

DATA = [
    Case("data-all-labels-missing", prepare("text,label\n" + "some words here,\n" * 30, "text-classification", "label"),
         ("every label is missing",), {"file": "data.csv", "column": "label"}),
    Case("data-all-targets-missing", prepare(series_csv([""] * 60), "forecasting", "sales"),
         ("every target value is missing",), {"column": "sales"}),
    Case("data-mixed-types-in-numeric-column",
         prepare(series_csv([*SEASONAL[:50], "twelve", *SEASONAL[51:80], "1.2.3", *SEASONAL[81:]]), "forecasting", "sales"),
         ("2 value(s) are not numbers", "'twelve'", "'1.2.3'", "lines 52, 82"),
         {"file": "data.csv", "column": "sales", "row": 52}),
    Case("data-mixed-types-in-series-feature", prepare(sequences_csv().replace("1.1,", "x,", 1),
                                                       "sequence-classification", "label"),
         ("1 value(s) are not numbers (e.g. 'x')", "Fix or remove line 3;"), {"column": "t1", "row": 3}),
    Case("data-too-few-examples-for-the-splits", prepare(text_csv(4), "text-classification", "label"),
         ("too few for a validation split",), {"field": "data.val_size"}),
    Case("data-long-layout-without-series-id", prepare(SEQUENCES[0], "sequence-classification", "label",
                                                       **{"data.layout": "long"}),
         ("needs a series id column",), {"field": "data.series_id_column"}),
    Case("data-infinite-value", prepare(series_csv([*SEASONAL[:10], "inf", *SEASONAL[11:]]), "forecasting", "sales"),
         ("infinite or too large",), {"column": "sales", "row": 12}),
    Case("data-1e308", prepare(series_csv([*SEASONAL[:10], "1e308", *SEASONAL[11:]]), "forecasting", "sales"),
         ("infinite or too large",), {"column": "sales", "row": 12}),
    Case("data-nan-values-are-filled", prepare(series_csv([*SEASONAL[:10], "NaN", "", *SEASONAL[12:]]),
                                                "forecasting", "sales"), error=None,
         check=lambda p: finite_windows(p) or any("filled by linear interpolation" in w for w in p.report["warnings"])
         or pytest.fail(p.report["warnings"])),
    Case("data-constant-target-no-divide-by-zero", prepare(series_csv([7.0] * 120), "forecasting", "sales"),
         error=None, check=lambda p: finite_windows(p) or p.pipeline.target_scaler.scale_ == [1.0]
         or pytest.fail(p.pipeline.target_scaler.scale_)),
    Case("data-constant-series-features", prepare(sequences_csv(constant=True), "sequence-classification", "label"),
         error=None, check=finite_windows),
    Case("data-one-class-only", prepare(text_csv(labels=("pos",)), "text-classification", "label"),
         ("only one class ('pos')",), {"column": "label"}),
    Case("data-class-missing-from-training-split",
         prepare(text_csv(18) + "so so film,meh\nso so film,meh\n", "text-classification", "label",
                 **{"data.val_size": 0.5, "data.test_size": 0.5, "data.seed": 0}),
         ("no example left in the training split",), {"column": "label"}),
    Case("data-class-missing-from-test-file",
         prepare(text_csv(labels=("pos", "neg", "meh")), "text-classification", "label",
                 test_csv=text_csv(12, labels=("pos", "neg"))), error=None,
         check=lambda p: any("'meh'" in w and "test split" in w for w in p.report["warnings"])
         or pytest.fail(p.report["warnings"])),
    Case("data-unseen-label-in-test-file",
         prepare(text_csv(), "text-classification", "label", test_csv=text_csv(12, labels=("pos", "meh"))),
         ("'meh'", "not seen in training"), {"column": "label"}),
    Case("data-unsorted-timestamps-are-sorted",
         prepare(series_csv(SEASONAL[::-1], times=[d.strftime("%Y-%m-%d") for d in
                                                   pd.date_range("2010-01-01", periods=120, freq="D")][::-1]),
                 "forecasting", "sales"), error=None,
         check=lambda p: any("not in time order" in w for w in p.report["warnings"]) or pytest.fail()),
    Case("data-duplicate-timestamps", prepare(series_csv(SEASONAL, times=["2010-01-01"] * 2 + [
        d.strftime("%Y-%m-%d") for d in pd.date_range("2010-01-02", periods=118, freq="D")]), "forecasting", "sales"),
         ("2 rows share a time stamp",), {"column": "date"}),
    Case("data-unreadable-timestamps", prepare(series_csv(SEASONAL, times=["yesterday"] + [
        d.strftime("%Y-%m-%d") for d in pd.date_range("2010-01-02", periods=119, freq="D")]), "forecasting", "sales",
        **{"data.time_column": "date"}), ("cannot be read as dates", "'yesterday'"), {"column": "date", "row": 2}),
    Case("data-numeric-text-column", prepare("text,label,score\n" + "nice words,pos,1\nbad words,neg,2\n" * 20,
                                             "text-classification", "label", **{"data.text_column": "score"}),
         ("holds numbers, not text",), {"column": "score", "field": "data.text_column"}),
    Case("data-text-column-is-the-label", prepare(text_csv(), "text-classification", "label",
                                                  **{"data.text_column": "label"}),
         ("is also the label column",), {"field": "data.text_column"}),
    Case("data-label-looks-like-a-measurement",
         prepare("text,label\n" + "".join(f"word {i % 3} here,{i * 1.5}\n" for i in range(40)),
                 "text-classification", "label"), ("40 different values in 40 rows",),
         {"column": "label", "field": "data.target"}),
    Case("data-named-column-missing", prepare(SEQUENCES[0], "sequence-classification", "label",
                                              **{"data.feature_columns": ["t0", "speed"]}),
         ("no column 'speed'",), {"field": "data.feature_columns"}),
    Case("data-target-column-missing", prepare(text_csv(), "text-classification", "sentiment"),
         ("no column 'sentiment'", "label"), {"file": "data.csv"}),
    Case("data-series-with-two-labels", prepare("series,t,x,label\n" + "".join(
        f"{s},{t},{t * (s % 2 + 1)},{'a' if s % 2 else 'b'}\n" for s in range(20) for t in range(5))
        + "0,5,1,a\n", "sequence-classification", "label", **{"data.series_id_column": "series"}),
         ("series '0' has more than one label (b, a)",), {"column": "label"}),
    Case("data-text-single-tokens", prepare("text,label\n" + "".join(f"w{i},{'ab'[i % 2]}\n" for i in range(40)),
                                            "text-classification", "label"),
         ("no word occurs at least 2 times",), {"field": "preprocess.min_freq", "column": "text"}),
    Case("data-text-only-punctuation-spaces",
         prepare("text,label\n" + "\" \",a\n\"  \",b\n" * 20, "text-classification", "label",
                 **{"preprocess.tokenizer": "regexp", "preprocess.token_pattern": r"\w+"}),
         ("contain no words at all",), {"field": "preprocess.tokenizer"}),
    Case("data-text-emoji", prepare(text_csv(text=lambda i: ["love it 😀 😀", "hate it 😡 😡"][i % 2]),
                                    "text-classification", "label"), error=None,
         check=lambda p: "😀" in p.pipeline.encoder.vocabulary_ or pytest.fail(p.pipeline.encoder.vocabulary_)),
]

SETTINGS = [
    Case("setting-sequence-length-0", settings({"preprocess": {"max_length": 0}}), ("must be at least 1",),
         {"field": "preprocess.max_length"}),
    Case("setting-sequence-length-negative", settings({"preprocess": {"max_length": -5}}), ("got -5",),
         {"field": "preprocess.max_length"}),
    Case("setting-lookback-0", settings({"preprocess": {"lookback": 0}}), ("must be at least 1",),
         {"field": "preprocess.lookback"}),
    Case("setting-window-plus-horizon-longer-than-split", prepare(*FORECAST, **{"preprocess.lookback": 500}),
         ("too few for one window of lookback 500",), {"field": "preprocess.lookback", "file": "data.csv"}),
    Case("setting-horizon-longer-than-series", prepare(*FORECAST, **{"preprocess.horizon": 200}),
         ("120 rows are too few",), {"field": "preprocess.horizon"}),
    Case("setting-stride-0", settings({"preprocess": {"stride": 0}}), ("must be at least 1",),
         {"field": "preprocess.stride"}),
    Case("setting-horizon-0", settings({"preprocess": {"horizon": 0}}), ("must be at least 1",),
         {"field": "preprocess.horizon"}),
    Case("setting-vocabulary-0", settings({"preprocess": {"max_vocab": 0}}), (f"at least {limits.MIN_VOCAB}",),
         {"field": "preprocess.max_vocab"}),
    Case("setting-vocabulary-1", settings({"preprocess": {"max_vocab": 1}}), ("got 1",), {"field": "preprocess.max_vocab"}),
    Case("setting-vocabulary-too-large", settings({"preprocess": {"max_vocab": limits.MAX_VOCAB + 1}}),
         (f"at most {limits.MAX_VOCAB}",), {"field": "preprocess.max_vocab"}),
    Case("setting-batch-size-0", settings({"train": {"batch_size": 0}}), ("must be at least 1",),
         {"field": "train.batch_size"}),
    Case("setting-batch-larger-than-data-works", model(TEXT, **{"train.batch_size": 1_000_000}), error=None,
         check=lambda estimate: estimate["batch_size"] < 40 or pytest.fail(estimate)),
    Case("setting-units-0", settings({"model": {"name": "rnn", "units": 0}}), ("must be at least 1",),
         {"field": "model.units"}),
    Case("setting-layers-0", settings({"model": {"name": "rnn", "layers": 0}}), ("must be at least 1",),
         {"field": "model.layers"}),
    Case("setting-dropout-1", settings({"model": {"name": "rnn", "dropout": 1.0}}), ("must be less than 1",),
         {"field": "model.dropout"}),
    Case("setting-learning-rate-0", settings({"train": {"learning_rate": 0}}), ("must be greater than 0",),
         {"field": "train.learning_rate"}),
    Case("setting-learning-rate-negative", settings({"train": {"learning_rate": -0.1}}), ("got -0.1",),
         {"field": "train.learning_rate"}),
    Case("setting-learning-rate-nan", settings({"train": {"learning_rate": float("nan")}}),
         ("must be a finite number",), {"field": "train.learning_rate"}),
    Case("setting-epochs-0", settings({"train": {"epochs": 0}}), ("must be at least 1",), {"field": "train.epochs"}),
    Case("setting-early-stopping-without-validation", settings({"data": {"val_size": 0}, "train": {"early_stopping": True}}),
         ("early stopping needs a validation split",), {"field": "data.val_size"}),
    Case("setting-model-too-large-for-memory", model(TEXT, **HUGE_RNN), ("parameters), more than the",),
         {"field": "model.units"}),
    Case("setting-unknown-fields-listed", settings({"trian": {}, "data": {"sorce": "x.csv"}, "model": {"unitz": 3}}),
         ("3 problems", "'trian'", "'data.sorce'", "Did you mean 'source'?", "'model.unitz'")),
    Case("setting-wrong-type", settings({"train": {"epochs": "ten"}}), ('got "ten"',), {"field": "train.epochs"}),
    Case("setting-unknown-model-family", settings({"model": {"name": "lstm"}}), ("unknown model 'lstm'", "rnn"),
         {"field": "model"}),
    Case("setting-unknown-task", settings({"data": {"task": "translation"}}), ("must be one of",),
         {"field": "data.task"}),
    Case("setting-schema-version-from-the-future", settings({"version": 99}), ("newer than this studio's",),
         {"field": "version"}),
    Case("setting-schema-version-0", settings({"version": 0}), ("whole number from 1",), {"field": "version"}),
]

def older_schema(tmp: Path):
    """A version-1 recipe under a studio whose schema 2 renamed ``train.lr`` to ``train.learning_rate``."""
    from rnnstudio import recipe as recipe_module

    def rename_lr(data: dict) -> dict:
        train = dict(data.get("train", {}))
        if "lr" in train:
            train["learning_rate"] = train.pop("lr")
        return {**data, "train": train}

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recipe_module, "SCHEMA_VERSION", 2)
        patch.setattr(recipe_module, "UPGRADES", {1: rename_lr})
        return recipe_from_dict({"version": 1, "train": {"lr": 0.01}})


SETTINGS.append(Case("setting-older-schema-version-upgraded", older_schema, error=None,
                     check=lambda r: (r.version, r.train.learning_rate) == (2, 0.01) or pytest.fail(r)))

PREDICT = [
    Case("predict-missing-text-column", predict(TEXT, "review\nnice film\n"),
         ("no text column 'text'", "columns are: review"), {"file": "new.csv"}),
    Case("predict-missing-feature-columns", predict(SEQUENCES, "t0,t1\n1,2\n"), ("'t2'", "are missing"),
         {"file": "new.csv"}),
    Case("predict-missing-forecast-column", predict(FORECAST, "date,price\n2010-01-01,3\n"), ("no column 'sales'",),
         {"file": "new.csv"}),
    Case("predict-too-short-history", predict(FORECAST, series_csv(SEASONAL[:5])), ("the model needs the last",),
         {"file": "new.csv"}),
    Case("predict-over-long-text", lambda tmp: check_text_lengths(["ok", "x" * (limits.MAX_PREDICT_TEXT_CHARS + 1)]),
         ("text 2 is", "more than the limit"), {"row": 2}),
    Case("predict-extra-columns-are-ignored",
         pipeline_call(TEXT, lambda p: p.transform_x(pd.DataFrame({"id": [1], "text": ["good film"], "x": [0]}))),
         error=None, check=lambda x: x.shape[0] == 1 or pytest.fail(x.shape)),
    Case("predict-unseen-labels-are-ignored",
         pipeline_call(TEXT, lambda p: p.transform_x(pd.DataFrame({"text": ["good film"], "label": ["never seen"]}))),
         error=None, check=lambda x: x.shape[0] == 1 or pytest.fail(x.shape)),
    Case("evaluate-unseen-labels", pipeline_call(TEXT, lambda p: get_task("text-classification").split_for(
        p, pd.DataFrame({"text": ["good film", "odd"], "label": ["pos", "weird"]}), file="scored.csv")),
         ("'weird'", "not seen in training", "The model knows: neg, pos"), {"file": "scored.csv"}),
    Case("predict-typed-numbers-with-nan", lambda tmp: parse_numbers("1, nan; 2, 3"), ("missing or infinite",)),
    Case("predict-typed-words", lambda tmp: parse_numbers("1, two, 3"), ("'two'", "not a number")),
]

CASES = FILES + DATA + SETTINGS + PREDICT


def test_the_catalogue_has_at_least_45_distinct_cases():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 45, len(ids)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input(case: Case, tmp_path: Path):
    if case.error is None:
        case.check(case.run(tmp_path))
        return
    with pytest.raises(case.error) as caught:
        case.run(tmp_path)
    error = caught.value
    text = str(error)
    for part in case.says:
        assert part in text, text
    assert error.fix, f"no fix in: {text}"
    for attribute, expected in case.where.items():
        assert getattr(error, attribute) == expected, f"{attribute}: {text}"
    # Every message says where, unless it is about a path the user typed (that path is in the message).
    assert error.where or "not found" in text or "folder" in text or "input" in text, text
