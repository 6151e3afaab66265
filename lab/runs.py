"""A trained run's folder, ``<results>/runs/<run_id>/``: its name, what is written there, and what reads it back.

- ``config.json``: every parameter, the run's fingerprint (hashes of the ``lab/`` code that trains it and the
  package versions, :data:`lab.fingerprint.RUN_CODE`) and provenance (git commit, device);
- ``history.csv``: one row per epoch (training and validation loss/top-1/top-5, learning rate, seconds);
- ``metrics.json``: validation top-1/top-5/loss, parameter counts, deployed size, wall time, images/s, fingerprint;
- ``model.weights.h5``: the final weights (:func:`load_model` rebuilds the network around them);
- ``checkpoints/``: the per-epoch ``tf.train.CheckpointManager`` state (`lab.loop`);
- ``.lock``: held by the one process training the run (:func:`run_lock`).

``history.csv`` and the weights are replaced whole (:func:`write_history`, :func:`save_weights`); ``metrics.json``,
written last, marks the run finished.

**Reuse.** A finished run whose fingerprint still holds is not retrained: :func:`reuse_or_clear` returns its stored
metrics. A run whose code or packages changed since (or that has no fingerprint) is stale: it is cleared to be
trained again from scratch, with a line saying why (``<run_id>: stale: lab/quantizers.py changed since this run;
retraining``); a partial stale run is never resumed. With ``LAB_KEEP_STALE=1`` a finished stale run is kept
instead, and its metrics carry ``"stale": [reasons]``.

Cheap to import (no TensorFlow): `load_model` imports the networks when called.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from lab import provenance
from lab.fingerprint import KEEP_STALE_ENV, describe, keep_stale, stale_reasons

# Parameters that only say where or how loudly to run; they don't change the result, so they are not in the run id.
NON_IDENTITY = ("run_id", "results_root", "data_dir", "download", "verbose", "run_eagerly")


def resolve_results_root(root: str | os.PathLike | None = None) -> Path:
    """Results root: ``root``, else ``$LAB_RESULTS``, else ``<repo>/results``."""
    return Path(root) if root else provenance.results_root()


def run_path(run_id: str, results_root: str | os.PathLike | None = None) -> Path:
    """Folder of run ``run_id`` under the results root (see :func:`resolve_results_root`)."""
    return resolve_results_root(results_root) / "runs" / run_id


def default_run_id(p: dict[str, Any]) -> str:
    """Readable id (``birealnet-lab-1111-w0.25-fashion_mnist-s0``) plus a short hash of all identity parameters
    (the checked parameters of `lab.train.train`)."""
    identity = {k: v for k, v in sorted(p.items()) if k not in NON_IDENTITY}
    digest = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    parts = [p["model"], p["binarizer"], p["lab_blocks"], f"w{p['width']:g}", p["dataset"], f"s{p['seed']}", digest]
    return "-".join(str(part) for part in parts if part is not None)


# --------------------------------------------------------------------------------------------------- writing
def write_history(rows: list[dict], path: Path) -> None:
    """``history.csv``, replaced atomically."""
    tmp = path.with_suffix(".csv.tmp")
    pd.DataFrame(rows).to_csv(tmp, index=False)
    os.replace(tmp, path)


def save_weights(net, path: Path) -> None:
    """``net``'s (a Keras model) weights, replaced atomically (a crash mid-write leaves no torn file). The temporary
    name keeps the ``.weights.h5`` ending, which selects Keras' weights format."""
    tmp = path.with_name(f"partial-{path.name}")
    net.save_weights(tmp)
    os.replace(tmp, path)


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold ``run_dir/.lock`` so two processes never train the same run at once."""
    with open(run_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"run {run_dir.name} is already being trained by another process") from None
        yield


# --------------------------------------------------------------------------------------------------- reuse
def _check_same_params(run_dir: Path, stored: dict[str, Any], params: dict[str, Any]) -> None:
    """Refuse an explicit ``run_id`` already used with other parameters rather than silently reuse it."""
    mine = {k: v for k, v in params.items() if k not in NON_IDENTITY}
    theirs = {k: v for k, v in stored.items() if k not in NON_IDENTITY}
    if mine != theirs:
        changed = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        raise ValueError(f"run_id: {run_dir.name!r} already holds a run with other parameters ({changed})")


def stored_metrics(run_dir: Path) -> dict[str, Any]:
    """``metrics.json`` of a finished run, without its provenance block."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("provenance", None)
    return metrics


def _clear(run_dir: Path) -> None:
    """Delete a stale run's files (its converted graph and anything else made from it too), ``config.json`` (its
    old fingerprint) last: a crash midway leaves a run that is still stale, never old checkpoints under a new
    config."""
    with run_lock(run_dir):
        (run_dir / "metrics.json").unlink(missing_ok=True)  # first: a half-cleared run is never "finished"
        for path in run_dir.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            elif path.name not in ("config.json", ".lock"):
                path.unlink()
        (run_dir / "config.json").unlink()


def reuse_or_clear(run_dir: Path, params: dict[str, Any], current: dict[str, Any]) -> dict[str, Any] | None:
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
        return {**stored_metrics(run_dir), "stale": reasons}
    if reasons:
        print(f"{run_id}: {describe(reasons, 'this run')}; retraining")
        _clear(run_dir)
        return None
    if finished:
        print(f"{run_id}: finished earlier; using its stored metrics ({provenance.display_path(run_dir)})")
        return stored_metrics(run_dir)
    return None


# --------------------------------------------------------------------------------------------------- reading
def metrics_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """A run's metrics (what `lab.train.train` returns) as a one-column table, one row per metric."""
    return pd.Series(metrics, name="value").to_frame()


def load_history(run_id: str, results_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """``history.csv`` of a run."""
    return pd.read_csv(run_path(run_id, results_root) / "history.csv")


def load_model(run_id: str, results_root: str | os.PathLike | None = None):
    """Rebuild a trained network (a ``tf.keras.Model``) from its ``config.json`` and load its final weights (the
    dataset need not be there: the config records the input shape and class count)."""
    import lab.models

    folder = run_path(run_id, results_root)
    config = json.loads((folder / "config.json").read_text())
    p = config["params"]
    if "input_shape" not in config:  # written before the config recorded them: ask the dataset
        from lab import data

        shape = data.load(p["dataset"], split="validation", image_size=p["image_size"], data_dir=p["data_dir"],
                          limit=1)
        config.update(input_shape=shape.input_shape, num_classes=shape.num_classes)
    net = lab.models.build(p["model"], binarizer=p["binarizer"], lab_blocks=p["lab_blocks"],
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
