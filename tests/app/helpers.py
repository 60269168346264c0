"""Driving the app through Streamlit's AppTest as a person would: open it, go to a page, find a widget by its label."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def open_app(timeout: float = 60) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def widget(elements, label: str):
    matches = [e for e in elements if e.label == label]
    assert matches, f"no widget labelled {label!r}: {[e.label for e in elements]}"
    return matches[0]


def pick_sample(at: AppTest, name: str) -> AppTest:
    go(at, "views/data.py")
    widget(at.radio, "Where is the data?").set_value("Built-in sample").run()
    widget(at.selectbox, "Sample").set_value(name).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def shown_text(elements) -> str:
    """What a person reads: the markdown with its escaping backslashes removed."""
    return " ".join(e.value for e in elements).replace("\\", "")
