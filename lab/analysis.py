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

from lab import validate

__all__ = ["MEASURES", "DEFAULT_TOL", "uniqueness", "pairwise_hamming", "Probe", "probe_binarizers",
           "uniqueness_table"]

DEFAULT_TOL = 0.05
MEASURES = ("distinct_fraction", "mean_hamming", "near_duplicate_fraction")


def _as_bits(binary: np.ndarray) -> np.ndarray:
    """Check that ``binary`` holds only -1/+1 (or 0/1) and return it as booleans ``(..., P, C)``."""
    binary = np.asarray(binary)
    values = np.unique(binary)
    validate.require(set(values.tolist()) <= {-1, 1} or set(values.tolist()) <= {0, 1}, "binary's values",
                     "only -1/+1 (or 0/1)", values[:5].tolist())
    return binary > 0


def pairwise_hamming(binary: np.ndarray) -> np.ndarray:
    """Normalized Hamming distances ``(C, C)`` between the channels of one binary map ``(H, W, C)``."""
    validate.require(np.ndim(binary) == 3, "binary's shape", "(H, W, C)", np.shape(binary))
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
    validate.require(binary.ndim in (3, 4) and binary.shape[-1] >= 2, "binary's shape",
                     "(H, W, C) or (N, H, W, C) with C >= 2", binary.shape)
    validate.require(validate.is_number(tol) and 0 <= tol < 1, "tol", "a number in [0, 1)", tol)
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
