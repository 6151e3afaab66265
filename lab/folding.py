"""Deployment form of a trained model: every LAB folded into one depthwise conv followed by the sign LCE fuses.

Why the fold is exact (float32, round to nearest; ``a`` = the depthwise sum, ``b = b1 - b0``, ``b' = lowered(b)``):
with gradual underflow ``fl(a + b)`` has the sign of ``a + b`` and is 0 only when ``a + b`` is, so LAB's
``fl(a + b) > 0`` <=> ``a > -b`` <=> ``a >= -b'`` (``-b'`` is the next float above ``-b``) <=> ``fl(a + b') >= 0``,
and a tie ``a = -b'`` gives ``+0.0``, never ``-0.0``. TF and LCE on x86 flush subnormals to zero (results and
operands): for ``min(|b|, |b'|) >= 2**-102`` no subnormal can arise in ``a + b`` or ``a + b'`` (near ``-b`` both
addends are multiples of ``2**-126``), so flushing changes nothing. For ``b == 0`` the next float below,
``-2**-149``, would read as 0 and turn every tie into ``+1``: ``b' = -FLT_MIN`` is exact because a flushed ``a`` is
0 or at least ``FLT_MIN`` (a runtime with gradual underflow differs only for ``a`` in ``(0, FLT_MIN)``). Any other
bias (subnormal, tiny, or whose next float is infinite) keeps LAB's strict rule, with a warning.
"""
from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from lab.quantizers import LAB, FoldedLAB

__all__ = ["fold", "lowered_bias"]

_SAFE_BIAS = np.float32(2.0 ** -102)  # |b| and |b'| at least this: no subnormal sum near a tie (module docstring)


def lowered_bias(bias: np.ndarray) -> np.ndarray | None:
    """``b'`` with ``fl(a + b') >= 0`` exactly where ``fl(a + b) > 0`` for every float ``a`` (module docstring): per
    channel the next float32 below ``bias``, ``-FLT_MIN`` where ``bias == 0``; ``None`` when some channel has no
    such ``b'`` (then the layer keeps LAB's strict rule)."""
    bias = np.asarray(bias, np.float32)
    lowered = np.where(bias == 0, -np.finfo(np.float32).tiny, np.nextafter(bias, np.float32(-np.inf)))
    safe = (bias == 0) | (np.isfinite(lowered) & (np.minimum(np.abs(bias), np.abs(lowered)) >= _SAFE_BIAS))
    return lowered.astype(np.float32) if safe.all() else None


def _lab_layers(model: tf.keras.Model) -> dict[str, LAB]:
    """Every LAB in the model (nested in quantized layers or sub-models), by name."""
    labs = {}
    for module in model.submodules:
        if isinstance(module, LAB):
            if module.name in labs and labs[module.name] is not module:
                raise ValueError(f"model has two LAB layers named {module.name!r}; fold needs unique names")
            labs[module.name] = module
    return labs


def _fold_lab(lab: LAB) -> tuple[FoldedLAB, list[np.ndarray]]:
    """The FoldedLAB replacing a channel-pairing ``lab`` and its weights: the lowered bias with the ``>= 0`` sign
    where that is exact, else LAB's own bias and strict rule."""
    kernel, bias = lab.folded_weights()
    lowered = lowered_bias(bias)
    folded = FoldedLAB(kernel_size=lab.kernel_size, beta=float(lab.temperature), strict=lowered is None,
                       name=lab.name)
    return folded, [kernel, bias if lowered is None else lowered]


def _fold_config(config, folded: dict[str, FoldedLAB]):
    """The model config with each LAB named in ``folded`` replaced by its FoldedLAB (functional-graph keys kept)."""
    if isinstance(config, list):
        return [_fold_config(item, folded) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "LAB" and config["config"]["name"] in folded:
        return {**config, **tf.keras.utils.serialize_keras_object(folded[config["config"]["name"]])}
    return {key: _fold_config(value, folded) for key, value in config.items()}


def _folded_values(layer: tf.keras.layers.Layer, weights: dict[str, list[np.ndarray]]) -> list:
    """``layer.get_weights()`` with the weights of each folded LAB inside it replaced by its folded ones."""
    owner = {w.ref(): sub.name for sub in layer._flatten_layers() if isinstance(sub, LAB) and sub.name in weights
             for w in sub.weights}
    values, done = [], set()
    for weight in layer.weights:
        name = owner.get(weight.ref())
        if name is None:
            values.append(weight.numpy())
        elif name not in done:
            done.add(name)
            values.extend(weights[name])
    return values


def _copy_weights(source: tf.keras.Model, target: tf.keras.Model, weights: dict[str, list[np.ndarray]]) -> None:
    for old, new in zip(source.layers, target.layers, strict=True):
        if isinstance(old, tf.keras.Model):
            _copy_weights(old, new, weights)
        else:
            new.set_weights(_folded_values(old, weights))


def fold(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of ``model`` in which every channel-pairing LAB is replaced by its folded form (`FoldedLAB`).

    Each LAB becomes one depthwise conv with kernel ``K1 - K0`` and bias ``b1 - b0`` lowered by one ULP, followed by
    ``where(z >= 0, 1, -1)``, which LCE fuses into ``LceQuantize``: the same outputs as LAB's ``z1 > z0``, ties
    included, in TF on any input (the bias is added after the depthwise sum; see this module's docstring). LCE's
    depthwise kernel starts its sum from the bias: there the fold keeps LAB's rule wherever the depthwise sum and
    every running sum are computed without rounding (all-zero windows, small dyadic values), and elsewhere agrees
    with the unfolded graph up to the order of summation, as TF and LCE already do (a tie whose running sums round
    can lose the lowering and give +1). A LAB whose bias cannot be lowered exactly keeps its strict rule
    (``FoldedLAB(strict=True)``, a ``GREATER`` op in LCE), with a warning.
    LAB layers with ``pairing="reference"`` compare responses of different channels and cannot be folded into one
    depthwise conv: they are copied as they are, with a warning. Works for functional and Sequential models
    (anything with ``get_config``), including nested ones.
    """
    labs = _lab_layers(model)
    reference = sorted(name for name, lab in labs.items() if lab.pairing == "reference")
    if reference:
        warnings.warn(f"lab.fold: {len(reference)} LAB layer(s) with pairing='reference' cannot be folded into one "
                      f"depthwise conv and are kept as they are: {', '.join(reference)}", stacklevel=2)
    try:
        config = model.get_config()
    except NotImplementedError as err:
        raise ValueError("fold needs a functional or Sequential model (one with get_config); got a subclassed "
                         f"{type(model).__name__}") from err
    folds = {name: _fold_lab(lab) for name, lab in labs.items() if lab.pairing == "channel"}
    strict = sorted(name for name, (layer, _) in folds.items() if layer.strict)
    if strict:
        warnings.warn(f"lab.fold: {len(strict)} LAB layer(s) have a bias difference b1 - b0 that cannot be lowered "
                      f"exactly (subnormal, below 2**-102 or next to infinity) and keep LAB's strict rule, which "
                      f"LCE converts with a GREATER op: {', '.join(strict)}", stacklevel=2)
    folded = model.__class__.from_config(_fold_config(config, {name: layer for name, (layer, _) in folds.items()}))
    _copy_weights(model, folded, {name: weights for name, (_, weights) in folds.items()})
    return folded
