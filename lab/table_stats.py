"""The tables' statistics: Table A as paired seeds, Table B as the 2^4 factorial it is, ours beside the paper's.

Both start from the per-run rows of `lab.tables.seed_rows` (one row per trained run: network, binarizer, stage
mask, seed, top-1, the deployment columns). `paired_table` pairs each network's LAB and sign runs by seed (same seed
-> same data order) and gives the paired difference with its 95 % interval (`lab.stats.paired`), the paper's
difference beside it; `paired_view` is its README-sized form. `stage_effects` reads Table B's 16 stage masks as a
2^4 full factorial (factor ``stage s`` = LAB in stage s) and gives each stage's main effect on top-1, host latency
and size with its interval (`lab.stats.factorial_effects`), and the same from the paper's Table B.
"""
from __future__ import annotations

import pandas as pd

from lab import paper, stats
from lab.plans import mask_of

CONFIDENCE = 0.95
# Table B's measures: ours -> the paper's column of `lab.paper.table_b`.
MEASURES = {"top1": "top1", "deploy_host_latency_ms": "latency_ms", "deploy_size_mb": "size_mb"}
EFFECT_COLUMNS = ["effect", "low", "high", "df", "error"]
PAIRED_COLUMNS = ["model", "seeds", "sign_top1", "lab_top1", "diff", "low", "high", "p", "paper_sign_top1",
                  "paper_lab_top1", "paper_diff"]


# --------------------------------------------------------------------------------------------- Table A, paired
def _by_seed(group: pd.DataFrame, binarizer: str) -> pd.Series:
    """Top-1 of one binarizer's runs (LAB in every stage, not a stage mask) indexed by seed."""
    runs = group[(group["binarizer"] == binarizer) & (group["lab_blocks"].fillna("") == "")]
    return runs.set_index("seed")["top1"]


def paired_table(rows: pd.DataFrame, *, paper_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per network of ``rows`` (`lab.tables.seed_rows`) with sign and LAB runs: ``seeds`` (the seeds both
    have), ``sign_top1`` / ``lab_top1`` (their means), ``diff`` (the paired LAB - sign difference, points of top-1)
    with ``low`` / ``high`` (its 95 % t-interval; NaN for one seed) and ``p``, and the paper's ``paper_sign_top1``,
    ``paper_lab_top1``, ``paper_diff`` (``paper_table``: `lab.paper.table_a` unless given)."""
    published = (paper.table_a() if paper_table is None else paper_table).set_index(["model", "binarizer"])["top1"]
    out = []
    for model, group in rows.groupby("model", sort=False):
        sign, lab = _by_seed(group, "sign"), _by_seed(group, "lab")
        seeds = sign.index.intersection(lab.index)  # a seed without its partner has nothing to pair with
        if seeds.empty:
            continue
        result = stats.paired(lab[seeds].tolist(), sign[seeds].tolist(), confidence=CONFIDENCE)
        paper_sign, paper_lab = (published.get((model, b), float("nan")) for b in ("sign", "lab"))
        out.append({"model": model, "seeds": result["n"], "sign_top1": result["control_mean"],
                    "lab_top1": result["treatment_mean"], **{k: result[k] for k in ("diff", "low", "high", "p")},
                    "paper_sign_top1": paper_sign, "paper_lab_top1": paper_lab, "paper_diff": paper_lab - paper_sign})
    return pd.DataFrame(out, columns=PAIRED_COLUMNS)


def paired_view(table: pd.DataFrame) -> pd.DataFrame:
    """`paired_table` for reading (the README shows it): display names, the columns a reader compares, rounded to
    0.01 point (a 10k-image validation set's resolution)."""
    view = pd.DataFrame({
        "network": table["model"].map(paper.DISPLAY_NAMES).fillna(table["model"]), "seeds": table["seeds"],
        "sign top-1 %": table["sign_top1"], "LAB top-1 %": table["lab_top1"], "LAB - sign": table["diff"],
        "95 % CI low": table["low"], "95 % CI high": table["high"], "paper LAB - sign": table["paper_diff"]})
    return view.round(2)


# --------------------------------------------------------------------------------------------- Table B, 2^4
def _factor_columns(masks: pd.Series) -> list[str]:
    return [f"stage {s}" for s in range(1, len(masks.iloc[0]) + 1)]


def _design(masks: pd.Series, values: pd.DataFrame) -> pd.DataFrame:
    """``values`` with one 0/1 factor column ``stage s`` per stage: LAB in stage s of the row's mask."""
    factors = {name: masks.str[s].astype(int).to_numpy() for s, name in enumerate(_factor_columns(masks))}
    return values.reset_index(drop=True).assign(**factors)


def _effects(design: pd.DataFrame, factors: list[str], measures: dict[str, str]) -> pd.DataFrame:
    """``stage``, ``measure`` and the `EFFECT_COLUMNS` of each of ``measures`` (our name -> column of ``design``)."""
    parts = []
    for measure, column in measures.items():
        effects = stats.factorial_effects(design, factors, column, confidence=CONFIDENCE)
        parts.append(effects.assign(stage=range(1, len(factors) + 1), measure=measure))
    return pd.concat(parts, ignore_index=True)[["stage", "measure", *EFFECT_COLUMNS]]


def _not_factorial(stages: int, masks: int) -> pd.DataFrame:
    """Our rows when the masks are not all 2^stages of them: no effect, the reason in ``error``."""
    reason = f"needs all {2 ** stages} stage masks, has {masks}"
    return pd.DataFrame([{"stage": s, "measure": m, "effect": float("nan"), "low": float("nan"),
                          "high": float("nan"), "df": 0, "error": reason}
                         for m in MEASURES for s in range(1, stages + 1)])


def ours_stage_effects(rows: pd.DataFrame) -> pd.DataFrame:
    """Our main effect of LAB per stage from Table B's runs (`lab.tables.seed_rows`): top-1 over every run (seeds
    as replicates when there are several per mask), latency and size once per mask (one graph per mask: its seeds
    share it, so repeating it would fake replicates)."""
    masks = pd.Series([mask_of(m, b, lb or None) for m, b, lb in rows[["model", "binarizer", "lab_blocks"]]
                       .itertuples(index=False)], index=rows.index)
    factors = _factor_columns(masks)
    if masks.nunique() != 2 ** len(factors):
        return _not_factorial(len(factors), masks.nunique())
    deployed = [c for c in MEASURES if c != "top1"]
    per_mask = rows[deployed].groupby(masks.to_numpy()).mean()
    top1 = _effects(_design(masks, rows[["top1"]]), factors, {"top1": "top1"})
    deployment = _effects(_design(pd.Series(per_mask.index), per_mask), factors, {c: c for c in deployed})
    return pd.concat([top1, deployment], ignore_index=True)


def paper_stage_effects() -> pd.DataFrame:
    """The same main effects from the paper's Table B (one network per mask: the interactions of order >= 3 are
    the error), named by our measures."""
    published = paper.table_b()
    return _effects(_design(published["mask"], published), _factor_columns(published["mask"]),
                    dict(MEASURES))


def stage_effects(rows: pd.DataFrame, *, paper: bool = True) -> pd.DataFrame:
    """One row per (``measure``: top1 / deploy_host_latency_ms / deploy_size_mb, ``stage`` 1..4): our main effect
    of LAB in that stage (`ours_stage_effects`: ``effect``, ``low``, ``high``, ``df``, ``error``) and, where
    ``paper``, the same from the paper's Table B beside it (``paper_effect`` ... ``paper_error``). Effects are in
    the measure's unit: points of top-1, ms, MiB (the paper's: ImageNet top-1, Xavier NX ms, MB)."""
    ours = ours_stage_effects(rows)
    if not paper:
        return ours
    theirs = paper_stage_effects().rename(columns={c: f"paper_{c}" for c in EFFECT_COLUMNS})
    return ours.merge(theirs, on=["stage", "measure"], how="left")
