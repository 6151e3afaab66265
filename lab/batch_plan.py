"""A batch's plan, before it trains anything: ``python -m lab.reproduce --preset P --plan`` (``make reproduce
PLAN=1``).

`plan` lists every run the batch would train up front (`lab.plans.planned_runs`), each with the epochs, batch size
and steps per epoch `lab.train.run` would give it (the preset, the network's published recipe where the preset says
``use_recipe``, its ``per_model`` entry) and whether a finished run would be reused or a stopped one resumed; where
lab found each dataset the runs need; and a rough estimate of the training time, from a couple of training steps
measured on this machine (`measure_step`). A missing dataset raises `lab.sources.DatasetNotFoundError` here, in
seconds, saying where lab looked and the command that gets it, instead of partway into a long batch. Nothing is
trained and nothing is written.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import os
import time
from pathlib import Path
from typing import Any, Sequence

from lab import plans, presets, runs, sources
from lab.fingerprint import RUN_CODE, RUN_PACKAGES, describe, fingerprint, keep_stale, stale_reasons, stored_json
from lab.processes import check_jobs
from lab.provenance import display_path

MEASURED_STEPS = 2  # timed training steps, after one that builds and traces the step
MEASURED_PIXELS = 8 * 224 * 224  # a measured batch holds at most 8 images of 224x224 (as many pixels when smaller)
VALIDATION_SHARE = 1 / 3  # a validation image (forward only) is taken to cost a third of a training image


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of the batch: its `lab.plans.Run`, its checked `lab.train.train` parameters (run id included), the
    steps and images of one of its epochs, and what the batch would do with it (``status``, ``epochs_left``)."""

    run: plans.Run
    params: dict[str, Any]
    steps_per_epoch: int
    train_images: int  # per epoch: min(examples, steps x batch), as lab.loop counts them
    validation_images: int
    status: str
    epochs_left: int


@dataclasses.dataclass(frozen=True)
class Step:
    """A measured training step: the run it belongs to, its batch, the seconds per training image (data included)
    and the seconds to build the network and trace its step, on ``device``."""

    label: str
    input_shape: tuple[int, ...]
    batch_size: int
    seconds_per_image: float
    overhead_s: float
    device: str


@dataclasses.dataclass(frozen=True)
class Plan:
    """What ``python -m lab.reproduce --preset P`` would train, where its data is, and how long it would take."""

    preset: str
    notebooks: tuple[str, ...]
    runs: tuple[PlannedRun, ...]
    data: dict[str, str]  # dataset -> where lab found it
    step: Step | None  # None when nothing is left to train
    jobs: int

    def seconds(self, run: PlannedRun) -> float:
        """The estimated seconds to train what is left of ``run`` (see `text`)."""
        if not run.epochs_left or self.step is None:
            return 0.0
        images = run.train_images + VALIDATION_SHARE * run.validation_images
        return self.step.overhead_s + run.epochs_left * images * self.step.seconds_per_image

    @property
    def estimate_s(self) -> float:
        """The estimated seconds to train every run left, one after the other."""
        return sum(self.seconds(run) for run in self.runs)

    def table(self) -> str:
        """The runs as a Markdown table."""
        from tabulate import tabulate

        rows = [(r.run.label, r.params["dataset"], f"{r.params['image_size']}", r.params["epochs"],
                 r.params["batch_size"], r.steps_per_epoch, r.train_images, r.validation_images, r.status,
                 duration(self.seconds(r))) for r in self.runs]
        return tabulate(rows, headers=("run", "dataset", "side", "epochs", "batch", "steps/epoch", "images/epoch",
                                       "validation images", "batch does", "estimate"), tablefmt="github")

    def text(self) -> str:
        """The plan in words: the runs, the data, the measured step and the estimate."""
        left = [r for r in self.runs if r.epochs_left]
        lines = [f"Plan of `python -m lab.reproduce --preset {self.preset}` (nothing trained, nothing written): "
                 f"{len(self.runs)} runs for the notebooks {', '.join(self.notebooks) or '(none)'}, "
                 f"{len(left)} to train, {len(self.runs) - len(left)} reused, in {self.jobs} process(es).", ""]
        lines += [self.table(), "", "Data (where lab found it):"]
        lines += [f"- {name}: {where}" for name, where in self.data.items()]
        if self.step is None:
            lines += ["", "Nothing to train: every run is finished and reused."]
            return "\n".join(lines)
        s = self.step
        shape = "x".join(map(str, s.input_shape))
        lines += ["", f"Measured on this machine's {s.device}: {MEASURED_STEPS} training steps of {s.label} at "
                      f"{shape}, batch {s.batch_size}: {1000 * s.seconds_per_image:.3g} ms per training image, after "
                      f"{s.overhead_s:.0f} s to build the network and trace its step.",
                  f"Estimated training time: about {duration(self.estimate_s)} for the {len(left)} runs left, one "
                  "after the other. A rough estimate on this machine"
                  f"{'' if 'GPU' in s.device else ' (a CPU estimate)'}: every network is taken to cost per image what "
                  f"{s.label} costs, a validation image a third of a training image, each run's build and trace "
                  f"what this one took{f'; the {self.jobs} processes share these cores' if self.jobs > 1 else ''}; "
                  "the deployment graphs, the notebooks and the report come on top."]
        return "\n".join(lines)


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h`` or ``12.3 days``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} days"


# --------------------------------------------------------------------------------------------- the runs
def _status(params: dict[str, Any], current: dict[str, Any], keep: bool) -> tuple[str, int]:
    """What the batch would do with the run of ``params`` (read only: `lab.runs.reuse_or_clear` acts on it) and
    how many of its epochs are left."""
    folder = runs.run_path(params["run_id"], params["results_root"])
    config = stored_json(folder / "config.json")
    if config is None:
        return "train", params["epochs"]
    finished = (folder / "metrics.json").exists()
    reasons = stale_reasons(config.get("fingerprint"), current)
    if reasons and not (finished and keep):
        return f"retrain ({describe(reasons, 'it ran')})", params["epochs"]
    if finished:
        return ("reuse, kept " + describe(reasons, "it ran")) if reasons else "reuse", 0
    done = _epochs_done(folder / "checkpoints")
    return (f"resume after epoch {done}" if done else "train"), params["epochs"] - done


def _epochs_done(checkpoints: os.PathLike) -> int:
    """The epochs a stopped run's last checkpoint holds (`lab.loop` numbers checkpoints by epoch)."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(checkpoints))
    return int(latest.rsplit("-", 1)[1]) if latest else 0


def _locate(params: dict[str, Any]) -> str:
    """Where lab finds the run's dataset (`lab.sources.locate`: `DatasetNotFoundError` when it is not there)."""
    where = sources.locate(params["dataset"], params["data_dir"])
    return display_path(where) if isinstance(where, Path) else where


@functools.lru_cache(maxsize=None)
def _sizes(dataset: str, data_dir, image_size: int, batch_size: int, train_examples, validation_examples,
           steps_per_epoch) -> tuple[int, int, int]:
    """Steps per epoch, training images per epoch and validation images, as the run's pipelines count them."""
    from lab import data

    common = dict(batch_size=batch_size, image_size=image_size, data_dir=data_dir)
    train = data.load(dataset, split="train", limit=train_examples, steps_per_epoch=steps_per_epoch, **common)
    val = data.load(dataset, split="validation", limit=validation_examples, **common)
    return train.steps_per_epoch, min(train.num_examples, train.steps_per_epoch * batch_size), val.num_examples


def planned(preset: str, notebooks: Sequence[str] | None = None, *,
            keep: bool = False) -> tuple[list[PlannedRun], dict[str, str]]:
    """The batch's runs (`lab.plans.planned_runs`) with their parameters, sizes and status, and where lab found
    their data; `DatasetNotFoundError` (where lab looked, the command that gets it) for the first missing dataset."""
    from lab import train

    settings = presets.load(preset)
    runs_ = plans.planned_runs(preset, notebooks=notebooks)
    params = [train.planned_params(settings, **run.overrides) for run in runs_]
    data = {}
    for p in params:  # every dataset first: a missing one stops the plan before anything is counted or timed
        data.setdefault(p["dataset"], _locate(p))
    _sizes.cache_clear()
    current = fingerprint(code=RUN_CODE, packages=RUN_PACKAGES)
    out = []
    for run, p in zip(runs_, params):
        sizes = _sizes(p["dataset"], p["data_dir"], p["image_size"], p["batch_size"], p["train_examples"],
                       p["validation_examples"], p["steps_per_epoch"])
        out.append(PlannedRun(run, p, *sizes, *_status(p, current, keep)))
    return out, data


# --------------------------------------------------------------------------------------------- the time
def measure_step(params: dict[str, Any], *, steps: int = MEASURED_STEPS) -> Step:
    """Time ``steps`` training steps of the run of ``params`` (`lab.train.planned_params`) on its own data, after one
    step that builds the network and traces the step, at the run's batch size or at most `MEASURED_PIXELS` pixels
    per batch (scaled per image). Seconds on this machine, nothing written."""
    import tensorflow as tf

    from lab import data, loop

    side = params["image_size"]
    batch = max(1, min(params["batch_size"], MEASURED_PIXELS // (side * side)))
    p = {**params, "batch_size": batch}
    pipeline = data.load(p["dataset"], split="train", batch_size=batch, image_size=side, data_dir=p["data_dir"],
                         limit=batch * (steps + 1), seed=p["seed"])
    started = time.perf_counter()
    net = loop.build_network(p, pipeline)
    batches = iter(pipeline.epochs(0, steps + 1).take(steps + 1))  # every epoch holds at least one batch
    net.train_on_batch(*next(batches))
    ready, images = time.perf_counter(), 0
    for x, y in batches:
        net.train_on_batch(x, y)
        images += int(x.shape[0])
    seconds = time.perf_counter() - ready
    device = "GPU" if tf.config.list_logical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    mask = p["lab_blocks"] if p["lab_blocks"] and "0" in p["lab_blocks"] else None  # LAB in some stages only
    label = " ".join(part for part in (p["model"], p["binarizer"], mask) if part)
    return Step(f"{label} (width {p['width']:g})", pipeline.input_shape, batch, seconds / images, ready - started,
                device)


def _measured(left: Sequence[PlannedRun]) -> PlannedRun:
    """The run whose step is timed: of the network with the most runs left, one with LAB where there is one (LAB
    costs a little more than sign)."""
    model = collections.Counter(r.run.model for r in left).most_common(1)[0][0]
    mine = [r for r in left if r.run.model == model]
    return next((r for r in mine if r.run.binarizer == "lab"), mine[0])


def plan(preset: str, *, notebooks: Sequence[str] | None = None, jobs: int | None = None,
         keep_stale_runs: bool = False) -> Plan:
    """The plan of the batch at ``preset`` (its table ``notebooks``, default all; ``jobs`` processes, default the
    preset's; ``keep_stale_runs`` as ``--keep-stale``, or ``LAB_KEEP_STALE=1``): see the module docstring."""
    settings = presets.load(preset)
    jobs = settings.jobs if jobs is None else check_jobs(jobs)
    names = tuple(n for n in (plans.RUNS_OF if notebooks is None else notebooks) if n in plans.RUNS_OF)
    runs_, data = planned(preset, notebooks, keep=keep_stale_runs or keep_stale())
    left = [r for r in runs_ if r.epochs_left]
    step = measure_step(_measured(left).params) if left else None
    return Plan(preset, names, tuple(runs_), data, step, jobs)
