"""What a person does, in a real browser: upload a series, train a tiny forecaster, read the evaluation, find the run.

Saves a screenshot of each page (the README's with RNNSTUDIO_UPDATE_SCREENSHOTS=1). Needs Debian's chromium
and the playwright package (see conftest.py); about a minute.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from .conftest import assert_no_exception, screenshot, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROWS = 150
EPOCHS = 3
HEADER_ROW_PX = 35  # st.dataframe's header row
TRAIN_TIMEOUT = 180_000  # ms; 3 tiny epochs take ~10 s here, a first TensorFlow import can take much longer


def sales_csv(path, rows: int = ROWS):
    """A monthly series: trend + 12-month seasonality + noise (seeded)."""
    rng = np.random.default_rng(7)
    t = np.arange(rows)
    sales = 200 + 1.5 * t + 30 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 5, rows)
    frame = pd.DataFrame({"month": pd.date_range("2010-01-01", periods=rows, freq="MS").strftime("%Y-%m-%d"),
                          "sales": sales.round(2)})
    frame.to_csv(path, index=False)
    return path


# ---------------------------------------------------------------- small page helpers
def go(page, name: str, path: str) -> None:
    """Follow the sidebar navigation link ``name`` and wait for the page's script to finish."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=re.compile(rf"(^|\s){re.escape(name)}$")).click()
    page.wait_for_url(re.compile(rf"/{path}(\?|$)"))
    page.get_by_role("heading", level=1).filter(has_text=re.compile(rf"^{re.escape(name)}", re.I)).first.wait_for()
    wait_idle(page)


def selectbox(page, label: str):
    """The input of the st.selectbox labelled ``label`` (a combobox whose value is the shown option)."""
    return page.get_by_role("combobox", name=label, exact=True)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label`` unless it is already picked."""
    box = selectbox(page, label)
    if box.input_value() == option:
        return
    box.click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_function(
        "([label, option]) => [...document.querySelectorAll('input[role=combobox]')]"
        ".some(b => b.getAttribute('aria-label') === label && b.value === option)", arg=[label, option])
    wait_idle(page)


def wait_text(page, pattern, timeout: float = 60_000):
    """Text anywhere in the DOM, including st.dataframe cells (drawn on a canvas; their text lives in a hidden grid)."""
    found = page.get_by_text(pattern).first
    found.wait_for(state="attached", timeout=timeout)
    return found


def metric(page, label: str):
    """The value element of the st.metric labelled ``label``."""
    card = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    return card.first.get_by_test_id("stMetricValue")


def epoch_progress(page) -> tuple[int, int] | None:
    value = metric(page, "Epoch")
    if not value.count():
        return None
    found = re.match(r"\s*(\d+)\s*/\s*(\d+)", value.inner_text())
    return (int(found[1]), int(found[2])) if found else None


def settle(page) -> None:
    """Before a screenshot: no hover tooltips, script idle, charts drawn."""
    page.mouse.move(5, 995)
    wait_idle(page)
    page.wait_for_timeout(600)  # plotly's resize/draw after the last delta


def full_page(page, name: str):
    """Streamlit scrolls inside its main block, so grow the viewport to the content for a whole-page shot."""
    height = page.evaluate(
        """() => { const main = document.querySelector("[data-testid='stMain']");
                   const blocks = [main, main && main.firstElementChild].filter(Boolean);
                   return Math.max(...blocks.map(b => b.scrollHeight)); }""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(int(height) + 40, 6000))})
    try:
        settle(page)
        return screenshot(page, name)
    finally:
        page.set_viewport_size(size)


# ---------------------------------------------------------------- the flow
def test_upload_train_evaluate_and_find_the_run(page, studio, tmp_path):  # the browser first: skips before a server starts
    csv = sales_csv(tmp_path / "sales.csv")

    # Start
    page.goto(studio.url)
    page.get_by_role("heading", name="RNN Studio").wait_for(timeout=60_000)
    page.get_by_role("button", name="Train on the sample reviews").wait_for()
    wait_idle(page)
    assert_no_exception(page, "Start")
    settle(page)
    screenshot(page, "start.png")

    # Data: upload the series, check the suggested task and target, read the report
    go(page, "Data", "data")
    upload_choice = page.get_by_role("radio", name="Upload a file", exact=True)
    upload_choice.wait_for(state="attached")
    assert upload_choice.is_checked(), "'Upload a file' should be the default answer to 'Where is the data?'"
    page.get_by_test_id("stFileUploader").locator("input[type=file]").set_input_files(str(csv))
    page.get_by_role("heading", name="Validation report").wait_for(timeout=60_000)
    wait_idle(page)
    choose(page, "Task", "Forecasting")
    choose(page, "Target", "sales")
    page.get_by_role("heading", name="Validation report").wait_for(timeout=60_000)
    rows = metric(page, "Rows")
    rows.wait_for()
    assert rows.inner_text().strip().replace(",", "") == str(ROWS)
    assert selectbox(page, "Task").input_value() == "Forecasting"
    assert selectbox(page, "Target").input_value() == "sales"
    assert_no_exception(page, "Data")
    full_page(page, "data.png")

    # Train: three epochs, live charts, then the result
    go(page, "Train", "train")
    epochs = page.get_by_role("spinbutton", name="Epochs", exact=True)
    if not epochs.is_visible():
        page.get_by_text("Training settings", exact=True).click()
    epochs.fill(str(EPOCHS))
    epochs.press("Enter")
    wait_idle(page)
    assert epochs.input_value() == str(EPOCHS)
    start = page.get_by_role("button", name="Start", exact=True)
    assert start.is_enabled(), "Start is disabled: the Recipe has problems"
    start.click()
    metric(page, "Epoch").wait_for(timeout=60_000)
    deadline = time.monotonic() + TRAIN_TIMEOUT / 1000
    while True:
        progress = epoch_progress(page)
        if progress and progress[1] == EPOCHS and progress[0] >= 2:
            break
        assert_no_exception(page, "Train")
        failed = page.get_by_test_id("stAlertContentError")
        assert not failed.count(), f"training failed: {failed.first.inner_text()}"
        assert time.monotonic() < deadline, f"the Epoch metric stayed at {progress}"
        page.wait_for_timeout(250)
    page.get_by_text("Training curves").first.wait_for()
    assert page.locator("[data-testid='stPlotlyChart'] .main-svg").count() >= 1
    done = page.get_by_text(re.compile(r"^Done\. Test:"))
    done.wait_for(timeout=TRAIN_TIMEOUT)
    assert "mae" in done.inner_text().lower()
    wait_idle(page)
    # Inside the network ends with the trained network: the last epoch's line is drawn, however short the run.
    page.wait_for_function(
        f"() => [...document.querySelectorAll('.legendtext')].some(t => t.textContent.trim() === 'epoch {EPOCHS}')",
        timeout=30_000)
    assert_no_exception(page, "Train")
    full_page(page, "train.png")

    # Evaluate: test metrics beside the seasonal baseline, a forecast chart
    go(page, "Evaluate", "evaluate")
    main = page.get_by_test_id("stMain")
    wait_text(page, re.compile("mape", re.I))
    wait_text(page, re.compile("seasonal", re.I))
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page, "Evaluate")
    assert "no run" not in main.inner_text().lower()
    full_page(page, "evaluate.png")

    # A reload keeps the session; Runs lists the finished run
    page.reload()
    wait_idle(page)
    go(page, "Runs", "runs")
    (run,) = [r for r in _registry(studio).list() if r.task == "forecasting"]
    assert run.status == "completed"
    table = page.get_by_test_id("stDataFrame").first
    table.wait_for(timeout=30_000)
    # st.dataframe draws on a canvas; its cells are mirrored in a hidden accessibility grid
    row = table.get_by_role("row", include_hidden=True).filter(has_text=run.run_id)
    row.wait_for(state="attached", timeout=30_000)
    cells = [c.strip() for c in row.get_by_role("gridcell", include_hidden=True).all_text_contents()]
    assert "completed" in cells, f"the run's row on Runs: {cells}"
    # Select the run (the row's checkbox is drawn on the canvas, left of the first row) to open it
    box = table.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + HEADER_ROW_PX + 17)
    page.get_by_role("button", name="Follow on Train").wait_for(timeout=30_000)
    page.get_by_role("heading", name=run.name).first.wait_for()
    page.locator("[data-testid='stPlotlyChart'] .main-svg").first.wait_for(timeout=30_000)
    assert_no_exception(page, "Runs")
    full_page(page, "runs.png")


def _registry(studio):
    from rnnstudio.runs import RunRegistry

    return RunRegistry(studio.home)
