"""Consumers of the training loop's events: a base class, a progress bar, TensorBoard, the run registry."""

from __future__ import annotations

import time
from pathlib import Path


class TrainingCallback:
    """Receives the loop's events; override what you need (Keras Callback style).

    Events: ``on_train_begin(info)``, ``on_epoch_begin(epoch)``,
    ``on_step_end(step, logs)`` every ``log_every_steps``, ``on_gradients(step,
    norms)`` every ``grad_norm_every_steps``, ``on_epoch_end(epoch, logs)``
    with ``val_`` keys, ``on_train_end(info)``. Return True from
    ``stop_requested`` to stop gracefully after the current batch.
    ``on_probe(epoch, record, arrays)`` comes once before the first step
    (epoch 0) and after each epoch when probes are on: ``record`` is the
    probe record (``rnnstudio.runs.probe_files``), ``arrays`` the raw values
    behind its histograms. ``on_train_end`` info carries ``reason``
    (completed, early_stopping, stopped, diverged) and ``monitoring`` (the
    gradient-norm reading interval and what it was chosen from).
    """

    trainer = None  # set by the Trainer that emits to it (like Keras' Callback.model)

    def set_trainer(self, trainer) -> None:
        self.trainer = trainer

    def on_train_begin(self, info: dict) -> None: ...
    def on_epoch_begin(self, epoch: int) -> None: ...
    def on_step_end(self, step: int, logs: dict) -> None: ...
    def on_gradients(self, step: int, norms: dict) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict) -> None: ...
    def on_probe(self, epoch: int, record: dict, arrays: dict) -> None: ...
    def on_train_end(self, info: dict) -> None: ...

    def stop_requested(self) -> bool:
        return False


class RegistryLogger(TrainingCallback):
    """Writes epoch and step metrics to the run registry, where pages and `runs show` read them.

    Step rows are buffered and written in one transaction at most every
    ``flush_seconds`` (and at each epoch end), so live charts stay fresh while
    the database is not a per-step cost; a STOP file in the run folder asks
    for a graceful stop.
    """

    def __init__(self, registry, run_id: str, folder: Path, *, flush_seconds: float = 1.0):
        self.registry = registry
        self.run_id = run_id
        self.stop_file = Path(folder) / "STOP"
        self.flush_seconds = flush_seconds
        self._steps: list = []
        self._epoch = 0
        self._flushed = time.monotonic()

    def on_train_begin(self, info):
        self.registry.update_summary(self.run_id, {"plan": {
            k: info[k] for k in ("epochs", "steps_per_epoch", "initial_epoch", "layers", "train_examples", "val_examples")}})

    def on_epoch_begin(self, epoch):
        self._epoch = epoch

    def on_step_end(self, step, logs):
        # Flush before adding this step: its gradient event, if any, comes right after it.
        if time.monotonic() - self._flushed >= self.flush_seconds:
            self._flush()
        self._steps.append((logs["epoch"], step, {k: v for k, v in logs.items() if k != "epoch"}))

    def on_gradients(self, step, norms):
        values = {f"grad_norm/{k}": v for k, v in norms["layers"].items()}
        values.update({"grad_norm/global": norms["global"], "clipped": float(norms["clipped"])})
        self._steps.append((self._epoch, step, values))

    def _flush(self):
        merged: dict = {}
        for e, s, v in self._steps:  # steps with both a metric and a gradient event become one row
            merged.setdefault((e, s), {}).update(v)
        self.registry.log_metrics_many(self.run_id, [(e, s, v) for (e, s), v in merged.items()], kind="step")
        self._steps = []
        self._flushed = time.monotonic()

    def on_epoch_end(self, epoch, logs):
        self._flush()
        values = {k: v for k, v in logs.items() if k != "epoch"}
        self.registry.log_metrics(self.run_id, epoch=epoch, step=None, values=values, kind="epoch")
        self.registry.update_summary(self.run_id, {"epochs_done": epoch})

    def on_train_end(self, info):
        self._flush()  # a stopped or diverged run keeps the steps of its unfinished epoch
        if info.get("monitoring"):
            self.registry.update_summary(self.run_id, {"monitoring": info["monitoring"]})

    def stop_requested(self) -> bool:
        return self.stop_file.exists()


class ProbeWriter(TrainingCallback):
    """Writes each probe record to ``<run folder>/probes/epoch-NNNN.json``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def on_probe(self, epoch, record, arrays):
        from rnnstudio.runs.probe_files import write_probe

        write_probe(self.folder, record)


class TensorBoardLogger(TrainingCallback):
    """Writes scalars (losses, metrics, learning rate, gradient norms, clipped share, gate saturation,
    gradients through time) and histograms (weights, gradients, gates per layer) for
    `tensorboard --logdir RUN_FOLDER`."""

    def __init__(self, logdir: Path):
        import tensorflow as tf

        self._tf = tf
        self.writer = tf.summary.create_file_writer(str(logdir))

    def on_gradients(self, step, norms):
        with self.writer.as_default(step=step):
            for name, value in norms["layers"].items():
                self._tf.summary.scalar(f"grad_norm/{name}", value)
            self._tf.summary.scalar("grad_norm/global", norms["global"])

    def on_epoch_end(self, epoch, logs):
        with self.writer.as_default(step=epoch):
            for key, value in logs.items():
                if key != "epoch":
                    self._tf.summary.scalar(f"epoch/{key}", value)
        self.writer.flush()

    def on_probe(self, epoch, record, arrays):
        summary = self._tf.summary
        with self.writer.as_default(step=epoch):
            # The record's bins go in as they are: TensorBoard's own bucketing costs ~10 ms per histogram.
            for layer, kinds in record.get("histograms", {}).items():
                for kind, hist in kinds.items():
                    self._histogram(f"{kind}/{layer}", hist)
            for layer, entry in record.get("gates", {}).items():
                for gate, stats in entry["gates"].items():
                    self._histogram(f"gates/{layer}/{gate}", stats)
                    summary.scalar(f"gates/{layer}/{gate}_saturated", stats["saturated"])
            if "clipped_share" in record:
                summary.scalar("probe/clipped_share", record["clipped_share"])
            norms = record["time_gradient"]["norms"]
            if norms and norms[-1] > 0:
                # Gradient reaching the first step relative to the last: the vanishing gradient in one number.
                summary.scalar("time_gradient/first_over_last", norms[0] / norms[-1])
        self.writer.flush()

    def _histogram(self, tag: str, hist: dict) -> None:
        import numpy as np
        from tensorboard.plugins.histogram import metadata

        edges = np.asarray(hist["edges"], dtype="float64")
        buckets = np.stack([edges[:-1], edges[1:], np.asarray(hist["counts"], dtype="float64")], axis=1)
        self._tf.summary.write(tag, buckets, metadata=metadata.create_summary_metadata(tag, ""))

    def on_train_end(self, info):
        self.writer.flush()


class ProgressBar(TrainingCallback):
    """A tqdm bar per epoch on stderr, for people at a terminal."""

    def __init__(self, metric: str):
        self.metric = metric
        self.bar = None
        self.steps = 0
        self.epochs = 0

    def on_train_begin(self, info):
        self.steps, self.epochs = info["steps_per_epoch"], info["epochs"]

    def on_epoch_begin(self, epoch):
        from tqdm import tqdm

        self.bar = tqdm(total=self.steps, desc=f"epoch {epoch}/{self.epochs}", unit="batch", leave=False, dynamic_ncols=True)
        self._done = 0

    def on_step_end(self, step, logs):
        if self.bar is not None:
            self.bar.update(logs["batch"] - self._done)
            self._done = logs["batch"]
            self.bar.set_postfix(loss=f"{logs['loss']:.4f}")

    def on_epoch_end(self, epoch, logs):
        if self.bar is not None:
            self.bar.close()
        from tqdm import tqdm

        parts = [f"loss {logs['loss']:.4f}"]
        if "val_loss" in logs:
            parts.append(f"val_loss {logs['val_loss']:.4f}")
        if f"val_{self.metric}" in logs:
            parts.append(f"val_{self.metric} {logs[f'val_{self.metric}']:.4f}")
        tqdm.write(f"epoch {epoch:>3}: " + ", ".join(parts) + f" ({logs['seconds']:.1f}s)")

    def on_train_end(self, info):
        if self.bar is not None:
            self.bar.close()
