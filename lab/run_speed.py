"""Where a cpu-preset training run's time goes, with each speed-up on and off in the same batch of measurements
(``python -m lab.bench cpu-run``).

Every measurement is a real `lab.train.train` call at the cpu preset's settings (its data, width, batch size,
seed, determinism), shortened to ``epochs`` x ``steps`` so that the slowest setting fits: what matters here is the
cost of a step, of building and tracing, and of validating, not accuracy. Per network and binarizer:

- **time to first step**: from the ``train()`` call to the first finished training step: data, model build and
  tracing (TensorFlow is imported before, as in a worker that trains many runs);
- **training images/s**: the median of the epochs' steady state (their first step left out);
- **validation images/s**: the validation examples over the validation seconds of the epochs after the first
  (the first traces the evaluation step).

Settings compared (`SETTINGS`): the fastest (the cpu preset's: data cache warm, no XLA) against each speed-up
switched off, and XLA (``jit_compile=True``) switched on, so each gain or loss is a ratio measured here, now.
The process layout (`LAYOUTS`) runs the same runs once in one process with all cores and once in one-thread
processes side by side, and compares runs per hour.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import tempfile
import time
from typing import Any

from lab import paper, presets, processes, provenance, validate

NETWORKS = ("birealnet", "quicknet")
BINARIZERS = ("sign", "lab")
# Setting -> (clear the data cache first, jit_compile). The first is the fastest, the cpu preset's.
SETTINGS = {"fastest (cpu preset)": (False, False), "no data cache": (True, False), "XLA on": (False, True)}
BASE = next(iter(SETTINGS))
LAYOUTS = ((1, None), (2, 1))  # (processes, TF threads per process; None: every core)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), metavar="NAME",
                        help=f"networks of {paper.MODELS} (default: {' '.join(NETWORKS)})")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (>= 2: validation is timed after the "
                                                              "first)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per epoch")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of each layout run (more runs: a steadier rate)")
    parser.add_argument("--no-layout", dest="layout", action="store_false", help="skip the process-layout runs")


def check(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmark's parameters, checked before any work."""
    validate.choices("--networks", args.networks, paper.MODELS)
    validate.integer("--epochs", args.epochs, 2)
    validate.integer("--steps", args.steps, 2)
    validate.integer("--seeds", args.seeds, 1)
    return {"seeds": args.seeds, "networks": list(args.networks), "binarizers": list(BINARIZERS), "epochs": args.epochs,
            "steps_per_epoch": args.steps, "layout": args.layout, "preset": "cpu",
            "settings": {name: {"clear_data_cache": c, "jit_compile": j} for name, (c, j) in SETTINGS.items()}}


def _params(network: str, binarizer: str, p: dict[str, Any], root: str, **extra) -> dict[str, Any]:
    """`lab.train.train` parameters of one measured run: the cpu preset's, shortened, in a scratch results root."""
    return {**presets.load("cpu").train_params(network), "model": network, "binarizer": binarizer,
            "epochs": p["epochs"], "steps_per_epoch": p["steps_per_epoch"], "results_root": root, "verbose": 0,
            **extra}


def timed_run(params: dict[str, Any], *, clear_data_cache: bool = False) -> dict[str, Any]:
    """Train one run (after clearing the data cache, if asked) and return its timing figures (or its error)."""
    from lab import data, train

    if clear_data_cache:
        data.clear_cache()
    try:
        metrics = train.train(**params)
    except Exception as error:  # XLA refuses some graphs: a result of the benchmark, not a failure of it
        return {"error": _reason(error)}
    return {k: metrics[k] for k in ("first_step_s", "images_per_s", "validation_images_per_s")}


def _reason(error: Exception) -> str:
    """An error in one line: the first line of TF's message that says what failed (not its "Graph execution error"
    header, the "Detected at node" trace, its indented lines or a "<stack traces unavailable>"), else the first line."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    said = [line for line in lines if not line[0].isspace()
            and not line.startswith(("Graph execution error", "Detected at node", "[[", "<"))]
    return (said or lines or [type(error).__name__])[0][:150]


def _warm_up(p: dict[str, Any], root: str) -> None:
    """Import TensorFlow and fill the data cache, as a worker has done before its second run."""
    timed_run(_params(p["networks"][0], "sign", p, root, epochs=1, steps_per_epoch=1, run_id="warm-up"))


def measure(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Every network x binarizer x setting, interleaved setting by setting (fair under a changing load)."""
    rows = []
    with tempfile.TemporaryDirectory() as root:
        _warm_up(p, root)
        for network in p["networks"]:
            for binarizer in BINARIZERS:
                for i, (setting, (clear, jit)) in enumerate(SETTINGS.items()):
                    run_id = f"{network}-{binarizer}-{i}"
                    print(f"cpu-run: {network} {binarizer}, {setting}", flush=True)
                    figures = timed_run(_params(network, binarizer, p, root, run_id=run_id, jit_compile=jit),
                                        clear_data_cache=clear)
                    rows.append({"network": network, "binarizer": binarizer, "setting": setting, **figures})
    return rows


def _layout_worker(tasks: list[dict[str, Any]]) -> None:
    for params in tasks:
        timed_run(params)


def layout(p: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs per hour of the same runs (every network x binarizer, the fastest setting) in each of `LAYOUTS`."""
    rows = []
    for jobs, threads in LAYOUTS:
        threads = threads or len(os.sched_getaffinity(0))
        with tempfile.TemporaryDirectory() as root:
            runs = [_params(n, b, p, root, run_id=f"{n}-{b}-{s}", seed=s)
                    for n in p["networks"] for b in BINARIZERS for s in range(p["seeds"])]
            shares = [runs[i::jobs] for i in range(jobs)]
            print(f"cpu-run: layout {jobs} process(es) x {threads} thread(s), {len(runs)} runs", flush=True)
            start = time.perf_counter()
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                                        initializer=processes.worker_start,
                                                        initargs=(threads,)) as pool:
                list(pool.map(_layout_worker, shares))
            hours = (time.perf_counter() - start) / 3600
            rows.append({"processes": jobs, "threads per process": threads, "runs": len(runs),
                         "runs per hour": len(runs) / hours})
    return rows


FIGURES = {"first_step_s": "first step [s]", "images_per_s": "train img/s", "validation_images_per_s": "val img/s"}


def tables(rows: list[dict[str, Any]]):
    """The settings table with each figure's ratio to the fastest setting of the same network and binarizer."""
    import pandas as pd

    table = pd.DataFrame(rows)
    for column, label in FIGURES.items():
        if column not in table:
            table[column] = float("nan")
        base = table[table.setting == BASE].set_index(["network", "binarizer"])[column]
        table[f"{label} vs fastest"] = table[column] / [base[n, b] for n, b in zip(table.network, table.binarizer)]
    return table


def markdown(table) -> str:
    """A table as Markdown: floats to two decimals, integers as they are, a missing figure (a failed setting) blank."""
    import pandas as pd

    def cell(value):
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.2f}"
        return "" if value is None else str(value)

    return table.map(cell).to_markdown(index=False, disable_numparse=True)


def run(args: argparse.Namespace):
    """Check, measure, and the Markdown, the table and the parameters (`lab.bench.publish`)."""
    p = check(args)
    import pandas as pd
    from google.protobuf.internal import api_implementation

    processes.worker_start(1)  # one TF thread, as each of the cpu preset's two processes has
    table = tables(measure(p))
    ratio = table[table.setting == BASE].pivot(index="network", columns="binarizer", values="images_per_s")
    shown = table.rename(columns=FIGURES).drop(columns="val img/s vs fastest")

    text = (f"**A cpu-preset run's time** (Fashion-MNIST 28x28, width 0.125, batch 128, one TF thread; "
            f"{p['epochs']} epochs x {p['steps_per_epoch']} steps; {provenance.device()['cpu']}; protobuf backend: "
            f"{api_implementation.Type()}): from the `train()` call to the first finished step, steady training "
            "and validation images/s, and their ratios to the fastest setting of the same run. LAB / sign "
            "training step (fastest setting): "
            + ", ".join(f"{n} {ratio.loc[n, 'sign'] / ratio.loc[n, 'lab']:.2f}" for n in ratio.index) + ".\n\n"
            + markdown(shown) + "\n")
    if p["layout"]:
        layouts = pd.DataFrame(layout(p))
        layouts["ratio"] = layouts["runs per hour"] / layouts["runs per hour"].iloc[0]
        text += (f"\n**Process layout** (the same {len(p['networks']) * len(BINARIZERS) * p['seeds']} runs, fresh "
                 f"processes):\n\n{markdown(layouts)}\n")
    return text, table, p
