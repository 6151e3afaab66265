"""The paper's tables, rebuilt from our training runs, with the published numbers in adjacent ``paper_*`` columns.

Each table function asks `lab.train.run` for the runs it needs (`lab.plans`; a finished run is reused while its
fingerprint holds) for the accuracy columns, and `lab.deployment` for latency and size, which do not depend on the
trained weights: measured where the paper measured them, on the same networks freshly initialised at the preset's
``deployment_shape`` (224x224x3, full width, 1000 classes from the cpu preset on), LAB folded, converted with Larq
Compute Engine and timed together on this host (cached under ``results/deploy224/``, each graph and latency with
its fingerprint). Tables A and B also copy the trained runs' own converted graphs to ``graphs/`` for a device
benchmark (`lab.trained_graphs`). Each table is written under ``results/<preset>/<notebook>/`` as CSV +
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

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from lab import deployment, paper, provenance, trained_graphs
from lab.plans import (COMPARED_BINARIZERS, Run, comparison_runs, labbnn_runs, mask_of, table_a_runs,
                       table_b_runs)

# The ratios to each network's base row: ours (`lab.deployment.COLUMNS`) and the paper's.
RATIOS = {"latency_ratio": "deploy_host_latency_ms", "size_ratio": "deploy_size_mb",
          "paper_latency_ratio": "paper_latency_ms", "paper_size_ratio": "paper_size_mb"}


# --------------------------------------------------------------------------------------------- measuring
def _distinct_reasons(lists: Iterable[list[str]]) -> str:
    """The distinct stale reasons of a configuration's seeds, in order, as one cell."""
    return "; ".join(dict.fromkeys(reason for reasons in lists for reason in reasons))


def measure(runs: Sequence[Run], preset: str, *, device_logs: str | Path | None = None) -> pd.DataFrame:
    """One row per run configuration (seeds averaged, top-1's lowest and highest seed beside): accuracy of the
    trained runs, latency and size of the same network at the preset's deployment shape (`lab.deployment`: the
    ``deploy_*`` columns), the device latency of the trained graph when logs are given, and the run ids; plus a
    ``stale`` column (what changed since, per stale input) when a stale run, graph or latency was kept
    (``LAB_KEEP_STALE=1``)."""
    from lab import train

    device = trained_graphs.device_latencies(device_logs)
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
    numeric = ["top1", "top5", *deployment.COLUMNS, "device_latency_ms"]
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


STALE_NOTE = ("**Built from stale inputs** kept with `--keep-stale` (`LAB_KEEP_STALE=1`): column `stale` says what "
              "changed since each row's run, graph or latency was made. `make reproduce` without it redoes them.")


def _deployment_note(preset: str, base: str) -> str:
    """The paragraph above a table that says where its latency and size come from."""
    d = deployment.params(preset)
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
    provenance.write_table(table, provenance.out_dir(preset, notebook) / name,
                           {"preset": preset, **params, "deployment": deployment.params(preset),
                            **({"stale": stale} if stale else {})}, note=note)
    return table


# --------------------------------------------------------------------------------------------- the tables
_PAPER_A = {"top1": "paper_top1", "top5": "paper_top5", "size_mb": "paper_size_mb", "latency_ms": "paper_latency_ms"}


def table_a(*, preset: str, models: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table A: the four networks x {sign, LAB}, ours beside the paper's; written as ``table_a``, with the
    converted graphs and a device benchmark script in ``graphs/`` (`lab.trained_graphs.write_graphs`). An empty
    ``models`` / ``device_logs`` (a notebook's default) means the preset's networks / no device logs."""
    models, device_logs = models or None, device_logs or None
    ours = measure(table_a_runs(preset, models), preset, device_logs=device_logs)
    published = paper.table_a()[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    table = with_ratios(table, table["binarizer"] == "sign")
    trained_graphs.write_graphs(table, provenance.out_dir(preset, "table_lab_vs_sign") / "graphs")
    params = {"models": models, "device_logs": device_logs}
    provenance.write_table(top1_summary(table), provenance.out_dir(preset, "table_lab_vs_sign") / "top1_summary",
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
    """Table B: LAB per stage of the ablation network, one row per mask, ours beside the paper's; ``table_b``. An
    empty ``masks`` / ``device_logs`` (a notebook's default) means the preset's masks / no device logs."""
    masks, device_logs = masks or None, device_logs or None
    ours = measure(table_b_runs(preset, masks), preset, device_logs=device_logs)
    ours.insert(0, "mask", [mask_of(*row) for row in ours[["model", "binarizer", "lab_blocks"]].itertuples(False)])
    published = paper.table_b().rename(columns={c: f"paper_{c}" for c in ("top1", "latency_ms", "size_mb")})
    table = ours.merge(published, on="mask", how="left")
    table = with_ratios(table, table["mask"].map(lambda mask: set(mask) == {"0"}))
    trained_graphs.write_graphs(table, provenance.out_dir(preset, "ablation_lab_blocks") / "graphs")
    return _save(table, preset, "ablation_lab_blocks", "table_b", {"masks": masks, "device_logs": device_logs},
                 base="mask 0000 (sign everywhere)")


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
    """LAB-BNN beside the four networks with and without LAB, with the published numbers; ``labbnn``. An empty
    ``models`` (a notebook's default) means the preset's networks."""
    models = models or None
    ours = measure(labbnn_runs(preset, models), preset)
    published = pd.concat([paper.table_a(), pd.DataFrame([paper.LAB_BNN])], ignore_index=True)
    published = published[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = ours.merge(published, on=["model", "binarizer"], how="left")
    table = with_ratios(table, table["binarizer"] == "sign")
    return _save(table, preset, "labbnn", "labbnn", {"models": models},
                 base="the network with sign (none for LAB-BNN)")
