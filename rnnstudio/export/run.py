"""export_run: a finished run's SavedModel (raw inputs in, predictions out), .keras model and model card.

Every export is verified before it is kept: a fresh Python process that
cannot import rnnstudio loads the SavedModel and predicts on held-back raw
examples, and its answers are compared with the studio's own. Exports are
written to a temporary folder and renamed into place only when complete and
verified, so an interrupted or failed export never looks done.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rnnstudio.errors import RunError, StudioError
from rnnstudio.runs import RunRegistry, write_json_atomic
from rnnstudio.runs.faults import disk_full_guard
from rnnstudio.runs.files import json_dumps

FORMATS = ("savedmodel", "keras", "tflite")
DEFAULT_FORMATS = ("savedmodel", "keras")
TOLERANCE = 1e-5
MAX_EXAMPLES = 200
STALE_PARTIAL_SECONDS = 6 * 3600
#: Texts people really type, beside the test split, for the tokenizer parity check.
HARD_TEXTS = ["Don't stop -- it's 3.14!", "", "   ", "naïve café, ÀÉÎ straße İstanbul", "emoji 😀👍🏽 ok 👨‍👩‍👧",
              "日本語のテキスト。", "tab\there\u00a0nbsp\u2003em", "x² ① ⓐbc ½", "zero\u200cwidth \u202ertl\u202c",
              "e\u0301t\u00e9", "URL http://x.org/a?b=c&d", "#tag @user :-) <3", "a" * 500]


def export_run(run_id: str, formats=DEFAULT_FORMATS, out_dir: str | Path | None = None, *,
               registry: RunRegistry | None = None) -> dict:
    """Exports a completed run; returns ``{"folder", "paths", "verification", "card"}``.

    Raises StudioError when the run is not finished, a format is unknown or
    verification fails (nothing is left behind then).
    """
    registry = registry or RunRegistry()
    run = registry.get(run_id)
    if run.status != "completed" or not (run.folder / "model.keras").exists():
        raise RunError(f"run {run.run_id} is {run.status}; only completed runs can be exported.",
                       fix="Wait until it completes, or resume it.")
    formats = [f.strip().lower() for f in formats if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise StudioError(f"unknown export format(s): {', '.join(unknown) or '(none)'}.",
                          fix=f"Use one or more of: {', '.join(FORMATS)}.")
    target = Path(out_dir).expanduser().resolve() if out_dir else run.folder / "export"
    with disk_full_guard(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        recover_export(target)
        if target.exists() and (not target.is_dir() or (any(target.iterdir()) and not (target / "model_card.json").exists())):
            # An earlier export is replaced; any other folder or file is someone's work and stays.
            raise StudioError(f"'{target}' exists and is not an earlier export.",
                              fix="Give a new or empty folder with --out, or the folder of an earlier export.")
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            result = _export_into(run, formats, staging)
            _swap_in(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    result["folder"] = str(target)
    result["paths"] = {k: str(target / Path(v).relative_to(staging)) for k, v in result["paths"].items()}
    registry.update_summary(run.run_id, {"export": {"folder": str(target), "formats": formats,
                                                    "verification": result["verification"], "time": time.time()}})
    return result


def _swap_in(staging: Path, target: Path) -> None:
    """Renames the finished export into place; the previous one is moved aside first and removed last."""
    previous = target.with_name(f".{target.name}.previous")
    if target.exists():
        shutil.rmtree(previous, ignore_errors=True)
        os.replace(target, previous)
    os.replace(staging, target)
    shutil.rmtree(previous, ignore_errors=True)


def recover_export(target: Path) -> None:
    """After a kill mid-export: put the previous export back if the new one never arrived, drop leftovers."""
    target = Path(target)
    previous = target.with_name(f".{target.name}.previous")
    if previous.is_dir() and not target.exists():
        os.replace(previous, target)
    shutil.rmtree(previous, ignore_errors=True)
    for partial in target.parent.glob(f".{target.name}.partial-*"):
        if time.time() - partial.stat().st_mtime > STALE_PARTIAL_SECONDS:  # a younger one may be another export's
            shutil.rmtree(partial, ignore_errors=True)


def _export_into(run, formats: list[str], folder: Path) -> dict:
    from rnnstudio.inference import RunPredictor

    predictor = RunPredictor(run.folder)
    examples = held_back_examples(predictor)
    expected = predictor.predict(examples)
    paths, verification = {}, {}
    shutil.copy2(run.folder / "pipeline.json", folder / "pipeline.json")
    shutil.copy2(run.folder / "recipe.json", folder / "recipe.json")
    if "keras" in formats:
        shutil.copy2(run.folder / "model.keras", folder / "model.keras")
        paths["keras"] = str(folder / "model.keras")
    if "savedmodel" in formats:
        from rnnstudio.export.savedmodel import write_savedmodel

        path = folder / "savedmodel"
        signature = write_savedmodel(predictor, path)
        paths["savedmodel"] = str(path)
        verification["savedmodel"] = verify_savedmodel(path, predictor, examples, expected, signature)
        verification["savedmodel"]["signature"] = signature
        if predictor.task.name == "text-classification" and "text" in signature["inputs"]:
            verification["tokenizer_parity"] = tokenizer_parity(predictor, examples + HARD_TEXTS)
    if "tflite" in formats:
        from rnnstudio.export.tflite import verify_tflite, write_tflite
        from rnnstudio.train.runner import load_run_model

        core = load_run_model(run.folder)  # a fresh copy: the SavedModel traced the other one
        write_tflite(core, folder / "model.tflite")
        paths["tflite"] = str(folder / "model.tflite")
        verification["tflite"] = verify_tflite(folder / "model.tflite", core, _model_inputs(predictor, examples))
    failed = [name for name, report in verification.items() if not report.get("passed", True)]
    card = model_card(run, predictor, verification, formats)
    write_json_atomic(folder / "model_card.json", json.loads(json_dumps(card)))
    (folder / "MODEL_CARD.md").write_text(card_markdown(card), encoding="utf-8")
    paths["model_card"] = str(folder / "MODEL_CARD.md")
    if failed:
        raise RunError(f"the exported {', '.join(failed)} did not reproduce the studio's predictions: "
                       + "; ".join(f"{n}: {verification[n].get('summary')}" for n in failed),
                       fix="Report this with the run's recipe.json; the studio's own model.keras is unaffected.")
    return {"paths": paths, "verification": verification, "card": card}


def held_back_examples(predictor) -> list:
    """Raw inputs from the run's test split, as a person would send them (texts, sequences, recent values)."""
    from rnnstudio.data.load import load_source
    from rnnstudio.train.runner import prepare

    recipe, pipeline, task = predictor.recipe, predictor.pipeline, predictor.task.name
    if task == "text-classification":
        prepared, _ = prepare(recipe)
        texts = prepared.test.extra.get("texts") if prepared.test.extra else None
        if texts is None:
            frame, _ = load_source(recipe.data.test_source or recipe.data.source, seed=recipe.data.seed)
            texts = pipeline.texts(frame)
        return [str(t) for t in list(texts)[:MAX_EXAMPLES]]
    frame, name = load_source(recipe.data.test_source or recipe.data.source, seed=recipe.data.seed)
    if task == "sequence-classification":
        series, _ = pipeline.series(frame, file=name)
        return [np.asarray(s, dtype="float64").tolist() for s in series[-MAX_EXAMPLES:]]
    _, y, f = pipeline.table(frame, file=name)
    needed = pipeline.lookback + (1 if pipeline.diff else 0)
    ends = list(range(len(y), needed - 1, -max(1, pipeline.horizon)))[:MAX_EXAMPLES]
    if pipeline.features:
        return [{"history": y[end - needed:end].tolist(), "features": f[end - needed:end].tolist()} for end in ends]
    return [y[end - needed:end].tolist() for end in ends]


def _model_inputs(predictor, examples: list) -> np.ndarray:
    """The model-level inputs (ids or scaled windows) the studio makes from raw examples."""
    import pandas as pd

    pipeline, task = predictor.pipeline, predictor.task.name
    if task == "text-classification":
        return pipeline.transform_x(pd.DataFrame({pipeline.text_column: examples}))
    if task == "sequence-classification":
        return pipeline.transform_series([np.asarray(e, "float64").reshape(len(e), -1) for e in examples])
    rows = []
    for e in examples:
        history = np.asarray(e["history"] if isinstance(e, dict) else e, "float64")
        features = np.asarray(e["features"], "float64") if isinstance(e, dict) else np.zeros((len(history), 0))
        rows.append(pipeline.model_matrix(history, features)[0][-pipeline.lookback:])
    return np.stack(rows).astype("float32")


def _studio_outputs(task: str, answers: list[dict]) -> dict:
    if task == "forecasting":
        return {"forecast": [a["forecast"] for a in answers]}
    return {"probabilities": [list(a["probabilities"].values()) for a in answers],
            "label": [a["label"] for a in answers]}


def serving_request(task: str, examples: list) -> dict:
    """The SavedModel's inputs for raw examples (also the body of a TF Serving REST request's "inputs")."""
    if task == "text-classification":
        return {"text": list(examples)}
    if task == "forecasting":
        if examples and isinstance(examples[0], dict):
            return {"history": [e["history"] for e in examples], "features": [e["features"] for e in examples]}
        return {"history": [list(map(float, e)) for e in examples]}
    longest = max(len(e) for e in examples)
    features = len(examples[0][0]) if examples and isinstance(examples[0][0], list) else 1
    padded = np.full((len(examples), longest, features), np.nan)
    for row, e in zip(padded, examples):
        values = np.asarray(e, dtype="float64").reshape(len(e), -1)
        row[: len(values)] = values
    return {"sequences": padded.tolist()}


_VERIFY = r"""
import importlib.util, json, sys
import numpy as np
assert importlib.util.find_spec("rnnstudio") is None, "rnnstudio must not be importable here"
import tensorflow as tf
request = json.load(open(sys.argv[2]))
model = tf.saved_model.load(sys.argv[1])
serve = model.signatures["serving_default"]
inputs = {}
for name, spec in serve.structured_input_signature[1].items():
    inputs[name] = tf.constant(np.asarray(request[name], dtype=spec.dtype.as_numpy_dtype))
out = {k: v.numpy() for k, v in serve(**inputs).items()}
graph = serve.graph.as_graph_def()
ops = sorted({n.op for f in graph.library.function for n in f.node_def} | {n.op for n in graph.node})
json.dump({"outputs": {k: (v.astype(str).tolist() if v.dtype.kind in "SO" else v.tolist()) for k, v in out.items()},
           "ops": ops}, open(sys.argv[3], "w"))
"""


def verify_savedmodel(path: Path, predictor, examples: list, expected: list[dict], signature: dict | None = None) -> dict:
    """Loads the SavedModel in a fresh process without rnnstudio and compares its answers with the studio's."""
    task = predictor.task.name
    with tempfile.TemporaryDirectory(prefix="rnnstudio-verify-") as scratch:
        request, answer = Path(scratch) / "request.json", Path(scratch) / "answer.json"
        body = serving_request(task, examples)
        if "ids" in (signature or {}).get("inputs", {}):  # a tokenizer the graph cannot express: ids in
            body = {"ids": _model_inputs(predictor, examples).tolist()}
        request.write_text(json.dumps(body))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        done = subprocess.run([sys.executable, "-I", "-c", _VERIFY, str(path), str(request), str(answer)],
                              cwd=scratch, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return {"passed": False, "summary": "the fresh process could not run it: " + done.stderr.strip()[-800:]}
        got = json.loads(answer.read_text())
    studio = _studio_outputs(task, expected)
    report = {"examples": len(examples), "fresh_process": True, "tolerance": TOLERANCE}
    cudnn = [op for op in got["ops"] if "cudnn" in op.lower()]
    report["cudnn_ops"] = cudnn
    if task == "forecasting":
        a, b = np.asarray(got["outputs"]["forecast"], "float64"), np.asarray(studio["forecast"], "float64")
        difference = float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)))) if a.size else 0.0
        report.update({"max_difference": difference, "difference": "relative to max(1, |value|)",
                       "passed": a.shape == b.shape and difference <= TOLERANCE and not cudnn})
    else:
        a, b = np.asarray(got["outputs"]["probabilities"], "float64"), np.asarray(studio["probabilities"], "float64")
        difference = float(np.max(np.abs(a - b))) if a.size else 0.0
        agreement = float(np.mean([x == y for x, y in zip(got["outputs"]["label"], studio["label"])]))
        report.update({"max_difference": difference, "label_agreement": agreement,
                       "passed": a.shape == b.shape and difference <= TOLERANCE and agreement == 1.0 and not cudnn})
    report["summary"] = (f"max difference {report['max_difference']:.2e}"
                         + (f", label agreement {report['label_agreement']:.1%}" if "label_agreement" in report else "")
                         + (f", cuDNN-only ops {cudnn}" if cudnn else ""))
    return report


def tokenizer_parity(predictor, texts: list[str]) -> dict:
    """Tokens of the in-graph tokenizer against the studio's tokenizer on the same texts."""
    import tensorflow as tf

    from rnnstudio.export.serving import TextPreprocessor

    encoder = predictor.pipeline.encoder
    graph = TextPreprocessor(encoder).tokens(tf.constant(texts)).to_list()
    studio = encoder.tokenize(texts)
    mismatches = [{"text": t, "studio": s, "graph": [g.decode("utf-8", "replace") for g in gt]}
                  for t, s, gt in zip(texts, studio, graph) if s != [g.decode("utf-8", "replace") for g in gt]]
    return {"texts": len(texts), "mismatches": len(mismatches), "examples": mismatches[:5], "passed": not mismatches,
            "summary": f"{len(mismatches)} of {len(texts)} texts tokenized differently"}


def model_card(run, predictor, verification: dict, formats: list[str]) -> dict:
    metrics = json.loads((run.folder / "metrics.json").read_text())
    report = json.loads((run.folder / "report.json").read_text()) if (run.folder / "report.json").exists() else {}
    environment = json.loads((run.folder / "environment.json").read_text()) if (run.folder / "environment.json").exists() else {}
    task = predictor.task.name
    example = serving_request(task, held_back_examples(predictor)[:2])
    purposes = {"text-classification": "Classifies a text into one of: {classes}.",
                "sequence-classification": "Classifies a numeric sequence into one of: {classes}.",
                "forecasting": "Forecasts the next {horizon} values of '{target}' from its last {needed} values."}
    pipeline = predictor.pipeline
    what = purposes[task].format(classes=", ".join(map(str, getattr(pipeline, "classes", []))),
                                 horizon=getattr(pipeline, "horizon", ""), target=getattr(pipeline, "target", ""),
                                 needed=getattr(pipeline, "lookback", 0) + (1 if getattr(pipeline, "diff", False) else 0))
    return {"run_id": run.run_id, "name": run.name, "task": task, "what_it_does": what, "formats": formats,
            "recipe": run.recipe, "data": {k: report.get(k) for k in ("file", "rows", "splits", "class_balance",
                                                                      "series_length", "frequency", "season")},
            "metrics": {"test": {k: v for k, v in metrics["test"].items() if isinstance(v, (int, float))},
                        "baseline": {n: {k: v for k, v in b.items() if isinstance(v, (int, float))}
                                     for n, b in metrics.get("baseline", {}).items()}},
            "signature": verification.get("savedmodel", {}).get("signature"),
            "example_request": {"signature_name": "serving_default", "inputs": example},
            "verification": verification, "environment": environment,
            "intended_use": "A baseline trained with RNN Studio's defaults on the data above; check its metrics "
                            "against the baselines on data like yours before relying on it.",
            "limits": ["Inputs unlike the training data (other vocabulary, ranges or lengths) give unreliable output.",
                       "Scores come from one seeded test split; they carry sampling error."]}


def card_markdown(card: dict) -> str:
    def table(scores: dict) -> str:
        keys = sorted({k for s in scores.values() for k in s})
        rows = ["| | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
        rows += [f"| {name} | " + " | ".join(f"{s.get(k, float('nan')):.4g}" for k in keys) + " |"
                 for name, s in scores.items()]
        return "\n".join(rows)

    scores = {"model (test)": card["metrics"]["test"], **{f"baseline: {n}": s for n, s in card["metrics"]["baseline"].items()}}
    checks = "\n".join(f"- {name}: {'passed' if r.get('passed') else 'FAILED'} — {r.get('summary', '')}"
                       for name, r in card["verification"].items())
    return f"""# Model card: {card['name']} ({card['run_id']})

{card['what_it_does']}

## Metrics on the test split

{table(scores)}

## Serving

Formats: {', '.join(card['formats'])}. Signature `serving_default`: {json.dumps(card['signature'])}

Example request (TensorFlow Serving REST, `POST /v1/models/<name>:predict`):

```json
{json.dumps(card['example_request'])[:4000]}
```

## Verification

{checks or '- (no SavedModel exported)'}

## Intended use and limits

{card['intended_use']}

""" + "\n".join(f"- {line}" for line in card["limits"]) + f"""

## Data

{json.dumps(card['data'], indent=1)}

## Environment

{json.dumps(card['environment'], indent=1)}
"""
