"""The network's inner life on the pages: a run's probe records as tabs (Train) and one input explained (Evaluate).

Not a page itself: views/train.py and views/evaluate.py call it. Every figure
comes from rnnstudio.inside_charts; this module only picks what to draw.
"""

from __future__ import annotations

import streamlit as st

from rnnstudio import inside_charts as inside
from rnnstudio.runs.probe_files import probe_epochs, probe_path, probe_records
from views import common

# What to look for in each tab, in one plain sentence.
LOOK_FOR = {
    "time_gradient": "How much each input step still moves the loss: if the left (early) side stays dark or the "
                     "lines fall steeply towards step 0, the gradient vanishes on its way back through time and the "
                     "network cannot learn from early inputs — gated cells (LSTM, GRU) keep it alive.",
    "histograms": "How each layer's weights and gradients are spread, epoch by epoch: weights that widen are "
                  "learning, gradients that collapse to a spike at 0 mean the layer stopped learning, and "
                  "very wide gradients warn of an explosion (clipping helps).",
    "gates": "How often each gate is saturated, stuck fully open or shut: some saturation is memory at work, "
             "but a gate saturated almost everywhere passes no gradient and has stopped adapting.",
    "hidden": "Which tokens switch one hidden unit on (blue) or off (red) — units are listed liveliest first; the "
              "paths below follow the hidden state as each example is read, one colour per class.",
    "attention": "Which steps the attention layer weighs most when it forms its answer: darker cells count more.",
}


def records_of(run) -> list[dict]:
    """The run's probe records, read again only when a new epoch's file appears."""
    epochs = probe_epochs(run.folder)
    if not epochs:
        return []
    stamp = (str(run.folder), tuple(epochs), probe_path(run.folder, epochs[-1]).stat().st_mtime_ns)
    cached = st.session_state.get("probe_records")
    if cached is None or cached[0] != stamp:
        cached = (stamp, probe_records(run.folder))
        st.session_state["probe_records"] = cached  # one run at a time: records can be megabytes
    return cached[1]


def _epoch_picker(epochs: list[int], label: str, key: str) -> int:
    """An epoch slider that follows the newest epoch until the run adds one (its key changes with the count)."""
    if len(epochs) == 1:
        return epochs[0]
    return st.select_slider(label, options=epochs, value=epochs[-1], key=f"{key}@{len(epochs)}",
                            format_func=lambda e: "0 (untrained)" if e == 0 else str(e))


def _chart(fig, key: str, where=st) -> None:
    where.plotly_chart(fig, width="stretch", key=key)


def _time_gradient(records) -> None:
    _chart(inside.time_gradient_heatmap(records), "inside_tg_heatmap")
    _chart(inside.time_gradient_lines(records), "inside_tg_lines")


def _histograms(records) -> None:
    layers = inside.layers_with(records, "histograms")
    pick = st.columns([2, 2, 3])
    layer = pick[0].selectbox("Layer", layers, key="inside_hist_layer")
    kind = pick[1].segmented_control("Show", ["weights", "gradients"], default="weights", key="inside_hist_kind") or "weights"
    if any(r.get("clipped_share") is not None for r in records):
        left, right = st.columns([3, 2])
        _chart(inside.histogram_ridges(records, layer, kind), "inside_ridges", left)
        _chart(inside.clipped_share(records), "inside_clipped", right)
    else:
        _chart(inside.histogram_ridges(records, layer, kind), "inside_ridges")


def _gates(records) -> None:
    _chart(inside.gate_saturation(records), "inside_saturation")
    layers = inside.layers_with(records, "gates")
    pick = st.columns([2, 3])
    layer = pick[0].selectbox("Layer", layers, key="inside_gate_layer")
    with pick[1]:
        epoch = _epoch_picker(inside.epochs_with(records, "gates"), "Epoch", "inside_gate_epoch")
    _chart(inside.gate_distributions(next(r for r in records if r["epoch"] == epoch), layer), "inside_gate_dist")


def _hidden(records) -> None:
    with st.columns([3, 2])[0]:
        epoch = _epoch_picker(inside.epochs_with(records, "hidden"), "Epoch", "inside_hidden_epoch")
    record = next(r for r in records if r["epoch"] == epoch)
    examples = record["hidden"].get("examples") or []
    if examples:
        pick = st.columns([3, 2])
        index = pick[0].selectbox("Example", range(len(examples)), key="inside_hidden_example",
                                  format_func=lambda i: _example_name(i, examples[i]))
        example = examples[index]
        unit = unit_picker(example["states"], pick[1], key=f"inside_unit_{index}")
        _chart(inside.hidden_unit_text(example.get("tokens"), example["states"], unit, label=example.get("label")),
               "inside_unit_text")
    _chart(inside.hidden_pca(record), "inside_pca")


def _example_name(i: int, example: dict) -> str:
    tokens = example.get("tokens") or []
    start = " ".join(str(t) for t in tokens[:8]) if tokens else f"{len(example.get('states') or [])} steps"
    label = f"class {example['label']} · " if example.get("label") is not None else ""
    return f"{i + 1}: {label}{start}"[:90]  # a selectbox option is plain text, never markdown


def unit_picker(states, where, *, key: str) -> int:
    """A hidden-unit choice, liveliest units first."""
    order = inside.units_by_variation(states) or [0]
    return where.selectbox("Hidden unit", order, key=key,
                           format_func=lambda u: f"unit {u}" + (" (changes most)" if u == order[0] else ""),
                           help="Units are listed by how much they change over this example's steps.")


def _attention(records) -> None:
    with st.columns([3, 2])[0]:
        epoch = _epoch_picker(inside.epochs_with(records, "attention"), "Epoch", "inside_attention_epoch")
    examples = next(r for r in records if r["epoch"] == epoch)["attention"].get("examples") or []
    _chart(inside.attention_heatmap([e.get("tokens") for e in examples], [e.get("weights") or [] for e in examples],
                                    labels=[e.get("label") for e in examples]), "inside_attention")


TABS = {"time_gradient": _time_gradient, "histograms": _histograms, "gates": _gates, "hidden": _hidden,
        "attention": _attention}


def section() -> None:
    """The "Inside the network" tabs of the active run; while it trains they are redrawn as epochs arrive."""
    run = common.active_run()
    if run is None:
        return
    training = run.status in ("queued", "running")
    st.fragment(_section, run_every="3s" if training else None)()  # a finished run is drawn once


def _section() -> None:
    run = common.active_run()
    if run is None:
        return
    st.subheader("Inside the network")
    records = records_of(run)
    present = inside.signals_present(records)
    if not present:
        st.caption("Nothing recorded yet: the first look inside is taken before training starts "
                   "(epoch 0), then once per epoch." if run.status in ("queued", "running") else
                   "This run has no look inside recorded (it was trained before probes existed, or with them off).")
        return
    tabs = st.tabs([inside.SIGNALS[s] for s in present], key="inside_tab", on_change="rerun")
    for signal, tab in zip(present, tabs):
        if tab.open is False:  # only the tab on screen is drawn
            continue
        with tab:
            st.caption(LOOK_FOR[signal])
            TABS[signal](records)


def explained_input(explanation: dict | None, index: int) -> None:
    """Evaluate's "try it": the attention over one input and one hidden unit's activation over it."""
    if not explanation:
        return
    tokens = explanation.get("tokens")
    if explanation.get("attention") is not None:
        _chart(inside.attention_heatmap(tokens, explanation["attention"]), f"try_attention_{index}")
    hidden = explanation.get("hidden")
    if hidden and hidden.get("states"):
        unit = unit_picker(hidden["states"], st.columns([2, 3])[0], key=f"try_unit_{index}")
        _chart(inside.hidden_unit_text(tokens, hidden["states"], unit), f"try_unit_text_{index}")
