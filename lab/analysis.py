"""Feature probes at the binarizers of a model, and *uniqueness* measures of binary feature maps.

The LAB paper argues that ``sign`` is a *uniqueness bottleneck*: it maps many channels of a feature map to
near-identical binary maps, so the binary convolution that follows sees fewer distinct inputs than it has channels.
We measure this on the ``+-1`` maps a binarizer emits for one image, shape ``(H, W, C)``, treating each channel
``c`` as a vector ``b_c`` of ``P = H * W`` bits.

A map and its negation carry the same information to the next layer: a binary convolution absorbs a sign flip of
an input channel into the signs of its weights. So every measure is *polarity invariant*: it treats ``b_c`` and
``-b_c`` as the same channel, and negating any subset of channels leaves it unchanged. With the normalized Hamming
distance ``d(i, j) = #{p : b_i[p] != b_j[p]} / P`` (and ``d(i, -j) = 1 - d(i, j)``), the distance up to sign is

    d'(i, j) = min(d(i, j), 1 - d(i, j))        in [0, 1/2]

- ``distinct_fraction``: the number of distinct channels up to sign (classes ``{b, -b}``, i.e. ``d' = 0``)
  divided by ``C`` (1.0: no two channels are equal or opposite; ``1 / C``: all are).
- ``mean_distance``: the mean of ``d'(i, j)`` over all pairs ``i < j`` (0: all channels equal up to sign; a little
  under 1/2 for independent random maps). The headline measure, `PRIMARY_MEASURE`.
- ``near_duplicate_fraction``: the fraction of channels that have another channel within ``d' <= tol`` (the
  "near-identical" maps of the paper's Fig. 1, a near-negation included; ``tol`` defaults to 5 % of the pixels).

For the first two, larger is more unique; for the third, smaller (`MORE_UNIQUE`). A batch ``(N, H, W, C)`` gives
the mean of each measure over its images.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lab import validate

__all__ = ["MEASURES", "PRIMARY_MEASURE", "MORE_UNIQUE", "LABELS", "DEFAULT_TOL", "check_tol", "uniqueness",
           "pairwise_hamming", "pairwise_distance", "Probe", "probe_binarizers", "uniqueness_table"]

DEFAULT_TOL = 0.05
MEASURES = ("distinct_fraction", "mean_distance", "near_duplicate_fraction")
PRIMARY_MEASURE = "mean_distance"  # the headline: larger is more unique
MORE_UNIQUE = {"distinct_fraction": "larger", "mean_distance": "larger", "near_duplicate_fraction": "smaller"}
LABELS = {  # for tables and charts
    "distinct_fraction": "distinct channels up to sign (fraction)",
    "mean_distance": "mean pairwise distance up to sign",
    "near_duplicate_fraction": "near-duplicate channels (fraction)",
}


def _as_bits(binary: np.ndarray) -> np.ndarray:
    """Check that ``binary`` holds only -1/+1 (or 0/1) and return it as booleans of the same shape."""
    binary = np.asarray(binary)
    values = np.unique(binary)
    validate.require(set(values.tolist()) <= {-1, 1} or set(values.tolist()) <= {0, 1}, "binary's values",
                     "only -1/+1 (or 0/1)", values[:5].tolist())
    return binary > 0


def _differing(bits: np.ndarray) -> np.ndarray:
    """``(C, C)`` counts of the pixels where two channels of ``bits`` ``(P, C)`` differ."""
    bits = bits.astype(np.float64)  # exact: counts stay far below 2**53
    # #differ(i, j) = (#1 in i) + (#1 in j) - 2 (#1 in both): one matrix product instead of a loop over pairs.
    ones = bits.sum(axis=0)
    return ones[:, None] + ones[None, :] - 2.0 * bits.T @ bits


def _flat_bits(binary: np.ndarray) -> np.ndarray:
    """One image's binary map ``(H, W, C)``, checked, as booleans ``(P, C)``."""
    validate.require(np.ndim(binary) == 3, "binary's shape", "(H, W, C)", np.shape(binary))
    return _as_bits(binary).reshape(-1, np.shape(binary)[-1])


def pairwise_hamming(binary: np.ndarray) -> np.ndarray:
    """Normalized Hamming distances ``d`` ``(C, C)`` between the channels of one binary map ``(H, W, C)``
    (polarity sensitive: a channel and its negation are 1 apart)."""
    bits = _flat_bits(binary)
    return _differing(bits) / bits.shape[0]


def _distance_up_to_sign(bits: np.ndarray) -> np.ndarray:
    """``d'`` ``(C, C)`` between the channels of ``bits`` ``(P, C)``: a pair differs in ``k`` pixels, a channel and
    the other's negation in ``P - k``."""
    differ = _differing(bits)
    return np.minimum(differ, bits.shape[0] - differ) / bits.shape[0]  # counts first: exact at the tolerance


def pairwise_distance(binary: np.ndarray) -> np.ndarray:
    """Distances up to sign ``d' = min(d, 1 - d)`` ``(C, C)`` between the channels of one binary map ``(H, W, C)``
    (a channel and its negation are 0 apart)."""
    return _distance_up_to_sign(_flat_bits(binary))


def check_tol(tol: float) -> float:
    """``tol`` if it is a near-duplicate threshold: a number in [0, 1/2] (``d'`` is at most 1/2)."""
    return validate.number("tol", tol, 0, 0.5)


def _uniqueness_one(bits: np.ndarray, tol: float) -> dict[str, float]:
    """The measures of one image's channels ``bits`` ``(P, C)``, booleans."""
    channels = bits.shape[-1]
    distances = _distance_up_to_sign(bits)
    pairs = distances[np.triu_indices(channels, k=1)]
    canonical = bits ^ ~bits[:1]  # each channel flipped so that its first pixel is set: one form per {b, -b}
    distinct = np.unique(canonical.T, axis=0).shape[0]
    np.fill_diagonal(distances, np.inf)
    return {
        "distinct_fraction": distinct / channels,
        "mean_distance": float(pairs.mean()),
        "near_duplicate_fraction": float((distances.min(axis=1) <= tol).mean()),
    }


def uniqueness(binary: np.ndarray, *, tol: float = DEFAULT_TOL) -> dict[str, float]:
    """The uniqueness measures (see the module docstring) of binary maps ``(H, W, C)`` or ``(N, H, W, C)``.

    Returns ``{"channels", "distinct_fraction", "mean_distance", "near_duplicate_fraction"}``; for a batch, each
    measure is the mean over its images.
    """
    binary = np.asarray(binary)
    validate.require(binary.ndim in (3, 4) and binary.shape[-1] >= 2, "binary's shape",
                     "(H, W, C) or (N, H, W, C) with C >= 2", binary.shape)
    check_tol(tol)
    bits = _as_bits(binary[None] if binary.ndim == 3 else binary)
    per_image = [_uniqueness_one(image.reshape(-1, image.shape[-1]), tol) for image in bits]
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
