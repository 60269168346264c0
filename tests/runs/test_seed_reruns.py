"""Rerun with N seeds: N runs of the same Recipe with distinct seeds, grouped, and their spread."""

from __future__ import annotations

import statistics

import pytest

from rnnstudio.errors import RunError
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry, jobs
from rnnstudio.runs.groups import group_members, spread


@pytest.fixture
def queued(monkeypatch):
    started = []
    monkeypatch.setattr(jobs, "start", lambda run_id, registry=None: started.append(run_id) or True)
    return started


def test_rerun_with_seeds_queues_the_same_recipe_under_distinct_seeds(queued):
    registry = RunRegistry()
    recipe = default_recipe(source="sample:gestures", task="sequence-classification", target="label")
    source = registry.create_run(recipe.to_dict(), task=recipe.data.task, model=recipe.model.name, name="baseline")
    runs = jobs.submit_seeds(source.run_id, 4, registry=registry, owner="abcdefabcdef")
    assert queued == [r.run_id for r in runs]
    assert [r.recipe["train"]["seed"] for r in runs] == [42, 43, 44, 45]
    for run in runs:  # nothing but the training seed changes; the data split keeps its seed
        other = dict(run.recipe, train={**run.recipe["train"], "seed": 42})
        assert other == source.recipe
        assert run.owner == "abcdefabcdef" and run.summary["group"]["source"] == source.run_id
    group = runs[0].summary["group"]["id"]
    assert [r.run_id for r in group_members(registry, group)] == [r.run_id for r in runs]
    with pytest.raises(RunError, match="2 to 20"):
        jobs.submit_seeds(source.run_id, 1, registry=registry)


def test_spread_is_mean_and_sample_std_of_completed_runs(queued):
    registry = RunRegistry()
    recipe = default_recipe(source="sample:gestures", task="sequence-classification", target="label")
    source = registry.create_run(recipe.to_dict(), task=recipe.data.task, model=recipe.model.name)
    runs = jobs.submit_seeds(source.run_id, 4, registry=registry)
    accuracies = [0.80, 0.90, 0.85]
    for run, accuracy in zip(runs, accuracies):
        registry.update_summary(run.run_id, {"metrics": {"test": {"accuracy": accuracy, "loss": 1 - accuracy}}})
        registry.set_status(run.run_id, "running")
        registry.set_status(run.run_id, "completed")
    members = group_members(registry, runs[0].summary["group"]["id"])
    stats = spread(members)  # the fourth run is still queued: left out
    assert stats["accuracy"]["n"] == 3
    assert stats["accuracy"]["mean"] == pytest.approx(statistics.mean(accuracies))
    assert stats["accuracy"]["std"] == pytest.approx(statistics.stdev(accuracies))
    assert stats["accuracy"]["min"] == 0.80 and stats["accuracy"]["max"] == 0.90
    assert list(stats) == ["accuracy", "loss"]
    assert spread(members[:1])["accuracy"]["std"] == 0.0


def test_command_line_queues_seeds_and_prints_the_spread(queued, capsys):
    import json

    from rnnstudio.cli import main

    registry = RunRegistry()
    recipe = default_recipe(source="sample:gestures", task="sequence-classification", target="label")
    source = registry.create_run(recipe.to_dict(), task=recipe.data.task, model=recipe.model.name)
    assert main(["runs", "seeds", source.run_id, "--n", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["seed"] for r in out["runs"]] == [42, 43, 44]
    assert main(["runs", "spread", out["group"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["runs"] == 3
    assert main(["runs", "spread", "no-such-group"]) == 2


def test_fingerprint_names_the_exact_recipe_and_data(tmp_path):
    import hashlib

    from rnnstudio.runs.fingerprint import fingerprint, recipe_hash, source_hash

    data = tmp_path / "d.csv"
    data.write_text("label,t0,t1\na,1,2\nb,3,4\n")
    recipe = default_recipe(source=str(data), task="sequence-classification", target="label")
    assert source_hash(str(data)) == hashlib.sha256(data.read_bytes()).hexdigest()
    assert recipe_hash(recipe) == recipe_hash(recipe.with_overrides({"name": "renamed"}))
    assert recipe_hash(recipe) != recipe_hash(recipe.with_overrides({"train.seed": 1}))
    assert source_hash("sample:recall?rows=50", seed=1) == source_hash("sample:recall?rows=50", seed=1)
    assert source_hash("sample:recall?rows=50", seed=1) != source_hash("sample:recall?rows=50", seed=2)
    print_ = fingerprint(recipe)
    assert print_["seeds"] == {"data": 42, "train": 42} and print_["test_data_sha256"] is None


def test_spread_figures_draw_the_numbers_and_escape_labels():
    from rnnstudio import charts

    rows = {"<b>seed 1</b>": [{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 0.5}],
            "seed 2": [{"epoch": 1, "val_loss": 3.0}, {"epoch": 2, "val_loss": 0.7}]}
    curves = charts.seed_curves(rows, "val_loss")
    names = [t.name for t in curves.data]
    assert "<b>" not in "".join(names) and "mean" in names
    mean = next(t for t in curves.data if t.name == "mean")
    assert list(mean.y) == pytest.approx([2.0, 0.6])
    stats = {"accuracy": {"mean": 0.9, "std": 0.1, "values": [0.8, 0.9, 1.0]}}
    figure = charts.seed_spread(stats)
    bar = next(t for t in figure.data if t.name == "mean ± std")
    assert list(bar.y) == [0.9] and list(bar.error_y.array) == [0.1]
    assert charts.seed_spread({}).layout.annotations[0].text == "no completed runs yet"
    both = charts.train_vs_val(rows | {"x": [{"epoch": 1, "loss": 1.0, "val_loss": 2.0}]}, "loss")
    assert [t.name for t in both.data] == ["x · training", "x · validation"]
