"""Model files the studio agrees to open: `.keras` archives checked before Keras reads a byte of them.

A `.keras` file is a zip of ``metadata.json``, ``config.json`` and the weights.
Keras rebuilds the model from ``config.json``, so a crafted config can name
any class or function it likes. :func:`inspect_model_file` reads the archive's
names and the config as plain JSON -- nothing is imported or built -- and
refuses anything but Keras built-ins and the studio's own registered layers.
Only then does :func:`load_keras_model` hand the file to Keras, in safe mode.
Keras' safe mode is no sandbox, so files from users are opened in a separate
process (:func:`in_child_process`).
"""

from __future__ import annotations

import builtins
import json
import multiprocessing
import queue as queue_module
import re
import zipfile
from pathlib import Path, PurePosixPath

from rnnstudio.errors import StudioError

__all__ = ["ModelFileError", "inspect_model_file", "load_keras_model", "in_child_process", "STUDIO_LAYERS"]

#: Layers rnnstudio registers with Keras (``rnnstudio>Name``); a test keeps this in step with the zoo.
STUDIO_LAYERS = frozenset({"AttentionPooling", "LastStep", "MaskedGlobalMaxPooling1D", "PositionEmbedding",
                           "SelectChannel"})
STUDIO_MODULE = "rnnstudio.zoo.layers"
# Where Keras keeps layers, models, ops and their parts; not utils, saving, config, backend or export.
KERAS_MODULES = tuple(f"keras.{part}" for part in (
    "layers", "models", "ops", "initializers", "regularizers", "constraints", "activations", "losses", "metrics",
    "optimizers", "dtype_policies", "random"))
KERAS_MODULES += tuple(m.replace("keras.", "keras.src.", 1) for m in KERAS_MODULES)
# Classes that run code or read files outside the archive, even from an allowed module.
REFUSED_CLASSES = {
    "Lambda": "a Lambda layer, which carries Python code",
    "__lambda__": "a Python lambda, which carries code",
    "TFSMLayer": "a TFSMLayer, which loads a SavedModel from a path outside the file",
}
# Keys whose string values would be read as paths by the layer that owns them.
PATH_KEYS = {"vocabulary", "filepath", "file_path", "path", "idf_weights", "vocabulary_path", "saved_model_path"}
ARCHIVE_FILES = {"metadata.json", "config.json", "model.weights.h5", "model.weights.npz"}
REFUSED_SUFFIXES = {
    ".h5": "the legacy HDF5 format, which Keras cannot load in safe mode",
    ".hdf5": "the legacy HDF5 format, which Keras cannot load in safe mode",
    ".pkl": "a pickle, which runs code when it is opened",
    ".pickle": "a pickle, which runs code when it is opened",
    ".joblib": "a joblib pickle, which runs code when it is opened",
    ".pt": "a PyTorch pickle, which runs code when it is opened",
    ".pth": "a PyTorch pickle, which runs code when it is opened",
    ".npy": "a NumPy array, not a model",
    ".pb": "a bare TensorFlow graph; give the whole export folder instead",
}
MAX_CONFIG_BYTES = 32 * 1024**2
MAX_ARCHIVE_BYTES = 4 * 1024**3  # uncompressed, against zip bombs
MAX_ENTRIES = 10_000
FIX = "Use a model.keras written by RNN Studio (python -m rnnstudio export RUN), or rebuild the model from Keras " \
      "built-in layers only."
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ModelFileError(StudioError):
    """A model file the studio refuses to open, and why."""


def inspect_model_file(path: str | Path) -> dict:
    """The parsed ``config.json`` of a `.keras` file that passed every check; ModelFileError otherwise.

    Nothing in the file is imported, built or executed: this reads zip names and JSON only.
    """
    path = Path(path)
    name = path.name
    suffix = path.suffix.lower()
    if suffix in REFUSED_SUFFIXES:
        raise ModelFileError(f"refused: this is {REFUSED_SUFFIXES[suffix]}; the studio opens only .keras files.", file=name,
                             fix=FIX)
    if suffix != ".keras":
        raise ModelFileError(f"refused: '{suffix or 'no extension'}' files are not opened; the studio opens only .keras files.",
                             file=name, fix=FIX)
    if not path.is_file():
        raise ModelFileError("the model file does not exist.", file=str(path), fix="Check the path.")
    if not zipfile.is_zipfile(path):
        raise ModelFileError("this is not a .keras archive (a .keras file is a zip).", file=name, fix=FIX)
    with zipfile.ZipFile(path) as archive:
        entries = archive.infolist()
        _check_entries(entries, name)
        names = {e.filename for e in entries}
        missing = {"config.json", "metadata.json"} - names
        if missing:
            raise ModelFileError(f"the archive lacks {', '.join(sorted(missing))}.", file=name, fix=FIX)
        config_info = archive.getinfo("config.json")
        if config_info.file_size > MAX_CONFIG_BYTES:
            raise ModelFileError(f"config.json is {config_info.file_size:,} bytes, more than a model needs.",
                                 file=name, fix=FIX)
        try:
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"config.json or metadata.json is not valid JSON ({exc}).", file=name,
                                 fix=FIX) from None
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelFileError("config.json and metadata.json must each hold a JSON object.", file=name, fix=FIX)
    _check_config(config, "config", name)
    return config


def _check_entries(entries: list[zipfile.ZipInfo], name: str) -> None:
    if len(entries) > MAX_ENTRIES:
        raise ModelFileError(f"the archive has {len(entries):,} entries.", file=name, fix=FIX)
    if sum(e.file_size for e in entries) > MAX_ARCHIVE_BYTES:
        raise ModelFileError("the archive unpacks to more than 4 GB.", file=name, fix=FIX)
    for entry in entries:
        member = entry.filename
        parts = PurePosixPath(member.replace("\\", "/")).parts
        if member.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", member) or ".." in parts or "\\" in member:
            raise ModelFileError(f"the archive has an entry named '{member}', which points outside the archive.",
                                 file=name, fix=FIX)
        if member not in ARCHIVE_FILES and not (member.startswith("assets/") and len(parts) > 1):
            raise ModelFileError(f"the archive has an unexpected entry '{member}'; a .keras file holds "
                                 "metadata.json, config.json, the weights and assets/.", file=name, fix=FIX)


def _check_config(node, where: str, name: str) -> None:
    """Walks every dict and list of the config; refuses what Keras would import, run or read from disk."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _check_config(item, f"{where}[{i}]", name)
        return
    if isinstance(node, str):
        if "enable_unsafe_deserialization" in node:
            raise ModelFileError(f"{where} asks Keras to turn off safe mode ('{node[:80]}').", file=name, fix=FIX)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if "enable_unsafe_deserialization" in f"{key} {value if isinstance(value, str) else ''}" or key == "safe_mode":
            raise ModelFileError(f"{where} asks Keras to turn off safe mode ('{key}').", file=name, fix=FIX)
        if key in PATH_KEYS and isinstance(value, str):
            raise ModelFileError(f"{where}.{key} names a file outside the archive ('{value[:120]}').", file=name,
                                 fix=FIX)
    if "class_name" in node:
        _check_object(node, where, name)
    for key, value in node.items():
        _check_config(value, f"{where}.{key}", name)


def _check_object(node: dict, where: str, name: str) -> None:
    class_name = node.get("class_name")
    module = node.get("module")
    registered = node.get("registered_name")
    label = f"{where} ('{node['name']}')" if isinstance(node.get("name"), str) else where
    if not isinstance(class_name, str) or not isinstance(module, (str, type(None))) \
            or not isinstance(registered, (str, type(None))):
        raise ModelFileError(f"{label} has a class_name, module or registered_name that is not text.", file=name,
                             fix=FIX)
    for word in (class_name, node.get("spec_name"), node.get("config") if class_name == "function" else None):
        if word in REFUSED_CLASSES:
            raise ModelFileError(f"{label} is {REFUSED_CLASSES[word]}.", file=name, fix=FIX)
    if class_name.startswith("__") and class_name.endswith("__"):
        if class_name not in ("__keras_tensor__", "__tensor__", "__numpy__", "__bytes__", "__ellipsis__",
                              "__slice__"):
            raise ModelFileError(f"{label} is a '{class_name}' object, which the studio does not open.", file=name,
                                 fix=FIX)
        return
    if registered and ">" in registered:
        package, _, short = registered.partition(">")
        if package != "rnnstudio" or short not in STUDIO_LAYERS:
            raise ModelFileError(f"{label} is the custom object '{registered}', which is not one of the studio's "
                                 "layers.", file=name, fix=FIX)
    if class_name == "function":
        _check_function(node, label, name)
        return
    if module == STUDIO_MODULE:
        if class_name not in STUDIO_LAYERS:
            raise ModelFileError(f"{label} names '{module}.{class_name}', which is not one of the studio's layers.",
                                 file=name, fix=FIX)
        return
    if module is None and registered is None:
        return  # plain class names (e.g. a Sequential's layers in old files) resolve inside Keras only
    if module is None or not _keras_module(module):
        raise ModelFileError(f"{label} names '{module}.{class_name}', outside Keras' layers, ops and "
                             "the studio's layers.", file=name, fix=FIX)


def _check_function(node: dict, label: str, name: str) -> None:
    function, module = node.get("config"), node.get("module")
    if not isinstance(function, str) or not _IDENTIFIER.match(function):
        raise ModelFileError(f"{label} names a function that is not a plain name ({str(function)[:80]!r}).",
                             file=name, fix=FIX)
    if module == "builtins":
        # Keras looks such names up among its activations, losses, ...; a Python builtin is never one.
        if hasattr(builtins, function):
            raise ModelFileError(f"{label} names the Python function 'builtins.{function}'.", file=name, fix=FIX)
        return
    if module is None or not _keras_module(module):
        raise ModelFileError(f"{label} names the function '{module}.{function}', outside Keras' activations, "
                             "losses and ops.", file=name, fix=FIX)


def _keras_module(module: str) -> bool:
    return module == "keras" or module.startswith(tuple(m + "." for m in KERAS_MODULES)) or module in KERAS_MODULES


def load_keras_model(path: str | Path):
    """A `.keras` model that passed :func:`inspect_model_file`, loaded by Keras in safe mode."""
    inspect_model_file(path)
    import keras

    import rnnstudio.zoo.layers  # noqa: F401 -- registers the studio's layers for safe-mode loading

    return keras.saving.load_model(path, safe_mode=True)


def _child(queue, function, args, kwargs) -> None:
    try:
        queue.put(("result", function(*args, **kwargs)))
    except StudioError as exc:
        queue.put(("studio_error", exc.to_dict()))
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent as text
        queue.put(("error", f"{type(exc).__name__}: {exc}"[:2000]))


def in_child_process(function, *args, **kwargs):
    """``function(*args, **kwargs)`` run in a fresh process (a file it opens cannot touch this one).

    StudioErrors come back as StudioErrors; a crash of the child becomes a StudioError naming its exit code.
    ``function`` must be importable (a module-level function) and its result picklable.
    """
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(queue, function, args, kwargs))
    process.start()
    kind, value = "error", None
    while True:  # a child killed before it answers must not leave us waiting forever
        try:
            kind, value = queue.get(timeout=0.5)
            break
        except queue_module.Empty:
            if not process.is_alive() and queue.empty():
                break
    process.join()
    if kind == "result":
        return value
    if kind == "studio_error":
        raise StudioError(value.pop("message"), **value)
    raise StudioError(f"the separate process that opened the model failed ({value or f'exit code {process.exitcode}'}).",
                      fix="Check the model file; the studio's own state is unaffected.")
