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
table and the reasons in its provenance (``params.stale``). Every note also lists the preset's per-network
deviations from the paper's recipe (`deviations_note`). Beside them, from the same per-run rows (`seed_rows`), the
statistics of `lab.table_stats`: Table A's LAB - sign differences paired by seed (``top1_paired``) and Table B's
main effect of LAB per stage (``stage_effects``).

Columns and units: accuracies in % (``top1``, ``top5``: seed means of the trained runs; ``seeds``, ``top1_min`` /
``top1_max`` / ``top1_sd``: their count, range and standard deviation; ``run_ids``), sizes in MiB, latencies in
ms. At the deployment shape: ``deploy_size_mb`` counts weights at their deployed precision (binary 1 bit, the rest
32 bit, LAB folded), ``deploy_tflite_mb`` is the converted file and ``deploy_host_latency_ms`` the median
single-thread latency of LCE's interpreter (indirect BGEMM) on *this* x86 host. ``latency_ratio`` /
``size_ratio`` divide those by the network's base row (its sign network; Table B: mask 0000),
``paper_latency_ratio`` / ``paper_size_ratio`` the same for the paper's figures. ``device_latency_ms`` is the
op-time sum of an ``lce_benchmark_model`` log of a trained graph from a device, when given. The ``paper_*``
columns are the published ImageNet numbers (`lab.paper`), with latencies on an Nvidia Jetson Xavier NX: compare
ratios and trends, not values.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from lab import deployment, paper, presets, provenance, trained_graphs
from lab.plans import (COMPARED_BINARIZERS, Run, comparison_runs, labbnn_runs, mask_of, table_a_runs,
                       table_b_runs)
from lab.table_stats import paired_table, paired_view, stage_effects

# The ratios to each network's base row: ours (`lab.deployment.COLUMNS`) and the paper's.
RATIOS = {"latency_ratio": "deploy_host_latency_ms", "size_ratio": "deploy_size_mb",
          "paper_latency_ratio": "paper_latency_ms", "paper_size_ratio": "paper_size_mb"}


# --------------------------------------------------------------------------------------------- measuring
def _distinct_reasons(cells: Iterable[str]) -> str:
    """The distinct stale reasons of a configuration's seeds (each seed's a "; "-joined cell), in order, as one
    cell."""
    return "; ".join(dict.fromkeys(reason for cell in cells for reason in cell.split("; ") if reason))


def seed_rows(runs: Sequence[Run], preset: str, *, device_logs: str | Path | None = None) -> pd.DataFrame:
    """One row per run: ``name``, ``model``, ``binarizer``, ``lab_blocks`` ("" for none), ``seed``, the trained
    run's ``top1`` / ``top5`` (%), the same network's latency and size at the preset's deployment shape
    (`lab.deployment`: the ``deploy_*`` columns; seeds share one graph), its device latency when logs are given,
    ``run_id`` and ``stale`` (what changed since, per stale input kept with ``LAB_KEEP_STALE=1``; "" when fresh).
    The per-seed statistics (`lab.table_stats`) start here."""
    from lab import train

    device = trained_graphs.device_latencies(device_logs)
    deployed = deployment.measure_preset(preset, runs)
    rows = []
    for run in runs:
        metrics = train.run(preset, **run.overrides)
        figures = dict(deployed[deployment.Graph(run.model, run.binarizer, run.lab_blocks)])
        stale = [f"run: {reason}" for reason in metrics.get("stale", [])] + figures.pop("stale", [])
        rows.append({"name": run.name, "model": run.model, "binarizer": run.binarizer,
                     "lab_blocks": run.lab_blocks or "", "seed": run.seed, "top1": 100 * metrics["top1"],
                     "top5": 100 * metrics["top5"], **figures, "device_latency_ms": device.get(run.name),
                     "run_id": metrics["run_id"], "stale": "; ".join(stale)})
    return pd.DataFrame(rows)


def seed_means(rows: pd.DataFrame) -> pd.DataFrame:
    """`seed_rows` averaged per configuration: the means, ``seeds`` (their count), ``top1_min`` / ``top1_max`` /
    ``top1_sd`` (the seeds' spread, to hold a LAB - sign difference against), ``stale`` (the distinct reasons; only
    when some input was stale) and ``run_ids``."""
    keys = ["name", "model", "binarizer", "lab_blocks"]
    numeric = ["top1", "top5", *deployment.COLUMNS, "device_latency_ms"]
    grouped = rows.groupby(keys, sort=False)
    out = grouped[numeric].mean().reset_index()
    spread = {"seeds": grouped.size(), "top1_min": grouped["top1"].min(), "top1_max": grouped["top1"].max(),
              "top1_sd": grouped["top1"].std()}
    for offset, (column, values) in enumerate(spread.items()):
        out.insert(len(keys) + 2 + offset, column, values.to_numpy())
    if rows["stale"].any():
        out["stale"] = grouped["stale"].agg(_distinct_reasons).to_numpy()
    out["run_ids"] = grouped["run_id"].agg(" ".join).to_numpy()
    return out


def measure(runs: Sequence[Run], preset: str, *, device_logs: str | Path | None = None) -> pd.DataFrame:
    """One row per run configuration, seeds averaged (`seed_means` of `seed_rows`): accuracy of the trained runs,
    latency and size of the same network at the preset's deployment shape, the device latency of the trained graph
    when logs are given, and the run ids; plus a ``stale`` column when a stale run, graph or latency was kept."""
    return seed_means(seed_rows(runs, preset, device_logs=device_logs))


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


def _stale_source_note(rows: pd.DataFrame, table: str) -> str:
    """`STALE_NOTE` for a statistics table built from stale seed rows: their reasons are in ``table``'s column."""
    return (f"**Built from stale inputs** kept with `--keep-stale`: see column `stale` of `{table}.md`."
            if rows["stale"].any() else "")


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


def _setting(key: str, value) -> str:
    return f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"


def deviations_note(preset: str, models: Iterable[str]) -> str:
    """The preset's per-network deviations from the paper's recipe (`lab.presets.Preset.deviations`) for
    ``models``, with their parameters and reasons, as a paragraph of a table's note; "" when there are none."""
    settings, wanted = presets.load(preset), set(models)
    parts = [f"{model}: {', '.join(_setting(k, v) for k, v in settings.per_model[model].items())} ({why})"
             for model, why in settings.deviations.items() if model in wanted]
    return f"**Deviations from the published recipe** (preset `{preset}`): {'; '.join(parts)}." if parts else ""


def _notes(*paragraphs: str) -> str:
    return "\n\n".join(p for p in paragraphs if p)


def _save(table: pd.DataFrame, preset: str, notebook: str, name: str, params: dict, *, base: str) -> pd.DataFrame:
    """Write ``table`` (run ids moved to the last column) as ``results/<preset>/<notebook>/<name>`` under a note
    saying how its deployment columns were measured (ratios relative to ``base``) and, in the provenance, the same
    as ``params.deployment``; a table with a ``stale`` column (see `measure`) also gets `STALE_NOTE` and the reasons
    per row in ``params.stale``."""
    table = table[[c for c in table if c != "run_ids"] + ["run_ids"]]
    stale = {} if "stale" not in table else {row: reasons for row, reasons in zip(table["name"], table["stale"])
                                             if reasons}
    note = _notes(_deployment_note(preset, base), deviations_note(preset, table["model"]), STALE_NOTE * bool(stale))
    provenance.write_table(table, provenance.out_dir(preset, notebook) / name,
                           {"preset": preset, **params, "deployment": deployment.params(preset),
                            **({"stale": stale} if stale else {})}, note=note)
    return table


# --------------------------------------------------------------------------------------------- the tables
_PAPER_A = {"top1": "paper_top1", "top5": "paper_top5", "size_mb": "paper_size_mb", "latency_ms": "paper_latency_ms"}


def table_a(*, preset: str, models: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table A: the four networks x {sign, LAB}, ours beside the paper's; written as ``table_a``, its paired LAB -
    sign differences as ``top1_paired`` (`lab.table_stats.paired_view`), with the converted graphs and a device
    benchmark script in ``graphs/`` (`lab.trained_graphs.write_graphs`). An empty ``models`` / ``device_logs`` (a
    notebook's default) means the preset's networks / no device logs."""
    models, device_logs = models or None, device_logs or None
    rows = seed_rows(table_a_runs(preset, models), preset, device_logs=device_logs)
    published = paper.table_a()[["model", "binarizer", *_PAPER_A]].rename(columns=_PAPER_A)
    table = seed_means(rows).merge(published, on=["model", "binarizer"], how="left")
    table = with_ratios(table, table["binarizer"] == "sign")
    folder = provenance.out_dir(preset, "table_lab_vs_sign")
    trained_graphs.write_graphs(table, folder / "graphs")
    params = {"models": models, "device_logs": device_logs}
    provenance.write_table(paired_view(paired_table(rows)), folder / "top1_paired", {"preset": preset, **params},
                           note=_notes(_paired_note(preset), deviations_note(preset, rows["model"]),
                                       _stale_source_note(rows, "table_a")))
    return _save(table, preset, "table_lab_vs_sign", "table_a", params, base="the network with sign")


def _paired_note(preset: str) -> str:
    return (f"**Table A, top-1, paired by seed** at the `{preset}` preset: validation top-1 % of sign and LAB (means "
            f"over the seeds both have; a seed fixes the initialisation and data order of both), the mean of the "
            f"per-seed differences LAB - sign with its 95 % t-interval (NaN with one seed), and the paper's ImageNet "
            f"difference beside it. All columns: `table_a.md`.")


def table_b(*, preset: str, masks: Sequence[str] | None = None, device_logs: str | None = None) -> pd.DataFrame:
    """Table B: LAB per stage of the ablation network, one row per mask, ours beside the paper's; ``table_b``, and
    each stage's main effect on top-1, latency and size, ours beside the paper's, as ``stage_effects``
    (`lab.table_stats.stage_effects`). An empty ``masks`` / ``device_logs`` (a notebook's default) means the
    preset's masks / no device logs."""
    masks, device_logs = masks or None, device_logs or None
    rows = seed_rows(table_b_runs(preset, masks), preset, device_logs=device_logs)
    ours = seed_means(rows)
    ours.insert(0, "mask", [mask_of(*row) for row in ours[["model", "binarizer", "lab_blocks"]].itertuples(False)])
    published = paper.table_b().rename(columns={c: f"paper_{c}" for c in ("top1", "latency_ms", "size_mb")})
    table = ours.merge(published, on="mask", how="left")
    table = with_ratios(table, table["mask"].map(lambda mask: set(mask) == {"0"}))
    folder = provenance.out_dir(preset, "ablation_lab_blocks")
    trained_graphs.write_graphs(table, folder / "graphs")
    params = {"masks": masks, "device_logs": device_logs}
    provenance.write_table(stage_effects(rows).round(3), folder / "stage_effects", {"preset": preset, **params},
                           note=_notes(_effects_note(preset), deviations_note(preset, rows["model"]),
                                       _stale_source_note(rows, "table_b")))
    return _save(table, preset, "ablation_lab_blocks", "table_b", params, base="mask 0000 (sign everywhere)")


def table_b_effects(*, preset: str, masks: Sequence[str] | None = None) -> pd.DataFrame:
    """`lab.table_stats.stage_effects` of Table B's runs (the ones `table_b` reads: reused, nothing retrained), for
    the ablation notebook's chart (`lab.table_charts.stage_effects`)."""
    return stage_effects(seed_rows(table_b_runs(preset, masks or None), preset))


def _effects_note(preset: str) -> str:
    return (f"**Table B as a 2^4 factorial** at the `{preset}` preset: `effect` is the main effect of LAB in a stage "
            f"(mean over the 8 masks with LAB there minus the 8 without; top-1 in points, `deploy_host_latency_ms` in "
            f"ms at the deployment shape on this host, `deploy_size_mb` in MiB) with its 95 % interval from an OLS "
            f"fit on +-1 coded stages; `error` says what estimates the noise: replicate seeds, or, with one run per "
            f"mask (latency and size always: one graph per mask), the interactions of order >= 3, `df` its degrees of "
            f"freedom. `paper_*`: the same from the paper's Table B (ImageNet top-1, Xavier NX ms, MB).")


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
