"""Runs: every run with its status and key metric; open, compare, delete, download or reload a Recipe."""

import difflib
import time

import streamlit as st

from views import common
from rnnstudio import charts
from rnnstudio.errors import StudioError
from rnnstudio.recipe import parse_recipe, recipe_from_dict, to_yaml
from rnnstudio.runs.groups import group_members, group_of, spread
from rnnstudio.runs.jobs import submit_seeds

KEY_METRICS = {"forecasting": "mape", "text-classification": "accuracy", "sequence-classification": "accuracy"}


def key_metric(run) -> float | None:
    return run.summary.get("metrics", {}).get("test", {}).get(KEY_METRICS.get(run.task, ""))


def recipe_yaml(run) -> str:
    try:
        return to_yaml(recipe_from_dict(run.recipe), comments=False)
    except StudioError:
        import yaml

        return yaml.safe_dump(run.recipe, sort_keys=False)


def seed_group_of(run, runs) -> str | None:
    """The seed group ``run`` belongs to, or the newest one rerun from it."""
    tag = group_of(run) or {}
    if tag.get("kind") == "seeds":
        return tag["id"]
    reruns = [group_of(r)["id"] for r in runs if (group_of(r) or {}).get("source") == run.run_id]
    return reruns[0] if reruns else None


def show_seed_spread(group: str, runs) -> None:
    """Mean ± std of the headline test metrics and per-seed curves of one seed group."""
    members = group_members(registry, group, runs=runs)
    done = sum(r.status == "completed" for r in members)
    st.subheader(f"Spread across {len(members)} seeds")
    st.caption(f"{done} of {len(members)} runs completed · group {group}. Differences smaller than the spread "
               "between seeds are not real differences.")
    stats = spread(members)
    if stats:
        st.dataframe([{"metric": m, "mean ± std": f"{s['mean']:.4g} ± {s['std']:.2g}", "min": s["min"], "max": s["max"],
                       "runs": s["n"]} for m, s in stats.items()], hide_index=True, width="stretch")
    curves = {group_of(r)["label"]: registry.metrics(r.run_id, kind="epoch") for r in members}
    left, middle, right = st.columns(3)
    left.plotly_chart(charts.seed_spread(stats), width="stretch", key=f"spread_{group}")
    middle.plotly_chart(charts.seed_curves(curves, "val_loss"), width="stretch", key=f"seed_val_loss_{group}")
    metric = "val_accuracy" if any("val_accuracy" in row for rows in curves.values() for row in rows) else "val_mae"
    right.plotly_chart(charts.seed_curves(curves, metric), width="stretch", key=f"seed_metric_{group}")


st.title("Runs")
registry = common.registry()
registry.reconcile()
show_all = st.toggle("Show runs of all sessions", value=False,
                     help="By default you see the runs started from this browser session.")
runs = registry.list(limit=500)
mine = [r for r in runs if r.owner == common.owner()]
shown = mine + [r for r in runs if r not in mine] if show_all else mine
if not shown:
    if runs and not show_all:
        common.empty_state(f"No runs from this session yet; {len(runs)} from other sessions — switch on "
                           "“Show runs of all sessions” to see them, or start one.", "Train")
    else:
        common.empty_state("No run yet — go to Data, or train on a sample from the Start page.", "Start")
    uploaded = None
else:
    table = [{"name": r.name, "status": r.status, "task": r.task, "model": r.model,
              "key metric": f"{KEY_METRICS.get(r.task, '')} {key_metric(r):.4g}" if key_metric(r) is not None else "",
              "duration": common.format_seconds(r.duration),
              "created": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)), "run": r.run_id} for r in shown]
    event = st.dataframe(table, width="stretch", hide_index=True, on_select="rerun", selection_mode="multi-row",
                         key="runs_table")
    selected = [shown[i] for i in event.selection.rows] if event and event.selection else []
    if not selected:
        st.caption("Select one run to open it, or several to compare them.")
    elif len(selected) == 1:
        run = selected[0]
        st.subheader(common.plain(run.name))
        st.caption(f"{run.run_id} · {run.status} · folder {common.plain(run.folder)}")
        if run.error:
            st.error(common.plain(run.error), icon=":material/error:")
        # A wrapping row: each button as wide as its label, so no label is cut off on a narrow screen.
        row = st.container(horizontal=True, gap="small")
        if row.button("Follow on Train", icon=":material/monitoring:"):
            common.set_active_run(run.run_id)
            st.switch_page(common.PAGES["Train"])
        if row.button("Load its Recipe", icon=":material/edit_note:",
                             help="Put this run's Recipe into the pages to change it and train again."):
            common.replace_recipe(run.recipe)
            st.switch_page(common.PAGES["Data"])
        row.download_button("Recipe as YAML", recipe_yaml(run), file_name=f"recipe-{run.run_id}.yaml",
                                   mime="application/x-yaml", icon=":material/download:")
        with row.popover("Delete", icon=":material/delete:"):
            st.write("Delete this run, its checkpoints and model?")
            if st.button("Delete for good", type="primary"):
                try:
                    registry.delete(run.run_id)
                    if st.session_state.get("active_run") == run.run_id:
                        common.set_active_run(None)
                    st.rerun()
                except StudioError as exc:
                    common.show_error(exc)
        with row.popover("Rerun with seeds", icon=":material/casino:"):
            st.write("Train this Recipe again under several seeds (weights, dropout, batch order) to see which "
                     "differences are real. The data split stays the same.")
            n_seeds = st.number_input("Seeds", min_value=2, max_value=20, value=5, step=1)
            if st.button("Queue the seeds", type="primary"):
                try:
                    queued = submit_seeds(run.run_id, int(n_seeds), registry=registry, owner=common.owner())
                    st.toast(f"Queued {len(queued)} runs.")
                    st.rerun()
                except StudioError as exc:
                    common.show_error(exc)
        epochs = registry.metrics(run.run_id, kind="epoch")
        st.plotly_chart(charts.training_curves(epochs, registry.metrics(run.run_id, kind="step"),
                                               steps_per_epoch=run.summary.get("plan", {}).get("steps_per_epoch")),
                        width="stretch")
        with st.expander("Recipe"):
            st.code(recipe_yaml(run), language="yaml")
        group = seed_group_of(run, runs)
        if group:
            show_seed_spread(group, runs)
    else:
        st.subheader(f"Comparing {len(selected)} runs")
        curves = {f"{r.name} ({r.run_id[-6:]})": registry.metrics(r.run_id, kind="epoch") for r in selected}
        left, right = st.columns(2)
        left.plotly_chart(charts.compare_curves(curves, "val_loss"), width="stretch")
        right.plotly_chart(charts.compare_curves(curves, "loss"), width="stretch")
        rows = []
        for r in selected:
            test = r.summary.get("metrics", {}).get("test", {})
            rows.append({"run": f"{r.name} ({r.run_id[-6:]})", "status": r.status,
                         **{k: v for k, v in test.items() if isinstance(v, (int, float))},
                         "seconds": r.summary.get("train_seconds")})
        st.dataframe(rows, width="stretch", hide_index=True)
        base, *others = selected
        for other in others:
            diff = difflib.unified_diff(recipe_yaml(base).splitlines(), recipe_yaml(other).splitlines(),
                                        fromfile=base.run_id, tofile=other.run_id, lineterm="", n=1)
            text = "\n".join(diff)
            with st.expander(f"Recipe differences: {base.run_id} → {other.run_id}", expanded=True):
                st.code(text or "The Recipes are identical.", language="diff")

st.divider()
st.subheader("Load a Recipe")
uploaded = st.file_uploader("A Recipe file (YAML or JSON), e.g. one downloaded above or written by "
                            "`python -m rnnstudio init`", type=["yaml", "yml", "json"])
if uploaded is not None:
    try:
        recipe = parse_recipe(uploaded.getvalue().decode("utf-8", errors="replace"), name=uploaded.name)
        if st.button("Use this Recipe", type="primary"):
            common.replace_recipe(recipe)
            st.switch_page(common.PAGES["Data"])
        st.code(to_yaml(recipe, comments=False), language="yaml")
    except StudioError as exc:
        common.show_error(exc)
