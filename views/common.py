"""Shared pieces of the pages: the Recipe in the session, forms drawn from Recipe metadata, errors, the sidebar.

Pages stay thin: widgets fill the Recipe; the library does the work. Nothing
here imports TensorFlow (model summaries and predictions go through the
helper process in rnnstudio.service).
"""

from __future__ import annotations

import json
import math
import re
import uuid

import streamlit as st

from rnnstudio.data.load import load_source, sample_defaults
from rnnstudio.errors import RecipeError, StudioError
from rnnstudio.recipe import Recipe, check, default_recipe, describe_section, recipe_from_dict
from rnnstudio.runs import RunRegistry, studio_home, write_json_atomic
from rnnstudio.service import ServiceClient
from rnnstudio.tasks.base import get_task
from rnnstudio.workspace import confine, recipe_path_problems

ACCENT = "#4C6EF5"
PAGES = {}  # page name -> st.Page, filled by app.py so pages can link to each other


# ---------------------------------------------------------------- escaping
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text) -> str:
    """User-supplied text made inert for Streamlit markdown (no formatting, links or HTML)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


# ---------------------------------------------------------------- shared resources
@st.cache_resource
def _registry(home: str) -> RunRegistry:
    return RunRegistry(home)


# Helper lanes shared by all sessions, each one process answering in turn: a long export (fresh-process
# verification, tens of seconds) must not hold up other sessions' model summaries and predictions.
SERVICE_LANES = {"interactive": 180.0, "export": 900.0}  # lane -> seconds a request may take


@st.cache_resource
def _service(home: str, lane: str) -> ServiceClient:
    log = f"{home}/service.log" if lane == "interactive" else f"{home}/service-{lane}.log"
    return ServiceClient(log, timeout=SERVICE_LANES[lane])


def registry() -> RunRegistry:
    return _registry(str(studio_home()))


def service(lane: str = "interactive") -> ServiceClient:
    return _service(str(studio_home()), lane)


def owner() -> str:
    """This browser's id, kept in the address so a reload still sees its own runs first."""
    if "owner" not in st.session_state:
        given = st.query_params.get("session", "")
        st.session_state.owner = given if _SESSION_ID.match(given) else uuid.uuid4().hex[:12]
    if st.query_params.get("session") != st.session_state.owner:
        st.query_params["session"] = st.session_state.owner
    return st.session_state.owner


# ---------------------------------------------------------------- the session kept on disk
_SESSION_ID = re.compile(r"^[0-9a-f]{12}$")


def _session_file():
    session = st.session_state.get("owner") or ""  # no st.* call: this runs after the page too
    if not _SESSION_ID.match(session):  # only ids this app made become file names
        return None
    return studio_home() / "sessions" / f"{session}.json"


def restore_session() -> None:
    """After a reload, bring back this browser's Recipe and active run."""
    if st.session_state.get("restored"):
        return
    st.session_state.restored = True
    owner()
    path = _session_file()
    if path is None or not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
        replace_recipe(saved["recipe"])
        st.session_state.active_run = saved.get("active_run")
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a damaged session file only means starting fresh


def save_session() -> None:
    path = _session_file()
    if path is None or "recipe" not in st.session_state:
        return
    state = {"recipe": st.session_state.recipe, "active_run": st.session_state.get("active_run")}
    if st.session_state.get("saved_state") != state:
        write_json_atomic(path, state)
        st.session_state.saved_state = json.loads(json.dumps(state))


# ---------------------------------------------------------------- the Recipe in the session
def recipe_dict() -> dict:
    """The Recipe being edited, as a plain dict (widgets write into it)."""
    if "recipe" not in st.session_state:
        st.session_state.recipe = default_recipe().to_dict()
        st.session_state.form_version = 0
    return st.session_state.recipe


def replace_recipe(recipe: Recipe | dict) -> None:
    """Swap in a whole Recipe (a sample, a loaded YAML, a run's); forms redraw from it."""
    st.session_state.recipe = recipe.to_dict() if isinstance(recipe, Recipe) else dict(recipe)
    st.session_state.form_version = st.session_state.get("form_version", 0) + 1


def form_key(name: str) -> str:
    return f"{name}@{st.session_state.get('form_version', 0)}"


def validated_recipe() -> tuple[Recipe | None, list[StudioError]]:
    """The session's Recipe checked by the library, or the problems that stop it."""
    paths = recipe_path_problems(recipe_dict(), studio_home())
    if paths:
        return None, paths
    try:
        recipe = recipe_from_dict(recipe_dict())
        check(recipe)
        return recipe, []
    except RecipeError as exc:
        return None, exc.problems or [exc]
    except StudioError as exc:
        return None, [exc]


def use_source(source: str, roles: dict | None = None) -> None:
    """A new data source: start from its defaults (a sample's or suggested task and columns), keep training settings."""
    data = {"source": source, **sample_defaults(source), **{k: v for k, v in (roles or {}).items() if v is not None}}
    fresh = default_recipe(**data).to_dict()
    old = recipe_dict()
    if old.get("data", {}).get("task") == fresh["data"].get("task"):
        fresh["train"] = old["train"]
    replace_recipe(fresh)


def set_task(task: str) -> None:
    """A new task resets the model and preprocessing to that task's defaults."""
    data = {k: v for k, v in recipe_dict()["data"].items() if k in ("source", "test_source", "seed")}
    replace_recipe(default_recipe(**data, task=task))


@st.cache_data(show_spinner=False, max_entries=8)
def _load(source: str, stamp: float):
    return load_source(source)


def load_frame(source: str):
    """(frame, display name) of a data source, cached until the file changes."""
    from pathlib import Path

    if not source.startswith("sample:"):
        confine(source, studio_home(), field="data.source")  # a Recipe loaded in the app must not read server files
    path = Path(source)
    stored = not source.startswith("sample:") and path.exists()
    stamp = path.stat().st_mtime if stored else 0.0
    size = f" ({path.stat().st_size / 1e6:,.0f} MB)" if stored and path.stat().st_size >= 10e6 else ""
    with st.spinner(f"Reading the data{size}: checking its size, encoding and rows before parsing…"):
        return _load(source, stamp)


# ---------------------------------------------------------------- ending a page early
class PageDone(Exception):
    """Ends a page early; unlike st.stop() the app still draws the sidebar after it."""


def finish():
    raise PageDone


# ---------------------------------------------------------------- messages
def show_error(exc: StudioError | Exception, *, where=st) -> None:
    """A clear message with its fix; never a traceback."""
    if isinstance(exc, RecipeError) and exc.problems:
        for problem in exc.problems:
            show_error(problem, where=where)
        return
    if isinstance(exc, StudioError):
        text = plain(f"{exc.where}: {exc.message}" if exc.where else exc.message)
        if exc.fix:
            text += "  \n**How to fix:** " + plain(exc.fix)
    else:
        text = plain(f"{type(exc).__name__}: {exc}")
    where.error(text, icon=":material/error:")


def empty_state(text: str, page: str | None = None, label: str | None = None) -> None:
    st.info(text, icon=":material/info:")
    if page and page in PAGES:
        st.page_link(PAGES[page], label=label or f"Go to {page}", icon=":material/arrow_forward:")


# ---------------------------------------------------------------- forms from Recipe metadata
def field_widget(section: str, meta: dict, value, *, where=st):
    """One widget for one Recipe field, drawn from its metadata (type, range, choices, help)."""
    name, kind, help_ = meta["name"], meta["type"], meta["help"]
    label = name.replace("_", " ").capitalize()
    key = form_key(f"{section}.{name}")
    optional = "None" in kind
    if kind == "bool":
        return where.toggle(label, value=bool(value), help=help_, key=key)
    if kind == "choice":
        options = list(meta["choices"])
        return where.selectbox(label, options, index=options.index(value) if value in options else 0, help=help_, key=key)
    if kind.startswith("int"):
        return where.number_input(label, min_value=meta["min"], max_value=meta["max"],
                                  value=None if value is None else int(value), step=1, key=key,
                                  placeholder="automatic" if optional else None,
                                  help=help_ + (" Leave empty for automatic." if optional else ""))
    if kind.startswith("float"):
        return where.number_input(label, min_value=meta["min"], max_value=meta["max"],
                                  value=None if value is None else float(value), format="%g", key=key,
                                  step=_float_step(meta, value), help=help_)
    text = where.text_input(label, value="" if value is None else str(value), help=help_, key=key)
    return text.strip() or None


def _float_step(meta: dict, value) -> float:
    # One step changes the leading digit: 0.001 → 0.002, 0.3 → 0.4, 12 → 13.
    if value:
        return 10.0 ** math.floor(math.log10(abs(value)))
    top = meta["max"] if meta["max"] is not None else 1.0
    return 0.01 if top <= 1 else 0.1 if top <= 10 else 1.0


def section_form(section: str, names: list[str] | tuple[str, ...], *, columns: int = 2, model_name: str | None = None) -> None:
    """Widgets for ``names`` of a Recipe section, written back into the session's Recipe."""
    values = recipe_dict()[section]
    metas = {m["name"]: m for m in describe_section(section, model_name)}
    cols = st.columns(columns)
    for i, name in enumerate(n for n in names if n in metas):
        values[name] = field_widget(section, metas[name], values.get(name), where=cols[i % columns])


def task_of(recipe: dict | None = None):
    task = (recipe or recipe_dict())["data"].get("task")
    return get_task(task) if task else None


# ---------------------------------------------------------------- runs
def set_active_run(run_id: str | None) -> None:
    st.session_state.active_run = run_id


def active_run():
    run_id = st.session_state.get("active_run")
    if not run_id:
        return None
    try:
        return registry().get(run_id)
    except StudioError:
        return None


def progress_of(run) -> tuple[float, str]:
    """Share done (0..1) and a one-line status for a run."""
    plan = run.summary.get("plan", {})
    epochs = plan.get("epochs") or run.recipe.get("train", {}).get("epochs") or 1
    done = run.summary.get("epochs_done", 0)
    if run.status == "queued":
        position = registry().queue_position(run.run_id)
        return 0.0, f"queued (position {position})" if position else "queued"
    if run.status == "completed":
        return 1.0, f"completed in {format_seconds(run.duration)}"
    text = f"{run.status} · epoch {done}/{epochs}"
    if run.status == "running" and run.duration:
        text += f" · {format_seconds(run.duration)}"
    return min(done / epochs, 1.0), text


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}m {seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


# ---------------------------------------------------------------- sidebar
def sidebar() -> None:
    """The current Recipe in short and the active run's progress, on every page."""
    owner()
    recipe = recipe_dict()
    data, model, train = recipe["data"], recipe["model"], recipe["train"]
    with st.sidebar:
        st.markdown("#### Recipe")
        if not data.get("source"):
            st.caption("No data chosen yet.")
        else:
            source = data["source"]
            shown = source if source.startswith("sample:") else _display(source)
            lines = [f"**Data** {plain(shown)}", f"**Task** {plain(data.get('task') or '–')}",
                     f"**Target** {plain(data.get('target') or '–')}",
                     f"**Model** {plain(_model_line(model))}",
                     f"**Training** {train['epochs']} epochs · batch {train['batch_size']} · {train['optimizer']} "
                     f"{train['learning_rate']:g}"]
            st.markdown("  \n".join(lines))
        _sidebar_run()


def _display(source: str) -> str:
    from rnnstudio.data.uploads import display_name

    return display_name(source) or source.rsplit("/", 1)[-1]


def _model_line(model: dict) -> str:
    if model.get("name") in ("rnn", "conv_rnn"):
        bi = "bidirectional " if model.get("bidirectional") else ""
        return f"{model.get('layers', 1)}× {bi}{model.get('cell', '').upper()}({model.get('units')})" + \
            (" + conv" if model["name"] == "conv_rnn" else "")
    return model.get("name", "")


@st.fragment(run_every="2s")
def _sidebar_run() -> None:
    run = active_run()
    if run is None:
        return
    st.markdown("#### Active run")
    share, text = progress_of(run)
    st.progress(share, text=plain(f"{run.name} · {text}"))
    if run.error and run.status in ("failed", "interrupted"):
        st.caption(plain(run.error[:300]))
