"""Tables as a reader sees them, in a notebook and in the batch's HTML report, and the one-line captions that say
where their numbers come from.

:func:`show` turns a results table into a `View`: no index, numbers rounded to what the data supports (``digits``:
one place for accuracies and milliseconds, two for sizes and ratios: `DIGITS`), only the columns a reader needs
(renamed for reading: the `TABLE_A_ACCURACY`-style selections below put ours and the paper's side by side), at most
``max_rows`` rows (then a line names the CSV with all of them), a caption above, and a width that fits the page
(headers wrap; a table wider than the page scrolls inside its own box instead of pushing the page wider).
:func:`caption` writes the caption: the scale (preset, dataset, image size, width) and the device of each kind of
number a table or figure holds (training, host latency, the paper's).

Cheap to import: pandas and the presets only; the training device is looked up (TensorFlow) when a caption needs it.
"""
from __future__ import annotations

import dataclasses
import html
import math
import numbers
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from lab import presets, provenance, validate

DEFAULT_DIGITS = 1
EMPTY = "–"  # what a missing number (NaN, None) shows as
MAX_CELL = 160  # characters of a text cell shown (a fingerprint, a list of run ids): the CSV has it whole
CSV_CLASS = "lab-csv"  # the element naming a long table's CSV (`lab.report` turns it into a link)
WIDE = 6  # tables with at least this many columns take the page's full width, so their headers wrap less

# Kinds of numbers a caption can name (`caption`).
KINDS = ("training", "latency", "edge", "paper")
PAPER_DEVICE = "paper: ImageNet, latency on an Nvidia Jetson Xavier NX"

# Places after the decimal point per column where one is not enough (`show`'s ``digits``; a map may name columns a
# table does not have, so one map serves every table).
DIGITS = {"deploy_size_mb": 2, "deploy_tflite_mb": 2, "paper_size_mb": 2, "size_ratio": 2, "paper_size_ratio": 2,
          "latency_ratio": 2, "paper_latency_ratio": 2, "distinct_fraction": 3, "mean_hamming": 3,
          "near_duplicate_fraction": 3}

# Columns kept whenever a table has them (and they hold a value), even if a selection leaves them out: dropping them
# would hide a caveat (stale inputs) or a measurement the reader asked for (device logs).
ALWAYS = {"stale": "stale inputs (what changed since)", "device_latency_ms": "device latency ms"}

# Reader names of the columns of `lab.tables`' tables.
READER = {"mask": "LAB in stages (mask)", "model": "network", "binarizer": "binarizer", "seeds": "seeds",
          "top1": "top-1 %", "top1_sd": "top-1 seed SD", "top1_min": "top-1 lowest seed",
          "top1_max": "top-1 highest seed", "paper_top1": "paper top-1 %", "top5": "top-5 %",
          "paper_top5": "paper top-5 %", "deploy_size_mb": "size MiB", "paper_size_mb": "paper size MB",
          "deploy_host_latency_ms": "host latency ms", "paper_latency_ms": "paper latency ms (Xavier NX)",
          "size_ratio": "size / sign", "paper_size_ratio": "paper size / sign", "latency_ratio": "latency / sign",
          "paper_latency_ratio": "paper latency / sign"}


def _named(*columns: str, **renamed: str) -> dict[str, str]:
    """A column selection for `show`: ``columns`` under their reader names (`READER`), ``renamed`` under others."""
    return {column: renamed.get(column, READER[column]) for column in columns}


_ACCURACY = ("seeds", "top1", "top1_sd", "top1_min", "top1_max", "paper_top1")
_DEPLOYMENT = ("deploy_size_mb", "paper_size_mb", "size_ratio", "paper_size_ratio", "deploy_host_latency_ms",
               "paper_latency_ms", "latency_ratio", "paper_latency_ratio")
# What each table notebook shows of its table (`lab.tables`), ours beside the paper's; the CSV has every column.
TABLE_A_ACCURACY = _named("model", "binarizer", *_ACCURACY, "top5", "paper_top5")
TABLE_A_DEPLOYMENT = _named("model", "binarizer", *_DEPLOYMENT)
TABLE_B = _named("mask", *_ACCURACY, *_DEPLOYMENT, size_ratio="size / 0000", paper_size_ratio="paper size / 0000",
                 latency_ratio="latency / 0000", paper_latency_ratio="paper latency / 0000")
BINARIZERS = _named("binarizer", *_ACCURACY, "deploy_size_mb", "size_ratio", "deploy_host_latency_ms",
                    "latency_ratio")
LABBNN = _named("model", "binarizer", *_ACCURACY, "deploy_size_mb", "paper_size_mb", "deploy_host_latency_ms",
                "paper_latency_ms")
STAGE_EFFECTS = {"stage": "stage", "measure": "measure", "effect": "main effect", "low": "95 % low",
                 "high": "95 % high", "df": "df", "error": "noise estimated from", "paper_effect": "paper main effect",
                 "paper_low": "paper 95 % low", "paper_high": "paper 95 % high"}
# The edge notebook's deployment table (`lab.edge.views`, already under reader names): host, threads and kernel
# are the same in every row and stated in the caption.
EDGE_DEPLOYMENT = ["network", "variant", "tflite file MiB", "deployed MiB (binary 1 bit, rest 32 bit)",
                   "size MB (paper)", "host latency ms (median)", "host IQR ms", "latency ms (Jetson Xavier NX, paper)"]


# --------------------------------------------------------------------------------------------- the view
@dataclasses.dataclass(frozen=True)
class View:
    """A table formatted for reading: shown as HTML by Jupyter (and nbconvert's report), as text elsewhere."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def _cell(value: Any, places: int) -> str:
    """One value as text: integers as they are, other numbers to ``places`` decimals (no "-0.0"), none as `EMPTY`."""
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)):
        return EMPTY
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return f"{int(value):d}"
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        text = f"{float(value):.{places}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text
    text = str(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def check_caption(text: Any, name: str = "caption") -> str:
    """``text`` stripped, if it is a non-empty one-line text (a caption, a title), else ValueError naming ``name``."""
    validate.require(isinstance(text, str) and text.strip() and "\n" not in text.strip(), name,
                     "a non-empty one-line text", text)
    return text.strip()


def _check(table, caption, digits, columns, csv, max_rows) -> None:
    """`show`'s arguments (``table``: a DataFrame, its index made columns), or ValueError naming the first bad one."""
    check_caption(caption)
    places = list(digits.values()) if isinstance(digits, Mapping) else [digits]
    validate.require(all(validate.is_number(d, (int,)) and d >= 0 for d in places), "digits",
                     "an integer >= 0 or a {column: integer >= 0} mapping", digits)
    if columns is not None:
        validate.require(isinstance(columns, (Mapping, list, tuple)) and len(columns) > 0, "columns",
                         "None, a non-empty list of columns or a {column: reader name} mapping", columns)
        missing = [c for c in columns if c not in table.columns]
        validate.require(not missing, "columns", f"columns of the table {list(table.columns)}", missing)
    validate.require(csv is None or isinstance(csv, (str, os.PathLike)), "csv", "None or a path", csv)
    validate.integer("max_rows", max_rows, 1)


def _indexed(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a meaningful index (named, or not 0..n-1) as its first columns, since no index is shown."""
    if not isinstance(table.index, pd.RangeIndex) or any(table.index.names):
        table = table.reset_index()
    return table.rename_axis(columns=None)  # an unstacked table's column-axis name is no column


def _selected(table: pd.DataFrame, columns) -> tuple[pd.DataFrame, list[str]]:
    """``table`` (`_indexed`) with only ``columns`` (plus `ALWAYS` where present), under their reader names; and the
    table's own name of each column kept (what ``digits`` keys)."""
    if columns is None:
        return table, list(table.columns)
    names = dict(columns) if isinstance(columns, Mapping) else {c: c for c in columns}
    names.update({c: name for c, name in ALWAYS.items() if c in table and c not in names and table[c].notna().any()
                  and (table[c].astype(str) != "").any()})
    return table[list(names)].set_axis([str(n) for n in names.values()], axis=1), list(names)


def _formatted(table: pd.DataFrame, digits, original: Sequence[str]) -> pd.DataFrame:
    """Every cell of ``table`` as text, column by column (reader names may repeat); ``original``: each column's own
    name in the table (what a ``digits`` mapping keys)."""
    places = [digits.get(c, DEFAULT_DIGITS) if isinstance(digits, Mapping) else digits for c in original]
    cells = {i: [_cell(v, p) for v in table.iloc[:, i]] for i, p in enumerate(places)}
    return pd.DataFrame(cells, index=range(len(table)), columns=range(len(places))).set_axis(table.columns, axis=1)


_TABLE_STYLE = "max-width:100%;table-layout:auto;font-size:0.85em;margin:0 0 0.4em 0;border-collapse:collapse"
# Wrap at spaces only: a number or a word is never cut (a table too wide for the page scrolls in its box instead).
_HEAD_STYLE = "white-space:normal;overflow-wrap:break-word;vertical-align:bottom;border-bottom:1px solid #999;" \
              "padding:0.3em 0.5em;text-align:"
_CELL_STYLE = "white-space:normal;overflow-wrap:break-word;padding:0.25em 0.5em;text-align:"
_CAPTION_STYLE = "text-align:left;font-size:0.85em;margin:0 0 0.3em 0"


def _alignments(table: pd.DataFrame) -> list[str]:
    """Per column: "right" for numbers (digits line up), "left" for text."""
    def numeric(column: pd.Series) -> bool:
        values = column.dropna()
        return pd.api.types.is_numeric_dtype(column) or all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)

    return ["right" if numeric(table.iloc[:, i]) else "left" for i in range(table.shape[1])]


def _caption_html(caption: str) -> str:
    """The caption above a table: its title (before the first " — ") in bold, the rest (scale, device) plain."""
    title, dash, rest = caption.partition(" — ")
    body = f"<b>{html.escape(title)}</b>{dash}{html.escape(rest)}" if dash else html.escape(caption)
    return f'<p class="lab-view-caption" style="{_CAPTION_STYLE}">{body}</p>'


def _html(cells: pd.DataFrame, align: Sequence[str], caption: str, more: str, csv: str | None) -> str:
    """The table as HTML with inline styles (they survive Jupyter's sanitizer and nbconvert's stylesheet)."""
    width = "width:100%;" if len(cells.columns) >= WIDE else ""
    head = "".join(f'<th style="{_HEAD_STYLE}{a}">{html.escape(str(c))}</th>' for c, a in zip(cells.columns, align))
    body = "".join("<tr>" + "".join(f'<td style="{_CELL_STYLE}{a}">{html.escape(v)}</td>' for v, a in zip(row, align))
                   + "</tr>" for row in cells.itertuples(index=False))
    note = ""
    if more:
        link = f' <code class="{CSV_CLASS}">{html.escape(csv)}</code>' if csv else ""
        note = f'<p style="margin:0 0 1em 0;font-size:0.85em">{html.escape(more)}{link}</p>'
    return (f'<div class="lab-view" style="max-width:100%;overflow-x:auto">{_caption_html(caption)}'
            f'<table style="{width}{_TABLE_STYLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
            f"{note}</div>")


def show(table: pd.DataFrame, *, caption: str, digits: int | Mapping[str, int] = DEFAULT_DIGITS,
         columns: Sequence[str] | Mapping[str, str] | None = None, csv: str | os.PathLike | None = None,
         max_rows: int = 20) -> View:
    """``table`` as a reader's `View` (see the module docstring), with ``caption`` above it.

    ``digits``: decimals of every non-integer number, or ``{column: decimals}`` (others: `DEFAULT_DIGITS`; keys are
    the table's own column names). ``columns``: the columns to show, in order, or ``{column: reader name}``; `ALWAYS`
    columns are added where the table has them. A table longer than ``max_rows`` shows its first ``max_rows`` rows
    and a line "all N rows: <csv>" (``csv``: the file with every row, shown relative to the repository)."""
    validate.require(isinstance(table, pd.DataFrame), "table", "a pandas DataFrame", type(table).__name__)
    table = _indexed(table)
    _check(table, caption, digits, columns, csv, max_rows)
    chosen, original = _selected(table, columns)
    cells = _formatted(chosen.head(max_rows), digits, original)
    where = provenance.display_path(csv) if csv is not None else None
    more = ""
    if len(chosen) > max_rows:
        more = f"first {max_rows} of {len(chosen)} rows shown" + (f"; all {len(chosen)} rows:" if where else "")
    lines = [caption.strip(), cells.to_string(index=False)] + [f"{more} {where or ''}".rstrip()] * bool(more)
    return View(_html(cells, _alignments(chosen), caption.strip(), more, where), "\n".join(lines))


def note(text: str, *, italic: bool = False) -> None:
    """Display ``text`` as a line of Markdown in the notebook (and so in the report, which drops printed text)."""
    from IPython.display import display

    text = check_caption(text, "text")
    display({"text/markdown": f"*{text}*" if italic else text, "text/plain": text}, raw=True)


# --------------------------------------------------------------------------------------------- captions
def _training_device() -> str:
    """This host's training device in words: its GPUs' names, else its CPU (TensorFlow is asked, lazily)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU") for g in gpus]
        return f"this host's GPU ({', '.join(dict.fromkeys(names))})"
    return f"this host's CPU ({provenance.cpu_model()}, {os.cpu_count()} cores)"


def _scale(train: Mapping[str, Any]) -> str:
    """``fashion_mnist, 28x28 px, width 0.125``: the training scale of a preset's (or a run's) parameters."""
    side = train.get("image_size")
    return ", ".join([str(train.get("dataset", "default dataset")), f"{side}x{side} px" if side else "native size",
                      f"width {train['width']:g}" if "width" in train else "full width"])


def _latency(preset: presets.Preset, kind: str, settings: Mapping[str, Any], *, cpu: bool) -> str:
    """Where a table's latency was measured: the tables' deployment shape, or the edge study's settings; ``cpu``:
    name this host's CPU (when no training part of the caption has named it already)."""
    from lab.deployment import LATENCY_RUNS

    if kind == "latency":
        shape, threads, what = preset.deployment_shape.description, LATENCY_RUNS["threads"], "fresh networks at "
    else:
        edge = {**dataclasses.asdict(preset.edge), **settings}
        shape, threads, what = f"{edge['input_size']}x{edge['input_size']}x3, width {edge['width']:g}", \
            edge.get("threads", 1), ""
    host = f"this host's x86 CPU ({provenance.cpu_model()})" if cpu else "this host's CPU"
    return f"latency and size: {what}{shape}, LCE interpreter on {host}, {threads} thread(s)"


def caption(preset: str, what: str | Sequence[str], *, title: str = "",
            settings: Mapping[str, Any] | None = None) -> str:
    """A one-line caption: ``title``, then the preset and, for each kind of number in ``what`` (`KINDS`, one or a
    list): "training" (dataset, image size, width; this host's CPU or GPU), "latency" (the tables' deployment shape,
    LCE's interpreter on this host), "edge" (the edge study's shape and threads) and "paper" (ImageNet, Jetson Xavier
    NX). ``settings``: values that differ from the preset's, such as a training run's overrides (``dataset``,
    ``image_size``, ``width``; a mapping or its YAML text) or the edge study's parameters (``input_size``, ``width``,
    ``threads``); empty ones (None, 0, "") keep the preset's."""
    loaded = presets.load(preset)
    kinds = validate.choices("what", what, KINDS)
    validate.require(isinstance(title, str) and "\n" not in title.strip(), "title", "a one-line text", title)
    given = {k: v for k, v in validate.as_dict(settings, "settings").items() if v not in (None, 0, "")}
    trained = "training" in kinds
    parts = [f"ours: preset {preset}" + (f", {_scale({**loaded.train, **given})}, trained on {_training_device()}"
                                         if trained else "")]
    parts += [_latency(loaded, kind, given, cpu=not trained) for kind in ("latency", "edge") if kind in kinds]
    parts += [PAPER_DEVICE] if "paper" in kinds else []
    return (f"{title.strip()} — " if title.strip() else "") + "; ".join(parts) + "."


def read(csv: str | os.PathLike) -> pd.DataFrame:
    """A table `lab.provenance.write_table` wrote, read back from its CSV (for a notebook to `show` it)."""
    return pd.read_csv(csv)


def results_csv(preset: str, notebook: str, name: str) -> Path:
    """``results/<preset>/<notebook>/<name>.csv``: where `lab.provenance.write_table` put a notebook's table."""
    return provenance.out_dir(preset, notebook) / f"{name}.csv"
