"""Training throughput with all monitoring on against all of it off, same model, one process.

"On" is what a run does by default: per-layer gradient norms read every N
steps (N chosen to cost at most 3 % of step time) and sent to the run
registry and TensorBoard, plus a probe record (gradients through time,
histograms, gates, hidden states) after every epoch, written to disk and to
TensorBoard. "Off" keeps only the loss/metric stream to the registry. Same
model as bench/train_overhead.py (LSTM(128) over 50 steps of 8 features).
Rounds alternate in one process; medians are compared, because single runs
on a shared CPU vary by ±30 %. Because that noise can swamp a 3 % effect,
the time spent in monitoring itself (the probe and its writers, and the
gradient-norm readings) is also clocked and printed as a share of epoch time.

    python bench/monitoring_overhead.py [--rounds 9] [--samples 8192]
"""

from __future__ import annotations

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
from rnnstudio.train.callbacks import ProbeWriter, RegistryLogger, TensorBoardLogger
from rnnstudio.train.loop import LOSSES, LoopState, Trainer, make_optimizer
from rnnstudio.train.probes import Probe
from rnnstudio.train.strategy import select_strategy

from train_overhead import BATCH, make_data, make_model, parse_args  # the same model, data and options


class Side:
    """One trainer that goes on epoch after epoch, so each timed round is one more epoch of one run."""

    def __init__(self, spec: TrainSpec, registry: RunRegistry, *, monitored: bool, probe_x, probe_y):
        keras.utils.set_random_seed(0)
        strategy = select_strategy("auto")
        with strategy.scope():
            model = make_model()
            optimizer = make_optimizer(spec, steps_per_epoch=1)
        run = registry.create_run({}, task="forecasting", model="bench")
        callbacks = [RegistryLogger(registry, run.run_id, run.folder)]
        probe = None
        if monitored:
            callbacks += [ProbeWriter(run.folder), TensorBoardLogger(run.folder / "tensorboard")]
            probe = Probe(model, probe_x, probe_y, loss_fn=LOSSES["mse"]())
        self.spec = spec
        self.trainer = Trainer(model, optimizer, loss="mse", metric="mae", spec=spec, strategy=strategy,
                               checkpoints=None, callbacks=callbacks, probe=probe)
        self.state = LoopState()
        self.probe_seconds = 0.0
        measure = self.trainer._probe

        def timed_probe(*args, **kwargs):
            t0 = time.perf_counter()
            measure(*args, **kwargs)
            self.probe_seconds += time.perf_counter() - t0

        self.trainer._probe = timed_probe

    def epoch(self, split: Split) -> None:
        # One epoch of one long run, so the run's first and last epochs (always probed) are not every epoch.
        self.state = self.trainer.fit(split, state=self.state, until=self.state.epoch + 1)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    x, y = make_data(args.samples)
    common = dict(batch_size=BATCH, schedule="constant", early_stopping=False, clip="norm", epochs=1000)
    on_spec = TrainSpec(**common)  # defaults: gradient norms, probes, monitor_budget 0.03
    off_spec = TrainSpec(**common, gradient_norms=False, probes=False, tensorboard=False)
    registry = RunRegistry(Path(tempfile.mkdtemp(prefix="rnnstudio-bench-")))
    on = Side(on_spec, registry, monitored=True, probe_x=x[:32], probe_y=y[:32])
    off = Side(off_spec, registry, monitored=False, probe_x=None, probe_y=None)
    warmup = Split(x[:BATCH * 4], y[:BATCH * 4])
    on.epoch(warmup)  # trace the step and the probe once
    off.epoch(warmup)
    split = Split(x, y)

    def timed(side):
        t0 = time.perf_counter()
        side.epoch(split)
        return args.samples / (time.perf_counter() - t0)

    on.probe_seconds = 0.0
    on_rates, off_rates = [], []
    for round_ in range(args.rounds):
        # Alternate which side goes first so drift in machine load falls on both alike.
        order = [(off_rates, off), (on_rates, on)]
        for rates, side in order if round_ % 2 == 0 else order[::-1]:
            rates.append(timed(side))
        print(f"round {round_ + 1}: off {off_rates[-1]:,.0f} samples/s, on {on_rates[-1]:,.0f} samples/s")
    off_median, on_median = float(np.median(off_rates)), float(np.median(on_rates))
    monitoring = on.trainer.monitoring
    epoch_seconds = args.samples / on_median
    probe_ms = on.probe_seconds / args.rounds * 1000
    steps = args.samples / BATCH
    reading_ms = (monitoring["reading_ms"] or 0.0) * steps / monitoring["grad_norm_every"]
    print(f"clocked monitoring cost: probe + writers {probe_ms:.0f} ms and gradient readings {reading_ms:.0f} ms "
          f"per {epoch_seconds * 1000:.0f} ms epoch = {(probe_ms + reading_ms) / (epoch_seconds * 1000):.1%}")
    print(f"best-round ratio on/off: {max(on_rates) / max(off_rates):.3f}")
    print(f"monitoring off : {off_median:,.0f} samples/s (median of {args.rounds})")
    print(f"monitoring on  : {on_median:,.0f} samples/s (gradient norms every {monitoring['grad_norm_every']} steps: "
          f"reading {monitoring['reading_ms']} ms per {monitoring['step_ms']} ms step; probes within the budget; TensorBoard)")
    print(f"ratio on/off: {on_median / off_median:.3f} (target >= 0.97)")


if __name__ == "__main__":
    main()
