"""Stacked recurrent networks: SimpleRNN, GRU or LSTM, optionally bidirectional, with attention."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rnnstudio.zoo.registry import InputSpec, ModelSpec, register_model


class RecurrentFields(ModelSpec):
    """Hyper-parameters of a recurrent stack, shared by every family that has one."""

    cell: Literal["lstm", "gru", "simple_rnn"] = Field("lstm", description="Recurrent cell: LSTM, GRU or a plain SimpleRNN.")
    units: int = Field(64, ge=1, le=4096, description="Hidden units per recurrent layer (per direction).")
    layers: int = Field(1, ge=1, le=16, description="Stacked recurrent layers.")
    bidirectional: bool = Field(False, description="Read each sequence forwards and backwards (needs the whole sequence; not for streaming).")
    merge_mode: Literal["concat", "sum", "ave", "mul"] = Field("concat", description="How the two directions are combined.")
    residual: bool = Field(False, description="Add each layer's input to its output (from layer 2 on; helps deep stacks).")
    layer_norm: bool = Field(False, description="Layer normalization after each recurrent layer.")
    recurrent_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout on the recurrent state; above 0 gives up the fast cuDNN kernel on GPUs."
    )
    recurrent_initializer: Literal["orthogonal", "glorot_uniform"] = Field(
        "orthogonal", description="Initialiser of hidden-to-hidden weights; orthogonal keeps gradients stable."
    )


class RNNSpec(RecurrentFields):
    name: Literal["rnn"] = Field("rnn", description="Architecture family from the model zoo.")
    pooling: Literal["last", "mean", "max", "max_mean", "attention_additive", "attention_dot"] = Field(
        "last", description="How the sequence of hidden states becomes one vector: last state, mean, max, both, or attention (additive/dot)."
    )
    self_attention_heads: int = Field(0, ge=0, le=64, description="Heads of a self-attention block after the recurrent layers (0 = none).")


def cudnn_blockers(spec: RecurrentFields) -> list[str]:
    """Why LSTM/GRU layers of ``spec`` would not use the cuDNN kernel on a GPU ([] = they would).

    Keras uses cuDNN only with tanh/sigmoid activations, no recurrent dropout,
    no unrolling and biases on (keras/src/backend/tensorflow/rnn.py).
    """
    if spec.cell == "simple_rnn":
        return ["SimpleRNN has no cuDNN kernel (it is cheap anyway)."]
    reasons = []
    if spec.recurrent_dropout > 0:
        reasons.append(f"recurrent_dropout = {spec.recurrent_dropout} (set 0 and use dropout instead).")
    return reasons


@register_model("rnn", spec=RNNSpec, title="Recurrent stack (SimpleRNN / GRU / LSTM)")
def build_rnn(spec: RNNSpec, *, input_spec: InputSpec, n_outputs: int, activation: str | None):
    """Stacked recurrent network: embedding or numeric input, recurrent layers, pooling, dense head.

    The classic sequence model (Elman 1990; LSTM, Hochreiter & Schmidhuber
    1997; GRU, Cho et al. 2014), with the options that make it strong in
    practice: bidirectional reading (Schuster & Paliwal 1997), residual
    connections and layer normalization between layers, and attention pooling
    over all hidden states (Bahdanau et al. 2015; Luong et al. 2015).

    Use when: text or numeric sequences up to a few hundred steps; GRU is the
    fast default, LSTM for long dependencies, SimpleRNN to show why gates help.

    Alternatives: ``conv_rnn`` for numeric series with local shapes (LSTM-FCN);
    ``transformer`` as a non-recurrent reference point.
    """
    import keras

    from rnnstudio.zoo import blocks

    inputs, x = blocks.model_inputs(spec, input_spec)
    sequence_out = spec.pooling != "last" or spec.self_attention_heads > 0
    x = blocks.recurrent_stack(x, spec, keep_sequences=sequence_out)
    if spec.self_attention_heads > 0:
        x = blocks.self_attention(x, heads=spec.self_attention_heads)
    if sequence_out:
        x = blocks.pool(x, spec.pooling)
    outputs = blocks.head(x, spec, n_outputs=n_outputs, activation=activation)
    return keras.Model(inputs, outputs, name="rnn")
