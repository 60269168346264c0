"""Evaluate: test metrics beside the naive baselines, error analysis charts, and a "try it" box."""

import json

import streamlit as st

from views import common, inside
from rnnstudio import charts
from rnnstudio.errors import StudioError

HEADLINE = {"text-classification": ("accuracy", "macro_f1", "roc_auc"),
            "sequence-classification": ("accuracy", "macro_f1", "roc_auc"),
            "forecasting": ("mae", "rmse", "mape", "smape")}
PERCENT = ("mape", "smape")  # reported in percent
EXPLAINED = 3  # inputs whose attention and hidden units are drawn
TRY_HINTS = {"text-classification": ("Type one text per line", "What a wonderful film\nA dull, far too long story"),
             "sequence-classification": ("One sequence per line, numbers separated by commas or spaces",
                                         "0.1, 0.5, 0.9, 0.4, 0.1"),
             "forecasting": ("The most recent values, oldest first", "")}


@st.cache_data(max_entries=16)
def read_metrics(folder: str, stamp: float) -> dict:
    from pathlib import Path

    return json.loads((Path(folder) / "metrics.json").read_text())


def run_label(run) -> str:
    return f"{run.name} · {run.model} · {run.run_id}"


st.title("Evaluate")
runs = [r for r in common.registry().list(limit=200) if r.status == "completed"]
if not runs:
    common.empty_state("No finished run yet — train one first.", "Train")
    common.finish()
mine = [r for r in runs if r.owner == common.owner()]
choices = mine + [r for r in runs if r not in mine]
active = st.session_state.get("active_run")
ids = [r.run_id for r in choices]
picked = st.selectbox("Run", ids, index=ids.index(active) if active in ids else 0,
                      format_func=lambda i: run_label(next(r for r in choices if r.run_id == i)))
run = next(r for r in choices if r.run_id == picked)
path = run.folder / "metrics.json"
if not path.exists():
    st.error(f"Run {common.plain(run.run_id)} has no metrics file.", icon=":material/error:")
    common.finish()
metrics = read_metrics(str(run.folder), path.stat().st_mtime)
task = run.task
keys = [k for k in HEADLINE.get(task, ()) if k in metrics["test"]]

st.subheader("Test metrics beside the naive baselines")
table = [{"model": "this model", **{k: metrics["test"].get(k) for k in keys}}]
table += [{"model": name.replace("_", " "), **{k: scores.get(k) for k in keys}} for name, scores in metrics["baseline"].items()]
st.dataframe(table, width="stretch", hide_index=True,
             column_config={k: st.column_config.NumberColumn(k.upper() if len(k) <= 5 else k.replace("_", " "),
                                                             format="%.2f %%" if k in PERCENT else "%.4g")
                            for k in keys})
better = "lower" if task == "forecasting" else "higher"
st.caption(f"All on the same test split; {better} is better. "
           f"Latency per example: {metrics.get('inference', {}).get('latency_ms_median', float('nan')):.2f} ms median, "
           f"{metrics.get('inference', {}).get('latency_ms_p95', float('nan')):.2f} ms p95 · "
           f"{metrics.get('model', {}).get('parameters', 0):,} parameters · trained "
           f"{metrics.get('training', {}).get('epochs', '–')} epochs in "
           f"{common.format_seconds(metrics.get('training', {}).get('seconds'))}.")

test = metrics["test"]
if task == "forecasting":
    target = run.recipe.get("data", {}).get("target")
    report_path = run.folder / "report.json"
    frequency = json.loads(report_path.read_text()).get("frequency") if report_path.exists() else None
    st.plotly_chart(charts.forecast_chart(metrics.get("forecast"), target=target, frequency=frequency), width="stretch")
else:
    left, right = st.columns(2)
    left.plotly_chart(charts.confusion_matrix(test.get("confusion"), test.get("classes")), width="stretch")
    if "roc_curve" in test:
        right.plotly_chart(charts.roc_curve(test["roc_curve"]["fpr"], test["roc_curve"]["tpr"], test.get("roc_auc"),
                                            baselines={n: {"fpr": b["roc_curve"]["fpr"], "tpr": b["roc_curve"]["tpr"],
                                                           "auc": b.get("roc_auc")}
                                                       for n, b in metrics["baseline"].items() if "roc_curve" in b}),
                           width="stretch")
    per_class = [{"class": name, **values} for name, values in test.get("per_class", {}).items()]
    right.dataframe(per_class, width="stretch", hide_index=True,
                    column_config={k: st.column_config.NumberColumn(format="%.3f") for k in ("precision", "recall", "f1")})

st.subheader("Try it")
label, example = TRY_HINTS.get(task, ("Input", ""))
if task == "forecasting":
    pipeline = json.loads((run.folder / "pipeline.json").read_text())
    needed = pipeline["lookback"] + (1 if pipeline["diff"] else 0)
    label += f" — at least {needed} values of {common.plain(pipeline['target'])}"
    actual = metrics.get("forecast", {}).get("actual") or []
    recent = [v for window in actual for v in window][-needed:]
    example = ", ".join(f"{v:.6g}" for v in recent)
with st.form("try_it"):
    typed = st.text_area(label, value=example, height=110)
    go = st.form_submit_button("Predict", type="primary", icon=":material/psychology:")
if go:
    inputs = [line for line in typed.splitlines() if line.strip()] if task != "forecasting" else [typed]
    try:
        with st.spinner("Predicting (the first time loads the model in the helper process)…"):
            answers = common.service().call("predict", folder=str(run.folder), inputs=inputs)
    except StudioError as exc:
        common.show_error(exc)
        inputs, answers = [], []
    try:  # the first inputs only: hidden states are [steps × units] each
        explained = common.service().call("explain", folder=str(run.folder), inputs=inputs[:EXPLAINED]) if answers else []
    except StudioError as exc:  # the predictions stand without the look inside
        st.caption(common.plain(f"No look inside this time: {exc.message}"))
        explained = []
    st.session_state.try_it_answers = {"run": run.run_id, "inputs": inputs, "answers": answers, "explained": explained}
tried = st.session_state.get("try_it_answers") or {}
if tried.get("run") == run.run_id:  # kept, so picking a hidden unit does not predict again
    explained = tried["explained"]
    for i, (text, answer) in enumerate(zip(tried["inputs"], tried["answers"])):
        if "forecast" in answer:
            values = ", ".join(f"{v:.4g}" for v in answer["forecast"])
            st.success(f"Next {answer['horizon']} values: {values}", icon=":material/trending_up:")
        else:
            st.markdown(f"**{common.plain(answer['label'])}** ← {common.plain(text[:200])}")
            st.bar_chart({"probability": answer["probabilities"]}, horizontal=True, height=60 + 28 * len(answer["probabilities"]))
        inside.explained_input(explained[i] if i < len(explained) else None, i)
