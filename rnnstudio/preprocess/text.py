"""Text to padded id tensors: tokenizers, a fitted vocabulary, padding and word vectors.

Everything here runs without downloading NLTK data: the tokenizers are the
rule-based ones, so a fresh install can train on text straight away.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from rnnstudio.errors import StudioError

PAD = "<pad>"
OOV = "<oov>"
PAD_ID = 0
OOV_ID = 1

T = TypeVar("T")


def choose(registry: Mapping[str, T], name: str, *, what: str, field: str | None = None) -> T:
    """The entry ``name`` of a registry, or a StudioError listing the choices.

    Args:
        registry: Name → function (or value) mapping.
        name: The requested entry.
        what: What the entries are, for the message ("tokenizer").
        field: Dotted Recipe field the name came from.
    """
    try:
        return registry[name]
    except (KeyError, TypeError):
        raise StudioError(f"unknown {what} {name!r}.", fix=f"Use one of: {', '.join(registry)}.", field=field) from None


# ------------------------------------------------------------------ tokenizers

_WHITESPACE = re.compile(r"\s+")


@functools.cache
def _nltk_tokenizers() -> dict[str, Any]:
    # Imported on first use: importing nltk takes about a second, which
    # forecasting (and anything else that never tokenizes) should not pay.
    from nltk.tokenize import TreebankWordTokenizer, TweetTokenizer, WordPunctTokenizer

    return {"wordpunct": WordPunctTokenizer(), "treebank": TreebankWordTokenizer(), "tweet": TweetTokenizer()}


def _nltk_tokenizer(name: str) -> Callable[[str, str], list[str]]:
    return lambda text, pattern: _nltk_tokenizers()[name].tokenize(text)


@functools.lru_cache(maxsize=32)
def _regexp_tokenizer(pattern: str):
    from nltk.tokenize import RegexpTokenizer

    try:
        groups = re.compile(pattern).groups
        tokenizer = RegexpTokenizer(pattern)
        tokenizer.tokenize("")  # compiles now, so a bad pattern fails here and not mid-dataset
    except re.error as exc:
        raise StudioError(f"token pattern {pattern!r} is not a valid regular expression ({exc}).",
                          fix=r"Correct the pattern, e.g. \w+|[^\w\s]+.", field="preprocess.token_pattern") from None
    if groups:
        # findall returns the groups instead of whole tokens when the pattern captures.
        raise StudioError(f"token pattern {pattern!r} contains capturing groups (...).",
                          fix="Write groups as non-capturing (?:...).", field="preprocess.token_pattern")
    return tokenizer


def _char_tokens(text: str, pattern: str) -> list[str]:
    # Runs of whitespace carry no more meaning than one space and would waste steps.
    return list(_WHITESPACE.sub(" ", text).strip())


TOKENIZERS: dict[str, Callable[[str, str], list[str]]] = {
    "wordpunct": _nltk_tokenizer("wordpunct"),
    "treebank": _nltk_tokenizer("treebank"),
    "tweet": _nltk_tokenizer("tweet"),
    "regexp": lambda text, pattern: _regexp_tokenizer(pattern).tokenize(text),
    "char": _char_tokens,
}
"""Tokenizer name → ``function(text, token_pattern)``; only ``regexp`` reads the pattern."""


def as_text(value: Any) -> str:
    """One cell as text: missing values (None, NaN, NA, NaT) become "", others ``str(value)``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if value is None or (np.ndim(value) == 0 and pd.isna(value)):
        return ""
    return str(value)


# --------------------------------------------------------------- padding


def _keep_post(seq: np.ndarray, length: int) -> np.ndarray:
    return seq[:length]


def _keep_pre(seq: np.ndarray, length: int) -> np.ndarray:
    return seq[max(len(seq) - length, 0):]


TRUNCATING: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {"post": _keep_post, "pre": _keep_pre}
"""Truncating mode → which ``length`` steps of an over-long sequence are kept."""

PADDING: dict[str, Callable[[int, int], slice]] = {
    "post": lambda n, length: slice(0, n),
    "pre": lambda n, length: slice(length - n, length),
}
"""Padding mode → where ``n`` real steps go in a row of ``length`` steps."""


def pad_sequences(
    seqs: Sequence[Sequence | np.ndarray],
    max_length: int,
    *,
    padding: str = "post",
    truncating: str = "post",
    value: float = 0,
    dtype: Any = "int32",
) -> np.ndarray:
    """Stacks variable-length sequences into one padded array.

    Args:
        seqs: Id lists (each ``[T]``) or float arrays (each ``[T, F]``, same ``F``).
        max_length: Steps per row; longer sequences are truncated.
        padding: "post" pads at the end, "pre" at the start.
        truncating: "post" cuts the end, "pre" cuts the start.
        value: Fill value of padded steps.
        dtype: Output dtype.

    Returns:
        ``[n, max_length]`` for id lists or ``[n, max_length, F]`` for ``[T, F]`` arrays.
    """
    if max_length < 1:
        raise StudioError(f"max_length must be at least 1; got {max_length}.", field="preprocess.max_length",
                          fix="Set preprocess.max_length to 1 or more, or leave it empty.")
    keep = choose(TRUNCATING, truncating, what="truncating mode", field="preprocess.truncating")
    place = choose(PADDING, padding, what="padding mode", field="preprocess.padding")
    arrays = [np.asarray(s, dtype=dtype) for s in seqs]
    step_shape = arrays[0].shape[1:] if arrays else ()
    out = np.full((len(arrays), max_length, *step_shape), value, dtype=dtype)
    for row, seq in zip(out, arrays):
        seq = keep(seq, max_length)
        row[place(len(seq), max_length)] = seq
    return out


def suggest_max_length(lengths: Iterable[int], percentile: float = 95.0) -> int:
    """The padded length covering ``percentile`` % of ``lengths``: ceil of that percentile, at least 1."""
    lengths = np.asarray(list(lengths), dtype=float)
    if lengths.size == 0:
        return 1
    return max(1, math.ceil(float(np.percentile(lengths, percentile))))


# ----------------------------------------------------------------- encoder


class TextEncoder:
    """Turns texts into fixed-length id rows with a vocabulary learnt from training texts.

    Id 0 is padding (``<pad>``), id 1 out-of-vocabulary (``<oov>``), then the
    kept tokens from most to least frequent.

    Args:
        tokenizer: Name in :data:`TOKENIZERS`.
        token_pattern: Regular expression of one token (``regexp`` tokenizer only).
        lowercase: Lower-case texts before tokenising.
        max_vocab: Vocabulary size including the two reserved ids.
        min_freq: Tokens seen fewer times in training map to ``<oov>``.
        max_length: Steps per row; None = ``length_percentile`` of training lengths.
        length_percentile: Percentile used when ``max_length`` is None.
        padding: "post" or "pre".
        truncating: "post" or "pre".

    Attributes:
        vocabulary_: Tokens by id, starting ``["<pad>", "<oov>", ...]``.
        vocab_size_: ``len(vocabulary_)``.
        lengths_: Training token counts: ``{"min", "median", "p95", "max", "mean"}``.
        max_length_: Steps per transformed row.
        coverage_: Share of training texts that fit in ``max_length_`` untruncated.
    """

    PARAMS = ("tokenizer", "token_pattern", "lowercase", "max_vocab", "min_freq", "max_length",
              "length_percentile", "padding", "truncating")
    FITTED = ("vocabulary_", "lengths_", "max_length_", "coverage_")

    def __init__(
        self,
        *,
        tokenizer: str = "wordpunct",
        token_pattern: str = r"\w+|[^\w\s]+",
        lowercase: bool = True,
        max_vocab: int = 20000,
        min_freq: int = 2,
        max_length: int | None = None,
        length_percentile: float = 95.0,
        padding: str = "post",
        truncating: str = "post",
    ):
        self.tokenizer = tokenizer
        self.token_pattern = token_pattern
        self.lowercase = lowercase
        self.max_vocab = max_vocab
        self.min_freq = min_freq
        self.max_length = max_length
        self.length_percentile = length_percentile
        self.padding = padding
        self.truncating = truncating

    @classmethod
    def from_spec(cls, spec) -> TextEncoder:
        """An unfitted encoder with the settings of a :class:`~rnnstudio.recipe.PreprocessSpec`."""
        return cls(**{name: getattr(spec, name) for name in cls.PARAMS})

    def tokenize(self, texts: Iterable[Any]) -> list[list[str]]:
        """Tokens of each text; missing values are empty texts, other non-strings use ``str``."""
        if isinstance(texts, str):
            raise TypeError("tokenize expects a list of texts, not one string")
        split = choose(TOKENIZERS, self.tokenizer, what="tokenizer", field="preprocess.tokenizer")
        prepare = str.lower if self.lowercase else str
        return [split(prepare(as_text(t)), self.token_pattern) for t in texts]

    def fit(self, texts: Iterable[Any]) -> TextEncoder:
        """Learns the vocabulary and padded length from training texts."""
        token_lists = self.tokenize(texts)
        if not token_lists:
            raise StudioError("there are no training texts to learn a vocabulary from.",
                              fix="Check that the text column has values in the training split.")
        counts = Counter(t for tokens in token_lists for t in tokens if t not in (PAD, OOV))
        # sorted() is stable and Counter keeps first-seen order, so ties go to the earlier token.
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        kept = [token for token, count in ranked if count >= self.min_freq][: max(self.max_vocab - 2, 0)]
        self._set_vocabulary([PAD, OOV, *kept])

        lengths = np.array([len(tokens) for tokens in token_lists], dtype=float)
        self.lengths_ = {
            "min": int(lengths.min()),
            "median": float(np.median(lengths)),
            "p95": float(np.percentile(lengths, 95)),
            "max": int(lengths.max()),
            "mean": float(lengths.mean()),
        }
        self.max_length_ = int(self.max_length or suggest_max_length(lengths, self.length_percentile))
        self.coverage_ = float(np.mean(lengths <= self.max_length_))
        return self

    def _set_vocabulary(self, vocabulary: list[str]) -> None:
        self.vocabulary_ = list(vocabulary)
        self.vocab_size_ = len(self.vocabulary_)
        self._ids = {token: i for i, token in enumerate(self.vocabulary_)}

    def _fitted(self) -> TextEncoder:
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("TextEncoder is not fitted yet; call fit(texts) first.")
        return self

    def encode(self, token_lists: Iterable[Sequence[str]]) -> list[list[int]]:
        """Ids of tokens (unknown ones → 1).

        A text without tokens becomes ``[1]`` rather than ``[]``: a row of only
        padding has an all-false mask, which the cuDNN RNN kernels reject and
        which leaves mean pooling dividing by zero. One ``<oov>`` step is the
        neutral "nothing known here" input.
        """
        ids = self._fitted()._ids
        return [[ids.get(t, OOV_ID) for t in tokens] or [OOV_ID] for tokens in token_lists]

    def transform(self, texts: Iterable[Any]) -> np.ndarray:
        """Texts as an int32 array ``[n, max_length_]`` of ids, 0 = padding."""
        self._fitted()
        return pad_sequences(self.encode(self.tokenize(texts)), self.max_length_,
                             padding=self.padding, truncating=self.truncating, dtype="int32")

    def fit_transform(self, texts: Iterable[Any]) -> np.ndarray:
        """``fit(texts)`` then ``transform(texts)``."""
        texts = list(texts)
        return self.fit(texts).transform(texts)

    def to_dict(self) -> dict:
        """Settings and fitted vocabulary as plain JSON-serialisable values."""
        self._fitted()
        return {
            "params": {name: getattr(self, name) for name in self.PARAMS},
            **{name: getattr(self, name) for name in self.FITTED},
        }

    @classmethod
    def from_dict(cls, d: dict) -> TextEncoder:
        """The fitted encoder saved by :meth:`to_dict`."""
        encoder = cls(**d["params"])
        for name in cls.FITTED:
            setattr(encoder, name, d[name])
        encoder._set_vocabulary(d["vocabulary_"])
        return encoder


# ------------------------------------------------------------ word vectors


def _is_header(parts: list[str]) -> bool:
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def load_word_vectors(
    path: str | Path, vocabulary: Sequence[str], dim: int | None = None, *, seed: int = 0
) -> tuple[np.ndarray, float]:
    """Reads pre-trained word vectors (GloVe text format) for a vocabulary.

    Each line is a word followed by its numbers; a word2vec header line
    ``"count dim"`` is skipped. Words may contain spaces (as in GloVe 840B):
    the last ``dim`` fields of a line are the vector.

    Args:
        path: The text file.
        vocabulary: Tokens by id, as :attr:`TextEncoder.vocabulary_`.
        dim: Expected vector size; None = the file's.
        seed: Seed for the rows of words the file lacks.

    Returns:
        ``(matrix, found_share)``: float32 ``[len(vocabulary), dim]`` with row 0
        (padding) zero and rows of missing words drawn from a normal with the
        mean and std of the file's vectors; and the share of real tokens (not
        ``<pad>``/``<oov>``) found in the file.

    Raises:
        StudioError: the file is missing, empty, malformed, or of another size than ``dim``.
    """
    path = Path(path).expanduser()
    where = str(path)
    wanted = {word: i for i, word in enumerate(vocabulary)}
    found: dict[int, np.ndarray] = {}
    total = total_sq = 0.0
    count = 0
    file_dim = None
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise StudioError(f"cannot open the word-vector file ({exc.strerror or exc}).", file=where,
                          fix="Give the path of a GloVe-format text file.", field="model.embeddings_file") from None
    with handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.rstrip().split(" ")
            if parts == [""]:
                continue
            if file_dim is None:
                header = _is_header(parts)
                file_dim = int(parts[1]) if header else len(parts) - 1
                if dim is not None and file_dim != dim:
                    raise StudioError(f"the file's vectors have {file_dim} numbers, not the expected {dim}.",
                                      file=where, row=line_no,
                                      fix=f"Use a {dim}-dimensional file or set the embedding size to {file_dim}.")
                if header:
                    continue
            if len(parts) < max(file_dim, 1) + 1:
                raise StudioError(f"line has {len(parts) - 1} numbers, but the vectors need {file_dim or 'at least 1'}.",
                                  file=where, row=line_no,
                                  fix="Each line must be a word followed by the same count of numbers.")
            try:
                vector = np.array(parts[-file_dim:], dtype=np.float64)
            except ValueError:
                raise StudioError("line has a value that is not a number.", file=where, row=line_no,
                                  fix="Each line must be a word followed by numbers separated by single spaces.") from None
            total += vector.sum()
            total_sq += np.square(vector).sum()
            count += vector.size
            index = wanted.get(" ".join(parts[:-file_dim]))
            if index is not None and index not in found:
                found[index] = vector
    if count == 0:
        raise StudioError("the word-vector file has no vectors.", file=where,
                          fix="Give a GloVe-format text file: a word and its numbers per line.")
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean**2, 0.0))
    rng = np.random.default_rng(seed)
    matrix = rng.normal(mean, std, size=(len(vocabulary), file_dim))
    for index, vector in found.items():
        matrix[index] = vector
    if len(vocabulary):
        matrix[PAD_ID] = 0.0
    real = [i for i, word in enumerate(vocabulary) if word not in (PAD, OOV)]
    found_share = sum(i in found for i in real) / len(real) if real else 0.0
    return matrix.astype(np.float32), float(found_share)
