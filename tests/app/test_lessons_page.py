"""The Lessons page and the seed spread on the Runs page, through Streamlit's AppTest (no training)."""

from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest

from rnnstudio.lessons import list_lessons
from rnnstudio.recipe import default_recipe
from rnnstudio.runs import RunRegistry, jobs
from tests.app.helpers import APP, go, open_app



@pytest.fixture
def queued(monkeypatch):
    # Runs are registered and queued as usual, but no worker process starts.
    started = []
    monkeypatch.setattr(jobs, "start", lambda run_id, registry=None: started.append(run_id) or True)
    return started


def lessons_page() -> AppTest:
    return go(open_app(), "views/lessons.py")


def finish(registry: RunRegistry, run_id: str, accuracy: float) -> None:
    for epoch in (1, 2, 3):
        registry.log_metrics(run_id, kind="epoch", epoch=epoch, step=None,
                             values={"loss": 1.0 / epoch, "accuracy": accuracy * epoch / 3,
                                     "val_loss": 1.2 / epoch, "val_accuracy": accuracy * epoch / 3 - 0.05})
    registry.update_summary(run_id, {"metrics": {"test": {"accuracy": accuracy, "loss": 1 - accuracy}}})
    registry.set_status(run_id, "running")
    registry.set_status(run_id, "completed")


def test_every_lesson_shows_its_paragraph_one_control_and_its_variants():
    at = lessons_page()
    for lesson in list_lessons():
        at.radio(key="lesson_choice").set_value(lesson.title).run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.subheader[0].value == lesson.title
        assert any(lesson.paragraph[:60] in m.value for m in at.markdown)
        controls = [w for w in list(at.slider) + list(at.select_slider) if w.label == lesson.control.label]
        assert len(controls) == 1 and len(at.slider) + len(at.select_slider) == 1  # only the taught control moves
        variants = at.dataframe[0].value
        assert list(variants["variant"]) == list(lesson.variants)
        assert any(b.label == "Run the lesson" for b in at.button)


def test_run_queues_the_variants_and_results_show_side_by_side(queued):
    at = lessons_page()
    at.radio(key="lesson_choice").set_value("Long-range memory").run()
    at.slider(key="lesson_control_sample.distance").set_value(20).run()
    next(b for b in at.button if b.label == "Run the lesson").click().run()
    assert not at.exception, [e.value for e in at.exception]
    registry = RunRegistry()
    runs = registry.list()
    assert len(queued) == 3 and {r.owner for r in runs} == {at.session_state["owner"]}
    assert {r.recipe["data"]["source"] for r in runs} == {"sample:recall?distance=20&window=10&symbols=2&rows=1500"}
    for run, accuracy in zip(sorted(runs, key=lambda r: r.created), (0.5, 0.9, 1.0)):
        finish(registry, run.run_id, accuracy)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    charts = at.get("plotly_chart")
    # Two comparison charts, then one gradient-through-time chart per variant.
    assert len(charts) >= 2 + 3
    results = at.dataframe[-1].value
    assert list(results["variant"]) == ["SimpleRNN", "GRU", "LSTM"]
    assert list(results["accuracy"]) == [0.5, 0.9, 1.0]


def test_runs_page_reruns_with_seeds_and_shows_the_spread(queued):
    registry = RunRegistry()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    owner = at.session_state["owner"]
    recipe = default_recipe(source="sample:gestures", task="sequence-classification", target="label")
    source = registry.create_run(recipe.to_dict(), task=recipe.data.task, model=recipe.model.name, name="base",
                                 owner=owner)
    finish(registry, source.run_id, 0.8)
    runs = jobs.submit_seeds(source.run_id, 3, registry=registry, owner=owner)
    for run, accuracy in zip(runs, (0.8, 0.9, 1.0)):
        finish(registry, run.run_id, accuracy)
    at.switch_page("views/runs.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0]
    rows = list(table.value["run"])
    # Open the first seed run: its group's spread appears.
    at.session_state["runs_table"] = {"selection": {"rows": [rows.index(runs[0].run_id)], "columns": []}}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Spread across 3 seeds" in s.value for s in at.subheader)
    spread_table = next(d.value for d in at.dataframe if "mean ± std" in d.value.columns)
    accuracy_row = spread_table[spread_table["metric"] == "accuracy"].iloc[0]
    assert accuracy_row["mean ± std"] == "0.9 ± 0.1"
