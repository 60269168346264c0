"""Figures of a recurrent network's inner life, drawn from its per-epoch probe records.

Pure functions: probe records (``rnnstudio.runs.probe_files.probe_records``,
one dict per epoch) in, ``go.Figure`` out. A record may hold the gradient norm
per time step, weight and gradient histograms per layer, gate activations,
hidden states of a few examples and attention weights; any of them may be
missing, and a figure without its signal says so instead of raising.

Tokens, class labels and layer names are user strings: they pass through
:func:`rnnstudio.charts._plain` like every displayed string in
:mod:`rnnstudio.charts`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from rnnstudio.charts import ACCENT, ALERT, NEUTRAL, PALETTE, SECOND, _empty, _number, _plain, _style, log_axis

__all__ = [
    "SIGNALS", "signals_present", "layers_with", "epochs_with",
    "time_gradient_heatmap", "time_gradient_lines", "histogram_ridges", "gate_saturation", "gate_distributions",
    "hidden_unit_text", "units_by_variation", "hidden_pca", "attention_heatmap", "clipped_share",
]

# Record key → what the page calls it, in the order the page shows them.
SIGNALS = {"time_gradient": "Gradients through time", "histograms": "Weights and gradients", "gates": "Gates",
           "hidden": "Hidden states", "attention": "Attention"}

_RAMP = "Viridis"
_RAMP_END = 0.85  # Viridis's last yellows vanish on a white background
_SATURATED = 0.05  # a sigmoid gate below this or above 1 - this is saturated (a tanh unit: |a| > 1 - this)
_TANH_GATES = ("cell", "candidate", "tanh")
_GATE_COLOURS = {"input": ACCENT, "update": ACCENT, "tanh": ACCENT, "forget": SECOND, "reset": SECOND,
                 "cell": "#12B886", "candidate": "#12B886", "output": "#BE4BDB"}
_DASHES = ("solid", "dash", "dot", "dashdot")
_DIVERGING = [[0.0, "#F03E3E"], [0.5, "#FFFFFF"], [1.0, "#1C7ED6"]]  # negative red, 0 white, positive blue
_SEQUENTIAL = [[0.0, "#FFFFFF"], [1.0, ACCENT]]
_SHOWN_CHARACTERS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "↵"}
_PAD = "<pad>"  # the vocabulary's padding token (rnnstudio.preprocess.text.PAD): a step with no input


# ---------------------------------------------------------------- reading records

def _records(records: Sequence[Mapping] | None) -> list[Mapping]:
    """Records with an integer epoch, ascending."""
    good = [r for r in (records or []) if isinstance(r, Mapping) and isinstance(r.get("epoch"), int)]
    return sorted(good, key=lambda r: r["epoch"])


def signals_present(records: Sequence[Mapping] | None) -> list[str]:
    """Keys of :data:`SIGNALS` that at least one record holds, in display order."""
    held = {key for r in _records(records) for key, value in r.items() if value}
    return [key for key in SIGNALS if key in held]


def layers_with(records: Sequence[Mapping] | None, signal: str) -> list[str]:
    """Layer names under ``signal`` ("histograms" or "gates") in any record, in first-seen order."""
    names = (name for r in _records(records) for name in (r.get(signal) or {}))
    return list(dict.fromkeys(names))


def epochs_with(records: Sequence[Mapping] | None, signal: str) -> list[int]:
    """Epochs whose record holds ``signal``."""
    return [r["epoch"] for r in _records(records) if r.get(signal)]


def _epoch_name(epoch: int) -> str:
    return "epoch 0 (untrained)" if epoch == 0 else f"epoch {epoch}"


def _ramp(positions: Sequence[float]) -> list[str]:
    """Colours from early (dark purple) to late (green) for positions in [0, 1]."""
    return sample_colorscale(_RAMP, [p * _RAMP_END for p in positions])


def _ramp_positions(n: int) -> list[float]:
    return [i / (n - 1) if n > 1 else 1.0 for i in range(n)]


def _evenly(items: Sequence, limit: int) -> list:
    """At most ``limit`` items spread evenly, always keeping the first and the last."""
    if len(items) <= limit:
        return list(items)
    picks = sorted({round(i * (len(items) - 1) / (limit - 1)) for i in range(limit)})
    return [items[i] for i in picks]


def _alpha(colour: str, alpha: float) -> str:
    """``rgb(r, g, b)`` or ``#rrggbb`` as ``rgba(..., alpha)``."""
    if colour.startswith("#"):
        r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    else:
        r, g, b = (int(float(v)) for v in colour[colour.index("(") + 1:colour.index(")")].split(","))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _histogram(entry) -> tuple[np.ndarray, np.ndarray] | None:
    """(edges, counts) of a ``{"edges", "counts"}`` entry, or None when it is malformed."""
    if not isinstance(entry, Mapping):
        return None
    try:
        edges = np.asarray(entry.get("edges"), dtype=float)
        counts = np.asarray(entry.get("counts"), dtype=float)
    except (TypeError, ValueError):
        return None
    if edges.ndim != 1 or counts.ndim != 1 or counts.size == 0 or edges.size != counts.size + 1:
        return None
    if not np.isfinite(edges).all():
        return None
    return edges, np.nan_to_num(counts)


def _step_labels(record: Mapping | None, n: int) -> list[str]:
    """x labels for time steps: the record's (escaped) step labels when they fit, else "t=i"."""
    given = ((record or {}).get("time_gradient") or {}).get("steps") or []
    if len(given) == n:  # tokens of the first probe example: its padding is real input for longer examples
        return [f"t={i}" if s == _PAD else _plain(_shown(s)) for i, s in enumerate(given)]
    return [f"t={i}" for i in range(n)]


def _shown(token) -> str:
    """A token as a person can see it: spaces and line breaks get visible symbols."""
    token = "" if token is None else str(token)
    return "".join(_SHOWN_CHARACTERS.get(c, c) for c in token) if token.isspace() or len(token) == 1 else token


def _label_steps(fig: go.Figure, labels: list[str]) -> None:
    """Name the time steps on the x axis, every step when few, else about 12 evenly spaced ones."""
    every = max(1, math.ceil(len(labels) / 12)) if len(labels) > 16 else 1
    ticks = list(range(0, len(labels), every))
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=[labels[i] for i in ticks],
                     tickangle=-45 if max(len(labels[i]) for i in ticks) > 3 else 0)


# ---------------------------------------------------------------- gradients through time

def _time_gradients(records) -> list[tuple[Mapping, list[float | None]]]:
    rows = []
    for r in _records(records):
        norms = (r.get("time_gradient") or {}).get("norms")
        if norms:
            rows.append((r, [_number(v) for v in norms]))
    return rows


def _gradient_axis_title(rows) -> str:
    wrt = (rows[-1][0].get("time_gradient") or {}).get("wrt")
    return "gradient norm at the embedding of step t" if wrt == "embedding" else "gradient norm at the input of step t"


def time_gradient_log_range(record_lists: Sequence[Sequence[Mapping] | None]) -> tuple[float, float] | None:
    """The log10 range of every run's gradient-through-time norms, so side-by-side heatmaps share one colour scale."""
    logs = [math.log10(v) for records in record_lists for _, norms in _time_gradients(records)
            for v in norms if v is not None and v > 0]
    return (min(logs), max(logs)) if logs else None


def time_gradient_heatmap(records: Sequence[Mapping] | None, log_range: tuple[float, float] | None = None) -> go.Figure:
    """Gradient norm per time step (across) and epoch (down), on a log colour scale.

    ``log_range`` (from ``time_gradient_log_range``) fixes the colour scale, so several runs compare by colour.

    Bright cells are time steps whose input still moves the loss; a dark band on
    the left is a gradient that vanished on its way back through time. Hover
    shows the norm itself; the colour is its log10.
    """
    title = "Gradient reaching each time step"
    rows = _time_gradients(records)
    if not rows:
        return _empty(title, "time step", "epoch", "no gradient-through-time probe recorded yet")
    width = max(len(norms) for _, norms in rows)
    norms = [n + [None] * (width - len(n)) for _, n in rows]
    z = [[math.log10(v) if v is not None and v > 0 else None for v in row] for row in norms]
    labels = _step_labels(rows[-1][0], width)
    epochs = [r["epoch"] for r, _ in rows]
    custom = [[[v, labels[i]] for i, v in enumerate(row)] for row in norms]
    logs = [v for row in z for v in row if v is not None]
    low, high = log_range or ((min(logs), max(logs)) if logs else (None, None))
    tickvals, ticktext = _log_ticks(low, high) if low is not None else ([], [])
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(width)), y=[str(e) for e in epochs], customdata=custom, colorscale=_RAMP, xgap=0, ygap=1, zmin=low, zmax=high,
        colorbar=dict(title=dict(text="gradient norm"), tickvals=tickvals, ticktext=ticktext),
        hovertemplate="epoch %{y}, step %{x} (%{customdata[1]})<br>gradient norm %{customdata[0]:.3g}<extra></extra>"))
    _style(fig, title, "time step (the loss is read after the last one)", "epoch", hovermode="closest")
    # One equal row per probed epoch, even where the budget skipped epochs between them.
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(height=240 + min(300, 36 * len(epochs)))
    _label_steps(fig, labels)
    return fig


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Colour bar ticks at 1, 2 and 5 times powers of ten between two log10 values."""
    marks = [1, 2, 5] if high - low < 3 else [1]
    stride = max(1, math.ceil((high - low) / 8))  # at most about eight decades labelled on a wide range
    ticks = [(math.log10(m * 10.0 ** k), m * 10.0 ** k) for k in range(math.floor(low), math.ceil(high) + 1, stride)
             for m in marks]
    inside = [(t, v) for t, v in ticks if low - 1e-9 <= t <= high + 1e-9]
    if len(inside) < 2:
        inside = [(low, 10 ** low), (high, 10 ** high)]
    return [t for t, _ in inside], [f"{v:g}" if 1e-3 <= v < 1e4 else f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
                                    for _, v in inside]


def time_gradient_lines(records: Sequence[Mapping] | None, *, max_lines: int = 8) -> go.Figure:
    """The gradient norm per time step, one line per epoch (dark = early, green = late), on a log axis.

    A line that falls steeply towards step 0 is a vanishing gradient: the
    earliest inputs barely change the loss, so the network cannot learn from
    them. More than ``max_lines`` epochs are thinned evenly, first and last kept.
    """
    rows = _time_gradients(records)
    title = "Gradient per time step, one line per epoch"
    if not rows:
        return _empty(title, "time step", "gradient norm", "no gradient-through-time probe recorded yet")
    shown = _evenly(list(range(len(rows))), max_lines)
    if len(shown) < len(rows):
        title += f" ({len(shown)} of {len(rows)} epochs)"
    colours = _ramp([i / (len(rows) - 1) if len(rows) > 1 else 1.0 for i in shown])
    width = max(len(norms) for _, norms in rows)
    labels = _step_labels(rows[-1][0], width)
    fig = go.Figure()
    for colour, i in zip(colours, shown):
        record, norms = rows[i]
        fig.add_trace(go.Scatter(
            x=list(range(len(norms))), y=[v if v is not None and v > 0 else None for v in norms],
            customdata=labels[:len(norms)], name=_epoch_name(record["epoch"]), mode="lines",
            line=dict(color=colour, width=2.5 if i in (shown[0], shown[-1]) else 1.5),
            hovertemplate=f"{_epoch_name(record['epoch'])}: " + "%{y:.3g}<extra></extra>"))
    _style(fig, title, "time step (the loss is read after the last one)", _gradient_axis_title(rows))
    fig.update_layout(showlegend=True)  # even a lone line says which epoch it is
    log_axis(fig, [trace.y for trace in fig.data], exponentformat="power")
    _label_steps(fig, labels)
    return fig


# ---------------------------------------------------------------- weights and gradients

def histogram_ridges(records: Sequence[Mapping] | None, layer: str, kind: str = "weights", *,
                     max_ridges: int = 12) -> go.Figure:
    """Distribution of a layer's weights (or gradients) at each epoch, one ridge per epoch, earliest on top.

    Each ridge is scaled to its own tallest bin so its shape reads at any size.
    ``kind`` is "weights" or "gradients".
    """
    noun = "gradient" if kind == "gradients" else "weight"
    title = f"{_plain(layer)}: {noun}s over epochs"
    entries = [(r["epoch"], h) for r in _records(records)
               if (h := _histogram(((r.get("histograms") or {}).get(layer) or {}).get(kind))) is not None]
    if not entries:
        return _empty(title, f"{noun} value", "epoch", f"no {noun} histogram of this layer recorded yet")
    positions = _ramp_positions(len(entries))
    picked = _evenly(list(range(len(entries))), max_ridges)
    if len(picked) < len(entries):
        title += f" ({len(picked)} of {len(entries)} epochs)"
    colours = _ramp([positions[i] for i in picked])
    fig = go.Figure()
    n = len(picked)
    for rank, (i, colour) in enumerate(zip(picked, colours)):
        epoch, (edges, counts) = entries[i]
        base = float(n - 1 - rank)  # earliest on top, drawn first so later ridges overlap it from below
        peak = counts.max() or 1.0
        centres = (edges[:-1] + edges[1:]) / 2
        heights = base + 1.6 * counts / peak
        fig.add_trace(go.Scatter(
            x=[edges[0], *centres, edges[-1]], y=[base, *heights, base], fill="toself", mode="lines",
            line=dict(color=colour, width=1.2, shape="spline", smoothing=0.6), fillcolor=_alpha(colour, 0.55),
            name=_epoch_name(epoch), showlegend=False, hoveron="points",
            customdata=[[edges[0], edges[0], 0]] + [[lo, hi, c] for lo, hi, c in zip(edges[:-1], edges[1:], counts)]
            + [[edges[-1], edges[-1], 0]],
            hovertemplate=f"{_epoch_name(epoch)}<br>" + noun + " in [%{customdata[0]:.3g}, %{customdata[1]:.3g}): "
                          "%{customdata[2]:,.0f}<extra></extra>"))
    _style(fig, title, f"{noun} value", None, hovermode="closest")
    fig.update_yaxes(tickmode="array", tickvals=[float(n - 1 - k) for k in range(n)],
                     ticktext=[_epoch_name(entries[i][0]) for i in picked], showgrid=False, zeroline=False,
                     range=[-0.2, n + 0.8])
    fig.update_layout(height=max(320, 120 + 34 * n))
    return fig


def clipped_share(records: Sequence[Mapping] | None) -> go.Figure:
    """Share of gradient updates the clip norm shortened, per epoch."""
    title = "Updates clipped per epoch"
    rows = [(r["epoch"], v) for r in _records(records) if (v := _number(r.get("clipped_share"))) is not None]
    if not rows:
        return _empty(title, "epoch", "share of steps clipped", "no clipping recorded (clipping is off)")
    fig = go.Figure(go.Bar(x=[e for e, _ in rows], y=[v for _, v in rows], name="clipped", marker=dict(color=ALERT),
                           hovertemplate="epoch %{x}: %{y:.0%} of steps clipped<extra></extra>"))
    _style(fig, title, "epoch", "share of steps clipped", hovermode="closest")
    fig.update_yaxes(range=[0, 1], tickformat=".0%")
    fig.update_layout(showlegend=False, height=280)
    return fig


# ---------------------------------------------------------------- gates

def _gate_name(gate: str) -> str:
    return "tanh units" if gate == "tanh" else f"{gate} gate"


def _is_tanh(gate: str, edges: np.ndarray | None = None) -> bool:
    if gate in _TANH_GATES:
        return True
    return edges is not None and edges.size > 0 and edges[0] < -_SATURATED


def gate_saturation(records: Sequence[Mapping] | None) -> go.Figure:
    """Share of saturated gate activations (stuck near 0 or 1; for tanh near ±1) over epochs, per layer and gate.

    A saturated gate passes (or blocks) everything and its gradient is nearly
    zero: a forget gate saturated near 1 is long memory, an input gate stuck
    near 0 is a layer that stopped listening.
    """
    title = "Saturated gate activations over epochs"
    records = _records(records)
    layers = layers_with(records, "gates")
    if not layers:
        return _empty(title, "epoch", "share saturated", "no gate activations recorded (the model has no LSTM/GRU/RNN layer)")
    fig = go.Figure()
    for li, layer in enumerate(layers):
        gates = list(dict.fromkeys(g for r in records for g in (((r.get("gates") or {}).get(layer) or {}).get("gates") or {})))
        for gi, gate in enumerate(gates):
            points = [(r["epoch"], _number((((r.get("gates") or {}).get(layer) or {}).get("gates") or {}).get(gate, {})
                                           .get("saturated"))) for r in records]
            points = [(e, v) for e, v in points if v is not None]
            if not points:
                continue
            name = f"{_plain(layer)}: {_gate_name(gate)}" if len(layers) > 1 else _gate_name(gate)
            fig.add_trace(go.Scatter(x=[e for e, _ in points], y=[v for _, v in points], name=name,
                                     mode="lines+markers", marker=dict(size=5),
                                     line=dict(color=_GATE_COLOURS.get(gate, PALETTE[gi % len(PALETTE)]),
                                               dash=_DASHES[li % len(_DASHES)]),
                                     hovertemplate=name + ": %{y:.1%}<extra></extra>"))
    if not fig.data:
        return _empty(title, "epoch", "share saturated", "no gate saturation recorded yet")
    _style(fig, title, "epoch", "share saturated")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    if len({x for t in fig.data for x in t.x}) <= 12:  # whole epochs only, not 0.5 steps
        fig.update_xaxes(tickmode="linear", dtick=1)
    return fig


def gate_distributions(record: Mapping | None, layer: str) -> go.Figure:
    """How one layer's gates are distributed at one epoch: a histogram per gate, saturated zones shaded."""
    entry = ((record or {}).get("gates") or {}).get(layer) or {}
    epoch = (record or {}).get("epoch")
    title = f"{_plain(layer)}: gate activations" + (f" at {_epoch_name(epoch)}" if isinstance(epoch, int) else "")
    gates = [(g, h, _number(v.get("saturated"))) for g, v in (entry.get("gates") or {}).items()
             if (h := _histogram(v)) is not None]
    if not gates:
        return _empty(title, "activation", "share of activations", "no gate activations for this layer")
    names = [_gate_name(g) + (f" · {s:.0%} saturated" if s is not None else "") for g, _, s in gates]
    fig = make_subplots(rows=1, cols=len(gates), subplot_titles=[_plain(n) for n in names], shared_yaxes=True,
                        horizontal_spacing=0.04)
    for col, (gate, (edges, counts), _) in enumerate(gates, start=1):
        total = counts.sum() or 1.0
        fig.add_trace(go.Bar(x=((edges[:-1] + edges[1:]) / 2).tolist(), y=(counts / total).tolist(),
                             width=np.diff(edges).tolist(), name=_gate_name(gate), showlegend=False,
                             marker=dict(color=_GATE_COLOURS.get(gate, ACCENT), line=dict(width=0)),
                             hovertemplate="%{x:.2f}: %{y:.1%} of activations<extra></extra>"), row=1, col=col)
        low, high = (-1.0, 1.0) if _is_tanh(gate, edges) else (0.0, 1.0)
        for x0, x1 in ((low, low + _SATURATED), (high - _SATURATED, high)):
            fig.add_vrect(x0=x0, x1=x1, fillcolor=ALERT, opacity=0.12, line_width=0, row=1, col=col)
        fig.update_xaxes(range=[low, high], row=1, col=col)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_yaxes(title_text="share of activations", row=1, col=1)
    _style(fig, title, None, None, hovermode="closest")
    fig.update_xaxes(title_text="activation")
    fig.update_annotations(font=dict(size=13))
    return fig


# ---------------------------------------------------------------- hidden states

def _aligned(tokens: Sequence | None, values: Sequence[float]) -> tuple[list[str], list[float | None]]:
    """Token labels and values of the same length: padded steps (no token) are dropped.

    When there are more steps than tokens the padding is taken from the side
    whose values are closer to zero (padded steps are masked to 0 in attention;
    it falls back to the end, where the studio pads by default).
    """
    values = [_number(v) for v in values]
    if tokens is None:
        return [str(i) for i in range(len(values))], values
    tokens = list(tokens)
    extra = len(values) - len(tokens)
    if extra > 0:
        head = sum(abs(v or 0.0) for v in values[:extra])
        tail = sum(abs(v or 0.0) for v in values[-extra:])
        values = values[extra:] if head < tail else values[:len(tokens)]
    pairs = [(_shown(t), v) for t, v in zip(tokens, values) if t != _PAD]
    return [t for t, _ in pairs], [v for _, v in pairs]


def _token_grid(tokens: list[str], values: list[float | None], *, title: str, colour_title: str,
                colorscale, zmin: float, zmax: float, per_row: int | None = None, value_format: str = ".3f",
                tick_format: str | None = None) -> go.Figure:
    """Tokens laid out like text, wrapped into rows, each cell coloured by its value."""
    if per_row is None:
        per_row = 32 if all(len(t) <= 1 for t in tokens) else 10
    rows = max(1, math.ceil(len(tokens) / per_row))
    z, text, custom = [], [], []
    for r in range(rows):
        chunk = range(r * per_row, min((r + 1) * per_row, len(tokens)))
        pad = per_row - len(chunk)
        z.append([values[i] for i in chunk] + [None] * pad)
        text.append([_plain(tokens[i]) for i in chunk] + [""] * pad)
        custom.append([[i, _plain(tokens[i])] for i in chunk] + [[None, ""]] * pad)
    fig = go.Figure(go.Heatmap(
        z=z, text=text, customdata=custom, texttemplate="%{text}", textfont=dict(size=13, color="#212529"),
        colorscale=colorscale, zmin=zmin, zmax=zmax, xgap=2, ygap=4,
        colorbar=dict(title=dict(text=colour_title), thickness=12, tickformat=tick_format),
        hovertemplate="step %{customdata[0]}: %{customdata[1]}<br>" + _plain(colour_title) +
                      " %{z:" + value_format + "}<extra></extra>"))
    _style(fig, title, None, None, hovermode="closest")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    # Cells keep one height however many rows; a single row still leaves the colour bar room to read.
    fig.update_layout(height=70 + max(100, 40 * rows), margin=dict(l=10, r=10, b=10))
    return fig


def hidden_unit_text(tokens: Sequence[str] | None, activations, unit: int, *, label: str | None = None) -> go.Figure:
    """One hidden unit's activation over an example's tokens, each token coloured by it (Karpathy et al. 2015).

    ``activations`` is ``[steps][units]`` (a record's ``hidden.examples[i].states``);
    blue is positive, red negative, white near zero. ``tokens`` None numbers the steps.
    """
    title = f"Hidden unit {unit}" + (f" on an example of class {_plain(label)}" if label is not None else "")
    states = np.asarray(activations if activations is not None else [], dtype=float)
    if states.ndim != 2 or states.shape[0] == 0 or not 0 <= unit < states.shape[1]:
        return _empty(title, "", "", "no hidden states for this unit")
    labels, values = _aligned(tokens, states[:, unit].tolist())
    # Symmetric around 0 and as wide as this unit swings, so a quiet unit still shows its pattern (the bar gives the scale).
    bound = max((abs(v) for v in values if v is not None), default=0.0) or 1.0
    return _token_grid(labels, values, title=title, colour_title=f"unit {unit}", colorscale=_DIVERGING,
                       zmin=-bound, zmax=bound)


def units_by_variation(activations) -> list[int]:
    """Hidden units ordered by how much they change over an example's steps, liveliest first."""
    states = np.asarray(activations if activations is not None else [], dtype=float)
    if states.ndim != 2 or states.size == 0:
        return []
    return [int(u) for u in np.argsort(-np.nanstd(states, axis=0), kind="stable")]


def hidden_pca(record: Mapping | None, *, per_class: int = 5) -> go.Figure:
    """Paths of the hidden state through time, projected on its two main directions, coloured by class.

    Examples of different classes drifting apart as they are read is the
    network separating them; an open circle marks the first step, a filled one
    the last. At most ``per_class`` paths of each class are drawn, to stay readable.
    """
    hidden = (record or {}).get("hidden") or {}
    pca = hidden.get("pca") or {}
    epoch = (record or {}).get("epoch")
    title = "Hidden-state paths (PCA)" + (f" at {_epoch_name(epoch)}" if isinstance(epoch, int) else "")
    paths = [np.asarray(p, dtype=float) for p in (pca.get("trajectories") or [])]
    paths = [p for p in paths if p.ndim == 2 and p.shape[0] > 0 and p.shape[1] >= 2]
    if not paths:
        return _empty(title, "PC 1", "PC 2", "no hidden-state projection recorded yet")
    labels = list(pca.get("labels") or [])
    labels = labels if len(labels) == len(paths) else [None] * len(paths)
    classes = list(dict.fromkeys(str(c) for c in labels if c is not None))
    examples = hidden.get("examples") or []
    fig = go.Figure()
    seen: dict[str, int] = {}
    for i, (path, label) in enumerate(zip(paths, labels)):
        name = _plain(label) if label is not None else "example"
        if seen.get(name, 0) >= per_class:
            continue
        colour = PALETTE[classes.index(str(label)) % len(PALETTE)] if label is not None else NEUTRAL
        tokens = (examples[i].get("tokens") if i < len(examples) and isinstance(examples[i], Mapping) else None) or []
        steps = [f"step {t}" + (f": {_plain(_shown(tokens[t]))}" if t < len(tokens) else "") for t in range(len(path))]
        size = [0] * len(path)
        size[0] = size[-1] = 9
        symbol = ["circle"] * len(path)
        symbol[0] = "circle-open"
        fig.add_trace(go.Scatter(
            x=path[:, 0].tolist(), y=path[:, 1].tolist(), mode="lines+markers", name=name, legendgroup=name,
            showlegend=name not in seen, opacity=0.75, customdata=steps,
            line=dict(color=colour, width=1.5), marker=dict(color=colour, size=size, symbol=symbol),
            hovertemplate=f"{name}<br>" + "%{customdata}<extra></extra>"))
        seen[name] = seen.get(name, 0) + 1
    explained = [_number(v) for v in (pca.get("explained") or [])] + [None, None]
    axis = [f"PC {k + 1}" + (f" ({explained[k]:.0%} of the variance)" if explained[k] is not None else "") for k in (0, 1)]
    _style(fig, title, axis[0], axis[1], hovermode="closest")
    fig.update_layout(showlegend=True)
    return fig


# ---------------------------------------------------------------- attention

def attention_heatmap(tokens, weights, labels: Sequence | None = None) -> go.Figure:
    """Where the attention layer looks: the weight of each token/step, darker = more weight.

    ``weights`` is one example's ``[steps]`` (drawn as wrapped text, like
    :func:`hidden_unit_text`) or ``[examples][steps]`` (one row per example,
    labelled by ``labels``); ``tokens`` matches it (a token list, or one per
    example; None numbers the steps).
    """
    title = "Attention over the input"
    if weights is None or len(weights) == 0:
        return _empty(title, "step", "example", "no attention weights (the model has no attention layer)")
    if not isinstance(weights[0], (Sequence, np.ndarray)):  # one example
        words, values = _aligned(tokens, list(weights))
        top = max((v for v in values if v is not None), default=0.0) or 1.0
        return _token_grid(words, values, title=title, colour_title="attention", colorscale=_SEQUENTIAL,
                           zmin=0.0, zmax=top, value_format=".1%", tick_format=".0%")
    token_lists = list(tokens) if tokens is not None else [None] * len(weights)
    token_lists += [None] * (len(weights) - len(token_lists))
    rows = [_aligned(t, list(w)) for t, w in zip(token_lists, weights)]
    width = max(len(v) for _, v in rows)
    names = [f"{i + 1}" + (f": {_plain(labels[i])}" if labels is not None and i < len(labels) else "")
             for i in range(len(rows))]
    z = [v + [None] * (width - len(v)) for _, v in rows]
    words = [[_plain(t) for t in w] + [""] * (width - len(w)) for w, _ in rows]
    room = max(2, 90 // width)  # characters that fit in a cell of a ~800 px wide chart
    short = [[_plain(t if len(t) <= room else t[:room - 1] + "…") for t in w] + [""] * (width - len(w)) for w, _ in rows]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(width)), y=names, text=short, customdata=words, texttemplate="%{text}" if width <= 45 else None,
        textfont=dict(size=10, color="#212529"), colorscale=_SEQUENTIAL, zmin=0, xgap=1, ygap=3,
        colorbar=dict(title=dict(text="attention"), tickformat=".0%", thickness=12),
        hovertemplate="%{y}<br>step %{x}: %{customdata}<br>attention %{z:.1%}<extra></extra>"))
    _style(fig, title, "step", None, hovermode="closest")
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(height=140 + 34 * len(rows))
    return fig
