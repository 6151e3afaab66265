"""Fig. 1 of the LAB paper and its uniqueness study: one network trained with sign and with LAB, probed at its
binarizers (`lab.analysis`) on a real photograph and on validation images.

`binarization_study` trains (or reuses) the two runs (`lab.plans.binarization_runs`), brings a scikit-image
photograph (`photo`) to the dataset's value range (`match_statistics`), draws Fig. 1 (`binarization_figure`: the
channels entering and leaving the first binarizer, `channel_grid`) and measures uniqueness at every binarizer
(`uniqueness_chart` draws it), writing all of it under ``results/<preset>/binarization/``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import altair as alt
import numpy as np
import pandas as pd

from lab import provenance, validate
from lab.analysis import DEFAULT_TOL, MEASURES, probe_binarizers, uniqueness_table

__all__ = ["PHOTOS", "photo", "match_statistics", "channel_grid", "binarization_figure", "uniqueness_chart",
           "BinarizationStudy", "binarization_study"]

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


# --------------------------------------------------------------------------------------------- the study
@dataclass
class BinarizationStudy:
    """Fig. 1 and the uniqueness measures of one network trained with sign and with LAB."""

    figures: dict  # title -> matplotlib figure (one per image)
    uniqueness: pd.DataFrame  # one row per (binarizer, image, binary convolution)
    summary: pd.DataFrame  # mean over the binary convolutions, per binarizer and image


def binarization_study(*, preset: str, model: str = "birealnet", photo_name: str = "astronaut",
                       dataset_images: int = 8, tol: float = DEFAULT_TOL) -> BinarizationStudy:
    """Train (or reuse) ``model`` with sign and with LAB at ``preset``, then probe both on a real photograph and
    on ``dataset_images`` validation images: Fig. 1 for the photograph and the first validation image, uniqueness
    at every binarizer. Figures and tables are written under ``results/<preset>/binarization/``."""
    from lab import data, figures, plans, presets, runs, train

    validate.choice("photo_name", photo_name, PHOTOS)
    validate.integer("dataset_images", dataset_images, 1)
    run_ids = {run.binarizer: train.run(preset, **run.overrides)["run_id"]
               for run in plans.binarization_runs(preset, model)}
    nets = {name: runs.load_model(run_id) for name, run_id in run_ids.items()}
    config = presets.load(preset).train
    batch = next(iter(data.load(config["dataset"], split="validation", batch_size=dataset_images,
                                image_size=config.get("image_size"), data_dir=config.get("data_dir"),
                                limit=dataset_images).dataset))[0].numpy()
    real = match_statistics(photo(photo_name, shape=batch.shape[1:]), batch)[None]
    images = {f"photograph ({photo_name})": real, f"{config['dataset']} validation images": batch}
    out = provenance.out_dir(preset, "binarization")
    params = {"preset": preset, "model": model, "photo_name": photo_name, "dataset_images": dataset_images,
              "tol": tol, "run_ids": run_ids}
    figs, rows = {}, []
    for (image_name, image), stem in zip(images.items(), ("fig1_photo", "fig1_dataset")):
        probes = {name.replace("lab", "LAB"): probe_binarizers(net, image[:1], first=1)[0]
                  for name, net in nets.items()}
        figs[image_name] = binarization_figure(probes, image=image[0],
                                               title=f"{model}, first binary conv: {image_name}")
        figures.save(figs[image_name], out / stem, params)
        rows += [uniqueness_table(net, image, tol=tol).assign(binarizer=name, image=image_name)
                 for name, net in nets.items()]
    table = pd.concat(rows, ignore_index=True)
    summary = table.groupby(["image", "binarizer"], sort=False)[list(MEASURES)].mean().reset_index()
    provenance.write_table(table, out / "uniqueness", params)
    provenance.write_table(summary, out / "uniqueness_summary", params)
    return BinarizationStudy(figs, table, summary)
