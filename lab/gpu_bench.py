"""A ready GPU check (``python -m lab.bench gpu``): the published networks training at full size on this machine's
GPU(s), or on the CPU when there is none.

Bi-Real Net and QuickNet, sign and LAB, at 224x224x3 and full width, each trained by `lab.train.train` on the
``synthetic`` dataset (ImageNet-shaped JPEGs through the real pipeline, `lab.data`: decode, random resized crop,
flip) with the ``default`` strategy and with ``mirrored`` (every GPU; one replica still runs), for ``--steps``
steps of global batch ``--batch``. Per run: the steady training images/s (`lab.loop`'s figure: the first step, which
traces, left out), the step time of LAB over sign's (same network and strategy), the seconds from the ``train()``
call to the first finished step, and the peak memory TensorFlow held on a GPU during the run. The data pipeline's
own rate, drawn without training, says whether the input bounds the training.

Without a GPU it says so ("no GPU found, running on CPU") and runs the same at a tiny default size (2 steps of
batch 2), so the suite runs it (`tests/test_bench.py`). TensorFlow loads inside :func:`run`, after the options are
checked (:func:`check`).
"""
from __future__ import annotations

import argparse
import collections
import gc
import os
import subprocess
import tempfile
import time
from typing import Any

from lab import paper, provenance, validate
from lab.run_speed import markdown, timed_run

NETWORKS = ("birealnet", "quicknet")
BINARIZERS = ("sign", "lab")
STRATEGIES = ("default", "mirrored")
IMAGE_SIZE = 224
# Defaults of --steps and --batch: a few hundred steps on a GPU; on the CPU a size a test runs in seconds.
DEFAULTS = {"gpu": {"steps": 300, "batch": 256}, "cpu": {"steps": 2, "batch": 2}}
NO_GPU = "no GPU found, running on CPU"
COLUMNS = {"images_per_s": "img/s", "step_ms": "step ms", "lab_over_sign": "LAB / sign step",
           "first_step_s": "first step [s]", "peak_gpu_mib": "peak GPU MiB"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), metavar="NAME",
                        help=f"networks of {paper.MODELS} (default: {' '.join(NETWORKS)})")
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), metavar="NAME",
                        help=f"tf.distribute strategies of {STRATEGIES} (default: both)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"training steps per run, the first left out of images/s (default: "
                             f"{DEFAULTS['gpu']['steps']} on a GPU, {DEFAULTS['cpu']['steps']} on the CPU)")
    parser.add_argument("--batch", type=int, default=None,
                        help=f"global batch size (default: {DEFAULTS['gpu']['batch']} on a GPU, "
                             f"{DEFAULTS['cpu']['batch']} on the CPU)")


def check(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark's parameters, checked before any work (``steps`` and ``batch``: None until the device is known)."""
    validate.choices("--networks", args.networks, paper.MODELS)
    validate.choices("--strategies", args.strategies, STRATEGIES)
    if args.steps is not None:
        validate.integer("--steps", args.steps, 2)  # the first step traces: at least one more is timed
    if args.batch is not None:
        validate.integer("--batch", args.batch, 1)
    return {"networks": list(dict.fromkeys(args.networks)), "binarizers": list(BINARIZERS),
            "strategies": list(dict.fromkeys(args.strategies)), "steps": args.steps, "batch": args.batch,
            "dataset": "synthetic", "image_size": IMAGE_SIZE, "width": 1.0}


def _nvidia_smi_name() -> str:
    """The first GPU's name from ``nvidia-smi`` (where TensorFlow gives none)."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "GPU (unnamed)"
    return (done.stdout.strip().splitlines() or ["GPU (unnamed)"])[0]


def find_device() -> dict[str, Any]:
    """What this check runs on: ``kind`` ("gpu" or "cpu"), its ``name`` ("2 x NVIDIA H200", or the CPU's), the GPU
    count, the replicas of ``mirrored`` (`lab.loop.make_strategy`'s devices), and TensorFlow's build."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = collections.Counter(tf.config.experimental.get_device_details(gpu).get("device_name")
                                or _nvidia_smi_name() for gpu in gpus)
    build = tf.sysconfig.get_build_info()
    return {"kind": "gpu" if gpus else "cpu", "gpus": len(gpus),
            "name": ", ".join(f"{n} x {name}" for name, n in names.items()) or provenance.cpu_model(),
            "replicas": len(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")),
            "tensorflow": tf.__version__, "built_with_cuda": tf.test.is_built_with_cuda(),
            "cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version")}


def pipeline_rate(p: dict[str, Any]) -> float:
    """Images/s of the training pipeline alone (``steps`` batches drawn, the first, which builds it, left out)."""
    from lab import data

    batches = iter(data.load("synthetic", split="train", batch_size=p["batch"], image_size=IMAGE_SIZE,
                             limit=p["steps"] * p["batch"], steps_per_epoch=p["steps"]).dataset)
    next(batches)
    start = time.perf_counter()
    for _ in range(p["steps"] - 1):
        next(batches)
    return (p["steps"] - 1) * p["batch"] / (time.perf_counter() - start)


def _fresh(gpus: int) -> None:
    """Drop the previous run's network and restart every GPU's peak-memory count."""
    import tensorflow as tf

    tf.keras.backend.clear_session()
    gc.collect()
    for i in range(gpus):
        tf.config.experimental.reset_memory_stats(f"GPU:{i}")


def _peak_mib(gpus: int) -> float | None:
    """The most memory TensorFlow held on one GPU since `_fresh` (None: no GPU)."""
    import tensorflow as tf

    peaks = [tf.config.experimental.get_memory_info(f"GPU:{i}")["peak"] for i in range(gpus)]
    return max(peaks) / 2 ** 20 if peaks else None


def measure(p: dict[str, Any], gpus: int) -> list[dict[str, Any]]:
    """One `lab.train.train` run per network x strategy x binarizer (sign and LAB back to back), in a scratch
    results root; its figures, or its error (an out-of-memory batch is a result, not a failure of the check)."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for network in p["networks"]:
            for strategy in p["strategies"]:
                for binarizer in BINARIZERS:
                    print(f"gpu: {network} {binarizer}, {strategy}, {p['steps']} steps of {p['batch']}", flush=True)
                    _fresh(gpus)
                    figures = timed_run({
                        "model": network, "binarizer": binarizer, "dataset": "synthetic", "image_size": IMAGE_SIZE,
                        "width": 1.0, "strategy": strategy, "epochs": 1, "steps_per_epoch": p["steps"],
                        "batch_size": p["batch"], "train_examples": p["steps"] * p["batch"],
                        "validation_examples": p["batch"], "results_root": root, "verbose": 0,
                        "run_id": f"{network}-{binarizer}-{strategy}"})
                    rows.append({"network": network, "strategy": strategy, "binarizer": binarizer, **figures,
                                 "peak_gpu_mib": _peak_mib(gpus)})
    return rows


def table(rows: list[dict[str, Any]], batch: int, pipeline: float):
    """A first row, the data pipeline alone, then the runs; each with its step time, and LAB's over sign's."""
    import pandas as pd

    # Every column, even where every run failed (an error and no figures).
    full = pd.DataFrame([{"network": "(data pipeline alone)", "images_per_s": pipeline}, *rows]).reindex(
        columns=["network", "strategy", "binarizer", "images_per_s", "first_step_s", "peak_gpu_mib", "error"])
    full["step_ms"] = batch / full["images_per_s"] * 1e3
    sign = full[full.binarizer == "sign"].set_index(["network", "strategy"])["step_ms"]
    full["lab_over_sign"] = [ms / sign[n, s] if (n, s) in sign.index else float("nan")
                             for n, s, ms in zip(full.network, full.strategy, full.step_ms)]
    return full[["network", "strategy", "binarizer", *COLUMNS, "error"]]


def _shown(full, gpu: bool) -> str:
    """``full`` as Markdown: two decimals, a blank where a figure is missing (no peak memory on the CPU)."""
    shown = full.rename(columns=COLUMNS)
    if not gpu:
        shown = shown.drop(columns=COLUMNS["peak_gpu_mib"])
    if not shown["error"].fillna("").any():
        shown = shown.drop(columns="error")
    return markdown(shown)


def describe(d: dict[str, Any], p: dict[str, Any]) -> str:
    """What was measured where, above the table."""
    if d["kind"] == "gpu":
        where = (f"**GPU check** on {d['name']} (TensorFlow {d['tensorflow']}, CUDA {d['cuda']}, cuDNN "
                 f"{d['cudnn']})")
        memory = "; peak GPU MiB: the most memory TensorFlow held on one GPU during the run"
    else:
        where = (f"{NO_GPU} ({d['name']}, {os.cpu_count()} cores; TensorFlow {d['tensorflow']}, "
                 f"built with CUDA: {'yes' if d['built_with_cuda'] else 'no'}).\n\n**GPU check** on the CPU")
        memory = ""
    return (f"{where}: {', '.join(p['networks'])}, sign and LAB, at {IMAGE_SIZE}x{IMAGE_SIZE}x3, full width, trained "
            f"by `lab.train.train` on `synthetic` data (ImageNet-shaped JPEGs through the real pipeline) with "
            f"strategies {', '.join(p['strategies'])} (`mirrored`: {d['replicas']} replica(s)); {p['steps']} steps "
            f"of global batch {p['batch']} per run. img/s: steady state, the first step (tracing) left out; LAB / "
            f"sign step: step time over sign's, same network and strategy; first step: from the `train()` call "
            f"(data, network, tracing){memory}. The data pipeline alone: batches drawn without training (training "
            f"near it is bound by its input).")


def run(args: argparse.Namespace):
    """Check, find the device, measure; the Markdown, the table and the parameters (`lab.bench.publish`)."""
    p = check(args)
    d = find_device()
    for key, value in DEFAULTS[d["kind"]].items():
        p[key] = value if p[key] is None else p[key]
    if d["kind"] == "cpu":
        print(NO_GPU, flush=True)
    full = table(measure(p, d["gpus"]), p["batch"], pipeline_rate(p))
    return f"{describe(d, p)}\n\n{_shown(full, d['kind'] == 'gpu')}\n", full, {**p, "device": d}
