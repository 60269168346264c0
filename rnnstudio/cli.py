"""The command line: ``python -m rnnstudio train|init|resume|evaluate|runs|lesson|samples|reference``.

Every command prints errors a user can fix as one readable message (exit code
2, no traceback); with ``--json`` the last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from rnnstudio.errors import StudioError


def _quiet_tensorflow() -> None:
    # TensorFlow's C++ start-up chatter hides the studio's own output.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")


# ------------------------------------------------------------------ recipes


def recipe_from_args(args):
    """The Recipe the flags describe: --recipe file, then --data/--task/--target, then --set."""
    from rnnstudio.data.load import sample_defaults
    from rnnstudio.recipe import _set_dotted, load_recipe, parse_override, recipe_from_dict

    data: dict[str, Any] = load_recipe(args.recipe).to_dict() if args.recipe else {}
    section = data.setdefault("data", {})
    flags = {"source": args.data, "test_source": getattr(args, "test_data", None), "task": args.task, "target": args.target}
    section.update({k: v for k, v in flags.items() if v is not None})
    for key, value in sample_defaults(section.get("source")).items():
        if section.get(key) is None:
            section[key] = value
    overrides = [parse_override(text) for text in args.set or []]
    if args.recipe and (args.task or any(key == "data.task" for key, _ in overrides)):
        data.pop("model", None)  # a new task starts from its own default model
    for key, value in overrides:
        _set_dotted(data, key, value)
    recipe = recipe_from_dict(data)
    _require_task_and_target(recipe)
    return recipe


def _require_task_and_target(recipe) -> None:
    from rnnstudio.recipe import TASKS

    missing = []
    if not recipe.data.source:
        missing.append(StudioError("no data file was given.", fix="Pass --data FILE or --data sample:NAME.", field="data.source"))
    if not recipe.data.task:
        missing.append(StudioError("the task is not set.", fix=f"Pass --task with one of: {', '.join(TASKS)}.", field="data.task"))
    if not recipe.data.target:
        missing.append(StudioError("the target column is not set.",
                                   fix="Pass --target COLUMN: the label (classification) or the series to forecast.",
                                   field="data.target"))
    if missing:
        from rnnstudio.errors import RecipeError

        raise RecipeError(missing)


# ------------------------------------------------------------------ output


def _print_table(title: str, rows: list[tuple], headers: tuple) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*[_fmt(v) for v in row])
    Console().print(table)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _metric_rows(metrics: dict) -> tuple[list[tuple], tuple]:
    from rnnstudio.train.runner import headline_metrics

    compact = headline_metrics(metrics)
    columns = list(compact["test"])
    rows = [("model (test)", *[compact["test"][c] for c in columns])]
    rows += [(f"baseline: {name}", *[scores.get(c) for c in columns]) for name, scores in compact["baseline"].items()]
    return rows, ("", *columns)


def _print_result(result) -> None:
    rows, headers = _metric_rows(result.metrics)
    _print_table(f"Run {result.run_id} ({result.task})", rows, headers)
    training = result.metrics.get("training", {})
    inference = result.metrics.get("inference", {})
    print(f"trained {training.get('epochs')} epochs (best {training.get('best_epoch')}) in {result.train_seconds:.1f}s; "
          f"{result.metrics['model']['parameters']:,} parameters; latency {inference.get('latency_ms_median', 0):.2f} ms "
          f"per example (p95 {inference.get('latency_ms_p95', 0):.2f}); folder {result.folder}")
    for warning in result.report.get("warnings", []):
        print(f"note: {warning}")


# ------------------------------------------------------------------ commands


def cmd_train(args) -> int:
    from rnnstudio.train.callbacks import ProgressBar
    from rnnstudio.train.runner import train
    from rnnstudio.tasks.base import get_task

    recipe = recipe_from_args(args)
    if args.background:
        from rnnstudio.runs.jobs import submit

        run = submit(recipe, name=args.name)
        print(json.dumps({"run_id": run.run_id, "status": run.status, "folder": str(run.folder)}) if args.json else
              f"run {run.run_id} queued in a background worker; follow it with `python -m rnnstudio runs show {run.run_id}`")
        return 0
    callbacks = [] if args.json or args.quiet else [ProgressBar(get_task(recipe.data.task).monitor_metric)]
    result = train(recipe, callbacks=callbacks, name=args.name)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        _print_result(result)
    return 0


def cmd_resume(args) -> int:
    from rnnstudio.recipe import recipe_from_dict
    from rnnstudio.runs import RunRegistry
    from rnnstudio.tasks.base import get_task
    from rnnstudio.train.callbacks import ProgressBar
    from rnnstudio.train.runner import resume

    registry = RunRegistry()
    task = get_task(recipe_from_dict(registry.get(args.run).recipe).data.task)
    callbacks = [] if args.json else [ProgressBar(task.monitor_metric)]
    result = resume(args.run, registry=registry, callbacks=callbacks)
    print(json.dumps(result.to_json())) if args.json else _print_result(result)
    return 0


def cmd_worker(args) -> int:
    """A queued run's worker (started by the app or `runs start`): a supervisor around the training process."""
    if not args.attached:
        from rnnstudio.runs.supervise import supervise

        return supervise(args.run)
    from rnnstudio.runs.jobs import run_worker

    return run_worker(args.run)


def cmd_export(args) -> int:
    """Exports a completed run (SavedModel on raw inputs, .keras, model card), verified in a fresh process."""
    from rnnstudio.export.run import export_run

    result = export_run(args.run, args.format.split(","), args.out)
    if args.json:
        print(json.dumps({"folder": result["folder"], "paths": result["paths"],
                          "verification": result["verification"]}, default=str))
    else:
        print(f"exported to {result['folder']}")
        for name, report in result["verification"].items():
            print(f"  {name}: {'passed' if report.get('passed') else 'FAILED'} ({report.get('summary')})")
    return 0


def cmd_predict(args) -> int:
    """Batch prediction with an export folder, a SavedModel or a .keras model, opened in a separate process."""
    from rnnstudio.export.model_files import in_child_process
    from rnnstudio.export.predict import predict_file

    summary = in_child_process(predict_file, args.artifact, args.input, args.output, progress=not args.json)
    print(json.dumps(summary) if args.json else f"wrote {summary['rows']} prediction rows to {summary['output']}")
    return 0


def cmd_service(args) -> int:
    """The app's helper process: answers model-summary and prediction requests on stdin/stdout."""
    from rnnstudio.service import serve

    return serve()


def cmd_queue(args) -> int:
    """`runs start|stop RUN`: queue a run in a background worker, or stop it gracefully."""
    from rnnstudio.runs import RunRegistry
    from rnnstudio.runs.jobs import request_stop, start

    registry = RunRegistry()
    run = registry.get(args.run)
    if args.action == "start":
        started = start(run.run_id, registry=registry)
        outcome = "queued" if started else f"already {registry.get(run.run_id).status}"
    else:
        outcome = request_stop(run.run_id, registry=registry)
    print(json.dumps({"run_id": run.run_id, "outcome": outcome}) if args.json else f"run {run.run_id}: {outcome}")
    return 0


def cmd_seeds(args) -> int:
    """`runs seeds RUN --n N`: queue the run's Recipe under N seeds as a group."""
    from rnnstudio.runs.jobs import submit_seeds

    if not args.run:
        raise StudioError("'runs seeds' needs a run id.", fix="See the ids with `python -m rnnstudio runs list`.")
    runs = submit_seeds(args.run, args.n)
    group = runs[0].summary["group"]["id"]
    if args.json:
        print(json.dumps({"group": group, "runs": [{"run_id": r.run_id, "seed": r.recipe["train"]["seed"],
                                                    "status": r.status} for r in runs]}))
    else:
        print(f"queued {len(runs)} runs (group {group}): " + ", ".join(r.run_id for r in runs))
        print("see the spread with `python -m rnnstudio runs spread " + group + "` once they finish")
    return 0


def cmd_spread(args) -> int:
    """`runs spread GROUP`: mean ± std of the test metrics over a group's completed runs."""
    from rnnstudio.runs import RunRegistry
    from rnnstudio.runs.groups import group_members, spread

    registry = RunRegistry()
    members = group_members(registry, args.run or "")
    if not members:
        raise StudioError(f"there is no group of runs '{args.run}'.",
                          fix="Give the group id printed by `runs seeds` (or shown on the Runs page).")
    stats = spread(members)
    if args.json:
        print(json.dumps({"group": args.run, "runs": len(members), "spread": stats}))
        return 0
    done = sum(r.status == "completed" for r in members)
    _print_table(f"Group {args.run}: {done} of {len(members)} runs completed",
                 [(m, f"{s['mean']:.4g} ± {s['std']:.2g}", s["min"], s["max"], s["n"]) for m, s in stats.items()],
                 ("metric", "mean ± std", "min", "max", "runs"))
    return 0


def cmd_lesson(args) -> int:
    """`lesson [KEY] [--value V]`: list the classroom lessons, or queue one lesson's variants."""
    from rnnstudio.lessons import get_lesson, list_lessons, run_lesson

    if not args.key:
        rows = [(l.key, l.title, f"{l.control.label} ({l.control.min:g}–{l.control.max:g}, default {l.control.default:g})",
                 ", ".join(l.variants)) for l in list_lessons()]
        _print_table("Lessons (queue one with: python -m rnnstudio lesson KEY --value V)", rows,
                     ("lesson", "title", "control", "variants"))
        return 0
    lesson = get_lesson(args.key)
    runs = run_lesson(lesson.key, args.value)
    group = runs[0].summary["group"]["id"]
    if args.json:
        print(json.dumps({"group": group, "runs": [{"run_id": r.run_id, "variant": r.summary["group"]["label"]}
                                                   for r in runs]}))
    else:
        print(f"queued {len(runs)} runs of '{lesson.title}' (group {group}): "
              + ", ".join(f"{r.summary['group']['label']} {r.run_id}" for r in runs))
        print(f"compare them with `python -m rnnstudio runs spread {group}` or on the Lessons page")
    return 0


def cmd_check(args) -> int:
    """Validates the data for the recipe and prints the report, without training."""
    from rnnstudio.train.runner import prepare

    recipe = recipe_from_args(args)
    prepared, _ = prepare(recipe)
    report = prepared.report
    if args.json:
        from rnnstudio.runs.files import json_dumps

        print(json_dumps(report))
        return 0
    print(f"{report['file']}: {report['rows']} rows; roles {report.get('roles')}")
    _print_table("Columns", [(c["name"], c["type"], c["missing"]) for c in report["columns"][:40]], ("column", "type", "missing"))
    for key in ("class_balance", "lengths", "max_length", "coverage", "season", "log_transform", "differencing",
                "lookback", "splits"):
        if key in report:
            print(f"{key}: {report[key]}")
    for warning in report.get("warnings", []):
        print(f"warning: {warning}")
    return 0


def cmd_init(args) -> int:
    from rnnstudio.recipe import to_yaml

    recipe = recipe_from_args(args)
    print(to_yaml(recipe), end="")
    return 0


def cmd_samples(args) -> int:
    from rnnstudio.data.samples import list_samples

    samples = list_samples()
    if args.json:
        print(json.dumps([{"name": s.name, "task": s.task, "target": s.target, "description": s.description,
                           "parameters": {p.name: {"default": p.default, "min": p.min, "max": p.max, "help": p.help}
                                          for p in s.params}} for s in samples]))
        return 0
    _print_table("Built-in samples (use --data sample:NAME, or sample:NAME?param=value&...)",
                 [(s.name, s.task, s.target, s.description,
                   ", ".join(f"{p.name}={p.default} ({p.min}–{p.max})" for p in s.params)) for s in samples],
                 ("name", "task", "target", "description", "parameters"))
    return 0


def cmd_reference(args) -> int:
    from rnnstudio.recipe import reference_markdown

    print(reference_markdown(), end="")
    return 0


def cmd_evaluate(args) -> int:
    from rnnstudio.train.runner import evaluate_run, headline_metrics

    metrics = evaluate_run(args.run, data=args.data)
    if args.json:
        print(json.dumps({"run_id": args.run, "data": metrics["data"], "metrics": headline_metrics(metrics)}))
        return 0
    rows, headers = _metric_rows(metrics)
    _print_table(f"Run {args.run} on {metrics['data']}", rows, headers)
    return 0


def cmd_runs(args) -> int:
    from rnnstudio.runs import RunRegistry

    registry = RunRegistry()
    registry.reconcile()
    if args.action == "list":
        runs = registry.list(limit=args.limit)
        if args.json:
            print(json.dumps([{"run_id": r.run_id, "name": r.name, "task": r.task, "model": r.model, "status": r.status,
                               "duration": r.duration, "metrics": r.summary.get("metrics", {}).get("test", {})} for r in runs]))
            return 0
        rows = [(r.run_id, r.name, r.task, r.model, r.status, _key_metric(r.summary), r.duration) for r in runs]
        _print_table("Runs (newest first)", rows, ("run", "name", "task", "model", "status", "test metric", "seconds"))
        if not runs:
            print("no runs yet: python -m rnnstudio train --data sample:reviews")
        return 0
    if not args.run:
        raise StudioError(f"'runs {args.action}' needs a run id.", fix="See the ids with `python -m rnnstudio runs list`.")
    run = registry.get(args.run)
    if args.action == "delete":
        registry.delete(run.run_id)
        print(f"deleted run {run.run_id}")
        return 0
    info = {"run_id": run.run_id, "name": run.name, "status": run.status, "task": run.task, "model": run.model,
            "error": run.error, "folder": str(run.folder), "duration": run.duration, "summary": run.summary,
            "epochs": registry.metrics(run.run_id, kind="epoch"), "recipe": run.recipe}
    if args.json:
        print(json.dumps(info))
        return 0
    from rnnstudio.recipe import recipe_from_dict, to_yaml

    print(f"run {run.run_id} · {run.name} · {run.status} · folder {run.folder}")
    if run.error:
        print(f"error: {run.error}")
    if info["epochs"]:
        keys = [k for k in info["epochs"][0] if k not in ("step",)]
        _print_table("Epochs", [tuple(row.get(k) for k in keys) for row in info["epochs"]], tuple(keys))
    metrics = run.summary.get("metrics")
    if metrics:
        rows, headers = _metric_rows(metrics)
        _print_table("Test metrics", rows, headers)
    print(to_yaml(recipe_from_dict(run.recipe), comments=False))
    return 0


def _key_metric(summary: dict) -> str:
    test = summary.get("metrics", {}).get("test", {})
    for key in ("accuracy", "mape", "mae"):
        if key in test:
            return f"{key} {test[key]:.4g}"
    return ""


# ------------------------------------------------------------------ parser


def _data_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", help="training file (CSV, TSV, TXT) or sample:NAME")
    parser.add_argument("--test-data", help="separate test file (else a test split is held out)")
    parser.add_argument("--task", help="text-classification, sequence-classification or forecasting")
    parser.add_argument("--target", help="label column, or the column to forecast")
    parser.add_argument("--recipe", help="recipe file (YAML or JSON) to start from")
    parser.add_argument("--set", action="append", metavar="FIELD=VALUE", help="override a recipe field, e.g. train.epochs=5 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rnnstudio", description="RNN Studio: train recurrent networks on your own sequences.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a model and score it on a test split")
    _data_flags(train)
    train.add_argument("--name", help="a name for the run")
    train.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--background", action="store_true",
                       help="queue the run in a background worker process and return at once")
    train.set_defaults(func=cmd_train)

    init = sub.add_parser("init", help="print a fully defaulted, commented recipe to edit")
    _data_flags(init)
    init.set_defaults(func=cmd_init)

    check = sub.add_parser("check", help="validate a data file for a task and print the report, without training")
    _data_flags(check)
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=cmd_check)

    resume = sub.add_parser("resume", help="continue a stopped or interrupted run from its last checkpoint")
    resume.add_argument("run")
    resume.add_argument("--json", action="store_true")
    resume.set_defaults(func=cmd_resume)

    evaluate = sub.add_parser("evaluate", help="score a run on its test split or on another labelled file")
    evaluate.add_argument("run")
    evaluate.add_argument("--data", help="another labelled file with the same columns")
    evaluate.add_argument("--json", action="store_true")
    evaluate.set_defaults(func=cmd_evaluate)

    runs = sub.add_parser("runs", help="list, show, evaluate or delete runs")
    runs.add_argument("action", choices=("list", "show", "evaluate", "delete", "start", "stop", "seeds", "spread"),
                      help="start/stop: run or stop a run in a background worker process; seeds: queue the run's "
                           "Recipe under --n seeds; spread: mean ± std of a group's test metrics")
    runs.add_argument("run", nargs="?", help="run id (spread: group id)")
    runs.add_argument("--n", type=int, default=5, help="seeds: how many seeds (2-20)")
    runs.add_argument("--data", help="evaluate: another labelled file")
    runs.add_argument("--limit", type=int)
    runs.add_argument("--json", action="store_true")
    runs.set_defaults(func=lambda a: {"evaluate": cmd_evaluate, "start": cmd_queue, "stop": cmd_queue, "seeds": cmd_seeds,
                                      "spread": cmd_spread}.get(a.action, cmd_runs)(a))

    lesson = sub.add_parser("lesson", help="list the classroom lessons, or queue one lesson's variants side by side")
    lesson.add_argument("key", nargs="?", help="lesson to run (omit to list them)")
    lesson.add_argument("--value", type=float, help="the lesson's control (default: its default)")
    lesson.add_argument("--json", action="store_true")
    lesson.set_defaults(func=cmd_lesson)

    export = sub.add_parser("export", help="export a completed run: SavedModel on raw inputs, .keras, model card")
    export.add_argument("run")
    export.add_argument("--format", default="savedmodel,keras", help="comma-separated: savedmodel,keras,tflite")
    export.add_argument("--out", help="folder to write (default: the run folder's export/)")
    export.add_argument("--json", action="store_true")
    export.set_defaults(func=cmd_export)

    predict = sub.add_parser("predict", help="predict a file of raw rows with an exported model")
    predict.add_argument("artifact", help="export folder, savedmodel/ folder or model.keras")
    predict.add_argument("--input", required=True, help="CSV/TSV/TXT with the columns the model was trained on")
    predict.add_argument("--output", required=True, help="CSV to write")
    predict.add_argument("--json", action="store_true")
    predict.set_defaults(func=cmd_predict)

    worker = sub.add_parser("worker", help=argparse.SUPPRESS)
    worker.add_argument("run")
    worker.add_argument("--attached", action="store_true", help=argparse.SUPPRESS)  # the supervised training process
    worker.set_defaults(func=cmd_worker)

    service = sub.add_parser("service", help=argparse.SUPPRESS)
    service.set_defaults(func=cmd_service)

    samples = sub.add_parser("samples", help="list the built-in sample data sets")
    samples.add_argument("--json", action="store_true")
    samples.set_defaults(func=cmd_samples)

    reference = sub.add_parser("reference", help="print the Recipe reference (Markdown)")
    reference.set_defaults(func=cmd_reference)
    return parser


def main(argv: list[str] | None = None) -> int:
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            problems = getattr(exc, "problems", None) or [exc]
            print(json.dumps({"error": str(exc), "problems": [p.to_dict() for p in problems]}))
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with `python -m rnnstudio resume RUN`", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so in one line, keep the details
        import traceback

        log = os.path.join(os.environ.get("TMPDIR", "/tmp"), "rnnstudio-error.txt")
        with open(log, "w") as fh:
            fh.write(traceback.format_exc())
        print(f"error: RNN Studio failed unexpectedly ({type(exc).__name__}: {str(exc)[:300]}). "
              f"The details are in {log} (and traceback.txt in the run folder); please report them.", file=sys.stderr)
        if getattr(args, "json", False):
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"[:1000], "problems": []}))
        return 1
