"""How much memory a model will need to train, estimated from its settings before it is built.

Building a model with 16 bidirectional layers of 4096 LSTM units allocates
gigabytes before anything can be said about it, so the estimate counts
parameters and activations from the Recipe's model section and the fitted
input shape alone (no TensorFlow). It is close to Keras' own parameter count
for every zoo family (a test compares them) and deliberately rounds
activations up.
"""

from __future__ import annotations

from typing import Callable

from rnnstudio.errors import StudioError
from rnnstudio.limits import model_memory_budget
from rnnstudio.zoo.registry import InputSpec, ModelSpec

FLOAT_BYTES = 4
# Weights, their gradients and Adam's two moments: four floats per trainable parameter.
COPIES_PER_PARAMETER = 4
# Forward values kept for backpropagation per recurrent unit and step: the gates plus the state.
_GATES = {"lstm": 4, "gru": 3, "simple_rnn": 1}


def _recurrent(spec, width: int, steps: int) -> tuple[int, int, int]:
    """(parameters, activations per example, output width) of a recurrent stack on ``width`` inputs."""
    gates = _GATES.get(spec.cell, 4)
    directions = 2 if spec.bidirectional else 1
    params = activations = 0
    for _ in range(spec.layers):
        # Kernel, recurrent kernel and (up to two, GRU) biases per gate, per direction.
        params += directions * gates * spec.units * (width + spec.units + 2)
        activations += directions * steps * spec.units * (gates + 1)
        width = spec.units * directions if spec.merge_mode == "concat" else spec.units
        if spec.layer_norm:
            params += 2 * width
    return params, activations, width


def _attention(width: int, heads: int, steps: int) -> tuple[int, int]:
    """(parameters, activations per example) of one multi-head self-attention block."""
    key = max(width // heads, 1)
    params = 4 * heads * key * width + 3 * heads * key + width + 2 * width
    return params, heads * steps * steps + 4 * steps * width


def _rnn(spec, width: int, steps: int) -> tuple[int, int, int]:
    params, activations, width = _recurrent(spec, width, steps)
    if spec.self_attention_heads:
        extra, acts = _attention(width, spec.self_attention_heads, steps)
        params, activations = params + extra, activations + acts
    if spec.pooling.startswith("attention"):
        params += width * width + 2 * width
    if spec.pooling == "max_mean":
        width *= 2
    return params, activations, width


def _conv_rnn(spec, width: int, steps: int) -> tuple[int, int, int]:
    params, activations, conv_width = 0, 0, width
    for filters, kernel in zip(spec.filters, spec.kernel_sizes):
        params += kernel * conv_width * filters + filters + 4 * filters  # conv and batch norm
        activations += 3 * steps * filters  # convolution, normalisation, ReLU
        conv_width = filters
    if spec.arrangement == "parallel":
        rnn_params, rnn_acts, rnn_width = _recurrent(spec, width, steps)
        return params + rnn_params, activations + rnn_acts, conv_width + rnn_width
    rnn_params, rnn_acts, rnn_width = _recurrent(spec, conv_width, steps)
    return params + rnn_params, activations + rnn_acts, rnn_width


def _transformer(spec, width: int, steps: int) -> tuple[int, int, int]:
    d = spec.d_model
    params = width * d + d + steps * d
    activations = steps * d
    for _ in range(spec.blocks):
        attention, acts = _attention(d, spec.heads, steps)
        params += attention + (d * spec.ff_dim + spec.ff_dim) + (spec.ff_dim * d + d) + 2 * d
        activations += acts + steps * (spec.ff_dim + 3 * d)
    if spec.pooling.startswith("attention"):
        params += d * d + 2 * d
    return params, activations, 2 * d if spec.pooling == "max_mean" else d


BODIES: dict[str, Callable[[ModelSpec, int, int], tuple[int, int, int]]] = {
    "rnn": _rnn,
    "conv_rnn": _conv_rnn,
    "transformer": _transformer,
}
"""Model family → ``(spec, input width, steps) -> (parameters, activations per example, output width)``."""


def estimate_memory(spec: ModelSpec, input_spec: InputSpec, n_outputs: int, batch_size: int) -> dict:
    """Parameters and training memory of a model, without building it.

    Args:
        spec: The Recipe's model section.
        input_spec: The fitted input shape (steps, features, vocabulary).
        n_outputs: Classes or forecast steps.
        batch_size: Examples per step actually used (at most the training examples).

    Returns:
        ``parameters``, ``weights_and_optimizer`` and ``activations`` (bytes),
        ``total`` (bytes) and ``batch_size``.
    """
    steps = input_spec.seq_len or 1
    params = 0
    width = input_spec.n_features
    activations = steps * width
    if input_spec.kind == "tokens":
        width = spec.embedding_dim
        params += (input_spec.vocab_size or 2) * width
        activations += steps * width
    body = BODIES.get(spec.name)
    if body is not None:
        body_params, body_acts, width = body(spec, width, steps)
        params, activations = params + body_params, activations + body_acts
    params += width * n_outputs + n_outputs
    weights = FLOAT_BYTES * COPIES_PER_PARAMETER * params
    activation_bytes = FLOAT_BYTES * batch_size * activations * 2  # forward values and their gradients
    return {"parameters": int(params), "weights_and_optimizer": int(weights), "activations": int(activation_bytes),
            "total": int(weights + activation_bytes), "batch_size": int(batch_size)}


def check_model_memory(recipe, prepared) -> dict:
    """The estimate for ``recipe``'s model on ``prepared`` data; a StudioError when it would not fit.

    Raises:
        StudioError: naming the setting to lower (``model.*`` or ``train.batch_size``).
    """
    batch = max(min(recipe.train.batch_size, len(prepared.train)), 1)
    estimate = estimate_memory(recipe.model, prepared.input_spec, prepared.n_outputs, batch)
    budget = model_memory_budget()
    if estimate["total"] > budget:
        heavy = "weights_and_optimizer" if estimate["weights_and_optimizer"] >= estimate["activations"] else "activations"
        if heavy == "activations":
            field, fix = "train.batch_size", "Lower train.batch_size, preprocess.max_length or the model's width."
        else:
            field = "model.units" if hasattr(recipe.model, "units") else "model.name"
            fix = ("Make the model smaller (fewer units, layers or blocks, a smaller embedding) "
                   "or lower preprocess.max_vocab.")
        raise StudioError(
            f"the model would need about {_gigabytes(estimate['total'])} to train "
            f"({estimate['parameters']:,} parameters), more than the {_gigabytes(budget)} allowed.",
            fix=fix, field=field)
    return estimate


def _gigabytes(size: int) -> str:
    return f"{size / 1024**3:,.1f} GB" if size >= 1024**3 else f"{size / 1024**2:,.0f} MB"
