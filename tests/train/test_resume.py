"""Interrupted and stopped runs resume from their last checkpoint without gaps or duplicates."""

import pytest

from rnnstudio.data.load import sample_defaults
from rnnstudio.errors import RunError
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry
from rnnstudio.train.callbacks import TrainingCallback
from rnnstudio.train.runner import resume, train


class Crash(TrainingCallback):
    """Simulates a killed process: raises as the epoch after ``epoch`` completed epochs begins."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_begin(self, epoch):
        if epoch == self.epoch + 1:
            raise KeyboardInterrupt


class StopAfter(TrainingCallback):
    def __init__(self, epoch):
        self.epoch, self.done = epoch, 0

    def on_epoch_end(self, epoch, logs):
        self.done = epoch

    def stop_requested(self):
        return self.done >= self.epoch


def airline(epochs=6):
    recipe = default_recipe(source="sample:airline", **sample_defaults("sample:airline"))
    return recipe.with_overrides({"train.epochs": epochs, "train.early_stopping": False, "model.units": 8})


def test_resume_after_interrupt_continues_from_the_last_checkpoint():
    registry = RunRegistry()
    with pytest.raises(KeyboardInterrupt):
        train(airline(), registry=registry, callbacks=[Crash(3)])
    run = registry.list()[0]
    assert run.status == "interrupted"
    assert [r["epoch"] for r in registry.metrics(run.run_id)] == [1, 2, 3]
    first_three = registry.metrics(run.run_id)
    result = resume(run.run_id, registry=registry)
    epochs = registry.metrics(run.run_id)
    assert [r["epoch"] for r in epochs] == [1, 2, 3, 4, 5, 6]  # no gaps, no duplicates
    assert epochs[:3] == first_three  # the first epochs were not trained again
    assert registry.get(run.run_id).status == "completed"
    assert result.metrics["training"]["epochs"] == 6


def test_graceful_stop_then_resume():
    registry = RunRegistry()
    with pytest.raises(RunError, match="stopped after epoch 2"):
        train(airline(5).with_overrides({"train.log_every_steps": 1}), registry=registry, callbacks=[StopAfter(2)])
    run = registry.list()[0]
    assert run.status == "stopped"
    assert (run.folder / "checkpoints" / "latest.json").exists()
    resume(run.run_id, registry=registry)
    assert [r["epoch"] for r in registry.metrics(run.run_id)] == [1, 2, 3, 4, 5]
    # The batch finished before the stop is kept: step rows run on without a gap or a repeat.
    steps = [r["step"] for r in registry.metrics(run.run_id, kind="step")]
    assert steps == list(range(1, 5 * registry.get(run.run_id).summary["plan"]["steps_per_epoch"] + 2))


def test_a_completed_run_cannot_be_resumed():
    registry = RunRegistry()
    result = train(airline(2), registry=registry)
    with pytest.raises(RunError, match="already completed"):
        resume(result.run_id, registry=registry)
