"""Monitoring during training: per-layer gradient norms, the NaN/Inf watch and probe files of real runs."""

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from rnnstudio.data.load import sample_defaults
from rnnstudio.recipe import TrainSpec, default_recipe
from rnnstudio.runs import RunRegistry
from rnnstudio.runs.probe_files import probe_path, probe_records
from rnnstudio.tasks.base import Split
from rnnstudio.train.callbacks import TrainingCallback
from rnnstudio.train.loop import GradientInterval, Trainer, TrainingDiverged, make_optimizer
from rnnstudio.train.runner import resume, train
from rnnstudio.train.strategy import select_strategy


class GradientLog(TrainingCallback):
    def __init__(self):
        self.readings, self.last_step, self.end = [], 0, None

    def on_gradients(self, step, norms):
        self.readings.append((step, norms))

    def on_step_end(self, step, logs):
        self.last_step = step

    def on_train_end(self, info):
        self.end = info


def small_model():
    inputs = keras.Input((12, 3))
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True), name="bilstm")(inputs)
    x = keras.layers.GRU(5, name="gru")(x)
    return keras.Model(inputs, keras.layers.Dense(2, dtype="float32", name="output")(x))


def data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 12, 3)).astype("float32")
    return x, np.stack([x[:, :, 0].sum(1), x[:, -1, 1]], axis=1).astype("float32")


def reference_norms(model, x, y) -> dict:
    """Per-layer gradient norms of the mean squared error from an explicit GradientTape."""
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.reduce_mean(tf.square(y - tf.cast(model(x, training=True), tf.float32)), axis=-1))
    grads = tape.gradient(loss, model.trainable_variables)
    out = {}
    for layer in model.layers:
        ids = {id(v) for v in layer.trainable_variables}
        squares = [float(tf.reduce_sum(tf.square(tf.cast(g, tf.float32))))
                   for g, v in zip(grads, model.trainable_variables) if id(v) in ids]
        if squares:
            out[layer.name] = math.sqrt(sum(squares))
    return out


def first_reading(precision: str):
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        keras.utils.set_random_seed(0)
        x, y = data()
        spec = TrainSpec(epochs=1, batch_size=len(x), clip="none", schedule="constant", grad_norm_every_steps=1,
                         monitor_budget=0.0, precision=precision, early_stopping=False)
        model = small_model()
        optimizer = make_optimizer(spec, steps_per_epoch=1)
        expected = reference_norms(model, x, y)
        log = GradientLog()
        Trainer(model, optimizer, loss="mse", metric="mae", spec=spec, strategy=select_strategy("default"),
                checkpoints=None, callbacks=[log]).fit(Split(x, y))
        return log.readings[0][1], expected, optimizer
    finally:
        keras.config.set_dtype_policy(policy)


def test_per_layer_gradient_norms_equal_an_explicit_gradient_tape():
    reported, expected, _ = first_reading("float32")
    assert list(reported["layers"]) == ["bilstm", "gru", "output"]  # a Bidirectional wrapper is one layer
    for layer, norm in expected.items():
        assert reported["layers"][layer] == pytest.approx(norm, rel=1e-4)
    assert reported["global"] == pytest.approx(math.sqrt(sum(n * n for n in expected.values())), rel=1e-4)


def test_under_mixed_float16_the_loss_is_scaled_and_the_norms_reported_unscaled():
    reported, expected, optimizer = first_reading("mixed_float16")
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert float(optimizer.dynamic_scale) > 1000  # the step really differentiated a scaled loss
    for layer, norm in expected.items():
        assert reported["layers"][layer] == pytest.approx(norm, rel=2e-2)


DISTRIBUTED = textwrap.dedent("""
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    sys.path.insert(0, sys.argv[1])
    from test_monitoring import GradientLog, data, reference_norms, small_model
    from rnnstudio.recipe import TrainSpec
    from rnnstudio.tasks.base import Split
    from rnnstudio.train.loop import Trainer, make_optimizer
    from rnnstudio.train.strategy import select_strategy
    keras.utils.set_random_seed(0)
    x, y = data()
    spec = TrainSpec(epochs=1, batch_size=len(x), clip="norm", clip_value=1e-3, schedule="constant",
                     grad_norm_every_steps=1, monitor_budget=0.0, early_stopping=False)
    strategy = select_strategy("mirrored")
    with strategy.scope():
        model = small_model()
        optimizer = make_optimizer(spec, steps_per_epoch=1)
    expected = reference_norms(model, x, y)
    log = GradientLog()
    Trainer(model, optimizer, loss="mse", metric="mae", spec=spec, strategy=strategy, checkpoints=None,
            callbacks=[log]).fit(Split(x, y))
    print(json.dumps({"replicas": strategy.num_replicas_in_sync, "reported": log.readings[0][1], "expected": expected}))
""")


def test_per_layer_gradient_norms_are_the_global_batchs_under_mirrored_strategy():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    out = subprocess.run([sys.executable, "-c", DISTRIBUTED, str(Path(__file__).parent)], capture_output=True,
                         text=True, env=env, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for layer, norm in result["expected"].items():
        # Summed over both replicas before reading: the norm of the whole batch's gradient, not half of it.
        assert result["reported"]["layers"][layer] == pytest.approx(norm, rel=1e-4)
    assert result["reported"]["clipped"] is True


def test_readings_are_spaced_to_stay_within_the_time_budget():
    interval = GradientInterval(base=2, budget=0.03)
    for _ in range(50):
        interval.observe(step_seconds=0.010, reading_seconds=0.001)  # a reading costs 10 % of a step
    assert interval.every == 4  # 1 ms / (3 % of 10 ms) → every 4th step: 2.5 % of step time
    cheap = GradientInterval(base=2, budget=0.03)
    for _ in range(50):
        cheap.observe(step_seconds=0.010, reading_seconds=0.00001)
    assert cheap.every == 2  # never more often than the Recipe asks


def test_the_diverged_message_names_the_layer_nearest_the_output_when_only_gradients_blew_up():
    spec = TrainSpec(clip="none")
    trainer = Trainer(small_model(), make_optimizer(spec, steps_per_epoch=1), loss="mse", metric="mae", spec=spec,
                      strategy=select_strategy("default"), checkpoints=None)
    from rnnstudio.train.loop import LoopState

    with pytest.raises(TrainingDiverged) as caught:
        trainer._diverged(LoopState(step=17), 3, 0.5, np.array([np.nan, np.inf, 1.0]), None)
    assert "step 17" in caught.value.message and "first in layer 'gru'" in caught.value.message
    assert "clip" in caught.value.fix and "learning_rate" in caught.value.fix
    with pytest.raises(TrainingDiverged) as caught:
        trainer._diverged(LoopState(step=5), 1, float("nan"), np.full(3, np.nan), np.array([1.0, 40.0, 2.0]))
    assert "the loss became nan" in caught.value.message and "largest gradient was in layer 'gru'" in caught.value.message


class BlowUp(TrainingCallback):
    """At the start of epoch 2 turns the learning rate absurdly high, so epoch 2 diverges after a good checkpoint."""

    def __init__(self):
        self.last_step = 0

    def on_step_end(self, step, logs):
        self.last_step = step

    def on_epoch_begin(self, epoch):
        # Not at the end of epoch 1: that epoch's checkpoint is written after its callbacks and would keep this rate.
        if epoch == 2:
            self.trainer.optimizer.learning_rate = 1e12


def test_a_diverging_run_fails_at_the_step_keeps_its_checkpoint_and_resumes_from_it():
    registry = RunRegistry()
    recipe = default_recipe(source="sample:airline", **sample_defaults("sample:airline")).with_overrides({
        "train.epochs": 3, "train.early_stopping": False, "model.units": 8, "train.optimizer": "sgd",
        "train.schedule": "constant", "train.clip": "none", "train.log_every_steps": 1,
        "train.monitor_budget": 0.0})  # a probe after every epoch, however short
    blow_up = BlowUp()
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+ \(epoch 2\)"):
        train(recipe, registry=registry, callbacks=[blow_up])
    run = registry.list()[0]
    assert run.status == "failed"
    step = int(re.search(r"diverged at step (\d+)", run.error).group(1))
    assert step == blow_up.last_step + 1  # the very step whose loss or gradient went non-finite
    assert "learning_rate" in run.error and "checkpoint (after epoch 1" in run.error
    assert [r["epoch"] for r in probe_records(run.folder)] == [0, 1]
    kept = {e: probe_path(run.folder, e).read_bytes() for e in (0, 1)}

    result = resume(run.run_id, registry=registry)  # the last good checkpoint loads and training goes on
    assert registry.get(run.run_id).status == "completed"
    assert all(math.isfinite(h["loss"]) for h in result.history)
    assert [r["epoch"] for r in probe_records(run.folder)] == [0, 1, 2, 3]
    assert {e: probe_path(run.folder, e).read_bytes() for e in (0, 1)} == kept  # old records not rewritten


def test_a_text_run_writes_probe_records_for_every_epoch_and_tensorboard_histograms(tmp_path):
    rng = np.random.default_rng(0)
    good, bad = ["great", "fine", "lovely", "good"], ["awful", "poor", "boring", "bad"]
    rows = []
    for i in range(80):
        words = good if i % 2 else bad
        rows.append((" ".join(rng.choice(words + ["the", "film", "was"], size=rng.integers(3, 9))), "pos" if i % 2 else "neg"))
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,sentiment\n" + "\n".join(f"{t},{s}" for t, s in rows) + "\n")
    recipe = default_recipe(source=str(csv), task="text-classification", target="sentiment",
                            text_column="review").with_overrides({
        "train.epochs": 2, "train.early_stopping": False, "train.batch_size": 16, "model.units": 6,
        "model.embedding_dim": 8, "model.pooling": "attention_additive", "train.probe_examples": 12,
        "train.monitor_budget": 0.0})  # a probe after every epoch, however short
    result = train(recipe)
    records = probe_records(result.folder)
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert "clipped_share" not in records[0] and 0.0 <= records[2]["clipped_share"] <= 1.0
    assert records[1]["step"] < records[2]["step"]
    last = records[-1]
    assert last["time_gradient"]["wrt"] == "embedding"
    assert {e["label"] for e in last["hidden"]["examples"]} <= {"pos", "neg"}
    assert all(t in good + bad + ["the", "film", "was", "<oov>"] for t in last["hidden"]["examples"][0]["tokens"])
    assert last["attention"]["layer"] == "attention_pool"
    tags = set()
    for events in (result.folder / "tensorboard").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(v.tag for v in event.summary.value)
    layer = next(iter(last["gates"]))
    assert {f"weights/{layer}", f"gradients/{layer}", f"gates/{layer}/update", "probe/clipped_share",
            f"gates/{layer}/update_saturated", "grad_norm/global"} <= tags
    monitoring = RunRegistry().get(result.run_id).summary["monitoring"]
    assert monitoring["grad_norm_every"] >= 1


def test_the_default_budget_probes_short_epochs_less_often_but_always_untrained_early_and_last(tmp_path):
    registry = RunRegistry()
    recipe = default_recipe(source="sample:airline", **sample_defaults("sample:airline")).with_overrides({
        "train.epochs": 8, "train.early_stopping": False, "model.units": 4, "train.tensorboard": False})
    result = train(recipe, registry=registry)
    epochs = [r["epoch"] for r in probe_records(result.folder)]
    # Epochs of a few milliseconds cannot pay for a probe each within 1.5 % of the training time.
    assert epochs[:2] == [0, 1] and epochs[-1] == 8 and len(epochs) < 1 + 8
