"""Stand-ins for a Keras model and optimizer (plain arrays, so checkpoint tests need no TensorFlow) and a kill switch."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field

import numpy as np


class Var:
    def __init__(self, value):
        self.value = np.asarray(value, dtype="float32")

    def numpy(self):
        return self.value

    def assign(self, value):
        self.value = np.asarray(value, dtype="float32")


class Model:
    def __init__(self, fill: float, n: int = 3):
        self.weights = [Var(np.full((64, 64), fill)) for _ in range(n)]

    @property
    def trainable_variables(self):
        return self.weights

    def set_weights(self, arrays):
        assert len(arrays) == len(self.weights)
        for var, value in zip(self.weights, arrays):
            var.assign(value)


class Optimizer:
    def __init__(self, fill: float):
        self.variables = [Var([fill]), Var(np.full((64, 64), fill))]

    def build(self, variables):
        pass


@dataclass
class State:
    epoch: int
    step: int
    history: list = field(default_factory=list)


def fills(model: Model, optimizer: Optimizer) -> set[float]:
    """Every distinct value in the weights and optimizer state (one value: one whole checkpoint)."""
    return {float(v) for var in [*model.weights, *optimizer.variables] for v in np.unique(var.value)}


class KillOnCall:
    """Wraps file-system functions so that the ``kill_at``-th call among them SIGKILLs this process."""

    def __init__(self, kill_at: int):
        self.kill_at, self.calls = kill_at, 0

    def wrap(self, real):
        def call(*args, **kwargs):
            self.calls += 1
            if self.calls == self.kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*args, **kwargs)
        return call
