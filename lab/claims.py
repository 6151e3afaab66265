"""A verdict per claim of the paper, computed from our runs: ``results/<preset>/claims.{md,csv}``.

Each claim becomes one row (`COLUMNS`): the claim in plain words, the measure, the paper's number, our estimate with
its 95 % interval (`CONFIDENCE`) over ``n`` seeds (latency: ``n`` interleaved timing rounds), the `verdict` and how
it was tested. The claims and their tests:

(a) LAB beats sign on each network (`lab_vs_sign_rows`): top-1 of LAB - sign, paired by seed
    (`lab.table_stats.paired_table`, `lab.stats.paired`); the paper's difference from its Table A.
(b) LAB in stage s helps (`stage_rows`): Table B's main effect of LAB in stage s on top-1, from the 2^4 factorial
    of stage masks (`lab.table_stats.stage_effects`), beside the same effect computed from the paper's Table B.
(c) LAB-BNN is the best accuracy per MB (`accuracy_per_mb_rows`): top-1 / ``deploy_size_mb`` of LAB-BNN minus
    that of the best other network (either binarizer, best by its seed mean), paired by seed.
(d) LAB's binary channels are more unique than sign's (`uniqueness_rows`): `lab.analysis.PRIMARY_MEASURE` (larger:
    more unique) averaged over the binarizer layers, LAB - sign paired by seed; the paper shows it (Fig. 1) but
    gives no number. `uniqueness_by_image` tests it on each image set of the Fig. 1 study.
(e) LAB costs latency (`latency_rows`): host latency LAB / sign at the deployment shape, from the interleaved
    timing rounds (`lab.stats.ratio`: geometric mean ratio); the paper's ratio from its Table A latencies.

The row builders are pure (DataFrames in, rows out); `claims_table` gathers the runs the batch trained (`train.run`
reuses them), builds the table and writes it with its provenance and a note saying scale, device and what the
verdicts mean. Our runs are a small dataset on a CPU, the paper's ImageNet and a Jetson Xavier NX: a verdict says
whether *our* data shows the paper's direction, not whether its numbers hold.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from lab import paper, validate
from lab.paper import DISPLAY_NAMES, NETWORKS

CONFIDENCE = 0.95
VERDICTS = ("supported", "contradicted", "inconclusive")
COLUMNS = ["claim", "measure", "paper", "ours", "low", "high", "n", "verdict", "how"]
PAIRED = "paired t-interval over seeds (scipy ttest_rel)"


# --------------------------------------------------------------------------------------------- verdicts
def verdict(low: float, high: float, expected_sign: int, *, null: float = 0.0) -> str:
    """``"supported"`` when the interval [low, high] excludes ``null`` (0 for a difference, 1 for a ratio) on the
    side of ``expected_sign`` (+1: the paper says larger, -1: smaller), ``"contradicted"`` when it excludes it on
    the other side, ``"inconclusive"`` when it contains it or is undefined (NaN: e.g. a single seed)."""
    validate.require(validate.is_number(expected_sign, (int,)) and expected_sign in (1, -1), "expected_sign",
                     "+1 or -1", expected_sign)
    validate.require(validate.is_number(null) and math.isfinite(null), "null", "a finite number", null)
    if not all(validate.is_number(x, (int, float, np.number)) and math.isfinite(x) for x in (low, high)):
        return "inconclusive"
    validate.require(low <= high, "low", f"<= high ({high})", low)
    side = 1 if low > null else -1 if high < null else 0
    return "inconclusive" if side == 0 else "supported" if side == expected_sign else "contradicted"


def _sig(value, digits: int = 3):
    """``value`` rounded to ``digits`` significant digits (what a seed-level estimate supports); text and NaN as
    they are."""
    if not validate.is_number(value, (int, float, np.number)) or not math.isfinite(value) or value == 0:
        return value
    return round(float(value), digits - 1 - math.floor(math.log10(abs(value))))


def _row(claim: str, measure: str, published, estimate: Mapping, how: str, *, null: float = 0.0,
         ours: str = "diff") -> dict:
    """One claims row from an estimate of `lab.stats` (``estimate[ours]``, ``low``, ``high``, ``n``); every claim
    of the paper says LAB's side is the larger (expected sign +1)."""
    low, high = estimate["low"], estimate["high"]
    return {"claim": claim, "measure": measure, "paper": _sig(published), "ours": _sig(estimate[ours]),
            "low": _sig(low), "high": _sig(high), "n": int(estimate["n"]),
            "verdict": verdict(low, high, 1, null=null), "how": how}


def _paired(by_seed: pd.DataFrame, treatment: str, control: str) -> dict:
    """`lab.stats.paired` of two columns of a seed-indexed frame, over the seeds that have both."""
    from lab import stats

    both = by_seed[[treatment, control]].dropna()
    return stats.paired(both[treatment].to_numpy(), both[control].to_numpy(), confidence=CONFIDENCE)


def _blank(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` to write: no estimate or interval is an empty cell, not "nan"."""
    return table.astype(object).where(table.notna(), "")


# --------------------------------------------------------------------------------------------- the claims
def lab_vs_sign_rows(rows: pd.DataFrame) -> list[dict]:
    """(a) One row per network of ``rows`` (`lab.tables.seed_rows` of Table A: model, binarizer, lab_blocks, seed,
    top1) that has both binarizers: LAB - sign top-1 paired by seed (`lab.table_stats.paired_table`), beside the
    paper's difference; in the paper's order."""
    from lab import table_stats

    paired = {p.model: p for p in table_stats.paired_table(rows).itertuples()}
    return [_row(f"LAB beats sign on {DISPLAY_NAMES[m]}", "top-1 %, LAB - sign", paired[m].paper_diff,
                 {"diff": paired[m].diff, "low": paired[m].low, "high": paired[m].high, "n": paired[m].seeds},
                 PAIRED) for m in NETWORKS if m in paired]


def stage_rows(effects: pd.DataFrame, *, runs: int) -> list[dict]:
    """(b) One row per stage: the main effect of LAB in that stage on top-1 from ``runs`` training runs
    (`lab.table_stats.stage_effects`' rows with ``measure == "top1"``: stage, effect, low, high, error,
    paper_effect); no estimate where the preset does not train all 2^4 masks (its ``error`` says so)."""
    top1 = effects[effects["measure"] == "top1"].sort_values("stage")
    return [_row(f"LAB in stage {int(e.stage)} helps (Table B)", "top-1 %, main effect of LAB in the stage",
                 e.paper_effect, {"diff": e.effect, "low": e.low, "high": e.high, "n": runs if e.df else 0},
                 f"2^{len(top1)} factorial main effect (OLS); error: {e.error}" if e.df else e.error)
            for e in top1.itertuples()]


def _config(model: str, binarizer: str) -> str:
    return f"{DISPLAY_NAMES[model]} {'LAB' if binarizer == 'lab' else binarizer}"


def _per_mb(frame: pd.DataFrame, top1: str, size: str) -> pd.Series:
    """Top-1 per MB of each row, indexed by its configuration (`_config`)."""
    names = [_config(m, b) for m, b in zip(frame["model"], frame["binarizer"])]
    return pd.Series((frame[top1] / frame[size]).to_numpy(), index=names)


def accuracy_per_mb_rows(rows: pd.DataFrame) -> list[dict]:
    """(c) One row: top-1 % per MB (``deploy_size_mb``) of LAB-BNN minus the best other configuration's (network
    and binarizer, best by seed mean), paired by seed; the paper's from its Table A and `lab.paper.LAB_BNN`."""
    ours = _per_mb(rows, "top1", "deploy_size_mb")
    by_seed = pd.DataFrame({"seed": rows["seed"].to_numpy(), "config": ours.index, "per_mb": ours.to_numpy()}).pivot(
        index="seed", columns="config", values="per_mb")
    labbnn = _config("labbnn", "lab")
    best = by_seed.drop(columns=labbnn).mean().idxmax()
    published = _per_mb(pd.concat([paper.table_a(), pd.DataFrame([paper.LAB_BNN])]), "top1", "size_mb")
    paper_best = published.drop(labbnn).idxmax()
    return [_row("LAB-BNN has the best accuracy per MB", f"top-1 % per MB, LAB-BNN - the best other (ours: {best}; "
                 f"paper: {paper_best})", published[labbnn] - published[paper_best],
                 _paired(by_seed, labbnn, best), f"{PAIRED}; size at the deployment shape")]


def uniqueness_rows(table: pd.DataFrame, measure: str | None = None) -> list[dict]:
    """(d) One row: ``measure`` (default `lab.analysis.PRIMARY_MEASURE`, larger = more unique) averaged over the
    binarizer layers of each seed's network (``table``: `lab.binarization.uniqueness_by_seed`), LAB - sign paired
    by seed. The paper shows this in its Fig. 1 but gives no number."""
    from lab.analysis import LABELS, PRIMARY_MEASURE

    measure = measure or PRIMARY_MEASURE
    by_seed = table.groupby(["seed", "binarizer"])[measure].mean().unstack("binarizer")
    layers = table["index"].nunique()
    return [_row("LAB's binary channels are more unique than sign's", f"{LABELS.get(measure, measure)} ({layers} "
                 "layers' mean), LAB - sign", "Fig. 1", _paired(by_seed, "lab", "sign"), PAIRED)]


def uniqueness_by_image(study) -> tuple[pd.DataFrame, Path]:
    """(d) tested on each image set of ``study`` (`lab.binarization.BinarizationStudy`: its validation images and its
    photograph), one `uniqueness_rows` row each, written beside the study's tables as ``claim.{csv,md}`` with the
    study's parameters; the rows and the CSV's path."""
    from lab import provenance

    rows = [{**row, "measure": f"{row['measure']}; {name}"} for name in dict.fromkeys(study.uniqueness["image"])
            for row in uniqueness_rows(study.uniqueness[study.uniqueness["image"] == name])]
    table = pd.DataFrame(rows, columns=COLUMNS)
    csv = provenance.write_table(_blank(table), provenance.out_dir(study.params["preset"], "binarization") / "claim",
                                 {**study.params, "confidence": CONFIDENCE})
    return table, csv


def latency_rows(samples: Mapping) -> list[dict]:
    """(e) One row per network with both graphs in ``samples`` (`lab.deployment.latency_samples`: Graph -> per-round
    latencies, rounds interleaved): the LAB / sign host latency ratio with its interval (`lab.stats.ratio`), beside
    the paper's ratio; expected above 1 (LAB costs time). Graphs timed in different sessions (unequal round
    counts) have no pairs: no estimate."""
    from lab import stats
    from lab.deployment import Graph

    published = paper.table_a().set_index(["model", "binarizer"])["latency_ms"]
    out = []
    for model in NETWORKS:
        lab, sign = samples.get(Graph(model, "lab")), samples.get(Graph(model, "sign"))
        if lab is None or sign is None:
            continue
        paired = len(lab) == len(sign)
        estimate = (stats.ratio(lab, sign, confidence=CONFIDENCE) if paired else
                    {"ratio": math.nan, "low": math.nan, "high": math.nan, "n": 0})
        out.append(_row(f"LAB costs latency on {DISPLAY_NAMES[model]}", "host latency, LAB / sign",
                        published[model, "lab"] / published[model, "sign"], estimate,
                        "t-interval of the mean log ratio over interleaved timing rounds" if paired else
                        "timed in different sessions (no paired rounds): re-time them together", null=1.0,
                        ours="ratio"))
    return out


# --------------------------------------------------------------------------------------------- gather and write
def _key(model, binarizer, lab_blocks, seed) -> tuple:
    return model, binarizer, lab_blocks or "", int(seed)


def _select(rows: pd.DataFrame, runs) -> pd.DataFrame:
    """The rows of `lab.tables.seed_rows` that belong to ``runs`` (`lab.plans.Run`), by network, binarizer, stage
    mask and seed."""
    wanted = {_key(r.model, r.binarizer, r.lab_blocks, r.seed) for r in runs}
    keys = [_key(*key) for key in rows[["model", "binarizer", "lab_blocks", "seed"]].itertuples(index=False)]
    return rows[[key in wanted for key in keys]].reset_index(drop=True)


def _stale(rows: pd.DataFrame) -> dict[str, str]:
    """``{run id: reasons}`` of the rows built from stale inputs kept with ``LAB_KEEP_STALE=1`` (`seed_rows`' ``stale``
    column: "; "-joined reasons, "" when fresh)."""
    return {run: why for run, why in zip(rows["run_id"], rows.get("stale", [""] * len(rows))) if why}


def gather(preset: str) -> tuple[dict, dict[str, str]]:
    """The inputs of `build` at ``preset`` (the runs are trained or reused, the graphs converted or reused), and
    the stale inputs kept (`_stale`)."""
    from lab import binarization, deployment, plans, presets, tables

    settings = presets.load(preset)
    rows = tables.seed_rows(plans.claims_runs(preset), preset)
    table_a = _select(rows, plans.table_a_runs(preset))
    graphs = [deployment.Graph(m, b) for m in dict.fromkeys(table_a["model"]) for b in ("sign", "lab")]
    inputs = {"table_a": table_a, "table_b": _select(rows, plans.table_b_runs(preset)),
              "labbnn": _select(rows, plans.labbnn_runs(preset)),
              "uniqueness": binarization.uniqueness_by_seed(preset=preset),
              "latency": deployment.latency_samples(graphs, settings.deployment_shape)}
    return inputs, _stale(rows)


def build(*, table_a: pd.DataFrame, table_b: pd.DataFrame, labbnn: pd.DataFrame, uniqueness: pd.DataFrame,
          latency: Mapping) -> pd.DataFrame:
    """The claims table (`COLUMNS`) from the seed rows of Table A, Table B and the LAB-BNN table
    (`lab.tables.seed_rows`), the uniqueness per seed and the latency samples, claim by claim."""
    from lab import table_stats

    rows = (lab_vs_sign_rows(table_a) + stage_rows(table_stats.stage_effects(table_b), runs=len(table_b))
            + accuracy_per_mb_rows(labbnn) + uniqueness_rows(uniqueness) + latency_rows(latency))
    return pd.DataFrame(rows, columns=COLUMNS)


def path(preset: str) -> Path:
    """``results/<preset>/claims.csv`` (beside it ``claims.md`` and ``claims.provenance.json``)."""
    from lab import presets, provenance

    return provenance.results_root() / presets.check_name(preset) / "claims.csv"


STALE_NOTE = ("\n\n**Built from stale inputs** kept with `--keep-stale` (`LAB_KEEP_STALE=1`): `params.stale` in "
              "`claims.provenance.json` says what changed since each run was made. `make reproduce` without it "
              "redoes them.")


def caption(preset: str) -> str:
    """The claims' one-line caption: the scale and device of our numbers and of the paper's (`lab.views.caption`)."""
    from lab import views

    return views.caption(preset, ["training", "latency", "paper"], title="Claims of the paper, decided by our data")


def note(preset: str) -> str:
    """The paragraphs above the claims table: scale and device (`caption`), the seeds, what the columns and the
    verdicts mean, the preset's deviations from the published recipes."""
    from lab import presets, tables

    s = presets.load(preset)
    epochs = "the published recipes' epochs" if s.use_recipe else f"{s.train.get('epochs')} epoch(s)"
    scale = (f"{caption(preset)} Each configuration trained for {epochs} with seeds {list(s.seeds)} (Table B: "
             f"{list(s.ablation_seeds)}). Compare directions, not values: our scale is not the paper's.")
    columns = (f"`paper`: the published number; `ours`: our estimate, `low`-`high` its {CONFIDENCE:.0%} interval "
               f"over `n` seeds (latency: `n` interleaved timing rounds; Table B: `n` runs); `how`: the test. "
               f"**supported**: the interval excludes no effect (0; 1 for a ratio) on the paper's side; "
               f"**contradicted**: it excludes it on the other side; **inconclusive**: it contains it, or there is no "
               f"interval (one seed, or not all 16 masks of Table B).")
    return "\n\n".join(p for p in (scale, columns, tables.deviations_note(preset, s.models)) if p)


def claims_table(*, preset: str) -> pd.DataFrame:
    """Every claim of the paper with its verdict at ``preset`` (`build` on `gather`), written to
    ``results/<preset>/claims.{csv,md}`` (`path`) under `note`, with provenance."""
    from lab import provenance

    inputs, stale = gather(preset)
    table = build(**inputs)
    params = {"preset": preset, "confidence": CONFIDENCE, **({"stale": stale} if stale else {})}
    provenance.write_table(_blank(table), path(preset), params, note=note(preset) + (STALE_NOTE if stale else ""))
    return table


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The claims table for reading: numbers as text (``g``), the interval in one column ("n/a" without one)."""
    def text(value):
        if not validate.is_number(value, (int, float, np.number)):
            return str(value)
        return f"{value:g}" if math.isfinite(value) else "n/a"

    interval = [f"{text(lo)} to {text(hi)}" if math.isfinite(lo) and math.isfinite(hi) else "n/a"
                for lo, hi in zip(table["low"], table["high"])]
    return pd.DataFrame({"claim": table["claim"], "measure": table["measure"], "paper": table["paper"].map(text),
                         "ours": table["ours"].map(text), f"{CONFIDENCE:.0%} interval": interval, "n": table["n"],
                         "verdict": table["verdict"], "how": table["how"]})
