"""TFLite (LiteRT) export of the numeric core: model inputs (token ids or scaled windows) in, raw outputs out.

Preprocessing stays outside (pipeline.json), because lookup tables and string
ops are not TFLite builtins. Weights are frozen to constants so LSTM/GRU loops
convert to builtin WHILE ops that the plain interpreter runs (no Flex ops).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rnnstudio.errors import StudioError

MAX_CHECKED = 50

_CHECK = r"""
import importlib.util, json, sys
import numpy as np
assert importlib.util.find_spec("rnnstudio") is None, "rnnstudio must not be importable here"
import tensorflow as tf
request = json.load(open(sys.argv[2]))
interpreter = tf.lite.Interpreter(model_path=sys.argv[1])
interpreter.allocate_tensors()
source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
outputs = []
for x in request["inputs"]:
    interpreter.set_tensor(source["index"], np.asarray([x], dtype=source["dtype"]))
    interpreter.invoke()
    outputs.append(interpreter.get_tensor(target["index"])[0].tolist())
json.dump({"outputs": outputs}, open(sys.argv[3], "w"))
"""


def write_tflite(model, path: Path) -> None:
    """Converts ``model`` (batch size 1) with builtin ops only; StudioError saying why when it cannot."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from rnnstudio.export.savedmodel import _without_cudnn

    _without_cudnn(model)
    spec = tf.TensorSpec([1, *model.inputs[0].shape[1:]], model.inputs[0].dtype)
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([convert_variables_to_constants_v2(function)])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        path.write_bytes(converter.convert())
    except Exception as exc:  # the converter reports unsupported ops as assorted exception types
        reason = str(exc).strip().splitlines()[-1][:400] if str(exc).strip() else type(exc).__name__
        raise StudioError(f"this model cannot be converted to TFLite with builtin ops: {reason}",
                          fix="Export savedmodel and keras instead, or use a plain rnn model (no self-attention) "
                              "for TFLite.") from None


def verify_tflite(path: Path, model, x: np.ndarray) -> dict:
    """Runs the .tflite in a fresh process without rnnstudio on model inputs ``x``; compares with Keras."""
    x = x[:MAX_CHECKED]
    expected = np.asarray(model.predict_on_batch(x), dtype="float64")
    with tempfile.TemporaryDirectory(prefix="rnnstudio-tflite-") as scratch:
        request, answer = Path(scratch) / "request.json", Path(scratch) / "answer.json"
        request.write_text(json.dumps({"inputs": x.tolist()}))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        done = subprocess.run([sys.executable, "-I", "-c", _CHECK, str(path), str(request), str(answer)], cwd=scratch,
                              env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            return {"passed": False, "summary": "the interpreter could not run it: " + done.stderr.strip()[-600:]}
        got = np.asarray(json.loads(answer.read_text())["outputs"], dtype="float64")
    difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
    report = {"examples": len(x), "fresh_process": True, "max_difference": difference, "tolerance": 1e-5,
              "inputs": "model inputs after the pipeline.json preprocessing"}
    if expected.ndim == 2 and expected.shape[1] > 1 and model.outputs[0].shape[-1] == expected.shape[1]:
        report["label_agreement"] = float(np.mean(got.argmax(axis=1) == expected.argmax(axis=1)))
    report["passed"] = got.shape == expected.shape and difference <= 1e-5 and report.get("label_agreement", 1.0) == 1.0
    report["summary"] = f"interpreter vs Keras: max difference {difference:.2e}" + (
        f", label agreement {report['label_agreement']:.1%}" if "label_agreement" in report else "")
    return report
