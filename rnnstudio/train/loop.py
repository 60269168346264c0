"""The training loop: one custom step through ``strategy.run`` for every strategy.

``model.fit`` fails under MultiWorkerMirroredStrategy with Keras 3
(keras-team/keras#20585) while a step through ``strategy.run`` with Keras
layers and a Keras optimizer trains on all of them; one path serves the
default, one-device, mirrored and multi-worker strategies alike. The loop
emits events to callbacks and knows nothing about how they are shown.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf
import keras

from rnnstudio.errors import StudioError
from rnnstudio.train.callbacks import TrainingCallback
from rnnstudio.train.checkpoints import CheckpointStore

LOSSES = {
    "sparse_categorical_crossentropy": lambda: keras.losses.SparseCategoricalCrossentropy(reduction=None),
    "mse": lambda: keras.losses.MeanSquaredError(reduction=None),
}


class TrainingDiverged(StudioError):
    """The loss or a gradient became NaN or infinite."""


@dataclass
class LoopState:
    """What a checkpoint must restore besides weights: progress and early-stopping bookkeeping."""

    epoch: int = 0  # completed epochs
    step: int = 0  # completed optimizer steps
    best: float = math.inf
    best_epoch: int = 0
    wait: int = 0
    plateau_wait: int = 0
    learning_rate: float | None = None
    history: list = field(default_factory=list)
    stopped_early: bool = False


def layer_of(variable) -> str:
    """Top-level layer a variable belongs to ("model/layer/.../kernel" → "layer")."""
    parts = variable.path.split("/")
    return parts[1] if len(parts) > 2 else parts[0]


def make_optimizer(spec, *, steps_per_epoch: int):
    """The Keras optimizer of ``spec`` (TrainSpec) with its learning-rate schedule."""
    lr = spec.learning_rate
    total = max(spec.epochs * steps_per_epoch, 1)
    schedules = keras.optimizers.schedules
    if spec.schedule == "exponential":
        lr = schedules.ExponentialDecay(spec.learning_rate, decay_steps=10 * steps_per_epoch, decay_rate=spec.decay_rate)
    elif spec.schedule == "cosine":
        warmup = int(spec.warmup_epochs * steps_per_epoch)
        lr = schedules.CosineDecay(spec.learning_rate * (0.01 if warmup else 1.0), decay_steps=max(total - warmup, 1),
                                   warmup_target=spec.learning_rate if warmup else None, warmup_steps=warmup)
    decay = spec.weight_decay or None
    optimizers = {
        "adam": lambda: keras.optimizers.Adam(lr, weight_decay=decay),
        "adamw": lambda: keras.optimizers.AdamW(lr, weight_decay=spec.weight_decay or 0.004),
        "sgd": lambda: keras.optimizers.SGD(lr, momentum=spec.momentum, nesterov=True, weight_decay=decay),
        "rmsprop": lambda: keras.optimizers.RMSprop(lr, weight_decay=decay),
    }
    return optimizers[spec.optimizer]()


class Trainer:
    """Fits a compiled-free Keras model with a custom distributed step.

    Args:
        model: Uncompiled keras.Model, built inside ``strategy.scope()``.
        optimizer: Keras optimizer, created inside the same scope.
        loss: Key of LOSSES.
        metric: "accuracy" (class index targets) or "mae", computed beside the loss.
        spec: The Recipe's train section.
        strategy: The tf.distribute strategy.
        checkpoints: Where epoch checkpoints go (None = none).
        callbacks: Event consumers.
    """

    def __init__(self, model, optimizer, *, loss: str, metric: str, spec, strategy, checkpoints: CheckpointStore | None,
                 callbacks: list[TrainingCallback] = ()):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = LOSSES[loss]()
        self.metric = metric
        self.spec = spec
        self.strategy = strategy
        self.checkpoints = checkpoints
        self.callbacks = list(callbacks)
        self.stop_requested = False
        self.layer_names = sorted({layer_of(v) for v in model.trainable_variables})
        self._layer_index = [self.layer_names.index(layer_of(v)) for v in model.trainable_variables]

    # ------------------------------------------------------------ datasets
    def _dataset(self, x, y, w, *, shuffle: bool, epoch_seed: int | None = None):
        if w is None:
            w = np.ones(len(x), dtype="float32")
        ds = tf.data.Dataset.from_tensor_slices((x, y, w))
        if shuffle:
            ds = ds.shuffle(len(x), seed=epoch_seed, reshuffle_each_iteration=True)
        ds = ds.batch(self.spec.batch_size).prefetch(tf.data.AUTOTUNE)
        return self.strategy.experimental_distribute_dataset(ds)

    # ------------------------------------------------------------ the step
    def _train_step(self):
        # Traced once per Trainer: a resumed or repeated fit must not pay for tracing again.
        if not hasattr(self, "_compiled_step"):
            self._compiled_step = self._build_step()
        return self._compiled_step

    def _build_step(self):
        model, optimizer, strategy = self.model, self.optimizer, self.strategy
        n_layers = len(self.layer_names)
        segment = tf.constant(self._layer_index, dtype=tf.int32)
        spec = self.spec
        replicas = strategy.num_replicas_in_sync

        def replica_step(x, y, w):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                per_example = self.loss_fn(y, pred)
                loss = tf.nn.compute_average_loss(per_example, sample_weight=w)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            variables = model.trainable_variables
            grads = tape.gradient(loss, variables)
            grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for g, v in zip(grads, variables)]
            context = tf.distribute.get_replica_context()
            if replicas > 1:
                # Sum across replicas first so clipping and monitoring see the true gradient;
                # the optimizer sums again, so hand it an equal 1/replicas share.
                grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            squares = tf.stack([tf.reduce_sum(tf.square(g)) for g in grads])
            layer_norms = tf.sqrt(tf.math.unsorted_segment_sum(squares, segment, n_layers))
            global_norm = tf.sqrt(tf.reduce_sum(squares))
            if spec.clip == "norm":
                grads, _ = tf.clip_by_global_norm(grads, spec.clip_value, use_norm=global_norm)
            elif spec.clip == "value":
                grads = [tf.clip_by_value(g, -spec.clip_value, spec.clip_value) for g in grads]
            if replicas > 1:
                grads = [g / replicas for g in grads]
            optimizer.apply_gradients(zip(grads, variables))
            return loss, self._metric_sum(y, pred, w), tf.reduce_sum(w), layer_norms, global_norm

        @tf.function(reduce_retracing=True)
        def train_step(x, y, w):
            loss, metric, count, layer_norms, global_norm = strategy.run(replica_step, args=(x, y, w))
            sum_ = tf.distribute.ReduceOp.SUM
            # One small vector per step: a single host transfer instead of one per number.
            scalars = tf.stack([strategy.reduce(sum_, loss, axis=None), strategy.reduce(sum_, metric, axis=None),
                                strategy.reduce(sum_, count, axis=None),
                                strategy.experimental_local_results(global_norm)[0]])
            return scalars, strategy.experimental_local_results(layer_norms)[0]

        return train_step

    def _metric_sum(self, y, pred, w):
        if self.metric == "accuracy":
            hits = tf.cast(tf.equal(tf.cast(y, tf.int64), tf.argmax(pred, axis=-1)), tf.float32)
        else:
            hits = tf.reduce_mean(tf.abs(tf.cast(y, tf.float32) - tf.cast(pred, tf.float32)), axis=-1)
        return tf.reduce_sum(hits * tf.cast(w > 0, tf.float32))

    # ------------------------------------------------------------ evaluation
    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Model outputs for ``x`` in batches (inference mode)."""
        if not hasattr(self, "_predict_fn"):
            self._predict_fn = tf.function(lambda batch: self.model(batch, training=False), reduce_retracing=True)
        if len(x) == 0:
            return np.zeros((0,) + tuple(self.model.output_shape[1:]), dtype="float32")
        return np.concatenate([self._predict_fn(x[i:i + batch_size]).numpy() for i in range(0, len(x), batch_size)])

    def evaluate(self, x, y) -> dict:
        pred = self.predict(x)
        loss = float(np.mean(self.loss_fn(y, pred)))
        if self.metric == "accuracy":
            metric = float(np.mean(pred.argmax(axis=-1) == y))
        else:
            metric = float(np.mean(np.abs(pred - y)))
        return {"loss": loss, self.metric: metric}

    # ------------------------------------------------------------ the loop
    def fit(self, train, val=None, *, sample_weight=None, state: LoopState | None = None) -> LoopState:
        """Trains until ``spec.epochs``, early stopping, divergence or a stop request."""
        spec = self.spec
        state = state or LoopState()
        steps_per_epoch = max(math.ceil(len(train.x) / spec.batch_size), 1)
        train_step = self._train_step()
        # Short epochs still get about five readings each, so small data sets draw curves too.
        log_every = max(1, min(spec.log_every_steps, math.ceil(steps_per_epoch / 5)))
        grad_every = max(1, min(spec.grad_norm_every_steps, math.ceil(steps_per_epoch / 5)))
        self._emit("on_train_begin", {"epochs": spec.epochs, "steps_per_epoch": steps_per_epoch,
                                      "initial_epoch": state.epoch, "layers": self.layer_names,
                                      "train_examples": len(train.x), "val_examples": 0 if val is None else len(val.x)})
        best_weights = self.checkpoints.load_best() if self.checkpoints and state.best < math.inf else None
        dataset = self._dataset(train.x, train.y, sample_weight, shuffle=True, epoch_seed=spec.seed)
        for epoch in range(state.epoch + 1, spec.epochs + 1):
            self._emit("on_epoch_begin", epoch)
            started = time.perf_counter()
            totals = np.zeros(3)
            for batch_index, (x, y, w) in enumerate(dataset, start=1):
                scalars, layer_norms = train_step(x, y, w)
                loss, metric, count, global_norm = scalars.numpy().tolist()
                state.step += 1
                if not (math.isfinite(loss) and math.isfinite(global_norm)):
                    self._diverged(state, epoch, loss, layer_norms.numpy())
                totals += (loss * count, metric, count)
                if state.step % log_every == 0 or batch_index == steps_per_epoch:
                    self._emit("on_step_end", state.step, {
                        "epoch": epoch, "batch": batch_index, "loss": loss, "learning_rate": self.current_lr(),
                        "examples_per_second": totals[2] / max(time.perf_counter() - started, 1e-9)})
                if state.step % grad_every == 0:
                    norms = layer_norms.numpy()
                    self._emit("on_gradients", state.step, {
                        "global": float(global_norm), "clipped": bool(spec.clip == "norm" and global_norm > spec.clip_value),
                        "layers": dict(zip(self.layer_names, map(float, norms)))})
                if self.stop_requested:
                    break
            if self.stop_requested:
                # Keep the finished batches: save weights, but record only completed epochs.
                if self.checkpoints:
                    self.checkpoints.save(self.model, self.optimizer, state)
                self._emit("on_train_end", {"reason": "stopped", "epoch": state.epoch})
                return state
            seconds = time.perf_counter() - started
            logs = {"epoch": epoch, "loss": totals[0] / max(totals[2], 1), self.metric: totals[1] / max(totals[2], 1),
                    "learning_rate": self.current_lr(), "seconds": seconds,
                    "examples_per_second": totals[2] / max(seconds, 1e-9)}
            if val is not None and len(val.x):
                logs.update({f"val_{k}": v for k, v in self.evaluate(val.x, val.y).items()})
            monitored = logs.get("val_loss", logs["loss"])
            improved = monitored < state.best - 1e-7
            if improved:
                state.best, state.best_epoch, state.wait = monitored, epoch, 0
                best_weights = [v.numpy() for v in self.model.weights]
                if self.checkpoints:
                    self.checkpoints.save_best(best_weights)
            else:
                state.wait += 1
            self._plateau(state, improved)
            state.epoch = epoch
            state.history.append(logs)
            if self.checkpoints:
                self.checkpoints.save(self.model, self.optimizer, state)
            self._emit("on_epoch_end", epoch, logs)
            if spec.early_stopping and val is not None and state.wait >= spec.patience:
                state.stopped_early = True
                break
        if spec.early_stopping and best_weights is not None:
            self.model.set_weights(best_weights)  # restore the best epoch (Keras restore_best_weights)
        self._emit("on_train_end", {"reason": "early_stopping" if state.stopped_early else "completed",
                                    "epoch": state.epoch, "best_epoch": state.best_epoch})
        return state

    def current_lr(self) -> float:
        # np.asarray reads plain and mirrored variables alike (float() refuses MirroredVariable).
        return float(np.asarray(tf.convert_to_tensor(self.optimizer.learning_rate)))

    def _plateau(self, state: LoopState, improved: bool) -> None:
        # Reduce-on-plateau after half the early-stopping patience without improvement.
        if self.spec.schedule != "plateau":
            return
        state.plateau_wait = 0 if improved else state.plateau_wait + 1
        if state.plateau_wait >= max(self.spec.patience // 2, 2):
            new = max(self.current_lr() * self.spec.decay_rate, 1e-6)
            self.optimizer.learning_rate = new
            state.plateau_wait = 0
        state.learning_rate = self.current_lr()

    def _diverged(self, state: LoopState, epoch: int, loss: float, layer_norms: np.ndarray) -> None:
        bad = [name for name, n in zip(self.layer_names, layer_norms) if not math.isfinite(float(n))]
        where = f" first in layer '{bad[0]}'" if bad else ""
        raise TrainingDiverged(
            f"training diverged at step {state.step} (epoch {epoch}): the loss is {loss} and the gradient is not finite{where}. "
            f"The last good checkpoint (epoch {state.epoch}) is kept.",
            fix="Lower train.learning_rate (e.g. ÷10), keep train.clip=norm, or check the data for extreme values.",
            field="train.learning_rate")

    def _emit(self, method: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, method)(*args)
            if callback.stop_requested():
                self.stop_requested = True
