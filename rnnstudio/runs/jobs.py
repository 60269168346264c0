"""The job queue: each run trains in its own worker process, apart from the app.

The app (or any caller) only writes the registry and spawns a worker; it
never imports TensorFlow. A worker waits until its run is first in the queue
and a slot is free, then trains, writing progress to the registry, which the
pages read. Workers start in their own session, so a closed browser tab, a
page rerun or a restarted app server never stops or duplicates a run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from rnnstudio.errors import RunError
from rnnstudio.limits import LimitError, session_max_runs, session_runs_error
from rnnstudio.runs.registry import RunInfo, RunRegistry

__all__ = ["submit", "submit_seeds", "start", "check_session_runs", "request_stop", "max_running", "run_worker",
           "WORKER_LOG"]

WORKER_LOG = "worker.log"
POLL_SECONDS = 1.0


def max_running() -> int:
    """Concurrent trainings: ``$RNNSTUDIO_MAX_RUNS``, else one per GPU, one on a CPU-only machine."""
    configured = os.environ.get("RNNSTUDIO_MAX_RUNS")
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise RunError(f"RNNSTUDIO_MAX_RUNS must be a whole number, got '{configured}'.",
                           fix="set it to 1, 2, ... or unset it.") from None
    import tensorflow as tf  # only workers call this; they train with TensorFlow anyway

    return max(1, len(tf.config.list_physical_devices("GPU")))


def submit(recipe, *, registry: RunRegistry | None = None, owner: str | None = None,
           name: str | None = None, group: dict | None = None) -> RunInfo:
    """Registers ``recipe`` (a Recipe) as a new run, queues it and starts its worker.

    ``group`` ({"id", "kind", "label", ...}) tags runs queued together; see rnnstudio.runs.groups.
    """
    registry = registry or RunRegistry()
    check_session_runs(registry, owner)
    run = registry.create_run(recipe.to_dict(), task=recipe.data.task or "", model=recipe.model.name,
                              name=name or recipe.name, owner=owner)
    if group:
        registry.update_summary(run.run_id, {"group": group})
    try:
        start(run.run_id, registry=registry)
    except LimitError:  # another start of this session took the last slot meanwhile: leave no stray run
        registry.delete(run.run_id)
        raise
    return registry.get(run.run_id)


def submit_seeds(run_id: str, n: int, *, registry: RunRegistry | None = None, owner: str | None = None) -> list[RunInfo]:
    """Queues run ``run_id``'s Recipe again under ``n`` seeds as one group, so the spread of results shows.

    Seeds are the original's training seed and the next ``n - 1`` whole numbers (for weights, dropout and batch
    order); the data split keeps its seed, so every run sees the same examples. Returns the new runs.
    """
    import uuid

    from rnnstudio.recipe import recipe_from_dict

    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= 20:
        raise RunError(f"the number of seeds must be a whole number from 2 to 20; got {n!r}.",
                       fix="Rerun with e.g. 5 seeds.")
    registry = registry or RunRegistry()
    source = registry.get(run_id)
    recipe = recipe_from_dict(source.recipe)
    group = f"seeds-{source.run_id}-{uuid.uuid4().hex[:6]}"
    runs = []
    for seed in range(recipe.train.seed, recipe.train.seed + n):
        seeded = recipe.with_overrides({"train.seed": seed})
        runs.append(submit(seeded, registry=registry, owner=owner, name=f"{source.name} · seed {seed}",
                           group={"id": group, "kind": "seeds", "label": f"seed {seed}", "source": source.run_id,
                                  "seed": seed}))
    return runs


def check_session_runs(registry: RunRegistry, owner: str | None) -> None:
    """Refuses a new run for ``owner`` when it has ``session_max_runs()`` queued or running already.

    A check before creating the run; :func:`start` checks again atomically while it queues.
    """
    if owner is None:
        return  # the command line and scripts are not sessions of a shared server
    cap = session_max_runs()
    active = sum(r.status in ("queued", "running") for r in registry.list(owner=owner))
    if active >= cap:
        raise session_runs_error(active, cap)


def start(run_id: str, *, registry: RunRegistry | None = None) -> bool:
    """Queues a created, stopped, interrupted or failed run and starts its worker.

    Returns False (and starts nothing) when the run is already queued or
    running, so two sessions that press Start together start it once.
    """
    registry = registry or RunRegistry()
    registry.reconcile()
    if not registry.enqueue(run_id, owner_cap=session_max_runs()):
        return False
    run = registry.get(run_id)
    (run.folder / "STOP").unlink(missing_ok=True)
    try:
        process = _spawn(registry, run.run_id, run.folder)
    except OSError as exc:  # out of processes, memory or disk: the run must not wait in the queue for ever
        reason = f"its worker process could not be started: {exc}"
        registry.set_status(run.run_id, "failed", error=reason)
        raise RunError(f"Run '{run.run_id}' could not start: {reason}.",
                       fix="free memory or processes on the server, then press Resume.") from exc
    registry.set_worker(run.run_id, process.pid)
    return True


def _spawn(registry: RunRegistry, run_id: str, folder: Path) -> subprocess.Popen:
    env = dict(os.environ, RNNSTUDIO_HOME=str(registry.home), TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    with open(folder / WORKER_LOG, "ab") as log:
        # A new session: the worker outlives the app process and ignores its Ctrl-C.
        return subprocess.Popen([sys.executable, "-m", "rnnstudio", "worker", run_id], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(folder),
                                start_new_session=True, close_fds=True)


def request_stop(run_id: str, *, registry: RunRegistry | None = None) -> str:
    """Stops a run gracefully: a queued run leaves the queue, a running one checkpoints and stops.

    Returns what happened: "cancelled", "stopping" or the run's final status.
    """
    registry = registry or RunRegistry()
    if registry.cancel_queued(run_id):
        return "cancelled"
    run = registry.get(run_id)
    if run.status == "running":
        (run.folder / "STOP").touch()
        return "stopping"
    return run.status


def run_worker(run_id: str, *, registry: RunRegistry | None = None, callbacks=()) -> int:
    """The worker process's body: wait for a slot, then train (resuming from a checkpoint if any)."""
    from rnnstudio.train.runner import execute_claimed

    registry = registry or RunRegistry()
    pid = os.getpid()
    registry.set_worker(run_id, pid)
    slots = max_running()
    while True:
        registry.reconcile()
        if registry.claim_slot(run_id, pid, max_running=slots):
            break
        if registry.get(run_id).status != "queued":
            return 0  # cancelled while waiting
        time.sleep(POLL_SECONDS)
    execute_claimed(registry, run_id, callbacks=callbacks)
    return 0
