"""The preprocessing of each task rebuilt from TensorFlow ops, so a SavedModel takes raw inputs.

The fitted pipeline (pipeline.json) is the single source of truth: each
builder reads the same fitted numbers the studio uses and reproduces its
numpy/NLTK steps op by op. Tokenizers that regular expressions in TF's RE2
cannot express exactly are refused by name (``UnsupportedTokenizer``).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnnstudio.errors import StudioError

# NLTK compiles its patterns with the `regex` module: its Unicode \w and \s, spelt out for TF's RE2,
# where \w and \s are ASCII-only. (\w: letters, marks, Nd, Nl, Pc, ZWNJ/ZWJ and the circled letters.)
WORD = (r"\p{L}\p{M}\p{Nd}\p{Nl}\p{Pc}\x{200c}\x{200d}\x{24b6}-\x{24e9}\x{1f130}-\x{1f149}\x{1f150}-\x{1f169}"
        r"\x{1f170}-\x{1f189}")
SPACE = r"\t\n\x{0b}\f\r\x{85}\p{Z}"
PY_SPACE = SPACE + r"\x{1c}-\x{1f}"  # Python's own re (the char tokenizer) also counts these as spaces


class UnsupportedTokenizer(StudioError):
    """The run's tokenizer has no exact in-graph equivalent."""


def _tokenize(texts: tf.Tensor, encoder: dict) -> tf.RaggedTensor:
    if encoder["lowercase"]:
        texts = tf.strings.lower(texts, encoding="utf-8")
    texts = tf.strings.regex_replace(texts, f"[{PY_SPACE if encoder['tokenizer'] == 'char' else SPACE}]+", " ")
    if encoder["tokenizer"] == "wordpunct":  # NLTK WordPunctTokenizer: \w+|[^\w\s]+
        spaced = tf.strings.regex_replace(texts, f"([{WORD}]+|[^{WORD}{SPACE}]+)", r" \1 ")
        return tf.strings.split(tf.strings.strip(spaced))
    if encoder["tokenizer"] == "char":
        return tf.strings.unicode_split(tf.strings.strip(texts), "UTF-8")
    raise UnsupportedTokenizer(
        f"the '{encoder['tokenizer']}' tokenizer cannot be expressed exactly in TensorFlow graph ops.",
        fix="Export with the ids input (the tokenizer is saved as JSON), or train with preprocess.tokenizer=wordpunct "
            "or char for a SavedModel that takes raw text.")


def _place(rows: tf.RaggedTensor, length: int, padding: str, truncating: str) -> tf.Tensor:
    """Ragged rows of ids [batch, (n)] or steps [batch, (n), F] → padded to ``length`` like pad_sequences (0 = padding)."""
    if truncating == "pre":
        start = tf.maximum(rows.row_lengths() - length, 0)
        rows = tf.ragged.boolean_mask(rows, tf.ragged.range(rows.row_lengths()) >= tf.expand_dims(start, 1))
    else:
        rows = rows[:, :length]
    dense = rows.to_tensor(default_value=tf.zeros([], rows.dtype), shape=[None, length] + [None] * (rows.shape.rank - 2))
    if padding == "pre":  # move each row's real steps to its end
        real = tf.cast(rows.row_lengths(), tf.int32)
        source = tf.range(length)[None, :] - (length - real)[:, None]
        gathered = tf.gather(dense, tf.maximum(source, 0), batch_dims=1)
        keep = tf.reshape(source >= 0, tf.concat([tf.shape(source), tf.ones([rows.shape.rank - 2], tf.int32)], 0))
        dense = tf.where(keep, gathered, tf.zeros_like(gathered))
    return dense


class TextPreprocessor(tf.Module):
    """Raw strings [batch] → padded ids [batch, max_length], exactly like TextEncoder.transform."""

    def __init__(self, encoder):
        super().__init__()
        self.settings = {"tokenizer": encoder.tokenizer, "lowercase": encoder.lowercase}
        _tokenize(tf.constant([""]), self.settings)  # refuse unsupported tokenizers now, not when tracing
        words = list(encoder.vocabulary_[2:])
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(words or ["<none>"], tf.string),
                                                tf.range(2, 2 + max(len(words), 1), dtype=tf.int64)),
            default_value=1)  # 1 = out of vocabulary
        self.length, self.padding, self.truncating = int(encoder.max_length_), encoder.padding, encoder.truncating

    def tokens(self, texts: tf.Tensor) -> tf.RaggedTensor:
        return _tokenize(texts, self.settings)

    def __call__(self, texts: tf.Tensor) -> tf.Tensor:
        ids = tf.ragged.map_flat_values(self.table.lookup, self.tokens(texts))
        # A text without tokens is one <oov> step (TextEncoder.encode): never an all-padding row.
        empty = tf.cast(ids.row_lengths() == 0, tf.int64)
        oov = tf.RaggedTensor.from_row_lengths(tf.ones([tf.reduce_sum(empty)], tf.int64), empty)
        ids = tf.concat([ids, oov], axis=1)
        return tf.cast(_place(ids, self.length, self.padding, self.truncating), tf.int32)


def scale(x, scaler) -> tf.Tensor:
    """(x - center) / scale of a fitted Scaler, in float64 like numpy."""
    return (x - tf.constant(np.asarray(scaler.center_, "float64"))) / tf.constant(np.asarray(scaler.scale_, "float64"))


def unscale(x, scaler) -> tf.Tensor:
    return x * tf.constant(np.asarray(scaler.scale_, "float64")) + tf.constant(np.asarray(scaler.center_, "float64"))


def forecast_inputs(pipeline, history: tf.Tensor, features: tf.Tensor | None):
    """Raw windows [batch, lookback(+1 when differencing)] → model input [batch, lookback, 1+F] and last levels."""
    z = tf.math.log1p(history) if pipeline.log else history
    change = z[:, 1:] - z[:, :-1] if pipeline.diff else z
    channels = [scale(change[..., None], pipeline.target_scaler)]
    if features is not None:
        start = 1 if pipeline.diff else 0
        channels.append(scale(features[:, start:], pipeline.feature_scaler))
    x = tf.concat(channels, axis=-1)[:, -pipeline.lookback:]
    return tf.cast(x, tf.float32), z[:, -1]


def forecast_outputs(pipeline, scaled: tf.Tensor, last_level: tf.Tensor) -> tf.Tensor:
    """Model outputs [batch, horizon] → forecasts in original units (ForecastPipeline.to_original)."""
    values = unscale(tf.cast(scaled, tf.float64)[..., None], pipeline.target_scaler)[..., 0]
    if pipeline.diff:
        values = last_level[:, None] + tf.cumsum(values, axis=1)
    return tf.math.expm1(values) if pipeline.log else values


def sequence_inputs(pipeline, sequences: tf.Tensor) -> tf.Tensor:
    """Raw sequences [batch, T, F] (NaN after a sequence's end) → scaled, padded [batch, max_length, F]."""
    real_step = tf.reduce_all(tf.math.is_finite(sequences), axis=-1)
    lengths = tf.reduce_sum(tf.cast(real_step, tf.int64), axis=1)
    scaled = scale(sequences, pipeline.scaler)
    # An all-zero step reads as padding to the Masking layer; the studio nudges real ones off zero.
    zero = tf.reduce_all(tf.equal(scaled, 0.0), axis=-1, keepdims=True)
    scaled = tf.where(zero, tf.constant(1e-6, tf.float64), scaled)
    ragged = tf.RaggedTensor.from_tensor(tf.cast(scaled, tf.float32), lengths=lengths)
    n_features = len(pipeline.features)
    flat = _place(ragged, pipeline.max_length, pipeline.padding, pipeline.truncating)
    return tf.ensure_shape(flat, [None, pipeline.max_length, n_features])
