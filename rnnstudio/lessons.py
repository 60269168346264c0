"""Classroom lessons: ready-made experiments that each make one idea about recurrent networks visible.

A lesson is a base Recipe on generated data (nothing is downloaded), the one
control a class moves (a Recipe field or a parameter of the generated sample)
and the variants trained side by side. Variants change only the fields listed
in ``varies``; data, seeds and everything else are identical, so differences
in their curves come from what is being taught. Each lesson trains all its
variants in under two minutes on a two-core CPU.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from rnnstudio.data.load import SAMPLE_PREFIX, sample_defaults
from rnnstudio.data.samples import SAMPLES, sample_name, sample_params, split_sample_name
from rnnstudio.errors import StudioError
from rnnstudio.recipe import Recipe, describe_field, recipe_from_dict

__all__ = ["Control", "Lesson", "LESSONS", "register_lesson", "list_lessons", "get_lesson", "run_lesson", "lesson_runs"]

SAMPLE_FIELD = "sample."  # a control named "sample.distance" sets that parameter of the lesson's sample


@dataclass(frozen=True)
class Control:
    """The one knob of a lesson: a Recipe field (``train.learning_rate``) or a sample parameter (``sample.distance``)."""

    field: str
    label: str
    default: float
    min: float
    max: float
    step: float
    help: str = ""
    log: bool = False  # offer the values on a logarithmic ladder (learning rates)

    @property
    def is_sample_parameter(self) -> bool:
        return self.field.startswith(SAMPLE_FIELD)

    def check(self, value: Any) -> float | int:
        """``value`` as a number inside the control's range, else a StudioError saying the range."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not self.min <= number <= self.max:
            raise StudioError(f"{self.label} must be a number from {self.min:g} to {self.max:g}; got {value!r}.",
                              fix=f"Move the {self.label.lower()} control inside its range.", field=self.field)
        return int(round(number)) if isinstance(self.step, int) else number


@dataclass(frozen=True)
class Lesson:
    """One classroom experiment.

    Attributes:
        key: Short id (used in URLs, run names and the command line).
        title: What the lesson is about, in a few words.
        paragraph: The explanation a teacher reads out, in plain words.
        base: The Recipe every variant starts from (as a dict; validated in ``recipes``).
        control: The one knob the class may move.
        variants: Name → dotted Recipe overrides; each variant is the base with these applied.
        varies: The Recipe fields the variants differ in (nothing else may differ).
        look_at: What to look at in the results.
        views: Which result views help: "curves", "gradients_in_time", "attention".
    """

    key: str
    title: str
    paragraph: str
    base: dict
    control: Control
    variants: dict[str, dict[str, Any]]
    varies: tuple[str, ...]
    look_at: str
    views: tuple[str, ...] = ("curves",)
    metrics: tuple[str, ...] = field(default=("val_accuracy", "val_loss"))

    def recipes(self, value: Any = None) -> dict[str, Recipe]:
        """The validated Recipe of every variant for the control at ``value`` (default: the control's default)."""
        value = self.control.check(self.control.default if value is None else value)
        base = recipe_from_dict(self.base)
        if self.control.is_sample_parameter:
            name, params = split_sample_name(base.data.source.removeprefix(SAMPLE_PREFIX))
            params = {**params, self.control.field.removeprefix(SAMPLE_FIELD): value}
            sample_params(name, params)  # refuses a value the sample cannot take
            base = base.with_overrides({"data.source": SAMPLE_PREFIX + sample_name(name, **params)})
        else:
            base = base.with_overrides({self.control.field: value})
        return {variant: base.with_overrides({**overrides, "name": f"{self.title}: {variant}"})
                for variant, overrides in self.variants.items()}

    def locked_fields(self) -> list[tuple[str, Any]]:
        """(field, value) of the settings that stay fixed, for showing them read-only."""
        recipe = recipe_from_dict(self.base)
        data = recipe.to_dict()
        fields = ["data.source", "model.name", "model.cell", "model.units", "model.layers", "model.bidirectional",
                  "model.pooling", "model.dropout", "train.optimizer", "train.learning_rate", "train.clip",
                  "train.epochs", "train.batch_size", "train.seed"]
        shown = []
        for dotted in fields:
            if dotted == self.control.field or dotted in self.varies:
                continue
            section, _, name = dotted.partition(".")
            if name in data.get(section, {}):
                shown.append((dotted, data[section][name]))
        return shown


LESSONS: dict[str, Lesson] = {}


def register_lesson(lesson: Lesson) -> Lesson:
    """Adds ``lesson``; refuses a duplicate key, a control out of its range or variants that change other fields."""
    if lesson.key in LESSONS:
        raise ValueError(f"lesson {lesson.key!r} is already registered")
    control = lesson.control
    if not control.min <= control.default <= control.max:
        raise ValueError(f"{lesson.key}: the control's default is outside its range")
    if control.is_sample_parameter:
        source = lesson.base["data"]["source"]
        name = split_sample_name(source.removeprefix(SAMPLE_PREFIX))[0]
        if control.field.removeprefix(SAMPLE_FIELD) not in {p.name for p in SAMPLES[name].params}:
            raise ValueError(f"{lesson.key}: sample {name!r} has no parameter for {control.field!r}")
    else:
        describe_field(control.field)  # KeyError for a field the Recipe does not have
    for variant, overrides in lesson.variants.items():
        stray = sorted(set(overrides) - set(lesson.varies))
        if stray:
            raise ValueError(f"{lesson.key}: variant {variant!r} changes {stray}, which are not in varies")
    LESSONS[lesson.key] = lesson
    return lesson


def list_lessons() -> list[Lesson]:
    return list(LESSONS.values())


def get_lesson(key: str) -> Lesson:
    if key not in LESSONS:
        raise StudioError(f"there is no lesson '{key}'.", fix=f"Choose one of: {', '.join(LESSONS)}.")
    return LESSONS[key]


def _sequence_base(source: str, *, model: dict, train: dict, data: dict | None = None) -> dict:
    # Shared by every lesson: a fixed seed, no early stopping (curves run the full length), no TensorBoard files,
    # and a probe after every epoch however short (monitor_budget 0), since the pictures are the point.
    return {"data": {"source": source, **sample_defaults(source), **(data or {}), "seed": 7},
            "model": {"name": "rnn", "dropout": 0.0, **model},
            "train": {"early_stopping": False, "schedule": "constant", "tensorboard": False, "seed": 7, "monitor_budget": 0.0,
                      **train}}


# ---------------------------------------------------------------- the lessons

register_lesson(Lesson(
    key="memory",
    title="Long-range memory",
    paragraph=(
        "Each series is a stream of random symbols with one marker near the start; the network must say which symbol "
        "came right after the marker, once it has read the whole series. The further the marker lies from the end, "
        "the longer the network has to "
        "remember it. A plain recurrent network (SimpleRNN) squeezes its memory through the same tanh at every step, so "
        "the symbol's trace, and the gradient that should teach it, fades a little at each step. LSTM and GRU cells "
        "have gates that can keep a value unchanged for as long as needed. All three are trained on the same data "
        "with the same seed; only the cell differs."),
    base=_sequence_base("sample:recall?distance=20&window=10&symbols=2&rows=1500",
                        model={"cell": "lstm", "units": 32, "pooling": "last"},
                        train={"epochs": 30, "batch_size": 32, "learning_rate": 0.01}),
    control=Control("sample.distance", "Distance", 20, 5, 60, 5,
                    help="Steps between the symbol and the end of the series: how long it must be remembered."),
    variants={"SimpleRNN": {"model.cell": "simple_rnn"}, "GRU": {"model.cell": "gru"}, "LSTM": {"model.cell": "lstm"}},
    varies=("model.cell",),
    look_at=("Validation accuracy: at a distance of 20 steps the SimpleRNN stays at chance (50 %) while GRU and LSTM "
             "reach 100 % (each after its own number of epochs). In the gradient-through-time heatmaps every row is "
             "an epoch and every column a time step; the marker sits in the first ten columns. Compare, row by row, "
             "how much gradient reaches those early columns, and how the picture changes once a network has learnt "
             "the task. From about 40 steps on, the gated cells too need more epochs than a lesson allows."),
    views=("curves", "gradients_in_time"),
))

register_lesson(Lesson(
    key="clipping",
    title="Exploding gradients and clipping",
    paragraph=(
        "The learning rate sets how far each step moves the weights along the gradient. In a recurrent network the "
        "gradient is a product over many time steps, so now and then it is suddenly huge, and one step with a high "
        "learning rate throws the weights so far that the loss jumps or becomes infinite. Gradient clipping caps the "
        "length of the gradient before the step: the direction is kept, the size is limited. The same network with "
        "the same data and seed is trained with and without clipping."),
    base=_sequence_base("sample:recall?distance=5&window=5&symbols=2&rows=1000",
                        model={"cell": "simple_rnn", "units": 32, "pooling": "last"},
                        train={"epochs": 15, "batch_size": 32, "optimizer": "sgd", "learning_rate": 0.3,
                               "clip_value": 1.0}),
    control=Control("train.learning_rate", "Learning rate", 0.3, 0.01, 3.0, 0.01, log=True,
                    help="Step size of SGD with momentum; from about 0.1 up the unclipped run is thrown around."),
    variants={"no clipping": {"train.clip": "none"}, "clipping at norm 1": {"train.clip": "norm"}},
    varies=("train.clip",),
    look_at=("At a learning rate of 0.3 the run without clipping jumps to a loss several times the starting one and "
             "stays at chance (50 %), or stops with a non-finite loss at higher rates; the clipped run learns the task "
             "within a few epochs. The gradient-norm charts show the spikes that clipping cuts off."),
    views=("curves", "gradient_norms"),
))

register_lesson(Lesson(
    key="attention",
    title="Bidirectional reading and attention",
    paragraph=(
        "Here the marked symbol can sit anywhere in the first part of the series, and the answer is read out at the end. "
        "A one-directional network must notice the symbol when it passes and carry it to the end. A bidirectional "
        "network also reads the series backwards, so every step's state knows what comes after it as well as what "
        "came before. Attention goes further: instead of relying on the last state, the network learns a weight for "
        "every step and takes their weighted average, so it can look straight back at the step that matters. The "
        "heatmap shows where it looked."),
    base=_sequence_base("sample:recall?distance=10&window=40&symbols=2&rows=1500",
                        model={"cell": "gru", "units": 32, "pooling": "last"},
                        train={"epochs": 12, "batch_size": 32, "learning_rate": 0.005}),
    control=Control("sample.window", "Where the symbol can be", 40, 5, 100, 5,
                    help="The symbol appears at a random step among this many at the start."),
    variants={"one direction": {}, "bidirectional": {"model.bidirectional": True},
              "bidirectional + attention": {"model.bidirectional": True, "model.pooling": "attention_additive"}},
    varies=("model.bidirectional", "model.pooling"),
    look_at=("Validation accuracy: the one-directional network stays at chance (50 %); the bidirectional one learns "
             "the task in a few epochs, and with attention it is nearly there after the first. The attention heatmap "
             "lights up at the step where the marked symbol sits, a different place in every series."),
    views=("curves", "attention"),
))

register_lesson(Lesson(
    key="overfitting",
    title="Overfitting and regularisation",
    paragraph=(
        "With only a few examples a big network can memorise them instead of learning the pattern: training accuracy "
        "climbs to 100 % while accuracy on examples it has not seen (validation) stops improving and its loss rises. "
        "Dropout switches off a random share of the units at every step, and weight decay pulls every weight a little "
        "towards zero; both make memorising harder. The same network is trained with and without them."),
    base=_sequence_base("sample:shapes?rows=120&noise=60",
                        model={"cell": "gru", "units": 128, "pooling": "last", "dropout": 0.5},
                        train={"epochs": 40, "batch_size": 16, "optimizer": "adamw", "learning_rate": 0.003,
                               "weight_decay": 0.05}),
    control=Control("model.dropout", "Dropout", 0.5, 0.1, 0.8, 0.05,
                    help="Share of units switched off at each training step in the regularised network."),
    variants={"no regularisation": {"model.dropout": 0.0, "train.weight_decay": 0.0},
              "dropout + weight decay": {}},
    varies=("model.dropout", "train.weight_decay"),
    look_at=("Training against validation curves: both networks drive the training loss towards zero, but without "
             "regularisation the validation loss drifts back up and ends higher than with dropout and weight decay. "
             "With so few examples the validation curves are jumpy: rerun both runs with several seeds on the Runs "
             "page to see how much of the difference is real."),
    views=("curves", "train_vs_val"),
    metrics=("val_loss", "loss"),
))

register_lesson(Lesson(
    key="depth",
    title="Depth, residual connections and layer normalisation",
    paragraph=(
        "Stacking recurrent layers lets later layers build on what earlier ones found, but a deep stack is harder to "
        "train: the gradient must pass through every layer as well as every time step. A residual connection adds "
        "each layer's input to its output, giving the gradient a short path around the layer; layer normalisation "
        "keeps every layer's outputs on the same scale. One layer, a plain deep stack and a deep stack with both are "
        "trained on the same data with the same seed."),
    base=_sequence_base("sample:recall?distance=15&window=10&symbols=2&rows=1500",
                        model={"cell": "gru", "units": 32, "pooling": "last", "layers": 4},
                        train={"epochs": 16, "batch_size": 32, "learning_rate": 0.01}),
    control=Control("model.layers", "Layers in the deep stacks", 4, 2, 6, 1,
                    help="Recurrent layers stacked in the two deep networks."),
    variants={"1 layer": {"model.layers": 1}, "deep": {},
              "deep + residual + layer norm": {"model.residual": True, "model.layer_norm": True}},
    varies=("model.layers", "model.residual", "model.layer_norm"),
    look_at=("How many epochs each network needs before the validation accuracy leaves chance (50 %): with residual "
             "connections and layer normalisation the deep stack learns the task in the first epoch or two, while "
             "the plain deep stack and the single layer sit at chance for many epochs before they find it."),
    views=("curves", "gradient_norms"),
    metrics=("val_accuracy", "loss"),
))


# ---------------------------------------------------------------- running a lesson

def run_lesson(key: str, value: Any = None, *, registry=None, owner: str | None = None) -> list:
    """Queues every variant of lesson ``key`` (control at ``value``) as one group of runs; returns their RunInfos.

    The queue trains them one after another, in the order the lesson lists them.
    """
    from rnnstudio.runs.jobs import submit

    lesson = get_lesson(key)
    recipes = lesson.recipes(value)
    value = lesson.control.check(lesson.control.default if value is None else value)
    group = f"lesson-{lesson.key}-{uuid.uuid4().hex[:8]}"
    return [submit(recipe, registry=registry, owner=owner,
                   group={"id": group, "kind": "lesson", "lesson": lesson.key, "label": variant, "value": value})
            for variant, recipe in recipes.items()]


def lesson_runs(registry, group: str) -> dict[str, Any]:
    """Variant label → RunInfo of the runs queued together as ``group``, in the lesson's order."""
    from rnnstudio.runs.groups import group_members

    return {run.summary["group"]["label"]: run for run in group_members(registry, group)}
