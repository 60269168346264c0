"""Chart builders on the structures the library really produces: registry rows, scores, forecasts, reports."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnstudio import charts
from rnnstudio.preprocess.series import Scaler
from rnnstudio.runs import RunRegistry
from rnnstudio.runs.files import json_dumps
from rnnstudio.tasks.base import get_task
from rnnstudio.tasks.classification import scores
from rnnstudio.tasks.forecasting import ForecastPipeline
from rnnstudio.train.callbacks import RegistryLogger

LAYERS = ["embedding", "gru <1>", "output"]
STEPS_PER_EPOCH = 4


def _trace(fig: go.Figure, name: str):
    found = [t for t in fig.data if t.name == name]
    assert found, f"no trace {name!r} in {[t.name for t in fig.data]}"
    return found[0]


def _annotations(fig: go.Figure) -> list[str]:
    return [a.text for a in fig.layout.annotations]


@pytest.fixture
def logged(tmp_path):
    """Two epochs of a 4-step run, written through the real RegistryLogger and read back from SQLite."""
    registry = RunRegistry(tmp_path / "home")
    run = registry.create_run({"task": "text-classification"}, task="text-classification", model="gru")
    logger = RegistryLogger(registry, run.run_id, run.folder)
    losses = iter([0.9, 0.7, 0.6, 0.5, 0.45, 0.4, 0.38, 0.35])
    step = 0
    for epoch in (1, 2):
        logger.on_epoch_begin(epoch)
        for batch in range(1, STEPS_PER_EPOCH + 1):
            step += 1
            logger.on_step_end(step, {"epoch": epoch, "batch": batch, "loss": next(losses), "learning_rate": 1e-3 / epoch,
                                      "examples_per_second": 100.0 * batch})
            if step % 3 == 0:  # gradient readings on other steps than the loss readings
                logger.on_gradients(step, {"global": 0.5 * step, "clipped": step == 6,
                                           "layers": {name: 0.1 * step * (i + 1) for i, name in enumerate(LAYERS)}})
        logger.on_epoch_end(epoch, {"epoch": epoch, "loss": 0.8 / epoch, "accuracy": 0.5 + 0.2 * epoch,
                                    "learning_rate": 1e-3 / epoch, "seconds": 2.0, "examples_per_second": 200.0,
                                    "val_loss": 0.7 / epoch, "val_accuracy": 0.55 + 0.2 * epoch})
    return registry.metrics(run.run_id, kind="epoch"), registry.metrics(run.run_id, kind="step")


# ---------------------------------------------------------------- helpers

def test_smooth_is_debiased_ema():
    # weight 0.5: running averages 0.5, 1.25, 2.125, 3.0625 divided by 1 - 0.5^n
    assert charts.smooth([1, 2, 3, 4], 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875, 3.0625 / 0.9375])
    assert charts.smooth([3.0, 1.0, 2.0], 0.0) == [3.0, 1.0, 2.0]
    assert charts.smooth([], 0.6) == []


def test_smooth_passes_gaps_through_without_counting_them():
    out = charts.smooth([1.0, None, float("nan"), 3.0], 0.5)
    assert out[0] == 1.0 and out[1] is None and np.isnan(out[2])
    assert out[3] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / 0.75)


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_smooth_refuses_weights_outside_unit_interval(weight):
    with pytest.raises(ValueError, match="weight"):
        charts.smooth([1.0], weight)


def test_coverage():
    assert charts.coverage([1, 2, 3, 4], 3) == 0.75
    assert charts.coverage([5, 5], 4) == 0.0
    assert charts.coverage([], 3) is None


def test_eta_seconds():
    assert charts.eta_seconds(25, 100, 50.0) == pytest.approx(150.0)
    assert charts.eta_seconds(100, 100, 80.0) == 0.0
    assert charts.eta_seconds(0, 100, 5.0) is None
    assert charts.eta_seconds(10, None, 5.0) is None
    assert charts.eta_seconds(10, 100, None) is None


# ---------------------------------------------------------------- training

def test_training_curves_from_registry_rows(logged):
    epochs, steps = logged
    fig = charts.training_curves(epochs, steps, "accuracy")
    loss_steps = [r for r in steps if "loss" in r]
    raw = _trace(fig, "train loss per step")
    smoothed = _trace(fig, "train loss per step (smoothed 0.6)")
    assert list(raw.y) == [r["loss"] for r in loss_steps]
    assert list(smoothed.y) == pytest.approx(charts.smooth(raw.y, 0.6))
    # steps per epoch is read off the rows (last batch of a finished epoch), so steps line up with epochs
    assert list(raw.x) == pytest.approx([r["step"] / STEPS_PER_EPOCH for r in loss_steps])
    assert list(_trace(fig, "validation loss").y) == pytest.approx([0.7, 0.35])
    assert list(_trace(fig, "train loss per epoch").x) == [1, 2]
    assert list(_trace(fig, "validation accuracy").y) == pytest.approx([0.75, 0.95])
    assert list(_trace(fig, "train accuracy").y) == pytest.approx([0.7, 0.9])
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "loss"
    assert fig.layout.yaxis2.title.text == "accuracy" and fig.layout.xaxis2.title.text == "epoch"
    assert fig.layout.template.layout.paper_bgcolor == "white"
    assert raw.line.color == charts.ACCENT
    assert fig.layout.title.text
    # each panel has its own legend above it: accuracy entries never sit among the loss entries
    assert _trace(fig, "train accuracy").legend == "legend2" and _trace(fig, "validation loss").legend is None
    assert fig.layout.legend2.x == pytest.approx(fig.layout.xaxis2.domain[0])


def test_training_curves_guess_metric_and_explicit_steps_per_epoch(logged):
    epochs, steps = logged
    fig = charts.training_curves(epochs, steps, steps_per_epoch=8, weight=0.0)
    assert fig.layout.yaxis2.title.text == "accuracy"
    raw = _trace(fig, "train loss per step")
    assert list(_trace(fig, "train loss per step (smoothed 0)").y) == list(raw.y)
    assert raw.x[-1] == pytest.approx(1.0)  # step 8 of 8-step epochs


def test_training_curves_during_first_epoch_use_steps(logged):
    _, steps = logged
    first = [r for r in steps if r["epoch"] == 1 and r["batch"] and r["batch"] < 3]
    fig = charts.training_curves([], first, "accuracy")
    assert fig.layout.xaxis.title.text == "step"  # no finished epoch yet: batches per epoch unknown
    assert list(_trace(fig, "train loss per step").x) == [1, 2]
    assert "xaxis2" not in fig.to_dict()["layout"]  # no epoch metric yet: no second panel


def test_forecasting_rows_get_mae_panel():
    epochs = [{"epoch": 1, "step": None, "loss": 1.2, "mae": 0.9, "val_loss": 1.6, "val_mae": 1.1}]
    fig = charts.training_curves(epochs, [])
    assert fig.layout.yaxis2.title.text == "MAE"
    assert list(_trace(fig, "validation MAE").y) == [1.1]


def test_learning_rate_from_steps_and_epochs(logged):
    epochs, steps = logged
    fig = charts.learning_rate_curve(steps)
    lr_rows = [r for r in steps if "learning_rate" in r]
    assert list(fig.data[0].y) == pytest.approx([r["learning_rate"] for r in lr_rows])
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "learning rate"
    by_epoch = charts.learning_rate_curve(epochs)
    assert list(by_epoch.data[0].x) == [1, 2] and by_epoch.layout.xaxis.title.text == "epoch"


def test_gradient_norms(logged):
    _, steps = logged
    fig = charts.gradient_norms(steps)
    grad_rows = [r for r in steps if "grad_norm/global" in r]
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.title.text == "gradient norm (L2)"
    assert [t.name for t in fig.data] == ["embedding", "gru &lt;1&gt;", "output", "global norm", "clipped"]
    assert list(_trace(fig, "output").y) == pytest.approx([0.3 * r["step"] for r in grad_rows])
    total = _trace(fig, "global norm")
    assert total.line.dash == "dash" and total.line.color == charts.ACCENT
    assert list(_trace(fig, "clipped").x) == pytest.approx([6 / STEPS_PER_EPOCH])


def test_gradient_norms_drop_values_a_log_axis_cannot_show():
    rows = [{"epoch": 1, "step": 1, "grad_norm/a": 0.0, "grad_norm/global": float("nan")},
            {"epoch": 1, "step": 2, "grad_norm/a": 0.5, "grad_norm/global": 1.0}]
    fig = charts.gradient_norms(rows)
    assert list(_trace(fig, "a").y) == [None, 0.5]
    assert list(_trace(fig, "global norm").y) == [None, 1.0]


def test_a_narrow_log_axis_labels_1_2_5_and_a_wide_one_only_decades():
    narrow = [{"epoch": 1, "step": i, "grad_norm/a": 4.0 + i, "grad_norm/global": 6.0 + i} for i in range(1, 9)]
    assert charts.gradient_norms(narrow).layout.yaxis.dtick == "D2"  # 4..14: not a label at every digit
    wide = [{"epoch": 1, "step": i, "grad_norm/a": 10.0 ** -i, "grad_norm/global": 1.0} for i in range(1, 9)]
    fig = charts.gradient_norms(wide)
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.dtick is None  # eight decades: Plotly's own ticks


def test_throughput(logged):
    _, steps = logged
    fig = charts.throughput(steps)
    rows = [r for r in steps if "examples_per_second" in r]
    assert list(fig.data[0].y) == [r["examples_per_second"] for r in rows]
    assert fig.layout.yaxis.title.text == "samples / s"
    # the first epoch, slow because it builds the training graph, is shaded and says so
    assert fig.layout.shapes[0].x1 == pytest.approx(1.0) and "first epoch" in fig.layout.annotations[0].text


def test_compare_curves_skips_runs_without_the_key(logged):
    epochs, _ = logged
    fig = charts.compare_curves({"run a": epochs, "run <b>": [dict(r, val_loss=r["val_loss"] * 2) for r in epochs],
                                 "no validation": [{"epoch": 1, "step": None, "loss": 1.0}]})
    assert [t.name for t in fig.data] == ["run a", "run &lt;b&gt;"]
    assert list(fig.data[1].y) == pytest.approx([1.4, 0.7])
    assert fig.data[0].line.color == charts.ACCENT
    assert fig.layout.yaxis.title.text == "validation loss" and fig.layout.xaxis.title.text == "epoch"


# ---------------------------------------------------------------- evaluation

def test_confusion_matrix_from_scores():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    proba = np.eye(3)[[0, 0, 1, 1, 1, 1]]
    result = scores(y_true, proba, ["cat", "dog", "<b>bird</b>"])
    fig = charts.confusion_matrix(result["confusion"], result["classes"])
    heat = fig.data[0]
    assert np.asarray(heat.z) == pytest.approx(np.array([[2 / 3, 1 / 3, 0], [0, 1, 0], [0, 1, 0]]))
    assert heat.text[0][0].startswith("2<br>")  # the count, then the share
    assert list(heat.x) == ["cat", "dog", "&lt;b&gt;bird&lt;/b&gt;"] and list(heat.y) == list(heat.x)
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "true class"
    counts = charts.confusion_matrix(result["confusion"], result["classes"], normalize=False)
    assert np.asarray(counts.data[0].z).tolist() == result["confusion"]


def test_confusion_matrix_keeps_numeric_labels_as_categories():
    fig = charts.confusion_matrix([[1, 0], [0, 1]], ["2", "10"])
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.type == "category"


def test_roc_curve_from_scores_with_baseline():
    y_true = np.array([0, 0, 1, 1, 0, 1])
    p1 = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    result = scores(y_true, np.column_stack([1 - p1, p1]), ["no", "yes"])
    majority = scores(y_true, np.tile([1.0, 0.0], (6, 1)), ["no", "yes"])
    fig = charts.roc_curve(result["roc_curve"]["fpr"], result["roc_curve"]["tpr"], result["roc_auc"],
                           baselines={"majority_class": majority})
    model = _trace(fig, f"model (AUC {result['roc_auc']:.3f})")
    assert list(model.x) == result["roc_curve"]["fpr"] and list(model.y) == result["roc_curve"]["tpr"]
    assert list(_trace(fig, "chance").x) == [0, 1]
    _trace(fig, "majority class (AUC 0.500)")
    assert fig.layout.xaxis.title.text == "false positive rate"
    assert fig.layout.yaxis.title.text == "true positive rate"


def _forecast_metrics(horizon: int) -> dict:
    """The real forecasting evaluate on a small monthly series, through JSON as in metrics.json."""
    months = pd.date_range("2001-01-01", periods=48, freq="MS")
    values = 100 + 10 * np.sin(np.arange(48) * 2 * np.pi / 12) + np.arange(48)
    frame = pd.DataFrame({"month": months.strftime("%Y-%m-%d"), "sales": values})
    scaler = Scaler("standard").fit(values[:36, None])
    pipeline = ForecastPipeline(time_column="month", target="sales", features=[], log=False, diff=False,
                                target_scaler=scaler, feature_scaler=Scaler("standard"), lookback=6,
                                horizon=horizon, season=12)
    split = pipeline.scoring_split(frame, first_target=36, last_target=47)
    result = get_task("forecasting").evaluate(pipeline, lambda x: x[:, -horizon:, 0], split)
    return json.loads(json_dumps(result)), values


def test_forecast_chart_horizon_one_uses_times():
    metrics, values = _forecast_metrics(horizon=1)
    fig = charts.forecast_chart(metrics["forecast"], target="sales")
    actual = _trace(fig, "actual")
    assert list(actual.y) == pytest.approx(values[36:])
    assert list(actual.x) == list(pd.date_range("2004-01-01", periods=12, freq="MS"))
    assert len(_trace(fig, "model forecast").y) == 12
    assert _trace(fig, "seasonal naive (season 12)").y == pytest.approx(values[24:36])
    assert fig.layout.xaxis.title.text == "time"
    assert fig.layout.yaxis.title.text == "sales (original units)"


def test_forecast_chart_multi_step_horizon_fills_times_between_origins():
    metrics, values = _forecast_metrics(horizon=3)
    forecast = metrics["forecast"]
    n = 3 * len(forecast["actual"])
    with_freq = charts.forecast_chart(forecast, target="sales", frequency="MS")
    assert list(_trace(with_freq, "actual").x) == list(pd.date_range(forecast["times"][0], periods=n, freq="MS"))
    assert list(_trace(with_freq, "actual").y) == pytest.approx(values[-n:])
    even = charts.forecast_chart(forecast, target="sales")
    xs = list(_trace(even, "actual").x)
    assert xs[::3] == list(pd.to_datetime(forecast["times"]))  # every origin exact, steps in between evenly spaced
    assert len(xs) == n


def test_forecast_chart_without_times_uses_steps():
    fig = charts.forecast_chart({"times": None, "actual": [[1.0], [2.0]], "predicted": [[1.5], [2.5]],
                                 "seasonal_naive": [[1.0], [1.0]], "season": None})
    assert list(fig.data[0].x) == [1, 2]
    assert fig.layout.xaxis.title.text == "step of the test period"
    _trace(fig, "naive (last value)")


# ---------------------------------------------------------------- data and preprocessing

def test_length_histogram_counts_and_coverage_line():
    lengths = [1, 2, 2, 3, 4, 4, 4, 9]
    fig = charts.length_histogram(lengths, 4)
    bars = fig.data[0]
    assert sum(bars.y) == len(lengths)
    assert dict(zip(bars.x, bars.y))[4.0] == 3
    assert fig.layout.shapes[0].x0 == 4
    assert "87.5%" in _annotations(fig)[0]
    assert fig.layout.xaxis.title.text == "length (tokens)" and fig.layout.yaxis.title.text == "examples"


def test_length_histogram_from_report_summary():
    report = {"lengths": {"min": 5, "median": 17.0, "p95": 28.0, "max": 37, "mean": 16.7}, "max_length": 28,
              "coverage": 0.9515}
    fig = charts.length_histogram(report["lengths"], report["max_length"], covered=report["coverage"], unit="steps")
    assert list(fig.data[0].x) == [5, 17.0, 16.7, 28.0, 37]
    assert "95.2%" in _annotations(fig)[0]
    assert fig.layout.xaxis.title.text == "length (steps)"


def test_class_balance():
    fig = charts.class_balance({"negative": 30, "positive": 10, "a&b": 0})
    assert list(fig.data[0].x) == ["negative", "positive", "a&amp;b"]
    assert list(fig.data[0].y) == [30, 10, 0]
    assert list(fig.data[0].text) == ["75%", "25%", "0%"]
    assert fig.layout.xaxis.type == "category" and fig.layout.yaxis.title.text == "examples"


def test_series_windows_shades_lookback_and_horizon():
    values = np.linspace(-1, 1, 40)
    fig = charts.series_windows(values, lookback=5, horizon=2, origin=10)
    lookback, horizon = fig.layout.shapes
    assert (lookback.x0, lookback.x1) == (5.5, 10.5)  # steps 6..10 read
    assert (horizon.x0, horizon.x1) == (10.5, 12.5)  # steps 11..12 predicted
    assert lookback.fillcolor == charts.ACCENT and horizon.fillcolor != charts.ACCENT
    assert list(fig.data[0].y) == pytest.approx(values)
    assert fig.layout.yaxis.title.text == "scaled value"


def test_series_windows_with_times_and_channels():
    times = pd.date_range("2020-01-01", periods=30, freq="D")
    fig = charts.series_windows(np.zeros((30, 2)), 4, 1, times=times, channel_names=["load", "temp"])
    assert [t.name for t in fig.data] == ["load (scaled)", "temp (scaled)"]
    assert fig.layout.xaxis.title.text == "time"
    assert fig.layout.shapes[1].x0 > fig.layout.shapes[0].x0
    raw = charts.series_windows(np.arange(30.0), 4, 1, scaled=False)
    assert raw.layout.yaxis.title.text == "value" and raw.data[0].name == "target"


def test_series_windows_too_short_says_so():
    fig = charts.series_windows([0.1, 0.2, 0.3], lookback=5, horizon=2)
    assert "shorter than lookback 5 + horizon 2" in _annotations(fig)[0]
    assert not fig.layout.shapes


# ---------------------------------------------------------------- empty input and isolation

@pytest.mark.parametrize("build", [
    lambda: charts.training_curves([], []),
    lambda: charts.training_curves(None, None),
    lambda: charts.learning_rate_curve([]),
    lambda: charts.gradient_norms([{"epoch": 1, "step": 1, "loss": 0.3}]),
    lambda: charts.throughput(None),
    lambda: charts.compare_curves({}),
    lambda: charts.confusion_matrix([], []),
    lambda: charts.roc_curve([], []),
    lambda: charts.forecast_chart({}),
    lambda: charts.length_histogram([]),
    lambda: charts.length_histogram({}),
    lambda: charts.class_balance({}),
    lambda: charts.series_windows([], 3, 1),
], ids=["curves", "curves-none", "lr", "grad", "throughput", "compare", "confusion", "roc", "forecast",
        "lengths", "length-stats", "balance", "windows"])
def test_empty_input_gives_a_figure_that_says_so(build):
    fig = build()
    assert isinstance(fig, go.Figure)
    assert not fig.data
    assert _annotations(fig) and _annotations(fig)[0]
    assert fig.layout.title.text and fig.layout.xaxis.title.text
    fig.to_json()  # serialisable as the page will send it


def test_importing_charts_loads_neither_tensorflow_nor_streamlit():
    code = "import sys, rnnstudio.charts; print(sorted(m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
