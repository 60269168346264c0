"""The model registry: one entry per architecture family.

An entry is a builder plus a pydantic spec class whose fields (with ranges,
choices and help text) are the family's hyper-parameters; the Recipe validates
``model:`` against it and the app draws its form from it. This module imports
no Keras so that reading specs stays cheap; builders import Keras when called.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True)
class InputSpec:
    """What a model's input looks like, learnt from the fitted data.

    Attributes:
        kind: "tokens" (integer ids, 0 = padding) or "numeric" (float features).
        seq_len: Steps per example; None for variable length.
        n_features: Features per step (1 for tokens).
        vocab_size: Number of token ids including padding and OOV (tokens only).
        embeddings: Optional path to a fitted embedding matrix (.npy) whose rows
            follow the vocabulary, from the user's word-vector file.
        masked: Numeric inputs are zero-padded to a common length (all-zero
            steps are masked); False for fixed-length windows.
    """

    kind: Literal["tokens", "numeric"]
    seq_len: int | None
    n_features: int = 1
    vocab_size: int | None = None
    embeddings: str | None = None
    masked: bool = True


class ModelSpec(BaseModel):
    """Hyper-parameters every family shares; families subclass this."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(description="Architecture family from the model zoo.")
    embedding_dim: int = Field(
        128, ge=2, le=2048, description="Size of the learnt token embeddings (text only)."
    )
    embeddings_file: str | None = Field(
        None,
        description="Word-vector text file (GloVe format: word v1 v2 ...) to initialise embeddings; empty = train from scratch.",
    )
    embeddings_trainable: bool = Field(
        True, description="Fine-tune loaded word vectors (off = keep them frozen)."
    )
    embedding_dropout: float = Field(
        0.2, ge=0.0, lt=1.0, description="Share of embedding channels dropped during training (text only)."
    )
    dropout: float = Field(
        0.2, ge=0.0, lt=1.0, description="Dropout after recurrent layers and before the output head."
    )
    linear_skip: bool = Field(
        True, description="Forecasting: add a linear autoregressive path beside the network (LSTNet), so the model starts from a linear forecast."
    )
    l2: float = Field(0.0, ge=0.0, le=1.0, description="L2 penalty on kernel weights (0 = off).")
    kernel_initializer: Literal["glorot_uniform", "he_normal", "lecun_normal"] = Field(
        "glorot_uniform", description="Initialiser of input-to-hidden and dense kernels (Glorot/Xavier, He, LeCun)."
    )


Builder = Callable[..., object]


@dataclass(frozen=True)
class ModelEntry:
    """A registered family: its key, spec class, builder and documentation."""

    name: str
    spec: type[ModelSpec]
    builder: Builder
    title: str
    inputs: tuple[str, ...]

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.builder.__doc__ or "")


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    spec: type[ModelSpec],
    title: str,
    inputs: tuple[str, ...] = ("tokens", "numeric"),
) -> Callable[[Builder], Builder]:
    """Registers ``builder`` as the family ``name``.

    Refuses duplicates and malformed entries at registration time, so a broken
    family fails on import rather than in front of a user.
    """

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"model family {name!r} is already registered")
        if not (isinstance(spec, type) and issubclass(spec, ModelSpec)):
            raise TypeError(f"{name}: spec must subclass ModelSpec")
        params = inspect.signature(builder).parameters
        if not {"input_spec", "n_outputs", "activation"} <= set(params):
            raise TypeError(f"{name}: builder needs keyword-only input_spec, n_outputs, activation")
        if "Use when" not in (builder.__doc__ or ""):
            raise TypeError(f"{name}: builder docstring must say 'Use when' and 'Alternatives'")
        _REGISTRY[name] = ModelEntry(name, spec, builder, title, tuple(inputs))
        return builder

    return decorate


def _load_families() -> None:
    # Importing the family modules runs their @register_model decorators.
    from rnnstudio.zoo import conv_rnn, rnn, transformer  # noqa: F401


def list_models() -> list[str]:
    """Names of every registered family."""
    _load_families()
    return sorted(_REGISTRY)


def get_model(name: str) -> ModelEntry:
    """The registered family ``name``; KeyError lists the known ones."""
    _load_families()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(sorted(_REGISTRY))}") from None


def build_model(spec: ModelSpec, *, input_spec: InputSpec, n_outputs: int, activation: str | None):
    """Builds the uncompiled keras.Model that ``spec`` describes."""
    entry = get_model(spec.name)
    return entry.builder(spec, input_spec=input_spec, n_outputs=n_outputs, activation=activation)
