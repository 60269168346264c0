"""Every page through Streamlit's AppTest: renders, key widgets exist, the Recipe is filled as a person fills it."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from rnnstudio.recipe import default_recipe, to_yaml
from rnnstudio.runs import RunRegistry
from tests.app.helpers import APP, go, open_app, pick_sample, shown_text, widget

PAGES = ["views/start.py", "views/data.py", "views/preprocess.py", "views/model.py", "views/train.py",
         "views/evaluate.py", "views/export.py", "views/runs.py"]


def csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_an_empty_state_on_a_fresh_home(page):
    at = go(open_app(), page)
    assert not at.error
    assert at.title and at.title[0].value


def test_sample_flow_fills_the_recipe_from_data_to_train():
    at = pick_sample(open_app(), "airline")
    recipe = at.session_state["recipe"]
    assert recipe["data"]["source"] == "sample:airline" and recipe["data"]["task"] == "forecasting"
    assert widget(at.selectbox, "Target").value == "passengers"
    assert [m.value for m in at.metric if m.label == "Rows"] == ["144"]

    go(at, "views/preprocess.py")
    horizon = widget(at.number_input, "Horizon")
    horizon.set_value(6).run()
    assert at.session_state["recipe"]["preprocess"]["horizon"] == 6
    assert len(at.get("plotly_chart")) >= 2  # raw and transformed series with a window
    widget(at.multiselect, "Augmentations").set_value(["jitter"]).run()
    assert at.session_state["recipe"]["preprocess"]["augment"][0]["name"] == "jitter"
    assert not at.error, [e.value for e in at.error]

    go(at, "views/train.py")
    widget(at.number_input, "Epochs").set_value(4).run()
    widget(at.selectbox, "Optimizer").set_value("adamw").run()
    train = at.session_state["recipe"]["train"]
    assert train["epochs"] == 4 and train["optimizer"] == "adamw"
    assert any(b.label == "Start" for b in at.button)


def test_text_sample_preview_shows_tokens_and_padded_ids():
    at = pick_sample(open_app(), "reviews")
    go(at, "views/preprocess.py")
    widget(at.selectbox, "Tokenizer").set_value("char").run()
    assert at.session_state["recipe"]["preprocess"]["tokenizer"] == "char"
    first_tokens = at.code[0].value.split(" | ")
    assert all(len(token) == 1 for token in first_tokens[:30])  # characters now


def test_upload_suggests_the_task_and_columns():
    months = pd.date_range("2015-01-01", periods=60, freq="MS")
    frame = pd.DataFrame({"month": months.strftime("%Y-%m"), "sales": np.arange(60) * 2.0 + 10})
    at = go(open_app(), "views/data.py")
    at.file_uploader[0].set_value(("shop sales.csv", csv_bytes(frame), "text/csv")).run()
    assert not at.exception
    data = at.session_state["recipe"]["data"]
    assert (data["task"], data["target"], data["time_column"]) == ("forecasting", "sales", "month")
    assert "uploads" in data["source"] and "shop sales" not in data["source"]  # the name never becomes a path
    assert any(s.value.startswith("shop sales") for s in at.subheader)  # the name the person gave, not the stored one


def test_a_broken_upload_gets_a_message_with_the_line_not_a_traceback():
    broken = b"text,label\nfine movie,pos\nbad, awful, movie,neg,extra\n" + b"ok film,pos\n" * 30
    at = go(open_app(), "views/data.py")
    at.file_uploader[0].set_value(("reviews.csv", broken, "text/csv")).run()
    assert not at.exception
    messages = shown_text(at.error)
    assert "line 3" in messages and "reviews.csv" in messages and "How to fix" in messages


def test_user_strings_are_rendered_inert():
    frame = pd.DataFrame({"review": ["a **bold** [link](http://x) <b>tag</b> text that is long enough"] * 40,
                          "label": ["<script>alert(1)</script>", "*x*"] * 20})
    at = go(open_app(), "views/data.py")
    at.file_uploader[0].set_value(("[click](http://evil).csv", csv_bytes(frame), "text/csv")).run()
    assert not at.exception
    heading = at.subheader[0].value
    assert heading.startswith("\\[click\\]\\(http\\:")  # markdown link syntax escaped
    go(at, "views/preprocess.py")
    labels = [m.value for m in at.markdown if "alert" in m.value]
    assert labels and all("\\<script\\>" in m for m in labels)


def test_a_recipe_file_loads_back_into_the_pages(tmp_path):
    recipe = default_recipe(source="sample:sine", task="forecasting", target="value").with_overrides(
        {"train.epochs": 7, "model.units": 16})
    at = go(open_app(), "views/runs.py")
    at.file_uploader[0].set_value(("my recipe.yaml", to_yaml(recipe).encode(), "application/x-yaml")).run()
    widget(at.button, "Use this Recipe").click().run()
    loaded = at.session_state["recipe"]
    assert loaded["train"]["epochs"] == 7 and loaded["model"]["units"] == 16
    assert loaded["data"]["source"] == "sample:sine"


def test_an_invalid_recipe_file_is_explained():
    at = go(open_app(), "views/runs.py")
    at.file_uploader[0].set_value(("bad.yaml", b"train:\n  epochs: 0\n  learnin_rate: 2\n", "application/x-yaml")).run()
    messages = shown_text(at.error)
    assert "epochs" in messages and "learnin_rate" in messages


def test_the_app_process_never_imports_tensorflow():
    code = f"""
import sys
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({APP!r}, default_timeout=60)
at.run()
for page in {PAGES!r}:
    if page != "views/model.py":  # the Model page asks the helper process, which imports TensorFlow there
        at.switch_page(page); at.run()
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stderr[-2000:]


@pytest.mark.slow
def test_model_page_shows_layers_size_and_cudnn_from_the_registry():
    at = pick_sample(open_app(timeout=180), "reviews")
    go(at, "views/model.py")
    assert widget(at.selectbox, "Architecture").value == "rnn"
    assert widget(at.selectbox, "Cell").value == "gru"
    params = [m.value for m in at.metric if m.label == "Parameters"]
    assert params and int(params[0].replace(",", "")) > 1000
    assert "cuDNN" in at.success[0].value
    widget(at.number_input, "Recurrent dropout").set_value(0.2).run()
    assert "recurrent_dropout" in shown_text(at.warning)
    widget(at.number_input, "Units").set_value(16).run()
    smaller = int([m.value for m in at.metric if m.label == "Parameters"][0].replace(",", ""))
    assert smaller < int(params[0].replace(",", ""))


@pytest.mark.slow
def test_start_trains_in_the_background_and_evaluate_shows_the_result(studio_home):
    at = pick_sample(open_app(timeout=120), "sine")
    go(at, "views/train.py")
    widget(at.number_input, "Epochs").set_value(2).run()
    widget(at.button, "Start").click().run()
    run_id = at.session_state["active_run"]
    registry = RunRegistry(studio_home)
    assert registry.get(run_id).status in ("queued", "running")
    deadline = time.monotonic() + 240
    while not registry.get(run_id).is_final and time.monotonic() < deadline:
        time.sleep(1)
    assert registry.get(run_id).status == "completed", registry.get(run_id).error
    at.run()  # what the live fragment shows once the run is done
    assert [m.value for m in at.metric if m.label == "Epoch"] == ["2 / 2"]
    assert any(s.value.startswith("Done. Test:") for s in at.success)
    go(at, "views/evaluate.py")
    assert at.dataframe and len(at.get("plotly_chart")) == 1  # metric table and forecast chart
    go(at, "views/runs.py")
    assert at.dataframe[0].value["run"].tolist() == [run_id]
    go(at, "views/export.py")
    at.default_timeout = 300
    widget(at.button, "Export and verify").click().run()
    assert not at.error, [e.value for e in at.error]
    assert any("savedmodel" in s.value and "max difference" in s.value for s in at.success)
    assert (registry.get(run_id).folder / "export" / "savedmodel" / "saved_model.pb").exists()
    assert (studio_home / "service-export.log").exists()  # exports have their own helper: summaries never wait


def test_a_reload_brings_back_the_recipe_and_active_run(studio_home):
    first = pick_sample(open_app(), "airline")
    go(first, "views/preprocess.py")
    widget(first.number_input, "Horizon").set_value(9).run()
    session = first.session_state["owner"]
    reloaded = AppTest.from_file(APP, default_timeout=60)
    reloaded.query_params["session"] = session  # a reload keeps the address
    reloaded.run()
    assert reloaded.session_state["recipe"]["data"]["source"] == "sample:airline"
    assert reloaded.session_state["recipe"]["preprocess"]["horizon"] == 9


def test_a_forged_session_id_never_becomes_a_path(studio_home):
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["session"] = "../../outside"
    at.run()
    assert at.session_state["owner"] != "../../outside"
    assert not (studio_home.parent / "outside.json").exists()
    assert all(p.parent.name == "sessions" for p in studio_home.rglob("*.json") if "sessions" in str(p))


# ---------------------------------------------------------------- inside the network

INSIDE_TABS = ["Gradients through time", "Weights and gradients", "Gates", "Hidden states", "Attention"]


@pytest.fixture(scope="module")
def attention_run(tmp_path_factory):
    """One finished tiny text run with attention pooling (its probes written while it trained): (home, run id)."""
    from rnnstudio.data.load import sample_defaults
    from rnnstudio.train.runner import train

    home = tmp_path_factory.mktemp("inside") / "studio"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RNNSTUDIO_HOME", str(home))
        recipe = default_recipe(source="sample:reviews", **sample_defaults("sample:reviews")).with_overrides(
            {"train.epochs": 1, "train.early_stopping": False, "model.pooling": "attention_additive", "model.units": 8,
             "train.monitor_budget": 0.0})
        run = train(recipe)
    return home, run.run_id


def open_run(home, run_id, monkeypatch, timeout: float = 60) -> AppTest:
    monkeypatch.setenv("RNNSTUDIO_HOME", str(home))
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state["active_run"] = run_id
    at.run()
    assert not at.exception
    return at


def figures(at: AppTest) -> dict[str, dict]:
    """The Plotly figures on the page by title."""
    import json

    shown = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return {f["layout"].get("title", {}).get("text", ""): f for f in shown}


@pytest.mark.slow
def test_train_page_of_a_finished_run_shows_inside_the_network(attention_run, monkeypatch):
    from rnnstudio.runs.probe_files import probe_records

    home, run_id = attention_run
    at = go(open_run(home, run_id, monkeypatch), "views/train.py")
    assert [t.label for t in at.tabs] == INSIDE_TABS
    records = probe_records(RunRegistry(home).get(run_id).folder)
    assert [r["epoch"] for r in records] == [0, 1]
    heat = figures(at)["Gradient reaching each time step"]["data"][0]
    norms = [[v for v in r["time_gradient"]["norms"]] for r in records]
    shown = [[10 ** v if v is not None else 0.0 for v in row] for row in heat["z"]]
    assert np.allclose(shown, norms, rtol=1e-6)  # the heatmap is the recorded norms, on a log colour scale
    at.session_state["inside_tab"] = "Attention"
    at.run()
    attention = figures(at)["Attention over the input"]["data"][0]
    assert len(attention["z"]) == len(records[-1]["attention"]["examples"])
    assert all(sum(v for v in row if v is not None) == pytest.approx(1.0, abs=1e-3) for row in attention["z"])
    at.session_state["inside_tab"] = "Hidden states"
    at.run()
    assert not at.exception and widget(at.selectbox, "Hidden unit").value is not None
    assert any(t.startswith("Hidden unit") for t in figures(at))


@pytest.mark.slow
def test_try_it_shows_attention_over_the_typed_words_and_a_hidden_unit(attention_run, monkeypatch):
    home, run_id = attention_run
    at = go(open_run(home, run_id, monkeypatch, timeout=240), "views/evaluate.py")
    at.text_area[0].set_value("What a <b>wonderful</b> film")  # inside a form: sent with the submit
    widget(at.button, "Predict").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    attention = figures(at)["Attention over the input"]["data"][0]
    words = [t for row in attention["text"] for t in row if t]
    assert words == ["what", "a", "&lt;", "b", "&gt;", "wonderful", "&lt;/", "b", "&gt;", "film"]  # typed, escaped
    assert sum(v for row in attention["z"] for v in row if v is not None) == pytest.approx(1.0, abs=1e-3)
    picker = widget(at.selectbox, "Hidden unit")
    assert picker.options[0].endswith("(changes most)")
    unit = int(picker.options[1].split()[1])  # options read "unit 6 (changes most)", "unit 2", ...
    asked = at.session_state["try_it_answers"]
    picker.set_value(unit).run()  # another unit recolours the text without asking the model again
    assert not at.exception
    assert f"Hidden unit {unit}" in figures(at)
    assert at.session_state["try_it_answers"] is asked
