"""A shared server's limits: runs and upload bytes per session, and a queue that keeps a class from training at once."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest

from rnnstudio.data.uploads import store_upload
from rnnstudio.limits import LimitError
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry
from rnnstudio.runs import jobs

ROOT = Path(__file__).resolve().parents[2]


class _NoWorker:
    pid = os.getpid()


@pytest.fixture
def no_workers(monkeypatch):
    """submit() queues runs as the app does, but no training process is spawned."""
    monkeypatch.setattr(jobs, "_spawn", lambda registry, run_id, folder: _NoWorker())


def _recipe():
    return default_recipe(source="sample:airline", task="forecasting", target="passengers")


def test_a_session_may_have_three_active_runs_by_default(no_workers, tmp_path):
    registry = RunRegistry(tmp_path)
    for _ in range(3):
        jobs.submit(_recipe(), registry=registry, owner="aaaaaaaaaaaa")
    with pytest.raises(LimitError, match="already has 3 runs queued or running; the limit is 3") as caught:
        jobs.submit(_recipe(), registry=registry, owner="aaaaaaaaaaaa")
    assert "stop one" in caught.value.fix
    assert len(registry.list(owner="aaaaaaaaaaaa")) == 3  # the refused run left nothing behind
    jobs.submit(_recipe(), registry=registry, owner="bbbbbbbbbbbb")  # other sessions are not affected
    jobs.submit(_recipe(), registry=registry)  # nor the command line (no owner)
    first = registry.list(owner="aaaaaaaaaaaa")[-1]
    assert jobs.request_stop(first.run_id, registry=registry) == "cancelled"
    jobs.submit(_recipe(), registry=registry, owner="aaaaaaaaaaaa")  # a freed place can be used again
    with pytest.raises(LimitError):  # and resuming counts too
        jobs.start(first.run_id, registry=registry)


def test_the_run_cap_is_configurable_and_checked(no_workers, tmp_path, monkeypatch):
    registry = RunRegistry(tmp_path)
    monkeypatch.setenv("RNNSTUDIO_SESSION_MAX_RUNS", "1")
    jobs.submit(_recipe(), registry=registry, owner="s1")
    with pytest.raises(LimitError, match="the limit is 1"):
        jobs.submit(_recipe(), registry=registry, owner="s1")
    monkeypatch.setenv("RNNSTUDIO_SESSION_MAX_RUNS", "many")
    with pytest.raises(Exception, match="RNNSTUDIO_SESSION_MAX_RUNS must be a whole number"):
        jobs.submit(_recipe(), registry=registry, owner="s2")


def test_thirty_sessions_starting_at_once_train_max_running_at_a_time(no_workers, tmp_path):
    registry = RunRegistry(tmp_path)
    owners = [f"{i:012x}" for i in range(30)]
    runs = [jobs.submit(_recipe(), registry=registry, owner=o) for o in owners]
    assert sorted(registry.queue_position(r.run_id) for r in runs) == list(range(1, 31))
    slots, most, lock = 2, 0, threading.Lock()
    finished: list[str] = []

    def worker(run_id: str) -> None:
        # The worker loop of jobs.run_worker: wait for a slot, "train", finish.
        nonlocal most
        own = RunRegistry(tmp_path)
        while not own.claim_slot(run_id, os.getpid(), max_running=slots):
            threading.Event().wait(0.005)
        running = len(own.list(status="running"))
        with lock:
            most = max(most, running)
        threading.Event().wait(random.uniform(0, 0.02))
        own.set_status(run_id, "completed")
        with lock:
            finished.append(run_id)

    threads = [threading.Thread(target=worker, args=(r.run_id,)) for r in random.sample(runs, len(runs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(finished) == sorted(r.run_id for r in runs) and 1 <= most <= slots
    started = [registry.get(r.run_id).started for r in runs]
    assert started == sorted(started)  # first come, first served, whatever order the workers woke up in


def test_a_session_s_stored_uploads_are_capped(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNSTUDIO_SESSION_UPLOAD_MB", "1")
    half = b"x,y\n" + b"1,2\n" * (120 * 1024)  # ~0.47 MB
    first = store_upload(half, "a.csv", home=tmp_path, owner="abcdef012345")
    assert store_upload(half, "again.csv", home=tmp_path, owner="abcdef012345") == first  # same bytes: free
    store_upload(half + b"3,4\n", "b.csv", home=tmp_path, owner="abcdef012345")
    with pytest.raises(LimitError, match="limit of 1 MB per session") as caught:
        store_upload(half + b"5,6\n", "c.csv", home=tmp_path, owner="abcdef012345")
    assert caught.value.file == "c.csv" and "RNNSTUDIO_SESSION_UPLOAD_MB" in caught.value.fix
    assert len(list((tmp_path / "uploads").glob("*.csv"))) == 2  # nothing was stored for the refused file
    store_upload(half + b"5,6\n", "c.csv", home=tmp_path, owner="0123456789ab")  # another session may
    with pytest.raises(Exception, match="invalid id"):
        store_upload(b"x\n1\n", "d.csv", home=tmp_path, owner="../../etc")


def test_the_train_page_shows_the_session_cap(no_workers, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RNNSTUDIO_SESSION_MAX_RUNS", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("views/data.py")
    at.run()
    next(r for r in at.radio if r.label == "Where is the data?").set_value("Built-in sample").run()
    at.switch_page("views/train.py")
    at.run()
    for _ in range(2):
        next(b for b in at.button if b.label == "Start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(e.value for e in at.error).replace("\\", "")
    assert "already has 1 run queued or running; the limit is 1 per session" in shown


def test_one_session_pressing_start_on_many_runs_at_once_never_passes_its_cap(tmp_path, monkeypatch):
    import subprocess
    import sys

    registry = RunRegistry(tmp_path)
    runs = [registry.create_run({"name": "r"}, task="forecasting", model="rnn", name=f"r{i}", owner="0123456789ab")
            for i in range(6)]
    code = ("import sys; from rnnstudio.limits import LimitError; from rnnstudio.runs import RunRegistry\n"
            f"try: print(RunRegistry({str(tmp_path)!r}).enqueue(sys.argv[1], owner_cap=2))\n"
            "except LimitError as e: print('refused:', e)")
    starts = [subprocess.Popen([sys.executable, "-c", code, r.run_id], stdout=subprocess.PIPE, text=True, cwd=ROOT)
              for r in runs]
    outcomes = [p.communicate(timeout=60)[0].strip() for p in starts]
    assert sum(o == "True" for o in outcomes) == 2, outcomes
    assert sum(o.startswith("refused: this session already has 2 runs queued or running") for o in outcomes) == 4
    assert sum(r.status == "queued" for r in registry.list(owner="0123456789ab")) == 2
