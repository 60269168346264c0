"""Real-browser fixtures: one Streamlit server per test session, Chromium through Playwright.

The server runs `streamlit run app.py` from the repo root with its own studio
home (``RNNSTUDIO_HOME``) in a temporary folder. Training runs are separate
worker processes in their own sessions; teardown kills the server's process
group and every process whose environment points at that studio home.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from rnnstudio.local_app import free_port, launch_app, processes_using_home, stop_app, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# The README's pictures change only on request; every other run leaves them to look at in test-artifacts/.
SCREENSHOTS = ROOT / ("assets" if os.environ.get("RNNSTUDIO_UPDATE_SCREENSHOTS") else "test-artifacts") / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}
IDLE = "[data-testid='stApp'][data-test-script-state='notRunning']"
EXCEPTION = "[data-testid='stException']"
HEALTH_TIMEOUT = 60.0
INSTALL = "browser tests need Debian's Chromium and Playwright: apt-get install chromium && pip install playwright"


@dataclass
class Studio:
    url: str
    home: Path
    log: Path


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> Studio:
    """A running Streamlit server for the whole test session; yields its URL and studio home."""
    home = tmp_path_factory.mktemp("browser") / "studio"
    home.mkdir()
    log = home.parent / "streamlit.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, RNNSTUDIO_HOME=str(home), RNNSTUDIO_MAX_RUNS="1", TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONUNBUFFERED="1")
    with open(log, "wb") as out:
        server = launch_app("app.py", port=port, cwd=ROOT, env=env, log=out)
    try:
        try:
            wait_until_healthy(server, url, timeout=HEALTH_TIMEOUT, poll=0.25)
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log.read_text(errors='replace')[-3000:]}")
        yield Studio(url=url, home=home, log=log)
    finally:
        stop_app(server, home)
        left = processes_using_home(home)
        assert not left, f"processes survived the test session: {left}"


@pytest.fixture(scope="session")
def chromium():
    """A headless Chromium (Debian's) driven by Playwright's sync API."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"{INSTALL} (the playwright package is missing)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{INSTALL} ({CHROMIUM} is missing)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    try:
        yield context
    finally:
        try:
            context.close()
        except Exception:  # already closed by the test
            pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(request, context):
    """A fresh tab; when the test fails, its last state is saved as failure-<test>.png next to the server log."""
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and not tab.is_closed():
        studio = request.getfixturevalue("studio")
        path = studio.log.parent / f"failure-{request.node.name}.png"
        try:
            tab.screenshot(path=str(path))
            print(f"\nscreenshot of the failure: {path}  (server log: {studio.log})")
        except Exception:
            pass


# ---------------------------------------------------------------- helpers for the tests
def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the script has finished its run (a rerun may start right after; call again after actions)."""
    page.wait_for_selector(IDLE, timeout=timeout)


def assert_no_exception(page, where: str) -> None:
    boxes = page.locator(EXCEPTION)
    if boxes.count():
        raise AssertionError(f"Streamlit exception on {where}:\n{boxes.first.inner_text()}")


def screenshot(page, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path
