"""Built-in sample data sets, generated in code (nothing is downloaded).

Each sample is one entry: a generator, the task it suits and its column roles,
so ``--data sample:NAME`` works without any other flag. Some samples take
whole-number parameters written into the name like a web address's query,
``sample:recall?distance=40&rows=600``, so a Recipe, the command line and the
app all name the exact data they mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SampleParam:
    """A whole-number knob of a generated sample, with its range and meaning."""

    name: str
    default: int
    min: int
    max: int
    help: str


@dataclass(frozen=True)
class Sample:
    name: str
    task: str
    description: str
    target: str
    generate: Callable[..., pd.DataFrame]
    data_fields: dict = field(default_factory=dict)
    params: tuple[SampleParam, ...] = ()


SAMPLES: dict[str, Sample] = {}


def register_sample(name: str, *, task: str, target: str, description: str, params: tuple[SampleParam, ...] = (),
                    **data_fields):
    def decorate(fn):
        if name in SAMPLES:
            raise ValueError(f"sample {name!r} is already registered")
        SAMPLES[name] = Sample(name, task, description, target, fn, data_fields, tuple(params))
        return fn

    return decorate


def list_samples() -> list[Sample]:
    return list(SAMPLES.values())


def split_sample_name(text: str) -> tuple[str, dict[str, str]]:
    """``"recall?distance=40"`` → ``("recall", {"distance": "40"})``."""
    name, _, query = text.partition("?")
    return name, dict(parse_qsl(query, keep_blank_values=True))


def sample_name(name: str, **params: int) -> str:
    """The inverse of :func:`split_sample_name`: ``sample_name("recall", distance=40)`` → ``"recall?distance=40"``."""
    return f"{name}?{urlencode(params)}" if params else name


def sample_params(name: str, given: dict[str, str]) -> dict[str, int]:
    """Every parameter of sample ``name``: the given ones checked against their ranges, the rest defaulted."""
    from rnnstudio.errors import DataError

    sample = _sample(name)
    known = {p.name: p for p in sample.params}
    unknown = sorted(set(given) - set(known))
    if unknown:
        allowed = ", ".join(f"{p.name} ({p.min}–{p.max})" for p in sample.params) or "none"
        raise DataError(f"sample '{name}' has no parameter {', '.join(map(repr, unknown))}.",
                        fix=f"Parameters of this sample: {allowed}.")
    values = {}
    for p in sample.params:
        raw = given.get(p.name, p.default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or not p.min <= value <= p.max:
            raise DataError(f"sample parameter {p.name}={raw!r} of '{name}' is not a whole number from {p.min} to {p.max}.",
                            fix=f"{p.help} Give e.g. sample:{name}?{p.name}={p.default}.")
        values[p.name] = value
    return values


def _sample(name: str) -> Sample:
    from rnnstudio.errors import DataError

    if name not in SAMPLES:
        raise DataError(f"there is no built-in sample '{name}'.",
                        fix=f"Use one of: {', '.join(SAMPLES)} (python -m rnnstudio samples lists them).")
    return SAMPLES[name]


def load_sample(name: str, seed: int = 0) -> pd.DataFrame:
    """The sample ``name`` (optionally ``name?param=value&...``) as a DataFrame (same seed → same rows)."""
    base, given = split_sample_name(name)
    sample = _sample(base)
    return sample.generate(seed, **sample_params(base, given))


@register_sample("airline", task="forecasting", target="passengers", time_column="month",
                 description="Monthly totals with a growing trend and a seasonal swing that grows with the level (like the classic airline passengers series), 12 years.")
def _airline(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = pd.date_range("1949-01-01", periods=144, freq="MS")
    t = np.arange(144)
    season = np.array([-0.10, -0.12, 0.01, -0.02, -0.01, 0.12, 0.23, 0.22, 0.07, -0.06, -0.20, -0.10])
    level = np.log(110) + 0.0102 * t
    values = np.exp(level + season[t % 12] * (1 + t / 300) + rng.normal(0, 0.025, 144))
    return pd.DataFrame({"month": months.strftime("%Y-%m"), "passengers": np.round(values).astype(int)})


@register_sample("sine", task="forecasting", target="value", time_column="date",
                 description="Daily noisy sine wave with a weekly rhythm and a second input (temperature), 3 years.")
def _sine(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3 * 365
    t = np.arange(n)
    temperature = 12 + 8 * np.sin(2 * np.pi * t / 365.25) + rng.normal(0, 1.5, n)
    value = 50 + 10 * np.sin(2 * np.pi * t / 7) + 0.8 * (temperature - 12) + rng.normal(0, 2.0, n)
    dates = pd.date_range("2021-01-01", periods=n, freq="D")
    return pd.DataFrame({"date": dates.strftime("%Y-%m-%d"), "value": value.round(3), "temperature": temperature.round(2)})


_SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the director's work",
             "this phone", "the battery", "the screen", "the service", "the food", "the hotel room", "this book", "the story"]
_POSITIVE = ["great", "wonderful", "excellent", "brilliant", "enjoyable", "superb", "delightful", "moving", "solid", "charming"]
_NEGATIVE = ["awful", "boring", "terrible", "dull", "disappointing", "poor", "bland", "clumsy", "weak", "annoying"]
_FILLER = ["honestly", "overall", "to be fair", "in the end", "for the price", "after a week", "as expected", "surprisingly"]
_CLOSERS_POS = ["I would recommend it.", "Worth every minute.", "I'd buy it again!", "Loved it :)", "Five stars."]
_CLOSERS_NEG = ["I would not recommend it.", "What a waste of time.", "Never again!", "Skip it :(", "One star."]


@register_sample("reviews", task="text-classification", target="sentiment", text_column="review",
                 description="2 000 short synthetic product and film reviews labelled positive/negative, with negations ('not bad') that need word order.")
def _reviews(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(2000):
        positive = rng.random() < 0.5
        sentences = []
        for _ in range(rng.integers(1, 4)):
            flip = rng.random() < 0.3  # negated opposite word: "not awful" counts as positive
            pool = _NEGATIVE if positive == flip else _POSITIVE
            word = pool[rng.integers(len(pool))]
            adverb = "" if rng.random() < 0.5 else rng.choice(["really ", "quite ", "very ", "rather "])
            neg = "not " if flip else ""
            lead = f"{rng.choice(_FILLER)}, " if rng.random() < 0.4 else ""
            sentences.append(f"{lead}{rng.choice(_SUBJECTS)} was {neg}{adverb}{word}.".capitalize())
        closers = _CLOSERS_POS if positive else _CLOSERS_NEG
        if rng.random() < 0.5:
            sentences.append(str(rng.choice(closers)))
        label = "positive" if positive else "negative"
        if rng.random() < 0.03:  # a little label noise, as in real reviews
            label = "negative" if positive else "positive"
        rows.append({"review": " ".join(sentences), "sentiment": label})
    return pd.DataFrame(rows)


@register_sample("shapes", task="sequence-classification", target="shape", series_id_column="series", step_column="t",
                 params=(SampleParam("rows", 600, 8, 20000, "Number of series."),
                         SampleParam("noise", 15, 0, 500, "Noise added to every step, in hundredths of the shape's height.")),
                 description="Noisy series (600 by default) of 40-120 steps (long layout: one row per step) shaped as bump, step, ramp or oscillation.")
def _shapes(seed: int, *, rows: int = 600, noise: int = 15) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shapes = {
        "bump": lambda u, c: np.exp(-((u - c) ** 2) / 0.01),
        "step": lambda u, c: (u > c).astype(float),
        "ramp": lambda u, c: np.clip((u - c + 0.3) / 0.6, 0, 1),
        "oscillation": lambda u, c: 0.5 * np.sin(2 * np.pi * u * (3 + 6 * c)),
    }
    frames = []
    for i in range(rows):
        name = list(shapes)[i % len(shapes)]
        n = int(rng.integers(40, 121))
        u = np.linspace(0, 1, n)
        value = shapes[name](u, rng.uniform(0.3, 0.7)) * rng.uniform(0.8, 1.5) + rng.normal(0, noise / 100, n)
        frames.append(pd.DataFrame({"series": i, "t": np.arange(n), "value": value.round(4), "shape": name}))
    return pd.concat(frames, ignore_index=True)


@register_sample("gestures", task="sequence-classification", target="label",
                 description="400 fixed-length series of 150 steps (wide layout: one row per series, columns t0..t149), two classes of hand-movement-like curves.")
def _gestures(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, 150)
    rows = []
    for i in range(400):
        label = i % 2 + 1
        start, width = rng.uniform(0.2, 0.4), rng.uniform(0.25, 0.4)
        plateau = np.clip(np.minimum((u - start) / 0.08, (start + width - u) / 0.08), 0, 1)
        # Class 2 overshoots as the hand drops back (the "gun" draw in GunPoint-like data).
        dip = (label == 2) * -0.35 * np.exp(-((u - start - width - 0.05) ** 2) / 0.002)
        series = plateau * rng.uniform(1.5, 2.0) + dip + rng.normal(0, 0.05, 150) - 1.0
        series = (series - series.mean()) / series.std()
        rows.append([label, *series.round(5)])
    return pd.DataFrame(rows, columns=["label", *[f"t{i}" for i in range(150)]])


_RECALL_SYMBOLS = {"A": -1.5, "B": -0.5, "C": 0.5, "D": 1.5}
_RECALL_MARKER = 3.0


@register_sample("recall", task="sequence-classification", target="symbol", layout="wide",
                 params=(SampleParam("distance", 40, 1, 300, "Steps after the marked symbol's last possible place: how long it must be remembered."),
                         SampleParam("window", 10, 2, 300, "Steps at the start where the marker and its symbol can appear."),
                         SampleParam("symbols", 4, 2, 4, "How many different symbols (classes)."),
                         SampleParam("rows", 2000, 40, 20000, "Number of series.")),
                 description="Delayed recall: a series of random symbols (A–D as -1.5, -0.5, 0.5, 1.5) with one marker "
                             "(3.0) among the first `window` steps; the label is the symbol right after the marker, "
                             "`distance` or more steps before the end, so a model must notice it and remember it (wide layout).")
def _recall(seed: int, *, distance: int = 40, window: int = 10, symbols: int = 4, rows: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = list(_RECALL_SYMBOLS)[:symbols]
    levels = np.array([_RECALL_SYMBOLS[n] for n in names])
    # Every other step is a symbol too: only the marker says which one counts, so no step on its own gives the answer.
    series = levels[rng.integers(symbols, size=(rows, window + distance))]
    where = rng.integers(window - 1, size=rows)
    series[np.arange(rows), where] = _RECALL_MARKER
    labels = rng.integers(symbols, size=rows)
    series[np.arange(rows), where + 1] = levels[labels]
    frame = pd.DataFrame(series, columns=[f"t{i}" for i in range(window + distance)])
    frame.insert(0, "symbol", [names[i] for i in labels])
    return frame
