"""The paper's tables, rebuilt from our training runs, with the published numbers in adjacent ``paper_*`` columns.

Each table function asks `lab.train.run` for the runs it needs (a finished run is reused while its fingerprint
holds) for the accuracy columns, and `lab.deployment` for latency and size, which do not depend on the trained
weights: measured where the paper measured them, on the same networks freshly initialised at the preset's
``deployment_shape`` (224x224x3, full width, 1000 classes from the cpu preset on), LAB folded, converted with Larq
Compute Engine and timed together on this host (cached under ``results/deploy224/``, each graph and latency with
its fingerprint). Tables A and B also copy the trained runs' own converted graphs to ``graphs/`` for a device
benchmark (`convert_run`, `write_graphs`). Each table is written under ``results/<preset>/<notebook>/`` as CSV +
Markdown, with a note stating the deployment shape and timing and the same in its provenance
(``params.deployment``). A table built from a stale run, graph or latency kept with ``LAB_KEEP_STALE=1``
(``python -m lab.reproduce --keep-stale``) has a ``stale`` column saying what changed, a note above the Markdown
table and the reasons in its provenance (``params.stale``).

Columns and units: accuracies in % (``top1``, ``top5``: seed means of the trained runs; ``seeds``, ``top1_min`` /
``top1_max``: their count and range; ``run_ids``), sizes in MiB, latencies in ms. At the deployment shape:
``deploy_size_mb`` counts weights at their deployed precision (binary 1 bit, the rest 32 bit, LAB folded),
``deploy_tflite_mb`` is the converted file and ``deploy_host_latency_ms`` the median single-thread latency of LCE's
interpreter (indirect BGEMM) on *this* x86 host. ``latency_ratio`` / ``size_ratio`` divide those by the network's
base row (its sign network; Table B: mask 0000), ``paper_latency_ratio`` / ``paper_size_ratio`` the same for the
paper's figures. ``device_latency_ms`` is the op-time sum of an ``lce_benchmark_model`` log of a trained graph from a
device, when given. The ``paper_*`` columns are the published ImageNet numbers (`lab.paper`), with latencies on an
Nvidia Jetson Xavier NX: compare ratios and trends, not values.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd
import yaml

from lab import fingerprint, paper, presets, provenance, validate
from lab.paper import NETWORKS

COMPARED_BINARIZERS = ("sign", "niblack", "sauvola", "lab")
# Deployment columns of every table (`lab.deployment.measure`) and the ratios to each network's base row.
DEPLOY_COLUMNS = ("deploy_size_mb", "deploy_tflite_mb", "deploy_host_latency_ms")
RATIOS = {"latency_ratio": "deploy_host_latency_ms", "size_ratio": "deploy_size_mb",
          "paper_latency_ratio": "paper_latency_ms", "paper_size_ratio": "paper_size_mb"}
# Host latency setting of every table: 20 runs, or as many as fill half a second (a sub-millisecond smoke-shape graph
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
def _seeded(runs: Iterable[Run], seeds: Sequence[int]) -> list[Run]:
    return [dataclasses.replace(run, seed=seed) for run in runs for seed in seeds]


def _mask_run(model: str, mask: str) -> Run:
    """The run behind one stage mask: all zeros is the sign network, all ones LAB everywhere (no mask needed)."""
    if set(mask) == {"0"}:
        return Run(model, "sign")
    return Run(model, "lab", None if set(mask) == {"1"} else mask)


def _check_masks(masks: Sequence[str], stages: int) -> list[str]:
    masks = list(masks)
    validate.require(masks and all(isinstance(m, str) and len(m) == stages and set(m) <= {"0", "1"} for m in masks),
                     "masks", f"a non-empty list of '0'/'1' strings of length {stages}", masks)
    return masks


def table_a_runs(preset: str, models: Sequence[str] | None = None) -> list[Run]:
    """Table A: each of the four networks (those of the preset) with sign and with LAB."""
    s = presets.load(preset)
    models = validate.choices("models", validate.as_list(models, "models") or [m for m in s.models if m in NETWORKS],
                              NETWORKS)
    return _seeded([Run(m, b) for m in models for b in ("sign", "lab")], s.seeds)


def table_b_runs(preset: str, masks: Sequence[str] | None = None) -> list[Run]:
    """Table B: the ablation network with LAB in the stages of each mask."""
    from lab.models import NUM_STAGES

    s = presets.load(preset)
    masks = _check_masks(validate.as_list(masks, "masks") or s.ablation_masks, NUM_STAGES[s.ablation_model])
    return _seeded([_mask_run(s.ablation_model, m) for m in masks], s.ablation_seeds)


def comparison_runs(preset: str, model: str = "birealnet",
                    binarizers: Sequence[str] = COMPARED_BINARIZERS) -> list[Run]:
    """sign vs Niblack vs Sauvola vs LAB on one network."""
    validate.choice("model", model, paper.MODELS)
    binarizers = validate.choices("binarizers", binarizers, COMPARED_BINARIZERS)
    return _seeded([Run(model, b) for b in binarizers], presets.load(preset).seeds)


def labbnn_runs(preset: str, models: Sequence[str] | None = None) -> list[Run]:
    """LAB-BNN beside the four networks with and without LAB."""
    return table_a_runs(preset, models) + _seeded([Run("labbnn", "lab")], presets.load(preset).seeds)


def binarization_runs(preset: str, model: str = "birealnet") -> list[Run]:
    """Fig. 1: one network trained with sign and with LAB (the first seed)."""
    return [Run(model, b, seed=presets.load(preset).seeds[0]) for b in ("sign", "lab")]


RUNS_OF = {  # notebook -> the runs it needs at its default parameters
    "binarization": binarization_runs, "table_lab_vs_sign": table_a_runs, "ablation_lab_blocks": table_b_runs,
    "binarizer_comparison": comparison_runs, "labbnn": labbnn_runs,
}


def planned_runs(preset: str, *, notebooks: Sequence[str] | None = None) -> list[Run]:
    """Every distinct run the (named) table notebooks need at ``preset``, in notebook order."""
    names = [n for n in (notebooks or RUNS_OF) if n in RUNS_OF]
    return list(dict.fromkeys(run for name in names for run in RUNS_OF[name](preset)))


# --------------------------------------------------------------------------------------------- measuring


def _run_fingerprint(folder: Path) -> dict[str, Any] | None:
    """The fingerprint a trained run recorded (`lab.train`: ``metrics.json`` or ``config.json``); None if none."""
    for name in ("metrics.json", "config.json"):
        recorded = (fingerprint.stored_json(folder / name) or {}).get("fingerprint")
        if recorded:
            return recorded
    return None


def graph_fingerprint(run_id: str) -> dict[str, Any]:
    """What a run's converted graph depends on: the run (its fingerprint and its final weights), the fold and
    conversion code and the packages behind them."""
    from lab import train

    folder = train.run_path(run_id)
    return fingerprint.fingerprint(code=fingerprint.CONVERSION_CODE, packages=fingerprint.CONVERSION_PACKAGES,
                                   run=_run_fingerprint(folder),
                                   weights=fingerprint.file_hash(folder / "model.weights.h5"))



def convert_run(run_id: str) -> dict[str, Any]:
    """Fold and convert a trained run with LCE: writes ``runs/<run_id>/model.tflite`` (for a device benchmark,
    `write_graphs`) and returns its sizes (`lab.deploy.sizes`), cached in ``runs/<run_id>/sizes.json`` with the graph's
    fingerprint (`graph_fingerprint`). A cached graph is reused while that fingerprint holds; a stale one is
    converted again, or kept under ``LAB_KEEP_STALE=1`` and then returned with ``"stale": [reasons]``.

    Timing nothing, it can run beside other work (`lab.reproduce`'s parallel training)."""
    import lab
    from lab import deploy, train

    folder = train.run_path(run_id)
    cache, graph = folder / "sizes.json", folder / "model.tflite"
    current = graph_fingerprint(run_id)
    stored = fingerprint.stored_json(cache) if graph.exists() else None
    reuse, stale = fingerprint.reusable(stored, current, run_id=run_id, what="this graph was converted")
    if reuse:
        sizes = {k: v for k, v in stored.items() if k != "fingerprint"}
        return {**sizes, "stale": stale} if stale else sizes
    net = lab.fold(train.load_model(run_id))
    flatbuffer = deploy.convert(net, fold=False)
    graph.write_bytes(flatbuffer)
    sizes = deploy.sizes(net, flatbuffer)
    provenance.write_json(cache, {**sizes, "fingerprint": current}, {"run_id": run_id})
    return sizes


def device_latencies(folder: str | Path | None) -> dict[str, float]:
    """``{graph name: device latency ms}`` from a folder of ``lce_benchmark_model`` op-profiling logs (the sum of
    the per-op averages of each log; a ``_t1`` thread suffix is dropped). Empty when ``folder`` is None."""
    if not folder:
        return {}
    from lab import oplogs

    logs = oplogs.read_logs(folder)
    sums = logs.groupby("model")["avg_ms"].sum()
    return {name.removesuffix("_t1"): float(ms) for name, ms in sums.items()}


def _distinct_reasons(lists: Iterable[list[str]]) -> str:
    """The distinct stale reasons of a configuration's seeds, in order, as one cell."""
    return "; ".join(dict.fromkeys(reason for reasons in lists for reason in reasons))


def measure(runs: Sequence[Run], preset: str, *, device_logs: str | Path | None = None) -> pd.DataFrame:
    """One row per run configuration (seeds averaged, top-1's lowest and highest seed beside): accuracy of the
    trained runs, latency and size of the same network at the preset's deployment shape (`lab.deployment`: the
    ``deploy_*`` columns), the device latency of the trained graph when logs are given, and the run ids; plus a
    ``stale`` column (what changed since, per stale input) when a stale run, graph or latency was kept
    (``LAB_KEEP_STALE=1``)."""
    from lab import deployment, train

    device = device_latencies(device_logs)
    deployed = deployment.measure_preset(preset, runs)
    rows = []
    for run in runs:
        metrics = train.run(preset, **run.overrides)
        figures = dict(deployed[deployment.Graph(run.model, run.binarizer, run.lab_blocks)])
        stale = [f"run: {reason}" for reason in metrics.get("stale", [])] + figures.pop("stale", [])
        rows.append({"name": run.name, "model": run.model, "binarizer": run.binarizer,
                     "lab_blocks": run.lab_blocks or "", "top1": 100 * metrics["top1"],
                     "top5": 100 * metrics["top5"], **figures, "device_latency_ms": device.get(run.name),
                     "run_id": metrics["run_id"], "stale": stale})
    table = pd.DataFrame(rows)
    keys = ["name", "model", "binarizer", "lab_blocks"]
    numeric = ["top1", "top5", *DEPLOY_COLUMNS, "device_latency_ms"]
    grouped = table.groupby(keys, sort=False)
    out = grouped[numeric].mean().reset_index()
    # The seed spread beside the mean says whether a LAB - sign difference is larger than the seed noise.
    out.insert(len(keys) + 2, "seeds", grouped.size().to_numpy())
    out.insert(len(keys) + 3, "top1_min", grouped["top1"].min().to_numpy())
    out.insert(len(keys) + 4, "top1_max", grouped["top1"].max().to_numpy())
    if any(table["stale"]):
        out["stale"] = grouped["stale"].agg(_distinct_reasons).to_numpy()
    out["run_ids"] = grouped["run_id"].agg(" ".join).to_numpy()
    return out


def with_ratios(table: pd.DataFrame, base: pd.Series) -> pd.DataFrame:
    """``table`` with `RATIOS`: each network's deployment latency and size (ours and, where the table has them, the
    paper's) divided by those of its ``base`` row (a boolean per row: the sign network, or Table B's mask 0000);
    NaN for a network without a base row."""
    out = table.copy()
    for ratio, column in RATIOS.items():
        if column in table:
            out[ratio] = table[column] / table[column].where(base).groupby(table["model"]).transform("first")
    return out


def write_graphs(table: pd.DataFrame, folder: Path) -> Path:
    """Copy each row's trained, converted graph (`convert_run`) to ``folder/<name>.tflite`` and write
    ``benchmark.sh`` to profile them on a device (`lab.oplogs.benchmark_script`); the logs it makes are the
    ``device_logs`` the tables read."""
    from lab import oplogs, train

    folder.mkdir(parents=True, exist_ok=True)
    for name, run_ids in zip(table["name"], table["run_ids"]):
        run_id = run_ids.split()[0]
        convert_run(run_id)
        (folder / f"{name}.tflite").write_bytes((train.run_path(run_id) / "model.tflite").read_bytes())
    script = folder / "benchmark.sh"
    script.write_text(oplogs.benchmark_script([f"{name}.tflite" for name in table["name"]]))
    return script


def out_dir(preset: str, notebook: str) -> Path:
    """``results/<preset>/<notebook>/``."""
    return provenance.results_root() / preset / notebook


STALE_NOTE = ("**Built from stale inputs** kept with `--keep-stale` (`LAB_KEEP_STALE=1`): column `stale` says what "
              "changed since each row's run, graph or latency was made. `make reproduce` without it redoes them.")


def deployment_params(preset: str) -> dict[str, Any]:
    """How the ``deploy_*`` columns were measured (`lab.deployment`), for a table's provenance."""
    from lab import deployment

    return {"shape": presets.load(preset).deployment_shape.description, "weights": "freshly initialised, LAB folded",
            "converter": "LCE", **LATENCY_RUNS, "bconv_kernel": "indirect BGEMM", "host_cpu": provenance.cpu_model()}


def _deployment_note(preset: str, base: str) -> str:
    """The paragraph above a table that says where its latency and size come from."""
    d = deployment_params(preset)
    return (f"**Latency and size at the deployment shape** {d['shape']}: accuracy (`top1`, `top5`) is the trained "
            f"`{preset}` runs'; the `deploy_*` columns measure the same networks {d['weights']} and converted with "
            f"LCE at that shape, since latency and size do not depend on the trained weights. `deploy_size_mb`: "
            f"binary weights at 1 bit, the rest at 32 bit; `deploy_tflite_mb`: the file (MiB); "
            f"`deploy_host_latency_ms`: median of >= {d['runs']} interleaved runs of LCE's interpreter, "
            f"{d['threads']} thread(s), {d['bconv_kernel']}, on this host ({d['host_cpu']}), not a device. "
            f"`latency_ratio` / `size_ratio`: relative to {base}; `paper_*_ratio`: the same from the paper's figures "
            f"(latency on a Jetson Xavier NX).")


def _save(table: pd.DataFrame, preset: str, notebook: str, name: str, params: dict, *, base: str) -> pd.DataFrame:
    """Write ``table`` (run ids moved to the last column) as ``results/<preset>/<notebook>/<name>`` under a note
    saying how its deployment columns were measured (ratios relative to ``base``) and, in the provenance, the same
    as ``params.deployment``; a table with a ``stale`` column (see `measure`) also gets `STALE_NOTE` and the reasons
    per row in ``params.stale``."""
    table = table[[c for c in table if c != "run_ids"] + ["run_ids"]]
    stale = {} if "stale" not in table else {row: reasons for row, reasons in zip(table["name"], table["stale"])
                                             if reasons}
    note = _deployment_note(preset, base) + (f"\n\n{STALE_NOTE}" if stale else "")
    provenance.write_table(table, out_dir(preset, notebook) / name,
                           {"preset": preset, **params, "deployment": deployment_params(preset),
                            **({"stale": stale} if stale else {})}, note=note)
    return table


# --------------------------------------------------------------------------------------------- the tables
_PAPER_A = {"top1": "paper_top1", "top5": "paper_top5", "size_mb": "paper_size_mb", "latency_ms": "paper_latency_ms"}


def table_a(*, preset: str, models: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table A: the four networks x {sign, LAB}, ours beside the paper's; written as ``table_a``, with the
    converted graphs and a device benchmark script in ``graphs/`` (see `write_graphs`)."""
    ours = measure(table_a_runs(preset, models), preset, device_logs=device_logs)
    published = paper.table_a()[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    table = with_ratios(table, table["binarizer"] == "sign")
    write_graphs(table, out_dir(preset, "table_lab_vs_sign") / "graphs")
    params = {"models": models, "device_logs": device_logs}
    provenance.write_table(top1_summary(table), out_dir(preset, "table_lab_vs_sign") / "top1_summary",
                           {"preset": preset, **params}, note=_summary_note(preset, table))
    return _save(table, preset, "table_lab_vs_sign", "table_a", params, base="the network with sign")


def _top1_cell(row) -> str:
    """``66.1 (65.8-66.4)``: the seed mean of top-1 with the lowest and highest seed."""
    return f"{row.top1:.1f} ({row.top1_min:.1f}-{row.top1_max:.1f})" if row.seeds > 1 else f"{row.top1:.1f}"


def top1_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Table A's top-1 in a README-sized view: per network, sign and LAB (seed mean, range), the paper's beside."""
    rows = []
    for model, group in table.groupby("model", sort=False):
        by = {row.binarizer: row for row in group.itertuples()}
        rows.append({"network": model, **{f"{label} top-1 %": _top1_cell(by[b])
                                          for b, label in (("sign", "sign"), ("lab", "LAB")) if b in by},
                     "paper sign / LAB top-1 % (ImageNet)": " / ".join(f"{by[b].paper_top1:.1f}"
                                                                       for b in ("sign", "lab") if b in by)})
    return pd.DataFrame(rows)


def _summary_note(preset: str, table: pd.DataFrame) -> str:
    seeds = int(table["seeds"].max())
    return (f"**Table A, top-1** at the `{preset}` preset (validation top-1 %, mean of {seeds} seed(s), lowest-highest "
            f"seed in brackets; all columns in `table_a.md`), beside the paper's ImageNet figures."
            + (f"\n\n{STALE_NOTE}" if "stale" in table else ""))


def table_b(*, preset: str, masks: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table B: LAB per stage of the ablation network, one row per mask, ours beside the paper's; ``table_b``."""
    ours = measure(table_b_runs(preset, masks), preset, device_logs=device_logs)
    ours.insert(0, "mask", [_mask_of(*row) for row in ours[["model", "binarizer", "lab_blocks"]].itertuples(False)])
    published = paper.table_b().rename(columns={c: f"paper_{c}" for c in ("top1", "latency_ms", "size_mb")})
    table = ours.merge(published, on="mask", how="left")
    table = with_ratios(table, table["mask"].map(lambda mask: set(mask) == {"0"}))
    write_graphs(table, out_dir(preset, "ablation_lab_blocks") / "graphs")
    return _save(table, preset, "ablation_lab_blocks", "table_b", {"masks": masks, "device_logs": device_logs},
                 base="mask 0000 (sign everywhere)")


def _mask_of(model: str, binarizer: str, lab_blocks: str) -> str:
    """The stage mask of a row: its ``lab_blocks``, else all ones (LAB) or all zeros (sign)."""
    from lab.models import NUM_STAGES

    return lab_blocks or ("1" if binarizer == "lab" else "0") * NUM_STAGES[model]


OURS, PAPER = "ours (this batch; host latency at the deployment shape)", "paper (ImageNet; Xavier NX latency)"


def versus_paper(table: pd.DataFrame) -> pd.DataFrame:
    """A table with ``paper_*`` columns in long form for `lab.figures`: one row per configuration and ``source``
    (ours / paper) with ``top1``, ``top5``, ``latency_ms`` (ours: host, at the deployment
    shape), ``size_mb`` (ours: at the deployment shape) and our seeds' ``top1_min`` /
    ``top1_max`` (when ``table`` has them); metrics the paper did not publish are NaN."""
    keys = [c for c in ("mask", "name", "model", "binarizer") if c in table]
    spread = [c for c in ("top1_min", "top1_max") if c in table]
    metrics = {"top1": "top1", "top5": "top5", "deploy_host_latency_ms": "latency_ms", "deploy_size_mb": "size_mb",
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
    table = with_ratios(table, table["binarizer"] == "sign")
    return _save(table, preset, "binarizer_comparison", "binarizers", {"model": model, "binarizers": binarizers},
                 base="the network with sign")


def labbnn_table(*, preset: str, models: Sequence[str] | None = None) -> pd.DataFrame:
    """LAB-BNN beside the four networks with and without LAB, with the published numbers; ``labbnn``."""
    ours = measure(labbnn_runs(preset, models), preset)
    published = pd.concat([paper.table_a(), pd.DataFrame([paper.LAB_BNN])], ignore_index=True)
    published = published[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    table = with_ratios(table, table["binarizer"] == "sign")
    return _save(table, preset, "labbnn", "labbnn", {"models": models},
                 base="the network with sign (none for LAB-BNN)")
