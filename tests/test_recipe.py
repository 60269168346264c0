"""The Recipe: defaults per task, YAML/JSON round trips, validation messages, metadata.

Real files in tmp_path and real subprocesses; nothing is mocked.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnstudio.errors import RecipeError, StudioError
from rnnstudio.recipe import (
    SCHEMA_VERSION,
    TASK_DEFAULT_MODELS,
    TASKS,
    Recipe,
    default_recipe,
    describe_field,
    describe_section,
    load_recipe,
    parse_override,
    parse_recipe,
    recipe_from_dict,
    reference_markdown,
    save_recipe,
    to_yaml,
)
from rnnstudio.zoo.registry import get_model, list_models

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("data", "preprocess", "train", "export")


def problems_of(data: dict) -> list[StudioError]:
    with pytest.raises(RecipeError) as info:
        recipe_from_dict(data)
    assert info.value.problems, "a RecipeError without problems"
    return info.value.problems


def by_field(problems: list[StudioError]) -> dict[str, StudioError]:
    return {p.field: p for p in problems}


# ------------------------------------------------------------------ defaults


@pytest.mark.parametrize("task", TASKS)
def test_default_recipe_takes_the_task_default_model(task):
    recipe = default_recipe(task=task, source="sample:x", target="y")
    assert isinstance(recipe, Recipe)
    assert recipe.task == task
    assert (recipe.data.source, recipe.data.target) == ("sample:x", "y")
    assert recipe.version == SCHEMA_VERSION
    model = recipe.model.model_dump()
    for key, value in TASK_DEFAULT_MODELS[task].items():
        assert model[key] == value, key
    assert type(recipe.model) is get_model(TASK_DEFAULT_MODELS[task]["name"]).spec


def test_default_recipe_without_task_and_none_fields():
    recipe = default_recipe(task=None, source=None)
    assert recipe.task is None and recipe.data.source is None
    assert recipe.model.name == "rnn"


def test_explicit_model_fields_merge_with_the_task_defaults():
    recipe = recipe_from_dict({"data": {"task": "text-classification"}, "model": {"units": 16}})
    assert recipe.model.name == "rnn" and recipe.model.units == 16
    assert recipe.model.cell == "gru" and recipe.model.bidirectional is True


# --------------------------------------------------------------- round trips


def _rich_recipe() -> Recipe:
    return recipe_from_dict({
        "name": "demo",
        "data": {"task": "sequence-classification", "source": "ecg.csv", "target": "label",
                 "feature_columns": ["a", "b"], "val_size": 0.2},
        "preprocess": {"augment": [{"name": "jitter", "strength": 0.3, "multiplier": 2}, {"name": "window_slice"}],
                       "max_length": 140, "token_pattern": "[a-z]+: #x"},
        "model": {"name": "conv_rnn", "filters": [8, 16], "kernel_sizes": [5, 3], "units": 12},
        "train": {"epochs": 7, "learning_rate": 3e-4, "optimizer": "adamw"},
        "export": {"formats": ["keras", "tflite"]},
    })


@pytest.mark.parametrize("task", TASKS)
def test_yaml_text_round_trip(task):
    recipe = default_recipe(task=task, source="data.csv", target="y")
    again = parse_recipe(to_yaml(recipe))
    assert again.to_dict() == recipe.to_dict()
    assert parse_recipe(to_yaml(recipe, comments=False)).to_dict() == recipe.to_dict()


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    recipe = _rich_recipe()
    path = tmp_path / f"recipe{suffix}"
    save_recipe(recipe, path)
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        assert json.loads(text) == recipe.to_dict()
    else:
        assert text.startswith("# RNN Studio recipe")
    loaded = load_recipe(path)
    assert loaded.to_dict() == recipe.to_dict()
    assert loaded.model.filters == [8, 16] and loaded.preprocess.augment[1].name == "window_slice"
    assert loaded.preprocess.token_pattern == "[a-z]+: #x"


def test_commented_yaml_has_every_fields_help():
    recipe = _rich_recipe()
    text = to_yaml(recipe)
    comments = [line.split("  # ", 1)[1] for line in text.splitlines() if "  # " in line]
    for section in SECTIONS:
        for meta in describe_section(section):
            assert meta["help"], f"{section}.{meta['name']} has no help"
            assert meta["help"] in comments, f"{section}.{meta['name']}"
    for meta in describe_section("model", "conv_rnn"):
        if meta["name"] != "name":  # see test_model_name_has_help below
            assert meta["help"] in comments, f"model.{meta['name']}"
    for key in ("version", "name"):
        assert describe_field(key)["help"] in comments
    assert "Where the examples come from" in text  # section docstrings too


def test_model_name_has_help():
    for family in list_models():
        meta = {m["name"]: m for m in describe_section("model", family)}["name"]
        assert meta["help"]
    assert "  name: rnn  # no help" not in to_yaml(default_recipe())


# ---------------------------------------------------------------- validation


def test_learning_rate_must_be_positive():
    problems = problems_of({"train": {"learning_rate": -1}})
    assert len(problems) == 1
    p = problems[0]
    assert p.field == "train.learning_rate"
    assert "greater than 0" in p.message and "-1" in p.message
    assert "Initial learning rate" in p.fix
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({"train": {"learning_rate": -1}})
    assert "train.learning_rate" in str(info.value) and info.value.field == "train.learning_rate"


def test_every_bad_field_is_listed_at_once():
    problems = problems_of({
        "data": {"test_size": 2, "task": "poetry"},
        "train": {"learning_rate": -1, "epochs": 0, "optimizer": "adagrad"},
        "preprocess": {"horizon": 0},
    })
    fields = by_field(problems)
    assert len(problems) == 6
    assert set(fields) == {"data.test_size", "data.task", "train.learning_rate", "train.epochs",
                           "train.optimizer", "preprocess.horizon"}
    assert "at most 0.5" in fields["data.test_size"].message
    assert "at least 1" in fields["train.epochs"].message
    assert "adam" in fields["train.optimizer"].message and "adagrad" in fields["train.optimizer"].message
    with pytest.raises(RecipeError) as info:
        recipe_from_dict({"train": {"learning_rate": -1, "epochs": 0}})
    text = str(info.value)
    assert text.startswith("2 problems in the recipe:")
    assert "train.learning_rate" in text and "train.epochs" in text


def test_unknown_field_is_named_with_the_known_ones():
    (p,) = problems_of({"train": {"foo": 1}})
    assert p.field == "train.foo"
    assert "unknown setting 'train.foo'" in p.message
    for known in ("epochs", "learning_rate", "optimizer", "batch_size"):
        assert known in p.fix
    (p,) = problems_of({"nonsense": {}})
    assert p.field == "nonsense" and "data" in p.fix and "train" in p.fix


def test_unknown_model_field_is_refused():
    (p,) = problems_of({"model": {"name": "rnn", "filters": [3]}})
    assert p.field == "model.filters"


def test_unknown_model_lists_the_families():
    (p,) = problems_of({"model": {"name": "perceptron"}})
    assert p.field == "model"
    assert "perceptron" in p.message
    for family in list_models():
        assert family in p.message


def test_model_units_zero():
    (p,) = problems_of({"model": {"name": "rnn", "units": 0}})
    assert p.field == "model.units"
    assert "at least 1" in p.message and "got 0" in p.message
    # Same when the family comes from the task default.
    (p,) = problems_of({"data": {"task": "forecasting"}, "model": {"units": 0}})
    assert p.field == "model.units"


def test_conv_rnn_needs_one_kernel_per_block():
    (p,) = problems_of({"model": {"name": "conv_rnn", "filters": [4, 4], "kernel_sizes": [3]}})
    assert p.field == "model" and "kernel size per block" in p.message


def test_early_stopping_needs_a_validation_split():
    (p,) = problems_of({"data": {"val_size": 0}})
    assert p.field == "data.val_size"
    assert "early stopping" in p.message
    recipe = recipe_from_dict({"data": {"val_size": 0}, "train": {"early_stopping": False}})
    assert recipe.data.val_size == 0


def test_augmentations_must_suit_the_task():
    (p,) = problems_of({"data": {"task": "text-classification"}, "preprocess": {"augment": [{"name": "jitter"}]}})
    assert p.field == "preprocess.augment.0.name"
    assert "jitter" in p.message and "swap" in p.fix
    (p,) = problems_of({"data": {"task": "forecasting"},
                        "preprocess": {"augment": [{"name": "jitter"}, {"name": "window_slice"}]}})
    assert p.field == "preprocess.augment.1.name"
    assert "window_slice" in p.message and "forecasting" in p.message
    assert "window_slice" not in p.fix and "jitter" in p.fix
    ok = recipe_from_dict({"data": {"task": "sequence-classification"},
                           "preprocess": {"augment": [{"name": "window_slice"}, {"name": "magnitude_warp"}]}})
    assert [a.name for a in ok.preprocess.augment] == ["window_slice", "magnitude_warp"]


def test_model_must_take_the_tasks_inputs():
    (p,) = problems_of({"data": {"task": "text-classification"}, "model": {"name": "conv_rnn"}})
    assert p.field == "model.name"
    assert "rnn" in p.fix and "transformer" in p.fix and "conv_rnn" not in p.fix


def test_missing_embeddings_file(tmp_path):
    (p,) = problems_of({"model": {"embeddings_file": str(tmp_path / "nope.txt")}})
    assert p.field == "model.embeddings_file"
    vectors = tmp_path / "glove.txt"
    vectors.write_text("the 0.1 0.2\n", encoding="utf-8")
    assert recipe_from_dict({"model": {"embeddings_file": str(vectors)}}).model.embeddings_file == str(vectors)


def test_newer_schema_version_is_refused():
    (p,) = problems_of({"version": 99})
    assert p.field == "version"
    assert "newer" in p.message and "99" in p.message
    with pytest.raises(RecipeError, match="newer"):
        parse_recipe("version: 99\n")
    (p,) = problems_of({"version": "two"})
    assert p.field == "version" and "whole number" in p.message


def test_version_zero_is_a_recipe_error():
    with pytest.raises(RecipeError):
        recipe_from_dict({"version": 0})


def test_not_a_mapping():
    with pytest.raises(RecipeError, match="mapping"):
        parse_recipe("- just\n- a list\n")
    assert parse_recipe("").to_dict() == Recipe().to_dict()


def test_invalid_yaml_has_a_row_number(tmp_path):
    text = "data:\n  task: forecasting\n  target: [sales\ntrain:\n  epochs: 3\n"
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    (p,) = info.value.problems
    assert isinstance(p.row, int) and 3 <= p.row <= 5
    assert p.file == str(path)
    assert "not valid YAML" in p.message
    assert f"row {p.row}" in str(p)

    with pytest.raises(RecipeError) as info:
        parse_recipe("train:\n  epochs: 5\n bad: [\n", name="inline")
    assert info.value.problems[0].row == 3 and info.value.problems[0].file == "inline"


def test_recipe_error_message_shows_the_row():
    with pytest.raises(RecipeError) as info:
        parse_recipe("train:\n  epochs: 5\n bad: [\n")
    assert info.value.row == 3
    assert "row 3" in str(info.value)


def test_validation_problems_name_the_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("train:\n  learning_rate: -1\n", encoding="utf-8")
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    assert info.value.problems[0].file == str(path)
    assert str(path) in str(info.value)
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")
    with pytest.raises(RecipeError, match="cannot read"):
        load_recipe(tmp_path)


# ----------------------------------------------------------------- overrides


def test_with_overrides_switches_family_to_its_defaults():
    base = default_recipe(task="text-classification", source="reviews.csv", target="label")
    changed = base.with_overrides({"train.epochs": 5, "model.name": "transformer"})
    assert changed.train.epochs == 5
    assert changed.model.name == "transformer"
    expected = get_model("transformer").spec().model_dump(mode="json")
    assert changed.model.model_dump(mode="json") == expected
    assert base.train.epochs == 100 and base.model.name == "rnn"  # the original is untouched
    assert changed.data.source == "reviews.csv"


def test_with_overrides_nested_and_invalid():
    base = _rich_recipe()
    changed = base.with_overrides({"preprocess.augment.0.strength": 0.5, "model.units": 3})
    assert changed.preprocess.augment[0].strength == 0.5 and changed.model.units == 3
    with pytest.raises(RecipeError) as info:
        base.with_overrides({"train.learning_rate": 0})
    assert info.value.problems[0].field == "train.learning_rate"


def test_with_overrides_does_not_depend_on_key_order():
    base = default_recipe(task="forecasting")
    a = base.with_overrides({"model.name": "rnn", "model.units": 8})
    b = base.with_overrides({"model.units": 8, "model.name": "rnn"})
    assert a.model.units == b.model.units == 8


def test_parse_override():
    assert parse_override("train.epochs=5") == ("train.epochs", 5)
    assert parse_override(" train.learning_rate = 0.0003") == ("train.learning_rate", 3e-4)
    # YAML 1.1 reads "3e-4" (no dot) as a string; the float field still accepts it.
    key, value = parse_override("train.learning_rate=3e-4")
    assert default_recipe().with_overrides({key: value}).train.learning_rate == 3e-4
    assert parse_override("model.filters=[4, 8]") == ("model.filters", [4, 8])
    assert parse_override("export.formats=[keras, tflite]") == ("export.formats", ["keras", "tflite"])
    assert parse_override("train.early_stopping=false") == ("train.early_stopping", False)
    assert parse_override("model.bidirectional=true") == ("model.bidirectional", True)
    assert parse_override("data.target=sales") == ("data.target", "sales")
    assert parse_override("data.text_column=") == ("data.text_column", None)
    assert parse_override("preprocess.token_pattern=[a-z]+=x") == ("preprocess.token_pattern", "[a-z]+=x")
    with pytest.raises(RecipeError, match="section.field=value"):
        parse_override("train.epochs")
    overrides = dict(map(parse_override, ["model.filters=[4, 8]", "model.kernel_sizes=[5, 3]"]))
    recipe = recipe_from_dict({"model": {"name": "conv_rnn"}}).with_overrides(overrides)
    assert (recipe.model.filters, recipe.model.kernel_sizes) == ([4, 8], [5, 3])


# ------------------------------------------------------------------ metadata


def test_describe_section_train():
    meta = {m["name"]: m for m in describe_section("train")}
    lr = meta["learning_rate"]
    assert lr["min"] == 0.0 and lr["exclusive_min"] is True
    assert lr["max"] == 10.0 and lr["exclusive_max"] is False
    assert lr["default"] == 1e-3 and lr["help"] == "Initial learning rate."
    assert lr["choices"] is None and lr["type"] == "float"
    opt = meta["optimizer"]
    assert opt["choices"] == ["adam", "adamw", "sgd", "rmsprop"] and opt["type"] == "choice"
    assert opt["default"] == "adam" and "adamw" in opt["help"]
    assert meta["momentum"]["exclusive_max"] is True and meta["momentum"]["max"] == 1.0
    assert all(m["help"] for m in meta.values())


def test_describe_section_model_per_family():
    conv = {m["name"]: m for m in describe_section("model", "conv_rnn")}
    assert conv["filters"]["default"] == [128, 256, 128] and conv["filters"]["help"]
    assert "kernel_sizes" in conv and "units" in conv and "d_model" not in conv
    trans = {m["name"] for m in describe_section("model", "transformer")}
    assert {"d_model", "heads", "ff_dim"} <= trans and "filters" not in trans
    assert "filters" not in {m["name"] for m in describe_section("model")}  # rnn by default
    with pytest.raises(KeyError):
        describe_section("model", "perceptron")
    assert describe_field("train.learning_rate")["help"] == "Initial learning rate."
    assert describe_field("model.filters")["name"] == "filters"
    with pytest.raises(KeyError):
        describe_field("train.nope")


def test_reference_markdown_covers_every_section_and_family():
    text = reference_markdown()
    for section in SECTIONS:
        assert f"### `{section}`" in text
    for family in list_models():
        assert f"### `model` — `{family}`" in text
        assert get_model(family).title in text
    assert "| `train.learning_rate` | `0.001` | > 0.0, ≤ 10.0 | Initial learning rate. |" in text
    assert "`model.filters`" in text and "`model.d_model`" in text


# ------------------------------------------------------------- light imports


def test_importing_recipe_loads_no_tensorflow_or_streamlit():
    code = ("import sys, rnnstudio.recipe; "
            "assert 'tensorflow' not in sys.modules and 'streamlit' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'streamlit', 'keras'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_library_never_imports_streamlit():
    pattern = re.compile(r"^\s*(import\s+streamlit|from\s+streamlit\b)", re.MULTILINE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "rnnstudio").rglob("*.py")
                 if pattern.search(p.read_text(encoding="utf-8")) or "import streamlit" in p.read_text(encoding="utf-8")]
    assert not offenders
