"""The app's helper process: model summaries and predictions on raw inputs, without TensorFlow in the caller."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.errors import DataError, StudioError
from rnnstudio.inference import RunPredictor, parse_numbers
from rnnstudio.recipe import default_recipe
from rnnstudio.service import ServiceClient


def sample_recipe(name: str, **overrides):
    recipe = default_recipe(source=f"sample:{name}", **sample_defaults(f"sample:{name}"))
    return recipe.with_overrides({"train.epochs": 2, "train.early_stopping": False, **overrides})


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    return tmp_path_factory.mktemp("service-home")


@pytest.fixture(autouse=True)
def studio_home(shared_home, monkeypatch):
    # One helper serves the whole module as one serves the whole app: one workspace, which it never leaves.
    monkeypatch.setenv("RNNSTUDIO_HOME", str(shared_home))
    return shared_home


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    client = ServiceClient(tmp_path_factory.mktemp("service") / "service.log", timeout=180)
    yield client
    client.close()


def test_parse_numbers_reads_what_people_paste():
    assert parse_numbers("1, 2.5 3\n4e1").tolist() == [1.0, 2.5, 3.0, 40.0]
    assert parse_numbers("1,2;3,4;5,6").shape == (3, 2)
    with pytest.raises(DataError, match="'abc'"):
        parse_numbers("1, abc, 3")
    with pytest.raises(DataError, match="empty"):
        parse_numbers("  ")


def test_importing_the_client_leaves_tensorflow_out():
    code = "import sys, rnnstudio.service, rnnstudio.runs.jobs; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_summary_lists_layers_parameters_memory_and_cudnn(client):
    summary = client.call("summary", recipe=sample_recipe("reviews").to_dict())
    types = [layer["type"] for layer in summary["layers"]]
    assert "Embedding" in types and "Bidirectional" in types
    assert summary["parameters"] == sum(layer["parameters"] for layer in summary["layers"]) > 1000
    assert summary["memory_bytes"]["total"] > 4 * summary["parameters"]
    assert summary["cudnn"]["applies"] and summary["cudnn"]["blockers"] == []
    slow = client.call("summary", recipe=sample_recipe("reviews", **{"model.recurrent_dropout": 0.2}).to_dict())
    assert any("recurrent_dropout" in reason for reason in slow["cudnn"]["blockers"])


@pytest.mark.slow
def test_predictions_match_the_run_and_bad_input_is_named(client):
    from rnnstudio.train.runner import train

    text_run = train(sample_recipe("reviews"))
    texts = ["a wonderful, moving film", "dull and far too long", ""]
    answers = client.call("predict", folder=str(text_run.folder), inputs=texts)
    direct = RunPredictor(text_run.folder).predict(texts)
    assert [a["label"] for a in answers] == [d["label"] for d in direct]
    for answer, expected in zip(answers, direct):
        assert sum(answer["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert np.allclose(list(answer["probabilities"].values()), list(expected["probabilities"].values()), atol=1e-6)

    series_run = train(sample_recipe("airline", **{"preprocess.horizon": 6}))
    lookback = RunPredictor(series_run.folder).pipeline.lookback
    history = ", ".join(str(100 + 3 * i) for i in range(lookback + 1))
    [forecast] = client.call("predict", folder=str(series_run.folder), inputs=[history])
    assert forecast["horizon"] == 6 and len(forecast["forecast"]) == 6
    assert all(np.isfinite(forecast["forecast"]))
    with pytest.raises(StudioError, match=f"needs the last {lookback + 1}"):
        client.call("predict", folder=str(series_run.folder), inputs=["1, 2, 3"])


@pytest.mark.slow
def test_a_dead_helper_is_restarted(client):
    assert client.call("ping") == "pong"
    client._process.kill()
    client._process.wait()
    assert client.call("ping") == "pong"
