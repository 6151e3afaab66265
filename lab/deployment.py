"""Latency and size of the tables' networks at the deployment shape: freshly initialised, folded, converted, timed.

Latency and model size do not depend on the trained weights, so the tables measure them where the paper did, on
the preset's ``deployment_shape`` (`lab.presets.Shape`; 224x224x3 at full width with 1000 classes from the cpu
preset on) rather than on the small networks a preset trains: each graph (`Graph`: network, binarizer, LAB stage
mask) is built with fresh weights, folded (`lab.fold`) and converted with LCE (`lab.deploy.convert`), in the
preset's ``jobs`` processes (`convert_all`); then all of them are timed together, alone, their runs interleaved so
that a change of load hits all alike (`time_all`: `LATENCY_RUNS`, one thread, indirect BGEMM). `params` says so
for a table's provenance.

Each graph lives in ``<results>/deploy224/<name>/`` (`Shape.folder`): ``model.tflite``, ``sizes.json`` (with the
graph's fingerprint: the graph, its shape, the fold, conversion and network code, the packages) and
``latency.json`` (the median and the per-round times, which `latency_samples` reads, with `latency_fingerprint`:
the graph's bytes, timing settings, host, LCE). Both are reused while their fingerprint holds, redone with a
one-line reason when not, or kept under ``LAB_KEEP_STALE=1`` and then returned with ``"stale": [reasons]``.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Sequence

from lab import fingerprint, presets, provenance
from lab.presets import Shape
from lab.processes import run_all

# What `measure` gives every graph: deployed size, file size (MiB) and host latency (ms).
COLUMNS = ("deploy_size_mb", "deploy_tflite_mb", "deploy_host_latency_ms")
# Host latency setting of every table: 20 runs, or as many as fill half a second (a sub-millisecond smoke-shape graph
# needs hundreds to outlast a hiccup of the machine).
LATENCY_RUNS = {"runs": 20, "warmup": 3, "threads": 1, "min_seconds": 0.5}


@dataclasses.dataclass(frozen=True)
class Graph:
    """One network to deploy: ``binarizer`` in the stages of ``lab_blocks`` (None: all), LAB folded unless
    ``fold=False``."""

    model: str
    binarizer: str = "sign"
    lab_blocks: str | None = None
    fold: bool = True

    def __post_init__(self):
        # Folding changes only LAB: any other graph is one graph (one cache entry) whichever way it is asked for.
        if self.binarizer != "lab":
            object.__setattr__(self, "fold", True)

    @property
    def unfolded(self) -> bool:
        return self.binarizer == "lab" and not self.fold

    @property
    def name(self) -> str:
        """Folder name: ``birealnet-lab-1011`` (``-unfolded`` for a LAB kept unfolded)."""
        return "-".join(p for p in (self.model, self.binarizer, self.lab_blocks, "unfolded" * self.unfolded) if p)

    @property
    def label(self) -> str:
        """Progress label: ``birealnet lab 1011``."""
        return self.name.replace("-", " ")


def graphs_of(runs: Iterable) -> list[Graph]:
    """The distinct graphs behind training runs (`lab.plans.Run`: seeds share one graph), in order."""
    return list(dict.fromkeys(Graph(run.model, run.binarizer, run.lab_blocks) for run in runs))


def graph_path(graph: Graph, where: Shape) -> Path:
    """``<results>/deploy224/<name>/model.tflite``."""
    return where.folder / graph.name / "model.tflite"


def graph_fingerprint(graph: Graph, where: Shape) -> dict[str, Any]:
    """What a fresh graph depends on: itself, its shape, the network, fold and conversion code and packages."""
    return fingerprint.fingerprint(code=fingerprint.CONVERSION_CODE + ("lab/models",),
                                   packages=fingerprint.CONVERSION_PACKAGES, **dataclasses.asdict(graph),
                                   **{**dataclasses.asdict(where), "input_shape": list(where.input_shape)})


def latency_fingerprint(graph: Path) -> dict[str, Any]:
    """What a host latency depends on: the graph's bytes, the timing settings and the host (CPU, LCE version)."""
    return fingerprint.fingerprint(packages=("larq-compute-engine",), graph=fingerprint.file_hash(graph),
                                   timing=LATENCY_RUNS, cpu=provenance.cpu_model())


def _cached(path: Path, current: dict[str, Any], graph: Graph, what: str) -> dict[str, Any] | None:
    """The figures cached in ``path`` (with ``"stale"`` when kept stale) if reusable under ``current``, else None."""
    stored = fingerprint.stored_json(path)
    reuse, stale = fingerprint.reusable(stored, current, run_id=graph.label, what=what)
    if not reuse:
        return None
    figures = {k: v for k, v in stored.items() if k != "fingerprint"}
    return {**figures, "stale": stale} if stale else figures


def cached_sizes(graph: Graph, where: Shape) -> dict[str, Any] | None:
    """A converted graph's sizes when its graph and ``sizes.json`` may be reused, else None (announcing why)."""
    if not graph_path(graph, where).exists():
        return None
    return _cached(graph_path(graph, where).with_name("sizes.json"), graph_fingerprint(graph, where), graph,
                   "this graph was converted")


def convert(graph: Graph, where: Shape) -> dict[str, Any]:
    """Build ``graph`` with fresh weights at ``where``, fold and convert it; write ``model.tflite`` and
    ``sizes.json`` (`lab.deploy.sizes`, with the fingerprint) and return the sizes. Times nothing: runs in workers."""
    from lab import deploy

    net = deploy.build_network(graph.model, binarizer=graph.binarizer, lab_blocks=graph.lab_blocks,
                               fold=graph.fold, **where.build_args())
    flatbuffer = deploy.convert(net, fold=False)
    path = graph_path(graph, where)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(flatbuffer)
    sizes = deploy.sizes(net, flatbuffer)
    provenance.write_json(path.with_name("sizes.json"), {**sizes, "fingerprint": graph_fingerprint(graph, where)},
                          {"graph": graph.name, "shape": where.description})
    return sizes


def convert_all(graphs: Sequence[Graph], where: Shape, *, jobs: int = 1) -> dict[Graph, dict[str, Any]]:
    """Sizes of every graph: reused from the cache (`cached_sizes`), the others converted in ``jobs`` processes
    (`convert`), one progress line each."""
    sizes = {graph: cached_sizes(graph, where) for graph in dict.fromkeys(graphs)}
    todo = [graph for graph, found in sizes.items() if found is None]

    def done(index, finished, result):
        print(f"graph {finished}/{len(todo)} converted: {todo[index].label} ({where.label})", flush=True)

    if todo:
        print(f"converting {len(todo)} graphs at {where.description} in {jobs} process(es) "
              f"({len(sizes) - len(todo)} reused)", flush=True)
    converted = run_all(convert, [{"graph": g, "where": where} for g in todo], jobs=jobs, on_done=done)
    sizes.update(zip(todo, converted))
    return sizes


def cached_latency(graph: Graph, where: Shape, current: dict[str, Any]) -> dict[str, Any] | None:
    """A graph's ``latency.json`` figures when reusable under the fingerprint ``current``, else None (announcing
    why): also None for one without per-round times (``times_ms``, timed before `lab` stored them), which the
    tables' latency intervals need."""
    found = _cached(graph_path(graph, where).with_name("latency.json"), current, graph, "this latency was timed")
    if found is not None and "times_ms" not in found:
        print(f"{graph.label}: stale: no per-round times (timed before lab stored them); redoing it", flush=True)
        return None
    return found


def time_all(graphs: Sequence[Graph], where: Shape) -> dict[Graph, dict[str, Any]]:
    """Host latency of every converted graph: reused while `latency_fingerprint` holds (`cached_latency`), the
    others timed together (`lab.timing.compare_latency`: interleaved runs, `LATENCY_RUNS`) with nothing else
    running; written to ``latency.json`` beside each graph with the per-round times (``times_ms``) and the
    ``session`` they were timed in (graphs of one session have paired rounds: index i is one round)."""
    import datetime

    from lab import timing

    current = {graph: latency_fingerprint(graph_path(graph, where)) for graph in dict.fromkeys(graphs)}
    timings = {graph: cached_latency(graph, where, fp) for graph, fp in current.items()}
    todo = [graph for graph, found in timings.items() if found is None]
    if todo:
        print(f"timing host latency of {len(todo)} graphs at {where.label}, interleaved ...", flush=True)
        session = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        measured = timing.compare_latency({g: graph_path(g, where).read_bytes() for g in todo}, **LATENCY_RUNS)
        for graph in todo:
            timings[graph] = {"host_latency_ms": measured[graph]["median_ms"], **{
                k: v for k, v in measured[graph].items() if k.startswith("host") or k in (
                    "runs", "threads", "bconv_kernel", "times_ms")}, "session": session}
            provenance.write_json(graph_path(graph, where).with_name("latency.json"),
                                  {**timings[graph], "fingerprint": current[graph]},
                                  {"graph": graph.name, "shape": where.description, **LATENCY_RUNS})
    return timings


def latency_samples(graphs: Sequence[Graph], where: Shape) -> dict[Graph, Any]:
    """Each graph's per-round host latencies (ms, a numpy array) from its ``latency.json``, after `measure`: the
    samples behind ``deploy_host_latency_ms`` (their median), for a latency ratio's interval (`lab.stats.ratio`).
    Graphs timed in one session (the same ``session`` in ``latency.json``; `lab.reproduce` times all of a batch's
    graphs in one) have equally many rounds, paired by index."""
    import numpy as np

    samples = {}
    for graph in dict.fromkeys(graphs):
        stored = fingerprint.stored_json(graph_path(graph, where).with_name("latency.json")) or {}
        if "times_ms" not in stored:
            raise ValueError(f"{graph.label}: no per-round latencies at {where.label}; run lab.deployment.measure "
                             "first")
        samples[graph] = np.asarray(stored["times_ms"], dtype=float)
    return samples


def measure(graphs: Sequence[Graph], where: Shape, *, jobs: int = 1) -> dict[Graph, dict[str, Any]]:
    """Per graph: ``deploy_size_mb`` (deployed: binary weights 1 bit, the rest 32 bit), ``deploy_tflite_mb`` (the
    file) and ``deploy_host_latency_ms`` (median), converted first (`convert_all`), then timed (`time_all`); with
    ``stale`` (``graph: ...`` / ``latency: ...`` reasons) when something stale was kept."""
    sizes = convert_all(graphs, where, jobs=jobs)
    timings = time_all(list(sizes), where)
    figures = {}
    for graph, size in sizes.items():
        stale = [f"graph: {r}" for r in size.get("stale", [])] + [
            f"latency: {r}" for r in timings[graph].get("stale", [])]
        figures[graph] = {"deploy_size_mb": size["deployed_size_mb"], "deploy_tflite_mb": size["tflite_file_mb"],
                          "deploy_host_latency_ms": timings[graph]["host_latency_ms"],
                          **({"stale": stale} if stale else {})}
    return figures


def measure_preset(preset: str, runs: Iterable) -> dict[Graph, dict[str, Any]]:
    """`measure` the graphs of ``runs`` at the preset's ``deployment_shape``, converting in its ``jobs`` processes."""
    settings = presets.load(preset)
    return measure(graphs_of(runs), settings.deployment_shape, jobs=settings.jobs)


def params(preset: str) -> dict[str, Any]:
    """How the preset's `COLUMNS` are measured (shape, weights, converter, timing, host), for a table's provenance."""
    return {"shape": presets.load(preset).deployment_shape.description, "weights": "freshly initialised, LAB folded",
            "converter": "LCE", **LATENCY_RUNS, "bconv_kernel": "indirect BGEMM", "host_cpu": provenance.cpu_model()}
