"""The job queue: runs train in worker processes that outlive whoever started them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry
from rnnstudio.runs.jobs import request_stop, start, submit


def _new(reg: RunRegistry, name: str = "r"):
    return reg.create_run({"name": name}, task="forecasting", model="rnn", name=name)


def test_two_sessions_pressing_start_start_the_run_once(tmp_path):
    reg = RunRegistry(tmp_path)
    run = _new(reg)
    code = f"from rnnstudio.runs import RunRegistry; print(RunRegistry({str(tmp_path)!r}).enqueue({run.run_id!r}))"
    sessions = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(6)]
    outcomes = [p.communicate(timeout=60)[0].strip() for p in sessions]
    assert outcomes.count("True") == 1 and outcomes.count("False") == 5
    assert reg.get(run.run_id).status == "queued"


def test_slots_go_to_the_oldest_queued_run_and_respect_the_limit(tmp_path):
    reg = RunRegistry(tmp_path)
    first, second, third = (_new(reg, n) for n in "abc")
    for run in (first, second, third):
        assert reg.enqueue(run.run_id)
        time.sleep(0.01)
    assert [reg.queue_position(r.run_id) for r in (first, second, third)] == [1, 2, 3]
    assert not reg.claim_slot(second.run_id, 111, max_running=1)  # not its turn
    assert reg.claim_slot(first.run_id, 111, max_running=1)
    assert not reg.claim_slot(second.run_id, 112, max_running=1)  # the one slot is taken
    assert reg.claim_slot(second.run_id, 112, max_running=2)
    assert reg.queue_position(third.run_id) == 1 and reg.queue_position(first.run_id) is None
    assert reg.get(first.run_id).status == "running" and reg.get(first.run_id).pid == 111


def test_stopping_a_queued_run_cancels_it_and_a_dead_worker_frees_its_place(tmp_path):
    reg = RunRegistry(tmp_path)
    cancelled, orphaned = _new(reg, "a"), _new(reg, "b")
    reg.enqueue(cancelled.run_id)
    assert request_stop(cancelled.run_id, registry=reg) == "cancelled"
    assert reg.get(cancelled.run_id).status == "stopped"
    assert not reg.claim_slot(cancelled.run_id, 1, max_running=1)
    reg.enqueue(orphaned.run_id)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    reg.set_worker(orphaned.run_id, gone.pid)
    assert orphaned.run_id in reg.reconcile()
    info = reg.get(orphaned.run_id)
    assert info.status == "interrupted" and "worker" in info.error


def test_live_charts_read_only_new_rows(tmp_path):
    reg = RunRegistry(tmp_path)
    run = _new(reg)
    reg.log_metrics_many(run.run_id, [(1, s, {"loss": 1.0 / s}) for s in range(1, 11)], kind="step")
    for epoch in (1, 2, 3):
        reg.log_metrics(run.run_id, epoch=epoch, step=None, values={"loss": 1.0 / epoch}, kind="epoch")
    assert [r["step"] for r in reg.metrics(run.run_id, kind="step", after=7)] == [8, 9, 10]
    assert [r["epoch"] for r in reg.metrics(run.run_id, kind="epoch", after=1)] == [2, 3]
    assert len(reg.metrics(run.run_id, kind="step")) == 10


def test_a_version_1_database_is_upgraded_in_place(tmp_path):
    con = sqlite3.connect(tmp_path / "runs.sqlite")
    con.executescript("""
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, task TEXT NOT NULL, model TEXT NOT NULL,
            status TEXT NOT NULL, created REAL NOT NULL, started REAL, finished REAL, recipe TEXT NOT NULL DEFAULT '{}',
            summary TEXT NOT NULL DEFAULT '{}', error TEXT, pid INTEGER, owner TEXT);
        CREATE TABLE metrics (run_id TEXT NOT NULL, kind TEXT NOT NULL, epoch INTEGER NOT NULL,
            step INTEGER NOT NULL DEFAULT -1, values_json TEXT NOT NULL);
        INSERT INTO runs (run_id, name, task, model, status, created) VALUES ('old-run', 'old', 'forecasting', 'rnn',
            'stopped', 1.0);
        PRAGMA user_version=1;
    """)
    con.close()
    reg = RunRegistry(tmp_path)
    assert reg.get("old-run").status == "stopped"
    assert reg.enqueue("old-run") and reg.queue_position("old-run") == 1


def _wait_for(reg: RunRegistry, run_id: str, done, timeout: float = 240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = reg.get(run_id)
        if done(info):
            return info
        time.sleep(0.5)
    log = (reg.folder(run_id) / "worker.log")
    raise AssertionError(f"run {run_id} stuck in {reg.get(run_id).status}: {log.read_text()[-2000:] if log.exists() else ''}")


@pytest.mark.slow
def test_a_run_started_by_a_process_that_exits_finishes_with_complete_metrics(studio_home):
    # The starting process (a browser session, a terminal) goes away at once; the run must not.
    out = subprocess.run([sys.executable, "-m", "rnnstudio", "train", "--data", "sample:sine", "--task", "forecasting",
                          "--set", "train.epochs=3", "--set", "train.early_stopping=false", "--set", "model.units=8",
                          "--background", "--json"], capture_output=True, text=True, timeout=60, check=True)
    run_id = __import__("json").loads(out.stdout.strip().splitlines()[-1])["run_id"]
    reg = RunRegistry()
    info = _wait_for(reg, run_id, lambda r: r.is_final)
    assert info.status == "completed", info.error
    assert [r["epoch"] for r in reg.metrics(run_id, kind="epoch")] == [1, 2, 3]
    steps = [r["step"] for r in reg.metrics(run_id, kind="step")]
    assert steps == sorted(set(steps)) and steps
    assert info.summary["plan"]["epochs"] == 3
    assert (info.folder / "model.keras").exists()


@pytest.mark.slow
def test_stop_checkpoints_and_start_again_continues_without_gaps(studio_home):
    recipe = default_recipe(**{"source": "sample:sine", **sample_defaults("sample:sine")}).with_overrides(
        {"train.epochs": 40, "train.early_stopping": False, "model.units": 8})
    reg = RunRegistry()
    run = submit(recipe, registry=reg, owner="session-a")
    assert not start(run.run_id, registry=reg)  # already queued: a second Start does nothing
    _wait_for(reg, run.run_id, lambda r: r.summary.get("epochs_done", 0) >= 2 or r.is_final)
    assert request_stop(run.run_id, registry=reg) == "stopping"
    stopped = _wait_for(reg, run.run_id, lambda r: r.is_final)
    assert stopped.status == "stopped"
    done_before = [r["epoch"] for r in reg.metrics(run.run_id, kind="epoch")]
    assert 2 <= len(done_before) < 40
    assert start(run.run_id, registry=reg)
    finished = _wait_for(reg, run.run_id, lambda r: r.is_final, timeout=400)
    assert finished.status == "completed", finished.error
    assert [r["epoch"] for r in reg.metrics(run.run_id, kind="epoch")] == list(range(1, 41))


def test_a_queued_run_whose_worker_never_started_is_made_resumable_after_the_grace(tmp_path):
    from rnnstudio.runs.registry import SPAWN_GRACE_SECONDS

    reg = RunRegistry(tmp_path)
    stranded, fresh = _new(reg, "stranded"), _new(reg, "fresh")
    assert reg.enqueue(stranded.run_id) and reg.enqueue(fresh.run_id)
    with sqlite3.connect(reg.db_path) as con:  # the server died between queueing and spawning, long ago
        con.execute("UPDATE runs SET queued = queued - ? WHERE run_id = ?", (SPAWN_GRACE_SECONDS + 5, stranded.run_id))
    assert reg.reconcile() == [stranded.run_id]
    info = reg.get(stranded.run_id)
    assert info.status == "interrupted" and "worker process never started" in info.error
    assert reg.get(fresh.run_id).status == "queued"  # a run being spawned right now is left alone
    assert reg.enqueue(stranded.run_id)  # and Resume queues it again


def test_a_worker_that_cannot_be_spawned_fails_the_run_with_the_reason(tmp_path, monkeypatch):
    import errno

    from rnnstudio.errors import RunError
    from rnnstudio.runs import jobs

    def out_of_processes(registry, run_id, folder):
        raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(jobs, "_spawn", out_of_processes)
    reg = RunRegistry(tmp_path)
    run = _new(reg)
    with pytest.raises(RunError, match="could not start: its worker process could not be started"):
        start(run.run_id, registry=reg)
    info = reg.get(run.run_id)
    assert info.status == "failed" and "Resource temporarily unavailable" in info.error
    assert reg.enqueue(run.run_id)  # nothing is lost: it can be started again
