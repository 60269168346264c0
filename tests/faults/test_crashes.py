"""Crashes of the training process: the run says why, stays resumable, and other runs go on."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry
from rnnstudio.runs.faults import DiskFullError, crash_reason, exit_reason, exit_status
from tests.runs.test_jobs import _wait_for

ROOT = Path(__file__).resolve().parents[2]


def _tiny(source="sample:airline", epochs=3, **more):
    recipe = default_recipe(source=source, **sample_defaults(source))
    return recipe.with_overrides({"train.epochs": epochs, "train.early_stopping": False, "model.units": 4,
                                  "model.cell": "simple_rnn", "train.tensorboard": False, **more})


def test_a_crash_is_told_in_words_a_user_can_act_on():
    killed = exit_reason(-signal.SIGKILL)
    assert "killed by the system" in killed and "out of memory" in killed and "smaller batch" in killed
    assert exit_status(-signal.SIGKILL) == "failed"
    assert exit_status(-signal.SIGTERM) == "interrupted" and "resume" in exit_reason(-signal.SIGTERM)
    assert exit_status(3) == "failed" and "worker.log" in exit_reason(3)
    assert crash_reason(MemoryError()).startswith("the training ran out of memory (MemoryError); try a smaller batch")

    class ResourceExhaustedError(Exception):  # TensorFlow's, by name: the app never imports TensorFlow
        pass

    assert "ran out of memory" in crash_reason(ResourceExhaustedError("OOM when allocating tensor"))
    assert "disk full" in crash_reason(OSError(errno.ENOSPC, "No space left on device"))
    assert "disk full" in crash_reason(RuntimeError("Write failed: No space left on device"))  # TensorFlow's words


def test_memory_error_fails_the_run_with_a_readable_reason():
    from rnnstudio.train.callbacks import TrainingCallback
    from rnnstudio.train.runner import train

    class OutOfMemory(TrainingCallback):
        def on_epoch_begin(self, epoch):
            if epoch == 2:
                raise MemoryError

    reg = RunRegistry()
    with pytest.raises(MemoryError):
        train(_tiny(), registry=reg, callbacks=[OutOfMemory()])
    run = reg.list()[0]
    assert run.status == "failed"
    assert run.error.startswith("the training ran out of memory (MemoryError); try a smaller batch size")
    assert json.loads((run.folder / "checkpoints" / "latest.json").read_text())["state"]["epoch"] == 1


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_fails_the_run_and_resume_continues(monkeypatch):
    from rnnstudio.train.checkpoints import CheckpointStore
    from rnnstudio.train.runner import resume, train

    reg = RunRegistry()

    real_save = CheckpointStore.save

    def half_then_full(fh, *arrays):
        fh.write(b"half an npz")
        raise OSError(errno.ENOSPC, "No space left on device")

    def save_on_a_full_disk(store, model, optimizer, state):
        if state.epoch != 2:
            return real_save(store, model, optimizer, state)
        with monkeypatch.context() as patch:
            patch.setattr(np, "savez", half_then_full)
            return real_save(store, model, optimizer, state)

    monkeypatch.setattr(CheckpointStore, "save", save_on_a_full_disk)
    with pytest.raises(DiskFullError):
        train(_tiny(epochs=4), registry=reg)
    full = reg.list()[0]
    assert full.status == "failed"
    assert full.error.startswith(f"disk full: free space in {full.folder / 'checkpoints'}.")
    latest = json.loads((full.folder / "checkpoints" / "latest.json").read_text())
    assert latest["state"]["epoch"] == 1
    assert not list((full.folder / "checkpoints").glob(".*.tmp"))
    assert reg.check_integrity() == []

    monkeypatch.setattr(CheckpointStore, "save", real_save)  # space freed
    resume(full.run_id, registry=reg)
    assert reg.get(full.run_id).status == "completed"
    assert [r["epoch"] for r in reg.metrics(full.run_id)] == [1, 2, 3, 4]
    steps = [r["step"] for r in reg.metrics(full.run_id, kind="step")]
    assert steps == sorted(set(steps)) and max(steps) == 4 * reg.get(full.run_id).summary["plan"]["steps_per_epoch"]


def test_a_full_run_database_refuses_the_write_and_keeps_what_it_had(tmp_path, monkeypatch):
    reg = RunRegistry(tmp_path)
    run = reg.create_run({"name": "r"}, task="forecasting", model="rnn")
    reg.log_metrics_many(run.run_id, [(1, s, {"loss": 1.0}) for s in range(1, 51)])
    con = reg._conn()
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    con.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"
    with pytest.raises(DiskFullError, match=f"disk full: free space in {tmp_path}"):
        reg.log_metrics_many(run.run_id, [(2, s, {"loss": 0.5, "pad": float(s)}) for s in range(51, 5051)])
    assert reg.check_integrity() == []
    assert [r["step"] for r in reg.metrics(run.run_id, kind="step")] == list(range(1, 51))  # all or nothing
    con.execute("PRAGMA max_page_count = 1073741823")
    reg.log_metrics_many(run.run_id, [(2, 51, {"loss": 0.5})])
    assert len(reg.metrics(run.run_id, kind="step")) == 51

    def no_space(path, obj, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("rnnstudio.runs.registry.write_json_atomic", no_space)
    with pytest.raises(DiskFullError, match="disk full: free space in"):
        reg.create_run({"name": "new"}, task="forecasting", model="rnn")
    assert [r.run_id for r in reg.list()] == [run.run_id]
    assert sorted(p.name for p in reg.runs_dir.iterdir()) == [run.run_id]


_SERVER = textwrap.dedent("""
    import os, sys
    from rnnstudio.runs import RunRegistry
    reg = RunRegistry(sys.argv[1])
    running, queued = sys.argv[2], sys.argv[3]
    assert reg.claim(running, os.getpid())
    assert reg.enqueue(queued)
    reg.set_worker(queued, os.getpid())
    print("up", flush=True)
    sys.stdin.read()  # until killed
""")


def test_a_restart_finds_runs_of_dead_processes_interrupted_and_resumable(tmp_path):
    reg = RunRegistry(tmp_path)
    running, queued, elsewhere, done = (reg.create_run({"n": n}, task="forecasting", model="rnn").run_id
                                        for n in range(4))
    alive = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(tmp_path), running, queued], cwd=ROOT,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert server.stdout.readline().strip() == "up"
        reg.claim(elsewhere, alive.pid)  # a training another, living process owns
        reg.set_status(done, "completed")
        server.kill()  # the machine goes down mid-run
        server.wait(30)
        # The restarted server's first look at the registry reconciles it.
        code = ("import json, sys; from rnnstudio.runs import RunRegistry; "
                "print(json.dumps({r.run_id: [r.status, r.error] for r in RunRegistry(sys.argv[1]).list()}))")
        after = json.loads(subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True,
                                          text=True, check=True, timeout=60,
                                          env=dict(os.environ, PYTHONPATH=str(ROOT))).stdout)
    finally:
        alive.kill()
        alive.wait(30)
    assert after[running] == ["interrupted", f"process {server.pid} ended without finishing the run"]
    assert after[queued] == ["interrupted", f"worker process {server.pid} ended before the run started"]
    assert after[elsewhere][0] == "running" and after[done][0] == "completed"
    assert reg.enqueue(running) and reg.claim(queued, os.getpid())  # both can be started again


@pytest.mark.slow
def test_a_worker_killed_for_memory_fails_its_run_the_queue_moves_on_and_start_resumes_it(studio_home, monkeypatch):
    from rnnstudio.runs.jobs import start, submit

    monkeypatch.setenv("RNNSTUDIO_MAX_RUNS", "1")
    reg = RunRegistry()
    victim = submit(_tiny(source="sample:sine", epochs=15, **{"train.log_every_steps": 1}), registry=reg)
    waiting = submit(_tiny(epochs=2), registry=reg)
    running = _wait_for(reg, victim.run_id, lambda r: r.summary.get("epochs_done", 0) >= 1 or r.is_final)
    assert running.status == "running" and reg.get(waiting.run_id).status == "queued"
    os.kill(running.pid, signal.SIGKILL)  # what the kernel's out-of-memory killer does
    failed = _wait_for(reg, victim.run_id, lambda r: r.is_final, timeout=60)
    assert failed.status == "failed"
    assert failed.error.startswith("the training process was killed by the system (SIGKILL), most often because it "
                                   "ran out of memory; try a smaller batch size")
    assert (failed.folder / "checkpoints" / "latest.json").exists()
    other = _wait_for(reg, waiting.run_id, lambda r: r.is_final)
    assert other.status == "completed", other.error
    assert [r["epoch"] for r in reg.metrics(waiting.run_id)] == [1, 2]
    assert start(victim.run_id, registry=reg)  # Start again: it continues from its checkpoint
    resumed = _wait_for(reg, victim.run_id, lambda r: r.is_final)
    assert resumed.status == "completed", resumed.error
    assert [r["epoch"] for r in reg.metrics(victim.run_id)] == list(range(1, 16))
    steps = [r["step"] for r in reg.metrics(victim.run_id, kind="step")]
    assert steps == list(range(1, 15 * resumed.summary["plan"]["steps_per_epoch"] + 1))
    assert resumed.summary["plan"]["initial_epoch"] >= 1
