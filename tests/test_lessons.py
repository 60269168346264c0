"""Classroom lessons: valid Recipes, variants that differ only in what is taught, data that needs memory."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from rnnstudio.data.load import load_source, sample_defaults
from rnnstudio.data.samples import load_sample
from rnnstudio.errors import DataError, StudioError
from rnnstudio.lessons import LESSONS, get_lesson, list_lessons, run_lesson
from rnnstudio.recipe import recipe_from_dict

ALL = [lesson.key for lesson in list_lessons()]


def flat(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_five_lessons_of_the_classroom_are_registered():
    assert ALL == ["memory", "clipping", "attention", "overfitting", "depth"]
    for lesson in list_lessons():
        assert lesson.paragraph.count(".") >= 3 and lesson.look_at
        assert len(lesson.variants) >= 2


@pytest.mark.parametrize("key", ALL)
@pytest.mark.parametrize("where", ["min", "default", "max"])
def test_variants_validate_and_differ_only_in_the_taught_fields(key, where):
    lesson = get_lesson(key)
    recipes = lesson.recipes(getattr(lesson.control, where))
    assert list(recipes) == list(lesson.variants)
    flats = {name: flat(recipe.to_dict()) for name, recipe in recipes.items()}
    for name, recipe in recipes.items():
        assert recipe_from_dict(recipe.to_dict()) == recipe  # round-trips through validation
    first = next(iter(flats.values()))
    allowed = {f for f in lesson.varies} | {"name"}
    for name, values in flats.items():
        differing = {k for k in set(first) | set(values) if first.get(k) != values.get(k)}
        assert differing <= allowed, (name, differing - allowed)
        # Identical data and seeds: the comparison is fair.
        assert values["data.source"] == first["data.source"]
        assert values["data.seed"] == first["data.seed"] and values["train.seed"] == first["train.seed"]
        assert not values["train.early_stopping"]
    # Every variant differs from every other one in at least one taught field.
    signatures = {tuple(values.get(f) for f in lesson.varies) for values in flats.values()}
    assert len(signatures) == len(flats)


@pytest.mark.parametrize("key", ALL)
def test_the_control_moves_its_field_and_refuses_values_outside_its_range(key):
    lesson = get_lesson(key)
    control = lesson.control
    low, high = lesson.recipes(control.min), lesson.recipes(control.max)
    name = next(iter(low))
    if control.is_sample_parameter:
        param = control.field.removeprefix("sample.")
        assert f"{param}={int(control.min)}" in low[name].data.source
        assert f"{param}={int(control.max)}" in high[name].data.source
    else:
        section, field = control.field.split(".")
        values = {getattr(getattr(r, section), field) for r in list(low.values()) + list(high.values())}
        assert control.min in values or control.max in values
    with pytest.raises(StudioError, match=control.label):
        lesson.recipes(control.max * 10 + 1)
    with pytest.raises(StudioError):
        get_lesson("no-such-lesson")


def test_sample_parameters_travel_in_the_source_name_for_cli_and_app():
    frame, name = load_source("sample:recall?distance=7&window=3&rows=50", seed=1)
    assert name == "sample:recall?distance=7&window=3&rows=50"
    assert frame.shape == (50, 1 + 7 + 3) and frame.columns[0] == "symbol"
    assert sample_defaults("sample:recall?distance=7")["target"] == "symbol"
    assert load_sample("recall?distance=7&window=3&rows=50", seed=1).equals(frame)  # same seed, same rows
    assert load_sample("shapes").equals(load_sample("shapes?rows=600&noise=15"))  # defaults unchanged
    with pytest.raises(DataError, match="distance"):
        load_source("sample:recall?distance=0")
    with pytest.raises(DataError, match="no parameter 'colour'"):
        load_source("sample:recall?colour=red")
    with pytest.raises(DataError, match="whole number"):
        load_source("sample:recall?distance=many")


def test_recall_data_really_needs_memory_of_the_marked_symbol():
    frame = load_sample("recall?distance=30&window=10&rows=3000", seed=0)
    x, y = frame.drop(columns="symbol").to_numpy(), frame["symbol"].to_numpy()
    assert np.all((x == 3.0).sum(axis=1) == 1)  # one marker per series, always in the window
    marker = (x == 3.0).argmax(axis=1)
    assert marker.max() < 10 - 1
    levels = {"A": -1.5, "B": -0.5, "C": 0.5, "D": 1.5}
    assert np.all(x[np.arange(len(x)), marker + 1] == [levels[s] for s in y])  # the label is after the marker
    half = len(x) // 2
    # The last `distance` steps alone say nothing: a classifier on them stays at chance (25 %).
    tail = LogisticRegression(max_iter=500).fit(x[:half, -30:], y[:half]).score(x[half:, -30:], y[half:])
    assert tail < 0.32
    # Even all steps at once, without knowing which one follows the marker, leave a linear model far from perfect.
    whole = LogisticRegression(max_iter=500).fit(x[:half], y[:half]).score(x[half:], y[half:])
    assert whole < 0.6


def test_running_a_lesson_queues_its_variants_as_one_group(monkeypatch, studio_home):
    from rnnstudio.runs import RunRegistry
    from rnnstudio.runs import jobs
    from rnnstudio.runs.groups import group_members

    started = []
    monkeypatch.setattr(jobs, "start", lambda run_id, registry=None: started.append(run_id) or True)
    registry = RunRegistry()
    runs = run_lesson("memory", 10, registry=registry, owner="abcdefabcdef")
    lesson = LESSONS["memory"]
    assert [r.summary["group"]["label"] for r in runs] == list(lesson.variants)
    assert started == [r.run_id for r in runs]  # queued in the lesson's order
    group = runs[0].summary["group"]["id"]
    assert [r.run_id for r in group_members(registry, group)] == [r.run_id for r in runs]
    assert {r.recipe["data"]["source"] for r in runs} == {"sample:recall?distance=10&window=10&symbols=2&rows=1500"}
    assert {r.owner for r in runs} == {"abcdefabcdef"}


@pytest.mark.slow
def test_memory_lesson_lstm_remembers_where_simple_rnn_does_not(studio_home):
    from rnnstudio.train.runner import train

    recipes = get_lesson("memory").recipes()  # the defaults a class sees: distance 20
    scores = {name: train(recipes[name]).metrics["test"]["accuracy"] for name in ("SimpleRNN", "LSTM")}
    assert scores["LSTM"] >= 0.9, scores
    assert scores["SimpleRNN"] <= 0.65, scores  # two symbols: chance is 50 %
