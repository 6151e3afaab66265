"""Fig. 1 of the LAB paper and its uniqueness study: one network trained with sign and with LAB (every seed of the
preset), probed at its binarizers (`lab.analysis`) on a real photograph and on validation images.

`uniqueness_by_seed` trains (or reuses) the runs (`lab.plans.binarization_runs`) and measures the polarity-invariant
uniqueness at every binarizer, per seed (the claims module pairs LAB with sign by seed). `binarization_study` adds
the photograph (`photo`, brought to the dataset's value range by `match_statistics`), the mean over seeds with a
95 % t-interval (`seed_summary`), Fig. 1 (`binarization_figure`: the channels entering and leaving the first
binarizer, first seed, `channel_grid`) and `uniqueness_chart`, writing all of it under
``results/<preset>/binarization/`` (`lab.claims.uniqueness_by_image` tests the paper's claim on each image set).
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from lab import provenance, stats, validate
from lab.analysis import DEFAULT_TOL, LABELS, MEASURES, PRIMARY_MEASURE, check_tol, probe_binarizers, uniqueness_table

__all__ = ["PHOTOS", "BY_SEED", "photo", "match_statistics", "channel_grid", "binarization_figure",
           "uniqueness_chart", "seed_summary", "uniqueness_by_seed", "fig1_caption",
           "BinarizationStudy", "OVERALL_VIEW", "SUMMARY_VIEW", "binarization_study"]

PHOTOS = ("astronaut", "chelsea", "coffee")
MAX_CHANNELS = 64  # Fig. 1 shows 64 channels as an 8x8 grid


# --------------------------------------------------------------------------------------------- images
def photo(name: str, *, shape: tuple[int, int, int]) -> np.ndarray:
    """A real photograph shipped with scikit-image (``astronaut``, ``chelsea``, ``coffee``), centre-cropped to a
    square, resized to ``shape = (H, W, channels)`` (grey when ``channels == 1``), values in [0, 1]."""
    from skimage import color, data, transform

    validate.choice("name", name, PHOTOS)
    validate.require(len(shape) == 3 and shape[-1] in (1, 3), "shape", "(height, width, 1 or 3)", shape)
    image = getattr(data, name)()
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    image = image[top:top + side, left:left + side] / 255.0
    if shape[-1] == 1:
        image = color.rgb2gray(image)[..., None]
    return transform.resize(image, shape, anti_aliasing=True).astype(np.float32)


def match_statistics(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` shifted and scaled to the mean and standard deviation of ``reference``: a photograph brought to
    the value range of a dataset's normalised images, whatever that dataset's normalisation is."""
    image = np.asarray(image, np.float32)
    return ((image - image.mean()) / (image.std() + 1e-8) * reference.std() + reference.mean()).astype(np.float32)


# --------------------------------------------------------------------------------------------- drawing
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
    canvas = np.full((side * (height + 1) - 1, side * (width + 1) - 1), np.nan)  # NaN: the gaps
    for c in range(channels):
        row, col = divmod(c, side)
        canvas[row * (height + 1):row * (height + 1) + height, col * (width + 1):col * (width + 1) + width] = \
            scaled[..., c]
    import matplotlib

    colours = matplotlib.colormaps[cmap].with_extremes(bad="#9a9a9a")  # grey gaps: a white +1 border stays visible
    ax.imshow(canvas, cmap=colours, vmin=0.0, vmax=1.0, interpolation="nearest")
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
        channel_grid(probe.outputs[0], ax=axes[2 + 2 * i],
                     title=f"{name}: binary output ({probe.outputs.shape[-1]} channels)")
    fig.suptitle("\n".join(textwrap.fill(line, 150) for line in title.splitlines()), fontsize=10)
    fig.tight_layout()
    plt.close(fig)  # shown where the caller displays it, not again at the end of the cell
    return fig


def uniqueness_chart(summary: pd.DataFrame, *, measures: Sequence[str] = MEASURES) -> alt.FacetChart:
    """Uniqueness at every binarizer of the network (x, network order): the mean over seeds (line) and its 95 %
    interval (bar; none with one seed), one colour per ``binarizer`` (the network trained with sign / with LAB),
    one panel per measure (columns) and image (rows); ``summary`` is `BinarizationStudy.summary`."""
    keys = ["image", "binarizer", "index", "layer", "channels", "seeds"]
    long = pd.concat([summary[keys].assign(measure=LABELS[m], value=summary[m], low=summary[f"{m}_low"],
                                           high=summary[f"{m}_high"]) for m in measures], ignore_index=True)
    base = alt.Chart().encode(x=alt.X("index:O", title="binary convolution (network order)"),
                              xOffset="binarizer:N", color=alt.Color("binarizer:N", title="trained with"))
    line = base.mark_line(point=True).encode(
        y=alt.Y("value:Q", title=None),
        tooltip=["image", "layer", "channels", "binarizer", "seeds", alt.Tooltip("value:Q", format=".3f"),
                 alt.Tooltip("low:Q", format=".3f"), alt.Tooltip("high:Q", format=".3f")])
    bars = base.mark_rule().encode(y="low:Q", y2="high:Q")
    seeds = int(summary["seeds"].max())
    spread = "95 % interval over seeds" if seeds > 1 else "no interval with one seed"
    return alt.layer(line, bars, data=long).properties(width=230, height=160).facet(
        column=alt.Column("measure:N", title=None), row=alt.Row("image:N", title=None),
    ).resolve_scale(y="independent").properties(
        title=f"Uniqueness of the binary channels at every binarizer (mean of {seeds} seed(s), {spread})")


# --------------------------------------------------------------------------------------------- statistics
def seed_summary(table: pd.DataFrame, keys: Sequence[str], measures: Sequence[str] = MEASURES) -> pd.DataFrame:
    """Per group of ``keys``: the number of ``seeds`` and, per measure, its mean over the group's rows (one per
    seed) with the 95 % interval over seeds (``<measure>_low``, ``<measure>_high``; `lab.stats.mean_interval`)."""
    rows = []
    for key, group in table.groupby(list(keys), sort=False):
        row = {**dict(zip(keys, key)), "seeds": group["seed"].nunique()}
        for measure in measures:
            row[measure], row[f"{measure}_low"], row[f"{measure}_high"] = stats.mean_interval(group[measure])
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------- the runs
BY_SEED = ["seed", "binarizer", "index", "layer", "channels", *MEASURES]  # the columns of `uniqueness_by_seed`


def _check(*, dataset_images: int, tol: float) -> None:
    """Reject bad parameters before anything trains (`lab.plans.binarization_runs` checks ``model`` and ``width``,
    also before training)."""
    validate.integer("dataset_images", dataset_images, 1)
    check_tol(tol)


def _trained_runs(preset: str, model: str, width: float | None) -> list:
    """``[(plans.Run, run_id)]``: sign and LAB at every seed of ``preset``, trained or reused."""
    from lab import plans, train

    return [(run, train.run(preset, **run.overrides)["run_id"])
            for run in plans.binarization_runs(preset, model, width or None)]


def _validation_images(preset: str, model: str, count: int) -> tuple[str, np.ndarray]:
    """The dataset's name and its first ``count`` validation images (fixed order), as ``model`` is trained."""
    from lab import data, presets, train

    config = train.preset_params(presets.load(preset), model=model)
    pipeline = data.load(config["dataset"], split="validation", batch_size=count,
                         image_size=config.get("image_size"), data_dir=config.get("data_dir"), limit=count)
    return config["dataset"], next(iter(pipeline.dataset))[0].numpy()


def _measured(run, net, images: np.ndarray, tol: float) -> pd.DataFrame:
    """`BY_SEED` rows of one run: the measures at each binarizer, means over ``images``."""
    return uniqueness_table(net, images, tol=tol).assign(seed=run.seed, binarizer=run.binarizer)[BY_SEED]


def uniqueness_by_seed(*, preset: str, model: str = "birealnet", width: float | None = None,
                       dataset_images: int = 100, tol: float = DEFAULT_TOL) -> pd.DataFrame:
    """The polarity-invariant uniqueness (`lab.analysis`) at every binarizer of ``model`` trained with sign and
    with LAB at each seed of ``preset`` (trained or reused; ``width`` None or 0: the preset's): one row per seed,
    binarizer (``"sign"``/``"lab"``) and binary convolution (`BY_SEED`), each measure the mean over the first
    ``dataset_images`` validation images."""
    from lab import runs

    _check(dataset_images=dataset_images, tol=tol)
    trained = _trained_runs(preset, model, width)
    _, images = _validation_images(preset, model, dataset_images)
    return pd.concat([_measured(run, runs.load_model(run_id), images, tol) for run, run_id in trained],
                     ignore_index=True)


# --------------------------------------------------------------------------------------------- the study
PAPER_CHANNELS = 64  # the paper's Fig. 1: Bi-Real Net's stage 1 at its published width
WIDE_PRESET = "cpu-wide"  # the preset that trains it so (lab/presets/cpu-wide.yaml)


def fig1_caption(*, preset: str, model: str, seed: int, probe) -> str:
    """What Fig. 1 shows: the network, preset, seed and the first binarizer's channel count; where that is under
    the paper's 64, how to get them."""
    from lab import paper

    channels = probe.outputs.shape[-1]
    text = (f"{paper.DISPLAY_NAMES.get(model, model)} trained at preset {preset} (seed {seed}): the {channels} "
            f"channels of its first binarizer ({probe.layer}).")
    if channels < PAPER_CHANNELS:
        text += (f" The paper shows {PAPER_CHANNELS}: preset {WIDE_PRESET} trains the network at its published width "
                 f"(`make reproduce PRESET={WIDE_PRESET}`; its cost: results/{WIDE_PRESET}/batch.md).")
    return text


@dataclass
class BinarizationStudy:
    """Fig. 1 and the uniqueness measures of one network trained with sign and with LAB, over every seed."""

    figures: dict  # file stem -> matplotlib figure (fig1_dataset, fig1_photo)
    caption: str  # Fig. 1's one-line caption: channels, seed, how to get the paper's 64, scale and device
    uniqueness: pd.DataFrame  # one row per (image, seed, binarizer, binary convolution): `BY_SEED` and ``image``
    summary: pd.DataFrame  # per (image, binary convolution, binarizer): mean and 95 % interval over seeds
    overall: pd.DataFrame  # per (image, binarizer): the mean over the convolutions, then over seeds with interval
    csv: dict  # table name (uniqueness, summary, overall) -> the CSV written
    params: dict  # what produced it (preset, model, width, images, tol, run ids), as its files' provenance says


def _reader_columns(keys: Sequence[str], measures: Sequence[str]) -> dict[str, str]:
    """A `lab.views.show` column selection: ``keys``, then each measure's mean and 95 % interval, reader-named."""
    names = {"image": "image", "binarizer": "trained with", "index": "#", "layer": "binary convolution",
             "channels": "channels", "seeds": "seeds"}
    short = {"distinct_fraction": "distinct", "mean_distance": "mean distance", "near_duplicate_fraction": "near-dup."}
    return {**{key: names[key] for key in keys},
            **{f"{m}{end}": f"{short[m]}{label}" for m in measures
               for end, label in (("", ""), ("_low", " 95 % low"), ("_high", " 95 % high"))}}


# What the notebook shows of `BinarizationStudy.overall` and `.summary` (the CSVs have every column).
OVERALL_VIEW = _reader_columns(["image", "binarizer", "seeds"], MEASURES)
SUMMARY_VIEW = _reader_columns(["image", "index", "layer", "channels", "binarizer", "seeds"], [PRIMARY_MEASURE])


def _ordered(table: pd.DataFrame, images: Sequence[str]) -> pd.DataFrame:
    """``table`` by image (in ``images``' order), binary convolution, binarizer (sign, then LAB) and seed: sign and
    LAB of one convolution side by side in every summary built from it."""
    rank = {"image": {name: i for i, name in enumerate(images)}, "binarizer": {"sign": 0, "lab": 1}}
    return table.sort_values(["image", "index", "binarizer", "seed"], kind="stable",
                             key=lambda column: column.map(rank[column.name]) if column.name in rank else column
                             ).reset_index(drop=True)


def _summaries(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per binary convolution, and for the network (each seed's mean over its convolutions): the mean over seeds
    with its interval (`seed_summary`)."""
    summary = seed_summary(table, ["image", "index", "layer", "channels", "binarizer"])
    per_seed = table.groupby(["image", "binarizer", "seed"], sort=False)[list(MEASURES)].mean().reset_index()
    return summary, seed_summary(per_seed, ["image", "binarizer"])


def _fig1(probes: dict, images: dict, *, preset: str, title: str) -> dict:
    """Fig. 1 for the first picture of each of ``images`` (``fig1_dataset``, ``fig1_photo``), stamped with where
    its numbers come from."""
    from lab import figures

    stems = dict(zip(images, ("fig1_dataset", "fig1_photo")))
    return {stems[name]: figures.stamp(binarization_figure(
        {binarizer.replace("lab", "LAB"): per_image[name] for binarizer, per_image in probes.items()},
        image=image[0], title=f"{'the first of the ' if len(image) > 1 else ''}{name}\n{title.replace('`', '')}"),
        preset) for name, image in images.items()}


def _probed(trained: list, images: dict, tol: float) -> tuple[pd.DataFrame, dict]:
    """Every run (one network in memory at a time) measured on each of ``images`` (`BY_SEED` rows and ``image``),
    and the first seed's probes of the first binarizer on each image's first picture (binarizer -> image -> probe)."""
    from lab import runs

    first_seed, tables, probes = trained[0][0].seed, [], {}
    for run, run_id in trained:
        net = runs.load_model(run_id)
        tables += [_measured(run, net, image, tol).assign(image=name) for name, image in images.items()]
        if run.seed == first_seed:
            probes[run.binarizer] = {name: probe_binarizers(net, image[:1], first=1)[0]
                                     for name, image in images.items()}
    return _ordered(pd.concat(tables)[["image", *BY_SEED]], list(images)), probes


def binarization_study(*, preset: str, model: str = "birealnet", photo_name: str = "astronaut",
                       dataset_images: int = 100, width: float | None = None,
                       tol: float = DEFAULT_TOL) -> BinarizationStudy:
    """Train (or reuse) ``model`` with sign and with LAB at every seed of ``preset`` (at ``width``; None or 0: the
    preset's), then probe each on ``dataset_images`` validation images and a photograph: uniqueness at every
    binarizer per seed, its mean and interval over seeds, and Fig. 1 (first seed) for the first validation image and
    the photograph. Figures and tables are written under ``results/<preset>/binarization/``."""
    from lab import figures, views

    validate.choice("photo_name", photo_name, PHOTOS)
    _check(dataset_images=dataset_images, tol=tol)
    trained = _trained_runs(preset, model, width)
    dataset, batch = _validation_images(preset, model, dataset_images)
    real = match_statistics(photo(photo_name, shape=batch.shape[1:]), batch)[None]
    images = {f"{dataset} validation images ({len(batch)})": batch, f"photograph ({photo_name})": real}
    table, probes = _probed(trained, images, tol)
    summary, overall = _summaries(table)
    title = fig1_caption(preset=preset, model=model, seed=trained[0][0].seed,
                         probe=next(iter(probes["sign"].values())))
    out = provenance.out_dir(preset, "binarization")
    params = {"preset": preset, "model": model, "width": width or None, "photo_name": photo_name,
              "dataset_images": len(batch), "tol": tol,
              "run_ids": {f"{run.binarizer}-seed{run.seed}": run_id for run, run_id in trained}}
    figs = _fig1(probes, images, preset=preset, title=title)
    for stem, fig in figs.items():
        figures.save(fig, out / stem, params)
    csv = {name: provenance.write_table(frame, out / name, params) for name, frame in
           {"uniqueness": table, "summary": summary, "overall": overall}.items()}
    caption = views.caption(preset, "training", title=title, settings={"width": width})
    return BinarizationStudy(figs, caption, table, summary, overall, csv, params)
