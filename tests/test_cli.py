"""The command line as a user runs it: real processes, real files, the JSON last line, clear errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[1]


def cli(*args, home, cwd=None):
    env = {**os.environ, "RNNSTUDIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "rnnstudio", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_train_json_then_runs_list_show_and_evaluate(studio_home, tmp_path):
    from rnnstudio.data.samples import load_sample

    csv = tmp_path / "airline.csv"
    load_sample("airline").rename(columns={"passengers": "Passengers"}).to_csv(csv, index=False)
    out = cli("train", "--data", str(csv), "--task", "forecasting", "--target", "Passengers",
              "--set", "preprocess.horizon=12", "--set", "train.epochs=30", "--json", home=studio_home)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["task"] == "forecasting" and result["train_seconds"] > 0
    assert set(result["metrics"]["test"]) == {"mae", "rmse", "mape", "smape"}
    assert "seasonal_naive" in result["metrics"]["baseline"]
    listed = json.loads(cli("runs", "list", "--json", home=studio_home).stdout)
    assert [r["run_id"] for r in listed] == [result["run_id"]] and listed[0]["status"] == "completed"
    shown = json.loads(cli("runs", "show", result["run_id"][:12], "--json", home=studio_home).stdout)
    assert shown["recipe"]["preprocess"]["horizon"] == 12 and len(shown["epochs"]) >= 1
    evaluated = cli("evaluate", result["run_id"], "--data", str(csv), "--json", home=studio_home)
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads(evaluated.stdout.strip().splitlines()[-1])["metrics"]["test"]["mape"] > 0
    human = cli("runs", "list", home=studio_home)
    assert "completed" in human.stdout


def test_init_writes_an_editable_recipe_that_trains_back(studio_home, tmp_path):
    out = cli("init", "--data", "sample:reviews", "--task", "text-classification", "--target", "sentiment", home=studio_home)
    assert out.returncode == 0, out.stderr
    assert "# Initial learning rate." in out.stdout
    recipe = yaml.safe_load(out.stdout)
    assert recipe["data"]["target"] == "sentiment" and recipe["model"]["name"] == "rnn"
    assert recipe["model"]["bidirectional"] is True  # the text default
    path = tmp_path / "my_recipe.yaml"
    path.write_text(out.stdout)
    from rnnstudio.recipe import load_recipe

    assert load_recipe(path).data.task == "text-classification"


@pytest.mark.parametrize("args, expected", [
    (("train", "--data", "missing.csv", "--task", "forecasting", "--target", "y"), "missing.csv: file not found"),
    (("train", "--data", "sample:airline", "--set", "train.learning_rate=-1"), "train.learning_rate"),
    (("train", "--data", "sample:airline", "--set", "train.nonsense=1"), "unknown setting 'train.nonsense'"),
    (("init", "--data", "x.csv"), "the task is not set"),
    (("runs", "show", "nope"), "nope"),
])
def test_errors_are_one_clear_message_with_exit_code_2(args, expected, studio_home, tmp_path):
    out = cli(*args, home=studio_home, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert expected in out.stderr
    assert "Traceback" not in out.stderr and "Fix:" in out.stderr


def test_bad_file_content_is_reported_with_its_line(studio_home, tmp_path):
    bad = tmp_path / "series.csv"
    bad.write_text("month,sales\n2020-01,10\n2020-02,eleven\n2020-03,12\n" + "".join(f"2020-{m:02d},1{m}\n" for m in range(4, 13)))
    out = cli("train", "--data", str(bad), "--task", "forecasting", "--target", "sales", "--json", home=studio_home)
    assert out.returncode == 2
    error = json.loads(out.stdout.strip().splitlines()[-1])
    assert error["problems"][0]["column"] == "sales" and error["problems"][0]["row"] == 3
    assert "'eleven'" in error["error"]


def test_samples_are_listed(studio_home):
    out = cli("samples", "--json", home=studio_home)
    names = {s["name"] for s in json.loads(out.stdout)}
    assert {"airline", "reviews", "shapes", "gestures", "sine"} <= names


def test_check_reports_the_data_without_training(studio_home):
    out = cli("check", "--data", "sample:airline", "--json", home=studio_home)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["rows"] == 144 and report["season"] == 12 and report["roles"]["time"] == "month"
    assert not (studio_home / "runs").exists() or not any((studio_home / "runs").iterdir())
