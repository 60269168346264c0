"""The Recipe: one typed, validated, versioned description of a run.

Sections ``data``, ``preprocess``, ``model``, ``train`` and ``export``; every
field has a default, a range or choices, and a one-line help text that the
command line, the README and the app's forms all read. Values learnt from the
data (vocabulary size, classes, features) are never stored here.
"""

from __future__ import annotations

import difflib
import json
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator, model_validator

from rnnstudio.errors import RecipeError, StudioError
from rnnstudio.limits import MAX_VOCAB, MIN_VOCAB
from rnnstudio.zoo.registry import ModelSpec, get_model, list_models

SCHEMA_VERSION = 1

TASKS = ("text-classification", "sequence-classification", "forecasting")
TaskName = Literal["text-classification", "sequence-classification", "forecasting"]

TEXT_AUGMENTS = ("swap", "delete", "insert", "synonym")
SERIES_AUGMENTS = ("jitter", "scale", "magnitude_warp", "window_slice")
# Warping or slicing a forecast window would change it without changing its future.
FORECAST_AUGMENTS = ("jitter", "scale")


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataSpec(Section):
    """Where the examples come from and which columns play which role."""

    source: str | None = Field(None, description="Training file (CSV, TSV, TXT) or sample:NAME for a built-in sample.")
    test_source: str | None = Field(None, description="Separate test file; empty = hold out a test split from the source.")
    task: TaskName | None = Field(None, description="What to learn: text-classification, sequence-classification or forecasting.")
    target: str | None = Field(None, description="Column to predict: the label (classification) or the forecast series.")
    text_column: str | None = Field(None, description="Column holding the text; empty = the column with the longest strings.")
    time_column: str | None = Field(None, description="Time stamps for forecasting (parsed and sorted); empty = detect one, else row order.")
    feature_columns: list[str] | None = Field(None, description="Numeric input columns; empty = every numeric column except target, id and step.")
    layout: Literal["auto", "wide", "long"] = Field("auto", description="Sequence files: wide (one row per series) or long (one row per step); auto detects.")
    series_id_column: str | None = Field(None, description="Long layout: column naming the series each row belongs to.")
    step_column: str | None = Field(None, description="Long layout: column ordering the steps inside a series; empty = file order.")
    test_size: float = Field(0.2, ge=0.05, le=0.5, description="Share of examples held out for the test split (when no test file).")
    val_size: float = Field(0.15, ge=0.0, le=0.5, description="Share of the training examples used for validation and early stopping.")
    seed: int = Field(42, ge=0, description="Seed for the split and shuffling.")


class AugmentSpec(Section):
    """One augmentation of the training split."""

    name: Literal["swap", "delete", "insert", "synonym", "jitter", "scale", "magnitude_warp", "window_slice"] = Field(
        description="Text: swap, delete, insert, synonym (needs NLTK WordNet). Series: jitter, scale, magnitude_warp, window_slice."
    )
    strength: float = Field(0.1, gt=0.0, le=1.0, description="How strong: share of words changed, or noise size relative to the data's spread.")
    multiplier: int = Field(1, ge=1, le=20, description="Augmented copies added per training example.")


class PreprocessSpec(Section):
    """How raw values become tensors: tokenising, scaling, padding, windows, augmentation."""

    tokenizer: Literal["wordpunct", "treebank", "tweet", "regexp", "char"] = Field(
        "wordpunct", description="Text tokenizer (NLTK, no download needed) or char for characters."
    )
    token_pattern: str = Field(r"\w+|[^\w\s]+", description="Regular expression of one token, for the regexp tokenizer.")
    lowercase: bool = Field(True, description="Lower-case text before tokenising.")
    max_vocab: int = Field(20000, ge=MIN_VOCAB, le=MAX_VOCAB, description="Vocabulary size: the most frequent tokens kept, plus the padding and out-of-vocabulary ids.")
    min_freq: int = Field(2, ge=1, description="Tokens seen fewer times in training are out-of-vocabulary.")
    max_length: int | None = Field(None, ge=1, le=100_000, description="Steps per example after padding/truncating; empty = the length_percentile of training lengths.")
    length_percentile: float = Field(95.0, gt=0.0, le=100.0, description="Percentile of training lengths used as max_length when that is empty.")
    padding: Literal["post", "pre"] = Field("post", description="Pad at the end (post, keeps the GPU fast path) or the start.")
    truncating: Literal["pre", "post"] = Field("post", description="Cut over-long examples at the end (post) or the start (pre).")
    scaling: Literal["standard", "minmax", "robust", "none"] = Field("standard", description="Scaling of numeric values, fitted on the training split only.")
    log_transform: Literal["auto", "on", "off"] = Field("auto", description="Forecasting: log(1+x) of positive series; auto = when the series is positive and its spread grows with its level.")
    differencing: Literal["auto", "on", "off"] = Field("auto", description="Forecasting: model step-to-step changes; auto = when the series trends.")
    lookback: int | None = Field(None, ge=1, le=100_000, description="Forecasting: past steps the model sees; empty = chosen from season and horizon.")
    horizon: int = Field(1, ge=1, le=10_000, description="Forecasting: future steps predicted at once (direct multi-step).")
    stride: int = Field(1, ge=1, le=10_000, description="Forecasting: steps between the starts of consecutive training windows.")
    season: int | None = Field(None, ge=1, le=10_000, description="Forecasting: season length in steps (12 = monthly, 7 = daily); empty = from the time column or autocorrelation.")
    augment: list[AugmentSpec] = Field(default_factory=list, description="Augmentations of the training split only.")


class TrainSpec(Section):
    """How the weights are fitted."""

    epochs: int = Field(100, ge=1, le=100_000, description="Most passes over the training data; early stopping usually ends sooner.")
    batch_size: int = Field(32, ge=1, le=1_000_000, description="Examples per step (split across devices).")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = Field("adam", description="Optimizer: adam, adamw (decoupled weight decay), sgd (with momentum), rmsprop.")
    learning_rate: float = Field(1e-3, gt=0.0, le=10.0, description="Initial learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, le=1.0, description="Decoupled weight decay (adamw; also applied by the others when above 0).")
    momentum: float = Field(0.9, ge=0.0, lt=1.0, description="Momentum for sgd.")
    schedule: Literal["constant", "exponential", "cosine", "plateau"] = Field(
        "plateau", description="Learning-rate schedule: constant, exponential decay, cosine with warm-up, or halve on a validation plateau."
    )
    warmup_epochs: float = Field(0.0, ge=0.0, description="Cosine schedule: epochs of linear warm-up.")
    decay_rate: float = Field(0.5, gt=0.0, lt=1.0, description="Exponential: factor per 10 epochs; plateau: factor per plateau.")
    clip: Literal["norm", "value", "none"] = Field("norm", description="Gradient clipping: by global norm, by value, or none.")
    clip_value: float = Field(1.0, gt=0.0, description="Largest allowed gradient norm (norm) or element (value).")
    early_stopping: bool = Field(True, description="Stop when validation loss stops improving and keep the best weights.")
    patience: int = Field(10, ge=1, le=10_000, description="Epochs without improvement before early stopping.")
    class_weights: Literal["auto", "balanced", "none"] = Field(
        "auto", description="Weight rare classes up: balanced always, auto when the largest class is 3x the smallest."
    )
    strategy: Literal["auto", "default", "one_device", "mirrored", "multi_worker"] = Field(
        "auto", description="tf.distribute strategy; auto = mirrored on several GPUs, one device on one GPU, default on CPU."
    )
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field("float32", description="Numeric precision; mixed_* speed up recent GPUs (mixed_float16 scales the loss dynamically; gradient norms are reported unscaled).")
    seed: int = Field(42, ge=0, description="Seed for weights, dropout and batch order.")
    log_every_steps: int = Field(10, ge=1, description="Steps between per-step metric events (at most; short epochs get about five each).")
    grad_norm_every_steps: int = Field(10, ge=1, description="Steps between per-layer gradient-norm readings (short epochs get about five each; monitor_budget may space them further).")
    gradient_norms: bool = Field(True, description="Read per-layer gradient norms during training for the gradient charts (the NaN/Inf watch runs either way).")
    monitor_budget: float = Field(0.03, ge=0.0, le=0.5, description="Largest share of training time monitoring may cost, half for gradient-norm readings (spaced further apart) and half for probes (skipped on some epochs between the first and the last when epochs are short); 0 = no limit.")
    probes: bool = Field(True, description="Once per epoch (and before the first step), look inside the network on a fixed batch: gradients through time, weight and gradient histograms, gates, hidden states, attention.")
    probe_examples: int = Field(32, ge=1, le=256, description="Examples in the fixed probe batch, from the validation split (else training); the first 8 are shown in the hidden-state and attention views.")
    tensorboard: bool = Field(True, description="Write TensorBoard logs into the run folder.")


class ExportSpec(Section):
    """What a finished run writes out."""

    formats: list[Literal["keras", "savedmodel", "tflite"]] = Field(
        default_factory=lambda: ["keras"], description="Artifacts to write: keras, savedmodel, tflite."
    )


# Good defaults per task: most users never change them (see README "Defaults").
TASK_DEFAULT_MODELS: dict[str, dict[str, Any]] = {
    "text-classification": {"name": "rnn", "cell": "gru", "units": 64, "bidirectional": True, "pooling": "max_mean", "dropout": 0.3},
    "sequence-classification": {"name": "conv_rnn", "cell": "lstm", "units": 64, "arrangement": "parallel"},
    "forecasting": {"name": "rnn", "cell": "gru", "units": 32, "pooling": "last", "dropout": 0.1},
}
GENERIC_DEFAULT_MODEL = {"name": "rnn"}


class Recipe(Section):
    """Everything one run needs, from the source file to the exported model."""

    version: int = Field(SCHEMA_VERSION, description="Schema version of this recipe.")
    name: str | None = Field(None, description="A name for runs made from this recipe.")
    data: DataSpec = Field(default_factory=DataSpec)
    preprocess: PreprocessSpec = Field(default_factory=PreprocessSpec)
    model: SerializeAsAny[ModelSpec] = Field(default_factory=lambda: _model_spec(GENERIC_DEFAULT_MODEL),
                                             description="Architecture from the model zoo (model.name) and its hyper-parameters.")
    train: TrainSpec = Field(default_factory=TrainSpec)
    export: ExportSpec = Field(default_factory=ExportSpec)

    @model_validator(mode="before")
    @classmethod
    def _task_default_model(cls, values: Any) -> Any:
        # A missing model (or one without a name) takes the task's default family.
        if not isinstance(values, dict):
            return values
        model = values.get("model")
        if isinstance(model, ModelSpec):
            return values
        model = dict(model or {})
        if "name" not in model:
            data = values.get("data") or {}
            task = data.task if isinstance(data, DataSpec) else data.get("task")
            model = {**TASK_DEFAULT_MODELS.get(task, GENERIC_DEFAULT_MODEL), **model}
        return {**values, "model": model}

    @field_validator("model", mode="before")
    @classmethod
    def _model_family(cls, value: Any) -> Any:
        if isinstance(value, ModelSpec):
            return value
        return _model_spec(dict(value))

    @property
    def task(self) -> str | None:
        return self.data.task

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")

    def with_overrides(self, overrides: dict[str, Any]) -> Recipe:
        """A copy with dotted fields replaced: ``{"train.epochs": 5}``."""
        data = self.to_dict()
        # A new model family resets the model section, so it goes first.
        for dotted, value in sorted(overrides.items(), key=lambda kv: kv[0] != "model.name"):
            _set_dotted(data, dotted, value)
        return recipe_from_dict(data)


def _model_spec(values: dict) -> ModelSpec:
    name = values.get("name", "rnn")
    if name not in list_models():
        raise ValueError(f"unknown model '{name}'; choose one of {', '.join(list_models())}")
    return get_model(name).spec.model_validate(values)


# ---------------------------------------------------------------- validation


def _field_path(loc: tuple) -> str:
    parts = [str(p) for p in loc if not str(p).startswith("function-") and p not in ("ModelSpec",)]
    # pydantic reports model fields as ('model', 'RNNSpec', 'units'): drop the class name.
    return ".".join(p for p in parts if not p[:1].isupper())


def _problem_from_pydantic(err: dict) -> StudioError:
    field = _field_path(err["loc"])
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")
    shown = json.dumps(value) if isinstance(value, (str, int, float, bool)) or value is None else repr(value)[:60]
    if kind == "extra_forbidden":
        section = field.rsplit(".", 1)[0] if "." in field else ""
        fields = _known_fields(section)
        close = difflib.get_close_matches(field.rsplit(".", 1)[-1], fields, n=1)
        known = ", ".join(fields) or "see `python -m rnnstudio init`"
        hint = f"Did you mean '{close[0]}'? " if close else ""
        return StudioError(f"unknown setting '{field}'.", fix=f"{hint}Remove it or use one of: {known}.", field=field)
    bounds = {
        "greater_than": f"must be greater than {ctx.get('gt')}",
        "greater_than_equal": f"must be at least {ctx.get('ge')}",
        "less_than": f"must be less than {ctx.get('lt')}",
        "less_than_equal": f"must be at most {ctx.get('le')}",
        "literal_error": f"must be one of {ctx.get('expected')}",
    }
    if kind == "finite_number" or (isinstance(value, float) and not math.isfinite(value)):
        message = f"must be a finite number; got {shown}."
    elif kind in bounds:
        message = f"{bounds[kind]}; got {shown}."
    else:
        message = f"{err['msg'].removeprefix('Value error, ')}; got {shown}."
    return StudioError(message, fix=f"Change '{field}' in the recipe (see its help: {_help(field)})", field=field)


def _known_fields(section: str) -> list[str]:
    sections = {"": Recipe, "data": DataSpec, "preprocess": PreprocessSpec, "train": TrainSpec, "export": ExportSpec}
    if section == "model":
        return sorted({f for name in list_models() for f in get_model(name).spec.model_fields})
    model = sections.get(section)
    return list(model.model_fields) if model else []


def _help(field: str) -> str:
    try:
        return describe_field(field)["help"] or "no help"
    except KeyError:
        return "see `python -m rnnstudio init`"


def recipe_from_dict(data: dict) -> Recipe:
    """Validates ``data`` (upgrading older schema versions) into a Recipe.

    Raises:
        RecipeError: listing every invalid field with its value and allowed range.
    """
    if not isinstance(data, dict):
        raise RecipeError([StudioError("a recipe must be a mapping of sections (data, preprocess, model, train).",
                                       fix="Start from `python -m rnnstudio init`.")])
    data = upgrade(data)
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError([_problem_from_pydantic(e) for e in exc.errors()]) from None
    problems = check(recipe)
    if problems:
        raise RecipeError(problems)
    return recipe


def check(recipe: Recipe) -> list[StudioError]:
    """Every cross-field problem in ``recipe`` at once (field ranges are checked on load)."""
    problems = []
    task = recipe.data.task
    if recipe.train.early_stopping and recipe.data.val_size == 0:
        problems.append(StudioError("early stopping needs a validation split, but data.val_size is 0.",
                                    fix="Set data.val_size above 0 (0.15 is typical) or train.early_stopping to false.",
                                    field="data.val_size"))
    allowed = {"text-classification": TEXT_AUGMENTS, "forecasting": FORECAST_AUGMENTS}.get(
        task, SERIES_AUGMENTS if task else TEXT_AUGMENTS + SERIES_AUGMENTS)
    for i, aug in enumerate(recipe.preprocess.augment):
        if aug.name not in allowed:
            problems.append(StudioError(f"augmentation '{aug.name}' does not apply to {task}.",
                                        fix=f"Use one of: {', '.join(allowed)}.", field=f"preprocess.augment.{i}.name"))
    entry = get_model(recipe.model.name)
    kind = "tokens" if task == "text-classification" else "numeric"
    if task and kind not in entry.inputs:
        problems.append(StudioError(f"model '{entry.name}' does not take {kind} inputs, which {task} gives.",
                                    fix=f"Choose another model: {', '.join(n for n in list_models() if kind in get_model(n).inputs)}.",
                                    field="model.name"))
    if recipe.model.embeddings_file and not Path(recipe.model.embeddings_file).expanduser().is_file():
        problems.append(StudioError(f"word-vector file '{recipe.model.embeddings_file}' does not exist.",
                                    fix="Give the path of a GloVe-format text file, or leave model.embeddings_file empty.",
                                    field="model.embeddings_file"))
    return problems


# ------------------------------------------------------------ schema upgrade

# Upgraders from version N to N+1, applied in order (Ludwig's upgrade_config idea).
UPGRADES: dict[int, Any] = {}


def upgrade(data: dict) -> dict:
    """Brings a recipe dict from an older schema version to the current one."""
    version = data.get("version", SCHEMA_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecipeError([StudioError(f"'version' must be a whole number from 1 to {SCHEMA_VERSION}; got {version!r}.",
                                       field="version", fix=f"Set version: {SCHEMA_VERSION}.")])
    if version > SCHEMA_VERSION:
        raise RecipeError([StudioError(f"this recipe has schema version {version}, newer than this studio's {SCHEMA_VERSION}.",
                                       fix="Upgrade rnnstudio (pip install -U -r requirements.txt).", field="version")])
    data = dict(data)
    while version < SCHEMA_VERSION:
        data = UPGRADES[version](data)
        version += 1
        data["version"] = version
    return data


# ------------------------------------------------------------------- files


def load_recipe(path: str | Path) -> Recipe:
    """Reads a Recipe from a YAML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError([StudioError("recipe file not found.", file=str(path), fix="Check the path.")]) from None
    except (UnicodeDecodeError, IsADirectoryError) as exc:
        raise RecipeError([StudioError(f"cannot read the recipe ({exc.__class__.__name__}).", file=str(path),
                                       fix="Give a UTF-8 YAML or JSON file.")]) from None
    return parse_recipe(text, name=str(path))


def parse_recipe(text: str, *, name: str = "recipe") -> Recipe:
    """Parses YAML (a superset of JSON) text into a Recipe."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RecipeError([StudioError(f"not valid YAML ({getattr(exc, 'problem', exc)}).", file=name,
                                       row=mark.line + 1 if mark else None,
                                       fix="Fix the indentation or quoting on that line.")]) from None
    try:
        return recipe_from_dict(data)
    except RecipeError as exc:
        for p in exc.problems:
            p.file = p.file or name
        raise RecipeError(exc.problems) from None


def save_recipe(recipe: Recipe, path: str | Path) -> None:
    """Writes ``recipe`` as commented YAML (``.yaml``/``.yml``) or JSON."""
    from rnnstudio.runs.files import write_atomic

    path = Path(path)
    text = json.dumps(recipe.to_dict(), indent=2) if path.suffix == ".json" else to_yaml(recipe)
    write_atomic(path, text)


def to_yaml(recipe: Recipe, *, comments: bool = True) -> str:
    """The Recipe as YAML; with ``comments`` each field carries its help text."""
    data = recipe.to_dict()
    if not comments:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    lines = [f"# RNN Studio recipe (schema version {SCHEMA_VERSION}). Every field is optional;",
             "# edit and run: python -m rnnstudio train --recipe THIS_FILE"]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"{key}:  # {_section_doc(key)}")
            for sub, subvalue in value.items():
                rendered = yaml.safe_dump({sub: subvalue}, sort_keys=False, allow_unicode=True, width=1000).rstrip()
                rendered = "\n".join("  " + line for line in rendered.splitlines())
                lines.append(f"{rendered}  # {_help(f'{key}.{sub}')}")
        else:
            lines.append(f"{yaml.safe_dump({key: value}, allow_unicode=True).rstrip()}  # {_help(key)}")
    return "\n".join(lines) + "\n"


def _section_doc(section: str) -> str:
    cls = {"data": DataSpec, "preprocess": PreprocessSpec, "train": TrainSpec, "export": ExportSpec}.get(section)
    return (cls.__doc__ or "").strip() if cls else "Architecture from the model zoo and its hyper-parameters."


# ------------------------------------------------------------- field metadata


def _field_info(model_cls: type[BaseModel], name: str) -> dict:
    info = model_cls.model_fields[name]
    meta = {"name": name, "help": info.description or "", "default": info.get_default(call_default_factory=True),
            "min": None, "max": None, "exclusive_min": False, "exclusive_max": False, "choices": None,
            "type": getattr(info.annotation, "__name__", str(info.annotation))}
    for m in info.metadata:
        for attr, key, excl in (("ge", "min", False), ("gt", "min", True), ("le", "max", False), ("lt", "max", True)):
            if getattr(m, attr, None) is not None:
                meta[key] = getattr(m, attr)
                meta[f"exclusive_{key}"] = excl
    annotation = info.annotation
    # Unwrap Optional[...] and list[...] to find the Literal choices inside.
    while getattr(annotation, "__origin__", None) is not Literal and getattr(annotation, "__args__", None):
        inner = [a for a in annotation.__args__ if a is not type(None)]
        if len(inner) != 1 or inner[0] is annotation:
            break
        annotation = inner[0]
    if getattr(annotation, "__origin__", None) is Literal:
        meta["choices"] = list(annotation.__args__)
        meta["type"] = "choices" if isinstance(meta["default"], list) else "choice"
    return meta


def describe_section(section: str, model_name: str | None = None) -> list[dict]:
    """Form metadata of one section: name, help, default, min/max, choices, type.

    For ``model`` give ``model_name``: each family has its own fields.
    """
    if section == "model":
        cls = get_model(model_name or "rnn").spec
    else:
        cls = {"data": DataSpec, "preprocess": PreprocessSpec, "train": TrainSpec, "export": ExportSpec,
               "augment": AugmentSpec}[section]
    return [_field_info(cls, name) for name in cls.model_fields]


def describe_field(dotted: str) -> dict:
    """Form metadata of one dotted field, e.g. ``train.learning_rate``."""
    section, _, name = dotted.partition(".")
    if not name:
        return _field_info(Recipe, section)
    if section == "model":
        for family in list_models():
            spec = get_model(family).spec
            if name in spec.model_fields:
                return _field_info(spec, name)
        raise KeyError(dotted)
    name = name.split(".")[0]
    for meta in describe_section(section):
        if meta["name"] == name:
            return meta
    raise KeyError(dotted)


def reference_markdown() -> str:
    """The Recipe reference, generated from the schema (README section)."""
    rows = []
    for section in ("data", "preprocess", "train", "export"):
        rows.append(f"\n### `{section}`\n\n| field | default | allowed | meaning |\n|---|---|---|---|")
        rows += [_reference_row(section, m) for m in describe_section(section)]
    for family in list_models():
        entry = get_model(family)
        rows.append(f"\n### `model` — `{family}`: {entry.title}\n\n| field | default | allowed | meaning |\n|---|---|---|---|")
        rows += [_reference_row("model", m) for m in describe_section("model", family)]
    return "\n".join(rows) + "\n"


def _reference_row(section: str, meta: dict) -> str:
    if meta["choices"]:
        allowed = ", ".join(map(str, meta["choices"]))
    elif meta["min"] is not None or meta["max"] is not None:
        lo = "" if meta["min"] is None else f"{'>' if meta['exclusive_min'] else '≥'} {meta['min']}"
        hi = "" if meta["max"] is None else f"{'<' if meta['exclusive_max'] else '≤'} {meta['max']}"
        allowed = ", ".join(x for x in (lo, hi) if x)
    else:
        allowed = ""
    default = json.dumps(meta["default"], ensure_ascii=False) if not isinstance(meta["default"], BaseModel) else ""
    return f"| `{section}.{meta['name']}` | `{default}` | {allowed} | {meta['help']} |"


# --------------------------------------------------------------- overrides


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.epochs=5"`` → ``("train.epochs", 5)``; values are parsed as YAML."""
    if "=" not in text:
        raise RecipeError([StudioError(f"override '{text}' is not of the form section.field=value.",
                                       fix="Write e.g. --set train.epochs=5.")])
    key, _, raw = text.partition("=")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def _set_dotted(data: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if not isinstance(node.get(part), (dict, list)):
            node[part] = {}
        node = node[part]
    if parts[0] == "model" and parts[-1] == "name" and isinstance(node, dict):
        node.clear()  # a new family starts from its own defaults
    node[parts[-1]] = value


def default_recipe(**data_fields: Any) -> Recipe:
    """The fully defaulted Recipe for the given ``data`` fields (task, source, target…)."""
    return recipe_from_dict({"data": {k: v for k, v in data_fields.items() if v is not None}})
