"""SIGKILL the training process at random points; every resume continues from the last checkpoint.

One TensorFlow import serves every kill: a forkserver preloads it and forks a
fresh process per attempt that runs ``python -m rnnstudio resume RUN`` (the
CLI's own ``main``); the test kills it with SIGKILL at a random step and
checks the checkpoint, the epoch rows and the step rows after each kill.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import time

import numpy as np
import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry

KILLS = 20
EPOCHS = 70
SEED = 20261123
PRELOAD = ["tensorflow", "keras", "rnnstudio.cli", "rnnstudio.train.runner", "rnnstudio.train.loop",
           "rnnstudio.tasks.forecasting"]


def _resume_in_child(home: str, run_id: str) -> None:
    os.environ["RNNSTUDIO_HOME"] = home
    from rnnstudio.cli import main

    os._exit(main(["resume", run_id, "--json"]))


def _recipe():
    recipe = default_recipe(source="sample:sine", **sample_defaults("sample:sine"))
    return recipe.with_overrides({"train.epochs": EPOCHS, "train.early_stopping": False, "model.cell": "simple_rnn",
                                  "model.units": 4, "train.log_every_steps": 1, "train.tensorboard": False})


def _checkpoint(folder) -> tuple[int, int]:
    """(epoch, step) of the run's latest checkpoint after checking that every file it names loads."""
    latest = folder / "checkpoints" / "latest.json"
    if not latest.exists():
        return 0, 0
    meta = json.loads(latest.read_text())
    for name in (meta["file"], meta.get("best")):
        if name:
            with np.load(folder / "checkpoints" / name, allow_pickle=False) as data:
                assert len(data.files) >= meta["n_model"] if name == meta["file"] else data.files
    return meta["state"]["epoch"], meta["state"]["step"]


def _history(reg: RunRegistry, run_id: str, steps_per_epoch: int) -> tuple[int, int]:
    """Checks the epoch and step rows are 1..E and 1..S without a gap or a repeat; returns (E, S)."""
    epochs = [r["epoch"] for r in reg.metrics(run_id, kind="epoch")]
    assert epochs == list(range(1, len(epochs) + 1)), epochs
    rows = reg.metrics(run_id, kind="step")
    steps = [r["step"] for r in rows]
    assert steps == list(range(1, len(steps) + 1)), steps
    for row in rows:
        assert row["epoch"] == (row["step"] - 1) // steps_per_epoch + 1 and "loss" in row, row
    return len(epochs), len(steps)


def _wait(condition, process, timeout=180.0, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if not process.is_alive():
            return False
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def forkserver():
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    yield ctx
    from multiprocessing import forkserver as server

    server._forkserver._stop()  # its preloaded TensorFlow would otherwise stay in memory until pytest exits
    ctx.set_forkserver_preload([])


@pytest.mark.slow
def test_sigkill_at_twenty_random_steps_then_resume_loses_at_most_one_epoch(studio_home, forkserver):
    rng = random.Random(SEED)
    reg = RunRegistry()
    run = reg.create_run(_recipe().to_dict(), task="forecasting", model="rnn", name="kill-resume")
    ctx = forkserver
    kills, lost, started = [], [], time.monotonic()
    steps_per_epoch = None
    while len(kills) < KILLS:
        ckpt_epoch, ckpt_step = _checkpoint(run.folder)
        child = ctx.Process(target=_resume_in_child, args=(str(studio_home), run.run_id))
        child.start()
        rows_left = lambda: max((r["step"] for r in reg.metrics(run.run_id, kind="step")), default=0)  # noqa: E731
        # This process has claimed the run and dropped the rows beyond its checkpoint: new rows are its own.
        assert _wait(lambda: reg.get(run.run_id).pid == child.pid and rows_left() <= ckpt_step, child,
                     what="the resumed process to start"), f"exit code {child.exitcode}"
        if steps_per_epoch is None:
            _wait(lambda: "plan" in reg.get(run.run_id).summary, child, what="the training plan")
            steps_per_epoch = reg.get(run.run_id).summary["plan"]["steps_per_epoch"]
        target = ckpt_step + rng.randint(1, 2 * steps_per_epoch)
        if not _wait(lambda: rows_left() >= target, child, what=f"step {target}"):
            pytest.fail(f"the run ended before kill {len(kills) + 1}: exit code {child.exitcode}")
        # A jitter within about one step: a longer sleep lets fast machines finish epochs before the kill.
        time.sleep(rng.uniform(0.0, 0.02))
        child.kill()
        child.join(30)
        assert child.exitcode == -signal.SIGKILL
        plan = reg.get(run.run_id).summary["plan"]
        assert plan["initial_epoch"] == ckpt_epoch  # it continued from the last completed checkpoint
        epoch_now, step_now = _checkpoint(run.folder)
        rows_epochs, rows_steps = _history(reg, run.run_id, steps_per_epoch)
        assert epoch_now <= rows_epochs <= epoch_now + 1  # at most one finished epoch is not in a checkpoint
        assert step_now <= rows_steps <= step_now + steps_per_epoch
        kills.append(rows_steps)
        lost.append((rows_steps - step_now) / steps_per_epoch)
    child = ctx.Process(target=_resume_in_child, args=(str(studio_home), run.run_id))
    child.start()
    child.join(300)
    assert child.exitcode == 0, reg.get(run.run_id).error
    info = reg.get(run.run_id)
    assert info.status == "completed" and (info.folder / "model.keras").exists()
    assert _history(reg, run.run_id, steps_per_epoch) == (EPOCHS, EPOCHS * steps_per_epoch)
    assert reg.integrity_ok()
    print(f"\nkill-resume: {len(kills)} SIGKILLs at steps {kills}; max epochs lost {max(lost):.2f}; "
          f"gaps or repeats 0; {time.monotonic() - started:.0f}s")
