"""Augmentation of the training split: perturbed copies of texts and series.

Each augmenter takes one example, a ``strength`` in (0, 1] and a numpy
``Generator``, so a fixed seed gives the same copies. Labels are never
changed: every augmentation here is meant to keep the class (or target).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy.interpolate import CubicSpline

from rnnstudio.preprocess.text import OOV, PAD, PADDING, choose

WORDNET_MISSING = (
    "The 'synonym' augmentation needs the NLTK WordNet corpus, which is not installed, "
    "so random insertion of vocabulary words is used instead. "
    "To use synonyms, install WordNet with: python -m nltk.downloader wordnet"
)

# ---------------------------------------------------------------- WordNet


def wordnet_available() -> bool:
    """Whether the NLTK WordNet corpus is installed (never downloads it)."""
    import nltk.data  # lazy: importing nltk takes about a second

    for resource in ("corpora/wordnet", "corpora/wordnet.zip"):
        try:
            nltk.data.find(resource)
            return True
        except LookupError:
            continue
    return False


def _synsets(word: str) -> list:
    from nltk.corpus import wordnet  # lazy: loading WordNet takes a few seconds

    return wordnet.synsets(word)


def synonyms(word: str) -> list[str]:
    """Single-word WordNet synonyms of ``word`` in a fixed order; [] without WordNet.

    Multi-word lemmas (``ice_cream``) are left out: they would not be one token.
    """
    try:
        synsets = _synsets(word)
    except LookupError:
        return []
    same_case = str.lower if word.islower() else str
    names = (same_case(name) for synset in synsets for name in synset.lemma_names())
    return list(dict.fromkeys(n for n in names if "_" not in n and n.lower() != word.lower()))


# ------------------------------------------------------------------- texts


def _count(tokens: Sequence[str], strength: float) -> int:
    return max(1, round(strength * len(tokens)))


def swap_words(tokens: Sequence[str], strength: float, rng: np.random.Generator, vocabulary: Sequence[str]) -> list[str]:
    """Swaps ``strength`` × len random pairs of different words."""
    out = list(tokens)
    if len(out) < 2:
        return out
    for _ in range(_count(out, strength)):
        i = int(rng.integers(len(out)))
        # Swapping two equal words ("the" … "the") would leave the copy unchanged.
        others = [j for j, token in enumerate(out) if token != out[i]]
        if others:
            j = others[int(rng.integers(len(others)))]
            out[i], out[j] = out[j], out[i]
    return out


def delete_words(tokens: Sequence[str], strength: float, rng: np.random.Generator, vocabulary: Sequence[str]) -> list[str]:
    """Deletes ``strength`` × len random words, always keeping one."""
    if len(tokens) < 2:
        return list(tokens)
    drop = set(rng.choice(len(tokens), size=min(_count(tokens, strength), len(tokens) - 1), replace=False).tolist())
    return [t for i, t in enumerate(tokens) if i not in drop]


def insert_words(tokens: Sequence[str], strength: float, rng: np.random.Generator, vocabulary: Sequence[str]) -> list[str]:
    """Inserts ``strength`` × len random vocabulary words (the text's own words if none) at random places."""
    out = list(tokens)
    pool = vocabulary or tokens
    if not pool:
        return out
    for _ in range(_count(out, strength)):
        out.insert(int(rng.integers(len(out) + 1)), pool[int(rng.integers(len(pool)))])
    return out


def replace_synonyms(tokens: Sequence[str], strength: float, rng: np.random.Generator, vocabulary: Sequence[str]) -> list[str]:
    """Replaces ``strength`` × len random words that have WordNet synonyms with one of them."""
    out = list(tokens)
    wanted = _count(out, strength)
    for i in rng.permutation(len(out)):
        options = synonyms(out[i])
        if options:
            out[i] = options[int(rng.integers(len(options)))]
            wanted -= 1
            if wanted == 0:
                break
    return out


TextAugmenter = Callable[[Sequence[str], float, np.random.Generator, Sequence[str]], list[str]]

TEXT_AUGMENTERS: dict[str, TextAugmenter] = {
    "swap": swap_words,
    "delete": delete_words,
    "insert": insert_words,
    "synonym": replace_synonyms,
}
"""Name → ``function(tokens, strength, rng, vocabulary) -> tokens`` (EDA, Wei & Zou 2019)."""


def _text_augmenter(name: str) -> TextAugmenter:
    if name == "synonym" and not wordnet_available():
        warnings.warn(WORDNET_MISSING, UserWarning, stacklevel=3)
        name = "insert"
    return choose(TEXT_AUGMENTERS, name, what="text augmentation", field="preprocess.augment")


def augment_texts(
    token_lists: Sequence[Sequence[str]],
    labels,
    specs: Sequence,
    rng: np.random.Generator | int | None,
    vocabulary: Sequence[str] = (),
) -> tuple[list[list[str]], np.ndarray]:
    """The training texts followed by ``multiplier`` augmented copies of each per spec.

    Args:
        token_lists: Tokenised training texts.
        labels: One label (or label row) per text.
        specs: :class:`~rnnstudio.recipe.AugmentSpec` list (text names only).
        rng: Generator or seed.
        vocabulary: Words ``insert`` draws from (``<pad>``/``<oov>`` are skipped).

    Returns:
        ``(token_lists, labels)``: originals first, then each spec's copies in
        order; labels repeated to match, as a numpy array.

    Warns:
        UserWarning: ``synonym`` was asked for but WordNet is not installed;
        ``insert`` is used instead.
    """
    if len(token_lists) != len(labels):
        raise ValueError(f"{len(token_lists)} texts but {len(labels)} labels")
    rng = np.random.default_rng(rng)
    pool = [w for w in vocabulary if w not in (PAD, OOV)]
    out = [list(tokens) for tokens in token_lists]
    copies = 1
    for spec in specs:
        augment = _text_augmenter(spec.name)
        for _ in range(spec.multiplier):
            out += [augment(tokens, spec.strength, rng, pool) for tokens in token_lists]
        copies += spec.multiplier
    return out, np.concatenate([np.asarray(labels)] * copies)


# ------------------------------------------------------------------ series


def jitter(series: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Adds Gaussian noise of std ``strength`` (the data are already scaled)."""
    return series + rng.normal(0.0, strength, series.shape)


def scale(series: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplies each feature by one factor drawn from N(1, ``strength``)."""
    return series * rng.normal(1.0, strength, (1, series.shape[1]))


MAGNITUDE_KNOTS = 4
"""Interior knots of the magnitude-warp curve (Um et al. 2017)."""


def magnitude_warp(series: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplies by a smooth random curve: a cubic spline through knots drawn from N(1, ``strength``)."""
    steps = len(series)
    at = np.linspace(0.0, max(steps - 1, 1), MAGNITUDE_KNOTS + 2)
    curve = CubicSpline(at, rng.normal(1.0, strength, (len(at), series.shape[1])))(np.arange(steps))
    return series * curve


def window_slice(series: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Crops a random window of (1 - ``strength``) × len steps and stretches it back by linear interpolation."""
    steps = len(series)
    keep = min(steps, max(2, math.ceil((1.0 - strength) * steps)))
    start = int(rng.integers(steps - keep + 1))
    crop = series[start: start + keep]
    at = np.linspace(0.0, keep - 1, steps)
    return np.stack([np.interp(at, np.arange(keep), crop[:, f]) for f in range(series.shape[1])], axis=1)


SeriesAugmenter = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

SERIES_AUGMENTERS: dict[str, SeriesAugmenter] = {
    "jitter": jitter,
    "scale": scale,
    "magnitude_warp": magnitude_warp,
    "window_slice": window_slice,
}
"""Name → ``function(series [T, F], strength, rng) -> [T, F]``."""


def augment_series(
    x: np.ndarray,
    y,
    specs: Sequence,
    rng: np.random.Generator | int | None,
    lengths: Sequence[int] | None = None,
    *,
    padding: str = "post",
) -> tuple[np.ndarray, np.ndarray]:
    """The training series followed by ``multiplier`` augmented copies of each per spec.

    Args:
        x: ``[n, T, F]`` (or ``[n, T]``) float inputs.
        y: Targets, one row per example; repeated unchanged.
        specs: :class:`~rnnstudio.recipe.AugmentSpec` list (series names only).
        rng: Generator or seed.
        lengths: Real steps per example when ``x`` is padded: only those are
            augmented, so padding stays exactly 0 and masks stay valid.
            Lengths above ``T`` (truncated examples) count as ``T``.
        padding: Where the padding of ``x`` is, "post" or "pre".

    Returns:
        ``(x, y)``: originals first, then each spec's copies in order.
    """
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} examples but {len(y)} targets")
    steps = x[..., None] if x.ndim == 2 else x
    width = steps.shape[1]
    lengths = np.full(len(x), width) if lengths is None else np.minimum(np.asarray(lengths), width)
    place = choose(PADDING, padding, what="padding mode", field="preprocess.padding")
    rng = np.random.default_rng(rng)
    outputs = [steps]
    for spec in specs:
        augment = choose(SERIES_AUGMENTERS, spec.name, what="series augmentation", field="preprocess.augment")
        for _ in range(spec.multiplier):
            copy = steps.copy()
            for row, length in zip(copy, lengths):
                if length > 0:
                    real = place(int(length), width)
                    row[real] = augment(row[real], spec.strength, rng)
            outputs.append(copy)
    out = np.concatenate(outputs)
    return (out[..., 0] if x.ndim == 2 else out), np.concatenate([y] * len(outputs))
