import json

import numpy as np
import pytest

from rnnstudio.errors import StudioError
from rnnstudio.preprocess.series import (
    Scaler,
    autocorrelation,
    detect_season,
    kpss_statistic,
    make_windows,
    moving_average,
    needs_differencing,
    needs_log,
    trend_strength,
)

STEPS = np.arange(144)


def airline_like(seed=0):
    """Twelve years of monthly values: exponential trend × multiplicative season × noise."""
    rng = np.random.default_rng(seed)
    return 100 * np.exp(0.01 * STEPS) * (1 + 0.2 * np.sin(2 * np.pi * STEPS / 12)) * (1 + 0.02 * rng.normal(size=144))


def white_noise(seed=0, level=0.0):
    return level + np.random.default_rng(seed).normal(size=144)


# ------------------------------------------------------------------ Scaler

X = np.array([[1.0, 5.0, 0.0], [2.0, 5.0, np.nan], [3.0, 5.0, 10.0], [6.0, 5.0, 2.0]])


@pytest.mark.parametrize(
    "method, center, scale",
    [
        ("standard", [3.0, 5.0, 4.0], [np.std([1, 2, 3, 6]), 1.0, np.std([0, 10, 2])]),
        ("minmax", [1.0, 5.0, 0.0], [5.0, 1.0, 10.0]),
        ("robust", [2.5, 5.0, 2.0], [2.0, 1.0, 5.0]),  # IQR of 1,2,3,6 = 3.75 - 1.75
        ("none", [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]),
    ],
)
def test_scaler_methods_fit_round_trip_and_constant_column(method, center, scale):
    scaler = Scaler(method).fit(X)
    assert scaler.center_ == pytest.approx(center)
    assert scaler.scale_ == pytest.approx(scale)
    scaled = scaler.transform(X)
    assert np.all(scaled[:, 1] == (0.0 if method != "none" else 5.0))  # constant column: no division by zero
    np.testing.assert_allclose(scaler.inverse_transform(scaled), X)
    restored = Scaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(restored.transform(X), scaled)


def test_scaler_standard_values_and_3d_inputs():
    scaler = Scaler("standard").fit([[0.0], [2.0], [4.0]])
    std = np.std([0, 2, 4])
    assert scaler.transform([[0.0], [4.0]]).ravel().tolist() == pytest.approx([-2 / std, 2 / std])
    windows = np.arange(12.0).reshape(2, 3, 2)
    two = Scaler("minmax").fit(windows)  # features are the last axis
    assert two.center_ == [0.0, 1.0] and two.scale_ == [10.0, 10.0]
    np.testing.assert_allclose(two.inverse_transform(two.transform(windows)), windows)


def test_scaler_all_missing_feature_and_1d():
    scaler = Scaler().fit(np.full((3, 1), np.nan))
    assert (scaler.center_, scaler.scale_) == ([0.0], [1.0])
    one = Scaler("minmax").fit([2.0, 4.0, 6.0])
    assert one.transform([2.0, 6.0]).tolist() == [0.0, 1.0]


def test_scaler_errors():
    with pytest.raises(StudioError, match="standard, minmax, robust, none"):
        Scaler("log").fit(X)
    with pytest.raises(RuntimeError, match="not fitted"):
        Scaler().transform(X)
    with pytest.raises(ValueError, match="3 features"):
        Scaler().fit(X).transform(np.zeros((2, 2)))


# ------------------------------------------------------------ diagnostics


def test_detect_season_from_autocorrelation_of_monthly_series():
    assert detect_season(airline_like()) == 12
    assert detect_season(np.sin(2 * np.pi * np.arange(70) / 7)) == 7
    assert detect_season(white_noise()) is None
    assert detect_season(np.ones(50)) is None
    assert detect_season([1.0, 2.0, 3.0]) is None
    assert detect_season(airline_like(), max_season=6) is None


@pytest.mark.parametrize(
    "freq, season",
    [("MS", 12), ("M", 12), ("ME", 12), ("QS-OCT", 4), ("W-SUN", 52), ("D", 7), ("1D", 7), ("h", 24), ("H", 24),
     ("B", 5), ("T", 60), ("min", 60), ("YS", None)],
)
def test_detect_season_from_frequency(freq, season):
    assert detect_season(white_noise(), freq=freq) == season


def test_detect_season_unknown_frequency_falls_back_to_autocorrelation():
    assert detect_season(airline_like(), freq="2D") == 12
    assert detect_season(white_noise(), freq="MS", max_season=10) is None


def test_autocorrelation_values():
    acf = autocorrelation([1.0, -1.0, 1.0, -1.0], 2)
    assert acf.tolist() == pytest.approx([1.0, -0.75, 0.5])
    assert autocorrelation(np.ones(5), 2).tolist() == [0.0, 0.0, 0.0]


def test_moving_average_is_centred():
    assert np.isnan(moving_average(np.arange(6.0), 3)[[0, 5]]).all()
    assert moving_average(np.arange(6.0), 3)[1:5].tolist() == pytest.approx([1, 2, 3, 4])
    assert moving_average(np.arange(6.0), 2)[1:5].tolist() == pytest.approx([1, 2, 3, 4])


def test_trend_strength():
    assert trend_strength(airline_like(), season=12) > 0.8
    assert trend_strength(np.arange(100.0)) == pytest.approx(1.0)
    assert trend_strength(white_noise()) < 0.15
    assert trend_strength(np.ones(30)) == 0.0


def test_needs_log_on_multiplicative_growth_but_not_on_noise():
    assert needs_log(airline_like())
    assert needs_log(airline_like(), season=12)
    assert not needs_log(white_noise())  # negative values
    assert not needs_log(white_noise(level=10))  # positive but a flat level
    assert needs_log(np.geomspace(1, 1000, 60))  # level spans three orders of magnitude
    assert not needs_log(10 + np.arange(144.0) + np.random.default_rng(1).normal(size=144))  # additive noise


def test_needs_differencing_on_trend_but_not_on_noise_or_pure_season():
    assert needs_differencing(airline_like())
    assert needs_differencing(np.arange(50.0))
    assert not needs_differencing(white_noise())
    assert not needs_differencing(white_noise(level=10))
    assert not needs_differencing(5 + np.sin(2 * np.pi * STEPS / 12))
    assert not needs_differencing(np.ones(40))


def test_kpss_statistic_separates_random_walk_from_noise():
    walk = np.cumsum(np.random.default_rng(3).normal(size=500))
    assert kpss_statistic(walk) > 0.739 > kpss_statistic(np.random.default_rng(3).normal(size=500))
    assert needs_differencing(walk)


# ----------------------------------------------------------------- windows


def test_make_windows_exact_values():
    x, y = make_windows(np.arange(10), lookback=3, horizon=2, stride=2)
    assert x.dtype == np.float32 and y.dtype == np.float32
    assert x.shape == (3, 3, 1)
    assert x[..., 0].tolist() == [[0, 1, 2], [2, 3, 4], [4, 5, 6]]
    assert y.tolist() == [[3, 4], [5, 6], [7, 8]]  # the window starting at 6 would need step 10


def test_make_windows_multivariate_target_column():
    values = np.stack([np.arange(6), 10 * np.arange(6)], axis=1)
    x, y = make_windows(values, lookback=2, horizon=1, target_index=1)
    assert x.shape == (4, 2, 2)
    assert x[0].tolist() == [[0, 0], [1, 10]]
    assert y.ravel().tolist() == [20, 30, 40, 50]


def test_make_windows_too_short_gives_zero_windows():
    x, y = make_windows(np.arange(4.0), lookback=3, horizon=2)
    assert x.shape == (0, 3, 1) and y.shape == (0, 2)
    x, y = make_windows(np.arange(5.0), lookback=3, horizon=2)
    assert x.shape == (1, 3, 1) and y.tolist() == [[3, 4]]


def test_make_windows_rejects_bad_settings():
    with pytest.raises(StudioError, match="lookback") as info:
        make_windows(np.arange(5.0), lookback=0, horizon=1)
    assert info.value.field == "preprocess.lookback"
    with pytest.raises(ValueError, match="target_index"):
        make_windows(np.arange(5.0), lookback=1, horizon=1, target_index=1)
