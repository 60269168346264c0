"""The run registry: real SQLite files in tmp_path, real processes."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rnnstudio.errors import RunError
from rnnstudio.runs import (
    STATUSES,
    RunInfo,
    RunRegistry,
    studio_home,
    write_atomic,
    write_json_atomic,
)

RECIPE = {"task": "forecast", "model": "lstm", "train": {"epochs": 3, "lr": 1e-3}}


@pytest.fixture
def reg(tmp_path: Path) -> RunRegistry:
    return RunRegistry(home=tmp_path)


def _new(reg: RunRegistry, **kw) -> RunInfo:
    kw.setdefault("task", "forecast")
    kw.setdefault("model", "lstm")
    return reg.create_run(dict(RECIPE), **kw)


# -- home, files -----------------------------------------------------------------


def test_studio_home_uses_env_and_creates_it(tmp_path, monkeypatch):
    home = tmp_path / "studio"
    monkeypatch.setenv("RNNSTUDIO_HOME", str(home))
    assert studio_home() == home
    assert home.is_dir()
    reg = RunRegistry()
    assert reg.home == home
    run = _new(reg)
    assert (home / "runs.sqlite").exists()
    assert run.folder == home / "runs" / run.run_id


def test_registry_constructor_is_lazy(tmp_path):
    RunRegistry(home=tmp_path / "nothing-yet")
    assert not (tmp_path / "nothing-yet").exists()


def test_write_atomic_and_json(tmp_path):
    target = tmp_path / "sub" / "f.txt"
    write_atomic(target, "héllo")
    assert target.read_text(encoding="utf-8") == "héllo"
    write_atomic(target, b"bytes")
    assert target.read_bytes() == b"bytes"
    write_json_atomic(tmp_path / "x.json", {"a": float("nan"), "b": [1, 2]})
    back = json.loads((tmp_path / "x.json").read_text())
    assert math.isnan(back["a"]) and back["b"] == [1, 2]
    # no temp files left behind
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["f.txt", "x.json"]


# -- create / get / list ---------------------------------------------------------------


def test_create_get_and_recipe_file(reg):
    run = _new(reg, name="first", owner="ann")
    assert run.status == "created" and run.name == "first" and run.owner == "ann"
    assert run.started is None and run.finished is None and run.duration is None
    assert run.folder.is_dir()
    assert json.loads((run.folder / "recipe.json").read_text()) == RECIPE
    got = reg.get(run.run_id)
    assert got == run
    assert got.recipe == RECIPE and got.summary == {}
    # id shape: YYYYmmdd-HHMMSS-xxxxxx
    date, clock, tail = run.run_id.split("-")
    assert len(date) == 8 and date.isdigit() and len(clock) == 6 and clock.isdigit()
    assert len(tail) == 6 and int(tail, 16) >= 0
    assert _new(reg).name == "forecast-lstm"


def test_list_newest_first_and_filters(reg):
    a = _new(reg, owner="ann")
    time.sleep(0.01)
    b = _new(reg, owner="bob")
    time.sleep(0.01)
    c = _new(reg, owner="ann")
    assert [r.run_id for r in reg.list()] == [c.run_id, b.run_id, a.run_id]
    assert [r.run_id for r in reg.list(owner="ann")] == [c.run_id, a.run_id]
    assert [r.run_id for r in reg.list(limit=2)] == [c.run_id, b.run_id]
    reg.set_status(b.run_id, "queued")
    assert [r.run_id for r in reg.list(status="queued")] == [b.run_id]
    with pytest.raises(RunError):
        reg.list(status="bogus")


def test_prefix_lookup_and_unknown_id(reg):
    run = _new(reg)
    assert reg.get(run.run_id[:17]).run_id == run.run_id  # date-time-first hex digit
    with pytest.raises(RunError) as err:
        reg.get("19990101-000000-abcdef")
    text = str(err.value)
    assert "19990101-000000-abcdef" in text
    assert "python -m rnnstudio runs list" in text
    other = _new(reg)
    common = os.path.commonprefix([run.run_id, other.run_id])
    if common:  # created in the same second/day: a shared prefix is ambiguous
        with pytest.raises(RunError, match="more than one"):
            reg.get(common)
    with pytest.raises(RunError):
        reg.set_status("nope", "running")


# -- status ------------------------------------------------------------------------------


def test_status_transitions_set_timestamps(reg):
    run = _new(reg)
    reg.set_status(run.run_id, "queued")
    r = reg.get(run.run_id)
    assert r.status == "queued" and r.started is None and r.finished is None

    reg.set_status(run.run_id, "running", pid=4242)
    r = reg.get(run.run_id)
    assert r.status == "running" and r.pid == 4242
    assert r.started is not None and r.finished is None
    assert r.duration is not None and r.duration >= 0
    started = r.started

    time.sleep(0.01)
    reg.set_status(run.run_id, "failed", error="boom")
    r = reg.get(run.run_id)
    assert r.status == "failed" and r.error == "boom" and r.pid is None
    assert r.finished is not None and r.finished >= r.started
    assert r.duration == pytest.approx(r.finished - r.started)

    reg.set_status(run.run_id, "running")  # resume: keeps first start, clears end/error
    r = reg.get(run.run_id)
    assert r.started == started and r.finished is None and r.error is None
    assert r.pid == os.getpid()

    reg.set_status(run.run_id, "completed")
    r = reg.get(run.run_id)
    assert r.status == "completed" and r.finished is not None and r.error is None
    with pytest.raises(ValueError):
        reg.set_status(run.run_id, "exploded")
    assert set(STATUSES) >= {r.status}


def test_claim(reg):
    run = _new(reg)
    assert reg.claim(run.run_id, 111) is True
    r = reg.get(run.run_id)
    assert r.status == "running" and r.pid == 111 and r.started is not None
    assert reg.claim(run.run_id, 222) is False
    assert reg.get(run.run_id).pid == 111
    for status in ("stopped", "interrupted", "failed"):
        reg.set_status(run.run_id, status)
        assert reg.claim(run.run_id, 333) is True
    reg.set_status(run.run_id, "queued")
    assert reg.claim(run.run_id, 333) is False  # a worker waits for it: that session won
    reg.set_status(run.run_id, "completed")
    with pytest.raises(RunError):
        reg.claim(run.run_id, 444)


def test_summary_merge(reg):
    run = _new(reg)
    reg.update_summary(run.run_id, {"best_val_loss": 0.5, "epochs": 1})
    reg.update_summary(run.run_id, {"epochs": 2, "bad": float("nan"), "big": float("inf")})
    s = reg.get(run.run_id).summary
    assert s["best_val_loss"] == 0.5 and s["epochs"] == 2
    assert math.isnan(s["bad"]) and s["big"] == float("inf")


# -- metrics -----------------------------------------------------------------------------


def test_metrics_replace_on_rewrite_and_order(reg):
    run = _new(reg)
    reg.log_metrics(run.run_id, epoch=2, step=None, values={"loss": 0.4})
    reg.log_metrics(run.run_id, epoch=1, step=None, values={"loss": 0.9, "val_loss": 1.0})
    reg.log_metrics(run.run_id, epoch=1, step=None, values={"loss": 0.8})  # rewrite replaces
    rows = reg.metrics(run.run_id)
    assert rows == [
        {"epoch": 1, "step": None, "loss": 0.8},
        {"epoch": 2, "step": None, "loss": 0.4},
    ]
    # step rows are separate from epoch rows
    reg.log_metrics_many(run.run_id, [(1, 0, {"loss": 1.0}), (1, 1, {"loss": 0.9})])
    reg.log_metrics_many(run.run_id, [(1, 1, {"loss": 0.7})])
    assert reg.metrics(run.run_id, kind="step") == [
        {"epoch": 1, "step": 0, "loss": 1.0},
        {"epoch": 1, "step": 1, "loss": 0.7},
    ]
    assert len(reg.metrics(run.run_id)) == 2
    with pytest.raises(ValueError):
        reg.log_metrics(run.run_id, epoch=1, step=None, values={"loss": 1}, kind="batch")


def test_truncate_metrics_for_resume(reg):
    run = _new(reg)
    for epoch in range(5):
        reg.log_metrics(run.run_id, epoch=epoch, step=None, values={"loss": 1.0 / (epoch + 1)})
        reg.log_metrics_many(run.run_id, [(epoch, s, {"loss": float(s)}) for s in range(3)])
    reg.truncate_metrics(run.run_id, after_epoch=2)
    assert [r["epoch"] for r in reg.metrics(run.run_id)] == [0, 1, 2]
    assert {r["epoch"] for r in reg.metrics(run.run_id, kind="step")} == {0, 1, 2}
    # re-training epochs 3..4 does not duplicate anything
    for epoch in (3, 4):
        reg.log_metrics(run.run_id, epoch=epoch, step=None, values={"loss": 0.1})
    assert [r["epoch"] for r in reg.metrics(run.run_id)] == [0, 1, 2, 3, 4]


def test_nan_and_inf_round_trip(reg):
    run = _new(reg)
    reg.log_metrics(
        run.run_id,
        epoch=0,
        step=None,
        values={"loss": float("nan"), "up": float("inf"), "down": float("-inf")},
    )
    (row,) = reg.metrics(run.run_id)
    assert math.isnan(row["loss"]) and isinstance(row["loss"], float)
    assert row["up"] == float("inf") and row["down"] == float("-inf")


# -- delete / reconcile / integrity --------------------------------------------------------


def test_delete_removes_row_metrics_and_folder(reg):
    run = _new(reg)
    keep = _new(reg)
    (run.folder / "model.keras").write_bytes(b"x" * 10)
    reg.log_metrics(run.run_id, epoch=0, step=None, values={"loss": 1.0})
    reg.log_metrics(keep.run_id, epoch=0, step=None, values={"loss": 1.0})
    reg.delete(run.run_id)
    assert not run.folder.exists()
    with pytest.raises(RunError):
        reg.get(run.run_id)
    assert [r.run_id for r in reg.list()] == [keep.run_id]
    assert len(reg.metrics(keep.run_id)) == 1
    # orphaned metric rows are gone too
    rows = reg._read(lambda con: con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0])
    assert rows == 1
    # a run whose process is alive is refused unless forced
    reg.set_status(keep.run_id, "running", pid=os.getpid())
    with pytest.raises(RunError, match="still running"):
        reg.delete(keep.run_id)
    reg.delete(keep.run_id, force=True)
    assert reg.list() == []


def test_reconcile_marks_dead_pids_interrupted(reg):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead, alive, idle = _new(reg), _new(reg), _new(reg)
    reg.set_status(dead.run_id, "running", pid=proc.pid)
    reg.set_status(alive.run_id, "running", pid=os.getpid())
    assert reg.reconcile() == [dead.run_id]
    d = reg.get(dead.run_id)
    assert d.status == "interrupted" and d.finished is not None and d.pid is None
    a = reg.get(alive.run_id)
    assert a.status == "running" and a.pid == os.getpid()
    assert reg.get(idle.run_id).status == "created"
    assert reg.reconcile() == []
    assert reg.claim(dead.run_id, os.getpid()) is True  # an interrupted run can be resumed


def test_integrity_and_schema_version(reg, tmp_path):
    _new(reg)
    assert reg.integrity_ok()
    import sqlite3

    con = sqlite3.connect(tmp_path / "runs.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA user_version").fetchone()[0] >= 1
    con.close()
    # reopening (a second registry) is idempotent
    again = RunRegistry(home=tmp_path)
    assert len(again.list()) == 1 and again.integrity_ok()


def test_usable_from_threads_and_after_pickle(reg):
    import pickle
    import threading

    run = _new(reg)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                reg.log_metrics(run.run_id, epoch=n, step=i, values={"x": i}, kind="step")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(reg.metrics(run.run_id, kind="step")) == 200
    copy = pickle.loads(pickle.dumps(reg))
    assert copy.get(run.run_id).run_id == run.run_id


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_safe_after_fork(reg):
    run = _new(reg)
    reg.log_metrics(run.run_id, epoch=0, step=None, values={"loss": 1.0})  # parent connection open
    pid = os.fork()
    if pid == 0:  # child: must open its own connection, never reuse the parent's
        code = 1
        try:
            for e in range(1, 20):
                reg.log_metrics(run.run_id, epoch=e, step=None, values={"loss": 1.0})
            code = 0
        finally:
            os._exit(code)
    for e in range(20, 40):
        reg.log_metrics(run.run_id, epoch=e, step=None, values={"loss": 1.0})
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [r["epoch"] for r in reg.metrics(run.run_id)] == list(range(40))
    assert reg.integrity_ok()


# -- multiple processes ----------------------------------------------------------------------

N_WORKERS = 4
ROWS_EACH = 1000
SHARED_EACH = 100


def _writer(home: str, own_id: str, shared_id: str, worker: int, barrier, out) -> None:
    try:
        reg = RunRegistry(home=home)
        barrier.wait(timeout=60)
        for i in range(ROWS_EACH):
            reg.log_metrics(own_id, epoch=i // 100, step=i, values={"loss": 1.0 / (i + 1)}, kind="step")
            if i % 10 == 0:  # interleave writes to the shared run
                reg.log_metrics(
                    shared_id, epoch=worker, step=i // 10, values={"w": float(worker)}, kind="step"
                )
        # a batch to the shared run too, and a summary key of our own
        reg.log_metrics_many(
            shared_id, [(100 + worker, s, {"w": float(worker)}) for s in range(50)], kind="step"
        )
        reg.update_summary(shared_id, {f"worker{worker}": worker})
        reg.log_metrics(own_id, epoch=0, step=None, values={"done": 1.0})
        out.put((worker, None))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put((worker, repr(exc)))


def test_concurrent_writers_in_processes(tmp_path):
    reg = RunRegistry(home=tmp_path)
    own = [_new(reg).run_id for _ in range(N_WORKERS)]
    shared = _new(reg).run_id
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_WORKERS)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(tmp_path), own[w], shared, w, barrier, out))
        for w in range(N_WORKERS)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(results) == [(w, None) for w in range(N_WORKERS)]
    for run_id in own:
        assert len(reg.metrics(run_id, kind="step")) == ROWS_EACH
        assert len(reg.metrics(run_id, kind="epoch")) == 1
    shared_rows = reg.metrics(shared, kind="step")
    assert len(shared_rows) == N_WORKERS * (SHARED_EACH + 50)
    assert reg.get(shared).summary == {f"worker{w}": w for w in range(N_WORKERS)}
    assert reg.integrity_ok()


def _claimer(home: str, run_ids: list[str], barrier, out) -> None:
    reg = RunRegistry(home=home)
    for run_id in run_ids:
        try:
            barrier.wait(timeout=60)
            out.put((run_id, os.getpid(), reg.claim(run_id, os.getpid())))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out.put((run_id, os.getpid(), repr(exc)))


def test_claim_race_has_exactly_one_winner(tmp_path):
    reg = RunRegistry(home=tmp_path)
    rounds = 20
    run_ids = [_new(reg).run_id for _ in range(rounds)]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)  # reused: both processes claim each run at the same moment
    out = ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(str(tmp_path), run_ids, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in range(2 * rounds)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    by_run: dict[str, list] = {}
    for run_id, pid, won in results:
        assert isinstance(won, bool), won
        by_run.setdefault(run_id, []).append((pid, won))
    assert set(by_run) == set(run_ids)
    for run_id, claims in by_run.items():
        winners = [pid for pid, won in claims if won]
        assert len(claims) == 2 and len(winners) == 1, (run_id, claims)
        info = reg.get(run_id)
        assert info.status == "running" and info.pid == winners[0]
    assert reg.integrity_ok()
