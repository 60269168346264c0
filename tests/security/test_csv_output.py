"""CSV files the studio writes never carry a cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from rnnstudio.export.predict import safe_cell

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ["=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("value", HOSTILE)
def test_cells_starting_like_a_formula_are_quoted(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["positive", "a=b", "", "'quoted", 3, -2.5, 0.0])
def test_other_cells_and_numbers_pass_unchanged(value):
    assert safe_cell(value) == value


def test_every_csv_writer_in_the_studio_neutralises_its_cells():
    writers = []
    for path in [*(ROOT / "rnnstudio").rglob("*.py"), *(ROOT / "views").rglob("*.py"), ROOT / "app.py"]:
        text = path.read_text()
        if re.search(r"\.to_csv\(|csv\.writer\(|csv\.DictWriter\(|text/csv", text):
            writers.append(path.relative_to(ROOT))
            assert "safe_cell" in text, f"{path.relative_to(ROOT)} writes CSV without safe_cell"
    assert writers  # the scan found the predictions writer, so it is looking in the right place


@pytest.mark.slow
def test_predictions_of_hostile_class_labels_open_as_text(tmp_path):
    from rnnstudio.export.predict import predict_file
    from rnnstudio.recipe import default_recipe
    from rnnstudio.train.runner import train

    labels = HOSTILE[:4]
    data = tmp_path / "hostile.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(80):
            writer.writerow([f"word{i % 4} filler text number {i}", labels[i % 4]])
    recipe = default_recipe(source=str(data), task="text-classification", target="label", text_column="text")
    run = train(recipe.with_overrides({"train.epochs": 1, "train.early_stopping": False, "model.units": 4}))
    out = tmp_path / "predictions.csv"
    predict_file(run.folder / "model.keras", data, out, progress=False)
    rows = list(csv.reader(open(out, newline="")))
    cells = [cell for row in rows for cell in row]
    assert len(rows) == 81 and {row[1] for row in rows[1:]} <= {"'" + label for label in labels}
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
