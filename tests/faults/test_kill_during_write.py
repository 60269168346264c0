"""A kill at any moment of a checkpoint or an export leaves the previous one whole and loadable."""

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

from rnnstudio.export import run as export
from rnnstudio.runs import RunRegistry
from rnnstudio.runs.faults import DiskFullError
from rnnstudio.train.checkpoints import CheckpointStore
from tests.faults.helpers import Model, Optimizer, State, fills

ROOT = Path(__file__).resolve().parents[2]

# Saves checkpoint 1, then checkpoint 2 with a SIGKILL at the KILL_AT-th file-system step (fsync or rename)
# or, for KILL_AT == 0, half-way through writing the arrays.
_CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    from rnnstudio.train.checkpoints import CheckpointStore
    from tests.faults.helpers import KillOnCall, Model, Optimizer, State

    folder, kill_at = sys.argv[1], int(sys.argv[2])
    store = CheckpointStore(folder)
    store.save_best([v.numpy() for v in Model(1.0).weights])
    store.save(Model(1.0), Optimizer(1.0), State(epoch=1, step=10))
    killer = KillOnCall(kill_at)
    dying = killer.wrap

    if kill_at == 0:
        real_savez = np.savez
        def half_savez(fh, *arrays):
            fh.write(b"PK\\x03\\x04 half an npz")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        np.savez = half_savez
    else:
        os.fsync, os.replace = dying(os.fsync), dying(os.replace)
    store.save_best([v.numpy() for v in Model(2.0).weights])
    store.save(Model(2.0), Optimizer(2.0), State(epoch=2, step=20))
    print("steps", killer.calls)
""")


def _save_and_die(folder: Path, kill_at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CHILD, str(folder), str(kill_at)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _restored(folder: Path) -> tuple[set, int, set]:
    store = CheckpointStore(folder)
    model, optimizer = Model(0.0), Optimizer(0.0)
    state = store.restore(model, optimizer)
    best = {float(v) for a in store.load_best() or [] for v in np.unique(a)}
    return fills(model, optimizer), state["epoch"], best


def test_a_kill_at_every_step_of_a_checkpoint_write_leaves_a_whole_checkpoint(tmp_path):
    full = _save_and_die(tmp_path / "count", kill_at=-1)
    assert full.returncode == 0, full.stderr
    steps = int(full.stdout.split()[-1])
    assert steps >= 6  # fsync + rename of the best weights, the arrays and latest.json
    for kill_at in range(0, steps + 1):
        folder = tmp_path / f"kill-{kill_at}"
        done = _save_and_die(folder, kill_at)
        assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr)
        values, epoch, best = _restored(folder)
        # Weights, optimizer state, loop state and best weights come from the same checkpoint, never a mix.
        assert (values, epoch, best) in [({1.0}, 1, {1.0}), ({2.0}, 2, {2.0})], kill_at
        # The next save after the crash works and tidies what the killed one left behind.
        store = CheckpointStore(folder)
        store.save(Model(3.0), Optimizer(3.0), State(epoch=3, step=30))
        assert _restored(folder)[:2] == ({3.0}, 3)
        assert not list(folder.glob(".*.tmp"))


def test_files_a_killed_save_wrote_but_never_named_do_not_push_out_the_latest(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(Model(1.0), Optimizer(1.0), State(epoch=1, step=10))
    for orphan in ("step-000000050.npz", "step-000000060.npz"):  # newer names, never made latest
        (tmp_path / orphan).write_bytes(b"junk")
    store.save(Model(2.0), Optimizer(2.0), State(epoch=1, step=15))  # e.g. a graceful stop mid-epoch
    assert _restored(tmp_path)[0] == {2.0}
    assert sorted(p.name for p in tmp_path.glob("step-*.npz")) == ["step-000000010.npz", "step-000000015.npz"]


def test_disk_full_during_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save_best([v.numpy() for v in Model(1.0).weights])
    store.save(Model(1.0), Optimizer(1.0), State(epoch=1, step=10))

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", no_space)
    with pytest.raises(DiskFullError, match=f"disk full: free space in {tmp_path}") as caught:
        store.save(Model(2.0), Optimizer(2.0), State(epoch=2, step=20))
    assert caught.value.fix and "runs delete" in caught.value.fix
    assert _restored(tmp_path) == ({1.0}, 1, {1.0})
    assert not list(tmp_path.glob(".*.tmp"))


# -- exports ---------------------------------------------------------------------------------

def _completed_run(reg: RunRegistry):
    run = reg.create_run({"name": "done"}, task="forecasting", model="rnn")
    (run.folder / "model.keras").write_bytes(b"model")
    reg.set_status(run.run_id, "completed")
    return run


def _fake_export(version: str):
    def write(run, formats, folder):
        for name in ("model.keras", "pipeline.json", "MODEL_CARD.md", "model_card.json"):
            (folder / name).write_text(version)
        return {"paths": {"keras": str(folder / "model.keras")}, "verification": {}, "card": {}}

    return write


def _export_version(folder: Path) -> str:
    texts = {(folder / n).read_text() for n in ("model.keras", "pipeline.json", "MODEL_CARD.md", "model_card.json")}
    assert len(texts) == 1, texts  # never half of one export and half of another
    return texts.pop()


_EXPORT_CHILD = textwrap.dedent("""
    import os, shutil, signal, sys
    from rnnstudio.export import run as export
    from tests.faults.helpers import KillOnCall
    from tests.faults.test_kill_during_write import _fake_export

    run_id, kill_at = sys.argv[1], int(sys.argv[2])
    export._export_into = _fake_export("v2")
    killer = KillOnCall(kill_at)
    dying = killer.wrap

    os.replace, shutil.rmtree = dying(os.replace), dying(shutil.rmtree)
    export.export_run(run_id, ["keras"])
    print("steps", killer.calls)
""")


def test_a_kill_while_an_export_replaces_the_previous_one_never_leaves_a_broken_export(studio_home, monkeypatch):
    reg = RunRegistry()
    run = _completed_run(reg)
    monkeypatch.setattr(export, "_export_into", _fake_export("v1"))
    target = Path(export.export_run(run.run_id, ["keras"])["folder"])
    assert _export_version(target) == "v1"
    steps = None
    for kill_at in range(1, 8):
        done = subprocess.run([sys.executable, "-c", _EXPORT_CHILD, run.run_id, str(kill_at)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        if done.returncode == 0:
            steps = int(done.stdout.split()[-1])
            break
        assert done.returncode == -signal.SIGKILL, done.stderr
        export.recover_export(target)  # what the next export does first
        assert _export_version(target) in ("v1", "v2"), kill_at
        assert not target.with_name(".export.previous").exists()
        monkeypatch.setattr(export, "_export_into", _fake_export("v1"))
        export.export_run(run.run_id, ["keras"])  # back to v1 for the next kill point
    assert steps is not None and steps >= 2
    assert _export_version(target) == "v2"


def test_disk_full_during_an_export_keeps_the_previous_export(studio_home, monkeypatch):
    reg = RunRegistry()
    run = _completed_run(reg)
    monkeypatch.setattr(export, "_export_into", _fake_export("v1"))
    target = Path(export.export_run(run.run_id, ["keras"])["folder"])

    def no_space(run, formats, folder):
        (folder / "model.keras").write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export, "_export_into", no_space)
    with pytest.raises(DiskFullError, match=f"disk full: free space in {target.parent}"):
        export.export_run(run.run_id, ["keras"])
    assert _export_version(target) == "v1"
    assert sorted(p.name for p in target.parent.iterdir() if p.name.startswith(".export")) == []
    assert json.loads(json.dumps(reg.get(run.run_id).summary["export"]))["folder"] == str(target)
    assert reg.integrity_ok()
