"""A teacher in a real browser: open the Lessons page, run the long-range memory lesson, see its charts.

Saves lessons.png (see conftest.SCREENSHOTS). Trains the lesson's three small variants (about a minute here).
"""

from __future__ import annotations

import re

import pytest

from .conftest import assert_no_exception, screenshot, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

LESSON_TIMEOUT = 300_000  # ms: three queued variants, each with its own TensorFlow start-up


def test_run_the_memory_lesson_and_see_the_variants_side_by_side(studio, page):
    page.goto(studio.url)
    wait_idle(page)
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=re.compile(r"(^|\s)Lessons$")).click()
    page.wait_for_url(re.compile(r"/lessons(\?|$)"))
    page.get_by_role("heading", level=1).filter(has_text="Lessons").first.wait_for()
    wait_idle(page)
    assert_no_exception(page, "Lessons")
    page.get_by_text("Long-range memory", exact=True).first.click()
    wait_idle(page)
    page.get_by_text("A plain recurrent network (SimpleRNN)").first.wait_for()
    # Only the taught control moves: one slider on the page.
    assert page.get_by_test_id("stSlider").count() == 1
    page.get_by_role("button", name=re.compile("Run the lesson")).click()
    wait_idle(page)
    page.wait_for_function(
        "() => (document.body.innerText.match(/completed in/g) || []).length >= 3", timeout=LESSON_TIMEOUT,
        polling=2000)
    wait_idle(page)
    assert_no_exception(page, "Lessons after the runs")
    body = page.inner_text("body")
    assert not re.search(r"failed", body), body[-2000:]
    for variant in ("SimpleRNN", "GRU", "LSTM"):
        assert variant in body
    # Two comparison charts and three gradient-through-time heatmaps, drawn.
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5",
                           timeout=60_000)
    assert page.get_by_text("Gradient reaching each time step").count() >= 1
    page.mouse.move(5, 5)  # no tooltip over the control
    # The app scrolls inside its own container: a tall window shows the lesson and its results in one picture.
    page.set_viewport_size({"width": 1440, "height": 2300})
    wait_idle(page)
    page.wait_for_timeout(1500)  # let the charts re-lay out to the new width
    screenshot(page, "lessons.png")
