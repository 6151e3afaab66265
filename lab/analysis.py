"""Feature probes at the binarizers of a model, and *uniqueness* measures of binary feature maps.

The LAB paper argues that ``sign`` is a *uniqueness bottleneck*: it maps many channels of a feature map to
near-identical binary maps, so the binary convolution that follows sees fewer distinct inputs than it has channels.
We measure this on the ``+-1`` maps a binarizer emits for one image, shape ``(H, W, C)``, treating each channel as a
vector of ``P = H * W`` bits:

- ``distinct_fraction``: the number of distinct channel maps divided by ``C`` (1.0: no two channels are equal;
  ``1 / C``: all are equal).
- ``mean_hamming``: the mean normalized Hamming distance ``d(i, j) = #{p : b_i[p] != b_j[p]} / P`` over all pairs
  ``i < j`` (0: all equal; about 0.5 for independent random maps).
- ``near_duplicate_fraction``: the fraction of channels that have another channel within ``d <= tol`` (the
  "near-identical" maps of the paper's Fig. 1; ``tol`` defaults to 5 % of the pixels).

A batch ``(N, H, W, C)`` gives the mean of each measure over its images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import provenance

__all__ = ["uniqueness", "pairwise_hamming", "Probe", "probe_binarizers", "uniqueness_table", "photo",
           "match_statistics", "BinarizationStudy", "binarization_study"]

DEFAULT_TOL = 0.05
MEASURES = ("distinct_fraction", "mean_hamming", "near_duplicate_fraction")


def _as_bits(binary: np.ndarray) -> np.ndarray:
    """Check that ``binary`` holds only -1/+1 (or 0/1) and return it as booleans ``(..., P, C)``."""
    binary = np.asarray(binary)
    values = np.unique(binary)
    if not (set(values.tolist()) <= {-1, 1} or set(values.tolist()) <= {0, 1}):
        raise ValueError(f"binary must hold only -1/+1 (or 0/1) values, got values {values[:5].tolist()}...")
    return binary > 0


def pairwise_hamming(binary: np.ndarray) -> np.ndarray:
    """Normalized Hamming distances ``(C, C)`` between the channels of one binary map ``(H, W, C)``."""
    if np.ndim(binary) != 3:
        raise ValueError(f"binary must have shape (H, W, C), got shape {np.shape(binary)}")
    bits = _as_bits(binary).reshape(-1, np.shape(binary)[-1]).astype(np.float64)
    # d(i, j) = (#1 in i) + (#1 in j) - 2 (#1 in both), divided by P: one matrix product instead of a loop.
    ones = bits.sum(axis=0)
    return (ones[:, None] + ones[None, :] - 2.0 * bits.T @ bits) / bits.shape[0]


def _uniqueness_one(binary: np.ndarray, tol: float) -> dict[str, float]:
    channels = binary.shape[-1]
    distances = pairwise_hamming(binary)
    pairs = distances[np.triu_indices(channels, k=1)]
    distinct = np.unique(_as_bits(binary).reshape(-1, channels).T, axis=0).shape[0]
    np.fill_diagonal(distances, np.inf)
    return {
        "distinct_fraction": distinct / channels,
        "mean_hamming": float(pairs.mean()),
        "near_duplicate_fraction": float((distances.min(axis=1) <= tol).mean()),
    }


def uniqueness(binary: np.ndarray, *, tol: float = DEFAULT_TOL) -> dict[str, float]:
    """The uniqueness measures (see the module docstring) of binary maps ``(H, W, C)`` or ``(N, H, W, C)``.

    Returns ``{"channels", "distinct_fraction", "mean_hamming", "near_duplicate_fraction"}``; for a batch, each
    measure is the mean over its images.
    """
    binary = np.asarray(binary)
    if binary.ndim not in (3, 4) or binary.shape[-1] < 2:
        raise ValueError(f"binary must have shape (H, W, C) or (N, H, W, C) with C >= 2, got shape {binary.shape}")
    if not 0 <= tol < 1:
        raise ValueError(f"tol must be in [0, 1), got {tol!r}")
    images = binary[None] if binary.ndim == 3 else binary
    per_image = [_uniqueness_one(image, tol) for image in images]
    return {"channels": int(binary.shape[-1]),
            **{measure: float(np.mean([m[measure] for m in per_image])) for measure in MEASURES}}


@dataclass(frozen=True)
class Probe:
    """What enters (``inputs``, float) and leaves (``outputs``, +-1) the binarizer of one binary layer."""

    layer: str
    quantizer: str
    inputs: np.ndarray
    outputs: np.ndarray


def probe_binarizers(model, images: np.ndarray, *, first: int | None = None) -> list[Probe]:
    """Run ``images`` through ``model`` and capture the input and output of the binarizer (``input_quantizer``)
    of each binary convolution (`lab.models.binary_layers`, in order; dense layers are skipped: their inputs are
    not feature maps). ``first`` keeps only the first ``first`` layers (Fig. 1 needs one)."""
    import tensorflow as tf

    from lab.models import binary_layers

    layers = [layer for layer in binary_layers(model)
              if layer.input_quantizer is not None and len(layer.input.shape) == 4][:first]
    if not layers:
        raise ValueError("model has no binary convolution with an input quantizer to probe")
    features = tf.keras.Model(model.inputs, [layer.input for layer in layers])(images, training=False)
    features = features if isinstance(features, (list, tuple)) else [features]
    return [Probe(layer.name, type(layer.input_quantizer).__name__, x.numpy(), layer.input_quantizer(x).numpy())
            for layer, x in zip(layers, features)]


def uniqueness_table(model, images: np.ndarray, *, tol: float = DEFAULT_TOL) -> pd.DataFrame:
    """Uniqueness measures at every binarizer of ``model`` over ``images``: one row per binary convolution
    (``index`` from 1, ``layer``, ``quantizer`` class, ``channels`` and the measures)."""
    rows = [{"index": i, "layer": p.layer, "quantizer": p.quantizer, **uniqueness(p.outputs, tol=tol)}
            for i, p in enumerate(probe_binarizers(model, images), start=1)]
    return pd.DataFrame(rows)


PHOTOS = ("astronaut", "chelsea", "coffee")


def photo(name: str, *, shape: tuple[int, int, int]) -> np.ndarray:
    """A real photograph shipped with scikit-image (``astronaut``, ``chelsea``, ``coffee``), centre-cropped to a
    square, resized to ``shape = (H, W, channels)`` (grey when ``channels == 1``), values in [0, 1]."""
    from skimage import color, data, transform

    if name not in PHOTOS:
        raise ValueError(f"name must be one of {PHOTOS}, got {name!r}")
    if len(shape) != 3 or shape[-1] not in (1, 3):
        raise ValueError(f"shape must be (height, width, 1 or 3), got {shape!r}")
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
    from lab import data, figures, presets, tables, train

    if photo_name not in PHOTOS:
        raise ValueError(f"photo_name must be one of {PHOTOS}, got {photo_name!r}")
    if isinstance(dataset_images, bool) or not isinstance(dataset_images, int) or dataset_images < 1:
        raise ValueError(f"dataset_images must be a positive integer, got {dataset_images!r}")
    runs = tables.binarization_runs(preset, model)
    run_ids = {run.binarizer: train.run(preset, **run.overrides)["run_id"] for run in runs}
    nets = {name: train.load_model(run_id) for name, run_id in run_ids.items()}
    config = presets.load(preset).train
    batch = next(iter(data.load(config["dataset"], split="validation", batch_size=dataset_images,
                                image_size=config.get("image_size"), data_dir=config.get("data_dir"),
                                limit=dataset_images).dataset))[0].numpy()
    real = match_statistics(photo(photo_name, shape=batch.shape[1:]), batch)[None]
    images = {f"photograph ({photo_name})": real, f"{config['dataset']} validation images": batch}
    out = tables.out_dir(preset, "binarization")
    params = {"preset": preset, "model": model, "photo_name": photo_name, "dataset_images": dataset_images,
              "tol": tol, "run_ids": run_ids}
    figs, rows = {}, []
    for (image_name, image), stem in zip(images.items(), ("fig1_photo", "fig1_dataset")):
        probes = {name.replace("lab", "LAB"): probe_binarizers(net, image[:1], first=1)[0]
                  for name, net in nets.items()}
        figs[image_name] = figures.binarization_figure(probes, image=image[0],
                                                       title=f"{model}, first binary conv: {image_name}")
        figures.save(figs[image_name], out / stem, params)
        rows += [uniqueness_table(net, image, tol=tol).assign(binarizer=name, image=image_name)
                 for name, net in nets.items()]
    table = pd.concat(rows, ignore_index=True)
    summary = table.groupby(["image", "binarizer"], sort=False)[list(MEASURES)].mean().reset_index()
    provenance.write_table(table, out / "uniqueness", params)
    provenance.write_table(summary, out / "uniqueness_summary", params)
    return BinarizationStudy(figs, table, summary)
