"""Hostile model files are refused before Keras deserializes anything, and their payloads never run."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from rnnstudio.errors import StudioError
from rnnstudio.export.model_files import STUDIO_LAYERS, ModelFileError, inspect_model_file, load_keras_model

ROOT = Path(__file__).resolve().parents[2]
keras = pytest.importorskip("keras")


# Creates the file named by $CANARY whenever the layer runs (a loaded model is rebuilt, so loading runs it).
_CANARY_LAMBDA = lambda x: (open(__import__("os").environ.get("CANARY", __import__("os").devnull), "a").close(), x)[1]  # noqa: E731


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> Path:
    """A small studio-style model saved by Keras itself: its config.json is the base every payload is put in."""
    from rnnstudio.zoo.layers import AttentionPooling

    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 4, mask_zero=True)(inputs)
    x = keras.layers.GRU(3, return_sequences=True)(x)
    x = AttentionPooling()(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    path = tmp_path_factory.mktemp("models") / "real.keras"
    keras.Model(inputs, outputs).save(path)
    return path


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory) -> Path:
    inputs = keras.Input((3,))
    outputs = keras.layers.Dense(1)(keras.layers.Lambda(_CANARY_LAMBDA)(inputs))
    path = tmp_path_factory.mktemp("models") / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def _with_config(real: Path, out: Path, change) -> Path:
    members = _members(real)
    config = json.loads(members["config.json"])
    change(config)
    members["config.json"] = json.dumps(config).encode()
    return _write(out, members)


def _dense(config: dict) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")


def _set_activation(node: dict):
    def change(config):
        _dense(config)["config"]["activation"] = node
    return change


def _add_layer(layer: dict):
    def change(config):
        config["config"]["layers"].append(layer)
    return change


def _function(module: str, name: str) -> dict:
    return {"module": module, "class_name": "function", "config": name, "registered_name": name}


PAYLOADS = {
    "os.system": (_set_activation(_function("os", "system")), "'os.system'"),
    "builtins.exec": (_set_activation(_function("builtins", "exec")), "builtins.exec"),
    "subprocess class": (_add_layer({"module": "subprocess", "class_name": "Popen", "config": {"args": ["touch"]},
                                     "registered_name": None, "name": "p", "inbound_nodes": []}), "subprocess.Popen"),
    "keras utils get_file": (_set_activation(_function("keras.src.utils.file_utils", "get_file")), "get_file"),
    "unsafe switch": (_set_activation(_function("keras.config", "enable_unsafe_deserialization")), "safe mode"),
    "unsafe switch as a key": (lambda c: _dense(c)["config"].update(safe_mode=False), "safe mode"),
    "foreign custom object": (lambda c: _dense(c).update(registered_name="evil>Dense"), "evil>Dense"),
    "unknown studio layer": (lambda c: _dense(c).update(module="rnnstudio.zoo.layers", class_name="Shell"),
                             "rnnstudio.zoo.layers.Shell"),
    "tfsm layer": (_add_layer({"module": "keras.layers", "class_name": "TFSMLayer", "registered_name": None,
                               "config": {"filepath": "/tmp/savedmodel", "call_endpoint": "serve"}, "name": "t",
                               "inbound_nodes": []}), "TFSMLayer"),
    "vocabulary file": (_add_layer({"module": "keras.layers", "class_name": "StringLookup", "registered_name": None,
                                    "config": {"vocabulary": "/etc/passwd", "name": "lookup"}, "name": "lookup",
                                    "inbound_nodes": []}), "/etc/passwd"),
    "text vectorization vocabulary": (_add_layer({"module": "keras.layers", "class_name": "TextVectorization",
                                                  "registered_name": None, "name": "tv", "inbound_nodes": [],
                                                  "config": {"vocabulary": "../../secrets.txt", "name": "tv"}}),
                                      "secrets.txt"),
}


@pytest.mark.parametrize("case", list(PAYLOADS))
def test_crafted_configs_are_refused_before_keras_reads_them(case, real, tmp_path, monkeypatch):
    change, named = PAYLOADS[case]
    path = _with_config(real, tmp_path / "model.keras", change)
    import keras.src.saving.saving_lib as saving_lib

    def never(*args, **kwargs):
        raise AssertionError("Keras was asked to load a refused file")

    monkeypatch.setattr(saving_lib, "load_model", never)
    with pytest.raises(ModelFileError) as caught:
        load_keras_model(path)
    assert named in str(caught.value) and caught.value.file == "model.keras" and caught.value.fix


def test_a_lambda_layer_is_refused_and_its_code_never_runs(lambda_model, tmp_path, monkeypatch):
    canary = tmp_path / "canary"
    monkeypatch.setenv("CANARY", str(canary))
    with pytest.raises(ModelFileError, match="Lambda layer, which carries Python code"):
        load_keras_model(lambda_model)
    with pytest.raises(StudioError, match="Lambda"):
        from rnnstudio.export.predict import predict_file

        predict_file(lambda_model, "sample:reviews", tmp_path / "out.csv", progress=False)
    assert not canary.exists()
    # The payload is live: Keras with safe mode off runs it (in a throw-away process).
    script = "import sys, keras; keras.saving.load_model(sys.argv[1], safe_mode=False)"
    env = dict(os.environ, CANARY=str(canary), PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", script, str(lambda_model)],
                   env=env, cwd=ROOT, capture_output=True, timeout=120)
    assert canary.exists()


@pytest.mark.parametrize("entry", ["../escaped.txt", "/tmp/absolute-canary.txt", "assets/../../up.txt",
                                   "C:/windows.txt", "payload.py"])
def test_archive_entries_outside_the_archive_or_unexpected_are_refused(entry, real, tmp_path):
    members = _members(real)
    members[entry] = b"canary"
    (tmp_path / "work").mkdir()
    path = _write(tmp_path / "work" / "model.keras", members)
    with pytest.raises(ModelFileError, match=re.escape(entry)):
        load_keras_model(path)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "up.txt").exists()
    assert entry != "/tmp/absolute-canary.txt" or not Path(entry).exists()


class _Payload:
    def __init__(self, canary: Path):
        self.canary = str(canary)

    def __reduce__(self):
        return open, (self.canary, "w")


@pytest.mark.parametrize("name, says", [("model.pkl", "pickle"), ("model.joblib", "joblib"), ("model.h5", "HDF5"),
                                        ("model.pt", "pickle"), ("model.bin", "only .keras"),
                                        ("disguised.keras", "not a .keras archive")])
def test_pickles_hdf5_and_disguised_files_are_refused_unopened(name, says, tmp_path):
    canary = tmp_path / "canary"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(_Payload(canary)))
    with pytest.raises(ModelFileError, match=says):
        load_keras_model(path)
    from rnnstudio.export.predict import predict_file

    with pytest.raises(StudioError, match=says):
        predict_file(path, "sample:reviews", tmp_path / "out.csv", progress=False)
    assert not canary.exists()


def test_a_run_folder_with_a_crafted_model_is_refused(real, tmp_path):
    from rnnstudio.train.runner import load_run_model

    _with_config(real, tmp_path / "model.keras", _set_activation(_function("builtins", "eval")))
    with pytest.raises(ModelFileError, match="builtins.eval"):
        load_run_model(tmp_path)


def test_the_cli_refuses_a_crafted_model_with_a_message_and_no_traceback(lambda_model, tmp_path):
    canary = tmp_path / "canary"
    data = tmp_path / "rows.csv"
    data.write_text("x\n1\n")
    env = dict(os.environ, CANARY=str(canary), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "rnnstudio", "predict", str(lambda_model), "--input", str(data),
                           "--output", str(tmp_path / "p.csv")], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 2 and "Lambda layer" in done.stderr and "Traceback" not in done.stderr
    assert not canary.exists() and not (tmp_path / "p.csv").exists()


def test_real_studio_models_pass_and_load(real):
    config = inspect_model_file(real)
    assert config["class_name"] == "Functional"
    model = load_keras_model(real)
    assert model.output_shape == (None, 2)


def test_every_zoo_family_saves_a_file_the_inspector_accepts(tmp_path):
    from rnnstudio.zoo.registry import InputSpec, build_model, get_model, list_models

    specs = {"tokens": InputSpec("tokens", seq_len=8, n_features=1, vocab_size=30),
             "numeric": InputSpec("numeric", seq_len=8, n_features=2)}
    for name in list_models():
        entry = get_model(name)
        for kind in entry.inputs:
            model = build_model(entry.spec(name=name), input_spec=specs[kind], n_outputs=3, activation="softmax")
            path = tmp_path / f"{name}-{kind}.keras"
            model.save(path)
            inspect_model_file(path)


def test_the_allowed_studio_layers_are_exactly_those_registered():
    import rnnstudio.zoo.layers  # noqa: F401

    registered = {k.split(">", 1)[1] for k in keras.saving.get_custom_objects() if k.startswith("rnnstudio>")}
    assert registered == STUDIO_LAYERS


def test_every_keras_load_in_the_studio_goes_through_the_inspector():
    offenders = []
    for path in (ROOT / "rnnstudio").rglob("*.py"):
        text = path.read_text()
        if re.search(r"load_model\(|saving\.load_weights|from_config\(json", text) and path.name != "model_files.py":
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_nothing_in_the_studio_uses_pickle_for_its_own_state():
    found = []
    for path in [*(ROOT / "rnnstudio").rglob("*.py"), *(ROOT / "views").rglob("*.py"), ROOT / "app.py"]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r"\bimport (c?pickle|joblib|dill|shelve|marshal)\b|allow_pickle\s*=\s*True|"
                         r"np\.load\((?![^)]*allow_pickle=False)|torch\.load", line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
