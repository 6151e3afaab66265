"""The paper's tables, rebuilt from our training runs, with the published numbers in adjacent ``paper_*`` columns.

Each table function asks `lab.train.run` for the runs it needs (a finished run is reused, never retrained),
measures each trained network once after deployment with Larq Compute Engine (`measure_deployment`, cached next to
the run) and writes the table under ``results/<preset>/<notebook>/`` as CSV + Markdown with provenance.

Units: accuracies in %, sizes in MiB, latencies in ms. ``size_mb`` counts weights at their deployed precision (binary
1 bit, the rest 32 bit, LAB folded) and ``tflite_mb`` is the converted file; ``host_latency_ms`` is the median
single-thread latency of LCE's interpreter on *this* x86 host, ``device_latency_ms`` the op-time sum of an
``lce_benchmark_model`` log from a device, when given. The ``paper_*`` columns are the published ImageNet numbers
(`lab.paper`), with latencies on an Nvidia Jetson Xavier NX: compare trends, not values.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd

from lab import paper, provenance

NETWORKS = ("xnornet", "birealnet", "quicknet", "reactnet")  # Table A's four networks
COMPARED_BINARIZERS = ("sign", "niblack", "sauvola", "lab")
# Host latency setting of every table: 20 runs, or as many as fill half a second (a sub-millisecond cpu-preset graph
# needs hundreds to outlast a hiccup of the machine).
LATENCY_RUNS = {"runs": 20, "warmup": 3, "threads": 1, "min_seconds": 0.5}


@dataclasses.dataclass(frozen=True)
class Run:
    """One training run a table needs: a network, its binarizer, the stages that use it, a seed."""

    model: str
    binarizer: str = "sign"
    lab_blocks: str | None = None
    seed: int | None = None

    @property
    def overrides(self) -> dict[str, Any]:
        """Keyword arguments of `lab.train.run` (unset fields keep the preset's values)."""
        optional = {"lab_blocks": self.lab_blocks, "seed": self.seed}
        return {"model": self.model, "binarizer": self.binarizer,
                **{key: value for key, value in optional.items() if value is not None}}

    @property
    def name(self) -> str:
        """File-name-safe label: ``birealnet-lab-1011``."""
        return "-".join(str(p) for p in (self.model, self.binarizer, self.lab_blocks) if p)

    @property
    def label(self) -> str:
        """Progress label: ``birealnet lab 1011 (seed 0)``."""
        seed = f" (seed {self.seed})" if self.seed is not None else ""
        return " ".join(str(p) for p in (self.model, self.binarizer, self.lab_blocks) if p) + seed


# --------------------------------------------------------------------------------------------- which runs
def settings(preset: str) -> dict[str, Any]:
    """What the tables iterate over at ``preset`` (its YAML's top-level keys), with the paper's defaults."""
    from lab import train

    config = train.load_preset(preset)
    seeds = list(config.get("seeds", [0]))
    return {"models": list(config.get("models", NETWORKS)), "ablation_model": config.get("ablation_model", "birealnet"),
            "ablation_masks": list(config.get("ablation_masks", paper.MASKS)), "seeds": seeds,
            "ablation_seeds": list(config.get("ablation_seeds", seeds))}


def _seeded(runs: Iterable[Run], seeds: Sequence[int]) -> list[Run]:
    return [dataclasses.replace(run, seed=seed) for run in runs for seed in seeds]


def _mask_run(model: str, mask: str) -> Run:
    """The run behind one stage mask: all zeros is the sign network, all ones LAB everywhere (no mask needed)."""
    if set(mask) == {"0"}:
        return Run(model, "sign")
    return Run(model, "lab", None if set(mask) == {"1"} else mask)


def _check_choice(name: str, values: Sequence[str], allowed: Sequence[str]) -> list[str]:
    values = list(values)
    bad = [v for v in values if v not in allowed]
    if bad or not values:
        raise ValueError(f"{name}: must be a non-empty list of {tuple(allowed)}, got {values!r}")
    return values


def _check_masks(masks: Sequence[str], stages: int) -> list[str]:
    masks = list(masks)
    bad = [m for m in masks if not (isinstance(m, str) and len(m) == stages and set(m) <= {"0", "1"})]
    if bad or not masks:
        raise ValueError(f"masks: must be a non-empty list of '0'/'1' strings of length {stages}, got {masks!r}")
    return masks


def table_a_runs(preset: str, models: Sequence[str] | None = None) -> list[Run]:
    """Table A: each of the four networks (those of the preset) with sign and with LAB."""
    s = settings(preset)
    models = _check_choice("models", models or [m for m in s["models"] if m in NETWORKS], NETWORKS)
    return _seeded([Run(m, b) for m in models for b in ("sign", "lab")], s["seeds"])


def table_b_runs(preset: str, masks: Sequence[str] | None = None) -> list[Run]:
    """Table B: the ablation network with LAB in the stages of each mask."""
    from lab.models import NUM_STAGES

    s = settings(preset)
    model = s["ablation_model"]
    masks = _check_masks(masks or s["ablation_masks"], NUM_STAGES[model])
    return _seeded([_mask_run(model, m) for m in masks], s["ablation_seeds"])


def comparison_runs(preset: str, model: str = "birealnet",
                    binarizers: Sequence[str] = COMPARED_BINARIZERS) -> list[Run]:
    """sign vs Niblack vs Sauvola vs LAB on one network."""
    from lab.models import NAMES

    _check_choice("model", [model], NAMES)
    binarizers = _check_choice("binarizers", binarizers, COMPARED_BINARIZERS)
    return _seeded([Run(model, b) for b in binarizers], settings(preset)["seeds"])


def labbnn_runs(preset: str, models: Sequence[str] | None = None) -> list[Run]:
    """LAB-BNN beside the four networks with and without LAB."""
    return table_a_runs(preset, models) + _seeded([Run("labbnn", "lab")], settings(preset)["seeds"])


def binarization_runs(preset: str, model: str = "birealnet") -> list[Run]:
    """Fig. 1: one network trained with sign and with LAB (the first seed)."""
    return [Run(model, b, seed=settings(preset)["seeds"][0]) for b in ("sign", "lab")]


RUNS_OF = {  # notebook -> the runs it needs at its default parameters
    "binarization": binarization_runs, "table_lab_vs_sign": table_a_runs, "ablation_lab_blocks": table_b_runs,
    "binarizer_comparison": comparison_runs, "labbnn": labbnn_runs,
}


def planned_runs(preset: str, *, notebooks: Sequence[str] | None = None) -> list[Run]:
    """Every distinct run the (named) table notebooks need at ``preset``, in notebook order."""
    names = [n for n in (notebooks or RUNS_OF) if n in RUNS_OF]
    return list(dict.fromkeys(run for name in names for run in RUNS_OF[name](preset)))


# --------------------------------------------------------------------------------------------- measuring
def _stored(path: Path) -> dict[str, Any] | None:
    """A JSON results file without its provenance block; ``None`` when it is missing."""
    if not path.exists():
        return None
    return {k: v for k, v in json.loads(path.read_text()).items() if k != "provenance"}


def convert_run(run_id: str) -> dict[str, float]:
    """Fold and convert a trained run with LCE, once: writes ``runs/<run_id>/model.tflite`` (for host and device
    benchmarks) and returns its sizes (`lab.deploy.sizes`, cached in ``runs/<run_id>/sizes.json``).

    Timing nothing, it can run beside other work (`lab.reproduce`'s parallel training)."""
    import lab
    from lab import deploy, train

    folder = train.run_path(run_id)
    cache = folder / "sizes.json"
    stored = _stored(cache) if (folder / "model.tflite").exists() else None
    if stored is not None:
        return stored
    net = lab.fold(train.load_model(run_id))
    flatbuffer = deploy.convert(net, fold=False)
    (folder / "model.tflite").write_bytes(flatbuffer)
    result = deploy.sizes(net, flatbuffer)
    provenance.write_json(cache, result, {"run_id": run_id})
    return result


def measure_deployment(run_id: str) -> dict[str, Any]:
    """A trained run's deployment figures: sizes (`convert_run`) and its host latency, timed here.

    Cached as ``runs/<run_id>/deployment.json`` (re-measured on another host). Time it with nothing else running:
    the latency is only as quiet as the machine."""
    from lab import deploy, train

    folder = train.run_path(run_id)
    cache = folder / "deployment.json"
    stored = _stored(cache)
    if stored is not None and stored.get("host_cpu") == provenance.cpu_model():
        return stored
    sizes = convert_run(run_id)
    timing = deploy.latency((folder / "model.tflite").read_bytes(), **LATENCY_RUNS)
    result = {**sizes, "host_latency_ms": timing["median_ms"],
              **{k: v for k, v in timing.items() if k.startswith("host") or k in ("threads", "bconv_kernel")}}
    provenance.write_json(cache, result, {"run_id": run_id, **LATENCY_RUNS})
    return result


def device_latencies(folder: str | Path | None) -> dict[str, float]:
    """``{graph name: device latency ms}`` from a folder of ``lce_benchmark_model`` op-profiling logs (the sum of
    the per-op averages of each log; a ``_t1`` thread suffix is dropped). Empty when ``folder`` is None."""
    if not folder:
        return {}
    from lab import oplogs

    logs = oplogs.read_logs(folder)
    sums = logs.groupby("model")["avg_ms"].sum()
    return {name.removesuffix("_t1"): float(ms) for name, ms in sums.items()}


def measure(runs: Sequence[Run], preset: str, *, device_logs: str | Path | None = None) -> pd.DataFrame:
    """One row per run configuration (seeds averaged, top-1's lowest and highest seed beside): accuracy, sizes and
    latencies, and the run ids."""
    from lab import train

    device = device_latencies(device_logs)
    rows = []
    for run in runs:
        metrics = train.run(preset, **run.overrides)
        rows.append({"name": run.name, "model": run.model, "binarizer": run.binarizer,
                     "lab_blocks": run.lab_blocks or "", "top1": 100 * metrics["top1"],
                     "top5": 100 * metrics["top5"], **measure_deployment(metrics["run_id"]),
                     "device_latency_ms": device.get(run.name), "run_id": metrics["run_id"]})
    table = pd.DataFrame(rows)
    keys = ["name", "model", "binarizer", "lab_blocks"]
    numeric = ["top1", "top5", "deployed_size_mb", "tflite_file_mb", "host_latency_ms", "device_latency_ms"]
    grouped = table.groupby(keys, sort=False)
    out = grouped[numeric].mean().reset_index()
    # The seed spread beside the mean says whether a LAB - sign difference is larger than the seed noise.
    out.insert(len(keys) + 2, "seeds", grouped.size().to_numpy())
    out.insert(len(keys) + 3, "top1_min", grouped["top1"].min().to_numpy())
    out.insert(len(keys) + 4, "top1_max", grouped["top1"].max().to_numpy())
    out["run_ids"] = grouped["run_id"].agg(" ".join).to_numpy()
    return out.rename(columns={"deployed_size_mb": "size_mb", "tflite_file_mb": "tflite_mb"})


def write_graphs(table: pd.DataFrame, folder: Path) -> Path:
    """Copy each row's converted graph to ``folder/<name>.tflite`` and write ``benchmark.sh`` to profile them on a
    device (`lab.oplogs.benchmark_script`); the logs it makes are the ``device_logs`` the tables read."""
    from lab import oplogs, train

    folder.mkdir(parents=True, exist_ok=True)
    for name, run_ids in zip(table["name"], table["run_ids"]):
        (folder / f"{name}.tflite").write_bytes((train.run_path(run_ids.split()[0]) / "model.tflite").read_bytes())
    script = folder / "benchmark.sh"
    script.write_text(oplogs.benchmark_script([f"{name}.tflite" for name in table["name"]]))
    return script


def out_dir(preset: str, notebook: str) -> Path:
    """``results/<preset>/<notebook>/``."""
    return provenance.results_root() / preset / notebook


def _save(table: pd.DataFrame, preset: str, notebook: str, name: str, params: dict) -> pd.DataFrame:
    """Write ``table`` (run ids moved to the last column) as ``results/<preset>/<notebook>/<name>``."""
    table = table[[c for c in table if c != "run_ids"] + ["run_ids"]]
    provenance.write_table(table, out_dir(preset, notebook) / name, {"preset": preset, **params})
    return table


# --------------------------------------------------------------------------------------------- the tables
_PAPER_A = {"top1": "paper_top1", "top5": "paper_top5", "size_mb": "paper_size_mb", "latency_ms": "paper_latency_ms"}


def table_a(*, preset: str, models: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table A: the four networks x {sign, LAB}, ours beside the paper's; written as ``table_a``, with the
    converted graphs and a device benchmark script in ``graphs/`` (see `write_graphs`)."""
    ours = measure(table_a_runs(preset, models), preset, device_logs=device_logs)
    published = paper.table_a()[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    write_graphs(table, out_dir(preset, "table_lab_vs_sign") / "graphs")
    return _save(table, preset, "table_lab_vs_sign", "table_a", {"models": models, "device_logs": device_logs})


def table_b(*, preset: str, masks: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table B: LAB per stage of the ablation network, one row per mask, ours beside the paper's; ``table_b``."""
    ours = measure(table_b_runs(preset, masks), preset, device_logs=device_logs)
    ours.insert(0, "mask", [_mask_of(*row) for row in ours[["model", "binarizer", "lab_blocks"]].itertuples(False)])
    published = paper.table_b().rename(columns={c: f"paper_{c}" for c in ("top1", "latency_ms", "size_mb")})
    table = ours.merge(published, on="mask", how="left")
    write_graphs(table, out_dir(preset, "ablation_lab_blocks") / "graphs")
    return _save(table, preset, "ablation_lab_blocks", "table_b", {"masks": masks, "device_logs": device_logs})


def _mask_of(model: str, binarizer: str, lab_blocks: str) -> str:
    """The stage mask of a row: its ``lab_blocks``, else all ones (LAB) or all zeros (sign)."""
    from lab.models import NUM_STAGES

    return lab_blocks or ("1" if binarizer == "lab" else "0") * NUM_STAGES[model]


OURS, PAPER = "ours (this batch; host latency)", "paper (ImageNet; Xavier NX latency)"


def versus_paper(table: pd.DataFrame) -> pd.DataFrame:
    """A table with ``paper_*`` columns in long form for `lab.figures`: one row per configuration and ``source``
    (ours / paper) with ``top1``, ``top5``, ``latency_ms`` (ours: host), ``size_mb`` and our seeds' ``top1_min`` /
    ``top1_max`` (when ``table`` has them); metrics the paper did not publish are NaN."""
    keys = [c for c in ("mask", "name", "model", "binarizer") if c in table]
    spread = [c for c in ("top1_min", "top1_max") if c in table]
    metrics = {"top1": "top1", "top5": "top5", "host_latency_ms": "latency_ms", "size_mb": "size_mb",
               **{c: c for c in spread}}
    ours = table[keys + list(metrics)].rename(columns=metrics).assign(source=OURS)
    published = table[keys].assign(source=PAPER, **{
        m: table.get(f"paper_{m}", pd.Series(float("nan"), index=table.index)) for m in metrics.values()})
    return pd.concat([ours, published], ignore_index=True)


def binarizer_comparison(*, preset: str, model: str = "birealnet",
                         binarizers: Sequence[str] = COMPARED_BINARIZERS) -> pd.DataFrame:
    """sign vs Niblack vs Sauvola vs LAB on one network; written as ``binarizers``. The ``paper_*`` columns hold
    Table A's published sign and LAB numbers for the network (no Niblack or Sauvola numbers are available to us)."""
    ours = measure(comparison_runs(preset, model, binarizers), preset)
    published = paper.table_a()[["model", "binarizer", "top1", "top5"]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    return _save(table, preset, "binarizer_comparison", "binarizers", {"model": model, "binarizers": binarizers})


def labbnn_table(*, preset: str, models: Sequence[str] | None = None) -> pd.DataFrame:
    """LAB-BNN beside the four networks with and without LAB, with the published numbers; ``labbnn``."""
    ours = measure(labbnn_runs(preset, models), preset)
    published = pd.concat([paper.table_a(), pd.DataFrame([paper.LAB_BNN])], ignore_index=True)
    published = published[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    return _save(table, preset, "labbnn", "labbnn", {"models": models})
