"""Reproduce the paper in one batch: data, training runs, every notebook, then one offline HTML report.

``python -m lab.reproduce --preset NAME [--only NAMES] [--jobs N] [--keep-stale] [--plan]`` (a preset of
`lab.presets.PRESETS`; ``make reproduce [KEEP_STALE=1] [PLAN=1]``; ``--plan`` prints what the batch would train, where
its data is and a rough time estimate, and stops: `lab.batch_plan`). The notebooks: ``--only``'s, else the preset's
``notebooks:``, else all of them. The batch:

1. gets the preset's dataset when it can be fetched (``lab.data fetch``);
2. trains and converts every run the table notebooks need, with progress ("run 3/26: birealnet lab 1011"), one
   after the other or in ``--jobs`` processes (the preset's ``jobs:``); then converts the same networks freshly
   initialised at the preset's deployment shape (`lab.deployment`: 224x224x3, full width), also in ``--jobs``
   processes ("graph 3/22 converted: birealnet lab 1011 (224x224x3)"), and times them together, alone: the tables'
   latency and size; finished runs and converted graphs under ``results/runs/``, graphs and latencies under
   ``results/deploy224/`` are reused while their fingerprints hold (`lab.fingerprint`), and redone, saying why,
   when they don't; ``--keep-stale`` (``LAB_KEEP_STALE=1`` for the batch, its processes and kernels) keeps stale
   ones instead, and every table built from them says so;
3. executes every notebook with papermill (``preset`` injected, kernel in the repository root), the claims last
   (they read the other notebooks' runs), keeping the executed copies under ``results/<preset>/notebooks/`` with
   this machine's paths made relative (`lab.report.scrub_notebook`); a failing notebook stops the batch with its
   name and error, keeping what finished;
4. writes ``results/<preset>/report.html`` (`lab.report`): the claims first, outputs only, images embedded, altair
   charts drawn offline, checked with headless Chromium where it is installed; and ``results/<preset>/batch.md``,
   the wall time of each phase.

The batch log shows progress and errors: TensorFlow's C++ INFO lines are off in the batch, its worker processes and
kernels (`QUIET`, unless the caller's environment sets them), and so is the kernel's own start-up log (`KERNEL_ARGS`).

Cheap to import (no TensorFlow): ``--help`` and a bad preset or ``--jobs`` are answered at once.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

from lab import presets, report, sources, validate
from lab.fingerprint import KEEP_STALE_ENV
from lab.processes import check_jobs, quiet_warnings, run_all
from lab.provenance import REPO_ROOT, display_path, results_root, write_table
from lab.runs import run_path

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Batch order: the paper's order, the training curves first; notebooks not listed here follow alphabetically, then
# `LAST` (the claims read every other notebook's runs; the report still shows them first: `lab.report.FIRST`).
ORDER = ("train", "binarization", "table_lab_vs_sign", "ablation_lab_blocks", "binarizer_comparison", "labbnn",
         "edge_latency")
LAST = ("claims",)
# TensorFlow's C++ log from level 1 up (warnings and errors; no INFO lines such as oneDNN's or cpu_feature_guard's)
# in the batch, its workers and kernels, where the caller's environment does not say otherwise.
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "1"}
# The kernel's own log from ERROR up: its start-up warning that it talks over TCP on localhost is nothing to act on.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]


class NotebookError(RuntimeError):
    """A notebook of the batch failed; the message names it and gives its error."""


# --------------------------------------------------------------------------------------------- the batch
def notebooks(only: Iterable[str] | None = None, directory: Path | None = None, *, name: str = "only") -> list[Path]:
    """The batch's notebooks in order (from ``directory``, default `NOTEBOOK_DIR`); ``only`` (names without
    ``.ipynb``) selects some of them; an unknown one is an error naming ``name``, the parameter that gave it."""
    found = {p.stem: p for p in (directory or NOTEBOOK_DIR).glob("*.ipynb")}
    names = ([n for n in ORDER if n in found] + sorted(set(found) - set(ORDER) - set(LAST))
             + [n for n in LAST if n in found])
    if only is not None:
        only = list(only)
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"{name}: unknown notebooks {unknown}; choose from {names}")
        names = [n for n in names if n in only]
    return [found[n] for n in names]


def fetch_data(preset: str) -> None:
    """Get the preset's dataset when `lab.sources` can fetch it unattended (no-op when it is already there)."""
    dataset = presets.load(preset).train.get("dataset")
    if dataset == "fashion_mnist":
        print(sources.fetch_fashion_mnist(), flush=True)


def train_runs(preset: str, notebook_names: Sequence[str], *, jobs: int = 1) -> list[dict]:
    """Train (or reuse) and convert every run the named notebooks need, in ``jobs`` processes (`lab.processes`;
    their epoch lines then start with the run id, as they share one log); returns the runs' metrics in plan order.
    Their converted graphs are for a device benchmark (`lab.trained_graphs.write_graphs`); the tables' latency and
    size come from `deploy_graphs`.

    A failed run stops the batch with its name; finished runs are kept and reused next time, and a run stopped in
    flight resumes after its last finished epoch."""
    from lab import plans

    runs = plans.planned_runs(preset, notebooks=notebook_names)
    if check_jobs(jobs) > 1:
        print(f"training {len(runs)} runs in {jobs} processes", flush=True)

    def done(index, finished, metrics):
        print(f"run {finished}/{len(runs)} done: {runs[index].label}, top-1 {100 * metrics['top1']:.2f} %",
              flush=True)

    tasks = [{"preset": preset, "run": run, **({"verbose": "epoch"} if jobs > 1 else {})} for run in runs]
    return run_all(train_and_convert, tasks, jobs=jobs, on_done=done)


def deploy_graphs(preset: str, notebook_names: Sequence[str], *, jobs: int = 1) -> dict:
    """Latency and size of every network the named notebooks' tables show, at the preset's deployment shape
    (`lab.deployment`): converted in ``jobs`` processes, then timed together with nothing else running, so that
    the notebooks only read the cache. Returns ``{graph: figures}``."""
    from lab import deployment, plans

    graphs = deployment.graphs_of(plans.planned_runs(preset, notebooks=notebook_names))
    return deployment.measure(graphs, presets.load(preset).deployment_shape, jobs=jobs)


def train_and_convert(preset: str, run, **options) -> dict:
    """One planned run (`lab.plans.Run`): train it (or reuse it; ``options`` such as ``verbose`` go to
    `lab.train.run`) and convert it (`lab.trained_graphs.convert_run`); its metrics. A failure names the run."""
    from lab import train, trained_graphs

    try:
        metrics = train.run(preset, **run.overrides, **options)
        trained_graphs.convert_run(metrics["run_id"])
    except Exception as error:
        raise RuntimeError(f"run {run.label} failed: {type(error).__name__}: {error}") from error
    return metrics


def _quiet() -> dict[str, str]:
    """`QUIET`, each variable as the caller's environment sets it where it does."""
    return {name: os.environ.get(name, value) for name, value in QUIET.items()}


@contextlib.contextmanager
def _environ(**values: str):
    """Set environment variables for a block (processes and kernels started in it inherit them), then restore."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def execute(notebook: Path, *, preset: str, out_dir: Path, parameters: dict | None = None) -> Path:
    """Execute one notebook with papermill into ``out_dir`` (its kernel in the repository root, so relative paths
    mean the same as on the command line) and scrub it (`lab.report.scrub_notebook`); `NotebookError` if it
    fails."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / notebook.name
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    try:
        # PYTHONPATH: the kernel imports `lab` from this checkout even when it is not pip-installed.
        with _environ(PYTHONPATH=python_path, **_quiet()):
            papermill.execute_notebook(str(notebook), str(output), parameters={"preset": preset, **(parameters or {})},
                                       kernel_name="python3", cwd=str(REPO_ROOT), progress_bar=False,
                                       extra_arguments=KERNEL_ARGS)
    except Exception as error:  # papermill raises its own error types, and kernel start-up others
        raise NotebookError(f"notebook {notebook.stem} failed: {_first_line(error)} (executed copy: "
                            f"{display_path(output)})") from error
    finally:
        if output.exists():
            report.scrub_notebook(output)
    return output


def _first_line(error: Exception) -> str:
    """The informative part of a papermill error (its ename/evalue) or the error's first line."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    return f"{ename}: {evalue}" if ename else (str(error).strip().splitlines() or [repr(error)])[0]


def check(*, preset: str, only: Sequence[str] | None = None, jobs: int | None = None,
          keep_stale: bool = False) -> tuple[list[Path], int]:
    """`reproduce`'s arguments checked before any work (``ValueError`` naming the first bad one, an unknown preset or
    a bad key in its file included): the selected notebooks and the number of jobs."""
    settings = presets.load(preset)
    validate.require(isinstance(keep_stale, bool), "keep_stale", "True or False", keep_stale)
    jobs = settings.jobs if jobs is None else check_jobs(jobs)
    selected = (notebooks(only) if only is not None or settings.notebooks is None
                else notebooks(settings.notebooks, name=f"notebooks (preset {preset})"))
    if not selected:
        raise ValueError(f"only: no notebooks selected; found none in {NOTEBOOK_DIR}")
    return selected, jobs


def reproduce(*, preset: str, only: Sequence[str] | None = None, train: bool = True, jobs: int | None = None,
              keep_stale: bool = False) -> Path:
    """Run the whole batch at ``preset`` (see the module docstring) and return the report's path.

    ``jobs``: parallel training processes (None: the preset's ``jobs:``, see `train_runs`). ``keep_stale``: keep
    runs, graphs and latencies whose fingerprint no longer holds (``LAB_KEEP_STALE=1`` for the batch) instead of
    redoing them; the tables built from them say so."""
    selected, jobs = check(preset=preset, only=only, jobs=jobs, keep_stale=keep_stale)
    with _environ(**_quiet(), **({KEEP_STALE_ENV: "1"} if keep_stale else {})):
        return _batch(preset, selected, train=train, jobs=jobs)


def show_plan(*, preset: str, only: Sequence[str] | None = None, jobs: int | None = None,
              keep_stale: bool = False):
    """Print what `reproduce` with these arguments would train, where its data is and a rough time estimate
    (`lab.batch_plan.plan`), and return that plan; nothing is trained or written. A missing dataset ends the
    process with status 1 and the error (where lab looked, the command that gets it)."""
    from lab import batch_plan

    selected, jobs = check(preset=preset, only=only, jobs=jobs, keep_stale=keep_stale)
    try:
        with _environ(**_quiet()):
            planned = batch_plan.plan(preset, notebooks=[p.stem for p in selected], jobs=jobs,
                                      keep_stale_runs=keep_stale)
    except sources.DatasetNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    print(planned.text(), flush=True)
    return planned


def _batch(preset: str, selected: Sequence[Path], *, train: bool, jobs: int) -> Path:
    """`reproduce` once its arguments are checked: data, runs, notebooks, report."""
    out = results_root() / preset
    clock, started = [("start", time.perf_counter())], time.time()
    runs = []
    if train:
        fetch_data(preset)
        runs = train_runs(preset, [p.stem for p in selected], jobs=jobs)
        clock.append(("data, training and conversion", time.perf_counter()))
        deploy_graphs(preset, [p.stem for p in selected], jobs=jobs)
        clock.append(("latency and size at the deployment shape", time.perf_counter()))
    executed = []
    for i, notebook in enumerate(selected, start=1):
        print(f"notebook {i}/{len(selected)}: {notebook.stem} ...", flush=True)
        executed.append(execute(notebook, preset=preset, out_dir=out / "notebooks"))
    clock.append(("notebooks", time.perf_counter()))
    page = report.build_report(executed, out / "report.html", title=f"LAB reproduced — preset {preset}")
    clock.append(("report", time.perf_counter()))
    print(f"report: {display_path(page)} ({clock[-1][1] - clock[0][1]:.0f} s in all)", flush=True)
    trained = sum(_finished_since(m["run_id"], started) for m in runs)
    write_batch_times(out / "batch", clock, runs=len(runs), trained=trained, notebooks=[p.stem for p in executed],
                      jobs=jobs)
    if report.CHROMIUM.exists():
        drawn = report.offline_check(page)
        print(f"offline check (headless Chromium, no network): {drawn['charts'] - drawn['static_left']} of "
              f"{drawn['charts']} charts drawn interactively", flush=True)
    return page


def _finished_since(run_id: str, started: float) -> bool:
    """Whether run ``run_id`` finished after ``started`` (``time.time()``), i.e. was trained rather than reused."""
    return (run_path(run_id) / "metrics.json").stat().st_mtime >= started


def write_batch_times(path: Path, clock: Sequence[tuple[str, float]], *, runs: int, trained: int,
                      notebooks: Sequence[str], jobs: int) -> Path:
    """``batch.md`` / ``.csv``: the wall time of each phase of this batch (``clock``: phase names and the
    ``perf_counter`` at its end, after a ``start``) and in all, with how many of its ``runs`` it ``trained`` (the
    rest it reused) and the notebooks it ran, so a quoted batch time always comes from a file."""
    import pandas as pd

    phases = [(name, end - before) for (_, before), (name, end) in zip(clock, clock[1:])]
    phases.append(("in all", clock[-1][1] - clock[0][1]))
    table = pd.DataFrame([{"phase": name, "minutes": round(seconds / 60, 1)} for name, seconds in phases])
    note = (f"**Wall time of the last `python -m lab.reproduce`** at this preset: {runs} runs ({trained} trained in "
            f"this batch, {runs - trained} reused from an earlier one), {len(notebooks)} notebooks, {jobs} "
            "process(es).")
    return write_table(table, path, {"runs": runs, "trained": trained, "notebooks": list(notebooks), "jobs": jobs},
                       note=note)


# --------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None):
    """``python -m lab.reproduce --preset cpu [--only table_lab_vs_sign,labbnn] [--keep-stale] [--plan]``: the
    report's path, or with ``--plan`` the plan (`show_plan`)."""
    parser = argparse.ArgumentParser(prog="python -m lab.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", help=f"one of {', '.join(presets.PRESETS)}")
    parser.add_argument("--only", default=None,
                        help="comma-separated notebook names (default: the preset's `notebooks:`, else all)")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="skip data and the up-front training (notebooks still train what they miss)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="parallel training processes, each with cores/jobs TF threads (default: the preset's "
                             "`jobs:`, else 1)")
    parser.add_argument("--keep-stale", action="store_true",
                        help="keep runs, graphs and latencies made by other code, packages or settings (the tables "
                             "say so) instead of redoing them")
    parser.add_argument("--plan", action="store_true",
                        help="print the runs the batch would train (epochs, batch sizes, steps per epoch), where "
                             "their data is and a rough time estimate from a measured step, then stop (a missing "
                             "dataset fails here); nothing is trained or written")
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    try:
        check(preset=args.preset, only=only, jobs=args.jobs)
    except ValueError as error:
        parser.error(str(error))
    if args.plan:
        return show_plan(preset=args.preset, only=only, jobs=args.jobs, keep_stale=args.keep_stale)
    quiet_warnings()  # what runs here with --jobs 1; workers quiet themselves
    try:
        return reproduce(preset=args.preset, only=only, train=args.train, jobs=args.jobs, keep_stale=args.keep_stale)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(sys.argv[1:])
