"""Numeric series: scaling, season and trend diagnostics, and forecasting windows.

The diagnostics decide the forecasting defaults (log transform, differencing,
season, lookback) from the training data alone, with simple deterministic
rules whose thresholds are documented on each function. Missing values are
dropped before the diagnostics.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import numpy as np

from rnnstudio.errors import StudioError
from rnnstudio.preprocess.text import choose

# ------------------------------------------------------------------ scaling


def _standard(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.nanmean(x, axis=0), np.nanstd(x, axis=0)


def _minmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.nanmin(x, axis=0)
    return low, np.nanmax(x, axis=0) - low


def _robust(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q1, median, q3 = np.nanpercentile(x, [25, 50, 75], axis=0)
    return median, q3 - q1


def _identity(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(x.shape[1]), np.ones(x.shape[1])


SCALERS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]] = {
    "standard": _standard,
    "minmax": _minmax,
    "robust": _robust,
    "none": _identity,
}
"""Scaling method → ``function(x [n, F]) -> (center, scale)`` per feature, NaN ignored."""


def _as_2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(-1, 1) if x.ndim < 2 else x.reshape(-1, x.shape[-1])


class Scaler:
    """Per-feature scaling ``(x - center) / scale`` fitted on training values.

    Args:
        method: Name in :data:`SCALERS`: standard (mean/std), minmax (to 0..1),
            robust (median/interquartile range) or none.

    Attributes:
        center_: Subtracted value per feature.
        scale_: Divisor per feature; 1 for constant or all-missing features.
    """

    def __init__(self, method: str = "standard"):
        self.method = method

    def fit(self, x) -> Scaler:
        """Learns center and scale per feature (last axis) from ``x``, ignoring NaN."""
        compute = choose(SCALERS, self.method, what="scaling", field="preprocess.scaling")
        x = _as_2d(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns are handled below
            center, scale = compute(x)
        center = np.where(np.isfinite(center), center, 0.0)
        # A constant (or empty) feature has no spread: dividing by 1 keeps it finite.
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        self.center_ = [float(v) for v in center]
        self.scale_ = [float(v) for v in scale]
        return self

    def _fitted(self) -> Scaler:
        if not hasattr(self, "center_"):
            raise RuntimeError("Scaler is not fitted yet; call fit(x) first.")
        return self

    def _params(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._fitted()
        features = 1 if x.ndim < 2 else x.shape[-1]
        if features != len(self.center_):
            raise ValueError(f"Scaler was fitted on {len(self.center_)} features, got {features}")
        return np.array(self.center_), np.array(self.scale_)

    def transform(self, x) -> np.ndarray:
        """Scaled copy of ``x`` (any shape whose last axis is the features; 1-D = one feature)."""
        x = np.asarray(x, dtype=np.float64)
        center, scale = self._params(x)
        return (x - center) / scale if x.ndim >= 2 else (x - center[0]) / scale[0]

    def inverse_transform(self, x) -> np.ndarray:
        """Undoes :meth:`transform`."""
        x = np.asarray(x, dtype=np.float64)
        center, scale = self._params(x)
        return x * scale + center if x.ndim >= 2 else x * scale[0] + center[0]

    def fit_transform(self, x) -> np.ndarray:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)

    def to_dict(self) -> dict:
        """Method and fitted parameters as JSON-serialisable values."""
        self._fitted()
        return {"method": self.method, "center_": self.center_, "scale_": self.scale_}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        """The fitted scaler saved by :meth:`to_dict`."""
        scaler = cls(d["method"])
        scaler.center_ = [float(v) for v in d["center_"]]
        scaler.scale_ = [float(v) for v in d["scale_"]]
        return scaler


# ------------------------------------------------------------ diagnostics

SEASON_BY_FREQ: dict[str, int] = {
    **dict.fromkeys(["M", "MS", "ME", "BM", "BMS", "BME", "SM", "SMS", "SME"], 12),
    **dict.fromkeys(["Q", "QS", "QE", "BQ", "BQS", "BQE"], 4),
    "W": 52,
    "D": 7,
    "B": 5,
    **dict.fromkeys(["H", "h", "BH", "bh"], 24),
    **dict.fromkeys(["T", "min"], 60),
    **dict.fromkeys(["S", "s"], 60),
    **dict.fromkeys(["Y", "YS", "YE", "A", "AS", "BY", "BYS", "BYE"], 1),
}
"""Pandas frequency code (without multiplier or anchor) → season length in steps (1 = none)."""

_FREQ = re.compile(r"^\s*(\d*)\s*([A-Za-z]+)(?:-\w+)?\s*$")

ACF_THRESHOLD = 0.3
"""Smallest autocorrelation peak accepted as a season."""


def _clean(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    x = x[:, 0] if x.ndim == 2 else x.ravel()
    return x[np.isfinite(x)]


def _season_from_freq(freq: str) -> int | None:
    match = _FREQ.match(freq)
    if not match or match.group(1) not in ("", "1"):
        return None  # "2D" etc.: no calendar season in whole steps
    return SEASON_BY_FREQ.get(match.group(2))


def autocorrelation(values, max_lag: int) -> np.ndarray:
    """Sample autocorrelation at lags ``0..max_lag`` (all zeros for a constant series)."""
    x = _clean(values)
    x = x - x.mean()
    denominator = float(np.dot(x, x))
    if denominator == 0 or len(x) == 0:
        return np.zeros(max_lag + 1)
    return np.array([np.dot(x[: len(x) - k], x[k:]) / denominator for k in range(max_lag + 1)])


def detect_season(values, *, freq: str | None = None, max_season: int | None = None) -> int | None:
    """Season length in steps, or None if there is none.

    A pandas frequency (``"MS"`` → 12, ``"D"`` → 7, ``"h"`` → 24, …) decides when
    given and known. Otherwise the autocorrelation of the first-differenced
    series (differencing removes the trend that would swamp the seasonal
    peaks) is searched over lags 2..len/3: the highest local maximum wins if it
    exceeds :data:`ACF_THRESHOLD`.

    Args:
        values: The series, 1-D (or ``[T, F]``: the first column is used).
        freq: Pandas frequency string of the time column, if known.
        max_season: Largest season accepted.
    """
    season = _season_from_freq(freq) if freq else None
    if season is not None:
        return season if 2 <= season <= (max_season or season) else None
    diffs = np.diff(_clean(values))
    top = (len(diffs) + 1) // 3
    if max_season is not None:
        top = min(top, max_season)
    if top < 2:
        return None
    acf = autocorrelation(diffs, top + 1)
    peaks = [lag for lag in range(2, top + 1) if acf[lag] > acf[lag - 1] and acf[lag] >= acf[lag + 1]]
    best = max(peaks, key=lambda lag: acf[lag], default=None)
    return best if best is not None and acf[best] > ACF_THRESHOLD else None


def moving_average(values, window: int) -> np.ndarray:
    """Centred moving average (2×window for even windows, as in classical decomposition); NaN at the ends."""
    x = np.asarray(values, dtype=np.float64)
    if window % 2:
        kernel = np.full(window, 1.0 / window)
    else:
        kernel = np.r_[0.5, np.ones(window - 1), 0.5] / window
    out = np.full(len(x), np.nan)
    if len(x) >= len(kernel):
        half = len(kernel) // 2
        out[half: len(x) - half] = np.convolve(x, kernel, mode="valid")
    return out


def _trend_window(n: int, season: int | None) -> int:
    return season if season and season >= 2 else max(3, n // 10)


def trend_strength(values, *, season: int | None = None) -> float:
    """How much of the variance a smooth trend explains, in [0, 1].

    ``1 - var(x - trend) / var(x)`` with the trend a centred moving average
    over one season (which averages the season out), or over ~len/10 steps.
    White noise gives about ``1/window``; a steady trend close to 1.
    """
    x = _clean(values)
    trend = moving_average(x, _trend_window(len(x), season))
    valid = np.isfinite(trend)
    if valid.sum() < 3 or np.var(x[valid]) == 0:
        return 0.0
    strength = 1.0 - np.var(x[valid] - trend[valid]) / np.var(x[valid])
    return float(np.clip(strength, 0.0, 1.0))


LOG_CORRELATION = 0.5
"""Correlation of block std with block mean above which spread grows with level."""
LOG_LEVEL_RATIO = 2.0
"""The level must change at least this much (max/min block mean) to matter."""
LOG_RANGE_RATIO = 10.0
"""A level spanning this ratio (an order of magnitude) is log-transformed regardless."""


def needs_log(values, *, season: int | None = None) -> bool:
    """Whether ``log(1 + x)`` suits the series: positive, and its spread grows with its level.

    The series is cut into consecutive blocks (one season each, else len/12
    steps, at least 4); true when all values are positive and either the block
    means span :data:`LOG_RANGE_RATIO`, or they span :data:`LOG_LEVEL_RATIO`
    and the block standard deviations correlate with the block means above
    :data:`LOG_CORRELATION` (multiplicative seasonality or noise).
    """
    x = _clean(values)
    if len(x) < 8 or np.any(x <= 0):
        return False
    size = season if season and len(x) // season >= 4 else max(4, len(x) // 12)
    blocks = x[: len(x) // size * size].reshape(-1, size)
    if len(blocks) < 4:
        return False
    means, stds = blocks.mean(axis=1), blocks.std(axis=1)
    ratio = means.max() / means.min()
    if ratio > LOG_RANGE_RATIO:
        return True
    if ratio < LOG_LEVEL_RATIO or np.ptp(stds) == 0:
        return False
    return bool(np.corrcoef(means, stds)[0, 1] > LOG_CORRELATION)


LINEAR_R2 = 0.5
"""Share of variance a straight line must explain for the series to count as trending."""
KPSS_CRITICAL = 0.739
"""1 % critical value of the KPSS level-stationarity statistic."""


def kpss_statistic(values) -> float:
    """KPSS statistic for level stationarity (Bartlett long-run variance, Schwert's 4·(T/100)^¼ lags).

    Large values (above :data:`KPSS_CRITICAL`) mean the level wanders, as in a random walk.
    """
    x = _clean(values)
    n = len(x)
    if n < 3:
        return 0.0
    e = x - x.mean()
    lags = min(n - 1, int(4 * (n / 100) ** 0.25))
    long_run = np.dot(e, e) / n
    for lag in range(1, lags + 1):
        long_run += 2 * (1 - lag / (lags + 1)) * np.dot(e[lag:], e[:-lag]) / n
    if long_run <= 0:
        return 0.0
    return float(np.sum(np.cumsum(e) ** 2) / (n**2 * long_run))


def needs_differencing(values) -> bool:
    """Whether to model step-to-step changes: the series trends or its level wanders.

    True when a straight line explains more than :data:`LINEAR_R2` of the
    variance, or when the KPSS statistic exceeds :data:`KPSS_CRITICAL`
    (a random walk); seasonal swings around a steady level give neither.
    """
    x = _clean(values)
    if len(x) < 8 or np.var(x) == 0:
        return False
    t = np.arange(len(x), dtype=np.float64)
    r2 = np.corrcoef(t, x)[0, 1] ** 2
    return bool(r2 > LINEAR_R2 or kpss_statistic(x) > KPSS_CRITICAL)


# ------------------------------------------------------------------ windows


def make_windows(
    values, *, lookback: int, horizon: int, stride: int = 1, target_index: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Cuts a series into (past window, next values) training pairs.

    Args:
        values: ``[T, F]`` (or ``[T]``) array in time order.
        lookback: Steps in each input window.
        horizon: Future steps of the target per window.
        stride: Steps between the starts of consecutive windows.
        target_index: Feature column that is forecast.

    Returns:
        float32 ``x [n, lookback, F]`` and ``y [n, horizon]`` where window ``i``
        starts at ``i * stride`` and its target is the ``horizon`` values right
        after it; windows never run past the end, so ``n`` may be 0.
    """
    for name, value in (("lookback", lookback), ("horizon", horizon), ("stride", stride)):
        if int(value) < 1:
            raise StudioError(f"{name} must be at least 1; got {value}.", field=f"preprocess.{name}",
                              fix=f"Set preprocess.{name} to 1 or more.")
    x = np.asarray(values, dtype=np.float32)
    x = x.reshape(-1, 1) if x.ndim == 1 else x
    if not -x.shape[1] <= target_index < x.shape[1]:
        raise ValueError(f"target_index {target_index} is out of range for {x.shape[1]} features")
    starts = np.arange(0, max(len(x) - lookback - horizon + 1, 0), stride)
    inputs = x[starts[:, None] + np.arange(lookback)]
    targets = x[starts[:, None] + lookback + np.arange(horizon), target_index]
    return inputs.reshape(len(starts), lookback, x.shape[1]), targets.reshape(len(starts), horizon)

