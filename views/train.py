"""Train: settings, Start / Stop / Resume, and live charts that refresh without re-running the page."""

import streamlit as st

from views import common, inside
from rnnstudio import charts
from rnnstudio.errors import StudioError
from rnnstudio.preview import check_model
from rnnstudio.recipe import describe_section
from rnnstudio.runs.jobs import request_stop, start, submit

MAIN_FIELDS = ("epochs", "batch_size", "optimizer", "learning_rate", "schedule", "early_stopping", "patience", "clip")
ACTIVE = ("queued", "running")


def new_rows(run_id: str, kind: str) -> list[dict]:
    """All metric rows of a run, fetching only those newer than what this session already has."""
    cache = st.session_state.setdefault("metric_rows", {})
    rows = cache.get((run_id, kind))
    if rows is None or (rows and kind == "epoch" and rows[-1]["epoch"] is None):
        rows = []
    last = rows[-1]["epoch" if kind == "epoch" else "step"] if rows else None
    fresh = common.registry().metrics(run_id, kind=kind, after=last)
    if rows and fresh and kind == "epoch" and fresh[0]["epoch"] <= last:  # a resume rewrote history
        rows = []
    rows = rows + fresh
    # A resumed run drops rows past its checkpoint: start over when the newest row went back in time.
    cache[(run_id, kind)] = rows
    return rows


st.title("Train")
recipe = common.recipe_dict()
task = common.task_of(recipe)
run = common.active_run()

if not recipe["data"].get("source") and run is None:
    common.empty_state("No run yet — choose data first, or train on a sample from the Start page.", "Data")
    common.finish()

with st.expander("Training settings", expanded=run is None):
    common.section_form("train", MAIN_FIELDS, columns=4)
    with st.popover("More settings", icon=":material/settings:"):
        rest = [m["name"] for m in describe_section("train") if m["name"] not in MAIN_FIELDS]
        common.section_form("train", rest, columns=2)

checked, problems = common.validated_recipe()
if checked is not None and checked.data.source:
    try:  # the check a run makes before it builds the model, shown before Start
        check_model(checked, *common.load_frame(checked.data.source))
    except StudioError as exc:
        checked, problems = None, [exc]
for problem in problems:
    common.show_error(problem)

buttons = st.columns([1, 1, 1, 4])
if buttons[0].button("Start", type="primary", icon=":material/play_arrow:", disabled=checked is None,
                     help="Train the current Recipe as a new run in the background."):
    try:
        run = submit(checked, registry=common.registry(), owner=common.owner())
        common.set_active_run(run.run_id)
    except StudioError as exc:
        common.show_error(exc)


@st.fragment(run_every="1.5s")
def live() -> None:
    run = common.active_run()
    if run is None:
        st.info("Press **Start** to train the current Recipe; charts appear here as it learns.", icon=":material/info:")
        return
    controls = st.columns([1, 1, 5])
    if controls[0].button("Stop", icon=":material/stop:", disabled=run.status not in ACTIVE,
                          help="Finish the current batch, save a checkpoint, then stop."):
        request_stop(run.run_id, registry=common.registry())
        st.toast("Stopping after the current batch…")
    if controls[1].button("Resume", icon=":material/resume:", disabled=run.status not in ("stopped", "interrupted", "failed"),
                          help="Continue from the last checkpoint."):
        try:
            if not start(run.run_id, registry=common.registry()):
                st.toast("This run is already queued or running.")
        except StudioError as exc:  # e.g. the session's limit of active runs
            common.show_error(exc)
        run = common.registry().get(run.run_id)
    share, text = common.progress_of(run)
    controls[2].progress(share, text=common.plain(f"{run.name} · {text}"))
    if run.status == "failed" and run.error:
        st.error(common.plain(run.error), icon=":material/error:")
    elif run.status == "interrupted":
        st.warning(common.plain(f"Interrupted: {run.error or 'the training process ended'}. Resume continues from "
                                "the last checkpoint."), icon=":material/warning:")

    epochs = new_rows(run.run_id, "epoch")
    steps = new_rows(run.run_id, "step")
    plan = run.summary.get("plan", {})
    per_epoch = plan.get("steps_per_epoch")
    metric = task.monitor_metric if (task := common.task_of(run.recipe)) else None
    numbers = st.columns(5)
    done_steps = steps[-1]["step"] if steps else 0
    total_steps = per_epoch * plan.get("epochs", 0) if per_epoch else None
    numbers[0].metric("Epoch", f"{run.summary.get('epochs_done', 0)} / {plan.get('epochs', run.recipe['train']['epochs'])}")
    if epochs:
        numbers[1].metric("Loss", f"{epochs[-1]['loss']:.4f}",
                          delta=f"{epochs[-1]['loss'] - epochs[-2]['loss']:+.4f}" if len(epochs) > 1 else None,
                          delta_color="inverse")
        if "val_loss" in epochs[-1]:
            numbers[2].metric("Validation loss", f"{epochs[-1]['val_loss']:.4f}")
    numbers[3].metric("Elapsed", common.format_seconds(run.duration))
    eta = charts.eta_seconds(done_steps - plan.get("initial_epoch", 0) * (per_epoch or 0), total_steps and
                             total_steps - plan.get("initial_epoch", 0) * (per_epoch or 0), run.duration) \
        if run.status == "running" else None
    numbers[4].metric("Time left (at most)", common.format_seconds(eta) if eta is not None else "–",
                      help="At the pace so far, if early stopping does not end it sooner.")
    st.plotly_chart(charts.training_curves(epochs, steps, metric, steps_per_epoch=per_epoch), width="stretch",
                    key="curves")
    left, middle, right = st.columns(3)
    left.plotly_chart(charts.gradient_norms(steps, steps_per_epoch=per_epoch), width="stretch", key="grads")
    middle.plotly_chart(charts.learning_rate_curve(steps or epochs, steps_per_epoch=per_epoch), width="stretch", key="lr")
    right.plotly_chart(charts.throughput(steps, steps_per_epoch=per_epoch), width="stretch", key="speed")
    if run.status == "completed":
        test = run.summary.get("metrics", {}).get("test", {})
        if test:
            shown = ", ".join(f"{k} {v:.4g}" + (" %" if k in ("mape", "smape") else "") for k, v in list(test.items())[:4])
            st.success(f"Done. Test: {common.plain(shown)}", icon=":material/check_circle:")
        st.page_link(common.PAGES["Evaluate"], label="See the evaluation", icon=":material/arrow_forward:")


live()
inside.section()
