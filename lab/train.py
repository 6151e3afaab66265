"""Train one network on one dataset, resumably, and record everything needed to trust the numbers.

:func:`train` is the one entry point: it checks every parameter before any work, then returns the stored metrics of
a finished run whose fingerprint still holds, or trains it (or resumes it, after its last checkpointed epoch) with the
paper's optimizer and learning-rate schedule for the network (`lab.schedules`), scaled to the run's real length.
The pieces, one concern each:

- `lab.runs`: the run's folder ``<results>/runs/<run_id>/`` (``config.json`` with every parameter, the fingerprint
  and provenance; ``history.csv``; ``metrics.json``; ``model.weights.h5``; ``checkpoints/``), its reuse while its
  fingerprint (:data:`lab.fingerprint.RUN_CODE`, the packages) holds, and reading it back (`lab.runs.load_model`);
- `lab.loop`: the training loop, a checkpoint every epoch, and the exact resume of a killed run;
- `lab.schedules`: the published recipes (`lab.schedules.RECIPES`) and their learning-rate schedules.

:func:`run` trains from a preset (``lab/presets/<name>.yaml``) with overrides; ``python -m lab.train`` is its CLI.
Cheap to import (no TensorFlow until a run is trained): the command line answers ``--help`` and rejects a bad
preset, network or ``--set`` at once.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
from typing import Any, Mapping, Sequence

import yaml

from lab import paper, presets, runs, sources, validate
from lab.fingerprint import RUN_CODE, RUN_PACKAGES, fingerprint

STRATEGIES = ("default", "mirrored", "multiworker")
VERBOSITIES = ("auto", "epoch", 0, 1, 2)  # `verbose` of train


# --------------------------------------------------------------------------------------------------- parameters
def _mask(model: str, binarizer: str, lab_blocks) -> str | None:
    """``lab_blocks`` as a mask string ("1011"; ``None`` = every stage), or ``None`` for the sign baseline, where it
    means nothing."""
    import lab.models
    from lab.models.common import parse_mask

    flags = parse_mask(lab_blocks, lab.models.NUM_STAGES[model])
    return None if binarizer == "sign" else "".join("1" if flag else "0" for flag in flags)


def check_params(p: dict[str, Any]) -> dict[str, Any]:
    """Validate the parameters of :func:`train` (``ValueError`` naming the first bad one) and normalise them."""
    import lab.models as models  # TensorFlow: imported once a run is asked for
    from lab.schedules import SCHEDULES

    for name, allowed in (("model", models.NAMES), ("binarizer", models.BINARIZERS), ("dataset", sources.DATASETS),
                          ("strategy", STRATEGIES), ("lr_schedule", (None, *SCHEDULES))):
        validate.choice(name, p[name], allowed)
    p["lab_blocks"] = _mask(p["model"], p["binarizer"], p["lab_blocks"])
    if p["lab_blocks"] is not None and "1" not in p["lab_blocks"]:  # no stage uses it: the sign baseline, one run
        p["binarizer"], p["lab_blocks"] = "sign", None
    validate.require(validate.is_number(p["width"]) and p["width"] > 0, "width",
                     "a positive number (1.0 = the published network)", p["width"])
    p["image_size"] = p["image_size"] or sources.DEFAULT_IMAGE_SIZE[p["dataset"]]
    validate.integer("image_size", p["image_size"], models.MIN_INPUT_SIDE)
    for name in ("epochs", "batch_size"):
        validate.integer(name, p[name], 1)
    for name in ("train_examples", "validation_examples", "steps_per_epoch"):
        validate.integer(name, p[name], 1, none=True)
    validate.number("learning_rate", p["learning_rate"], 0, strict=True, none=True)
    validate.number("warmup_epochs", p["warmup_epochs"], 0, none=True)
    validate.integer("seed", p["seed"], 0)
    for name in ("run_eagerly", "jit_compile"):
        validate.require(isinstance(p[name], bool), name, "True or False", p[name])
    validate.choice("verbose", p["verbose"], VERBOSITIES)
    run_id = p["run_id"]
    validate.require(run_id is None or isinstance(run_id, str) and run_id and not set(run_id) & set("/\\ ")
                     and not run_id.startswith("."), "run_id", "a non-empty folder name without '/', '\\' or spaces",
                     run_id)
    return p


def check_known(where: str, keys) -> None:
    """``ValueError("<where>: unknown training parameters [...]")`` unless every key is a parameter of :func:`train`."""
    unknown = sorted(set(keys) - set(presets.TRAIN_PARAMETERS))
    if unknown:
        raise ValueError(f"{where}: unknown training parameters {unknown}; choose from {presets.TRAIN_PARAMETERS}")


# --------------------------------------------------------------------------------------------------- training
def train(*, model: str, binarizer: str = "sign", lab_blocks: str | Sequence[bool] | None = None,
          width: float = 1.0, dataset: str = "digits", image_size: int | None = None, epochs: int = 1,
          batch_size: int = 64, learning_rate: float | None = None, lr_schedule: str | None = None,
          warmup_epochs: float | None = None, seed: int = 0, strategy: str = "default",
          train_examples: int | None = None, validation_examples: int | None = None,
          steps_per_epoch: int | None = None, deterministic: bool = False, data_dir: str | None = None,
          download: bool = False, run_id: str | None = None, results_root: str | os.PathLike | None = None,
          verbose: int | str = "auto", run_eagerly: bool = False, jit_compile: bool = False) -> dict[str, Any]:
    """Train ``model`` on ``dataset`` (or resume it, or return a finished run's metrics while its fingerprint holds:
    see the module docstring) and return its metrics (with ``"stale": [reasons]`` for a stale run kept by
    ``LAB_KEEP_STALE=1``).

    Args:
        model: one of ``lab.models.NAMES``.
        binarizer: activation binarizer of the binary layers: "sign" (the network's own), "lab", "niblack",
            "sauvola".
        lab_blocks: stages that use ``binarizer`` (the rest use sign): mask string "1011" or bools; None = all.
        width: width multiplier (1.0 = the published network).
        dataset: one of ``lab.data.DATASETS``; image_size: its side at the model input (None = dataset default).
        epochs, batch_size: training length and global batch size.
        learning_rate, lr_schedule, warmup_epochs: override the paper's recipe (`lab.schedules.RECIPES`).
        seed: seeds weights, shuffling and augmentation (epoch ``e``'s from ``(seed, e)`` alone).
        deterministic: also turn on TF op determinism (for the rest of the process: TF cannot turn it off).
        strategy: "default", "mirrored" or "multiworker" (``tf.distribute``).
        train_examples, validation_examples: use only the first N examples of a split.
        steps_per_epoch: cap on batches per epoch.
        data_dir, download: where the dataset lives; whether TFDS may download it.
        run_id: results folder name (default: derived from the parameters, see `lab.runs.default_run_id`).
        results_root: results root (default ``$LAB_RESULTS``, else ``<repo>/results``).
        verbose: Keras verbosity 0, 1 or 2, "auto" (progress bar on a terminal, one line per epoch otherwise) or
            "epoch" (one line per epoch that starts with the run id: for several runs writing to one log).
        run_eagerly: run the steps eagerly instead of tracing them into a graph: the same computation, faster for
            a handful of tiny steps (the smoke preset) where tracing costs more than training.
        jit_compile: compile the training and evaluation steps with XLA. Off by default: on this project's CPU
            runs it is several times slower, and it refuses QuickNet under op determinism
            (`python -m lab.bench cpu-run` measures it); on a GPU it may pay.
    """
    started = time.perf_counter()
    params = _with_run_id(check_params({k: v for k, v in locals().items() if k != "started"}))
    run_dir = runs.run_path(params["run_id"], params.pop("results_root"))
    current = fingerprint(code=RUN_CODE, packages=RUN_PACKAGES)
    stored = runs.reuse_or_clear(run_dir, params, current)
    if stored is not None:
        return stored
    from lab import loop

    return loop.fit(params, run_dir, current, started=started)


def _with_run_id(params: dict[str, Any]) -> dict[str, Any]:
    """Checked parameters with their run id: the given one, else `lab.runs.default_run_id`."""
    params["run_id"] = params["run_id"] or runs.default_run_id(params)
    return params


# --------------------------------------------------------------------------------------------------- presets
def run(preset: str, *, overrides: Mapping[str, Any] | str | None = None, **params) -> dict[str, Any]:
    """Train with ``preset``'s parameters updated by ``params`` and ``overrides`` (a mapping, or its JSON / YAML
    text as papermill's ``-p`` passes a notebook's parameter: `lab.validate.as_dict`); a finished identical run is
    reused. A preset with ``use_recipe: true`` takes epochs and batch size from the network's published recipe, its
    ``per_model`` entry for the network comes over that."""
    settings = presets.load(preset)
    extra = validate.as_dict(overrides, "overrides")
    both = sorted(set(params) & set(extra))
    validate.require(not both, "overrides", "free of the parameters given on their own", both)
    return train(**preset_params(settings, **params, **extra))


def preset_params(settings: presets.Preset, **params) -> dict[str, Any]:
    """The parameters of `train` for a run of the preset ``settings`` (`lab.presets.load`): its ``train:`` section,
    the network's recipe epochs and batch size where ``use_recipe``, its ``per_model`` entry, then ``params``."""
    check_known("overrides", params)
    from lab.schedules import RECIPES

    model = params.get("model")
    chosen = dict(settings.train)
    if settings.use_recipe and model in RECIPES:
        chosen.update(epochs=RECIPES[model].epochs, batch_size=RECIPES[model].batch_size)
    chosen.update(settings.per_model.get(model, {}))
    chosen.update(params)
    return chosen


def planned_params(settings: presets.Preset, **params) -> dict[str, Any]:
    """The checked parameters, run id included, of the run ``run(settings.name, **params)`` would train or reuse
    (what `lab.batch_plan` shows before a batch)."""
    defaults = {name: p.default for name, p in inspect.signature(train).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return _with_run_id(check_params({**defaults, **preset_params(settings, **params)}))


# --------------------------------------------------------------------------------------------------- CLI
OWN_OPTIONS = ("model", "binarizer", "lab_blocks")  # parameters the CLI sets with options of their own


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``--set`` items ``key=value`` (values in YAML syntax) as a dict; ``ValueError`` naming a malformed item, an
    unknown key, or a key given twice (or also set by its own option), which would otherwise silently win."""
    overrides = {}
    for item in items:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise ValueError(f"--set: expected KEY=VALUE, got {item!r}")
        check_known("--set", [key])
        if key in OWN_OPTIONS:
            raise ValueError(f"--set: {key!r} has its own option, --{key.replace('_', '-')}")
        if key in overrides:
            raise ValueError(f"--set: {key!r} given twice ({key}={overrides[key]!r} and {item})")
        overrides[key] = yaml.safe_load(value)
    return overrides


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """``python -m lab.train --preset smoke --model birealnet --binarizer lab [--set key=value ...] ...``."""
    parser = argparse.ArgumentParser(prog="python -m lab.train", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke", choices=presets.PRESETS)
    parser.add_argument("--model", required=True, help=f"one of {', '.join(paper.MODELS)}")
    parser.add_argument("--binarizer", default="sign")
    parser.add_argument("--lab-blocks", default=None, help="mask string, e.g. 1011")
    parser.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more overrides, values in YAML syntax; repeatable (--set epochs=3 width=0.5 --set "
                             "run_id=foo)")
    args = parser.parse_args(argv)
    try:
        validate.choice("model", args.model, paper.MODELS)
        overrides = parse_overrides(args.set)
    except ValueError as error:
        parser.error(str(error))
    metrics = run(args.preset, model=args.model, binarizer=args.binarizer, lab_blocks=args.lab_blocks, **overrides)
    print(json.dumps(metrics, indent=2, default=str))
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
