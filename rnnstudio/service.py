"""A helper process that does the app's TensorFlow work: model summaries, predictions and what the network does inside.

The app process must not import TensorFlow (start-up time, memory, and one
crash must not take the server down). It talks to one long-lived helper
through JSON lines on stdin/stdout; the helper is restarted when it dies or
stops answering.

    python -m rnnstudio service     # the helper's side (started by ServiceClient)
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from rnnstudio.errors import RecipeError, RunError, StudioError
from rnnstudio.runs.registry import studio_home
from rnnstudio.workspace import confine, recipe_path_problems

__all__ = ["ServiceClient", "serve", "METHODS"]


# Requests come from pages, so every path in them must stay inside the workspace.
def _summary(recipe: dict) -> dict:
    from rnnstudio.inference import model_summary

    problems = recipe_path_problems(recipe, studio_home())
    if problems:
        raise RecipeError(problems)
    return model_summary(recipe)


def _predict(folder: str, inputs: list) -> list:
    from rnnstudio.inference import predict_run

    return predict_run(str(confine(folder, studio_home() / "runs")), inputs)


def _explain(folder: str, inputs: list) -> list:
    from rnnstudio.inference import explain_run

    return explain_run(folder, inputs)


def _export(run_id: str, formats: list, out_dir: str | None = None) -> dict:
    from rnnstudio.export.run import export_run

    result = export_run(run_id, formats, confine(out_dir, studio_home()) if out_dir else None)
    return {"folder": result["folder"], "paths": result["paths"], "verification": result["verification"]}


METHODS = {"ping": lambda: "pong", "summary": _summary, "predict": _predict, "explain": _explain, "export": _export}


def serve(stdin=None, stdout=None) -> int:
    """Answers JSON-line requests ``{"id", "method", "params"}`` until stdin closes."""
    stdin = stdin or sys.stdin
    if stdout is None:
        # Keep the real stdout for answers; anything a library prints goes to stderr.
        stdout = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    for line in stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        answer = {"id": request.get("id")}
        try:
            answer["result"] = METHODS[request["method"]](**request.get("params", {}))
        except StudioError as exc:
            answer["error"] = exc.to_dict()
        except Exception as exc:  # report and keep serving: one bad request must not kill the helper
            traceback.print_exc()
            answer["error"] = {"message": f"{type(exc).__name__}: {exc}"[:2000], "fix": None}
        stdout.write(json.dumps(answer, default=float) + "\n")
        stdout.flush()
    return 0


class ServiceClient:
    """The app's handle on the helper process; thread-safe (one request at a time)."""

    def __init__(self, log_file: Path | str, *, timeout: float = 120.0):
        self.log_file = Path(log_file)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._next_id = 0

    def _ensure(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
            package_root = str(Path(__file__).resolve().parents[1])
            env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
            with open(self.log_file, "ab") as log:
                self._process = subprocess.Popen([sys.executable, "-m", "rnnstudio", "service"], stdin=subprocess.PIPE,
                                                 stdout=subprocess.PIPE, stderr=log, env=env, text=True, bufsize=1)
        return self._process

    def call(self, method: str, **params):
        """The helper's answer to ``method(**params)``; StudioError for bad input, RunError if it fails."""
        with self._lock:
            process = self._ensure()
            self._next_id += 1
            try:
                process.stdin.write(json.dumps({"id": self._next_id, "method": method, "params": params}) + "\n")
                process.stdin.flush()
            except (BrokenPipeError, OSError):
                self.close()
                raise RunError("the model helper process ended unexpectedly.",
                               fix=f"Try again; details are in {self.log_file}.") from None
            line = self._read_line(process)
        answer = json.loads(line)
        if "error" in answer:
            error = answer["error"]
            raise StudioError(error.get("message", "the model helper failed"), fix=error.get("fix"),
                              field=error.get("field"), file=error.get("file"), column=error.get("column"),
                              row=error.get("row"))
        return answer["result"]

    def _read_line(self, process: subprocess.Popen) -> str:
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        try:
            ready = selector.select(self.timeout)
        finally:
            selector.close()
        line = process.stdout.readline() if ready else ""
        if not line:
            self.close()
            what = "did not answer in time" if not ready else "ended unexpectedly"
            raise RunError(f"the model helper process {what}.", fix=f"Try again; details are in {self.log_file}.")
        return line

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(5)
        self._process = None
