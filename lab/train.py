"""Train one network on one dataset, resumably, and record everything needed to trust the numbers.

:func:`train` is the one entry point: it checks every parameter before any work, trains with the paper's optimizer
and learning-rate schedule for the network (scaled to the run's real length), checkpoints every epoch, and writes
``<results>/runs/<run_id>/``:

- ``config.json``: every parameter, the run's fingerprint (hashes of the ``lab/`` code that trains it and the
  package versions, :data:`lab.fingerprint.RUN_CODE`) and provenance (git commit, device);
- ``history.csv``: one row per epoch (training and validation loss/top-1/top-5, learning rate, seconds);
- ``metrics.json``: validation top-1/top-5/loss, parameter counts, deployed size, wall time, images/s, fingerprint;
- ``model.weights.h5``: the final weights (:func:`load_model` rebuilds the network around them);
- ``checkpoints/``: the per-epoch ``tf.train.CheckpointManager`` state.

**Resume.** A killed run started again resumes after its last checkpointed epoch and ends as the uninterrupted run
would (with ``deterministic=True``: the same history and bit-identical weights). The checkpoint holds the model,
the optimizer (step counter and Adam's moments, so the schedule goes on) and the history; epoch ``e``'s data order
and augmentation depend only on ``(seed, e)`` (:class:`lab.data.Pipeline`); nothing else in training draws random
numbers. Every write is atomic or committed by a later atomic one: a checkpoint counts once TensorFlow has
atomically replaced the ``checkpoints/checkpoint`` state file, ``history.csv`` and the weights are replaced whole,
and ``metrics.json``, written last, marks the run finished.

**Reuse.** A finished run (``metrics.json`` present) whose fingerprint still holds is not retrained: :func:`train`
returns its stored metrics. A run whose code or packages changed since (or that has no fingerprint) is stale: it is
cleared and trained again from scratch, with a line saying why (``<run_id>: stale: lab/quantizers.py changed since
this run; retraining``); a partial stale run is never resumed. With ``LAB_KEEP_STALE=1`` a finished stale run is
kept instead, and its metrics carry ``"stale": [reasons]``.

:func:`run` trains from a preset (``lab/presets/<name>.yaml``) with overrides; ``python -m lab.train`` is its CLI.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import tensorflow as tf
import yaml

from lab import data as lab_data
from lab import presets, provenance
from lab.fingerprint import KEEP_STALE_ENV, RUN_CODE, RUN_PACKAGES, describe, fingerprint, keep_stale, stale_reasons

STRATEGIES = ("default", "mirrored", "multiworker")
SCHEDULES = ("linear", "cosine", "step", "constant")
# Test hook: "<epoch>:<point>" makes the run SIGKILL itself at that point of that epoch (1-based), as a crash there
# would: "batch" after the epoch's first training step, "checkpoint" once the epoch's checkpoint files are written but
# before they are recorded as the latest, "history" after that but before history.csv is rewritten.
KILL_AT_ENV = "LAB_TEST_KILL_AT"
# Parameters that only say where or how loudly to run; they don't change the result, so they are not in the run id.
NON_IDENTITY = ("run_id", "results_root", "data_dir", "download", "verbose", "run_eagerly")
VERBOSITIES = ("auto", "epoch", 0, 1, 2)  # `verbose` of train


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A network's published training recipe (facts.md §3; authors' code, no distillation)."""

    epochs: int
    batch_size: int
    learning_rate: float
    schedule: str
    end_learning_rate: float = 0.0
    warmup_epochs: float = 0.0
    step_epochs: tuple[int, ...] = ()
    step_factors: tuple[float, ...] = ()


RECIPES = {
    # Adam 1e-4, x0.5 / x0.1 / x0.05 / x0.01 of the initial rate from epochs 19, 30, 44, 53 (of 60).
    "xnornet": Recipe(60, 128, 1e-4, "step", step_epochs=(19, 30, 44, 53), step_factors=(0.5, 0.1, 0.05, 0.01)),
    "birealnet": Recipe(150, 256, 2.5e-3, "linear", end_learning_rate=1e-6),
    "quicknet": Recipe(120, 512, 2.5e-3, "cosine", warmup_epochs=5),
    "reactnet": Recipe(75, 128, 2.5e-4, "linear"),
    "labbnn": Recipe(100, 256, 2.5e-3, "linear", end_learning_rate=1e-6),
}


class PaperSchedule(tf.keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0, then linear / cosine / step / constant decay over ``total_steps``.

    The decay length is the run's actual number of steps (epochs x batches per epoch), not ImageNet's.
    """

    def __init__(self, *, kind: str, learning_rate: float, total_steps: int, warmup_steps: int = 0,
                 end_learning_rate: float = 0.0, boundaries: Sequence[int] = (), factors: Sequence[float] = ()):
        super().__init__()
        self.kind, self.learning_rate, self.total_steps = kind, learning_rate, total_steps
        self.warmup_steps, self.end_learning_rate = warmup_steps, end_learning_rate
        self.boundaries, self.factors = list(boundaries), list(factors)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        lr0, end = self.learning_rate, self.end_learning_rate
        progress = tf.clip_by_value((step - self.warmup_steps) / max(self.total_steps - self.warmup_steps, 1), 0, 1)
        if self.kind == "linear":
            lr = end + (lr0 - end) * (1.0 - progress)
        elif self.kind == "cosine":
            lr = end + (lr0 - end) * 0.5 * (1.0 + tf.cos(math.pi * progress))
        elif self.kind == "step":
            index = tf.searchsorted(tf.constant(self.boundaries, tf.float32), [step], side="right")[0]
            lr = tf.gather(tf.constant([1.0, *self.factors], tf.float32), index) * lr0
        else:
            lr = tf.constant(lr0, tf.float32)
        if self.warmup_steps:
            lr = tf.where(step < self.warmup_steps, lr0 * (step + 1.0) / self.warmup_steps, lr)
        return lr

    def get_config(self):
        return {"kind": self.kind, "learning_rate": self.learning_rate, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "end_learning_rate": self.end_learning_rate,
                "boundaries": self.boundaries, "factors": self.factors}


def schedule_for(model: str, *, epochs: int, steps_per_epoch: int, learning_rate: float | None = None,
                 lr_schedule: str | None = None, warmup_epochs: float | None = None) -> PaperSchedule:
    """The paper's schedule for ``model`` stretched to ``epochs`` x ``steps_per_epoch``, with optional overrides.

    Epoch-based landmarks (warm-up length, step boundaries) keep their share of the published run: QuickNet's 5 of
    120 warm-up epochs become 5/120 of this run.
    """
    recipe = RECIPES[model]
    scale = epochs / recipe.epochs
    warmup = recipe.warmup_epochs * scale if warmup_epochs is None else warmup_epochs
    return PaperSchedule(
        kind=lr_schedule or recipe.schedule, learning_rate=learning_rate or recipe.learning_rate,
        total_steps=epochs * steps_per_epoch, warmup_steps=round(warmup * steps_per_epoch),
        end_learning_rate=recipe.end_learning_rate,
        boundaries=[round(e * scale * steps_per_epoch) for e in recipe.step_epochs], factors=recipe.step_factors)


# --------------------------------------------------------------------------------------------------- parameters
def _models():
    """``lab.models``, imported late so that ``lab.train`` imports without building anything."""
    import lab.models

    return lab.models


def _require(ok: bool, name: str, what: str, value) -> None:
    """Raise ``ValueError("<name>: must be <what>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{name}: must be {what}, got {value!r}")


def _is_number(value, kinds=(int, float)) -> bool:
    return isinstance(value, kinds) and not isinstance(value, bool)


def _mask(model: str, binarizer: str, lab_blocks) -> str | None:
    """``lab_blocks`` as a mask string ("1011"; ``None`` = every stage), or ``None`` for the sign baseline, where it
    means nothing."""
    from lab.models.common import parse_mask

    flags = parse_mask(lab_blocks, _models().NUM_STAGES[model])
    return None if binarizer == "sign" else "".join("1" if flag else "0" for flag in flags)


def check_params(p: dict[str, Any]) -> dict[str, Any]:
    """Validate the parameters of :func:`train` (``ValueError`` naming the first bad one) and normalise them."""
    models = _models()
    for name, allowed in (("model", models.NAMES), ("binarizer", models.BINARIZERS), ("dataset", lab_data.DATASETS),
                          ("strategy", STRATEGIES), ("lr_schedule", (None, *SCHEDULES))):
        _require(p[name] in allowed, name, f"one of {allowed}", p[name])
    p["lab_blocks"] = _mask(p["model"], p["binarizer"], p["lab_blocks"])
    if p["lab_blocks"] is not None and "1" not in p["lab_blocks"]:  # no stage uses it: the sign baseline, one run
        p["binarizer"], p["lab_blocks"] = "sign", None
    _require(_is_number(p["width"]) and p["width"] > 0, "width", "a positive number (1.0 = the published network)",
             p["width"])
    p["image_size"] = p["image_size"] or lab_data.DEFAULT_IMAGE_SIZE[p["dataset"]]
    _require(_is_number(p["image_size"], int) and p["image_size"] >= models.MIN_INPUT_SIDE, "image_size",
             f"an integer >= {models.MIN_INPUT_SIDE}", p["image_size"])
    for name in ("epochs", "batch_size"):
        _require(_is_number(p[name], int) and p[name] > 0, name, "a positive integer", p[name])
    for name in ("train_examples", "validation_examples", "steps_per_epoch"):
        _require(p[name] is None or _is_number(p[name], int) and p[name] > 0, name, "a positive integer or None",
                 p[name])
    _require(p["learning_rate"] is None or _is_number(p["learning_rate"]) and p["learning_rate"] > 0,
             "learning_rate", "a positive number or None", p["learning_rate"])
    _require(p["warmup_epochs"] is None or _is_number(p["warmup_epochs"]) and p["warmup_epochs"] >= 0,
             "warmup_epochs", "a number >= 0 or None", p["warmup_epochs"])
    _require(_is_number(p["seed"], int) and p["seed"] >= 0, "seed", "an integer >= 0", p["seed"])
    _require(isinstance(p["run_eagerly"], bool), "run_eagerly", "True or False", p["run_eagerly"])
    _require(p["verbose"] in VERBOSITIES, "verbose", f"one of {VERBOSITIES}", p["verbose"])
    run_id = p["run_id"]
    _require(run_id is None or isinstance(run_id, str) and run_id and not set(run_id) & set("/\\ ")
             and not run_id.startswith("."), "run_id", "a non-empty folder name without '/', '\\' or spaces", run_id)
    return p


def default_run_id(p: dict[str, Any]) -> str:
    """Readable id (``birealnet-lab-1111-w0.25-fashion_mnist-s0``) plus a short hash of all identity parameters."""
    identity = {k: v for k, v in sorted(p.items()) if k not in NON_IDENTITY}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    parts = [p["model"], p["binarizer"], p["lab_blocks"], f"w{p['width']:g}", p["dataset"], f"s{p['seed']}", digest]
    return "-".join(str(part) for part in parts if part is not None)


def resolve_results_root(root: str | os.PathLike | None = None) -> Path:
    """Results root: ``root``, else ``$LAB_RESULTS``, else ``<repo>/results``."""
    return Path(root) if root else provenance.results_root()


# --------------------------------------------------------------------------------------------------- training
def make_strategy(name: str) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy: "default" (one device), "mirrored" (all GPUs, else all logical CPUs) or
    "multiworker" (``TF_CONFIG`` cluster)."""
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.MirroredStrategy([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this worker writes results (multi-worker training: only the chief does)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_type, task_id = (resolver.task_type, resolver.task_id) if resolver else (None, None)
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0 and
                                            "chief" not in resolver.cluster_spec().as_dict())


def _crash_point(point: str, epoch: int) -> None:
    """Test hook: SIGKILL this process when ``$LAB_TEST_KILL_AT`` is ``"<epoch>:<point>"`` (see :data:`KILL_AT_ENV`)."""
    if os.environ.get(KILL_AT_ENV) == f"{epoch}:{point}":
        os.kill(os.getpid(), signal.SIGKILL)


class EpochEnd(tf.keras.callbacks.Callback):
    """Per epoch: time the training part, append the history row, checkpoint, and write ``history.csv``.

    The history lives inside the checkpoint (a string variable), so checkpoint and history can never disagree:
    a run killed at any moment resumes with exactly the epochs its checkpoint holds.
    """

    def __init__(self, manager: tf.train.CheckpointManager, state: dict[str, tf.Variable], history_path: Path | None,
                 *, train_images: int, batch_size: int, announce: str | None = None):
        super().__init__()
        self.manager, self.state, self.history_path = manager, state, history_path
        self.train_images, self.batch_size, self.announce = train_images, batch_size, announce

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start = epoch + 1, time.perf_counter()
        self.first_batch_end = self.train_end = None

    def on_train_batch_end(self, batch, logs=None):
        self.train_end = time.perf_counter()
        self.first_batch_end = self.first_batch_end or self.train_end
        _crash_point("batch", self.epoch)

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        # Throughput leaves out the first batch, which includes tracing the step on a fresh process.
        steady = self.train_end - self.first_batch_end
        lr = self.model.optimizer.learning_rate
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "learning_rate": float(lr(self.model.optimizer.iterations) if callable(lr) else lr),
               "train_seconds": self.train_end - self.start, "epoch_seconds": now - self.start,
               "images_per_s": (self.train_images - self.batch_size) / steady if steady > 0 else float("nan")}
        rows = json.loads(self.state["history"].numpy()) + [row]
        self.state["history"].assign(json.dumps(rows))
        self.state["epoch"].assign(epoch + 1)
        # The manager records a checkpoint as the latest (an atomic rewrite of its state file) only after our write
        # callback, i.e. after the files are complete: a crash before that leaves the previous one the latest.
        crash = tf.train.CheckpointOptions(experimental_write_callbacks=[lambda: _crash_point("checkpoint", epoch + 1)])
        self.manager.save(checkpoint_number=epoch + 1, options=crash)
        _crash_point("history", epoch + 1)
        if self.history_path:
            write_history(rows, self.history_path)
        if self.announce:
            scores = " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
            print(f"{self.announce}: epoch {epoch + 1}/{self.params['epochs']} - {row['epoch_seconds']:.0f}s - "
                  f"{scores}", flush=True)


def write_history(rows: list[dict], path: Path) -> None:
    """``history.csv``, replaced atomically."""
    tmp = path.with_suffix(".csv.tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    os.replace(tmp, path)


def save_weights(net: tf.keras.Model, path: Path) -> None:
    """``net``'s weights, replaced atomically (a crash mid-write leaves no torn file). The temporary name keeps the
    ``.weights.h5`` ending, which selects Keras' weights format."""
    tmp = path.with_name(f"partial-{path.name}")
    net.save_weights(tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def _run_lock(run_dir: Path):
    """Hold ``run_dir/.lock`` so two processes never train the same run at once."""
    with open(run_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"run {run_dir.name} is already being trained by another process") from None
        yield


def _verbosity(verbose) -> int:
    """Keras verbosity: a progress bar on a terminal, one line per epoch in logs and notebooks run in batch;
    "epoch" prints lab's own epoch line, named by run id (for runs sharing one log), instead of Keras'."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return 0 if verbose == "epoch" else int(verbose)


def _check_same_params(run_dir: Path, stored: dict[str, Any], params: dict[str, Any]) -> None:
    """Refuse an explicit ``run_id`` already used with other parameters rather than silently reuse it."""
    mine = {k: v for k, v in params.items() if k not in NON_IDENTITY}
    theirs = {k: v for k, v in stored.items() if k not in NON_IDENTITY}
    if mine != theirs:
        changed = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        raise ValueError(f"run_id: {run_dir.name!r} already holds a run with other parameters ({changed})")


def _stored_metrics(run_dir: Path) -> dict[str, Any]:
    """``metrics.json`` of a finished run, without its provenance block."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("provenance", None)
    return metrics


def _clear(run_dir: Path) -> None:
    """Delete a stale run's files (its converted graph and anything else made from it too), ``config.json`` (its
    old fingerprint) last: a crash midway leaves a run that is still stale, never old checkpoints under a new
    config."""
    with _run_lock(run_dir):
        (run_dir / "metrics.json").unlink(missing_ok=True)  # first: a half-cleared run is never "finished"
        for path in run_dir.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.name not in ("config.json", ".lock"):
                path.unlink()
        (run_dir / "config.json").unlink()


def _reusable(run_dir: Path, params: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
    """The stored metrics of a finished run with these parameters that still holds; ``None`` when the run is to be
    trained (or resumed).

    A run whose stored fingerprint differs from ``current`` is stale: it is cleared for retraining (a partial one
    too: resuming it would mix code versions), unless it finished and ``LAB_KEEP_STALE=1``; then its metrics come
    back with ``"stale": [reasons]``.
    """
    config_path, run_id = run_dir / "config.json", params["run_id"]
    if not config_path.exists():
        return None
    config = json.loads(config_path.read_text())
    _check_same_params(run_dir, config["params"], params)
    finished = (run_dir / "metrics.json").exists()
    reasons = stale_reasons(config.get("fingerprint"), current)
    if reasons and finished and keep_stale():
        print(f"{run_id}: {describe(reasons, 'this run')}; kept as {KEEP_STALE_ENV}=1 asks")
        return {**_stored_metrics(run_dir), "stale": reasons}
    if reasons:
        print(f"{run_id}: {describe(reasons, 'this run')}; retraining")
        _clear(run_dir)
        return None
    if finished:
        print(f"{run_id}: finished earlier; using its stored metrics ({provenance.display_path(run_dir)})")
        return _stored_metrics(run_dir)
    return None


def _pipelines(p: dict[str, Any]) -> tuple[lab_data.Pipeline, lab_data.Pipeline]:
    """Training and validation pipelines (raising before any file is written when the data is missing)."""
    common = dict(batch_size=p["batch_size"], image_size=p["image_size"], data_dir=p["data_dir"],
                  seed=p["seed"], download=p["download"])
    train_data = lab_data.load(p["dataset"], split="train", limit=p["train_examples"],
                               steps_per_epoch=p["steps_per_epoch"], **common)
    val_data = lab_data.load(p["dataset"], split="validation", limit=p["validation_examples"], **common)
    return train_data, val_data


def _build(p: dict[str, Any], train_data: lab_data.Pipeline) -> tf.keras.Model:
    """The compiled network with the paper's optimizer (Adam) and schedule.

    Keras' legacy Adam applies each update as one fused kernel: a third of the graph of the new optimizer, so
    it traces and runs markedly faster on CPU, with the same update rule.
    """
    model = _models().build(p["model"], binarizer=p["binarizer"], lab_blocks=p["lab_blocks"],
                            input_shape=train_data.input_shape, num_classes=train_data.num_classes, width=p["width"])
    schedule = schedule_for(p["model"], epochs=p["epochs"], steps_per_epoch=train_data.steps_per_epoch,
                            learning_rate=p["learning_rate"], lr_schedule=p["lr_schedule"],
                            warmup_epochs=p["warmup_epochs"])
    model.compile(optimizer=tf.keras.optimizers.legacy.Adam(schedule), run_eagerly=p["run_eagerly"],
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="top1"),
                           tf.keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")])
    # Create Adam's slots now: slots made inside the first step would make tf.function trace the step twice
    # (seconds per run on a small CPU), and a restored checkpoint fills existing slots directly.
    model.optimizer._create_all_weights(model.trainable_variables)
    return model


def _metrics(model, history: list[dict], train_data, val_data, p) -> dict[str, Any]:
    """``metrics.json``'s payload: the last epoch's validation scores, sizes, times and median training images/s."""
    last = history[-1]
    return {
        "run_id": p["run_id"], "top1": last["val_top1"], "top5": last["val_top5"], "loss": last["val_loss"],
        "train_top1": last["top1"], "train_loss": last["loss"], "epochs": len(history),
        "validation_examples": val_data.num_examples, "train_examples": train_data.num_examples,
        **_models().summary(model),
        "wall_time_s": sum(row["epoch_seconds"] for row in history),
        "train_time_s": sum(row["train_seconds"] for row in history),
        "images_per_s": float(np.nanmedian([row["images_per_s"] for row in history])),
    }


def train(*, model: str, binarizer: str = "sign", lab_blocks: str | Sequence[bool] | None = None,
          width: float = 1.0, dataset: str = "digits", image_size: int | None = None, epochs: int = 1,
          batch_size: int = 64, learning_rate: float | None = None, lr_schedule: str | None = None,
          warmup_epochs: float | None = None, seed: int = 0, strategy: str = "default",
          train_examples: int | None = None, validation_examples: int | None = None,
          steps_per_epoch: int | None = None, deterministic: bool = False, data_dir: str | None = None,
          download: bool = False, run_id: str | None = None, results_root: str | os.PathLike | None = None,
          verbose: int | str = "auto", run_eagerly: bool = False) -> dict[str, Any]:
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
        learning_rate, lr_schedule, warmup_epochs: override the paper's recipe (:data:`RECIPES`).
        seed: seeds weights, shuffling and augmentation (epoch ``e``'s from ``(seed, e)`` alone).
        deterministic: also turn on TF op determinism (for the rest of the process: TF cannot turn it off).
        strategy: "default", "mirrored" or "multiworker" (``tf.distribute``).
        train_examples, validation_examples: use only the first N examples of a split.
        steps_per_epoch: cap on batches per epoch.
        data_dir, download: where the dataset lives; whether TFDS may download it.
        run_id: results folder name (default: derived from the parameters, see :func:`default_run_id`).
        results_root: results root (default ``$LAB_RESULTS``, else ``<repo>/results``).
        verbose: Keras verbosity 0, 1 or 2, "auto" (progress bar on a terminal, one line per epoch otherwise) or
            "epoch" (one line per epoch that starts with the run id: for several runs writing to one log).
        run_eagerly: run the steps eagerly instead of tracing them into a graph: the same computation, faster for
            a handful of tiny steps (the smoke preset) where tracing costs more than training.
    """
    params = check_params(dict(locals()))
    params["run_id"] = params["run_id"] or default_run_id(params)
    run_dir = run_path(params["run_id"], params.pop("results_root"))
    current = fingerprint(code=RUN_CODE, packages=RUN_PACKAGES)
    stored = _reusable(run_dir, params, current)
    if stored is not None:
        return stored
    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    train_data, val_data = _pipelines(params)
    dist = make_strategy(strategy)
    with dist.scope():
        net = _build(params, train_data)
    chief = _is_chief(dist)
    out_dir = run_dir if chief else Path(tempfile.mkdtemp(prefix=f"{params['run_id']}-worker-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(out_dir):
        return _fit(net, params, out_dir, train_data, val_data, chief=chief, replicas=dist.num_replicas_in_sync,
                    run_fingerprint=current)


def _fit(net, params, run_dir: Path, train_data, val_data, *, chief: bool, replicas: int,
         run_fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Resume from the last checkpoint, train the remaining epochs, then write weights and metrics (last)."""
    steps = train_data.steps_per_epoch
    if chief and not (run_dir / "config.json").exists():
        provenance.write_json(run_dir / "config.json", {"run_id": params["run_id"], "params": params,
                                                       "fingerprint": run_fingerprint,
                                                       "steps_per_epoch": steps, "replicas": replicas,
                                                       "train_examples": train_data.num_examples,
                                                       "input_shape": list(train_data.input_shape),
                                                       "num_classes": train_data.num_classes}, params)
    state = {"epoch": tf.Variable(0, dtype=tf.int64), "history": tf.Variable("[]")}
    checkpoint = tf.train.Checkpoint(model=net, optimizer=net.optimizer, **state)
    manager = tf.train.CheckpointManager(checkpoint, run_dir / "checkpoints", max_to_keep=2)
    if manager.latest_checkpoint:
        # Every variable of model, optimizer and state must come back, or the run would not go on where it stopped.
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"{params['run_id']}: resuming after epoch {int(state['epoch'].numpy())} of {params['epochs']}")
    history_path = run_dir / "history.csv" if chief else None
    train_images = min(train_data.num_examples, steps * params["batch_size"])
    start = int(state["epoch"].numpy())
    if start < params["epochs"]:
        # One pass over epochs start..epochs-1, each `steps` batches long: Keras keeps the iterator across epochs.
        net.fit(train_data.epochs(start, params["epochs"]), steps_per_epoch=steps, validation_data=val_data.dataset,
                epochs=params["epochs"], initial_epoch=start,
                callbacks=[EpochEnd(manager, state, history_path, train_images=train_images,
                                    batch_size=params["batch_size"],
                                    announce=params["run_id"] if params["verbose"] == "epoch" else None)],
                verbose=_verbosity(params["verbose"]))
    history = json.loads(state["history"].numpy())
    metrics = {**_metrics(net, history, train_data, val_data, params), "fingerprint": run_fingerprint}
    if chief:
        write_history(history, history_path)
        save_weights(net, run_dir / "model.weights.h5")
        provenance.write_json(run_dir / "metrics.json", metrics, params)
    return metrics


# --------------------------------------------------------------------------------------------------- presets
def run(preset: str, **overrides) -> dict[str, Any]:
    """Train with ``preset``'s parameters (`lab.presets.Preset.train_params`) updated by ``overrides``; a finished
    identical run is reused. A preset with ``use_recipe: true`` takes epochs and batch size from the network's
    published recipe."""
    settings = presets.load(preset)
    check_known("overrides", overrides)
    model = overrides.get("model")
    params = dict(settings.train)
    if settings.use_recipe and model in RECIPES:
        params.update(epochs=RECIPES[model].epochs, batch_size=RECIPES[model].batch_size)
    params.update(settings.per_model.get(model, {}))
    params.update(overrides)
    return train(**params)


def check_known(where: str, keys) -> None:
    """``ValueError("<where>: unknown training parameters [...]")`` unless every key is a parameter of :func:`train`."""
    unknown = sorted(set(keys) - set(presets.TRAIN_PARAMETERS))
    if unknown:
        raise ValueError(f"{where}: unknown training parameters {unknown}; choose from {presets.TRAIN_PARAMETERS}")


def run_path(run_id: str, results_root: str | os.PathLike | None = None) -> Path:
    """Folder of run ``run_id`` under the results root (see :func:`resolve_results_root`)."""
    return resolve_results_root(results_root) / "runs" / run_id


def load_history(run_id: str, results_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """``history.csv`` of a run."""
    return pd.read_csv(run_path(run_id, results_root) / "history.csv")


def load_model(run_id: str, results_root: str | os.PathLike | None = None) -> tf.keras.Model:
    """Rebuild a trained network from its ``config.json`` and load its final weights (the dataset need not be
    there: the config records the input shape and class count)."""
    folder = run_path(run_id, results_root)
    config = json.loads((folder / "config.json").read_text())
    p = config["params"]
    if "input_shape" not in config:  # written before the config recorded them: ask the dataset
        shape = lab_data.load(p["dataset"], split="validation", image_size=p["image_size"], data_dir=p["data_dir"],
                              limit=1)
        config.update(input_shape=shape.input_shape, num_classes=shape.num_classes)
    net = _models().build(p["model"], binarizer=p["binarizer"], lab_blocks=p["lab_blocks"],
                          input_shape=tuple(config["input_shape"]), num_classes=config["num_classes"],
                          width=p["width"])
    net.load_weights(folder / "model.weights.h5")
    return net


def plot_history(history: pd.DataFrame, title: str = ""):
    """Learning curves: loss and top-1 per epoch, training vs validation (a matplotlib figure)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, metric in zip(axes, ("loss", "top1")):
        ax.plot(history["epoch"], history[metric], "o-", label="training")
        ax.plot(history["epoch"], history[f"val_{metric}"], "s-", label="validation")
        ax.set(xlabel="epoch", ylabel=metric, title=metric)
        ax.legend()
    fig.suptitle(title, fontsize="medium")  # one line over both panels: run ids are long
    fig.tight_layout()
    return fig


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
    parser.add_argument("--model", required=True)
    parser.add_argument("--binarizer", default="sign")
    parser.add_argument("--lab-blocks", default=None, help="mask string, e.g. 1011")
    parser.add_argument("--set", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                        help="more overrides, values in YAML syntax; repeatable (--set epochs=3 width=0.5 --set "
                             "run_id=foo)")
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.set)
    except ValueError as error:
        parser.error(str(error))
    metrics = run(args.preset, model=args.model, binarizer=args.binarizer, lab_blocks=args.lab_blocks, **overrides)
    print(json.dumps(metrics, indent=2, default=str))
    return metrics


if __name__ == "__main__":
    main(sys.argv[1:])
