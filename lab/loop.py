"""The training loop of one run: data, network, the paper's optimizer, Keras ``fit`` with a checkpoint every epoch,
and exact resume; `lab.train.train` checks the parameters and calls :func:`fit`.

**Resume.** A killed run started again resumes after its last checkpointed epoch and ends as the uninterrupted run
would (with ``deterministic=True``: the same history and bit-identical weights). The checkpoint holds the model,
the optimizer (step counter and Adam's moments, so the schedule goes on) and the history; epoch ``e``'s data order
and augmentation depend only on ``(seed, e)`` (:class:`lab.data.Pipeline`); nothing else in training draws random
numbers. Every write is atomic or committed by a later atomic one: a checkpoint counts once TensorFlow has
atomically replaced the ``checkpoints/checkpoint`` state file, ``history.csv`` and the weights are replaced whole,
and ``metrics.json``, written last, marks the run finished (the run's folder: `lab.runs`).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

import lab.models
from lab import data as lab_data
from lab import provenance, runs
from lab.schedules import schedule_for

# Test hook: "<epoch>:<point>" makes the run SIGKILL itself at that point of that epoch (1-based), as a crash there
# would: "batch" after the epoch's first training step, "checkpoint" once the epoch's checkpoint files are written but
# before they are recorded as the latest, "history" after that but before history.csv is rewritten.
KILL_AT_ENV = "LAB_TEST_KILL_AT"


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
                 *, train_images: int, batch_size: int, validation_images: int, started: float,
                 announce: str | None = None):
        super().__init__()
        self.manager, self.state, self.history_path = manager, state, history_path
        self.train_images, self.batch_size, self.announce = train_images, batch_size, announce
        self.validation_images, self.started = validation_images, started
        self.first_step_s = None  # from the train() call to this process's first finished step
        self.first_epoch = None  # the first epoch this process trains (its steps and evaluation are traced)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.start = epoch + 1, time.perf_counter()
        self.first_epoch = epoch if self.first_epoch is None else self.first_epoch
        self.first_batch_end = self.train_end = None

    def on_train_batch_end(self, batch, logs=None):
        self.train_end = time.perf_counter()
        self.first_batch_end = self.first_batch_end or self.train_end
        self.first_step_s = self.first_step_s or self.train_end - self.started
        _crash_point("batch", self.epoch)

    def on_test_begin(self, logs=None):
        self.test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self.test_seconds = time.perf_counter() - self.test_start

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        # Throughput leaves out the first batch, which includes tracing the step on a fresh process.
        steady = self.train_end - self.first_batch_end
        lr = self.model.optimizer.learning_rate
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()},
               "learning_rate": float(lr(self.model.optimizer.iterations) if callable(lr) else lr),
               "train_seconds": self.train_end - self.start, "epoch_seconds": now - self.start,
               "validation_seconds": self.test_seconds,
               "images_per_s": (self.train_images - self.batch_size) / steady if steady > 0 else float("nan"),
               # The first epoch of a process also traces the evaluation step: its figure is not the steady one.
               "validation_images_per_s": (self.validation_images / self.test_seconds
                                           if epoch > self.first_epoch else float("nan"))}
        rows = json.loads(self.state["history"].numpy()) + [row]
        self.state["history"].assign(json.dumps(rows))
        self.state["epoch"].assign(epoch + 1)
        # The manager records a checkpoint as the latest (an atomic rewrite of its state file) only after our write
        # callback, i.e. after the files are complete: a crash before that leaves the previous one the latest.
        crash = tf.train.CheckpointOptions(experimental_write_callbacks=[lambda: _crash_point("checkpoint", epoch + 1)])
        self.manager.save(checkpoint_number=epoch + 1, options=crash)
        _crash_point("history", epoch + 1)
        if self.history_path:
            runs.write_history(rows, self.history_path)
        if self.announce:
            scores = " - ".join(f"{k}: {v:.4f}" for k, v in (logs or {}).items())
            print(f"{self.announce}: epoch {epoch + 1}/{self.params['epochs']} - {row['epoch_seconds']:.0f}s - "
                  f"{scores}", flush=True)


def _verbosity(verbose) -> int:
    """Keras verbosity: a progress bar on a terminal, one line per epoch in logs and notebooks run in batch;
    "epoch" prints lab's own epoch line, named by run id (for runs sharing one log), instead of Keras'."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return 0 if verbose == "epoch" else int(verbose)


def _pipelines(p: dict[str, Any]) -> tuple[lab_data.Pipeline, lab_data.Pipeline]:
    """Training and validation pipelines (raising before any file is written when the data is missing)."""
    common = dict(batch_size=p["batch_size"], image_size=p["image_size"], data_dir=p["data_dir"],
                  seed=p["seed"], download=p["download"])
    train_data = lab_data.load(p["dataset"], split="train", limit=p["train_examples"],
                               steps_per_epoch=p["steps_per_epoch"], **common)
    val_data = lab_data.load(p["dataset"], split="validation", limit=p["validation_examples"], **common)
    return train_data, val_data


def build_network(p: dict[str, Any], train_data: lab_data.Pipeline) -> tf.keras.Model:
    """The compiled network of the checked parameters ``p`` for ``train_data`` (its input shape, classes and steps
    per epoch) with the paper's optimizer (Adam) and schedule; `lab.batch_plan` times a step of it too.

    Keras' legacy Adam applies each update as one fused kernel: a third of the graph of the new optimizer, so
    it traces and runs markedly faster on CPU, with the same update rule.
    """
    model = lab.models.build(p["model"], binarizer=p["binarizer"], lab_blocks=p["lab_blocks"],
                             input_shape=train_data.input_shape, num_classes=train_data.num_classes,
                             width=p["width"])
    schedule = schedule_for(p["model"], epochs=p["epochs"], steps_per_epoch=train_data.steps_per_epoch,
                            learning_rate=p["learning_rate"], lr_schedule=p["lr_schedule"],
                            warmup_epochs=p["warmup_epochs"])
    model.compile(optimizer=tf.keras.optimizers.legacy.Adam(schedule), run_eagerly=p["run_eagerly"],
                  jit_compile=p["jit_compile"],
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="top1"),
                           tf.keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5")])
    # Create Adam's slots now: slots made inside the first step would make tf.function trace the step twice
    # (seconds per run on a small CPU), and a restored checkpoint fills existing slots directly.
    model.optimizer._create_all_weights(model.trainable_variables)
    return model


def _median(history: list[dict], key: str) -> float | None:
    """The median of a timing column over the epochs that measured it (None: none did, e.g. a single epoch)."""
    values = [row[key] for row in history if not np.isnan(row.get(key, np.nan))]
    return float(np.median(values)) if values else None


def _metrics(model, history: list[dict], train_data, val_data, p, first_step_s: float | None) -> dict[str, Any]:
    """``metrics.json``'s payload: the last epoch's validation scores, sizes, times, median training and validation
    images/s, and the seconds from the ``train()`` call to the first step of this process (None: nothing trained)."""
    last = history[-1]
    return {
        "run_id": p["run_id"], "top1": last["val_top1"], "top5": last["val_top5"], "loss": last["val_loss"],
        "train_top1": last["top1"], "train_loss": last["loss"], "epochs": len(history),
        "validation_examples": val_data.num_examples, "train_examples": train_data.num_examples,
        **lab.models.summary(model),
        "wall_time_s": sum(row["epoch_seconds"] for row in history),
        "train_time_s": sum(row["train_seconds"] for row in history),
        "images_per_s": _median(history, "images_per_s"),
        "validation_images_per_s": _median(history, "validation_images_per_s"), "first_step_s": first_step_s,
    }


def fit(params: dict[str, Any], run_dir: Path, run_fingerprint: dict[str, Any], *, started: float) -> dict[str, Any]:
    """Train (or resume) the run of the checked ``params`` (`lab.train.check_params`, ``run_id`` set) into
    ``run_dir``, fingerprinted ``run_fingerprint``, and return its metrics (``started``: `time.perf_counter` at the
    ``train()`` call)."""
    # First: a multi-worker strategy configures collective ops, which TF allows only before anything else runs.
    dist = make_strategy(params["strategy"])
    tf.keras.utils.set_random_seed(params["seed"])
    if params["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    train_data, val_data = _pipelines(params)
    with dist.scope():
        net = build_network(params, train_data)
    # Only the chief writes the run's folder; another worker of a multi-worker run writes to a scratch one.
    with contextlib.ExitStack() as stack:
        out_dir = run_dir if _is_chief(dist) else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix=f"{params['run_id']}-worker-")))
        out_dir.mkdir(parents=True, exist_ok=True)
        stack.enter_context(runs.run_lock(out_dir))
        return _resume_and_fit(net, params, run_dir, out_dir, train_data, val_data,
                               replicas=dist.num_replicas_in_sync, run_fingerprint=run_fingerprint, started=started)


def _resume_and_fit(net, params, run_dir: Path, out_dir: Path, train_data, val_data, *, replicas: int,
                    run_fingerprint: dict[str, Any], started: float) -> dict[str, Any]:
    """Resume from the run's last checkpoint, train the remaining epochs, then write weights and metrics (last) to
    ``out_dir`` (the run's folder ``run_dir``, or a multi-worker run's scratch folder of a worker but the chief)."""
    steps = train_data.steps_per_epoch
    chief = out_dir == run_dir
    if chief and not (run_dir / "config.json").exists():
        provenance.write_json(run_dir / "config.json", {"run_id": params["run_id"], "params": params,
                                                       "fingerprint": run_fingerprint,
                                                       "steps_per_epoch": steps, "replicas": replicas,
                                                       "train_examples": train_data.num_examples,
                                                       "input_shape": list(train_data.input_shape),
                                                       "num_classes": train_data.num_classes}, params)
    state = {"epoch": tf.Variable(0, dtype=tf.int64), "history": tf.Variable("[]")}
    checkpoint = tf.train.Checkpoint(model=net, optimizer=net.optimizer, **state)
    manager = tf.train.CheckpointManager(checkpoint, out_dir / "checkpoints", max_to_keep=2)
    latest = tf.train.latest_checkpoint(run_dir / "checkpoints")  # every worker resumes from the chief's
    if latest:
        # Every variable of model, optimizer and state must come back, or the run would not go on where it stopped.
        checkpoint.restore(latest).assert_existing_objects_matched()
        print(f"{params['run_id']}: resuming after epoch {int(state['epoch'].numpy())} of {params['epochs']}")
    history_path = out_dir / "history.csv"
    train_images = min(train_data.num_examples, steps * params["batch_size"])
    start = int(state["epoch"].numpy())
    epoch_end = EpochEnd(manager, state, history_path, train_images=train_images, batch_size=params["batch_size"],
                         validation_images=val_data.num_examples, started=started,
                         announce=params["run_id"] if params["verbose"] == "epoch" else None)
    if start < params["epochs"]:
        # One pass over epochs start..epochs-1, each `steps` batches long: Keras keeps the iterator across epochs.
        net.fit(train_data.epochs(start, params["epochs"]), steps_per_epoch=steps, validation_data=val_data.dataset,
                epochs=params["epochs"], initial_epoch=start, callbacks=[epoch_end],
                verbose=_verbosity(params["verbose"]))
    history = json.loads(state["history"].numpy())
    metrics = {**_metrics(net, history, train_data, val_data, params, epoch_end.first_step_s),
               "fingerprint": run_fingerprint}
    # Every worker saves (reading BN's statistics, synchronised on read, is a collective op all workers must join).
    runs.write_history(history, history_path)
    runs.save_weights(net, out_dir / "model.weights.h5")
    provenance.write_json(out_dir / "metrics.json", metrics, params)
    return metrics
