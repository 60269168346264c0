"""A run from Recipe to evaluated model: data, pipeline, model, training, scoring, artifacts.

Everything a run produces lands in its folder (recipe.json, pipeline.json,
report.json, environment.json, checkpoints/, model.keras, metrics.json,
tensorboard/) and in its registry row.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnstudio.errors import RunError, StudioError
from rnnstudio.recipe import Recipe, recipe_from_dict
from rnnstudio.runs import RunRegistry, write_json_atomic
from rnnstudio.runs.faults import crash_reason, disk_full_guard
from rnnstudio.runs.files import json_dumps
from rnnstudio.runs.fingerprint import fingerprint
from rnnstudio.tasks.base import Prepared, get_task


@dataclass
class RunResult:
    run_id: str
    task: str
    metrics: dict
    train_seconds: float
    folder: Path
    report: dict
    history: list

    def to_json(self) -> dict:
        """The --json line: run id, task, headline metrics, training time."""
        return {"run_id": self.run_id, "task": self.task, "metrics": headline_metrics(self.metrics),
                "train_seconds": round(self.train_seconds, 3), "folder": str(self.folder)}


def headline_metrics(metrics: dict) -> dict:
    """Test and baseline numbers without the bulky parts (confusion, curves, per-class)."""
    def compact(scores: dict) -> dict:
        return {k: v for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    out = {"test": compact(metrics.get("test", {})),
           "baseline": {name: compact(s) for name, s in metrics.get("baseline", {}).items()}}
    for key in ("inference", "model"):
        if key in metrics:
            out[key] = metrics[key]
    return out


def environment(seed: int, strategy_info: dict) -> dict:
    """Versions, devices and seeds: what is needed to reproduce a run."""
    import keras
    import pandas
    import tensorflow as tf

    return {"python": platform.python_version(), "platform": platform.platform(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "pandas": pandas.__version__, "seed": seed,
            "devices": [d.name for d in tf.config.list_logical_devices()], **strategy_info}


def prepare(recipe: Recipe) -> tuple[Prepared, object]:
    """Reads the data and fits the task's pipeline: everything before the model."""
    from rnnstudio.data.load import load_source

    task = get_task(recipe.data.task)
    frame, name = load_source(recipe.data.source, seed=recipe.data.seed)
    test_frame = None
    if recipe.data.test_source:
        test_frame, _ = load_source(recipe.data.test_source, seed=recipe.data.seed + 1)
    return task.prepare(recipe, frame, test_frame, name=name), task


def build(recipe: Recipe, prepared: Prepared, task, *, embeddings_path: str | None = None):
    """The task's model for ``recipe`` (built inside the active strategy scope)."""
    from dataclasses import replace

    from rnnstudio.zoo.registry import build_model

    input_spec = replace(prepared.input_spec, embeddings=embeddings_path) if embeddings_path else prepared.input_spec
    model = build_model(recipe.model, input_spec=input_spec, n_outputs=prepared.n_outputs, activation=task.activation)
    return task.finalize_model(model, recipe, prepared.pipeline)


def _embeddings(recipe: Recipe, prepared: Prepared, folder: Path) -> str | None:
    if not recipe.model.embeddings_file or prepared.input_spec.kind != "tokens":
        return None
    from rnnstudio.preprocess.text import load_word_vectors

    matrix, found = load_word_vectors(recipe.model.embeddings_file, prepared.pipeline.encoder.vocabulary_, None)
    prepared.report["embeddings_found"] = found
    path = folder / "embeddings.npy"
    np.save(path, matrix.astype("float32"))
    return str(path)


def train(recipe: Recipe, *, registry: RunRegistry | None = None, callbacks=(), owner: str | None = None,
          name: str | None = None) -> RunResult:
    """Trains ``recipe`` in this process as a new run and scores it on the test split."""
    registry = registry or RunRegistry()
    run = registry.create_run(recipe.to_dict(), task=recipe.data.task or "", model=recipe.model.name,
                              name=name or recipe.name, owner=owner)
    return _execute(registry, run.run_id, recipe, callbacks, resume=False)


def resume(run_id: str, *, registry: RunRegistry | None = None, callbacks=()) -> RunResult:
    """Continues an interrupted or stopped run from its last checkpoint."""
    registry = registry or RunRegistry()
    registry.reconcile()
    run = registry.get(run_id)
    if run.status == "completed":
        raise RunError(f"run {run.run_id} is already completed.", fix="Start a new run from its recipe instead.")
    return _execute(registry, run.run_id, recipe_from_dict(run.recipe), callbacks, resume=True)


def execute_claimed(registry: RunRegistry, run_id: str, *, callbacks=()) -> RunResult:
    """Trains a run this process has already claimed (a queue worker), from its last checkpoint if any."""
    run = registry.get(run_id)
    return _execute(registry, run.run_id, recipe_from_dict(run.recipe), callbacks, resume=True, claimed=True)


def _execute(registry: RunRegistry, run_id: str, recipe: Recipe, callbacks, *, resume: bool,
             claimed: bool = False) -> RunResult:
    # Claim before the slow imports: of two sessions starting the same run, the loser hears it at once.
    if not claimed and not registry.claim(run_id, os.getpid()):
        status = registry.get(run_id).status
        raise RunError(f"run {run_id} is already {status} in another process.", fix="Wait for it, or stop it first.")
    import keras

    from rnnstudio.runs.probe_files import remove_probes_after
    from rnnstudio.train.callbacks import ProbeWriter, RegistryLogger, TensorBoardLogger
    from rnnstudio.train.checkpoints import CheckpointStore
    from rnnstudio.train.loop import LOSSES, LoopState, Trainer, make_optimizer
    from rnnstudio.train.strategy import describe, select_strategy

    folder = registry.get(run_id).folder
    (folder / "STOP").unlink(missing_ok=True)
    started = time.perf_counter()
    policy = keras.config.dtype_policy()
    try:
        # First of all: a multi-worker strategy must configure collective ops before TensorFlow runs anything.
        strategy = select_strategy(recipe.train.strategy)
        keras.utils.set_random_seed(recipe.train.seed)
        keras.config.set_dtype_policy(recipe.train.precision)  # layers built below take it
        prepared, task = prepare(recipe)
        write_json_atomic(folder / "pipeline.json", prepared.pipeline.to_dict())
        write_json_atomic(folder / "report.json", prepared.report)
        write_json_atomic(folder / "environment.json", {**environment(recipe.train.seed, describe(strategy)), **fingerprint(recipe)})
        embeddings = _embeddings(recipe, prepared, folder)
        steps_per_epoch = max(math.ceil(len(prepared.train) / recipe.train.batch_size), 1)
        with strategy.scope():
            model = build(recipe, prepared, task, embeddings_path=embeddings)
            optimizer = make_optimizer(recipe.train, steps_per_epoch=steps_per_epoch)
            optimizer.build(model.trainable_variables)
        store = CheckpointStore(folder / "checkpoints")
        state = LoopState()
        if resume:
            saved = store.restore(model, optimizer)
            if saved:
                state = LoopState(**saved)
                if state.learning_rate is not None and recipe.train.schedule == "plateau":
                    optimizer.learning_rate = state.learning_rate
            registry.truncate_metrics(run_id, after_epoch=state.epoch, after_step=state.step)
            registry.update_summary(run_id, {"epochs_done": state.epoch})
            remove_probes_after(folder, state.epoch)  # epochs to be trained again; earlier records stay
        listeners = [RegistryLogger(registry, run_id, folder), *callbacks]
        probe = None
        if recipe.train.probes:
            probe = probe_for(model, prepared, loss_fn=LOSSES[task.loss](), n=recipe.train.probe_examples,
                              seed=recipe.train.seed)
            listeners.append(ProbeWriter(folder))
        if recipe.train.tensorboard:
            listeners.append(TensorBoardLogger(folder / "tensorboard"))
        registry.update_summary(run_id, {"report": _short_report(prepared.report), "params": int(model.count_params())})
        trainer = Trainer(model, optimizer, loss=task.loss, metric=task.monitor_metric, spec=recipe.train,
                          strategy=strategy, checkpoints=store, callbacks=listeners, probe=probe)
        state = trainer.fit(prepared.train, prepared.val, sample_weight=prepared.sample_weight, state=state)
        if trainer.stop_requested:
            registry.set_status(run_id, "stopped")
            raise RunError(f"run {run_id} was stopped after epoch {state.epoch}.",
                           fix=f"Resume it with `python -m rnnstudio resume {run_id}`.")
        train_seconds = time.perf_counter() - started
        _save_model(model, folder / "model.keras")
        metrics = task.evaluate(prepared.pipeline, trainer.predict, prepared.test)
        metrics["inference"] = latency(trainer, prepared.test.x)
        metrics["model"] = {"parameters": int(model.count_params()),
                            "bytes": (folder / "model.keras").stat().st_size}
        metrics["training"] = {"epochs": state.epoch, "best_epoch": state.best_epoch, "stopped_early": state.stopped_early,
                               "seconds": train_seconds}
        write_json_atomic(folder / "metrics.json", json.loads(json_dumps(metrics)))
        registry.update_summary(run_id, {"metrics": headline_metrics(metrics), "train_seconds": train_seconds})
        registry.set_status(run_id, "completed")
        return RunResult(run_id, recipe.data.task, metrics, train_seconds, folder, prepared.report, state.history)
    except RunError:
        raise
    except StudioError as exc:
        registry.set_status(run_id, "failed", error=str(exc))
        raise
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        registry.set_status(run_id, status, error=crash_reason(exc))
        with contextlib.suppress(OSError):  # a full disk must not hide the reason above
            (folder / "traceback.txt").write_text(traceback.format_exc())
        raise
    finally:
        keras.config.set_dtype_policy(policy)


def probe_for(model, prepared: Prepared, *, loss_fn, n: int, seed: int):
    """The fixed probe batch of a run: up to ``n`` validation examples (else training ones), chosen by the
    run's seed so every epoch (and a resumed run) sees the same ones, labelled with class names."""
    from rnnstudio.train.probes import Probe

    split = prepared.val if prepared.val is not None and len(prepared.val) else prepared.train
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(len(split))[:n])
    y = split.y[rows]
    classes = getattr(prepared.pipeline, "classes", None)
    labels = [str(classes[int(v)]) for v in y] if classes is not None and y.ndim == 1 else None
    encoder = getattr(prepared.pipeline, "encoder", None)
    vocabulary = getattr(encoder, "vocabulary_", None) if prepared.input_spec.kind == "tokens" else None
    return Probe(model, split.x[rows], y, loss_fn=loss_fn, labels=labels, vocabulary=vocabulary)


def _save_model(model, path: Path) -> None:
    tmp = path.with_name("model.tmp.keras")
    try:
        with disk_full_guard(path.parent):
            model.save(tmp)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _short_report(report: dict) -> dict:
    return {k: v for k, v in report.items() if k in ("rows", "splits", "class_balance", "lengths", "warnings", "roles")}


def latency(trainer, x: np.ndarray, repeats: int = 30) -> dict:
    """Per-example inference latency in milliseconds (batch of 1), median and p95."""
    if len(x) == 0:
        return {}
    trainer.predict(x[:1])  # trace once
    times = []
    for i in range(repeats):
        sample = x[i % len(x): i % len(x) + 1]
        t0 = time.perf_counter()
        trainer.predict(sample)
        times.append((time.perf_counter() - t0) * 1000)
    return {"latency_ms_median": float(np.median(times)), "latency_ms_p95": float(np.percentile(times, 95))}


def load_run_model(folder: Path):
    """The run's trained model, checked by the model-file inspector, then loaded in Keras safe mode."""
    from rnnstudio.export.model_files import load_keras_model

    path = Path(folder) / "model.keras"
    if not path.exists():
        raise RunError(f"run folder {folder} has no trained model.", fix="Train or resume the run until it completes.")
    return load_keras_model(path)


def evaluate_run(run_id: str, *, data: str | None = None, registry: RunRegistry | None = None) -> dict:
    """Scores a finished run on its own test split, or on another labelled file ``data``."""
    from rnnstudio.data.load import load_source

    registry = registry or RunRegistry()
    run = registry.get(run_id)
    recipe = recipe_from_dict(run.recipe)
    task = get_task(recipe.data.task)
    pipeline = task.load_pipeline(json.loads((run.folder / "pipeline.json").read_text()))
    model = load_run_model(run.folder)

    def predict(x: np.ndarray) -> np.ndarray:
        return np.concatenate([model.predict_on_batch(x[i:i + 256]) for i in range(0, len(x), 256)]) if len(x) else x

    if data is None:
        prepared, _ = prepare(recipe)
        split = prepared.test
    else:
        frame, name = load_source(data)
        split = task.split_for(pipeline, frame, file=name)
    metrics = task.evaluate(pipeline, predict, split)
    metrics["data"] = data or "test split"
    return metrics
