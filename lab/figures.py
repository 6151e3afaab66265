"""The notebooks' figures: Fig. 1's channel grids (matplotlib), uniqueness and ablation charts (altair), and how a
chart is shown and saved so that it stays viewable offline.

An altair chart is shown (:func:`show`) as a bundle of its Vega-Lite spec (interactive in JupyterLab and, through
:mod:`lab.reproduce`, in the offline HTML report) plus a static SVG rendered by vl-convert (for any other viewer).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from lab import provenance
from lab.analysis import MEASURES

VEGALITE_MIME = "application/vnd.vegalite.v5+json"  # the Vega-Lite mime type JupyterLab renders
MAX_CHANNELS = 64  # Fig. 1 shows 64 channels as an 8x8 grid
AXIS_TITLES = {"top1": "top-1 accuracy [%]", "top5": "top-5 accuracy [%]", "latency_ms": "latency [ms]",
               "size_mb": "model size [MB]"}
SOURCE_TITLE = alt.Color("source:N", title="numbers from")


# --------------------------------------------------------------------------------------------- altair charts
def chart_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as a static SVG, rendered without a browser or network by vl-convert."""
    import vl_convert as vlc

    return vlc.vegalite_to_svg(chart.to_dict())


def show(chart: alt.TopLevelMixin) -> None:
    """Display ``chart`` in a notebook as its Vega-Lite spec plus a static SVG (see the module docstring)."""
    from IPython.display import display

    spec = chart.to_dict()
    title = spec.get("title", "")
    display({VEGALITE_MIME: spec, "image/svg+xml": chart_svg(chart), "text/plain": f"<chart {title}>"}, raw=True)


def save(figure, path: str | Path, params: dict | None = None) -> list[Path]:
    """Save an altair chart (``.svg`` and its ``.vl.json`` spec) or a matplotlib figure (``.png``) under ``path``
    (suffix ignored), with a provenance sidecar ``<name>.provenance.json``."""
    path = Path(path).with_suffix("")
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(figure, alt.TopLevelMixin):
        files = [path.with_suffix(".svg"), path.with_suffix(".vl.json")]
        files[0].write_text(chart_svg(figure))
        files[1].write_text(json.dumps(figure.to_dict(), indent=1))
    else:
        files = [path.with_suffix(".png")]
        figure.savefig(files[0], dpi=120, bbox_inches="tight")
    provenance.write_json(path.with_name(path.name + ".provenance.json"), {"files": [f.name for f in files]}, params)
    return files


def origin(preset: str) -> str:
    """Where our numbers come from, for a figure's subtitle: the scale, the machine and the code."""
    machine = provenance.device()
    where = ", ".join(machine["gpus"]) or machine["cpu"]
    return f"ours: preset {preset} on {where} ({machine['kind']}), lab {provenance.git_commit()[:7]}"


def stamp(figure, preset: str):
    """``figure`` with `origin` under its title (altair: a subtitle; matplotlib: a grey line at the bottom)."""
    if isinstance(figure, alt.TopLevelMixin):
        title = figure.title.copy() if isinstance(figure.title, alt.TitleParams) else alt.TitleParams(
            text="" if figure.title is alt.Undefined else figure.title, anchor="start")
        title.subtitle = origin(preset)
        return figure.properties(title=title)
    figure.text(0.01, 0.0, origin(preset), fontsize=7, color="grey", va="top")
    return figure


def publish(figure, *, preset: str, notebook: str, name: str, params: dict | None = None) -> None:
    """Show a chart or matplotlib figure, stamped with its `origin`, in the notebook and save it as
    ``results/<preset>/<notebook>/<name>``."""
    from lab.tables import out_dir

    figure = stamp(figure, preset)
    save(figure, out_dir(preset, notebook) / name, {"preset": preset, **(params or {})})
    if isinstance(figure, alt.TopLevelMixin):
        show(figure)
    else:
        from IPython.display import display

        display(figure)


def uniqueness_chart(table: pd.DataFrame, *, measures: Sequence[str] = MEASURES) -> alt.FacetChart:
    """Uniqueness at every binarizer of the network (x, network order), one line per ``binarizer`` (the network
    trained with sign / with LAB), one panel per measure (columns) and image (rows); `lab.analysis` defines them."""
    long = table.melt(id_vars=["index", "layer", "binarizer", "image"], value_vars=list(measures),
                      var_name="measure")
    return alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("index:O", title="binary convolution (network order)"),
        y=alt.Y("value:Q", title=None),
        color=alt.Color("binarizer:N", title="trained with"),
        tooltip=["image", "layer", "binarizer", "measure", alt.Tooltip("value:Q", format=".3f")],
    ).properties(width=230, height=160).facet(
        column=alt.Column("measure:N", title=None), row=alt.Row("image:N", title=None),
    ).resolve_scale(y="independent").properties(title="Uniqueness of the binary channels at every binarizer")


def scatter(long: pd.DataFrame, *, x: str = "latency_ms", label: str = "mask", title: str = "") -> alt.LayerChart:
    """Top-1 accuracy against ``x`` (latency or size), marker area = model size, colour = ``source`` (ours /
    paper), text = ``label``: the authors' Table B plot with our measurements as a second layer. ``x`` is on a log
    scale so that host milliseconds of small networks and device milliseconds of ImageNet networks both show.
    Clicking the legend highlights one source; drag and zoom to explore. ``long`` comes from
    `lab.tables.versus_paper`."""
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
    panels with their own scales. ``long`` comes from `lab.tables.versus_paper`; its ``<y>_min`` / ``<y>_max``
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


# --------------------------------------------------------------------------------------------- Fig. 1
def channel_grid(maps: np.ndarray, *, ax, title: str, cmap: str = "gray") -> None:
    """Tile the first 64 channels of one feature map ``(H, W, C)`` into a square grid (8x8 for 64) on ``ax``.

    A binary map shows -1 black and +1 white; any other channel is scaled to its own range, as in Fig. 1."""
    maps = np.asarray(maps, np.float64)[..., :MAX_CHANNELS]
    height, width, channels = maps.shape
    side = math.ceil(math.sqrt(channels))
    low, high = maps.min(axis=(0, 1)), maps.max(axis=(0, 1))
    if np.isin(maps, (-1.0, 1.0)).all():
        low, high = np.full(channels, -1.0), np.ones(channels)
    scaled = (maps - low) / np.where(high > low, high - low, 1.0)
    canvas = np.full((side * (height + 1) - 1, side * (width + 1) - 1), np.nan)  # NaN: blank gaps
    for c in range(channels):
        row, col = divmod(c, side)
        canvas[row * (height + 1):row * (height + 1) + height, col * (width + 1):col * (width + 1) + width] = \
            scaled[..., c]
    ax.imshow(canvas, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_title(title, fontsize=10)
    ax.axis("off")


def binarization_figure(probes: dict, *, image: np.ndarray, title: str = ""):
    """Fig. 1: the image, then for each named probe (e.g. ``{"sign": p, "LAB": q}``, `lab.analysis.Probe` of one
    image) the channels entering and leaving its binarizer."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 1 + 2 * len(probes), figsize=(3.2 * (1 + 2 * len(probes)), 3.6))
    axes[0].imshow(np.squeeze(image), cmap="gray" if image.shape[-1] == 1 else None)
    axes[0].set_title("image", fontsize=10)
    axes[0].axis("off")
    for i, (name, probe) in enumerate(probes.items()):
        channel_grid(probe.inputs[0], ax=axes[1 + 2 * i], title=f"{name}: input ({probe.layer})", cmap="viridis")
        channel_grid(probe.outputs[0], ax=axes[2 + 2 * i], title=f"{name}: binary output")
    fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)  # shown where the caller displays it, not again at the end of the cell
    return fig
