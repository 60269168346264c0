"""Data: upload a file or pick a sample, choose the task and column roles, read the validation report."""

import streamlit as st

from views import common
from rnnstudio import charts
from rnnstudio.data.roles import suggest_roles
from rnnstudio.data.samples import list_samples
from rnnstudio.data.uploads import EXTENSIONS, store_upload
from rnnstudio.errors import StudioError
from rnnstudio.preview import data_report
from rnnstudio.recipe import describe_section, recipe_from_dict
from rnnstudio.runs import studio_home
from rnnstudio.tasks.base import list_tasks

ROLE_FIELDS = {"target", "text_column", "time_column", "series_id_column", "step_column"}
AUTOMATIC = "(automatic)"

st.title("Data")
recipe = common.recipe_dict()
source = recipe["data"].get("source")

origin = st.radio("Where is the data?", ["Upload a file", "Built-in sample"], horizontal=True,
                  index=1 if source and source.startswith("sample:") else 0)
if origin == "Upload a file":
    upload = st.file_uploader("CSV, TSV or TXT (one example per line; 'text<TAB>label' lines work)",
                              type=[e.lstrip(".") for e in EXTENSIONS], help="Drag and drop a file here.")
    if upload is not None:
        try:
            stored = store_upload(upload.getvalue(), upload.name, home=studio_home(), owner=common.owner())
        except StudioError as exc:
            common.show_error(exc)
            common.finish()
        if stored != source:
            try:
                roles = suggest_roles(common.load_frame(stored)[0])
            except StudioError as exc:
                common.show_error(exc)  # beside the upload; the Recipe keeps the data it had
                common.finish()
            common.use_source(stored, roles)
            st.rerun()
else:
    samples = {s.name: s for s in list_samples()}
    names = list(samples)
    current = source[len("sample:"):] if source and source.startswith("sample:") else None
    choice = st.selectbox("Sample", names, index=names.index(current) if current in names else 0,
                          format_func=lambda n: f"{n} — {samples[n].task}", help="Generated in code; nothing is downloaded.")
    st.caption(common.plain(samples[choice].description))
    if f"sample:{choice}" != source:
        common.use_source(f"sample:{choice}")
        st.rerun()

source = common.recipe_dict()["data"].get("source")
if not source:
    common.empty_state("No data yet: upload a file above or pick a built-in sample.")
    common.finish()
try:
    frame, name = common.load_frame(source)
except StudioError as exc:
    common.show_error(exc)
    common.finish()

recipe = common.recipe_dict()
data = recipe["data"]
st.subheader(common.plain(name))
st.caption(f"{len(frame):,} rows × {len(frame.columns)} columns")
st.dataframe(frame.head(200), width="stretch", height=240)

st.subheader("Task and columns")
tasks = {t.name: t for t in list_tasks()}
task_names = list(tasks)
grid = st.columns(3)
chosen = grid[0].selectbox("Task", task_names, index=task_names.index(data["task"]) if data.get("task") in tasks else 0,
                        format_func=lambda n: tasks[n].title, key=common.form_key("data.task"),
                        help="What the model should learn: a class per text, a class per sequence, or future values.")
if chosen != data.get("task"):
    common.set_task(chosen)
    st.rerun()
task = tasks[chosen]
columns = [str(c) for c in frame.columns]
# The role fields fill the grid after the task.
metas = {m["name"]: m for m in describe_section("data")}
fields = [f for f in task.data_fields if f != "seed"]
for i, field in enumerate(fields, start=1):
    where, meta, value = grid[i % 3], metas[field], data.get(field)
    label = field.replace("_", " ").capitalize()
    key = common.form_key(f"data.{field}")
    if field in ROLE_FIELDS:
        options = columns if field == "target" else [AUTOMATIC, *columns]
        index = options.index(value) if value in options else 0
        picked = where.selectbox(label, options, index=index, help=meta["help"], key=key)
        data[field] = None if picked == AUTOMATIC else picked
    elif field == "feature_columns":
        picked = where.multiselect(label, [c for c in columns if c != data.get("target")],
                                   default=[c for c in (value or []) if c in columns], help=meta["help"] +
                                   " Empty = automatic.", key=key)
        data[field] = picked or None
    else:
        data[field] = common.field_widget("data", meta, value, where=where)

st.subheader("Validation report")
try:
    report = data_report(recipe_from_dict(recipe), frame, name)
except StudioError as exc:
    common.show_error(exc)
    common.finish()
for warning in report["warnings"]:
    st.warning(common.plain(warning), icon=":material/warning:")
splits = report.get("splits", {})
metrics = st.columns(4)
metrics[0].metric("Rows", f"{report['rows']:,}")
for where, split in zip(metrics[1:], ("train", "val", "test")):
    if split in splits:
        where.metric(f"{split.capitalize()} examples", f"{splits[split]:,}")
left, right = st.columns(2)
if report["lengths"]:
    left.plotly_chart(charts.length_histogram(report["lengths"], report["suggested_max_length"],
                                              unit=report["length_unit"]), width="stretch")
    left.caption(f"Max length {report['max_length']} covers {report['coverage']:.0%} of the training examples; "
                 f"the {common.recipe_dict()['preprocess']['length_percentile']:g}th percentile suggests "
                 f"{report['suggested_max_length']} ({report['suggested_coverage']:.0%}).")
if chosen == "forecasting":
    fitted = report["report"]
    left.markdown(f"**Series** {fitted.get('series_length', '–')} steps · frequency {fitted.get('frequency') or 'not regular'} · "
                  f"season {fitted.get('season') or 'none found'}  \n**Chosen for it** log transform "
                  f"{'on' if fitted.get('log_transform') else 'off'} · differencing "
                  f"{'on' if fitted.get('differencing') else 'off'} · lookback {fitted.get('lookback')} · "
                  f"horizon {fitted.get('horizon')}")
if report.get("class_balance"):
    right.plotly_chart(charts.class_balance(report["class_balance"]), width="stretch")
with st.expander("Columns: types and missing values"):
    st.dataframe(report["columns"], width="stretch")
st.page_link(common.PAGES["Preprocess"], label="Next: preprocessing", icon=":material/arrow_forward:")
