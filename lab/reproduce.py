"""Reproduce the paper in one batch: data, training runs, every notebook, then one offline HTML report.

``python -m lab.reproduce --preset cpu|smoke|imagenette|imagenet [--only NAMES] [--jobs N] [--keep-stale]``
(``make reproduce [KEEP_STALE=1]``):

1. gets the preset's dataset when it can be fetched (``lab.data fetch``);
2. trains and converts every run the table notebooks need, with progress ("run 3/26: birealnet lab 1011"), one
   after the other or in ``--jobs`` processes (the preset's ``jobs:``); then converts the same networks freshly
   initialised at the preset's deployment shape (`lab.deployment`: 224x224x3, full width), also in ``--jobs``
   processes ("graph 3/22 converted: birealnet lab 1011 (224x224x3)"), and times them together, alone: the tables'
   latency and size; finished runs and converted graphs under ``results/runs/``, graphs and latencies under
   ``results/deploy224/`` are reused while their fingerprints hold (`lab.fingerprint`), and redone, saying why,
   when they don't; ``--keep-stale`` (``LAB_KEEP_STALE=1`` for the batch, its processes and kernels) keeps stale
   ones instead, and every table built from them says so;
3. executes every notebook with papermill (``preset`` injected, kernel in the repository root), keeping the
   executed copies under ``results/<preset>/notebooks/`` with this machine's paths made relative
   (`lab.provenance.scrub_paths`); a failing notebook stops the batch with its name and error, keeping what finished;
4. writes ``results/<preset>/report.html``: outputs only, images embedded, and altair charts rendered by an inlined
   copy of Vega / Vega-Lite / Vega-Embed (vl-convert's bundle) with a static SVG underneath, so the report needs no
   network at all (:func:`offline_check` verifies that with headless Chromium).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Sequence

from lab import deployment, presets
from lab.fingerprint import KEEP_STALE_ENV
from lab.processes import check_jobs, run_all
from lab.provenance import REPO_ROOT, display_path, git_commit, results_root, scrub_paths, write_table

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Batch order: the paper's order, the training curves first; notebooks not listed here follow alphabetically.
ORDER = ("train", "binarization", "table_lab_vs_sign", "ablation_lab_blocks", "binarizer_comparison", "labbnn",
         "edge_latency")
CHROMIUM = Path("/usr/bin/chromium")
CHART_CLASS = "lab-chart"


class NotebookError(RuntimeError):
    """A notebook of the batch failed; the message names it and gives its error."""


# --------------------------------------------------------------------------------------------- the batch
def notebooks(only: Iterable[str] | None = None, directory: Path | None = None) -> list[Path]:
    """The batch's notebooks in order (from ``directory``, default `NOTEBOOK_DIR`); ``only`` (names without
    ``.ipynb``) selects some of them."""
    found = {p.stem: p for p in (directory or NOTEBOOK_DIR).glob("*.ipynb")}
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    if only is not None:
        only = list(only)
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"only: unknown notebooks {unknown}; choose from {names}")
        names = [n for n in names if n in only]
    return [found[n] for n in names]


def fetch_data(preset: str) -> None:
    """Get the preset's dataset when `lab.data` can fetch it unattended (no-op when it is already there)."""
    from lab import data

    dataset = presets.load(preset).train.get("dataset")
    if dataset == "fashion_mnist":
        print(data.fetch_fashion_mnist(), flush=True)


def train_runs(preset: str, notebook_names: Sequence[str], *, jobs: int = 1) -> list[dict]:
    """Train (or reuse) and convert every run the named notebooks need, in ``jobs`` processes (`lab.processes`;
    their epoch lines then start with the run id, as they share one log); returns the runs' metrics in plan order.
    Their converted graphs are for a device benchmark (`lab.tables.write_graphs`); the tables' latency and size
    come from `deploy_graphs`.

    A failed run stops the batch with its name; finished runs are kept and reused next time, and a run stopped in
    flight resumes after its last finished epoch."""
    from lab import tables

    runs = tables.planned_runs(preset, notebooks=notebook_names)
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
    from lab import tables

    graphs = deployment.graphs_of(tables.planned_runs(preset, notebooks=notebook_names))
    return deployment.measure(graphs, presets.load(preset).deployment_shape, jobs=jobs)


def train_and_convert(preset: str, run, **options) -> dict:
    """One planned run (`lab.tables.Run`): train it (or reuse it; ``options`` such as ``verbose`` go to
    `lab.train.run`) and convert it (`lab.tables.convert_run`); its metrics. A failure names the run."""
    from lab import tables, train

    try:
        metrics = train.run(preset, **run.overrides, **options)
        tables.convert_run(metrics["run_id"])
    except Exception as error:
        raise RuntimeError(f"run {run.label} failed: {type(error).__name__}: {error}") from error
    return metrics


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


# Outputs papermill keeps base64-encoded: never text to scrub.
_BINARY_MIME = re.compile(r"^image/(?!svg)|^application/pdf$")


def _scrubbed(value):
    """``value`` (text, or lists / dicts of it) without this machine's paths."""
    if isinstance(value, str):
        return scrub_paths(value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {k: v if _BINARY_MIME.match(k) else _scrubbed(v) for k, v in value.items()}
    return value


def scrub_notebook(path: Path) -> None:
    """Rewrite an executed notebook without this machine's paths: papermill's metadata (input and output paths),
    the injected parameters and every textual output (prints, warnings, tracebacks, tables)."""
    import nbformat

    book = nbformat.read(str(path), as_version=4)
    book.metadata["papermill"] = _scrubbed(book.metadata.get("papermill", {}))
    for cell in book.cells:
        cell.source = scrub_paths(cell.source)
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(_scrubbed(output)) for output in cell.outputs]
    nbformat.write(book, str(path))


def execute(notebook: Path, *, preset: str, out_dir: Path, parameters: dict | None = None) -> Path:
    """Execute one notebook with papermill into ``out_dir`` (its kernel in the repository root, so relative paths
    mean the same as on the command line) and scrub it (`scrub_notebook`); `NotebookError` if it fails."""
    import papermill

    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / notebook.name
    python_path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    try:
        # PYTHONPATH: the kernel imports `lab` from this checkout even when it is not pip-installed.
        with _environ(PYTHONPATH=python_path):
            papermill.execute_notebook(str(notebook), str(output), parameters={"preset": preset, **(parameters or {})},
                                       kernel_name="python3", cwd=str(REPO_ROOT), progress_bar=False)
    except Exception as error:  # papermill raises its own error types, and kernel start-up others
        raise NotebookError(f"notebook {notebook.stem} failed: {_first_line(error)} (executed copy: "
                            f"{display_path(output)})") from error
    finally:
        if output.exists():
            scrub_notebook(output)
    return output


def _first_line(error: Exception) -> str:
    """The informative part of a papermill error (its ename/evalue) or the error's first line."""
    ename, evalue = getattr(error, "ename", None), getattr(error, "evalue", None)
    return f"{ename}: {evalue}" if ename else (str(error).strip().splitlines() or [repr(error)])[0]


def reproduce(*, preset: str, only: Sequence[str] | None = None, train: bool = True, jobs: int | None = None,
              keep_stale: bool = False) -> Path:
    """Run the whole batch at ``preset`` (see the module docstring) and return the report's path.

    ``jobs``: parallel training processes (None: the preset's ``jobs:``, see `train_runs`). ``keep_stale``: keep
    runs, graphs and latencies whose fingerprint no longer holds (``LAB_KEEP_STALE=1`` for the batch) instead of
    redoing them; the tables built from them say so."""
    settings = presets.load(preset)  # an unknown preset or a bad key in its file fails here, before any work
    if not isinstance(keep_stale, bool):
        raise ValueError(f"keep_stale: must be True or False, got {keep_stale!r}")
    jobs = settings.jobs if jobs is None else check_jobs(jobs)
    selected = notebooks(only)
    if not selected:
        raise ValueError(f"only: no notebooks selected; found none in {NOTEBOOK_DIR}")
    with _environ(**({KEEP_STALE_ENV: "1"} if keep_stale else {})):
        return _batch(preset, selected, train=train, jobs=jobs)


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
    report = build_report(executed, out / "report.html", title=f"LAB reproduced — preset {preset}")
    clock.append(("report", time.perf_counter()))
    print(f"report: {display_path(report)} ({clock[-1][1] - clock[0][1]:.0f} s in all)", flush=True)
    trained = sum(_finished_since(m["run_id"], started) for m in runs)
    write_batch_times(out / "batch", clock, runs=len(runs), trained=trained, notebooks=[p.stem for p in executed],
                      jobs=jobs)
    if CHROMIUM.exists():
        drawn = offline_check(report)
        print(f"offline check (headless Chromium, no network): {drawn['charts'] - drawn['static_left']} of "
              f"{drawn['charts']} charts drawn interactively", flush=True)
    return report


def _finished_since(run_id: str, started: float) -> bool:
    """Whether run ``run_id`` finished after ``started`` (``time.time()``), i.e. was trained rather than reused."""
    from lab.train import run_path

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


# --------------------------------------------------------------------------------------------- the report
_ALTAIR_HTML = re.compile(r"\}\)\((\{.*\}), (\{\"mode\": \"vega-lite\".*?\})\);\s*</script>", re.S)
_VEGALITE_MIME = re.compile(r"^application/vnd\.vegalite\.v\d+(\.\d+)*[.+]json$")
_EXTERNAL = re.compile(r"<script[^>]*\bsrc=\"https?://[^\"]*\"[^>]*>\s*</script>|"
                       r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.I)


def _chart_spec(data: dict) -> tuple[dict, str | None] | None:
    """``(Vega-Lite spec, static SVG or None)`` of an output that shows an altair chart, else ``None``.

    Recognised: a Vega-Lite mime bundle (`lab.figures.show`, altair's "mimetype" renderer) and altair's default
    HTML output (which would load Vega from a CDN)."""
    for mime, value in data.items():
        if _VEGALITE_MIME.match(mime):
            spec = json.loads(value) if isinstance(value, str) else value
            return spec, data.get("image/svg+xml")
    match = _ALTAIR_HTML.search(data.get("text/html", "")) if "text/html" in data else None
    return (json.loads(match.group(1)), None) if match else None


def _script_json(value) -> str:
    """JSON safe to place inside a ``<script>`` element."""
    return json.dumps(value).replace("</", "<\\/")


def chart_html(spec: dict, svg: str | None, index: int) -> str:
    """A chart for the report: its static SVG, replaced by the interactive Vega-Embed view once that has drawn."""
    import vl_convert as vlc

    svg = svg or vlc.vegalite_to_svg(spec)
    chart_id = f"{CHART_CLASS}-{index}"
    return (f'<div class="{CHART_CLASS}" id="{chart_id}"><div class="{CHART_CLASS}-static">{svg}</div></div>\n'
            f'<script type="text/javascript">(function () {{\n'
            f'  var box = document.getElementById("{chart_id}");\n'
            f'  vegaEmbed(box.appendChild(document.createElement("div")), {_script_json(spec)},\n'
            f'            {{"renderer": "svg", "actions": false}})\n'
            f'    .then(function () {{ box.querySelector(".{CHART_CLASS}-static").remove(); }})\n'
            f'    .catch(function (error) {{ console.error(error); }});\n'
            f'}})();</script>')


def _report_outputs(outputs: list, counter: list[int]) -> list:
    """A code cell's outputs for the report: printed text (logs, warnings, progress) dropped, altair charts made
    offline; tables, figures and charts kept."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            continue
        chart = _chart_spec(output.get("data", {})) if "data" in output else None
        if chart:
            counter[0] += 1
            output["data"] = {"text/html": chart_html(*chart, counter[0])}
            output.pop("metadata", None)
            output["metadata"] = {}
        kept.append(output)
    return kept


def merge(executed: Sequence[Path], *, title: str):
    """One notebook holding the executed notebooks one after the other (charts prepared for the offline report),
    and the number of charts in it."""
    import nbformat

    books = [nbformat.read(str(p), as_version=4) for p in executed]
    header = (f"# {title}\n\nNotebooks: {', '.join(p.stem for p in executed)}. Code commit {git_commit()}; "
              f"built {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Numbers labelled *paper* are published "
              f"(ImageNet, Nvidia Jetson Xavier NX); all others were measured by this batch.")
    merged = nbformat.v4.new_notebook(metadata=books[0].metadata if books else {})
    merged.cells.append(nbformat.v4.new_markdown_cell(header))
    counter = [0]
    for book in books:
        for cell in book.cells:
            if cell.cell_type == "code":
                cell.outputs = _report_outputs(cell.outputs, counter)
            merged.cells.append(cell)
    return merged, counter[0]


def build_report(executed: Sequence[Path], path: Path, *, title: str = "LAB reproduced") -> Path:
    """Write the executed notebooks as one self-contained HTML report (no code, no network needed)."""
    import vl_convert as vlc
    from nbconvert import HTMLExporter

    merged, charts = merge(executed, title=title)
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            embed_images=True)
    body, _ = exporter.from_notebook_node(merged, resources={"metadata": {"name": title}})
    body = _EXTERNAL.sub("", body)  # require.js, MathJax, fonts: unused, and unreachable offline
    script = vlc.javascript_bundle().replace("</script", "<\\/script")
    bundle = f'<script type="text/javascript">{script}</script>'
    body = body.replace("</head>", f"{bundle}\n<!-- lab-charts: {charts} -->\n</head>", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    return path


def report_chart_count(report: Path) -> int:
    """How many charts :func:`build_report` put into ``report``."""
    match = re.search(r"<!-- lab-charts: (\d+) -->", report.read_text())
    return int(match.group(1)) if match else 0


def offline_check(report: Path, *, chromium: Path = CHROMIUM, timeout_s: int = 120) -> dict:
    """Render ``report`` in headless Chromium with networking off and count what was drawn.

    Returns ``{"charts", "rendered", "static_left", "images"}``: the report's charts, interactive Vega views drawn
    (``svg.marks``), static fallbacks that were never replaced (a chart whose script failed) and ``<img>`` tags."""
    if not chromium.exists():
        raise FileNotFoundError(f"chromium: {chromium} not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--proxy-server=127.0.0.1:9", "--virtual-time-budget=30000", "--dump-dom", report.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout_s, check=True)
    dom = done.stdout
    return {"charts": report_chart_count(report), "rendered": dom.count('class="marks"'),
            "static_left": dom.count(f'class="{CHART_CLASS}-static"'), "images": dom.count("<img")}


# --------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> Path:
    """``python -m lab.reproduce --preset cpu [--only table_lab_vs_sign,labbnn] [--keep-stale]``."""
    parser = argparse.ArgumentParser(prog="python -m lab.reproduce", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", help=f"one of {', '.join(presets.PRESETS)}")
    parser.add_argument("--only", default=None, help="comma-separated notebook names (default: all)")
    parser.add_argument("--no-train", dest="train", action="store_false",
                        help="skip data and the up-front training (notebooks still train what they miss)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="parallel training processes, each with cores/jobs TF threads (default: the preset's "
                             "`jobs:`, else 1)")
    parser.add_argument("--keep-stale", action="store_true",
                        help="keep runs, graphs and latencies made by other code, packages or settings (the tables "
                             "say so) instead of redoing them")
    args = parser.parse_args(argv)
    # The batch log shows progress and errors: TF's C++ INFO lines from every worker and kernel would drown them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    try:
        return reproduce(preset=args.preset, only=only, train=args.train, jobs=args.jobs, keep_stale=args.keep_stale)
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main(sys.argv[1:])
