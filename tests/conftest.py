"""Shared fixtures: every test gets its own studio home, so runs never leak between tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    home = tmp_path / "studio"
    monkeypatch.setenv("RNNSTUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def keep_main_module():
    # AppTest runs app.py as a module named __main__; restore the real one so that
    # multiprocessing's "spawn" children do not re-run the app instead of pytest.
    import sys

    main = sys.modules.get("__main__")
    yield
    if sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main
