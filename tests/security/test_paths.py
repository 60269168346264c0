"""Names and paths from a browser or the command line never reach files outside the studio's workspace."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnstudio.data.uploads import store_upload
from rnnstudio.errors import StudioError
from rnnstudio.recipe import default_recipe, to_yaml
from rnnstudio.runs import RunRegistry
from rnnstudio.workspace import PathError, confine, recipe_path_problems

ROOT = Path(__file__).resolve().parents[2]
HOSTILE_IDS = ["../../etc", "/etc/passwd", "..", "runs/../../x", "a/b", "%2e%2e%2f", "x\x00y", "~root"]


@pytest.fixture
def secret(tmp_path) -> Path:
    """A file beside the workspace that a page must never read."""
    path = tmp_path / "secret.csv"
    path.write_text("name,password\nadmin,TOPSECRET\nroot,TOPSECRET2\n")
    return path


@pytest.mark.parametrize("run_id", HOSTILE_IDS)
def test_run_ids_that_climb_out_are_refused(run_id, studio_home):
    registry = RunRegistry(studio_home)
    registry.create_run({}, task="forecasting", model="rnn")
    with pytest.raises(StudioError) as caught:
        registry.get(run_id)
    assert caught.value.fix
    with pytest.raises(PathError):
        registry.folder(run_id)


def test_the_cli_refuses_a_climbing_run_id_with_a_message(studio_home):
    RunRegistry(studio_home).create_run({}, task="forecasting", model="rnn")
    env = dict(os.environ, RNNSTUDIO_HOME=str(studio_home), PYTHONPATH=str(ROOT))
    for command in (["runs", "show", "../../etc"], ["export", "/etc"], ["resume", "../"]):
        done = subprocess.run([sys.executable, "-m", "rnnstudio", *command], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 2 and "not a run id" in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("name", ["../../evil.csv", "/etc/cron.d/evil.csv", "..\\..\\evil.csv", "C:\\evil.csv",
                                  "evil.csv\x00.txt", "<script>.csv", ".." , ""])
def test_uploaded_file_names_never_become_paths(name, studio_home):
    stored = Path(store_upload(b"a,b\n1,2\n", name, home=studio_home, owner="abcdef012345"))
    assert stored.parent == studio_home / "uploads" and stored.name[:24].isalnum() and ".." not in stored.name
    assert {p.name for p in studio_home.parent.iterdir()} == {"studio"}  # nothing was written beside the home
    assert json.loads(Path(str(stored) + ".json").read_text())["name"] == name  # kept only for messages


def test_confine_follows_dots_and_symlinks(studio_home, secret):
    studio_home.mkdir(parents=True, exist_ok=True)
    inside = studio_home / "uploads" / "ok.csv"
    inside.parent.mkdir()
    inside.write_text("a\n1\n")
    (studio_home / "uploads" / "link.csv").symlink_to(secret)
    (studio_home / "uploads" / "inner.csv").symlink_to(inside)
    assert confine(inside, studio_home) == inside.resolve()
    assert confine("uploads/inner.csv", studio_home) == inside.resolve()
    for path in (secret, studio_home / "uploads" / ".." / ".." / "secret.csv", "../secret.csv",
                 studio_home / "uploads" / "link.csv", "/etc/passwd"):
        with pytest.raises(PathError, match="outside the studio's workspace"):
            confine(path, studio_home)


def test_recipe_paths_outside_the_workspace_are_listed(studio_home, secret):
    recipe = default_recipe(source="sample:airline", task="forecasting", target="passengers").to_dict()
    assert recipe_path_problems(recipe, studio_home) == []
    recipe["data"].update(source=str(secret), test_source="../secret.csv")
    recipe["model"]["embeddings_file"] = "/etc/passwd"
    problems = recipe_path_problems(recipe, studio_home)
    assert [p.field for p in problems] == ["data.source", "data.test_source", "model.embeddings_file"]


def test_the_helper_process_refuses_paths_outside_the_workspace(studio_home, secret, tmp_path):
    from rnnstudio.service import serve

    recipe = default_recipe(source=str(secret), task="text-classification", target="password").to_dict()
    requests = [{"id": 1, "method": "predict", "params": {"folder": str(tmp_path), "inputs": ["x"]}},
                {"id": 2, "method": "predict", "params": {"folder": str(studio_home / "runs" / ".." / ".."),
                                                          "inputs": ["x"]}},
                {"id": 3, "method": "export", "params": {"run_id": "x", "formats": ["keras"], "out_dir": str(tmp_path)}},
                {"id": 4, "method": "summary", "params": {"recipe": recipe}}]
    out = io.StringIO()
    serve(io.StringIO("".join(json.dumps(r) + "\n" for r in requests)), out)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    for answer in answers:
        assert "outside the studio's workspace" in answer["error"]["message"], answer
    assert "TOPSECRET" not in out.getvalue()


def test_an_export_never_replaces_a_folder_that_is_not_an_export(studio_home, tmp_path):
    from rnnstudio.export.run import export_run

    registry = RunRegistry(studio_home)
    run = registry.create_run({}, task="forecasting", model="rnn")
    registry.set_status(run.run_id, "running", pid=os.getpid())
    registry.set_status(run.run_id, "completed")
    (run.folder / "model.keras").write_bytes(b"")
    precious = tmp_path / "documents"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(StudioError, match="not an earlier export"):
        export_run(run.run_id, ["keras"], precious, registry=registry)
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_a_recipe_loaded_in_the_app_cannot_read_server_files(studio_home, secret):
    from streamlit.testing.v1 import AppTest

    recipe = default_recipe(source=str(secret), task="text-classification", target="password", text_column="name")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("views/runs.py")
    at.run()
    at.file_uploader[0].set_value(("evil.yaml", to_yaml(recipe).encode(), "application/x-yaml")).run()
    next(b for b in at.button if b.label == "Use this Recipe").click().run()
    for page in ("views/data.py", "views/preprocess.py", "views/train.py"):
        at.switch_page(page)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        shown = " ".join(str(e.value) for kind in (at.markdown, at.error, at.caption, at.dataframe, at.subheader)
                         for e in kind)
        assert "TOPSECRET" not in shown and "admin" not in shown, page
        assert any("outside the studio" in e.value.replace("\\", "") for e in at.error), page
