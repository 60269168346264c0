"""Closing the browser does not stop a run: it trains to the end in its own worker process."""

from __future__ import annotations

import re
import time

import pytest

from .conftest import wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

FINISH_TIMEOUT = 240.0  # s; the sample-reviews GRU takes well under a minute here


def test_run_finishes_after_the_browser_closes(context, studio):  # the browser first: skips before a server starts
    from rnnstudio.runs import RunRegistry

    registry = RunRegistry(studio.home)
    before = {run.run_id for run in registry.list()}

    page = context.new_page()
    page.goto(studio.url)
    wait_idle(page)
    page.get_by_role("button", name="Train on the sample reviews").click()
    page.wait_for_url(re.compile(r"/train(\?|$)"), timeout=60_000)  # the run is submitted before the switch
    context.close()

    new = [run for run in registry.list() if run.run_id not in before]
    assert len(new) == 1, f"expected one new run, found {[r.run_id for r in new]}"
    run_id = new[0].run_id
    deadline = time.monotonic() + FINISH_TIMEOUT
    run = registry.get(run_id)
    seen = {run.status}
    while not run.is_final:
        assert time.monotonic() < deadline, f"run {run_id} still {run.status} after {FINISH_TIMEOUT:.0f} s"
        time.sleep(0.5)
        run = registry.get(run_id)
        seen.add(run.status)

    log = run.folder / "worker.log"
    assert run.status == "completed", (
        f"run {run_id} ended {run.status}: {run.error}\n"
        f"{log.read_text(errors='replace')[-2000:] if log.exists() else ''}")
    assert "running" in seen or run.started is not None
    epochs = [row["epoch"] for row in registry.metrics(run_id, kind="epoch")]
    assert epochs, "no epoch metrics were logged"
    assert epochs == list(range(1, len(epochs) + 1)), f"epoch metrics have gaps or repeats: {epochs}"
    done = run.summary.get("epochs_done")
    assert done is None or done == len(epochs), f"summary says {done} epochs, metrics have {len(epochs)}"
