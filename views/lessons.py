"""Lessons: ready-made classroom experiments; move the one control, run the variants, compare them side by side."""

import streamlit as st

from views import common
from rnnstudio import charts, inside_charts
from rnnstudio.errors import StudioError
from rnnstudio.lessons import list_lessons, run_lesson
from rnnstudio.runs.groups import group_members, group_of
from rnnstudio.runs.probe_files import probe_epochs, probe_records

PER_RUN_VIEWS = ("gradients_in_time", "attention", "gradient_norms")  # drawn once per variant, side by side


def latest_group(lesson_key: str) -> str | None:
    """This session's most recent group of runs for the lesson (survives a reload through the registry)."""
    remembered = st.session_state.setdefault("lesson_groups", {}).get(lesson_key)
    if remembered:
        return remembered
    for run in common.registry().list(owner=common.owner(), limit=200):
        tag = group_of(run) or {}
        if tag.get("kind") == "lesson" and tag.get("lesson") == lesson_key:
            return tag["id"]
    return None


@st.cache_data(max_entries=12, show_spinner=False)
def cached_probe_records(folder: str, epochs: tuple[int, ...]) -> list[dict]:
    # Keyed on the epochs on disk: a refresh rereads a run's probe files only when a new epoch arrived.
    return probe_records(folder)


def control_widget(control):
    """The lesson's one control: a slider in its range (a ladder of round values for log controls)."""
    key = f"lesson_control_{control.field}"
    if control.log:
        ladder = sorted({round(v, 4) for v in (control.min, 0.03, 0.1, 0.3, 1.0, 3.0, control.max, control.default)
                         if control.min <= v <= control.max})
        return st.select_slider(control.label, ladder, value=control.default, help=control.help, key=key)
    return st.slider(control.label, min_value=control.min, max_value=control.max, value=control.default,
                     step=control.step, help=control.help, key=key)


st.title("Lessons")
st.caption("Ready-made experiments for a class: each trains a few variants on the same generated data with the "
           "same seed, so the difference you see is the one being taught.")
lessons = {lesson.title: lesson for lesson in list_lessons()}
lesson = lessons[st.radio("Lesson", list(lessons), horizontal=True, key="lesson_choice")]
st.subheader(lesson.title)
st.markdown(lesson.paragraph)

left, right = st.columns([2, 3])
with left:
    value = control_widget(lesson.control)
    try:
        recipes = lesson.recipes(value)
    except StudioError as exc:
        common.show_error(exc)
        common.finish()
    if st.button("Run the lesson", type="primary", icon=":material/play_arrow:",
                 help=f"Queue the {len(recipes)} variants; they train one after another in the background."):
        try:
            runs = run_lesson(lesson.key, value, registry=common.registry(), owner=common.owner())
            st.session_state.setdefault("lesson_groups", {})[lesson.key] = group_of(runs[0])["id"]
        except StudioError as exc:
            common.show_error(exc)
with right:
    st.markdown("**Variants** (only these settings differ)")
    st.dataframe([{"variant": name, **{field: recipe.to_dict()[field.split(".")[0]][field.split(".")[1]]
                                       for field in lesson.varies}} for name, recipe in recipes.items()],
                 hide_index=True, width="stretch")
    with st.expander("Fixed settings (the same for every variant)"):
        st.dataframe([{"setting": field, "value": str(v)} for field, v in lesson.locked_fields()],
                     hide_index=True, width="stretch")
st.info(lesson.look_at, icon=":material/visibility:")


@st.fragment(run_every="2s")
def results() -> None:
    group = latest_group(lesson.key)
    members = group_members(common.registry(), group, runs=common.registry().list(owner=common.owner(), limit=200)) \
        if group else []
    if not members:
        st.caption("Press **Run the lesson** to train the variants; their curves appear here as they learn.")
        return
    runs = {group_of(r)["label"]: r for r in members}
    tag = group_of(members[0])
    st.markdown(f"#### Results · {common.plain(lesson.control.label)} = {tag.get('value')}")
    for column, (label, run) in zip(st.columns(len(runs)), runs.items()):
        share, text = common.progress_of(run)
        column.progress(share, text=common.plain(f"{label}: {text}"))
        if run.status == "failed" and run.error:
            column.caption(common.plain(run.error[:240]))
    epochs = {label: common.registry().metrics(run.run_id, kind="epoch") for label, run in runs.items()}
    if "train_vs_val" in lesson.views:
        st.plotly_chart(charts.train_vs_val(epochs, "loss"), width="stretch", key="lesson_train_val")
    cols = st.columns(len(lesson.metrics))
    for column, metric in zip(cols, lesson.metrics):
        column.plotly_chart(charts.compare_curves(epochs, metric), width="stretch", key=f"lesson_{metric}")
    records = {label: cached_probe_records(str(run.folder), tuple(probe_epochs(run.folder))) for label, run in runs.items()}
    shared_range = inside_charts.time_gradient_log_range(list(records.values()))  # one colour scale for all variants
    for view in (v for v in lesson.views if v in PER_RUN_VIEWS):
        for column, (label, run) in zip(st.columns(len(runs)), runs.items()):
            column.caption(common.plain(label))
            column.plotly_chart(view_figure(view, run, records[label], shared_range), width="stretch",
                                key=f"lesson_{view}_{label}")
    st.dataframe([{"variant": label, "status": run.status,
                   **{k: v for k, v in run.summary.get("metrics", {}).get("test", {}).items()
                      if isinstance(v, (int, float))},
                   "seconds": round(run.duration or 0, 1)} for label, run in runs.items()],
                 hide_index=True, width="stretch")
    if "Runs" in common.PAGES:
        st.page_link(common.PAGES["Runs"], label="Compare them on the Runs page (select their rows)",
                     icon=":material/arrow_forward:")


def view_figure(view: str, run, records, shared_range):
    if view == "gradient_norms":
        return charts.gradient_norms(common.registry().metrics(run.run_id, kind="step"))
    if view == "gradients_in_time":
        return inside_charts.time_gradient_heatmap(records, log_range=shared_range)
    attention = next((r["attention"] for r in reversed(records) if r.get("attention")), None)
    examples = (attention or {}).get("examples", [])
    return inside_charts.attention_heatmap([e.get("tokens") for e in examples], [e.get("weights") or [] for e in examples],
                                           [e.get("label") for e in examples])


results()
