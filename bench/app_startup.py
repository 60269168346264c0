"""Start-up time of the studio's UI against a trivial five-page Streamlit app, measured the same way.

Each measurement launches ``python -m streamlit run <app> --server.headless true
--server.port <free port> --browser.gatherUsageStats false`` in its own process
session and stops the clock when the first page is rendered in a real browser:
``/_stcore/health`` is polled until it answers "ok", then a new Playwright page
(headless Chromium, one browser instance launched before any timing) loads the
app and waits for the script to finish
(``[data-testid='stApp'][data-test-script-state='notRunning']``) and for the
page's title (``h1``) to be visible. The server's process group is killed
after every measurement.

The baseline is generated in a temporary folder: ``app.py`` with
``st.navigation`` over five ``st.Page`` files, each with a title and a line of
text, ``layout="wide"``. The studio is the repo's ``app.py``, run from the
repo root with ``RNNSTUDIO_HOME`` set to a fresh empty temporary folder.

After the studio's page has rendered, ``/proc/<server pid>/maps`` is scanned for
TensorFlow's shared libraries (``libtensorflow``, ``_pywrap_tensorflow``): the UI
process must not import TensorFlow (that is the helper's and the workers' job).

Rounds alternate which app goes first, and medians are compared, because single
runs on this shared 2-core machine vary by ±30 %. One unmeasured warm-up start
of each app precedes the rounds (``--warmup``) so that neither side pays for
cold disk caches or bytecode compilation alone.

    python bench/app_startup.py [--rounds 5] [--warmup 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rnnstudio.local_app import free_port, launch_app, stop_app, wait_until_healthy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
TITLE = "h1"
TIMEOUT = 120.0  # seconds for one start-up, health plus render
TF_MARKERS = ("libtensorflow", "_pywrap_tensorflow")

TRIVIAL_APP = '''import streamlit as st

st.set_page_config(page_title="Trivial", layout="wide")
pages = [st.Page(f"page_{i}.py", title=f"Page {i}", default=i == 1) for i in range(1, 6)]
st.navigation(pages).run()
'''
TRIVIAL_PAGE = '''import streamlit as st

st.title("Page {i}")
st.write("This is page {i} of a trivial five-page app.")
'''


@dataclass
class App:
    name: str
    script: Path
    cwd: Path
    env: dict = field(default_factory=dict)
    times: list = field(default_factory=list)


def make_trivial_app(folder: Path) -> Path:
    (folder / "app.py").write_text(TRIVIAL_APP)
    for i in range(1, 6):
        (folder / f"page_{i}.py").write_text(TRIVIAL_PAGE.format(i=i))
    return folder / "app.py"


def tensorflow_libraries(pid: int) -> list[str]:
    """Mapped files of process ``pid`` that belong to TensorFlow."""
    found = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6 and any(marker in parts[5] for marker in TF_MARKERS):
            found.add(parts[5])
    return sorted(found)


def start_once(app: App, browser) -> tuple[float, list[str]]:
    """Seconds from launching the server to the first page rendered, and the TensorFlow libraries the server
    process has mapped at that moment; kills the server afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home = None
    env = dict(os.environ, **app.env)
    if app.name == "studio":
        home = tempfile.mkdtemp(prefix="rnnstudio-startup-")
        env["RNNSTUDIO_HOME"] = home
    log = tempfile.TemporaryFile()
    page = None
    t0 = time.perf_counter()
    proc = launch_app(app.script, port=port, cwd=app.cwd, env=env, log=log)
    try:
        wait_until_healthy(proc, url, timeout=TIMEOUT, poll=0.05)
        deadline = t0 + TIMEOUT
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        remaining_ms = max(1.0, deadline - time.perf_counter()) * 1000
        page.goto(url, timeout=remaining_ms)
        page.wait_for_selector(IDLE, timeout=remaining_ms)
        page.locator(TITLE).first.wait_for(state="visible", timeout=remaining_ms)
        elapsed = time.perf_counter() - t0
        return elapsed, tensorflow_libraries(proc.pid)  # the page is up: the first script run has finished
    except Exception:
        log.seek(0)
        sys.stderr.write(log.read().decode(errors="replace")[-4000:])
        raise
    finally:
        if page is not None:
            page.close()
        stop_app(proc, home)
        log.close()
        if home:
            shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured starts of each app before the rounds")
    args = parser.parse_args()

    trivial_dir = Path(tempfile.mkdtemp(prefix="trivial-streamlit-"))
    trivial = App("trivial", make_trivial_app(trivial_dir), trivial_dir)
    studio = App("studio", ROOT / "app.py", ROOT)
    tf_loaded: set[str] = set()  # over all studio starts
    last_tf: list[str] = []  # at the studio's latest start
    checks = 0

    def measure(app: App) -> float:
        nonlocal checks
        elapsed, libraries = start_once(app, browser)
        if app is studio:
            checks += 1
            tf_loaded.update(libraries)
            last_tf[:] = libraries
        return elapsed

    def tf_verdict(app: App) -> str:
        return "" if app is not studio else ", TensorFlow in UI process: " + ("YES" if last_tf else "no")

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                for i in range(args.warmup):
                    print(f"warm-up {i + 1}: trivial {measure(trivial):.2f} s, studio {measure(studio):.2f} s"
                          f"{tf_verdict(studio)}")
                for round_ in range(args.rounds):
                    # Alternate which app goes first so drift in machine load falls on both alike.
                    order = [trivial, studio] if round_ % 2 == 0 else [studio, trivial]
                    for app in order:
                        app.times.append(measure(app))
                    print(f"round {round_ + 1} ({order[0].name} first): trivial {trivial.times[-1]:.2f} s, "
                          f"studio {studio.times[-1]:.2f} s{tf_verdict(studio)}")
            finally:
                browser.close()
    finally:
        shutil.rmtree(trivial_dir, ignore_errors=True)

    trivial_median, studio_median = statistics.median(trivial.times), statistics.median(studio.times)
    print(f"trivial five-page app: {trivial_median:.2f} s to first rendered page (median of {args.rounds})")
    print(f"RNN Studio app.py    : {studio_median:.2f} s to first rendered page (median of {args.rounds})")
    if tf_loaded:
        print(f"TensorFlow: LOADED by the studio's UI process ({len(tf_loaded)} libraries mapped, e.g. "
              f"{sorted(tf_loaded)[0]}); the UI must not import TensorFlow")
    else:
        print(f"TensorFlow: not loaded by the studio's UI process (checked /proc/<pid>/maps after each of "
              f"{checks} first renders)")
    print(f"ratio studio/trivial: {studio_median / trivial_median:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
