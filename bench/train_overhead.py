"""Training throughput of the studio's loop against plain ``model.fit`` on the same work.

Same model (LSTM(128) over 50 steps of 8 features), same data, batch and
optimizer. The studio path runs with its event stream, per-layer gradient
norms every 10 steps, clipping, and the run registry logger; plain Keras runs
``model.fit(verbose=0)``. Rounds alternate in one process; medians are
compared, because single runs on a shared CPU vary by ±30 %.

    python bench/train_overhead.py [--rounds 9] [--samples 8192]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import keras

from rnnstudio.recipe import TrainSpec
from rnnstudio.runs import RunRegistry
from rnnstudio.tasks.base import Split
from rnnstudio.train.callbacks import RegistryLogger, TrainingCallback
from rnnstudio.train.loop import Trainer, make_optimizer
from rnnstudio.train.strategy import select_strategy

STEPS, FEATURES, UNITS, BATCH = 50, 8, 128, 128


def make_model():
    inputs = keras.Input((STEPS, FEATURES))
    x = keras.layers.LSTM(UNITS)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


class Counter(TrainingCallback):
    """Stands in for a live chart: consumes every event."""

    def __init__(self):
        self.events = 0

    def on_step_end(self, step, logs):
        self.events += 1

    def on_gradients(self, step, norms):
        self.events += 1


def parse_args(description: str) -> argparse.Namespace:
    """The options every training bench takes: rounds to alternate and samples per epoch."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--samples", type=int, default=8192)
    return parser.parse_args()


def make_data(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Random series and a target that needs the last five steps: the same work for every bench."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, STEPS, FEATURES)).astype("float32")
    return x, (x[:, -5:, 0].mean(axis=1, keepdims=True)).astype("float32")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    x, y = make_data(args.samples)
    spec = TrainSpec(epochs=1, batch_size=BATCH, schedule="constant", early_stopping=False, clip="norm")

    keras.utils.set_random_seed(0)
    plain = make_model()
    plain.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0), loss="mse")
    plain.fit(x[:BATCH * 2], y[:BATCH * 2], batch_size=BATCH, epochs=1, verbose=0)  # trace once

    keras.utils.set_random_seed(0)
    strategy = select_strategy("auto")
    with strategy.scope():
        studio_model = make_model()
        optimizer = make_optimizer(spec, steps_per_epoch=args.samples // BATCH)
    home = Path(tempfile.mkdtemp(prefix="rnnstudio-bench-"))
    registry = RunRegistry(home)
    run = registry.create_run({}, task="forecasting", model="bench")
    counter = Counter()
    trainer = Trainer(studio_model, optimizer, loss="mse", metric="mae", spec=spec, strategy=strategy, checkpoints=None,
                      callbacks=[RegistryLogger(registry, run.run_id, run.folder), counter])
    trainer.fit(Split(x[:BATCH * 2], y[:BATCH * 2]))  # trace once

    def time_plain():
        t0 = time.perf_counter()
        plain.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
        return args.samples / (time.perf_counter() - t0)

    def time_studio():
        t0 = time.perf_counter()
        trainer.fit(Split(x, y))
        return args.samples / (time.perf_counter() - t0)

    studio_rates, plain_rates = [], []
    for round_ in range(args.rounds):
        # Alternate which side goes first so drift in machine load falls on both alike.
        order = [(plain_rates, time_plain), (studio_rates, time_studio)]
        for rates, timed in order if round_ % 2 == 0 else order[::-1]:
            rates.append(timed())
        print(f"round {round_ + 1}: plain {plain_rates[-1]:,.0f} samples/s, studio {studio_rates[-1]:,.0f} samples/s")
    plain_median, studio_median = float(np.median(plain_rates)), float(np.median(studio_rates))
    print(f"plain model.fit : {plain_median:,.0f} samples/s (median of {args.rounds})")
    print(f"studio training : {studio_median:,.0f} samples/s (events {counter.events}, gradient norms every "
          f"{spec.grad_norm_every_steps} steps, registry logging)")
    print(f"ratio studio/plain: {studio_median / plain_median:.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
