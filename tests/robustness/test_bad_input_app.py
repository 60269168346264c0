"""Bad input in the app: the message appears beside the input, and nothing already saved changes."""

from __future__ import annotations

import json
from pathlib import Path


from rnnstudio.runs import RunRegistry
from tests.app.helpers import open_app, pick_sample, shown_text, widget

def saved_session(home: Path) -> dict:
    files = list((home / "sessions").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_a_ragged_upload_is_explained_beside_the_uploader_and_the_recipe_keeps_its_data(studio_home):
    at = pick_sample(open_app(), "reviews")
    before = saved_session(studio_home)
    widget(at.radio, "Where is the data?").set_value("Upload a file").run()
    ragged = b"text,label\ngood film,pos\nbad, awful film,neg\nfine,pos\nworse, film,neg\n"
    at.file_uploader[0].set_value(("my reviews.csv", ragged, "text/csv")).run()
    assert not at.exception
    message = shown_text(at.error)
    assert "my reviews.csv" in message and "line 3 has 3 fields" in message and "line 5 has 3 fields" in message
    assert "How to fix" in message and "Traceback" not in message
    assert at.session_state["recipe"]["data"]["source"] == "sample:reviews"
    assert saved_session(studio_home) == before


def test_an_impossible_setting_is_explained_on_the_data_page(studio_home):
    at = pick_sample(open_app(), "reviews")
    widget(at.number_input, "Val size").set_value(0.0).run()
    assert not at.exception
    message = shown_text(at.error)
    assert "data.val_size" in message and "early stopping needs a validation split" in message
    assert "How to fix" in message


def test_a_model_too_large_is_refused_before_start_and_no_run_is_made(studio_home):
    at = pick_sample(open_app(), "reviews")
    at.session_state["recipe"]["model"].update({"units": 4096, "layers": 16, "bidirectional": True})
    at.switch_page("views/train.py")
    at.run()
    assert not at.exception
    message = shown_text(at.error)
    assert "model.units" in message and "more than the" in message and "GB" in message
    assert widget(at.button, "Start").disabled
    assert RunRegistry(studio_home).list() == []
