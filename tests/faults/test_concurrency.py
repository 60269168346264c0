"""Many processes on one registry: no "database is locked", exact counts, one winner per run."""

from __future__ import annotations

import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

from rnnstudio.runs import RunRegistry

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 4
STEPS = 1000
EPOCHS = 10


def _train_like(home: str, run_id: str, barrier, out) -> None:
    """Logs like a training process: one transaction per step, an epoch row and summary every 100 steps."""
    import rnnstudio.runs.registry as registry_module
    from rnnstudio.train.callbacks import RegistryLogger

    locked = [0]
    real_is_locked = registry_module._is_locked

    def counting(exc):
        locked[0] += real_is_locked(exc)
        return real_is_locked(exc)

    registry_module._is_locked = counting  # counts lock errors even when a retry hides them
    try:
        logger = RegistryLogger(RunRegistry(home), run_id, Path(home), flush_seconds=0.0)
        logger.on_train_begin({"epochs": EPOCHS, "steps_per_epoch": STEPS // EPOCHS, "initial_epoch": 0,
                               "layers": ["rnn"], "train_examples": STEPS, "val_examples": 0})
        barrier.wait(timeout=60)
        for step in range(1, STEPS + 1):
            epoch = (step - 1) // (STEPS // EPOCHS) + 1
            logger.on_step_end(step, {"epoch": epoch, "batch": step, "loss": 1.0 / step})
            if step % (STEPS // EPOCHS) == 0:
                logger.on_epoch_end(epoch, {"epoch": epoch, "loss": 1.0 / epoch})
        logger.on_train_end({})
        out.put((run_id, None, locked[0]))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put((run_id, repr(exc), locked[0]))


def _watch(home: str, run_ids: list[str], stop, out) -> None:
    """A page following every run live, as the app does while the writers write."""
    reg, reads, seen = RunRegistry(home), 0, {r: 0 for r in run_ids}
    try:
        while not stop.is_set():
            for run_id in run_ids:
                rows = reg.metrics(run_id, kind="step", after=seen[run_id])
                seen[run_id] = max([seen[run_id], *(r["step"] for r in rows)])
                reg.get(run_id)
                reads += 1
            reg.reconcile()
        out.put(("watcher", None, reads))
    except BaseException as exc:  # noqa: BLE001
        out.put(("watcher", repr(exc), reads))


def test_four_training_processes_log_a_thousand_steps_each_without_a_lock_error(tmp_path):
    reg = RunRegistry(tmp_path)
    runs = [reg.create_run({"n": n}, task="forecasting", model="rnn").run_id for n in range(WRITERS)]
    for run_id in runs:
        reg.claim(run_id, os.getpid())  # one writer per run
    ctx = mp.get_context("spawn")
    barrier, out, stop = ctx.Barrier(WRITERS), ctx.Queue(), ctx.Event()
    writers = [ctx.Process(target=_train_like, args=(str(tmp_path), r, barrier, out)) for r in runs]
    watcher = ctx.Process(target=_watch, args=(str(tmp_path), runs, stop, out))
    started = time.monotonic()
    for process in [watcher, *writers]:
        process.start()
    results = [out.get(timeout=180) for _ in writers]
    stop.set()
    results.append(out.get(timeout=60))
    for process in [watcher, *writers]:
        process.join(60)
        assert process.exitcode == 0
    errors = [(who, error) for who, error, _ in results if error]
    assert errors == []  # zero "database is locked" (or anything else) reached a writer or the page
    hidden = sum(count for who, _, count in results if who != "watcher")
    assert hidden == 0, f"{hidden} lock errors were retried"
    assert results[-1][2] > 0  # the page did read while they wrote
    for run_id in runs:
        assert [r["step"] for r in reg.metrics(run_id, kind="step")] == list(range(1, STEPS + 1))
        assert [r["epoch"] for r in reg.metrics(run_id, kind="epoch")] == list(range(1, EPOCHS + 1))
        assert reg.get(run_id).summary["epochs_done"] == EPOCHS
    assert reg.check_integrity() == []
    print(f"\n{WRITERS} x {STEPS} step writes + {results[-1][2]} live reads in {time.monotonic() - started:.1f}s")


def _press(home: str, run_ids: list[str], action: str, barrier, out) -> None:
    reg = RunRegistry(home)
    for run_id in run_ids:
        barrier.wait(timeout=60)
        try:
            won = reg.enqueue(run_id) if action == "start" else reg.claim(run_id, os.getpid())
            out.put((run_id, action, won))
        except BaseException as exc:  # noqa: BLE001
            out.put((run_id, action, repr(exc)))


def test_sessions_starting_and_resuming_the_same_run_at_once_have_exactly_one_winner(tmp_path):
    reg = RunRegistry(tmp_path)
    rounds = 12
    run_ids = [reg.create_run({"n": n}, task="forecasting", model="rnn").run_id for n in range(rounds)]
    for run_id in run_ids[::2]:
        reg.set_status(run_id, "interrupted")  # half of them: Resume after a crash
    ctx = mp.get_context("spawn")
    actions = ["start", "start", "resume", "resume"]
    barrier, out = ctx.Barrier(len(actions)), ctx.Queue()
    sessions = [ctx.Process(target=_press, args=(str(tmp_path), run_ids, a, barrier, out)) for a in actions]
    for process in sessions:
        process.start()
    results = [out.get(timeout=120) for _ in range(rounds * len(actions))]
    for process in sessions:
        process.join(60)
        assert process.exitcode == 0
    for run_id in run_ids:
        outcomes = [(action, won) for rid, action, won in results if rid == run_id]
        assert all(isinstance(won, bool) for _, won in outcomes), outcomes
        winners = [action for action, won in outcomes if won]
        assert len(winners) == 1, (run_id, outcomes)
        assert reg.get(run_id).status == {"start": "queued", "resume": "running"}[winners[0]]


def test_the_losing_session_is_told_the_run_is_already_running(studio_home):
    from rnnstudio.recipe import default_recipe

    reg = RunRegistry()
    run = reg.create_run(default_recipe(source="sample:sine", task="forecasting", target="value").to_dict(),
                         task="forecasting", model="rnn")
    assert reg.claim(run.run_id, os.getpid())  # this process trains it
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    resumed = subprocess.run([sys.executable, "-m", "rnnstudio", "resume", run.run_id], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 2
    assert f"run {run.run_id} is already running in another process." in resumed.stderr
    assert "Traceback" not in resumed.stderr
    started = subprocess.run([sys.executable, "-m", "rnnstudio", "runs", "start", run.run_id], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert started.returncode == 0 and f"run {run.run_id}: already running" in started.stdout
    assert reg.get(run.run_id).pid == os.getpid()
