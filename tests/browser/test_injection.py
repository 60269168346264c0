"""Hostile strings in a user's file are shown as text on every page and never run in the browser.

Column names, class labels, the file name and the texts carry <script> and
<img onerror> payloads; the test walks Data → Preprocess → Train → Evaluate →
Runs in Chromium, hovers the charts, and checks that no payload ran and that
the payloads are visible as plain text.
"""

from __future__ import annotations

import csv
import re
import time

import pytest

from .conftest import assert_no_exception, wait_idle
from .test_main_flow import epoch_progress, go, metric

pytestmark = [pytest.mark.slow, pytest.mark.browser]

SCRIPT = "<script>window.__pwned=1</script>"
IMG = '<img src=x onerror="window.__pwned=1">'
FILE_NAME = "<img src=x onerror=window.__pwned=1>.csv"  # no "/" in a file name, so no </script>
TEXT_COLUMN = f"review {SCRIPT}"
LABEL_COLUMN = f"label {IMG}"
LABELS = [f"good {IMG}", f"bad {SCRIPT}"]
TRAIN_TIMEOUT = 240


def hostile_csv(folder):
    path = folder / FILE_NAME
    words = {0: "wonderful lovely great superb moving", 1: "dull boring awful tedious long"}
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([TEXT_COLUMN, LABEL_COLUMN])
        for i in range(80):
            kind = i % 2
            payload = SCRIPT if i % 3 == 0 else IMG
            writer.writerow([f"{words[kind]} film number {i} with {payload} inside the text", LABELS[kind]])
    return path


def assert_nothing_ran(page, dialogs: list, where: str) -> None:
    for frame in page.frames:  # components live in iframes with windows of their own
        assert frame.evaluate("() => typeof window.__pwned") == "undefined", f"a payload ran on {where}"
        # React never wires a string onerror, so also look for the elements the payloads describe.
        assert frame.locator("img[src='x']").count() == 0, f"a payload's <img> became an element on {where}"
        assert not frame.evaluate("() => [...document.scripts].some(s => s.text.includes('__pwned'))"), where
    assert not dialogs, f"a dialog opened on {where}: {dialogs}"
    assert_no_exception(page, where)


def hover_charts(page) -> None:
    """Hover labels are drawn on demand: move over every chart so they are drawn too."""
    for chart in page.locator("[data-testid='stPlotlyChart'] .main-svg").all()[:6]:
        box = chart.bounding_box()
        if box:
            for fx, fy in ((0.3, 0.4), (0.5, 0.5), (0.7, 0.6)):
                page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
                page.wait_for_timeout(80)


def test_payloads_in_a_users_file_are_shown_as_text_and_never_run(page, studio, tmp_path):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(studio.url)
    page.get_by_role("heading", name="RNN Studio").wait_for(timeout=60_000)
    wait_idle(page)

    go(page, "Data", "data")
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(hostile_csv(tmp_path)))
    page.get_by_role("heading", name="Validation report").wait_for(timeout=60_000)
    wait_idle(page)
    page.get_by_text("onerror=window.__pwned=1>.csv").first.wait_for(state="attached")  # the file name, as text
    assert page.get_by_role("combobox", name="Task", exact=True).input_value() == "Text classification"
    assert page.get_by_role("combobox", name="Target", exact=True).input_value() == LABEL_COLUMN
    hover_charts(page)
    assert_nothing_ran(page, dialogs, "Data")

    go(page, "Preprocess", "preprocess")
    page.get_by_text(SCRIPT, exact=False).first.wait_for(state="attached", timeout=60_000)  # texts shown as text
    hover_charts(page)
    assert_nothing_ran(page, dialogs, "Preprocess")

    go(page, "Train", "train")
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    if not epochs.is_visible():
        page.get_by_text("Training settings", exact=True).click()
    epochs.fill("1")
    epochs.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Start", exact=True).click()
    metric(page, "Epoch").wait_for(timeout=60_000)
    deadline = time.monotonic() + TRAIN_TIMEOUT
    while not page.get_by_text(re.compile(r"^Done\. Test:")).count():
        failed = page.get_by_test_id("stAlertContentError")
        assert not failed.count(), f"training failed: {failed.first.inner_text()}"
        assert time.monotonic() < deadline, f"training did not finish: {epoch_progress(page)}"
        assert_nothing_ran(page, dialogs, "Train")
        page.wait_for_timeout(500)
    hover_charts(page)
    assert_nothing_ran(page, dialogs, "Train")

    go(page, "Evaluate", "evaluate")
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=60_000)
    wait_idle(page)
    hover_charts(page)
    # Class names reach the charts' axes and legends as text.
    svg_text = " ".join(page.locator("[data-testid='stPlotlyChart'] .main-svg text").all_text_contents())
    assert "onerror" in svg_text or "script" in svg_text, svg_text[:500]
    assert_nothing_ran(page, dialogs, "Evaluate")

    go(page, "Runs", "runs")
    page.get_by_test_id("stDataFrame").first.wait_for(timeout=30_000)
    wait_idle(page)
    assert_nothing_ran(page, dialogs, "Runs")
