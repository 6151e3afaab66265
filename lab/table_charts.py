"""The tables' charts (altair): our numbers beside the paper's, as the notebooks publish them (`lab.figures`).

`versus_paper` puts a table of `lab.tables` in long form, one row per configuration and ``source`` (ours / the
paper's); `scatter` (the authors' Table B plot) and `bars` draw it. One function per table notebook gives what that
notebook publishes, ``{file name: chart}``: `table_a`, `table_b` and `stage_effects` (Table B's main effects with
their intervals: `effects_long`, `intervals`), `binarizer_comparison`, `labbnn`.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from lab.paper import DISPLAY_NAMES

OURS, PAPER = "ours (this batch; host latency at the deployment shape)", "paper (ImageNet; Xavier NX latency)"
AXIS_TITLES = {"top1": "top-1 accuracy [%]", "top5": "top-5 accuracy [%]", "latency_ms": "latency [ms]",
               "size_mb": "model size [MB]"}
SOURCE_TITLE = alt.Color("source:N", title="numbers from")
BAR_METRICS = ("top1", "latency_ms")  # what the bar charts of Table A and the binarizer comparison show


def versus_paper(table: pd.DataFrame) -> pd.DataFrame:
    """A table with ``paper_*`` columns in long form for the charts: one row per configuration and ``source``
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


def scatter(long: pd.DataFrame, *, x: str = "latency_ms", label: str = "mask", title: str = "") -> alt.LayerChart:
    """Top-1 accuracy against ``x`` (latency or size), marker area = model size, colour = ``source`` (ours /
    paper), text = ``label``: the authors' Table B plot with our measurements as a second layer. ``x`` is on a log
    scale so that host milliseconds of small networks and device milliseconds of ImageNet networks both show.
    Clicking the legend highlights one source; drag and zoom to explore. ``long`` comes from
    `versus_paper`."""
    pick = alt.selection_point(fields=["source"], bind="legend")
    base = alt.Chart(long.dropna(subset=[x, "top1"])).encode(
        x=alt.X(f"{x}:Q", title=f"{AXIS_TITLES.get(x, x)}, log scale", scale=alt.Scale(type="log")),
        y=alt.Y("top1:Q", title=AXIS_TITLES["top1"], scale=alt.Scale(zero=False)),
        color=SOURCE_TITLE,
        tooltip=["source", label, "top1", "latency_ms", "size_mb"],
    )
    points = base.mark_circle().encode(
        size=alt.Size("size_mb:Q", title=AXIS_TITLES["size_mb"], scale=alt.Scale(zero=False, range=[40, 400])),
        opacity=alt.condition(pick, alt.value(0.85), alt.value(0.15)),
    ).add_params(pick)
    labels = base.mark_text(align="left", dx=8, fontSize=10).encode(text=f"{label}:N")
    return alt.layer(points, labels).properties(width=520, height=340, title=title).interactive()


def bars(long: pd.DataFrame, *, x: str = "model", y: str = "top1", color: str = "binarizer",
         title: str = "") -> alt.FacetChart:
    """Grouped bars of ``y`` per ``x`` (one bar per ``color`` value), ours and the paper's side by side in two
    panels with their own scales. ``long`` comes from `versus_paper`; its ``<y>_min`` / ``<y>_max``
    columns, when there, draw each bar's range over seeds as a black rule."""
    order = list(dict.fromkeys(long[color]))  # the table's order (sign first), not alphabetical
    offset = {} if color == x else {"xOffset": alt.XOffset(f"{color}:N", sort=order)}
    base = alt.Chart().encode(x=alt.X(f"{x}:N", title=None, sort=list(dict.fromkeys(long[x]))), **offset)
    layers = [base.mark_bar().encode(
        y=alt.Y(f"{y}:Q", title=AXIS_TITLES.get(y, y)),
        color=alt.Color(f"{color}:N", sort=order),
        tooltip=[x, color, "source", alt.Tooltip(f"{y}:Q", format=".2f")],
    )]
    low, high = f"{y}_min", f"{y}_max"
    if {low, high} <= set(long):
        layers.append(base.mark_rule(color="black").encode(
            y=f"{low}:Q", y2=f"{high}:Q",
            tooltip=[x, color, alt.Tooltip(f"{low}:Q", format=".2f"), alt.Tooltip(f"{high}:Q", format=".2f")]))
    return alt.layer(*layers, data=long.dropna(subset=[y])).properties(width=240, height=220).facet(
        column=alt.Column("source:N", title=None)).resolve_scale(y="independent").properties(title=title)



EFFECT_TITLES = {"top1": "top-1 [points]", "deploy_host_latency_ms": "latency [ms]", "deploy_size_mb": "size [MB]"}


def effects_long(effects: pd.DataFrame) -> pd.DataFrame:
    """`lab.table_stats.stage_effects` in long form for `intervals`: one row per stage, measure (its axis title)
    and ``source`` (ours / the paper's, when the table has its columns) with ``effect``, ``low``, ``high``."""
    columns = ["effect", "low", "high"]
    titles = effects["measure"].map(EFFECT_TITLES).fillna(effects["measure"])
    keys = effects[["stage"]].assign(measure=titles)
    parts = [keys.assign(source=OURS, **{c: effects[c] for c in columns})]
    if "paper_effect" in effects:
        parts.append(keys.assign(source=PAPER, **{c: effects[f"paper_{c}"] for c in columns}))
    return pd.concat(parts, ignore_index=True)


def intervals(long: pd.DataFrame, *, x: str = "stage", title: str = "") -> alt.FacetChart:
    """Estimates with their intervals per ``x``, ours beside the paper's, one panel per ``measure`` with its own
    scale, a rule at 0 (no effect); ``long`` as `effects_long` gives it. An interval that misses the rule is an
    effect the data resolve."""
    offset = alt.XOffset("source:N", sort=[OURS, PAPER])
    base = alt.Chart().encode(x=alt.X(f"{x}:O", title=x), xOffset=offset, color=SOURCE_TITLE)
    tooltip = ["source", x, "measure", *(alt.Tooltip(f"{c}:Q", format=".3g") for c in ("effect", "low", "high"))]
    layers = [alt.Chart().mark_rule(color="grey", strokeDash=[4, 4]).encode(y=alt.datum(0)),
              base.mark_rule(strokeWidth=2).encode(y=alt.Y("low:Q", title="main effect of LAB"), y2="high:Q"),
              base.mark_point(filled=True, size=60).encode(y="effect:Q", tooltip=tooltip)]
    return alt.layer(*layers, data=long.dropna(subset=["effect"])).properties(width=180, height=200).facet(
        column=alt.Column("measure:N", title=None, sort=list(EFFECT_TITLES.values()))).resolve_scale(
        y="independent").properties(title=title)


# --------------------------------------------------------------------------------------------- per notebook
def table_a(table: pd.DataFrame) -> dict[str, alt.FacetChart]:
    """Table A (`lab.tables.table_a`): top-1 and latency bars per network, sign beside LAB, ours and the paper's."""
    long = versus_paper(table).assign(model=lambda t: t["model"].map(DISPLAY_NAMES).fillna(t["model"]))
    return {f"table_a_{metric}": bars(long, x="model", y=metric, color="binarizer",
                                      title=f"Table A: {metric}, sign vs LAB") for metric in BAR_METRICS}


def table_b(table: pd.DataFrame) -> dict[str, alt.LayerChart]:
    """Table B (`lab.tables.table_b`): accuracy against latency per stage mask, ours and the paper's."""
    return {"table_b_scatter": scatter(versus_paper(table), x="latency_ms", label="mask",
                                       title="Table B: accuracy vs latency per LAB stage mask (marker size = model "
                                             "size)")}


def stage_effects(effects: pd.DataFrame) -> dict[str, alt.FacetChart]:
    """Table B's main effect of LAB per stage (`lab.tables.table_b_effects`) with 95 % intervals, ours beside the
    paper's, for top-1, latency and size."""
    return {"table_b_stage_effects": intervals(effects_long(effects), title="Table B: main effect of LAB per stage "
                                                                            "(95 % interval)")}


def binarizer_comparison(table: pd.DataFrame) -> dict[str, alt.FacetChart]:
    """The binarizer comparison (`lab.tables.binarizer_comparison`): our top-1 and latency per binarizer (the paper
    has no Niblack or Sauvola numbers)."""
    long = versus_paper(table).query("source == @OURS")
    model = ", ".join(dict.fromkeys(table["model"]))
    return {f"binarizers_{metric}": bars(long, x="binarizer", y=metric, color="binarizer",
                                         title=f"{model}: {metric} per binarizer") for metric in BAR_METRICS}


def labbnn(table: pd.DataFrame) -> dict[str, alt.LayerChart]:
    """LAB-BNN beside the four networks (`lab.tables.labbnn_table`): accuracy against model size, ours and the
    paper's."""
    return {"labbnn_scatter": scatter(versus_paper(table), x="size_mb", label="name",
                                      title="Accuracy vs model size: LAB-BNN and the four networks, sign and LAB")}
