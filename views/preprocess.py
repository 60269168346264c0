"""Preprocess: every option of the Recipe's preprocess section, with a live before/after preview on real rows."""

import pandas as pd
import streamlit as st

from views import common
from rnnstudio import charts
from rnnstudio.errors import StudioError
from rnnstudio.preview import augment_preview, series_preview, text_preview
from rnnstudio.recipe import describe_section



def _short(value) -> str:
    """Tokens or steps as one short line of text."""
    if isinstance(value, list) and value and isinstance(value[0], list):
        value = [round(step[0], 3) for step in value]
    if isinstance(value, list):
        return " ".join(map(str, value[:40])) + (" …" if len(value) > 40 else "")
    return str(value)[:300]


st.title("Preprocess")
recipe = common.recipe_dict()
task = common.task_of(recipe)
if not recipe["data"].get("source") or task is None:
    common.empty_state("No data yet — choose a file or a sample first.", "Data")
    common.finish()

settings, preview = st.columns([2, 3], gap="large")
with settings:
    st.subheader("Settings")
    common.section_form("preprocess", task.preprocess_fields)
    st.markdown("**Augmentation** (training split only)")
    metas = {m["name"]: m for m in describe_section("augment")}
    current = {a["name"]: a for a in recipe["preprocess"].get("augment", [])}
    chosen = st.multiselect("Augmentations", list(task.augmentations), default=[n for n in current if n in task.augmentations],
                            help=metas["name"]["help"], key=common.form_key("preprocess.augment"))
    augments = []
    for name in chosen:
        spec = dict(current.get(name, {"name": name, "strength": metas["strength"]["default"],
                                       "multiplier": metas["multiplier"]["default"]}))
        left, right = st.columns(2)
        spec["strength"] = left.slider(f"{name} strength", 0.0, 1.0, float(spec["strength"]), 0.05,
                                       help=metas["strength"]["help"], key=common.form_key(f"augment.{name}.strength"))
        spec["multiplier"] = right.number_input(f"{name} copies", 1, 20, int(spec["multiplier"]),
                                                help=metas["multiplier"]["help"], key=common.form_key(f"augment.{name}.multiplier"))
        augments.append(spec)
    recipe["preprocess"]["augment"] = augments

with preview:
    st.subheader("Preview on your rows")
    recipe_checked, problems = common.validated_recipe()
    for problem in problems:
        common.show_error(problem)
    if recipe_checked is None:
        common.finish()
    try:
        frame, name = common.load_frame(recipe["data"]["source"])
        if task.name == "text-classification":
            rows = text_preview(recipe_checked, frame, 5, name=name)
            st.caption(f"Padded to {len(rows[0]['ids']) if rows else '–'} ids; 0 = padding, 1 = out of vocabulary.")
            for row in rows:
                with st.container(border=True):
                    st.markdown(f"**{common.plain(row['label'])}** · {common.plain(row['text'][:300])}")
                    st.code(" | ".join(row["tokens"][:80]), language=None, wrap_lines=True)
                    st.code(" ".join(map(str, row["ids"][:120])) + (" …" if len(row["ids"]) > 120 else ""),
                            language=None, wrap_lines=True)
                    if row["oov"]:
                        st.caption("Out of vocabulary: " + common.plain(", ".join(row["oov"][:20])))
        else:
            shown = series_preview(recipe_checked, frame, 3, name=name)
            if task.name == "forecasting":
                for values, times, title, scaled in (
                        (shown["raw"], shown.get("times"), "Raw series and one training window", False),
                        (shown["transformed"], shown.get("transformed_times"),
                         "What the model sees (after log, differencing, scaling)", True)):
                    figure = charts.series_windows(values, shown["lookback"], shown["horizon"], times=times,
                                                   scaled=scaled)
                    st.plotly_chart(figure.update_layout(title=title), width="stretch")
                st.caption(f"log transform: {shown['log_transform']} · differencing: {shown['differencing']} · "
                           f"scaling: {shown['scaling']} · season: {shown['season'] or 'none found'} · "
                           f"windows: {shown['windows']}")
            else:
                for example in shown["examples"]:
                    st.markdown(f"**{common.plain(example.get('label', ''))}** — {len(example['raw'])} steps, "
                                f"padded to {len(example['scaled'])}")
                    st.line_chart(pd.DataFrame({"raw": pd.Series([s[0] for s in example["raw"]]),
                                                "scaled": pd.Series([s[0] for s in example["scaled"]])}), height=160)
        if augments:
            st.subheader("Augmented examples")
            for block in augment_preview(recipe_checked, frame, 3, name=name):
                if block["message"]:
                    st.info(common.plain(block["message"]), icon=":material/info:")
                st.markdown(f"**{block['name']}** (strength {block['strength']:g}, ×{block['multiplier']})")
                table = [{"before": _short(e["before"]), "after": _short(e["after"]), "changed": e["changed"]}
                         for e in block["examples"]]
                st.dataframe(table, width="stretch", hide_index=True)
    except StudioError as exc:
        common.show_error(exc)

st.page_link(common.PAGES["Model"], label="Next: the model", icon=":material/arrow_forward:")
