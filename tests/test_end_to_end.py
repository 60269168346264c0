"""Each task trains end to end on a built-in sample and beats its naive baseline."""

import json

import numpy as np
import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry
from rnnstudio.train.runner import evaluate_run, train

pytestmark = pytest.mark.slow


def sample_recipe(name, **overrides):
    recipe = default_recipe(source=f"sample:{name}", **sample_defaults(f"sample:{name}"))
    return recipe.with_overrides(overrides)


def test_text_classification_beats_majority_and_matches_bag_of_words():
    recipe = sample_recipe("reviews", **{"train.epochs": 12, "model.units": 32, "model.embedding_dim": 32})
    result = train(recipe)
    test = result.metrics["test"]
    baselines = result.metrics["baseline"]
    assert test["accuracy"] > baselines["majority_class"]["accuracy"] + 0.3
    # Negations need word order: the recurrent model must not trail the bag-of-words model.
    assert test["accuracy"] >= baselines["bag_of_words_logistic"]["accuracy"] - 0.02
    assert len(test["confusion"]) == 2 and sum(map(sum, test["confusion"])) == 400
    assert 0.5 < test["roc_auc"] <= 1.0
    # The run folder holds what evaluation and prediction need, and the registry knows the run.
    for name in ("recipe.json", "pipeline.json", "report.json", "environment.json", "model.keras", "metrics.json"):
        assert (result.folder / name).exists(), name
    run = RunRegistry().get(result.run_id)
    assert run.status == "completed"
    assert run.summary["metrics"]["test"]["accuracy"] == pytest.approx(test["accuracy"])
    epochs = RunRegistry().metrics(result.run_id, kind="epoch")
    assert [row["epoch"] for row in epochs] == list(range(1, len(epochs) + 1))
    # Reloaded from disk (safe mode), the model scores the same test split the same way.
    again = evaluate_run(result.run_id)
    assert again["test"]["accuracy"] == pytest.approx(test["accuracy"], abs=1e-9)


def test_forecasting_beats_seasonal_naive_in_original_units():
    result = train(sample_recipe("airline", **{"preprocess.horizon": 12}))
    test, baselines = result.metrics["test"], result.metrics["baseline"]
    assert test["mape"] < baselines["seasonal_naive"]["mape"]
    assert test["mape"] < baselines["naive_last_value"]["mape"]
    assert result.report["season"] == 12 and result.report["log_transform"] and result.report["differencing"]
    forecast = result.metrics["forecast"]
    actual = np.array(forecast["actual"])
    assert actual.shape[1] == 12 and actual.min() > 100  # passengers, not scaled values


def test_sequence_classification_variable_length_long_layout():
    recipe = sample_recipe("shapes", **{"train.epochs": 15, "model.units": 16, "model.filters": [16, 32, 16],
                                        "train.batch_size": 64})
    result = train(recipe)
    report = result.report
    assert report["roles"]["layout"] == "long" and report["roles"]["series_id"] == "series"
    assert report["lengths"]["min"] == 40 and report["lengths"]["max"] <= 120
    test = result.metrics["test"]
    assert test["accuracy"] > result.metrics["baseline"]["majority_class"]["accuracy"] + 0.4
    assert test["accuracy"] > 0.85


def test_sequence_classification_wide_layout_with_separate_test_file(tmp_path):
    from rnnstudio.data.samples import load_sample

    frame = load_sample("gestures")
    frame.iloc[:300].to_csv(tmp_path / "gestures_train.csv", index=False)
    frame.iloc[300:].to_csv(tmp_path / "gestures_test.csv", index=False)
    recipe = default_recipe(source=str(tmp_path / "gestures_train.csv"), test_source=str(tmp_path / "gestures_test.csv"),
                            task="sequence-classification", target="label")
    recipe = recipe.with_overrides({"model.units": 16, "model.filters": [16, 32, 16], "train.epochs": 40})
    result = train(recipe)
    assert result.report["roles"]["layout"] == "wide"
    assert result.report["splits"]["test"] == 100
    assert result.metrics["test"]["accuracy"] > 0.8
    other = evaluate_run(result.run_id, data=str(tmp_path / "gestures_test.csv"))
    assert other["test"]["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])
