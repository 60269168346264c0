"""Shared fixtures: every test gets its own studio home, so runs never leak between tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    home = tmp_path / "studio"
    monkeypatch.setenv("RNNSTUDIO_HOME", str(home))
    return home
