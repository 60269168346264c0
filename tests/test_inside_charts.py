"""Figures of the network's inner life, built from probe records in the documented schema."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest

from rnnstudio import inside_charts as inside

SCRIPT = "<script>alert(1)</script>"
T = 6


def histogram(values, bins=20) -> dict:
    counts, edges = np.histogram(values, bins=bins)
    return {"edges": edges.tolist(), "counts": counts.tolist()}


def record(epoch: int, *, attention: bool = True) -> dict:
    """A probe record shaped as the trainer writes it, with a vanishing gradient that flattens as epochs pass."""
    rng = np.random.default_rng(epoch)
    norms = [10.0 ** (-(T - 1 - t) * (3 - epoch) / 2) for t in range(T)]
    tokens = ["the", SCRIPT, "movie", "was", "$x$", "good"]
    states = np.tanh(rng.normal(size=(T, 4))).round(4)
    rec = {
        "epoch": epoch, "step": epoch * 10,
        "time_gradient": {"wrt": "embedding", "norms": norms, "steps": tokens},
        "histograms": {"lstm": {"weights": histogram(rng.normal(0, 0.1 * (epoch + 1), 500)),
                                "gradients": histogram(rng.normal(0, 0.01, 500))},
                       SCRIPT: {"weights": histogram(rng.normal(size=50))}},
        "clipped_share": 0.25 * epoch,
        "gates": {"lstm": {"cell": "lstm", "gates": {
            "input": {**histogram(rng.uniform(0, 1, 400)), "saturated": 0.1 * epoch},
            "forget": {**histogram(rng.uniform(0, 1, 400)), "saturated": 0.2},
            "cell": {**histogram(rng.uniform(-1, 1, 400)), "saturated": 0.05},
            "output": {**histogram(rng.uniform(0, 1, 400)), "saturated": 0.3}}}},
        "hidden": {"layer": "lstm", "units": 4,
                   "examples": [{"label": "pos", "tokens": tokens, "states": states.tolist()},
                                {"label": SCRIPT, "tokens": None, "states": states[:4].tolist()}],
                   "pca": {"explained": [0.41, 0.22], "labels": ["pos", SCRIPT, "pos"],
                           "trajectories": [rng.normal(size=(T, 2)).tolist() for _ in range(3)]}},
    }
    if attention:
        weights = rng.uniform(size=T)
        rec["attention"] = {"layer": "attention_pool",
                            "examples": [{"label": "pos", "tokens": tokens, "weights": (weights / weights.sum()).tolist()}]}
    return rec


@pytest.fixture
def records():
    return [record(e) for e in (2, 0, 1)]  # unsorted on purpose: figures order by epoch


def displayed_strings(fig: go.Figure) -> str:
    """Every string Plotly would render: trace text, names, ticks, hover data, titles and annotations."""
    return fig.to_json()


def assert_escaped(fig: go.Figure):
    shown = displayed_strings(fig)
    assert "<script>" not in shown and SCRIPT not in shown
    assert "&lt;script&gt;" in shown


# ---------------------------------------------------------------- which signals a run has

def test_signals_present_follow_the_records(records):
    assert inside.signals_present(records) == ["time_gradient", "histograms", "gates", "hidden", "attention"]
    no_attention = [record(0, attention=False)]
    assert "attention" not in inside.signals_present(no_attention)
    assert inside.signals_present([{"epoch": 0, "histograms": {}}]) == []
    assert inside.signals_present(None) == []
    assert inside.layers_with(records, "histograms") == ["lstm", SCRIPT]
    assert inside.epochs_with(records, "gates") == [0, 1, 2]


# ---------------------------------------------------------------- gradients through time

def test_time_gradient_heatmap_colours_the_log_of_each_norm(records):
    fig = inside.time_gradient_heatmap(records)
    heat = fig.data[0]
    expected = [record(e)["time_gradient"]["norms"] for e in (0, 1, 2)]
    assert list(heat.y) == ["0", "1", "2"] and fig.layout.yaxis.type == "category"  # equal rows, gaps or not
    assert np.allclose(10 ** np.asarray(heat.z, dtype=float), expected)  # log colour scale
    assert np.allclose([[c[0] for c in row] for row in heat.customdata], expected)  # hover shows the norm itself
    assert fig.layout.yaxis.autorange == "reversed"  # epoch 0 on top, as the text reads
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks[0] == "the" and ticks[1] == "&lt;script&gt;alert(1)&lt;/script&gt;" and ticks[4] == "&#36;x&#36;"
    assert_escaped(fig)


def test_time_gradient_heatmap_leaves_zero_norms_as_gaps_and_pads_short_rows():
    rows = [{"epoch": 0, "time_gradient": {"norms": [0.0, 1e-3, 1.0]}},
            {"epoch": 1, "time_gradient": {"norms": [1e-2, 1.0]}}]
    z = inside.time_gradient_heatmap(rows).data[0].z
    assert z[0][0] is None and z[0][1] == pytest.approx(-3) and z[1][2] is None


def test_time_gradient_lines_one_per_epoch_from_dark_to_light_on_a_log_axis(records):
    fig = inside.time_gradient_lines(records)
    assert [t.name for t in fig.data] == ["epoch 0 (untrained)", "epoch 1", "epoch 2"]
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].y) == pytest.approx(record(0)["time_gradient"]["norms"])
    colours = [t.line.color for t in fig.data]
    assert len(set(colours)) == 3 and colours[0] == "rgb(68, 1, 84)"  # the ramp starts dark
    assert "embedding" in fig.layout.yaxis.title.text


def test_time_gradient_lines_thin_many_epochs_but_keep_first_and_last():
    many = [{"epoch": e, "time_gradient": {"norms": [1.0, 2.0]}} for e in range(30)]
    fig = inside.time_gradient_lines(many, max_lines=5)
    names = [t.name for t in fig.data]
    assert len(names) == 5 and names[0] == "epoch 0 (untrained)" and names[-1] == "epoch 29"
    assert "5 of 30 epochs" in fig.layout.title.text


# ---------------------------------------------------------------- histograms

def test_histogram_ridges_draw_each_epochs_counts(records):
    fig = inside.histogram_ridges(records, "lstm", "weights")
    assert len(fig.data) == 3
    ticks = list(fig.layout.yaxis.ticktext)
    assert ticks == ["epoch 0 (untrained)", "epoch 1", "epoch 2"]
    first = fig.data[0]  # epoch 0, on top
    counts = record(0)["histograms"]["lstm"]["weights"]["counts"]
    assert [c[2] for c in first.customdata[1:-1]] == counts
    heights = np.asarray(first.y[1:-1]) - first.y[0]
    assert np.allclose(heights, 1.6 * np.asarray(counts) / max(counts))
    assert first.y[0] > fig.data[-1].y[0]  # earliest ridge above the latest
    assert fig.layout.xaxis.title.text == "weight value"


def test_histogram_ridges_escape_layer_names_and_say_when_a_layer_has_no_gradients(records):
    assert_escaped(inside.histogram_ridges(records, SCRIPT, "weights"))
    empty = inside.histogram_ridges(records, SCRIPT, "gradients")
    assert not empty.data and "no gradient histogram" in empty.layout.annotations[0].text


def test_clipped_share_per_epoch(records):
    fig = inside.clipped_share(records)
    assert list(fig.data[0].x) == [0, 1, 2] and list(fig.data[0].y) == [0.0, 0.25, 0.5]


# ---------------------------------------------------------------- gates

def test_gate_saturation_one_line_per_gate_over_epochs(records):
    fig = inside.gate_saturation(records)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"input gate", "forget gate", "cell gate", "output gate"}
    assert list(by_name["input gate"].x) == [0, 1, 2]
    assert list(by_name["input gate"].y) == pytest.approx([0.0, 0.1, 0.2])
    assert fig.layout.yaxis.tickformat == ".0%"


def test_gate_saturation_names_layers_when_there_are_several(records):
    for r in records:
        r["gates"][SCRIPT] = {"cell": "simple_rnn", "gates": {"tanh": {**histogram([0.1, 0.9]), "saturated": 0.5}}}
    fig = inside.gate_saturation(records)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: tanh units" in [t.name for t in fig.data]
    assert_escaped(fig)


def test_gate_distributions_are_shares_with_saturated_zones(records):
    rec = record(1)
    fig = inside.gate_distributions(rec, "lstm")
    assert len(fig.data) == 4
    counts = np.asarray(rec["gates"]["lstm"]["gates"]["input"]["counts"], dtype=float)
    assert np.allclose(fig.data[0].y, counts / counts.sum())
    titles = [a.text for a in fig.layout.annotations]
    assert "input gate · 10% saturated" in titles and "forget gate · 20% saturated" in titles
    assert "epoch 1" in fig.layout.title.text
    assert list(fig.layout.xaxis3.range) == [-1.0, 1.0]  # the cell candidate is tanh-valued
    assert len(fig.layout.shapes) == 8


# ---------------------------------------------------------------- hidden states

def test_hidden_unit_text_colours_each_token_by_the_unit(records):
    example = record(2)["hidden"]["examples"][0]
    fig = inside.hidden_unit_text(example["tokens"], example["states"], 3, label=SCRIPT)
    heat = fig.data[0]
    values = [v for row in heat.z for v in row if v is not None]
    assert values == pytest.approx([s[3] for s in example["states"]])
    texts = [t for row in heat.text for t in row if t]
    assert texts[1] == "&lt;script&gt;alert(1)&lt;/script&gt;" and texts[4] == "&#36;x&#36;"
    swing = max(abs(s[3]) for s in example["states"])
    assert heat.zmin == -swing and heat.zmax == swing  # symmetric around 0: white means 0
    assert_escaped(fig)


def test_hidden_unit_text_wraps_characters_and_shows_spaces():
    text = "hello world, " * 5
    states = np.linspace(-1, 1, len(text))[:, None]
    fig = inside.hidden_unit_text(list(text), states, 0)
    heat = fig.data[0]
    assert len(heat.z) == 3 and len(heat.z[0]) == 32  # 65 characters → rows of 32
    assert heat.text[0][5] == "␣"


def test_hidden_unit_text_drops_padded_steps_and_refuses_a_missing_unit():
    states = np.vstack([np.full((3, 2), 0.5), np.zeros((2, 2))])  # 3 tokens, 2 padded steps at the end
    fig = inside.hidden_unit_text(["a", "b", "c"], states, 1)
    assert [v for row in fig.data[0].z for v in row if v is not None] == [0.5, 0.5, 0.5]
    assert not inside.hidden_unit_text(["a"], states, 7).data
    assert not inside.hidden_unit_text(None, None, 0).data


def test_units_are_offered_liveliest_first():
    states = np.array([[0.0, 0.5, -0.9], [0.0, -0.5, 0.9], [0.0, 0.5, -0.9]])
    assert inside.units_by_variation(states) == [2, 1, 0]
    assert inside.units_by_variation(None) == []


def test_padding_tokens_are_left_out_and_named_by_step_on_the_gradient_axis():
    fig = inside.attention_heatmap(["good", "<pad>", "<pad>"], [1.0, 0.0, 0.0])
    assert [t for row in fig.data[0].text for t in row if t] == ["good"]
    rows = [{"epoch": 0, "time_gradient": {"norms": [1.0, 0.5, 0.1], "steps": ["good", "<pad>", "<pad>"]}}]
    assert list(inside.time_gradient_heatmap(rows).layout.xaxis.ticktext) == ["good", "t=1", "t=2"]


def test_long_sequences_get_about_a_dozen_step_labels():
    rows = [{"epoch": 0, "time_gradient": {"norms": [1.0] * 100}}]
    ticks = inside.time_gradient_lines(rows).layout.xaxis
    assert len(ticks.tickvals) <= 13 and ticks.ticktext[0] == "t=0"


def test_hidden_pca_paths_coloured_by_class(records):
    rec = record(2)
    fig = inside.hidden_pca(rec)
    assert len(fig.data) == 3
    assert list(fig.data[0].x) == pytest.approx([p[0] for p in rec["hidden"]["pca"]["trajectories"][0]])
    assert fig.data[0].line.color == fig.data[2].line.color != fig.data[1].line.color
    assert [t.showlegend for t in fig.data] == [True, True, False]  # one legend entry per class
    assert fig.layout.xaxis.title.text == "PC 1 (41% of the variance)"
    assert_escaped(fig)
    assert len(inside.hidden_pca(rec, per_class=1).data) == 2  # one path per class


# ---------------------------------------------------------------- attention

def test_attention_heatmap_for_one_input_shows_each_tokens_weight():
    weights = [0.1, 0.6, 0.3]
    fig = inside.attention_heatmap(["not", SCRIPT, "bad"], weights)
    heat = fig.data[0]
    assert [v for row in heat.z for v in row if v is not None] == pytest.approx(weights)
    assert heat.zmin == 0 and heat.zmax == pytest.approx(0.6)
    assert_escaped(fig)


def test_attention_heatmap_for_examples_is_one_row_each(records):
    examples = record(1)["attention"]["examples"] * 2
    fig = inside.attention_heatmap([e["tokens"] for e in examples], [e["weights"] for e in examples],
                                   labels=[e["label"] for e in examples] + [SCRIPT])
    heat = fig.data[0]
    assert len(heat.z) == 2 and heat.z[0] == pytest.approx(examples[0]["weights"])
    assert list(heat.y) == ["1: pos", "2: pos"]
    assert_escaped(fig)


def test_attention_alignment_drops_pre_padding_that_has_no_weight():
    fig = inside.attention_heatmap(["a", "b"], [0.0, 0.0, 0.25, 0.75])
    assert [v for row in fig.data[0].z for v in row if v is not None] == [0.25, 0.75]


# ---------------------------------------------------------------- missing signals

@pytest.mark.parametrize("build", [
    lambda r: inside.time_gradient_heatmap(r),
    lambda r: inside.time_gradient_lines(r),
    lambda r: inside.histogram_ridges(r, "lstm", "weights"),
    lambda r: inside.clipped_share(r),
    lambda r: inside.gate_saturation(r),
    lambda r: inside.gate_distributions(r[0] if r else None, "lstm"),
    lambda r: inside.hidden_pca(r[0] if r else None),
    lambda r: inside.attention_heatmap(None, []),
], ids=["heatmap", "lines", "ridges", "clipped", "saturation", "gate-dist", "pca", "attention"])
@pytest.mark.parametrize("records", [None, [], [{"epoch": 0, "step": 0}], [{"epoch": 0, "gates": {"lstm": {}}}]],
                         ids=["none", "empty", "bare-record", "malformed"])
def test_missing_signals_give_a_figure_that_says_so(build, records):
    fig = build(records)
    assert isinstance(fig, go.Figure) and not fig.data
    assert fig.layout.annotations[0].text and fig.layout.title.text
    fig.to_json()


def test_importing_inside_charts_loads_neither_tensorflow_nor_streamlit():
    code = "import sys, rnnstudio.inside_charts; print(sorted(m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
