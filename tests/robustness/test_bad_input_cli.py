"""Bad input on the command line: one readable message, exit code 2, no traceback, nothing saved changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rnnstudio.cli import main
from rnnstudio.errors import StudioError
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry

ROOT = Path(__file__).resolve().parents[2]
RAGGED = "text,label\ngood film,pos\nbad, awful film,neg\nfine,pos\n"
HUGE = ["--set", "model.units=4096", "--set", "model.layers=16", "--set", "model.bidirectional=true"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ragged.csv").write_text(RAGGED)
    (tmp_path / "photo.csv").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (tmp_path / "new.csv").write_text("comment\nnice film\n")
    return tmp_path


def export_folder(tmp: Path) -> Path:
    """An export folder of a text model; predict checks the input before it opens the model file."""
    from rnnstudio.data.load import load_source
    from rnnstudio.tasks.base import get_task

    recipe = default_recipe(source="sample:reviews", task="text-classification", target="sentiment",
                            text_column="review")
    frame, name = load_source("sample:reviews")
    pipeline = get_task(recipe.data.task).prepare(recipe, frame, None, name=name).pipeline
    folder = tmp / "export"
    folder.mkdir()
    (folder / "recipe.json").write_text(json.dumps(recipe.to_dict()))
    (folder / "pipeline.json").write_text(json.dumps(pipeline.to_dict()))
    (folder / "model.keras").write_bytes(b"never opened")
    return folder


@pytest.mark.parametrize("args, expected", [
    (("check", "--data", "{tmp}/ragged.csv", "--task", "text-classification", "--target", "label"),
     ["ragged.csv, row 3", "line 3 has 3 fields", "Fix: Put double quotes"]),
    (("check", "--data", "{tmp}/photo.csv", "--task", "forecasting", "--target", "y"),
     ["photo.csv", "looks like a PNG image"]),
    (("train", "--data", "sample:reviews", "--set", "train.epochs=0"), ["setting 'train.epochs'", "at least 1"]),
    (("train", "--data", "sample:reviews", "--set", "train.learning_rate=.nan"), ["must be a finite number"]),
    (("init", "--data", "sample:reviews", "--set", "train.epochz=3"), ["Did you mean 'epochs'?"]),
    (("check", "--data", "sample:reviews", *HUGE), ["setting 'model.units'", "GB to train", "more than the"]),
    (("check", "--data", "sample:reviews", "--set", "data.text_column=sentiment"), ["is also the label column"]),
    (("predict", "{tmp}/export", "--input", "{tmp}/new.csv", "--output", "{tmp}/out.csv"),
     ["new.csv: there is no text column 'review'", "columns are: comment"]),
], ids=["ragged-file", "png-file", "epochs-0", "learning-rate-nan", "unknown-field", "model-too-large",
        "text-column-is-label", "predict-missing-column"])
def test_cli_prints_one_message_and_exits_2(args, expected, files, capsys):
    if "predict" in args:
        export_folder(files)
    code, out, err = run_cli(capsys, *(a.replace("{tmp}", str(files)) for a in args))
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and "Fix:" in err
    for part in expected:
        assert part in err, err
    assert not (files / "out.csv").exists()


def test_json_errors_carry_the_row_and_the_setting(files, capsys):
    code, out, _ = run_cli(capsys, "check", "--json", "--data", str(files / "ragged.csv"), "--task",
                           "text-classification", "--target", "label")
    problem = json.loads(out.strip().splitlines()[-1])["problems"][0]
    assert code == 2 and (problem["file"], problem["row"]) == ("ragged.csv", 3) and problem["fix"]
    code, out, _ = run_cli(capsys, "check", "--json", "--data", "sample:reviews", *HUGE)
    assert code == 2 and json.loads(out.strip().splitlines()[-1])["problems"][0]["field"] == "model.units"


def test_a_real_process_exits_2_without_traceback(files, studio_home):
    out = subprocess.run([sys.executable, "-m", "rnnstudio", "check", "--data", str(files / "ragged.csv"), "--task",
                          "text-classification", "--target", "label"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 2 and "line 3 has 3 fields" in out.stderr and "Traceback" not in out.stderr


def test_a_run_refused_for_its_model_size_never_builds_it_and_leaves_other_runs_alone(studio_home, monkeypatch):
    from rnnstudio.train import runner
    from rnnstudio.zoo import registry as zoo

    registry = RunRegistry(studio_home)
    other = registry.create_run(default_recipe(source="sample:airline").to_dict(), task="forecasting", model="rnn",
                                name="earlier")
    registry.set_status(other.run_id, "completed")
    registry.update_summary(other.run_id, {"metrics": {"test": {"mae": 1.5}}})
    before = registry.get(other.run_id)
    monkeypatch.setattr(zoo, "build_model", lambda *a, **k: pytest.fail("the model was built"))
    recipe = default_recipe(source="sample:reviews", task="text-classification", target="sentiment",
                            text_column="review").with_overrides(
        {"model.units": 4096, "model.layers": 16, "model.bidirectional": True})
    with pytest.raises(StudioError, match="more than the"):
        runner.train(recipe, registry=registry)
    assert registry.get(other.run_id) == before
    refused = [r for r in registry.list() if r.run_id != other.run_id]
    assert len(refused) == 1 and refused[0].status == "failed" and "model.units" in refused[0].error


def test_a_batch_larger_than_the_data_trains(studio_home, capsys):
    code, out, err = run_cli(capsys, "train", "--data", "sample:sine", "--json", "--set", "train.batch_size=1000000",
                             "--set", "train.epochs=2", "--set", "model.units=8", "--set", "train.tensorboard=false")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["metrics"]["test"]["mae"] >= 0 and RunRegistry(studio_home).get(result["run_id"]).status == "completed"
