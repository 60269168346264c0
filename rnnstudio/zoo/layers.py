"""Custom Keras layers of the zoo; each is serializable and mask-aware."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="rnnstudio")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence [batch, T, D] to [batch, D] with learnt attention weights.

    ``score="additive"`` is Bahdanau et al. 2015 (a tanh MLP scores each step);
    ``score="dot"`` is Luong et al. 2015 (a learnt query vector dotted with each
    step, scaled by sqrt(D)). Padded steps (mask False) get zero weight. The
    weights of the last call are kept as ``last_attention`` for inspection.
    """

    def __init__(self, score: str = "additive", units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if score not in ("additive", "dot"):
            raise ValueError(f"score must be 'additive' or 'dot', got {score!r}")
        self.score = score
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        if self.score == "additive":
            self.w = self.add_weight(name="w", shape=(dim, self.units), initializer="glorot_uniform")
            self.b = self.add_weight(name="b", shape=(self.units,), initializer="zeros")
            self.v = self.add_weight(name="v", shape=(self.units,), initializer="glorot_uniform")
        else:
            self.query = self.add_weight(name="query", shape=(dim,), initializer="glorot_uniform")

    def attention_scores(self, inputs, mask=None):
        """Attention weights [batch, T] that sum to 1 over unmasked steps."""
        if self.score == "additive":
            scores = ops.tensordot(ops.tanh(ops.tensordot(inputs, self.w, axes=1) + self.b), self.v, axes=1)
        else:
            scores = ops.tensordot(inputs, self.query, axes=1) / ops.sqrt(ops.cast(ops.shape(inputs)[-1], inputs.dtype))
        # Softmax in float32: under mixed_float16 the -1e9 mask value would overflow to -inf.
        scores = ops.cast(scores, "float32")
        if mask is not None:
            # A large negative (not -inf) keeps fully masked rows finite.
            scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
        return ops.cast(ops.softmax(scores, axis=-1), inputs.dtype)

    def call(self, inputs, mask=None):
        weights = self.attention_scores(inputs, mask)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "score": self.score, "units": self.units}


@keras.saving.register_keras_serializable(package="rnnstudio")
class MaskedGlobalMaxPooling1D(keras.layers.Layer):
    """Max over time that ignores padded steps (Keras' own ignores the mask)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.full_like(inputs, -1e9))
        return ops.max(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="rnnstudio")
class LastStep(keras.layers.Layer):
    """The output at each example's last real (unpadded) step, [batch, T, D] → [batch, D].

    A recurrent layer with ``return_sequences=False`` already does this; this
    layer is for sequences after blocks (self-attention) that keep every step.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return inputs[:, -1, :]
        steps = ops.sum(ops.cast(mask, "int32"), axis=1)
        last = ops.maximum(steps - 1, 0)
        return ops.take_along_axis(inputs, last[:, None, None] * ops.ones_like(inputs[:, :1, :], dtype="int32"), axis=1)[:, 0, :]

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="rnnstudio")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learnt embedding of each step's position to [batch, T, D]; passes the mask on."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.supports_masking = True

    def build(self, input_shape):
        self.positions = self.add_weight(name="positions", shape=(self.max_length, input_shape[-1]),
                                         initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, inputs):
        return inputs + ops.cast(self.positions[: ops.shape(inputs)[1]], inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


@keras.saving.register_keras_serializable(package="rnnstudio")
class SelectChannel(keras.layers.Layer):
    """One feature channel of a sequence, [batch, T, F] → [batch, T] (no Lambda: safe to load)."""

    def __init__(self, index: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.index = index

    def call(self, inputs):
        return inputs[:, :, self.index]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def get_config(self):
        return {**super().get_config(), "index": self.index}
