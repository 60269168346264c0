"""Exports of finished runs: raw inputs in, the studio's predictions out, checked in a fresh process."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.errors import StudioError
from rnnstudio.export.predict import predict_file, safe_cell
from rnnstudio.export.run import export_run
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry

pytestmark = pytest.mark.slow


def trained(name: str, **overrides):
    from rnnstudio.train.runner import train

    recipe = default_recipe(source=f"sample:{name}", **sample_defaults(f"sample:{name}"))
    return train(recipe.with_overrides({"train.epochs": 2, "train.early_stopping": False, **overrides}))


# TFLite converts only the numeric core, the same for every padding or tokenizer: one case per task checks it.
@pytest.mark.parametrize("sample, overrides, tflite", [
    ("reviews", {}, True),
    ("reviews", {"preprocess.tokenizer": "char", "preprocess.padding": "pre", "preprocess.truncating": "pre"}, False),
    ("airline", {"preprocess.horizon": 6}, True),
    ("sine", {"model.units": 8, "preprocess.horizon": 3}, True),  # multivariate: target plus temperature
    ("shapes", {}, True),
    ("shapes", {"preprocess.padding": "pre", "preprocess.truncating": "pre", "preprocess.max_length": 40}, False),
])
def test_savedmodel_on_raw_inputs_matches_the_studio_in_a_fresh_process(sample, overrides, tflite, tmp_path):
    run = trained(sample, **overrides)
    result = export_run(run.run_id, ["savedmodel", "keras"] + ["tflite"] * tflite, tmp_path / "out")
    if tflite:
        lite = result["verification"]["tflite"]
        assert lite["passed"] and lite["fresh_process"] and lite["max_difference"] <= 1e-5
    report = result["verification"]["savedmodel"]
    assert report["passed"] and report["fresh_process"] and report["examples"] > 0
    assert report["max_difference"] <= 1e-5 and report["cudnn_ops"] == []
    if "label_agreement" in report:
        assert report["label_agreement"] == 1.0
    if sample == "reviews":
        parity = result["verification"]["tokenizer_parity"]
        assert parity["mismatches"] == 0 and parity["texts"] > 100
    folder = tmp_path / "out"
    assert {p.name for p in folder.iterdir()} >= {"savedmodel", "model.keras", "pipeline.json", "MODEL_CARD.md",
                                                  "model_card.json"} | ({"model.tflite"} if tflite else set())
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]  # the staging folder is gone
    card = json.loads((folder / "model_card.json").read_text())
    assert card["example_request"]["signature_name"] == "serving_default" and card["metrics"]["baseline"]
    shown = subprocess.run(["saved_model_cli", "show", "--dir", str(folder / "savedmodel"), "--all"],
                           capture_output=True, text=True)
    if shown.returncode == 0:
        assert "serving_default" in shown.stdout
    assert RunRegistry().get(run.run_id).summary["export"]["verification"]["savedmodel"]["passed"]


def test_predict_gives_the_same_answers_from_savedmodel_and_keras_and_defuses_formulas(tmp_path):
    run = trained("reviews")
    export_run(run.run_id, ["savedmodel", "keras"], tmp_path / "export")
    rows = tmp_path / "new.csv"
    with open(rows, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review", "sentiment"])
        writer.writerows([["A wonderful film, moving and funny.", "x"], ["=HYPERLINK(\"http://evil\")", "x"],
                          ["Dull, far too long.", "x"]])
    by_savedmodel = predict_file(tmp_path / "export", rows, tmp_path / "a.csv", progress=False)
    by_keras = predict_file(tmp_path / "export" / "model.keras", rows, tmp_path / "b.csv", progress=False)
    assert by_savedmodel["kind"] == "savedmodel" and by_keras["kind"] == "keras" and by_savedmodel["rows"] == 3
    a = list(csv.DictReader(open(tmp_path / "a.csv")))
    b = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert [r["label"] for r in a] == [r["label"] for r in b]
    assert np.allclose([float(r["p_positive"]) for r in a], [float(r["p_positive"]) for r in b], atol=1e-5)
    assert safe_cell("=1+1") == "'=1+1" and safe_cell("-3") == "'-3" and safe_cell(-3.0) == -3.0


def test_a_tokenizer_the_graph_cannot_express_gets_an_ids_signature(tmp_path):
    run = trained("reviews", **{"preprocess.tokenizer": "treebank"})
    result = export_run(run.run_id, ["savedmodel"], tmp_path / "out")
    report = result["verification"]["savedmodel"]
    assert report["passed"] and report["label_agreement"] == 1.0
    assert set(report["signature"]["inputs"]) == {"ids", "why"} and "treebank" in report["signature"]["inputs"]["why"]
    encoder = json.loads((tmp_path / "out" / "pipeline.json").read_text())["encoder"]
    assert encoder["params"]["tokenizer"] == "treebank" and len(encoder["vocabulary_"]) > 10


def test_exports_refuse_what_they_cannot_do(tmp_path):
    registry = RunRegistry()
    pending = registry.create_run({}, task="forecasting", model="rnn")
    with pytest.raises(StudioError, match="only completed runs"):
        export_run(pending.run_id)
    run = trained("sine", **{"model.units": 8})
    with pytest.raises(StudioError, match="onnx"):
        export_run(run.run_id, ["onnx"])
    (tmp_path / "model.h5").write_bytes(b"\x89HDF\r\n")
    with pytest.raises(StudioError, match="refused"):
        predict_file(tmp_path / "model.h5", tmp_path / "x.csv", tmp_path / "y.csv", progress=False)


def test_cli_export_and_predict(tmp_path):
    run = trained("airline", **{"preprocess.horizon": 4})
    out = subprocess.run([sys.executable, "-m", "rnnstudio", "export", run.run_id, "--out", str(tmp_path / "e"),
                          "--json"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["verification"]["savedmodel"]["passed"]
    from rnnstudio.data.load import load_source

    frame, _ = load_source("sample:airline")
    frame.to_csv(tmp_path / "history.csv", index=False)
    done = subprocess.run([sys.executable, "-m", "rnnstudio", "predict", str(tmp_path / "e"), "--input",
                           str(tmp_path / "history.csv"), "--output", str(tmp_path / "f.csv")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    forecast = list(csv.DictReader(open(tmp_path / "f.csv")))
    assert len(forecast) == 4 and all(100 < float(r["forecast_passengers"]) < 2000 for r in forecast)
