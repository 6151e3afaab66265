"""Presets: the scales a reproduction runs at, each ``lab/presets/<name>.yaml`` read here and only here.

`load` returns a typed, checked `Preset`; a key it does not know, at any level, is an error naming the key and the
allowed ones (a typo never silently falls back to a default). The fields, as a preset's YAML spells them:

``train``
    Parameters of `lab.train.train` every run of the preset uses (`TRAIN_PARAMETERS`; checked there).
``per_model``
    ``{network: {train parameter: value, why: text}}``: adjustments of single networks, applied over ``train``;
    ``why`` (required) says why, and the tables' notes show it (`Preset.deviations`).
``use_recipe``
    ``true``: each network's epochs and batch size come from its published recipe (`lab.schedules.RECIPES`).
``models``
    The networks of Table A, the LAB-BNN table and the training notebook (`lab.paper.MODELS`).
``ablation_model``, ``ablation_masks``
    Table B: the network whose stages get LAB and the stage masks ("1011": LAB in stages 1, 3 and 4).
``seeds``, ``ablation_seeds``
    The seeds every configuration runs with (tables show their mean); Table B's (default: ``seeds``).
``jobs``
    Processes for the batch work that times nothing (training, conversion), each with its share of the cores.
``deployment_shape``
    ``{input_shape: [height, width, channels], width: multiplier, num_classes}``: where the tables measure latency
    and size (`lab.deployment`), on freshly initialised networks (the paper's: 224x224x3, width 1, 1000 classes).
``edge``
    The edge-latency study's settings (`Edge`: networks, input size, width, timing runs).
``notebooks``
    The notebooks `lab.reproduce` runs at this preset when not told (``--only``) which (default: all of them): a
    preset made for one figure names its notebook, so that a plain ``make reproduce PRESET=...`` trains only that.

Cheap to import: no TensorFlow.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

import yaml

from lab import paper, provenance, validate

PRESET_DIR = Path(__file__).resolve().parent / "presets"
PRESETS = ("smoke", "cpu", "cpu-long", "cpu-wide", "imagenette", "imagenet")
MIN_INPUT_SIDE = 28  # the smallest side the network builders accept (`lab.models.MIN_INPUT_SIDE` is this one)
# The keyword parameters of `lab.train.train`, which a preset's `train:` and `per_model:` sections may set (a test
# holds this list equal to the signature, so that checking a preset needs no TensorFlow).
TRAIN_PARAMETERS = (
    "model", "binarizer", "lab_blocks", "width", "dataset", "image_size", "epochs", "batch_size", "learning_rate",
    "lr_schedule", "warmup_epochs", "seed", "strategy", "train_examples", "validation_examples", "steps_per_epoch",
    "deterministic", "data_dir", "download", "run_id", "results_root", "verbose", "run_eagerly",
    "jit_compile")


@dataclasses.dataclass(frozen=True)
class Shape:
    """Where graphs are measured: input (height, width, channels), width multiplier, classes."""

    input_shape: tuple[int, int, int] = (224, 224, 3)
    width: float = 1.0
    num_classes: int = 1000

    FORM = ("{input_shape: [height, width, channels] (integers, sides >= 28), width: a number in (0, 4], "
            "num_classes: an integer >= 2}")

    @classmethod
    def parse(cls, value: Any) -> "Shape":
        """A preset's ``deployment_shape`` mapping as a `Shape`, or ValueError naming the key and its form."""
        name = "deployment_shape"
        validate.require(isinstance(value, Mapping) and set(value) == {"input_shape", "width", "num_classes"},
                         name, f"deployment_shape: {cls.FORM}", value)
        side, width, classes = value["input_shape"], value["width"], value["num_classes"]
        ok = (isinstance(side, (list, tuple)) and len(side) == 3 and all(validate.is_number(s, (int,)) for s in side)
              and min(side[:2]) >= MIN_INPUT_SIDE and side[2] >= 1 and validate.is_number(classes, (int,))
              and classes >= 2 and validate.is_number(width) and 0 < width <= 4)
        validate.require(ok, name, f"deployment_shape: {cls.FORM}", value)
        return cls(tuple(side), float(width), classes)

    @property
    def label(self) -> str:
        """``224x224x3``."""
        return "x".join(map(str, self.input_shape))

    @property
    def description(self) -> str:
        """``224x224x3, width 1, 1000 classes``: the shape as a table note states it."""
        return f"{self.label}, width {self.width:g}, {self.num_classes} classes"

    @property
    def folder(self) -> Path:
        """``<results>/deploy224``: the cache of this shape (other widths or classes get their own folder)."""
        h, w, c = self.input_shape
        is_paper = h == w and c == 3 and self.width == 1.0 and self.num_classes == 1000
        name = f"deploy{h}" if is_paper else f"deploy{self.label}-w{self.width:g}-{self.num_classes}cls"
        return provenance.results_root() / name

    def build_args(self) -> dict[str, Any]:
        """Keyword arguments of `lab.models.build`."""
        return {"input_shape": self.input_shape, "width": self.width, "num_classes": self.num_classes}


@dataclasses.dataclass(frozen=True)
class Edge:
    """The edge-latency study (`lab.edge`): the networks, measured at ``input_size`` and ``width`` (the paper's
    shape by default), each timed ``runs`` times after ``warmup`` runs, each op profiled ``profile_runs`` times."""

    networks: tuple[str, ...] = paper.NETWORKS
    input_size: int = 224
    width: float = 1.0
    runs: int = 20
    warmup: int = 3
    profile_runs: int = 5

    @classmethod
    def parse(cls, value: Any) -> "Edge":
        """A preset's ``edge`` mapping over the defaults, checked."""
        value = dict(value or {})
        validate.known_keys("edge", value, [f.name for f in dataclasses.fields(cls)])
        edge = cls(**{**value, "networks": tuple(validate.choices("edge.networks", value.get(
            "networks", cls.networks), paper.MODELS))})
        validate.integer("edge.input_size", edge.input_size, MIN_INPUT_SIDE)
        validate.number("edge.width", edge.width, 0, 4, strict=True)
        validate.integer("edge.runs", edge.runs, 1)
        validate.integer("edge.warmup", edge.warmup, 0)
        validate.integer("edge.profile_runs", edge.profile_runs, 1)
        return edge


def _masks(name: str, value: Any) -> tuple[str, ...]:
    masks = validate.as_list(value, name)
    validate.require(masks and all(isinstance(m, str) and m and set(m) <= {"0", "1"} for m in masks), name,
                     "a non-empty list of '0'/'1' stage-mask strings", masks)
    return tuple(masks)


def _seeds(name: str, value: Any) -> tuple[int, ...]:
    seeds = validate.as_list(value, name)
    validate.require(seeds and all(validate.is_number(s, (int,)) and s >= 0 for s in seeds), name,
                     "a non-empty list of integers >= 0", seeds)
    return tuple(seeds)


def _notebooks(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = validate.as_list(value, "notebooks")
    validate.require(names and all(isinstance(n, str) and n for n in names), "notebooks",
                     "a non-empty list of notebook names (notebooks/<name>.ipynb, without .ipynb)", names)
    return tuple(names)


def _train_section(name: str, value: Any) -> dict[str, Any]:
    validate.require(isinstance(value, Mapping), name, "a mapping of lab.train.train parameters", value)
    validate.known_keys(name, value, TRAIN_PARAMETERS)
    return dict(value)


def _per_model_entry(name: str, value: Any) -> tuple[dict[str, Any], str]:
    """A ``per_model`` entry: its `lab.train.train` parameters and the ``why`` that justifies them (required: a
    deviation from the paper's recipe is shown with its reason in the tables' notes)."""
    validate.require(isinstance(value, Mapping), name, "a mapping of lab.train.train parameters and `why`", value)
    params = _train_section(name, {k: v for k, v in value.items() if k != "why"})
    why = value.get("why")
    validate.require(isinstance(why, str) and why.strip(), f"{name}.why", "a text saying why (required)", why)
    return params, why.strip()


@dataclasses.dataclass(frozen=True)
class Preset:
    """One preset, checked (see the module docstring for each field)."""

    name: str
    train: Mapping[str, Any]
    models: tuple[str, ...] = paper.MODELS
    ablation_model: str = "birealnet"
    ablation_masks: tuple[str, ...] = paper.MASKS
    seeds: tuple[int, ...] = (0,)
    ablation_seeds: tuple[int, ...] = ()
    jobs: int = 1
    per_model: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    deviations: Mapping[str, str] = dataclasses.field(default_factory=dict)  # network -> why per_model changes it
    use_recipe: bool = False
    deployment_shape: Shape = Shape()
    edge: Edge = Edge()
    notebooks: tuple[str, ...] | None = None  # None: every notebook (`lab.reproduce` checks the names)

    def train_params(self, model: str | None) -> dict[str, Any]:
        """The preset's `lab.train.train` parameters for ``model``: ``train`` updated by its ``per_model`` entry."""
        return {**self.train, **self.per_model.get(model, {})}


FIELDS = tuple(f.name for f in dataclasses.fields(Preset) if f.name not in ("name", "deviations"))


def parse(name: str, config: Any) -> Preset:
    """``config`` (a preset's YAML, as a mapping) as a checked `Preset` named ``name``."""
    validate.require(isinstance(config, Mapping) and "train" in config, f"preset {name}",
                     "a mapping with a `train:` section", config)
    validate.known_keys(f"preset {name}", config, FIELDS)
    per_model = config.get("per_model") or {}
    validate.require(isinstance(per_model, Mapping), "per_model", "a mapping {network: {parameter: value}}",
                     per_model)
    validate.known_keys("per_model", per_model, paper.MODELS)
    entries = {m: _per_model_entry(f"per_model.{m}", v) for m, v in per_model.items()}
    seeds = _seeds("seeds", config.get("seeds", [0]))
    preset = Preset(
        name=name, train=_train_section("train", config["train"]),
        models=tuple(validate.choices("models", config.get("models", paper.MODELS), paper.MODELS)),
        ablation_model=validate.choice("ablation_model", config.get("ablation_model", "birealnet"), paper.MODELS),
        ablation_masks=_masks("ablation_masks", config.get("ablation_masks", paper.MASKS)),
        seeds=seeds, ablation_seeds=_seeds("ablation_seeds", config.get("ablation_seeds", seeds)),
        jobs=validate.integer("jobs", config.get("jobs", 1), 1),
        per_model={m: params for m, (params, _) in entries.items()},
        deviations={m: why for m, (_, why) in entries.items()},
        use_recipe=config.get("use_recipe", False),
        deployment_shape=Shape.parse(config.get("deployment_shape", dataclasses.asdict(Shape()))),
        edge=Edge.parse(config.get("edge")), notebooks=_notebooks(config.get("notebooks")))
    validate.require(isinstance(preset.use_recipe, bool), "use_recipe", "true or false", preset.use_recipe)
    return preset


def check_name(name: Any) -> str:
    """``name`` if it names a preset."""
    return validate.choice("preset", name, PRESETS)


def load(name: str) -> Preset:
    """The preset ``lab/presets/<name>.yaml``, checked (`parse`)."""
    check_name(name)
    return parse(name, yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text()))
