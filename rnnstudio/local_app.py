"""Start the studio's Streamlit app on a local port, know when it answers, and stop everything it started.

The browser tests and the start-up benchmark launch ``streamlit run`` as a
subprocess in its own process session; the app then starts a helper process and
training workers in sessions of their own, each with ``RNNSTUDIO_HOME`` in its
environment. Stopping the server's group alone would leave those behind, so
:func:`stop_app` also ends every process that uses the same studio home.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

__all__ = ["free_port", "healthy", "launch_app", "wait_until_healthy", "processes_using_home", "stop_app"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def healthy(url: str, *, timeout: float = 2.0) -> bool:
    """True when the Streamlit server at ``url`` answers its health check with "ok"."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=timeout) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


def launch_app(script: Path | str, *, port: int, cwd: Path | str, env: dict, log) -> subprocess.Popen:
    """``streamlit run script`` headless on 127.0.0.1:``port``, in its own session, output to the file ``log``."""
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]
    return subprocess.Popen(command, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_until_healthy(server: subprocess.Popen, url: str, *, timeout: float, poll: float = 0.1) -> None:
    """Waits for the health check; RuntimeError when the server exits or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not healthy(url, timeout=min(2.0, timeout)):
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {server.returncode} before answering")
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit did not answer its health check within {timeout:.0f} s")
        time.sleep(poll)


def processes_using_home(home: Path | str) -> list[int]:
    """Pids of live processes whose environment has ``RNNSTUDIO_HOME=<home>`` (workers, the helper service)."""
    wanted = f"RNNSTUDIO_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    return found


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_app(server: subprocess.Popen, home: Path | str | None, *, deadline: float = 10.0) -> list[int]:
    """Stops the server's process group (SIGTERM, then SIGKILL), then every process using ``home``.

    Returns the pids that still used ``home`` after the server was gone and had to be killed.
    """
    for sig in (signal.SIGTERM, signal.SIGKILL):
        _kill_group(server.pid, sig)
        try:
            server.wait(timeout=5)
            break
        except subprocess.TimeoutExpired:
            continue
    killed: list[int] = []
    end = time.monotonic() + deadline
    while home is not None and time.monotonic() < end:
        pids = processes_using_home(home)
        if not pids:
            break
        for pid in pids:
            killed.append(pid)
            try:
                if os.getpgid(pid) == pid:  # a session leader of its own (a worker): take its children too
                    _kill_group(pid)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    return killed
