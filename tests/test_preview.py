"""The page previews give exactly what training gets, on real samples and small hand-made tables."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnstudio import preview
from rnnstudio.data.load import load_source, sample_defaults
from rnnstudio.errors import DataError, StudioError
from rnnstudio.preprocess import augment
from rnnstudio.recipe import default_recipe
from rnnstudio.tasks.base import get_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_cache():
    preview.clear_cache()
    yield
    preview.clear_cache()


def sample(name, **overrides):
    source = f"sample:{name}"
    recipe = default_recipe(source=source, **sample_defaults(source))
    if overrides:
        recipe = recipe.with_overrides(overrides)
    frame, file = load_source(source)
    return recipe, frame, file


def prepared(recipe, frame):
    """What a training run gets, computed without the preview module."""
    return get_task(recipe.data.task).prepare(recipe, frame, None, name="data")


def test_importing_preview_loads_no_tensorflow_or_streamlit():
    code = ("import sys, rnnstudio.preview; "
            "bad = [m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


# ------------------------------------------------------------------ text


def test_text_preview_ids_are_the_fitted_pipeline_rows():
    recipe, frame, _ = sample("reviews")
    rows = preview.text_preview(recipe, frame, n=5)
    fitted = prepared(recipe, frame)
    encoder = fitted.pipeline.encoder
    assert len(rows) == 5
    direct = fitted.pipeline.transform_x(pd.DataFrame({"review": [r["text"] for r in rows]}))
    np.testing.assert_array_equal(np.array([r["ids"] for r in rows]), direct)
    np.testing.assert_array_equal(direct, fitted.train.x[:5])
    for row in rows:
        assert len(row["ids"]) == encoder.max_length_
        assert row["tokens"] == encoder.tokenize([row["text"]])[0]
        assert row["tokens"] == [t.lower() for t in row["tokens"]]  # lowercase is on by default
        assert row["n_padding"] == encoder.max_length_ - min(row["n_tokens"], encoder.max_length_)
        assert row["label"] in ("positive", "negative")


def test_a_made_up_word_shows_up_as_out_of_vocabulary():
    recipe, frame, _ = sample("reviews")
    first = preview.text_preview(recipe, frame, n=1)[0]
    frame = frame.copy()
    where = frame.index[frame["review"] == first["text"]][0]
    frame.loc[where, "review"] = "Zorbleflux! " + first["text"]  # one occurrence < min_freq 2
    row = preview.text_preview(recipe, frame, n=1)[0]
    assert row["tokens"][0] == "zorbleflux"
    assert row["oov"] == ["zorbleflux"]
    assert row["token_ids"][0] == 1 and row["ids"][0] == 1


def test_no_lowercasing_keeps_case_and_char_tokenizer_gives_characters():
    recipe, frame, _ = sample("reviews", **{"preprocess.lowercase": False, "preprocess.tokenizer": "char"})
    row = preview.text_preview(recipe, frame, n=1)[0]
    assert row["tokens"] == list(" ".join(row["text"].split()))
    assert row["tokens"][0].isupper()


def test_data_report_lengths_and_coverage():
    recipe, frame, file = sample("reviews", **{"preprocess.length_percentile": 80.0})
    result = preview.data_report(recipe, frame, file)
    lengths = np.array(result["lengths"])
    fitted = prepared(recipe, frame)
    assert result["length_unit"] == "tokens"
    assert len(lengths) == result["splits"]["train"] == len(fitted.train)
    assert result["max_length"] == fitted.pipeline.encoder.max_length_ == math.ceil(np.percentile(lengths, 80))
    assert result["coverage"] == pytest.approx(np.mean(lengths <= result["max_length"]))
    assert result["coverage"] == pytest.approx(fitted.pipeline.encoder.coverage_)
    assert result["suggested_max_length"] == result["max_length"]
    assert sum(result["class_balance"].values()) == len(frame)
    assert {c["name"]: c["type"] for c in result["columns"]} == {"review": "text", "sentiment": "text"}
    assert result["report"]["vocab_size"] == fitted.pipeline.encoder.vocab_size_
    assert result["sampled"] is False and result["rows"] == result["rows_used"] == 2000
    json.dumps(result)  # plain data, ready for a page or a file


def test_a_fixed_max_length_is_used_and_the_percentile_still_suggested():
    recipe, frame, file = sample("reviews", **{"preprocess.max_length": 10})
    result = preview.data_report(recipe, frame, file)
    lengths = np.array(result["lengths"])
    assert result["max_length"] == 10
    assert result["coverage"] == pytest.approx(np.mean(lengths <= 10))
    assert result["suggested_max_length"] == math.ceil(np.percentile(lengths, 95))
    row = next(r for r in preview.text_preview(recipe, frame, n=20) if r["n_tokens"] > 10)
    assert row["truncated"] and len(row["ids"]) == 10 and row["n_padding"] == 0


def test_big_frames_are_previewed_on_a_bounded_sample(monkeypatch):
    monkeypatch.setitem(preview.PREVIEW_LIMITS, "text-classification", 500)
    monkeypatch.setattr(preview, "MAX_LENGTHS", 100)
    recipe, frame, file = sample("reviews")
    result = preview.data_report(recipe, frame, file)
    assert result["sampled"] and result["rows"] == 2000 and result["rows_used"] == 500
    assert result["report"]["rows"] == 500 and sum(result["class_balance"].values()) == 500
    assert len(result["lengths"]) == 100
    assert "preview on a sample of 500" in result["warnings"][0]
    assert result == preview.data_report(recipe, frame, file)  # the sample is seeded


def test_long_series_are_sampled_by_whole_series_and_forecasts_keep_their_last_steps(monkeypatch):
    monkeypatch.setitem(preview.PREVIEW_LIMITS, "sequence-classification", 40)
    monkeypatch.setitem(preview.PREVIEW_LIMITS, "forecasting", 100)
    recipe, frame, file = sample("shapes")
    result = preview.data_report(recipe, frame, file)
    assert result["sampled"] and result["report"]["series"] == 40
    assert sum(result["class_balance"].values()) == 40 and result["rows"] == len(frame)
    recipe, frame, file = sample("airline")
    result = preview.data_report(recipe, frame, file)
    assert result["rows_used"] == 100 and "its last 100 steps" in result["warnings"][0]
    assert preview.series_preview(recipe, frame)["times"][0] == "1952-09-01"  # 144 - 100 months after 1949-01


# ---------------------------------------------------------------- series


@pytest.mark.parametrize("horizon", [1, 3])
def test_forecast_preview_transformed_series_and_window(horizon):
    recipe, frame, _ = sample("airline", **{"preprocess.horizon": horizon, "preprocess.stride": 2})
    result = preview.series_preview(recipe, frame)
    fitted = prepared(recipe, frame)
    pipeline = fitted.pipeline
    transformed = np.array(result["transformed"])
    assert result["scaling"] == "standard"
    assert transformed.mean() == pytest.approx(0.0, abs=1e-6)
    assert transformed.std() == pytest.approx(1.0, abs=1e-5)
    assert len(result["raw"]) == len(frame) == len(result["times"])
    assert result["raw"][:3] == frame["passengers"][:3].astype(float).tolist()
    assert len(transformed) == result["split_rows"]["train"] - result["differencing"]
    assert (result["log_transform"], result["differencing"]) == (pipeline.log, pipeline.diff)
    assert result["windows"]["train"] == len(fitted.train)
    assert result["windows"]["test"] == len(fitted.test)
    example = result["example"]
    assert np.shape(example["inputs"]) == (result["lookback"], 1)
    assert len(example["targets"]) == result["horizon"] == horizon
    assert len(example["raw_inputs"]) == result["lookback"] and len(example["raw_targets"]) == horizon
    np.testing.assert_allclose(example["inputs"], fitted.train.x[0])
    # The scaled targets turn back into the raw ones.
    last = result["raw"].index(example["raw_inputs"][-1])
    level = np.log1p(example["raw_inputs"][-1]) if pipeline.log else example["raw_inputs"][-1]
    back = pipeline.to_original(np.array([example["targets"]]), np.array([level]))[0]
    np.testing.assert_allclose(back, example["raw_targets"], rtol=1e-4)
    assert example["target_times"][0] == result["times"][last + 1]
    json.dumps(result)


def test_forecast_preview_minmax_without_log_or_differencing():
    frame = pd.DataFrame({"t": np.arange(120), "y": np.sin(np.arange(120) / 3) * 5 + 20})
    recipe = default_recipe(task="forecasting", target="y").with_overrides({
        "data.time_column": "", "preprocess.scaling": "minmax", "preprocess.log_transform": "off",
        "preprocess.differencing": "off", "preprocess.lookback": 10, "preprocess.horizon": 2})
    result = preview.series_preview(recipe, frame, name="hand.csv")
    transformed = np.array(result["transformed"])
    assert result["times"] is None and result["features"] == ["t"]
    assert transformed.min() == pytest.approx(0.0) and transformed.max() == pytest.approx(1.0)
    assert len(transformed) == result["split_rows"]["train"]
    assert np.shape(result["example"]["inputs"]) == (10, 2)  # target channel first, then 't'
    assert result["example"]["raw_targets"] == frame["y"].iloc[10:12].tolist()


def test_sequence_preview_scales_and_pads_like_the_pipeline():
    recipe, frame, _ = sample("shapes")
    result = preview.series_preview(recipe, frame, n=3)
    fitted = prepared(recipe, frame)
    pipeline = fitted.pipeline
    assert result["layout"] == "long" and result["max_length"] == pipeline.max_length
    assert len(result["examples"]) == 3
    for example in result["examples"]:
        raw = np.array(example["raw"])
        assert raw.shape == (example["length"], 1)
        scaled = np.array(example["scaled"])
        assert scaled.shape == (pipeline.max_length, 1)
        np.testing.assert_allclose(scaled, pipeline.transform_series([raw])[0], rtol=1e-6)
        assert np.all(scaled[example["length"]:] == 0)  # post padding
    report = preview.data_report(recipe, frame)
    assert report["length_unit"] == "steps"
    assert report["max_length"] == max(report["lengths"]) == pipeline.max_length
    assert report["coverage"] == 1.0


# --------------------------------------------------------------- augment


def test_text_augment_preview_is_what_training_adds_and_is_stable():
    recipe, frame, _ = sample("reviews", **{"preprocess.augment": [{"name": "swap", "strength": 0.3},
                                                                  {"name": "delete", "strength": 0.3}]})
    first = preview.augment_preview(recipe, frame, n=3)
    preview.clear_cache()
    assert preview.augment_preview(recipe, frame, n=3) == first
    assert [a["name"] for a in first] == ["swap", "delete"]
    fitted = prepared(recipe, frame)
    n_train = len(fitted.train) // 3
    for block, entry in enumerate(first, start=1):
        assert entry["kind"] == "tokens" and entry["message"] is None
        assert any(e["changed"] for e in entry["examples"])
        ids = fitted.pipeline.transform_tokens([e["after"] for e in entry["examples"]])
        np.testing.assert_array_equal(ids, fitted.train.x[block * n_train: block * n_train + 3])
    swapped, deleted = first[0]["examples"][0], first[1]["examples"][0]
    assert sorted(swapped["after"]) == sorted(swapped["before"])
    assert len(deleted["after"]) < len(deleted["before"])
    other = recipe.with_overrides({"train.seed": 7})
    assert preview.augment_preview(other, frame, n=3) != first


@pytest.mark.filterwarnings("ignore:The 'synonym' augmentation")
def test_synonym_without_wordnet_says_so(monkeypatch):
    monkeypatch.setattr(augment, "wordnet_available", lambda: False)
    recipe, frame, file = sample("reviews", **{"preprocess.augment": [{"name": "synonym"}]})
    entry = preview.augment_preview(recipe, frame, n=2)[0]
    assert entry["applied"] == "insert" and entry["message"] == augment.WORDNET_MISSING
    assert all(len(e["after"]) > len(e["before"]) for e in entry["examples"])
    assert augment.WORDNET_MISSING in preview.data_report(recipe, frame, file)["warnings"]


def test_series_augment_preview_changes_real_steps_only():
    recipe, frame, _ = sample("gestures", **{"preprocess.augment": [{"name": "jitter", "strength": 0.2},
                                                                   {"name": "window_slice", "multiplier": 2}]})
    result = preview.augment_preview(recipe, frame, n=2)
    preview.clear_cache()
    assert preview.augment_preview(recipe, frame, n=2) == result
    fitted = prepared(recipe, frame)
    n_train = len(fitted.train) // 4
    jitter, sliced = result
    assert jitter["kind"] == "series" and len(jitter["examples"]) == 2
    for entry, block in ((jitter, 1), (sliced, 2)):
        for i, example in enumerate(entry["examples"]):
            assert example["changed"]
            np.testing.assert_allclose(example["before"], fitted.train.x[i])
            np.testing.assert_allclose(example["after"], fitted.train.x[block * n_train + i])
    noise = np.array(jitter["examples"][0]["after"]) - np.array(jitter["examples"][0]["before"])
    assert 0.1 < noise.std() < 0.3


def test_forecast_augment_preview_jitters_the_input_window():
    recipe, frame, _ = sample("airline", **{"preprocess.augment": [{"name": "jitter"}]})
    entry = preview.augment_preview(recipe, frame, n=2)[0]
    example = entry["examples"][0]
    assert example["label"] is None and example["changed"]
    assert np.shape(example["after"]) == np.shape(example["before"]) == (preview.series_preview(recipe, frame)["lookback"], 1)
    assert preview.augment_preview(recipe.with_overrides({"preprocess.augment": []}), frame) == []


# ---------------------------------------------------------------- errors


def test_missing_target_column_is_named():
    recipe, frame, file = sample("reviews", **{"data.target": "stars"})
    with pytest.raises(DataError, match="'stars'"):
        preview.data_report(recipe, frame, file)


@pytest.mark.parametrize("overrides, column", [
    ({"data.text_column": "score"}, "score"),          # numbers, not text
    ({"data.text_column": "label"}, "label"),          # the label itself
    ({"data.target": "note", "data.text_column": "label"}, "note"),  # a label with a value per row
])
def test_bad_text_roles_are_data_errors_with_the_message_training_gives(overrides, column):
    frame = pd.DataFrame({"note": [f"text number {i} is {'good' if i % 2 else 'bad'}" for i in range(40)],
                          "score": np.arange(40) * 0.5, "label": ["pos", "neg"] * 20})
    recipe = default_recipe(task="text-classification", target="label").with_overrides(overrides)
    with pytest.raises(DataError) as info:
        preview.text_preview(recipe, frame)
    assert f"'{column}'" in info.value.message and info.value.fix
    with pytest.raises(DataError) as trained:
        prepared(recipe, frame)
    assert str(trained.value) == str(info.value)


def test_a_step_column_that_is_not_there_is_an_error():
    recipe, frame, file = sample("shapes", **{"data.step_column": "time"})
    with pytest.raises(DataError, match="no column 'time'") as info:
        preview.data_report(recipe, frame, file)
    assert info.value.field == "data.step_column"


def test_wrong_preview_for_the_task_and_missing_task_are_studio_errors():
    recipe, frame, _ = sample("airline")
    with pytest.raises(StudioError, match="text-classification"):
        preview.text_preview(recipe, frame)
    with pytest.raises(DataError, match="task"):
        preview.data_report(recipe.with_overrides({"data.task": None}), frame)
