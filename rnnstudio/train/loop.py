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
import warnings
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
    """Top-level layer a variable's path names ("layer/.../kernel" → "layer")."""
    return variable.path.split("/")[0]


def variable_layers(model) -> list[str]:
    """For each of ``model.trainable_variables``, the top-level layer that owns it (a Bidirectional
    wrapper is one layer), so gradient norms are reported per layer as the model summary lists them."""
    owner = {id(v): layer.name for layer in model.layers for v in layer.trainable_variables}
    return [owner.get(id(v), layer_of(v)) for v in model.trainable_variables]


def make_optimizer(spec, *, steps_per_epoch: int):
    """The Keras optimizer of ``spec`` (TrainSpec) with its learning-rate schedule; under mixed_float16 it is
    wrapped in a dynamic LossScaleOptimizer so small float16 gradients do not flush to zero."""
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
    optimizer = optimizers[spec.optimizer]()
    if spec.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def scales_loss(optimizer) -> bool:
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)


class Trainer:
    """Fits a compiled-free Keras model with a custom distributed step.

    Every step computes, in graph, the global gradient norm (for clipping and
    the NaN watch) and per-layer norms (a segment sum of squares the global
    norm needs anyway); the host reads the per-layer norms only every N steps.
    ``spec.monitor_budget`` is split evenly: N keeps the readings under half
    of it, and an epoch's probe is skipped when probes so far would cost more
    than the other half of the training time.

    Args:
        model: Uncompiled keras.Model, built inside ``strategy.scope()``.
        optimizer: Keras optimizer, created inside the same scope (a LossScaleOptimizer under mixed_float16).
        loss: Key of LOSSES.
        metric: "accuracy" (class index targets) or "mae", computed beside the loss.
        spec: The Recipe's train section.
        strategy: The tf.distribute strategy.
        checkpoints: Where epoch checkpoints go (None = none).
        callbacks: Event consumers.
        probe: Builds the per-epoch probe record (``rnnstudio.train.probes.Probe``), or None.
    """

    def __init__(self, model, optimizer, *, loss: str, metric: str, spec, strategy, checkpoints: CheckpointStore | None,
                 callbacks: list[TrainingCallback] = (), probe=None):
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = LOSSES[loss]()
        self.metric = metric
        self.spec = spec
        self.strategy = strategy
        self.checkpoints = checkpoints
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            callback.set_trainer(self)
        if not optimizer.built:
            # Optimizer slots created lazily inside the distributed step break under MirroredStrategy.
            with strategy.scope():
                optimizer.build(model.trainable_variables)
        self.probe = probe
        self._trained_seconds = self._probe_seconds = self._probe_cost = 0.0  # the probes' share of the budget
        self.stop_requested = False
        owners = variable_layers(model)
        self.layer_names = list(dict.fromkeys(owners))  # forward order, as the model summary lists them
        self._layer_index = [self.layer_names.index(name) for name in owners]
        self.monitoring = {"grad_norm_every": None, "step_ms": None, "reading_ms": None}

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
        loss_scaling = scales_loss(optimizer)

        def replica_step(x, y, w):
            with tf.GradientTape() as tape:
                pred = model(x, training=True)
                per_example = self.loss_fn(y, tf.cast(pred, tf.float32))
                loss = tf.nn.compute_average_loss(per_example, sample_weight=w)
                if model.losses:
                    loss += tf.nn.scale_regularization_loss(tf.cast(tf.add_n(model.losses), tf.float32))
                scaled = optimizer.scale_loss(loss) if loss_scaling else loss
            variables = model.trainable_variables
            grads = tape.gradient(scaled, variables)
            grads = [tf.zeros_like(v) if g is None else tf.cast(tf.convert_to_tensor(g), tf.float32)
                     for g, v in zip(grads, variables)]
            if loss_scaling:
                # Norms, clipping and the NaN watch see the true (unscaled) gradient.
                scale = tf.cast(tf.convert_to_tensor(optimizer.dynamic_scale), tf.float32)
                grads = [g / scale for g in grads]
            context = tf.distribute.get_replica_context()
            if replicas > 1:
                # Sum across replicas first so clipping and monitoring see the true gradient;
                # the optimizer sums again, so hand it an equal 1/replicas share.
                grads = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
            squares = tf.stack([tf.reduce_sum(tf.square(g)) for g in grads])
            layer_norms = tf.sqrt(tf.math.unsorted_segment_sum(squares, segment, n_layers))
            global_norm = tf.sqrt(tf.reduce_sum(squares))
            largest = tf.constant(0.0)
            if spec.clip == "norm":
                grads, _ = tf.clip_by_global_norm(grads, spec.clip_value, use_norm=global_norm)
            elif spec.clip == "value":
                largest = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g)) for g in grads]))
                grads = [tf.clip_by_value(g, -spec.clip_value, spec.clip_value) for g in grads]
            if replicas > 1:
                grads = [g / replicas for g in grads]
            if loss_scaling:
                grads = [g * scale for g in grads]  # the LossScaleOptimizer unscales, and skips non-finite steps
            optimizer.apply_gradients(zip(grads, variables))
            return loss, self._metric_sum(y, pred, w), tf.reduce_sum(w), layer_norms, global_norm, largest

        @tf.function(reduce_retracing=True)
        def train_step(x, y, w):
            loss, metric, count, layer_norms, global_norm, largest = strategy.run(replica_step, args=(x, y, w))
            sum_ = tf.distribute.ReduceOp.SUM
            first = strategy.experimental_local_results
            # One small vector per step: a single host transfer instead of one per number.
            scalars = tf.stack([strategy.reduce(sum_, loss, axis=None), strategy.reduce(sum_, metric, axis=None),
                                strategy.reduce(sum_, count, axis=None), first(global_norm)[0], first(largest)[0],
                                self._loss_scale()])
            return scalars, first(layer_norms)[0]

        return train_step

    def _loss_scale(self):
        if scales_loss(self.optimizer):
            return tf.cast(tf.convert_to_tensor(self.optimizer.dynamic_scale), tf.float32)
        return tf.constant(1.0)

    def _metric_sum(self, y, pred, w):
        pred = tf.cast(pred, tf.float32)
        if self.metric == "accuracy":
            hits = tf.cast(tf.equal(tf.cast(y, tf.int64), tf.argmax(pred, axis=-1)), tf.float32)
        else:
            hits = tf.reduce_mean(tf.abs(tf.cast(y, tf.float32) - pred), axis=-1)
        return tf.reduce_sum(hits * tf.cast(w > 0, tf.float32))

    def _clipped(self, global_norm: float, largest: float) -> bool:
        if self.spec.clip == "norm":
            return global_norm > self.spec.clip_value
        return self.spec.clip == "value" and largest > self.spec.clip_value

    # ------------------------------------------------------------ evaluation
    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Model outputs for ``x`` in batches (inference mode)."""
        if not hasattr(self, "_predict_fn"):
            self._predict_fn = tf.function(lambda batch: tf.cast(self.model(batch, training=False), tf.float32),
                                           reduce_retracing=True)
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

    # ------------------------------------------------------------ probes
    def _probe(self, epoch: int, state: LoopState, clipped_share: float | None, *, train_seconds: float = 0.0,
               final: bool = False) -> None:
        if self.probe is None:
            return
        share = self.spec.monitor_budget / 2
        self._trained_seconds += train_seconds
        spent, last = self._probe_seconds, self._probe_cost
        # The first epochs and the last are always probed: untrained, early and trained network side by side.
        if epoch > 1 and not final and share > 0 and spent + last > share * self._trained_seconds:
            return  # short epochs: probe less often than every epoch rather than slow training down
        started = time.perf_counter()
        try:
            record, arrays = self.probe.measure(epoch, state.step, clipped_share=clipped_share)
        except Exception as exc:  # noqa: BLE001 - a probe must never end a training run
            warnings.warn(f"probe of epoch {epoch} failed: {type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
            return
        self._emit("on_probe", epoch, record, arrays)
        cost = time.perf_counter() - started
        if self._probe_cost:  # the first probe also builds its graphs: a one-off, neither budgeted nor an estimate
            self._probe_seconds = spent + cost
        self._probe_cost = cost

    # ------------------------------------------------------------ the loop
    def fit(self, train, val=None, *, sample_weight=None, state: LoopState | None = None,
            until: int | None = None) -> LoopState:
        """Trains until ``spec.epochs``, early stopping, divergence or a stop request.

        ``until`` returns after that epoch, mid-run: a later ``fit`` with the same state continues the run.
        """
        spec = self.spec
        state = state or LoopState()
        steps_per_epoch = max(math.ceil(len(train.x) / spec.batch_size), 1)
        train_step = self._train_step()
        # Short epochs still get about five readings each, so small data sets draw curves too.
        log_every = max(1, min(spec.log_every_steps, math.ceil(steps_per_epoch / 5)))
        interval = GradientInterval(max(1, min(spec.grad_norm_every_steps, math.ceil(steps_per_epoch / 5))),
                                    spec.monitor_budget / 2) if spec.gradient_norms else None
        self._emit("on_train_begin", {"epochs": spec.epochs, "steps_per_epoch": steps_per_epoch,
                                      "initial_epoch": state.epoch, "layers": self.layer_names,
                                      "train_examples": len(train.x), "val_examples": 0 if val is None else len(val.x)})
        if state.step == 0:
            self._probe(0, state, None)  # the untrained network
        best_weights = self.checkpoints.load_best() if self.checkpoints and state.best < math.inf else None
        dataset = self._dataset(train.x, train.y, sample_weight, shuffle=True, epoch_seed=spec.seed)
        previous_norms = None
        for epoch in range(state.epoch + 1, min(spec.epochs, until or spec.epochs) + 1):
            self._emit("on_epoch_begin", epoch)
            started = time.perf_counter()
            totals = np.zeros(3)
            clipped_steps = 0
            tick = time.perf_counter()
            for batch_index, (x, y, w) in enumerate(dataset, start=1):
                scalars, layer_norms = train_step(x, y, w)
                loss, metric, count, global_norm, largest, loss_scale = scalars.numpy().tolist()
                state.step += 1
                if not math.isfinite(loss) or not (math.isfinite(global_norm) or self._scaler_skips(loss_scale)):
                    self._diverged(state, epoch, loss, layer_norms.numpy(), previous_norms)
                previous_norms = layer_norms
                clipped = self._clipped(global_norm, largest)
                clipped_steps += clipped
                totals += (loss * count, metric, count)
                if state.step % log_every == 0 or batch_index == steps_per_epoch:
                    self._emit("on_step_end", state.step, {
                        "epoch": epoch, "batch": batch_index, "loss": loss, "learning_rate": self.current_lr(),
                        "examples_per_second": totals[2] / max(time.perf_counter() - started, 1e-9)})
                now = time.perf_counter()
                if interval is not None and interval.due():
                    norms = layer_norms.numpy()
                    self._emit("on_gradients", state.step, {
                        "global": float(global_norm), "clipped": bool(clipped), "every": interval.every,
                        "layers": dict(zip(self.layer_names, map(float, norms)))})
                    read = time.perf_counter()
                    interval.observe(step_seconds=now - tick, reading_seconds=read - now)
                    now = read
                elif interval is not None:
                    interval.observe(step_seconds=now - tick)
                tick = now
                if self.stop_requested:
                    break
            if interval is not None:
                self.monitoring = interval.summary()
            if self.stop_requested:
                # Keep the finished batches: save weights, but record only completed epochs.
                if self.checkpoints:
                    self.checkpoints.save(self.model, self.optimizer, state)
                self._emit("on_train_end", {"reason": "stopped", "epoch": state.epoch, "monitoring": self.monitoring})
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
            stops_early = spec.early_stopping and val is not None and state.wait >= spec.patience
            # The probe sees the weights this epoch ends with, before any best-weights restore.
            self._probe(epoch, state, clipped_steps / max(batch_index, 1), train_seconds=seconds,
                        final=stops_early or epoch == spec.epochs)
            self._emit("on_epoch_end", epoch, logs)
            # Rows first, checkpoint second: a kill in between re-trains this epoch and resume drops its rows.
            if self.checkpoints:
                self.checkpoints.save(self.model, self.optimizer, state)
            if stops_early:
                state.stopped_early = True
                break
        if spec.early_stopping and best_weights is not None:
            self.model.set_weights(best_weights)  # restore the best epoch (Keras restore_best_weights)
        self._emit("on_train_end", {"reason": "early_stopping" if state.stopped_early else "completed",
                                    "epoch": state.epoch, "best_epoch": state.best_epoch, "monitoring": self.monitoring})
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

    def _scaler_skips(self, loss_scale: float) -> bool:
        # Under loss scaling an overflowing gradient is routine: the optimizer skips the step and halves
        # the scale. Only when the scale has fallen below 1 is the unscaled gradient itself infinite.
        return scales_loss(self.optimizer) and loss_scale >= 1.0

    def _diverged(self, state: LoopState, epoch: int, loss: float, layer_norms: np.ndarray, previous) -> None:
        """Stops the run with a message naming the step and the layer to blame, as far as it can be known."""
        names = self.layer_names
        if math.isfinite(loss):
            # Backpropagation runs from the output to the input: the non-finite layer nearest the
            # output is where the gradient first went bad.
            bad = [name for name, n in zip(names, layer_norms) if not math.isfinite(float(n))]
            what = (f"the loss was finite ({loss:.4g}) but the gradient was not, first in layer '{bad[-1]}' "
                    f"(nearest the output{'; also in ' + ', '.join(repr(b) for b in bad[:-1]) if bad[:-1] else ''})"
                    if bad else f"the loss was finite ({loss:.4g}) but the global gradient norm overflowed")
            layer = bad[-1] if bad else None
        else:
            # A non-finite loss makes every gradient non-finite at once; the layer with the largest
            # gradient one step earlier is the best lead.
            what = f"the loss became {loss}, so every layer's gradient was non-finite"
            layer = None
            if previous is not None:
                prev = np.asarray(previous)
                if np.isfinite(prev).any():
                    i = int(np.nanargmax(np.where(np.isfinite(prev), prev, -1.0)))
                    layer = names[i]
                    what += f"; one step earlier the largest gradient was in layer '{layer}' (norm {prev[i]:.3g})"
        latest = self.checkpoints.latest() if self.checkpoints else None
        kept = (f"The last good checkpoint (after epoch {latest['state']['epoch']}, step {latest['state']['step']}) is kept."
                if latest else "No checkpoint was written before it (it diverged in its first epoch).")
        self._emit("on_train_end", {"reason": "diverged", "epoch": state.epoch, "step": state.step, "layer": layer,
                                    "monitoring": self.monitoring})
        clip = ("lower train.clip_value" if self.spec.clip != "none" else "set train.clip=norm (clip_value 1.0)")
        raise TrainingDiverged(
            f"training diverged at step {state.step} (epoch {epoch}): {what}. {kept}",
            fix=f"Lower train.learning_rate (e.g. ÷10) or {clip}, and check the data for extreme values.",
            field="train.learning_rate")

    def _emit(self, method: str, *args) -> None:
        for callback in self.callbacks:
            getattr(callback, method)(*args)
            if callback.stop_requested():
                self.stop_requested = True


class GradientInterval:
    """How many steps apart per-layer gradient norms are read, so reading costs at most ``budget`` of step time.

    Reading means a device-to-host copy and the callbacks' work (registry rows, TensorBoard scalars). Both
    costs are tracked as moving averages; the interval never falls below ``base`` (the Recipe's setting).
    """

    def __init__(self, base: int, budget: float):
        self.base, self.budget = base, budget
        self.every = base
        self._since = 0
        self._step: float | None = None
        self._reading: float | None = None
        self._warmup = 2  # the first steps include tracing

    def due(self) -> bool:
        self._since += 1
        if self._since >= self.every:
            self._since = 0
            return True
        return False

    @staticmethod
    def _average(old: float | None, new: float) -> float:
        return new if old is None else 0.9 * old + 0.1 * new

    def observe(self, *, step_seconds: float, reading_seconds: float | None = None) -> None:
        if self._warmup > 0:
            self._warmup -= 1
            return
        self._step = self._average(self._step, step_seconds)
        if reading_seconds is not None:
            self._reading = self._average(self._reading, reading_seconds)
        if self._step and self._reading is not None and self.budget > 0:
            self.every = max(self.base, math.ceil(self._reading / (self.budget * self._step)))

    def summary(self) -> dict:
        ms = (lambda s: None if s is None else round(s * 1000, 4))
        return {"grad_norm_every": self.every, "step_ms": ms(self._step), "reading_ms": ms(self._reading),
                "budget": self.budget}
