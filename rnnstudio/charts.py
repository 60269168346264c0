"""Plotly figure builders for the studio's pages: pure functions, data in, ``go.Figure`` out.

Inputs are the structures the library already produces: metric rows from
``RunRegistry.metrics(run_id, kind="epoch"|"step")``, the evaluate output in a
run's ``metrics.json`` and the validation report in ``report.json``. Missing or
empty input gives a figure that says so instead of raising.

User-provided strings (class, column and layer names) pass through
:func:`_plain` because Plotly.js reads ``<br>``, ``<b>``, ``<a href>``,
``&...;`` entities and ``$...$`` (TeX) in any displayed text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = [
    "ACCENT", "PALETTE", "TEMPLATE",
    "smooth", "coverage", "eta_seconds",
    "training_curves", "learning_rate_curve", "gradient_norms", "throughput", "compare_curves",
    "confusion_matrix", "roc_curve", "forecast_chart", "length_histogram", "class_balance", "series_windows",
    "seed_curves", "seed_spread", "train_vs_val",
]

TEMPLATE = "plotly_white"
ACCENT = "#4C6EF5"  # Open Color indigo 6; the rest of the palette is the same shade of its neighbours
SECOND = "#FD7E14"  # validation, horizon, the model's counterpart
NEUTRAL = "#868E96"  # baselines, chance lines, raw data behind a smoothed line
ALERT = "#FA5252"  # clipped steps
PALETTE = (ACCENT, SECOND, "#12B886", "#BE4BDB", "#FAB005", "#E64980", "#15AABF", "#82C91E", "#7950F2", NEUTRAL)

EMPTY_MESSAGE = "no data yet"
_NAMES = {"loss": "loss", "accuracy": "accuracy", "mae": "MAE", "rmse": "RMSE", "mape": "MAPE (%)",
          "smape": "sMAPE (%)", "macro_f1": "macro-F1", "learning_rate": "learning rate",
          "examples_per_second": "samples / s", "seconds": "seconds"}


# ---------------------------------------------------------------- helpers

def smooth(values: Sequence[float | None], weight: float = 0.6) -> list[float | None]:
    """Exponential moving average debiased like TensorBoard's scalar smoothing (weight 0 = raw values).

    Non-finite or missing values are passed through unchanged and do not enter the average.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    last, count, out = 0.0, 0, []
    for value in values:
        if value is None or not math.isfinite(value):
            out.append(value)
            continue
        last = last * weight + (1.0 - weight) * value
        count += 1
        # Dividing by 1 - w^n removes the pull towards the zero the average starts from.
        out.append(last / (1.0 - weight ** count))
    return out


def coverage(lengths: Sequence[int], max_len: int) -> float | None:
    """Share of ``lengths`` that fit in ``max_len`` (None for no lengths)."""
    lengths = np.asarray(lengths, dtype=float)
    if lengths.size == 0:
        return None
    return float(np.mean(lengths <= max_len))


def eta_seconds(done_steps: int | None, total_steps: int | None, elapsed_seconds: float | None) -> float | None:
    """Seconds left at the average pace so far; None when that is unknown."""
    if done_steps is None or total_steps is None or elapsed_seconds is None:
        return None
    if done_steps <= 0 or total_steps <= 0 or not 0 <= elapsed_seconds < math.inf:
        return None
    return max(0.0, elapsed_seconds / done_steps * (total_steps - done_steps))


def _plain(text) -> str:
    """``text`` as Plotly shows it literally: no tags, entities or TeX."""
    return html.escape(str(text), quote=False).replace("$", "&#36;")


def _label(key: str) -> str:
    """Axis/legend wording for a metric key ("val_mae" → "validation MAE")."""
    if key.startswith("val_"):
        return "validation " + _label(key[4:])
    if key.startswith("grad_norm/"):
        return _plain(key.split("/", 1)[1])
    return _NAMES.get(key, _plain(key.replace("_", " ")))


def _number(value) -> float | None:
    """A finite float, or None (a gap in the line)."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _positive(value) -> float | None:
    value = _number(value)
    return value if value is not None and value > 0 else None  # a log axis cannot place 0


def _style(fig: go.Figure, title: str, x_title: str | None = None, y_title: str | None = None, *,
           hovermode: str | bool = "x unified") -> go.Figure:
    entries = sum(1 for t in fig.data if t.showlegend is not False)
    legend_rows = math.ceil(entries / 4) if entries > 1 or fig.layout.showlegend else 0
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=title, x=0.0, xanchor="left", y=1.0, yref="container", yanchor="top", pad=dict(t=14)),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
        margin=dict(l=60, r=20, t=56 + 24 * legend_rows, b=55), hovermode=hovermode,
        uirevision=title,  # keeps zoom and hidden legend entries while a live chart is redrawn
    )
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def _empty(title: str, x_title: str, y_title: str, message: str = EMPTY_MESSAGE) -> go.Figure:
    fig = go.Figure()
    _style(fig, title, x_title, y_title, hovermode=False)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=16, color=NEUTRAL))
    return fig


def _rows(rows: Sequence[Mapping] | None) -> list[Mapping]:
    return [r for r in (rows or []) if isinstance(r, Mapping)]


def _has(rows: Sequence[Mapping], key: str) -> bool:
    return any(_number(r.get(key)) is not None for r in rows)


def _steps_per_epoch(step_rows: Sequence[Mapping], epoch_rows: Sequence[Mapping] = ()) -> int | None:
    """Batches per epoch, read off the last batch of an epoch known to be complete."""
    epochs = [r.get("epoch") for r in step_rows if r.get("epoch") is not None]
    if not epochs:
        return None
    done = {r.get("epoch") for r in epoch_rows} | {e for e in epochs if e < max(epochs)}
    batches = [_number(r.get("batch")) for r in step_rows if r.get("epoch") in done]
    batches = [b for b in batches if b]
    return int(max(batches)) if batches else None


def _step_axis(step_rows: Sequence[Mapping], steps_per_epoch: int | None, all_rows: Sequence[Mapping],
               epoch_rows: Sequence[Mapping] = ()) -> tuple[list[float], str]:
    """x positions of step rows: in epochs (step / steps_per_epoch) when that is known, else steps.

    ``all_rows`` are every step row: only the full set is sure to hold each epoch's last batch.
    """
    spe = steps_per_epoch or _steps_per_epoch(all_rows, epoch_rows)
    steps = [float(r["step"]) for r in step_rows]
    if spe:
        return [s / spe for s in steps], "epoch"
    return steps, "step"


def _sorted_steps(rows) -> list[Mapping]:
    return sorted((r for r in _rows(rows) if r.get("step") is not None), key=lambda r: r["step"])


def _sorted_epochs(rows) -> list[Mapping]:
    return sorted((r for r in _rows(rows) if r.get("epoch") is not None), key=lambda r: r["epoch"])


def _guess_metric(epoch_rows: Sequence[Mapping]) -> str | None:
    keys = [k for r in epoch_rows for k in r]
    for name in ("accuracy", "mae"):
        if name in keys:
            return name
    skip = {"epoch", "step", "loss", "learning_rate", "seconds", "examples_per_second"}
    others = [k for k in dict.fromkeys(keys) if k not in skip and not k.startswith("val_")]
    return others[0] if others else None


# ---------------------------------------------------------------- training

def training_curves(epoch_rows: Sequence[Mapping] | None, step_rows: Sequence[Mapping] | None = None,
                    metric: str | None = None, *, steps_per_epoch: int | None = None,
                    weight: float = 0.6) -> go.Figure:
    """Loss (per step smoothed, per epoch train and validation) beside the task metric, train vs validation."""
    epochs = _sorted_epochs(epoch_rows)
    all_steps = _sorted_steps(step_rows)
    steps = [r for r in all_steps if _number(r.get("loss")) is not None]
    metric = metric or _guess_metric(epochs)
    show_metric = metric is not None and (_has(epochs, metric) or _has(epochs, f"val_{metric}"))
    title = "Training curves"
    if not epochs and not steps:
        return _empty(title, "epoch", "loss")
    cols = 2 if show_metric else 1
    # No subplot titles: they would sit where the legend is; the y axis titles name the panels.
    fig = make_subplots(rows=1, cols=cols, horizontal_spacing=0.1)
    x_title = "epoch"
    if steps:
        xs, x_title = _step_axis(steps, steps_per_epoch, all_steps, epochs)
        raw = [_number(r.get("loss")) for r in steps]
        fig.add_trace(go.Scatter(x=xs, y=raw, name="train loss per step", mode="lines", line=dict(color=ACCENT, width=1),
                                 opacity=0.25, legendgroup="train", showlegend=False), row=1, col=1)
        fig.add_trace(go.Scatter(x=xs, y=smooth(raw, weight), name=f"train loss per step (smoothed {weight:g})",
                                 mode="lines", line=dict(color=ACCENT, width=2), legendgroup="train"), row=1, col=1)
    epoch_x = _epoch_positions(epochs, steps, x_title)
    for key, name, color, dash in (("loss", "train loss per epoch", ACCENT, "dot"),
                                   ("val_loss", "validation loss", SECOND, None)):
        if _has(epochs, key):
            fig.add_trace(go.Scatter(x=epoch_x, y=[_number(r.get(key)) for r in epochs], name=name, mode="lines+markers",
                                     line=dict(color=color, dash=dash), legendgroup="val" if dash is None else "train"),
                          row=1, col=1)
    if show_metric:
        epoch_numbers = [r["epoch"] for r in epochs]
        for key, color in ((metric, ACCENT), (f"val_{metric}", SECOND)):
            if _has(epochs, key):
                fig.add_trace(go.Scatter(x=epoch_numbers, y=[_number(r.get(key)) for r in epochs],
                                         name=("train " if key == metric else "") + _label(key),
                                         mode="lines+markers", line=dict(color=color),
                                         legendgroup="train" if key == metric else "val"), row=1, col=2)
        fig.update_xaxes(title_text="epoch", row=1, col=2)
        fig.update_yaxes(title_text=_label(metric), row=1, col=2)
        if metric == "accuracy":
            fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_xaxes(title_text=x_title, row=1, col=1)
    fig.update_yaxes(title_text="loss", row=1, col=1)
    _style(fig, title)
    if show_metric:  # one legend above each panel, so "train" never leaves the reader guessing which panel
        fig.for_each_trace(lambda t: t.update(legend="legend2"), selector=lambda t: t.xaxis == "x2")
        left = sum(1 for t in fig.data if t.showlegend is not False and t.xaxis != "x2")
        fig.update_layout(legend=dict(orientation="v", x=0.0, xanchor="left", y=1.02, yanchor="bottom", tracegroupgap=0),
                          legend2=dict(orientation="v", x=0.55, xanchor="left", y=1.02, yanchor="bottom", tracegroupgap=0),
                          margin=dict(t=56 + 20 * max(left, 2)))
    return fig


def _epoch_positions(epochs: Sequence[Mapping], steps: Sequence[Mapping], x_title: str) -> list[float]:
    """Where each epoch's end sits on the loss panel's x axis."""
    if x_title == "epoch":
        return [r["epoch"] for r in epochs]
    last_step: dict = {}
    for r in steps:
        last_step[r.get("epoch")] = r["step"]
    return [last_step.get(r["epoch"]) for r in epochs]


def learning_rate_curve(rows: Sequence[Mapping] | None, *, steps_per_epoch: int | None = None) -> go.Figure:
    """Learning rate over steps (step rows) or epochs (epoch rows)."""
    all_rows = _rows(rows)
    rows = [r for r in all_rows if _number(r.get("learning_rate")) is not None]
    title = "Learning rate"
    if not rows:
        return _empty(title, "epoch", "learning rate")
    steps = _sorted_steps(rows)
    if steps:
        xs, x_title = _step_axis(steps, steps_per_epoch, all_rows)
        rows = steps
    else:
        rows = _sorted_epochs(rows)
        xs, x_title = [r["epoch"] for r in rows], "epoch"
    ys = [_number(r.get("learning_rate")) for r in rows]
    fig = go.Figure(go.Scatter(x=xs, y=ys, name="learning rate", mode="lines", line=dict(color=ACCENT, shape="hv")))
    _style(fig, title, x_title, "learning rate")
    positive = [y for y in ys if y and y > 0]
    if positive and max(positive) / min(positive) > 100:  # a decay over orders of magnitude reads better on a log axis
        fig.update_yaxes(type="log")
    elif positive and max(positive) == min(positive):  # Plotly would centre a constant line on a ±1 range
        fig.update_yaxes(range=[0, 2 * positive[0]])
    else:
        fig.update_yaxes(rangemode="tozero")
    fig.update_yaxes(tickformat="~e")
    return fig


def log_axis(fig: go.Figure, values, **axis) -> None:
    """Makes the y axis logarithmic; within two decades only 1, 2 and 5 are labelled, not every digit."""
    positive = [v for trace in values for v in trace if v is not None and v > 0]
    if positive and math.log10(max(positive) / min(positive)) < 2:
        axis.setdefault("dtick", "D2")
    fig.update_yaxes(type="log", **axis)


def gradient_norms(step_rows: Sequence[Mapping] | None, *, steps_per_epoch: int | None = None) -> go.Figure:
    """Gradient L2 norm per layer (log scale) with the global norm dashed and clipped steps marked."""
    all_rows = _sorted_steps(step_rows)
    rows = [r for r in all_rows if any(str(k).startswith("grad_norm/") for k in r)]
    title = "Gradient norms"
    if not rows:
        return _empty(title, "step", "gradient norm (L2)")
    xs, x_title = _step_axis(rows, steps_per_epoch, all_rows)
    layers = list(dict.fromkeys(k for r in rows for k in r if str(k).startswith("grad_norm/") and k != "grad_norm/global"))
    fig = go.Figure()
    colours = PALETTE[1:]  # the accent is kept for the global norm
    for i, key in enumerate(layers):
        fig.add_trace(go.Scatter(x=xs, y=[_positive(r.get(key)) for r in rows], name=_label(key), mode="lines",
                                 line=dict(color=colours[i % len(colours)], width=1.5)))
    if any("grad_norm/global" in r for r in rows):
        fig.add_trace(go.Scatter(x=xs, y=[_positive(r.get("grad_norm/global")) for r in rows], name="global norm",
                                 mode="lines", line=dict(color=ACCENT, width=2.5, dash="dash")))
        clipped = [(x, _positive(r.get("grad_norm/global"))) for x, r in zip(xs, rows) if _number(r.get("clipped"))]
        if clipped:
            fig.add_trace(go.Scatter(x=[c[0] for c in clipped], y=[c[1] for c in clipped], name="clipped",
                                     mode="markers", marker=dict(color=ALERT, symbol="x", size=8)))
    _style(fig, title, x_title, "gradient norm (L2)")
    log_axis(fig, [trace.y for trace in fig.data], exponentformat="e")
    return fig


def throughput(step_rows: Sequence[Mapping] | None, *, steps_per_epoch: int | None = None) -> go.Figure:
    """Training throughput in samples per second over steps (running mean within each epoch)."""
    all_rows = _sorted_steps(step_rows)
    rows = [r for r in all_rows if _number(r.get("examples_per_second")) is not None]
    title = "Throughput"
    if not rows:
        return _empty(title, "step", "samples / s")
    xs, x_title = _step_axis(rows, steps_per_epoch, all_rows)
    fig = go.Figure(go.Scatter(x=xs, y=[_number(r["examples_per_second"]) for r in rows], name="samples / s",
                               mode="lines+markers", line=dict(color=ACCENT), marker=dict(size=4)))
    _style(fig, title, x_title, "samples / s")
    fig.update_yaxes(rangemode="tozero")
    # The first epoch's running mean includes building the training graph, so it starts near 0.
    first = min(r.get("epoch") or 0 for r in rows)
    warm = [x for x, r in zip(xs, rows) if (r.get("epoch") or 0) == first]
    fig.add_vrect(x0=min(xs[0], warm[0]), x1=warm[-1], fillcolor=NEUTRAL, opacity=0.12, line_width=0, layer="below")
    fig.add_annotation(x=warm[0], y=1.0, xref="x", yref="paper", xanchor="left", yanchor="top", showarrow=False,
                       text="first epoch: includes building<br>the training graph", font=dict(color=NEUTRAL, size=11))
    return fig


def _runs_having(runs: Mapping[str, Sequence[Mapping]] | None, key: str) -> dict[str, list]:
    """Each run's epoch rows in order, keeping only the runs that recorded ``key``."""
    ordered = {label: _sorted_epochs(rows) for label, rows in (runs or {}).items()}
    return {label: rows for label, rows in ordered.items() if _has(rows, key)}


def compare_curves(runs: Mapping[str, Sequence[Mapping]] | None, key: str = "val_loss") -> go.Figure:
    """One curve of ``key`` per epoch for each run, overlaid."""
    title = f"{_label(key)} by run"
    runs = _runs_having(runs, key)
    if not runs:
        return _empty(title, "epoch", _label(key), f"no {_label(key)} recorded yet")
    fig = go.Figure()
    for i, (label, rows) in enumerate(runs.items()):
        fig.add_trace(go.Scatter(x=[r["epoch"] for r in rows], y=[_number(r.get(key)) for r in rows], name=_plain(label),
                                 mode="lines+markers", line=dict(color=PALETTE[i % len(PALETTE)])))
    _style(fig, title, "epoch", _label(key), hovermode="x")
    if key.endswith("accuracy"):
        fig.update_yaxes(tickformat=".0%")
    return fig


# ---------------------------------------------------------------- evaluation

def confusion_matrix(matrix: Sequence[Sequence[int]] | None, labels: Sequence[str] | None,
                     normalize: bool = True) -> go.Figure:
    """Confusion heatmap, true class down and predicted across; colour is the row share, text the count."""
    title = "Confusion matrix"
    counts = np.asarray(matrix if matrix is not None else [], dtype=float)
    if counts.ndim != 2 or counts.size == 0 or counts.shape[0] != counts.shape[1]:
        return _empty(title, "predicted class", "true class")
    n = counts.shape[0]
    names = [_plain(c) for c in labels] if labels is not None and len(labels) == n else [str(i) for i in range(n)]
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        z = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        colour_title, hover_z = "share of true class", "%{z:.1%}"
        text = [[f"{int(c)}<br>{share:.0%}" for c, share in zip(*row)] for row in zip(counts, z)]
    else:
        z, colour_title, hover_z = counts, "examples", "%{z:,.0f}"
        text = counts.astype(int).astype(str).tolist()
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=names, y=names, text=text, texttemplate="%{text}",
        colorscale=[[0.0, "#FFFFFF"], [1.0, ACCENT]], zmin=0, zmax=1 if normalize else None,
        colorbar=dict(title=dict(text=colour_title)), xgap=1, ygap=1,
        hovertemplate="true %{y}<br>predicted %{x}<br>" + hover_z + "<extra></extra>"))
    _style(fig, title, "predicted class", "true class", hovermode="closest")
    fig.update_xaxes(type="category", side="bottom", showgrid=False)
    fig.update_yaxes(type="category", autorange="reversed", showgrid=False)
    return fig


def roc_curve(fpr: Sequence[float] | None, tpr: Sequence[float] | None, auc: float | None = None, *,
              baselines: Mapping[str, Mapping] | None = None) -> go.Figure:
    """ROC curve of the model (and optional baselines) against the chance diagonal.

    ``baselines`` maps a name to a ``classification.scores`` result (with
    ``roc_curve`` and ``roc_auc``) or to ``{"fpr", "tpr", "auc"}``.
    """
    title = "ROC curve"
    if not fpr or not tpr or len(fpr) != len(tpr):
        return _empty(title, "false positive rate", "true positive rate",
                      "no ROC curve (it needs two classes, both present in the test set)")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="chance", mode="lines", line=dict(color=NEUTRAL, dash="dash"),
                             hoverinfo="skip"))
    for i, (name, base) in enumerate((baselines or {}).items()):
        curve = base.get("roc_curve", base)
        if curve.get("fpr") and curve.get("tpr"):
            fig.add_trace(go.Scatter(x=curve["fpr"], y=curve["tpr"], name=_with_auc(_plain(name.replace("_", " ")), base.get("roc_auc", base.get("auc"))),
                                     mode="lines", line=dict(color=PALETTE[2 + i % (len(PALETTE) - 3)], width=1.5)))
    fig.add_trace(go.Scatter(x=list(fpr), y=list(tpr), name=_with_auc("model", auc), mode="lines",
                             line=dict(color=ACCENT, width=2.5)))
    _style(fig, title, "false positive rate", "true positive rate", hovermode="closest")
    fig.update_xaxes(range=[0, 1], constrain="domain")
    fig.update_yaxes(range=[0, 1.02], scaleanchor="x", scaleratio=1)
    return fig


def _with_auc(name: str, auc) -> str:
    auc = _number(auc)
    return name if auc is None else f"{name} (AUC {auc:.3f})"


def forecast_chart(forecast: Mapping | None, *, target: str | None = None, frequency: str | None = None) -> go.Figure:
    """Test-period actual values vs the model's forecast vs the seasonal-naive baseline, in original units.

    ``forecast`` is ``metrics.json["forecast"]``: ``times`` (first target time
    of each origin, or None), ``actual``/``predicted``/``seasonal_naive`` as
    ``[origins][horizon]`` lists from origins one horizon apart, ``season``.
    ``frequency`` (the report's pandas frequency, e.g. "MS") places the steps
    inside a horizon; without it they are spaced evenly between origins.
    """
    title = "Forecast on the test period"
    y_title = f"{_plain(target)} (original units)" if target else "value (original units)"
    forecast = forecast or {}
    actual = _flat(forecast.get("actual"))
    if actual.size == 0:
        return _empty(title, "time", y_title)
    horizon = _horizon(forecast.get("actual"))
    xs, x_title = _forecast_x(forecast.get("times"), len(actual), horizon, frequency)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=_gaps(actual), name="actual", mode="lines+markers",
                             line=dict(color="#343A40", width=2), marker=dict(size=4)))
    season = forecast.get("season")
    baseline_key = "seasonal_naive" if forecast.get("seasonal_naive") is not None else "naive"
    baseline = _flat(forecast.get(baseline_key))
    if baseline.size == actual.size:
        name = f"seasonal naive (season {season})" if season and season > 1 and baseline_key == "seasonal_naive" \
            else "naive (last value)"
        fig.add_trace(go.Scatter(x=xs, y=_gaps(baseline), name=name, mode="lines", line=dict(color=NEUTRAL, dash="dot")))
    predicted = _flat(forecast.get("predicted"))
    if predicted.size == actual.size:
        fig.add_trace(go.Scatter(x=xs, y=_gaps(predicted), name="model forecast", mode="lines",
                                 line=dict(color=ACCENT, width=2.5)))
    if horizon > 1:
        for x in xs[::horizon][1:]:  # a new forecast starts here from the actual history
            fig.add_vline(x=x, line=dict(color="#DEE2E6", width=1))
    return _style(fig, title, x_title, y_title)


def _flat(values) -> np.ndarray:
    if values is None:
        return np.zeros(0)
    return np.asarray(values, dtype=float).reshape(-1)


def _gaps(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]


def _horizon(values) -> int:
    array = np.asarray(values if values is not None else [], dtype=float)
    return int(array.shape[1]) if array.ndim == 2 and array.shape[1] > 0 else 1


def _forecast_x(times, n: int, horizon: int, frequency: str | None) -> tuple[list, str]:
    import pandas as pd  # pandas only when a time axis is drawn

    if not times:
        return list(range(1, n + 1)), "step of the test period"
    try:
        origins = pd.to_datetime(pd.Series(list(times)).astype(str), errors="raise", format="mixed")
    except (ValueError, TypeError):
        return list(range(1, n + 1)), "step of the test period"
    if horizon == 1 and len(origins) == n:
        return list(origins), "time"
    if frequency:
        try:
            return list(pd.date_range(origins.iloc[0], periods=n, freq=frequency)), "time"
        except ValueError:
            pass
    stamps = origins.dt.as_unit("ns").astype("int64").to_numpy(dtype=float)
    gap = np.diff(stamps).mean() if len(stamps) > 1 else 0.0
    position = np.arange(n) / horizon
    filled = np.interp(position, np.arange(len(stamps)), stamps, right=np.nan)
    beyond = np.isnan(filled)
    filled[beyond] = stamps[-1] + (position[beyond] - (len(stamps) - 1)) * gap
    return list(pd.to_datetime(filled.astype("int64"), unit="ns")), "time"


# ---------------------------------------------------------------- data and preprocessing

def length_histogram(lengths: Sequence[int] | Mapping | None, suggested_max_length: int | None = None, *,
                     covered: float | None = None, unit: str = "tokens") -> go.Figure:
    """Histogram of sequence lengths with the (suggested) max length and the share of examples it keeps whole.

    ``lengths`` is the list of lengths, or the report's summary
    ``{"min", "median", "p95", "max", "mean"}`` (then drawn as marked points,
    with ``covered`` — the report's "coverage" — in the annotation).
    """
    title = "Sequence lengths"
    x_title = f"length ({unit})"
    if isinstance(lengths, Mapping):
        return _length_summary(lengths, suggested_max_length, covered, title, x_title)
    values = np.asarray([v for v in (lengths if lengths is not None else []) if _number(v) is not None], dtype=float)
    if values.size == 0:
        return _empty(title, x_title, "examples")
    low, high = math.floor(values.min()), math.ceil(values.max())
    width = max(1, math.ceil((high - low + 1) / 60))  # whole-number bins, at most ~60 bars
    edges = np.arange(low, high + width + 1, width) - 0.5
    counts, edges = np.histogram(values, bins=edges)
    fig = go.Figure(go.Bar(x=((edges[:-1] + edges[1:]) / 2).tolist(), y=counts.tolist(), width=width,
                           name="examples", marker=dict(color=ACCENT, line=dict(width=0)),
                           hovertemplate="length %{x}<br>%{y} examples<extra></extra>"))
    _style(fig, title, x_title, "examples", hovermode="closest")
    fig.update_layout(bargap=0.05, showlegend=False)
    if suggested_max_length is not None:
        share = coverage(values, suggested_max_length)
        _max_length_line(fig, suggested_max_length, share)
    return fig


def _max_length_line(fig: go.Figure, max_length: int, share: float | None) -> None:
    text = f"max length {max_length}" + ("" if share is None else f": {share:.1%} of examples fit whole")
    fig.add_vline(x=max_length, line=dict(color=SECOND, width=2, dash="dash"))
    fig.add_annotation(x=max_length, y=1.0, xref="x", yref="paper", text=text, showarrow=False,
                       xanchor="left", yanchor="bottom", xshift=4, font=dict(color=SECOND))


def _length_summary(stats: Mapping, max_length: int | None, covered: float | None, title: str,
                    x_title: str) -> go.Figure:
    points = [(name, _number(stats.get(name))) for name in ("min", "median", "mean", "p95", "max")]
    points = [(name, v) for name, v in points if v is not None]
    if not points:
        return _empty(title, x_title, "")
    fig = go.Figure(go.Scatter(x=[v for _, v in points], y=[0] * len(points), text=[f"{n} {v:.3g}" for n, v in points],
                               mode="markers+text", name="length summary", marker=dict(color=ACCENT, size=11),
                               # mean and median are often close: their labels go on opposite sides
                               textposition=["bottom center" if n == "mean" else "top center" for n, _ in points],
                               hovertemplate="%{text}<extra></extra>"))
    fig.add_shape(type="line", x0=points[0][1], x1=max(v for _, v in points), y0=0, y1=0,
                  line=dict(color=ACCENT, width=2), layer="below")
    _style(fig, title, x_title, "", hovermode="closest")
    fig.update_yaxes(visible=False, range=[-1, 1])
    fig.update_layout(showlegend=False, height=260)
    if max_length is not None:
        _max_length_line(fig, max_length, _number(covered))
    return fig


def class_balance(counts: Mapping[str, int] | None) -> go.Figure:
    """Examples per class as bars, with each class's share."""
    title = "Class balance"
    counts = {k: v for k, v in (counts or {}).items() if _number(v) is not None}
    if not counts:
        return _empty(title, "class", "examples")
    total = sum(float(v) for v in counts.values())
    values = [int(v) for v in counts.values()]
    fig = go.Figure(go.Bar(x=[_plain(k) for k in counts], y=values, name="examples", marker=dict(color=ACCENT),
                           text=[f"{v / total:.0%}" if total else "" for v in values], textposition="outside",
                           hovertemplate="%{x}<br>%{y} examples (%{text})<extra></extra>"))
    _style(fig, title, "class", "examples", hovermode="closest")
    fig.update_xaxes(type="category")
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(showlegend=False)
    return fig


def series_windows(values: Sequence[float] | Sequence[Sequence[float]] | None, lookback: int, horizon: int, *,
                   origin: int | None = None, times: Sequence | None = None,
                   channel_names: Sequence[str] | None = None, scaled: bool = True) -> go.Figure:
    """A series with one training window: the lookback it reads and the horizon it predicts, shaded.

    ``values`` is ``[steps]`` or ``[steps, channels]`` (channel 0 = target);
    ``origin`` is the last lookback step (default: the middle window);
    ``scaled=False`` labels raw values as such.
    """
    title = "Scaled series and one training window" if scaled else "Series and one training window"
    y_title, suffix = ("scaled value", " (scaled)") if scaled else ("value", "")
    array = np.asarray(values if values is not None else [], dtype=float)
    if array.ndim == 1:
        array = array[:, None]
    x_title = "time" if times is not None else "step"
    if array.size == 0 or array.ndim != 2:
        return _empty(title, x_title, y_title)
    n = array.shape[0]
    if times is not None and len(times) != n:
        times, x_title = None, "step"
    xs = list(times) if times is not None else list(range(n))
    names = list(channel_names) if channel_names is not None and len(channel_names) == array.shape[1] else \
        ["target"] + [f"input {i}" for i in range(1, array.shape[1])]
    fig = go.Figure()
    for c in range(array.shape[1]):
        fig.add_trace(go.Scatter(x=xs, y=_gaps(array[:, c]), name=_plain(names[c]) + suffix, mode="lines",
                                 line=dict(color=PALETTE[c % len(PALETTE)] if c else ACCENT, width=2 if c == 0 else 1.2)))
    _style(fig, title, x_title, y_title)
    lookback, horizon = int(lookback), int(horizon)
    first, last = lookback - 1, n - 1 - horizon  # origins that leave room for both parts
    if lookback < 1 or horizon < 1 or last < first:
        fig.add_annotation(text=f"the series ({n} steps) is shorter than lookback {lookback} + horizon {horizon}",
                           x=0.5, y=0.98, xref="paper", yref="paper", yanchor="top", showarrow=False,
                           font=dict(color=ALERT))
        return fig
    origin = (first + last) // 2 if origin is None else min(max(int(origin), first), last)
    # Two rows of labels, so a narrow horizon band never puts its label on top of the lookback's.
    for lo, hi, colour, text, row in (
            (origin - lookback + 1, origin, ACCENT, f"lookback: {lookback} steps in", 0.99),
            (origin + 1, origin + horizon, SECOND, f"horizon: {horizon} step{'s' * (horizon > 1)} out", 0.91)):
        x0, x1 = _edge(xs, lo, -1), _edge(xs, hi, +1)
        fig.add_vrect(x0=x0, x1=x1, fillcolor=colour, opacity=0.15, line_width=0, layer="below")
        fig.add_annotation(x=x0, y=row, xref="x", yref="paper", text=text, showarrow=False, xanchor="left",
                           yanchor="top", font=dict(color=colour), bgcolor="rgba(255,255,255,0.85)")
    span = lookback + horizon
    if n > 6 * span:  # a long series would shrink the window to a sliver; start zoomed in around it
        lo, hi = max(0, origin - lookback + 1 - 2 * span), min(n - 1, origin + horizon + 2 * span)
        fig.update_xaxes(range=[xs[lo], xs[hi]])
    return fig


def _edge(xs: list, i: int, side: int):
    """Halfway from point ``i`` to its neighbour on ``side``, so the shaded bands meet between points."""
    j = i + side
    if isinstance(xs[i], (int, float, np.integer, np.floating)):
        return xs[i] + 0.5 * side
    if not 0 <= j < len(xs):
        return xs[i]
    import pandas as pd

    try:
        a, b = pd.Timestamp(xs[i]), pd.Timestamp(xs[j])
    except (TypeError, ValueError):
        return xs[i]
    return a + (b - a) / 2


# ---------------------------------------------------------------- seeds and lessons

def seed_curves(runs: Mapping[str, Sequence[Mapping]] | None, key: str = "val_loss") -> go.Figure:
    """One thin line of ``key`` per seed, and their mean ± one standard deviation as a band."""
    title = f"{_label(key)} per seed"
    runs = _runs_having(runs, key)
    if not runs:
        return _empty(title, "epoch", _label(key), f"no {_label(key)} recorded yet")
    fig = go.Figure()
    by_epoch: dict[int, list[float]] = {}
    for i, (label, rows) in enumerate(runs.items()):
        xs, ys = [r["epoch"] for r in rows], [_number(r.get(key)) for r in rows]
        for x, y in zip(xs, ys):
            if y is not None:
                by_epoch.setdefault(x, []).append(y)
        fig.add_trace(go.Scatter(x=xs, y=ys, name=_plain(label), mode="lines", opacity=0.55,
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=1.2)))
    epochs = sorted(e for e, v in by_epoch.items() if len(v) > 1)
    if epochs:
        mean = np.array([np.mean(by_epoch[e]) for e in epochs])
        std = np.array([np.std(by_epoch[e], ddof=1) for e in epochs])
        fig.add_trace(go.Scatter(x=epochs + epochs[::-1], y=list(mean + std) + list((mean - std)[::-1]), fill="toself",
                                 fillcolor="rgba(33, 37, 41, 0.12)", line=dict(width=0), hoverinfo="skip",
                                 name="mean ± std"))
        fig.add_trace(go.Scatter(x=epochs, y=mean.tolist(), name="mean", mode="lines",
                                 line=dict(color="#212529", width=2.5)))
    _style(fig, title, "epoch", _label(key), hovermode="x")
    if key.endswith("accuracy"):
        fig.update_yaxes(tickformat=".0%")
    return fig


def seed_spread(spread: Mapping[str, Mapping] | None) -> go.Figure:
    """Each test metric's value per seed as dots, with the mean and a ± one-standard-deviation bar."""
    title = "Test metrics across seeds"
    spread = {k: v for k, v in (spread or {}).items() if isinstance(v, Mapping) and v.get("values")}
    if not spread:
        return _empty(title, "metric", "value", "no completed runs yet")
    names = [_label(k) for k in spread]
    fig = go.Figure()
    for name, stats in zip(names, spread.values()):
        values = [_number(v) for v in stats["values"]]
        fig.add_trace(go.Scatter(x=[name] * len(values), y=values, mode="markers", showlegend=False,
                                 marker=dict(color=ACCENT, size=9, opacity=0.6),
                                 hovertemplate="%{y:.4g}<extra>one seed</extra>"))
    fig.add_trace(go.Scatter(
        x=names, y=[_number(s["mean"]) for s in spread.values()], mode="markers", name="mean ± std",
        marker=dict(color="#212529", size=14, symbol="line-ew-open", line=dict(width=3)),
        error_y=dict(type="data", array=[_number(s["std"]) or 0.0 for s in spread.values()], color="#212529",
                     thickness=2, width=10),
        hovertemplate="mean %{y:.4g} ± %{error_y.array:.2g}<extra></extra>"))
    _style(fig, title, None, "value", hovermode="closest")
    return fig


def train_vs_val(runs: Mapping[str, Sequence[Mapping]] | None, key: str = "loss") -> go.Figure:
    """Training (solid) and validation (dotted) ``key`` of each run on one chart, one colour per run."""
    title = f"Training and validation {_label(key)}"
    runs = _runs_having(runs, key)
    if not runs:
        return _empty(title, "epoch", _label(key), f"no {_label(key)} recorded yet")
    fig = go.Figure()
    for i, (label, rows) in enumerate(runs.items()):
        colour = PALETTE[i % len(PALETTE)]
        xs = [r["epoch"] for r in rows]
        fig.add_trace(go.Scatter(x=xs, y=[_number(r.get(key)) for r in rows], name=f"{_plain(label)} · training",
                                 mode="lines", line=dict(color=colour, width=2)))
        if _has(rows, f"val_{key}"):
            fig.add_trace(go.Scatter(x=xs, y=[_number(r.get(f"val_{key}")) for r in rows],
                                     name=f"{_plain(label)} · validation", mode="lines",
                                     line=dict(color=colour, width=2, dash="dot")))
    _style(fig, title, "epoch", _label(key), hovermode="x")
    if key.endswith("accuracy"):
        fig.update_yaxes(tickformat=".0%")
    return fig
