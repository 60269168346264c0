"""A light parent for each background worker, so a crash the worker cannot report is still recorded.

The system's out-of-memory killer sends SIGKILL: the training process ends
without running any handler and its run would stay "running". The supervisor
(no TensorFlow, a few MB) runs the worker as its child, waits, and when the
child died holding its run it marks the run failed (or interrupted for a
shutdown signal) with a readable reason; the queue then moves on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from rnnstudio.runs.faults import exit_reason, exit_status
from rnnstudio.runs.registry import RunRegistry

__all__ = ["supervise"]

_FORWARDED = [getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, n)]


def supervise(run_id: str, *, registry: RunRegistry | None = None) -> int:
    """Runs ``python -m rnnstudio worker RUN --attached`` and records how it ended; returns its exit code."""
    registry = registry or RunRegistry()
    registry.get(run_id)  # opens the registry now: its start-up reconcile must not run after the child died
    child = subprocess.Popen([sys.executable, "-m", "rnnstudio", "worker", run_id, "--attached"],
                             stdin=subprocess.DEVNULL)  # stdout/stderr, cwd and env: the worker log's, inherited
    previous = {sig: signal.signal(sig, lambda number, _frame: child.send_signal(number)) for sig in _FORWARDED}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != 0:
        reason = exit_reason(code)
        if registry.mark_ended(run_id, [child.pid, os.getpid()], exit_status(code), reason):
            print(f"run {run_id}: {reason}", file=sys.stderr, flush=True)
    return 0 if code == 0 else 1
