"""A small Transformer encoder, the non-recurrent reference point of the zoo."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnstudio.zoo.registry import InputSpec, ModelSpec, register_model


class TransformerSpec(ModelSpec):
    name: Literal["transformer"] = Field("transformer", description="Architecture family from the model zoo.")
    d_model: int = Field(64, ge=4, le=4096, description="Width of every token/step representation.")
    heads: int = Field(4, ge=1, le=64, description="Attention heads per block.")
    blocks: int = Field(2, ge=1, le=24, description="Encoder blocks (self-attention + feed-forward).")
    ff_dim: int = Field(128, ge=4, le=16384, description="Hidden width of each feed-forward layer.")
    pooling: Literal["mean", "max", "max_mean", "attention_additive", "attention_dot", "last"] = Field(
        "mean", description="How the encoded sequence becomes one vector."
    )


@register_model("transformer", spec=TransformerSpec, title="Transformer encoder (reference)")
def build_transformer(spec: TransformerSpec, *, input_spec: InputSpec, n_outputs: int, activation: str | None):
    """A small Transformer encoder with learnt positions (Vaswani et al. 2017).

    Post-norm blocks of multi-head self-attention and a ReLU feed-forward layer
    with residual connections, over a projection of the inputs plus a learnt
    position embedding; padded steps are masked out of attention and pooling.

    Use when: comparing a recurrent model against attention without recurrence
    on the same data, especially when sequences are long and data plentiful.

    Alternatives: ``rnn`` (usually better on small data sets), ``conv_rnn`` for
    numeric series.
    """
    import keras

    from rnnstudio.zoo import blocks
    from rnnstudio.zoo.layers import PositionEmbedding

    if input_spec.seq_len is None:
        raise ValueError("the transformer needs a fixed max_length for its position embedding")
    inputs, x = blocks.model_inputs(spec, input_spec)
    x = keras.layers.Dense(spec.d_model, name="projection")(x)
    x = PositionEmbedding(input_spec.seq_len, name="positions")(x)
    for i in range(1, spec.blocks + 1):
        attended = keras.layers.MultiHeadAttention(spec.heads, key_dim=max(spec.d_model // spec.heads, 1),
                                                   dropout=spec.dropout, name=f"block_{i}_attention")(x, x)
        x = keras.layers.LayerNormalization(name=f"block_{i}_norm_1")(keras.layers.Add(name=f"block_{i}_add_1")([x, attended]))
        ff = keras.layers.Dense(spec.ff_dim, activation="relu", name=f"block_{i}_ff_1")(x)
        ff = keras.layers.Dense(spec.d_model, name=f"block_{i}_ff_2")(ff)
        x = keras.layers.LayerNormalization(name=f"block_{i}_norm_2")(keras.layers.Add(name=f"block_{i}_add_2")([x, ff]))
    x = blocks.pool(x, spec.pooling)
    outputs = blocks.head(x, spec, n_outputs=n_outputs, activation=activation)
    return keras.Model(inputs, outputs, name="transformer")
