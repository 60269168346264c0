"""Keras building blocks shared by the zoo's families: inputs, recurrent stacks, pooling, heads."""

from __future__ import annotations

import numpy as np
import keras

from rnnstudio.zoo.layers import AttentionPooling, LastStep, MaskedGlobalMaxPooling1D
from rnnstudio.zoo.registry import InputSpec, ModelSpec

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}


def regularizer(spec: ModelSpec):
    return keras.regularizers.L2(spec.l2) if spec.l2 > 0 else None


def model_inputs(spec: ModelSpec, input_spec: InputSpec):
    """The Input tensor and its embedded/masked sequence [batch, T, D].

    Token id 0 is padding and numeric all-zero steps are padding (series are
    zero-padded after scaling), so masks reach every recurrent layer.
    """
    if input_spec.kind == "tokens":
        inputs = keras.Input(shape=(input_spec.seq_len,), dtype="int32", name="tokens")
        initializer, dim = "uniform", spec.embedding_dim
        if input_spec.embeddings:
            matrix = np.load(input_spec.embeddings, allow_pickle=False)
            initializer, dim = keras.initializers.Constant(matrix), matrix.shape[1]
        x = keras.layers.Embedding(
            input_spec.vocab_size, dim, mask_zero=True, embeddings_initializer=initializer,
            trainable=spec.embeddings_trainable or not input_spec.embeddings, name="embedding",
        )(inputs)
        if spec.embedding_dropout > 0:
            x = keras.layers.SpatialDropout1D(spec.embedding_dropout, name="embedding_dropout")(x)
        return inputs, x
    inputs = keras.Input(shape=(input_spec.seq_len, input_spec.n_features), name="series")
    if not input_spec.masked:
        return inputs, inputs
    return inputs, keras.layers.Masking(mask_value=0.0, name="padding_mask")(inputs)


def recurrent_stack(x, spec, *, keep_sequences: bool, prefix: str = "rnn"):
    """``spec.layers`` recurrent layers with optional bidirectional, residual and layer norm."""
    cell = CELLS[spec.cell]
    for i in range(spec.layers):
        last = i == spec.layers - 1
        layer = cell(
            spec.units,
            return_sequences=keep_sequences or not last,
            dropout=0.0,
            recurrent_dropout=spec.recurrent_dropout,
            kernel_initializer=spec.kernel_initializer,
            recurrent_initializer=spec.recurrent_initializer,
            kernel_regularizer=regularizer(spec),
            name=f"{prefix}_{spec.cell}_{i + 1}",
        )
        if spec.bidirectional:
            layer = keras.layers.Bidirectional(layer, merge_mode=spec.merge_mode, name=f"{prefix}_bi{spec.cell}_{i + 1}")
        y = layer(x)
        # Residual only between layers whose outputs are sequences of equal width.
        if spec.residual and i > 0 and (keep_sequences or not last) and y.shape[-1] == x.shape[-1]:
            y = keras.layers.Add(name=f"{prefix}_residual_{i + 1}")([x, y])
        if spec.layer_norm:
            y = keras.layers.LayerNormalization(name=f"{prefix}_norm_{i + 1}")(y)
        if spec.dropout > 0 and not last:
            y = keras.layers.Dropout(spec.dropout, name=f"{prefix}_dropout_{i + 1}")(y)
        x = y
    return x


def self_attention(x, *, heads: int, name: str = "self_attention"):
    """A post-norm multi-head self-attention block with a residual connection (mask-aware)."""
    dim = x.shape[-1]
    attended = keras.layers.MultiHeadAttention(heads, key_dim=max(dim // heads, 1), name=name)(x, x)
    return keras.layers.LayerNormalization(name=f"{name}_norm")(keras.layers.Add(name=f"{name}_residual")([x, attended]))


POOLINGS = {
    "last": lambda: LastStep(name="last_step"),
    "mean": lambda: keras.layers.GlobalAveragePooling1D(name="mean_pool"),
    "max": lambda: MaskedGlobalMaxPooling1D(name="max_pool"),
    "attention_additive": lambda: AttentionPooling("additive", name="attention_pool"),
    "attention_dot": lambda: AttentionPooling("dot", name="attention_pool"),
}


def pool(x, how: str):
    """Reduces a sequence [batch, T, D] to a vector; ``max_mean`` concatenates both."""
    if how == "max_mean":
        return keras.layers.Concatenate(name="max_mean_pool")([POOLINGS["max"]()(x), POOLINGS["mean"]()(x)])
    return POOLINGS[how]()(x)


def head(x, spec: ModelSpec, *, n_outputs: int, activation: str | None):
    """Dropout then the task's output layer, kept in float32 under mixed precision."""
    if spec.dropout > 0:
        x = keras.layers.Dropout(spec.dropout, name="head_dropout")(x)
    return keras.layers.Dense(
        n_outputs, activation=activation, kernel_initializer=spec.kernel_initializer,
        kernel_regularizer=regularizer(spec), dtype="float32", name="output",
    )(x)
