"""The training-memory estimate: close to Keras' own counts, and computed without building anything."""

import subprocess
import sys
from pathlib import Path

import pytest

from rnnstudio.memory import estimate_memory
from rnnstudio.zoo.registry import InputSpec, get_model, list_models

ROOT = Path(__file__).resolve().parents[1]

VARIANTS = [
    ("rnn", {}, InputSpec("tokens", 50, 1, 5000)),
    ("rnn", {"cell": "gru", "units": 32, "layers": 2, "bidirectional": True, "pooling": "max_mean", "layer_norm": True},
     InputSpec("tokens", 40, 1, 3000)),
    ("rnn", {"cell": "simple_rnn", "pooling": "attention_additive", "self_attention_heads": 2}, InputSpec("numeric", 30, 3)),
    ("conv_rnn", {}, InputSpec("numeric", 60, 2)),
    ("conv_rnn", {"arrangement": "stacked"}, InputSpec("numeric", 60, 2)),
    ("transformer", {}, InputSpec("tokens", 40, 1, 2000)),
    ("transformer", {"pooling": "attention_dot"}, InputSpec("numeric", 40, 4)),
]


def test_every_family_has_an_estimate():
    assert {name for name, _, _ in VARIANTS} == set(list_models())


@pytest.mark.parametrize("name, fields, input_spec", VARIANTS, ids=[f"{v[0]}-{i}" for i, v in enumerate(VARIANTS)])
def test_parameter_estimate_is_within_10_percent_of_keras(name, fields, input_spec):
    from rnnstudio.zoo.registry import build_model

    spec = get_model(name).spec.model_validate({"name": name, **fields})
    built = build_model(spec, input_spec=input_spec, n_outputs=3, activation="softmax").count_params()
    estimate = estimate_memory(spec, input_spec, 3, batch_size=32)
    assert abs(estimate["parameters"] - built) <= 0.1 * built, (estimate["parameters"], built)
    assert estimate["weights_and_optimizer"] == 16 * estimate["parameters"]


def test_activations_grow_with_the_batch_and_the_length():
    spec = get_model("rnn").spec.model_validate({"name": "rnn"})
    small = estimate_memory(spec, InputSpec("numeric", 10, 1), 1, batch_size=8)
    assert estimate_memory(spec, InputSpec("numeric", 10, 1), 1, batch_size=16)["activations"] == 2 * small["activations"]
    assert estimate_memory(spec, InputSpec("numeric", 20, 1), 1, batch_size=8)["activations"] > small["activations"]


def test_a_huge_model_is_refused_without_loading_keras():
    code = """
import sys
from rnnstudio.memory import check_model_memory
from rnnstudio.errors import StudioError
from rnnstudio.recipe import default_recipe
from rnnstudio.tasks.base import Prepared, Split
from rnnstudio.zoo.registry import InputSpec
import numpy as np
recipe = default_recipe(task="text-classification", target="y").with_overrides(
    {"model.units": 4096, "model.layers": 16, "model.bidirectional": True})
split = Split(np.zeros((10, 5)), np.zeros(10))
prepared = Prepared(split, None, split, None, InputSpec("tokens", 5, 1, 100), 2, {})
try:
    check_model_memory(recipe, prepared)
except StudioError as exc:
    assert exc.field == "model.units" and "GB" in exc.message, exc
else:
    raise SystemExit("not refused")
assert not any(m in sys.modules for m in ("keras", "tensorflow")), "keras was imported"
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
