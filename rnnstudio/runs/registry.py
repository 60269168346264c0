"""The run registry: one SQLite database (WAL) plus one folder per run.

A run is one training of one Recipe. Everything about a run that must be
queried (status, timestamps, summary, per-epoch and per-step metrics) lives in
``<home>/runs.sqlite``; the files a run produces (``recipe.json``, checkpoints,
exported models, ...) live in ``<home>/runs/<run_id>/``.

Several processes (the app, the command line, training workers) use the same
database at once. Each process *and* thread gets its own connection (a
connection inherited through ``fork`` is never used or closed by the child);
every write is a short ``BEGIN IMMEDIATE`` transaction, so writers queue on
SQLite's lock instead of failing, and a ``database is locked`` error that still
gets through after the 30 s busy timeout is retried with backoff.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from rnnstudio.errors import RunError
from rnnstudio.limits import session_runs_error
from rnnstudio.runs.faults import DiskFullError, disk_full_guard, is_disk_full
from rnnstudio.runs.files import json_dumps, write_json_atomic
from rnnstudio.workspace import check_run_id

__all__ = ["STATUSES", "RunInfo", "RunRegistry", "studio_home", "SCHEMA_VERSION"]

T = TypeVar("T")

STATUSES = ("created", "queued", "running", "completed", "failed", "stopped", "interrupted")
#: Statuses ``claim`` may move to "running".
CLAIMABLE = ("created", "queued", "stopped", "interrupted", "failed")
#: Statuses that end a run: they set ``finished`` and clear ``pid``.
FINAL = ("completed", "failed", "stopped", "interrupted")
METRIC_KINDS = ("epoch", "step")

SCHEMA_VERSION = 2
#: Statements that bring a database from version N-1 to N (tables made by _SCHEMA are already current).
_MIGRATIONS = {2: ["ALTER TABLE runs ADD COLUMN queued REAL"]}
SPAWN_GRACE_SECONDS = 120.0  # a queued run gets a worker within moments; after this it never will
_NO_STEP = -1  # stored instead of NULL so (run_id, kind, epoch, step) stays unique
_LIST_HINT = "run `python -m rnnstudio runs list` to see the run ids."

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id   TEXT PRIMARY KEY,
    name     TEXT NOT NULL,
    task     TEXT NOT NULL,
    model    TEXT NOT NULL,
    status   TEXT NOT NULL,
    created  REAL NOT NULL,
    started  REAL,
    finished REAL,
    recipe   TEXT NOT NULL DEFAULT '{}',
    summary  TEXT NOT NULL DEFAULT '{}',
    error    TEXT,
    pid      INTEGER,
    owner    TEXT,
    queued   REAL
);
CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (owner);
CREATE TABLE IF NOT EXISTS metrics (
    run_id      TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    epoch       INTEGER NOT NULL,
    step        INTEGER NOT NULL DEFAULT -1,
    values_json TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS metrics_key ON metrics (run_id, kind, epoch, step);
"""

# Connections inherited through fork: never used, never closed (closing could
# checkpoint or delete the parent's WAL); kept here so the GC does not close them.
_ABANDONED: list[sqlite3.Connection] = []
# (process id, home) pairs whose runs were reconciled when this process first opened the registry.
_RECONCILED: set[tuple[int, str]] = set()


def _home_path() -> Path:
    return Path(os.environ.get("RNNSTUDIO_HOME", "~/.rnnstudio")).expanduser()


def studio_home() -> Path:
    """The rnnstudio home folder (``$RNNSTUDIO_HOME`` or ``~/.rnnstudio``), created if missing."""
    home = _home_path()
    home.mkdir(parents=True, exist_ok=True)
    return home


def _pid_alive(pid: int | None) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid is None or pid <= 0:
        return False
    if os.name == "nt":  # os.kill(pid, 0) would *terminate* the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        try:
            code = ctypes.c_ulong()
            if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
                return False
            return code.value == 259  # STILL_ACTIVE
        finally:
            kernel32.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except OSError:
        return False
    return True


def _loads(text: str | None, default: Any) -> Any:
    if text is None:
        return default
    return json.loads(text)  # parses NaN / Infinity back to float


def _clean_values(values: dict) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in values.items():
        key = str(key)
        if key in ("epoch", "step"):
            raise ValueError(f"metric name {key!r} is reserved; pass it as the epoch/step argument")
        if value is None:
            out[key] = None
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"metric {key!r} must be a number, got {value!r}") from None
    return out


def _step_key(step: int | None) -> int:
    if step is None:
        return _NO_STEP
    step = int(step)
    if step < 0:
        raise ValueError(f"step must be >= 0 or None, got {step}")
    return step


def _check_kind(kind: str) -> None:
    if kind not in METRIC_KINDS:
        raise ValueError(f"metric kind must be one of {METRIC_KINDS}, got {kind!r}")


def _refuse_unstartable(run_id: str, status: str) -> None:
    if status not in CLAIMABLE:
        raise RunError(f"Run '{run_id}' is {status} and cannot be started again.",
                       fix="start a new run from its recipe instead.")


def _mark_running(con: sqlite3.Connection, run_id: str, pid: int) -> None:
    con.execute(
        "UPDATE runs SET status = 'running', pid = ?, started = COALESCE(started, ?),"
        " finished = NULL, error = NULL WHERE run_id = ?",
        (int(pid), time.time(), run_id),
    )


def _gone_running(pid: int | None) -> str:
    return f"process {pid} ended without finishing the run"


def _gone_queued(pid: int | None) -> str:
    return f"worker process {pid} ended before the run started"


def _never_spawned(seconds: float) -> str:
    return (f"its worker process never started (queued {seconds:.0f} s ago without one; the server may have "
            "stopped or run out of processes); press Resume to queue it again")


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@dataclass(frozen=True)
class RunInfo:
    """One run, as read from the registry (a snapshot; re-``get`` for fresh values)."""

    run_id: str
    name: str
    task: str
    model: str
    status: str
    created: float
    started: float | None
    finished: float | None
    recipe: dict = field(repr=False)
    summary: dict
    error: str | None
    pid: int | None
    owner: str | None
    folder: Path

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish; up to now while running; None if never started."""
        if self.started is None:
            return None
        if self.finished is not None:
            return max(0.0, self.finished - self.started)
        if self.status == "running":
            return max(0.0, time.time() - self.started)
        return None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


class RunRegistry:
    """Runs in ``home`` (default: :func:`studio_home`). Cheap to create; opens the database lazily.

    Safe to share between threads and to use after ``fork``; picklable (only the
    home path travels), so it can be handed to ``multiprocessing`` workers.
    """

    MAX_ATTEMPTS = 6  # retries of a "database is locked" that outlived busy_timeout

    def __init__(self, home: Path | str | None = None):
        self.home = Path(home).expanduser() if home is not None else _home_path()
        self._local = threading.local()

    # -- pickling / repr ----------------------------------------------------
    def __getstate__(self) -> dict:
        return {"home": str(self.home)}

    def __setstate__(self, state: dict) -> None:
        self.home = Path(state["home"])
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"RunRegistry(home={str(self.home)!r})"

    @property
    def db_path(self) -> Path:
        return self.home / "runs.sqlite"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def folder(self, run_id: str) -> Path:
        return self.runs_dir / check_run_id(run_id)  # an id never climbs out of the runs folder

    # -- connections ----------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        local = self._local
        con = getattr(local, "con", None)
        if con is not None:
            if local.pid == os.getpid():
                return con
            _ABANDONED.append(con)  # inherited through fork: do not touch
            local.con = None
        con = self._open()
        local.con, local.pid = con, os.getpid()
        self._reconcile_once()
        return con

    def _reconcile_once(self) -> None:
        # A process's first look at the registry (a restarted app server, a CLI command) frees runs whose process died.
        key = (os.getpid(), str(self.home))
        if key not in _RECONCILED:
            _RECONCILED.add(key)
            self.reconcile()

    def _open(self) -> sqlite3.Connection:
        self.home.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(
            str(self.db_path), timeout=30.0, isolation_level=None, check_same_thread=True
        )
        try:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA busy_timeout=30000")
            self._retry(lambda: con.execute("PRAGMA journal_mode=WAL").fetchone())
            con.execute("PRAGMA synchronous=NORMAL")
            con.execute("PRAGMA foreign_keys=ON")
            self._retry(lambda: self._ensure_schema(con))
        except BaseException:
            con.close()
            raise
        return con

    def _ensure_schema(self, con: sqlite3.Connection) -> None:
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise RunError(
                f"The run database {self.db_path} was written by a newer rnnstudio "
                f"(schema {version}, this one knows {SCHEMA_VERSION}).",
                fix="upgrade rnnstudio, or set RNNSTUDIO_HOME to another folder.",
            )
        con.execute("BEGIN IMMEDIATE")
        try:
            existing = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'runs'").fetchone()
            if existing and version:
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _MIGRATIONS.get(target, []):
                        con.execute(statement)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection (it is reopened on next use)."""
        con = getattr(self._local, "con", None)
        if con is not None and self._local.pid == os.getpid():
            con.close()
        self._local.con = None

    def _retry(self, fn: Callable[[], T]) -> T:
        delay = 0.05
        for attempt in range(self.MAX_ATTEMPTS):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if is_disk_full(exc):  # the transaction was rolled back: what was stored before is intact
                    raise DiskFullError(self.home) from exc
                if not _is_locked(exc):
                    raise
                if attempt == self.MAX_ATTEMPTS - 1:
                    raise RunError(
                        f"The run database {self.db_path} stayed locked by another program.",
                        fix="close other rnnstudio windows or processes using this folder and try again.",
                    ) from exc
                time.sleep(delay * (1.0 + random.random()))
                delay = min(delay * 2, 2.0)
        raise AssertionError("unreachable")

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction (retried whole when locked)."""

        def attempt() -> T:
            con = self._conn()
            con.execute("BEGIN IMMEDIATE")
            try:
                result = fn(con)
                con.execute("COMMIT")
                return result
            except BaseException:
                if con.in_transaction:
                    try:
                        con.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

        return self._retry(attempt)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._retry(lambda: fn(self._conn()))

    # -- helpers ----------------------------------------------------------------
    def _resolve(self, con: sqlite3.Connection, run_id: str) -> str:
        """Full run id for ``run_id`` or a unique prefix of one; RunError otherwise."""
        run_id = str(run_id).strip()
        if run_id:
            check_run_id(run_id)
        if not run_id:
            raise RunError("No run id given.", fix=_LIST_HINT)
        row = con.execute("SELECT run_id FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is not None:
            return row[0]
        rows = con.execute(
            "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id LIMIT 6",
            (run_id, run_id + "\U0010ffff"),
        ).fetchall()
        if len(rows) == 1:
            return rows[0][0]
        if not rows:
            raise RunError(f"There is no run with id '{run_id}' in {self.home}.", fix=_LIST_HINT)
        shown = ", ".join(r[0] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise RunError(
            f"'{run_id}' matches more than one run: {shown}.",
            fix="type more characters of the id, or " + _LIST_HINT,
        )

    def _info(self, row: sqlite3.Row) -> RunInfo:
        return RunInfo(
            run_id=row["run_id"],
            name=row["name"],
            task=row["task"],
            model=row["model"],
            status=row["status"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            recipe=_loads(row["recipe"], {}),
            summary=_loads(row["summary"], {}),
            error=row["error"],
            pid=row["pid"],
            owner=row["owner"],
            folder=self.folder(row["run_id"]),
        )

    def _new_id(self, now: float) -> str:
        # UTC so ids sort by creation time even across daylight-saving changes.
        return f"{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-{secrets.token_hex(3)}"

    # -- runs -------------------------------------------------------------------
    def create_run(
        self,
        recipe: dict,
        *,
        task: str,
        model: str,
        name: str | None = None,
        owner: str | None = None,
    ) -> RunInfo:
        """Register a new run (status "created"), make its folder and write ``recipe.json`` there."""
        recipe_text = json_dumps(recipe)  # fail early on an unserialisable recipe
        recipe_copy = json.loads(recipe_text)
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            now = time.time()
            run_id = self._new_id(now)
            folder = self.folder(run_id)
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            break
        else:  # pragma: no cover - 100 collisions of 24 random bits
            raise RunError("Could not pick a new run id.", fix="try again.")
        run_name = name if name else f"{task}-{model}"
        try:
            with disk_full_guard(folder):
                write_json_atomic(folder / "recipe.json", recipe_copy)

            def insert(con: sqlite3.Connection) -> None:
                con.execute(
                    "INSERT INTO runs (run_id, name, task, model, status, created, recipe, summary, owner)"
                    " VALUES (?, ?, ?, ?, 'created', ?, ?, '{}', ?)",
                    (run_id, run_name, str(task), str(model), now, recipe_text, owner),
                )

            self._write(insert)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return RunInfo(
            run_id=run_id, name=run_name, task=str(task), model=str(model), status="created",
            created=now, started=None, finished=None, recipe=recipe_copy, summary={},
            error=None, pid=None, owner=owner, folder=folder,
        )  # fmt: skip

    def get(self, run_id: str) -> RunInfo:
        """The run with this id (or unique id prefix); RunError if there is none."""

        def read(con: sqlite3.Connection) -> RunInfo:
            full = self._resolve(con, run_id)
            row = con.execute("SELECT * FROM runs WHERE run_id = ?", (full,)).fetchone()
            if row is None:  # deleted between the two statements
                raise RunError(f"There is no run with id '{run_id}' in {self.home}.", fix=_LIST_HINT)
            return self._info(row)

        return self._read(read)

    def list(
        self, *, owner: str | None = None, status: str | None = None, limit: int | None = None
    ) -> list[RunInfo]:
        """Runs, newest first, optionally only one owner's / one status."""
        if status is not None and status not in STATUSES:
            raise RunError(
                f"Unknown run status '{status}'.", fix=f"use one of: {', '.join(STATUSES)}."
            )
        sql = "SELECT * FROM runs"
        where, args = [], []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, run_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(max(0, int(limit)))
        return self._read(lambda con: [self._info(r) for r in con.execute(sql, args).fetchall()])

    def set_status(
        self, run_id: str, status: str, *, error: str | None = None, pid: int | None = None
    ) -> None:
        """Move a run to ``status``.

        "running" sets ``started`` (first start only), clears ``finished`` and
        ``error`` and records ``pid`` (default: this process). Final statuses
        (completed/failed/stopped/interrupted) set ``finished`` and clear ``pid``
        unless one is given. ``error`` is stored when given; it is cleared when the
        run is (re)started, queued or completed.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")

        def update(con: sqlite3.Connection) -> None:
            full = self._resolve(con, run_id)
            now = time.time()
            if status == "running":
                con.execute(
                    "UPDATE runs SET status = 'running', started = COALESCE(started, ?),"
                    " finished = NULL, error = ?, pid = ? WHERE run_id = ?",
                    (now, error, pid if pid is not None else os.getpid(), full),
                )
            elif status in FINAL:
                keep_error = status != "completed"
                con.execute(
                    "UPDATE runs SET status = ?, finished = ?, pid = ?,"
                    " error = CASE WHEN ? IS NOT NULL THEN ? WHEN ? THEN error ELSE NULL END"
                    " WHERE run_id = ?",
                    (status, now, pid, error, error, keep_error, full),
                )
            else:  # created / queued: waiting again
                con.execute(
                    "UPDATE runs SET status = ?, finished = NULL, error = ?, pid = ? WHERE run_id = ?",
                    (status, error, pid, full),
                )

        self._write(update)

    def claim(self, run_id: str, pid: int) -> bool:
        """Atomically mark the run "running" for ``pid``.

        Returns False when it is already running or queued for a worker
        (someone else won). A run in any of created/stopped/interrupted/failed
        can be claimed; a completed run raises RunError. Call :meth:`reconcile`
        first to free runs whose process died.
        """

        def take(con: sqlite3.Connection) -> bool:
            full = self._resolve(con, run_id)
            status = con.execute("SELECT status FROM runs WHERE run_id = ?", (full,)).fetchone()[0]
            if status in ("running", "queued"):
                return False
            _refuse_unstartable(full, status)
            _mark_running(con, full, pid)
            return True

        return self._write(take)

    def update_summary(self, run_id: str, summary: dict) -> None:
        """Merge ``summary``'s keys into the run's summary (top level; others are kept)."""
        if not summary:
            return

        def merge(con: sqlite3.Connection) -> None:
            full = self._resolve(con, run_id)
            row = con.execute("SELECT summary FROM runs WHERE run_id = ?", (full,)).fetchone()
            current = _loads(row[0], {})
            current.update(json.loads(json_dumps(summary)))
            con.execute(
                "UPDATE runs SET summary = ? WHERE run_id = ?", (json_dumps(current), full)
            )

        self._write(merge)

    def delete(self, run_id: str, *, force: bool = False) -> None:
        """Remove the run's row, its metrics and its folder.

        A run whose process is still alive is refused unless ``force``.
        """

        def remove(con: sqlite3.Connection) -> str:
            full = self._resolve(con, run_id)
            status, pid = con.execute(
                "SELECT status, pid FROM runs WHERE run_id = ?", (full,)
            ).fetchone()
            if status == "running" and not force and _pid_alive(pid):
                raise RunError(
                    f"Run '{full}' is still running (process {pid}).",
                    fix="stop it first, then delete it.",
                )
            con.execute("DELETE FROM metrics WHERE run_id = ?", (full,))
            con.execute("DELETE FROM runs WHERE run_id = ?", (full,))
            return full

        full = self._write(remove)
        folder = self.folder(full)
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            raise RunError(
                f"Run '{full}' was removed from the registry but its folder {folder} could not be deleted.",
                fix="close programs using files in that folder and delete it by hand.",
            )

    # -- the job queue ------------------------------------------------------------
    def enqueue(self, run_id: str, *, owner_cap: int | None = None) -> bool:
        """Atomically put a run in the queue; False when it is already queued or running.

        Two sessions that press Start (or Resume) on the same run: exactly one
        gets True. A completed run raises RunError. With ``owner_cap``, a run whose
        owner already has that many runs queued or running raises LimitError, checked
        in the same transaction so a double click cannot pass the cap.
        """

        def put(con: sqlite3.Connection) -> bool:
            full = self._resolve(con, run_id)
            status, owner = con.execute("SELECT status, owner FROM runs WHERE run_id = ?", (full,)).fetchone()
            if status in ("queued", "running"):
                return False
            _refuse_unstartable(full, status)
            if owner_cap is not None and owner is not None:
                active = con.execute("SELECT COUNT(*) FROM runs WHERE owner = ? AND run_id != ?"
                                     " AND status IN ('queued', 'running')", (owner, full)).fetchone()[0]
                if active >= owner_cap:
                    raise session_runs_error(active, owner_cap)
            con.execute(
                "UPDATE runs SET status = 'queued', queued = ?, finished = NULL, error = NULL, pid = NULL"
                " WHERE run_id = ?",
                (time.time(), full),
            )
            return True

        return self._write(put)

    def set_worker(self, run_id: str, pid: int) -> None:
        """Record the process that waits for a queued run's turn (so a dead one is noticed)."""
        self._write(lambda con: con.execute(
            "UPDATE runs SET pid = ? WHERE run_id = ? AND status = 'queued'", (int(pid), self._resolve(con, run_id))))

    def claim_slot(self, run_id: str, pid: int, *, max_running: int) -> bool:
        """Start a queued run when it is first in line and fewer than ``max_running`` runs run."""

        def take(con: sqlite3.Connection) -> bool:
            full = self._resolve(con, run_id)
            status = con.execute("SELECT status FROM runs WHERE run_id = ?", (full,)).fetchone()[0]
            if status != "queued":
                return False
            running = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'").fetchone()[0]
            first = con.execute(
                "SELECT run_id FROM runs WHERE status = 'queued' ORDER BY queued, run_id LIMIT 1").fetchone()[0]
            if running >= max_running or first != full:
                return False
            _mark_running(con, full, pid)
            return True

        return self._write(take)

    def mark_ended(self, run_id: str, pids: Iterable[int], status: str, reason: str) -> bool:
        """Move the run to final ``status`` with ``reason`` if one of ``pids`` still holds it
        (its process died without saying so), or if :meth:`reconcile` already marked it interrupted
        for one of them; False when the run had already ended otherwise or moved on."""
        if status not in FINAL:
            raise ValueError(f"status must be one of {FINAL}, got {status!r}")
        pids = [int(p) for p in pids]
        noticed = [m(p) for p in pids for m in (_gone_running, _gone_queued)]

        def end(con: sqlite3.Connection) -> bool:
            full = self._resolve(con, run_id)
            cur = con.execute(
                "UPDATE runs SET status = ?, finished = ?, pid = NULL, error = ? WHERE run_id = ? AND"
                f" ((status IN ('running', 'queued') AND pid IN ({', '.join('?' * len(pids))}))"
                f" OR (status = 'interrupted' AND error IN ({', '.join('?' * len(noticed))})))",
                (status, time.time(), reason, full, *pids, *noticed))
            return cur.rowcount == 1

        return self._write(end)

    def cancel_queued(self, run_id: str) -> bool:
        """Take a run out of the queue (status "stopped"); False when it is not queued (any more)."""

        def cancel(con: sqlite3.Connection) -> bool:
            full = self._resolve(con, run_id)
            cur = con.execute(
                "UPDATE runs SET status = 'stopped', finished = ?, pid = NULL,"
                " error = 'cancelled before it started' WHERE run_id = ? AND status = 'queued'",
                (time.time(), full))
            return cur.rowcount == 1

        return self._write(cancel)

    def queue_position(self, run_id: str) -> int | None:
        """1 for the next queued run to start, 2 for the one after, ...; None when not queued."""

        def read(con: sqlite3.Connection) -> int | None:
            full = self._resolve(con, run_id)
            rows = con.execute("SELECT run_id FROM runs WHERE status = 'queued' ORDER BY queued, run_id").fetchall()
            ids = [r[0] for r in rows]
            return ids.index(full) + 1 if full in ids else None

        return self._read(read)

    def reconcile(self) -> list[str]:
        """Mark runs "running" whose process is gone as "interrupted" (resumable); returns their ids.

        Runs once by itself when a process first opens the registry, so a server restart
        finds no run "running" without a process.
        """

        def fix(con: sqlite3.Connection) -> list[str]:
            rows = con.execute(
                "SELECT run_id, pid FROM runs WHERE status = 'running' ORDER BY run_id"
            ).fetchall()
            dead = [(r[0], r[1]) for r in rows if not _pid_alive(r[1])]
            now = time.time()
            for rid, pid in dead:
                con.execute(
                    "UPDATE runs SET status = 'interrupted', finished = ?, pid = NULL,"
                    " error = COALESCE(error, ?) WHERE run_id = ? AND status = 'running'"
                    " AND pid IS ?",
                    (now, _gone_running(pid), rid, pid),
                )
            # A queued run whose waiting worker died would wait for ever.
            waiting = con.execute(
                "SELECT run_id, pid FROM runs WHERE status = 'queued' AND pid IS NOT NULL"
            ).fetchall()
            orphaned = [(r[0], r[1]) for r in waiting if not _pid_alive(r[1])]
            for rid, pid in orphaned:
                con.execute(
                    "UPDATE runs SET status = 'interrupted', finished = ?, pid = NULL, error = ?"
                    " WHERE run_id = ? AND status = 'queued' AND pid IS ?",
                    (now, _gone_queued(pid), rid, pid),
                )
            # A queued run that never got a worker (the server died between queueing and spawning).
            stale = con.execute(
                "SELECT run_id, queued FROM runs WHERE status = 'queued' AND pid IS NULL AND queued < ?",
                (now - SPAWN_GRACE_SECONDS,),
            ).fetchall()
            for rid, queued in stale:
                con.execute(
                    "UPDATE runs SET status = 'interrupted', finished = ?, error = ?"
                    " WHERE run_id = ? AND status = 'queued' AND pid IS NULL",
                    (now, _never_spawned(now - queued), rid),
                )
            return [rid for rid, _ in dead + orphaned + stale]

        return self._write(fix)

    # -- metrics ----------------------------------------------------------------
    def log_metrics(
        self,
        run_id: str,
        *,
        epoch: int,
        step: int | None,
        values: dict[str, float],
        kind: str = "epoch",
    ) -> None:
        """Store one row of metrics; the same (kind, epoch, step) again replaces it."""
        self.log_metrics_many(run_id, [(epoch, step, values)], kind=kind)

    def log_metrics_many(
        self,
        run_id: str,
        rows: Iterable[tuple[int, int | None, dict]],
        kind: str = "step",
    ) -> None:
        """Store many ``(epoch, step, values)`` rows in one transaction (replacing repeats)."""
        _check_kind(kind)
        prepared = [
            (int(epoch), _step_key(step), json_dumps(_clean_values(values)))
            for epoch, step, values in rows
        ]
        if not prepared:
            return

        def insert(con: sqlite3.Connection) -> None:
            full = self._resolve(con, run_id)
            con.executemany(
                "INSERT INTO metrics (run_id, kind, epoch, step, values_json) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (run_id, kind, epoch, step) DO UPDATE SET values_json = excluded.values_json",
                [(full, kind, e, s, v) for e, s, v in prepared],
            )

        self._write(insert)

    def metrics(self, run_id: str, *, kind: str = "epoch", after: int | None = None) -> list[dict]:
        """``[{"epoch": .., "step": .. or None, **values}]`` ordered by epoch, then step.

        ``after`` returns only newer rows: epochs after that epoch (kind "epoch")
        or steps after that step (kind "step"), so live charts read only what is new.
        """
        _check_kind(kind)
        column = "epoch" if kind == "epoch" else "step"

        def read(con: sqlite3.Connection) -> list[dict]:
            full = self._resolve(con, run_id)
            rows = con.execute(
                "SELECT epoch, step, values_json FROM metrics WHERE run_id = ? AND kind = ?"
                f" AND {column} > ? ORDER BY epoch, step",
                (full, kind, _NO_STEP - 1 if after is None else int(after)),
            ).fetchall()
            return [
                {"epoch": e, "step": None if s == _NO_STEP else s, **_loads(v, {})}
                for e, s, v in rows
            ]

        return self._read(read)

    def truncate_metrics(self, run_id: str, *, after_epoch: int, after_step: int | None = None) -> None:
        """Drop the rows a resumed run will write again: epochs after ``after_epoch``, and
        steps after ``after_step`` (default: steps of epochs after ``after_epoch``)."""

        def drop(con: sqlite3.Connection) -> None:
            full = self._resolve(con, run_id)
            con.execute("DELETE FROM metrics WHERE run_id = ? AND kind = 'epoch' AND epoch > ?",
                        (full, int(after_epoch)))
            if after_step is None:
                con.execute("DELETE FROM metrics WHERE run_id = ? AND kind = 'step' AND epoch > ?",
                            (full, int(after_epoch)))
            else:
                con.execute("DELETE FROM metrics WHERE run_id = ? AND kind = 'step' AND step > ?",
                            (full, int(after_step)))

        self._write(drop)

    # -- maintenance --------------------------------------------------------------
    def check_integrity(self) -> list[str]:
        """Problems ``PRAGMA integrity_check`` and ``foreign_key_check`` find; empty when the database is sound."""

        def check(con: sqlite3.Connection) -> list[str]:
            problems = [r[0] for r in con.execute("PRAGMA integrity_check").fetchall() if r[0] != "ok"]
            problems += [f"metrics row {r[1]} of table {r[0]} points to a missing run"
                         for r in con.execute("PRAGMA foreign_key_check").fetchall()]
            return problems

        return self._read(check)

    def integrity_ok(self) -> bool:
        """The database passes :meth:`check_integrity`."""
        return not self.check_integrity()
