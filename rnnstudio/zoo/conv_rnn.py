"""Convolutional front-end or branch beside a recurrent stack (LSTM-FCN)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rnnstudio.zoo.registry import InputSpec, register_model
from rnnstudio.zoo.rnn import RecurrentFields


class ConvRNNSpec(RecurrentFields):
    name: Literal["conv_rnn"] = Field("conv_rnn", description="Architecture family from the model zoo.")
    arrangement: Literal["parallel", "stacked"] = Field(
        "parallel", description="parallel: a convolutional branch beside the recurrent one (LSTM-FCN); stacked: convolutions feed the recurrent layers."
    )
    filters: list[int] = Field([128, 256, 128], min_length=1, max_length=8, description="Filters of each Conv1D block.")
    kernel_sizes: list[int] = Field([8, 5, 3], min_length=1, max_length=8, description="Kernel size of each Conv1D block (one per block).")

    @model_validator(mode="after")
    def _one_kernel_per_block(self):
        if len(self.filters) != len(self.kernel_sizes):
            raise ValueError(f"filters has {len(self.filters)} blocks but kernel_sizes has {len(self.kernel_sizes)}; give one kernel size per block")
        if any(f < 1 for f in self.filters) or any(k < 1 for k in self.kernel_sizes):
            raise ValueError("filters and kernel sizes must be at least 1")
        return self


@register_model("conv_rnn", spec=ConvRNNSpec, title="Convolution + recurrent (LSTM-FCN)", inputs=("numeric",))
def build_conv_rnn(spec: ConvRNNSpec, *, input_spec: InputSpec, n_outputs: int, activation: str | None):
    """Conv1D blocks beside or before a recurrent stack, for numeric series.

    The parallel arrangement is LSTM-FCN (Karim et al. 2017): a fully
    convolutional branch (Conv1D, batch norm, ReLU ×3, then global average
    pooling; Wang et al. 2017) learns local shapes while an LSTM reads the
    order, and their features are concatenated. It is a strong baseline on the
    UCR time-series classification archive. The stacked arrangement shortens
    and denoises long series before the recurrent layers.

    Use when: classifying or forecasting numeric series whose local patterns
    (spikes, bumps, slopes) matter.

    Alternatives: ``rnn`` for short series or text; ``transformer`` as a
    non-recurrent reference point.
    """
    import keras

    from rnnstudio.zoo import blocks

    inputs, masked = blocks.model_inputs(spec, input_spec)
    conv = inputs  # convolutions see the zero padding, which the batch norm tolerates
    for i, (filters, kernel) in enumerate(zip(spec.filters, spec.kernel_sizes), start=1):
        conv = keras.layers.Conv1D(filters, kernel, padding="same", kernel_initializer="he_uniform",
                                   kernel_regularizer=blocks.regularizer(spec), name=f"conv_{i}")(conv)
        conv = keras.layers.BatchNormalization(momentum=0.9, name=f"conv_{i}_norm")(conv)  # 0.9: usable statistics after tens of steps on small data sets
        conv = keras.layers.Activation("relu", name=f"conv_{i}_relu")(conv)
    if spec.arrangement == "parallel":
        recurrent = blocks.recurrent_stack(masked, spec, keep_sequences=False)
        if spec.dropout > 0:
            recurrent = keras.layers.Dropout(spec.dropout, name="rnn_dropout")(recurrent)
        x = keras.layers.Concatenate(name="fcn_rnn")([keras.layers.GlobalAveragePooling1D(name="conv_pool")(conv), recurrent])
    else:
        x = blocks.recurrent_stack(conv, spec, keep_sequences=False)
    outputs = blocks.head(x, spec, n_outputs=n_outputs, activation=activation)
    return keras.Model(inputs, outputs, name="conv_rnn")
