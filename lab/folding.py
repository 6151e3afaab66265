"""Deployment form of a trained model: every LAB folded into one depthwise conv followed by a sign."""
from __future__ import annotations

import warnings

import larq as lq
import numpy as np
import tensorflow as tf

from lab.quantizers import LAB, FoldedLAB

__all__ = ["fold"]

# Binary layers linear in their quantized input: layer(-a) with kernel -W equals layer(a) when padding adds zeros.
# (A one-padded conv would need padding -1, which LCE's LceBconv2d does not have.)
NEGATABLE = (lq.layers.QuantConv1D, lq.layers.QuantConv2D, lq.layers.QuantConv3D, lq.layers.QuantDense)


def _lab_layers(model: tf.keras.Model) -> dict[str, LAB]:
    """Every LAB in the model (nested in quantized layers or sub-models), by name."""
    labs = {}
    for module in model.submodules:
        if isinstance(module, LAB):
            if module.name in labs and labs[module.name] is not module:
                raise ValueError(f"model has two LAB layers named {module.name!r}; fold needs unique names")
            labs[module.name] = module
    return labs


def _negates(layer) -> bool:
    """Whether fold uses the negated FoldedLAB in ``layer`` and negates its kernel to compensate."""
    quantizer = getattr(layer, "input_quantizer", None)
    zero_padded = getattr(layer, "padding", "valid") != "same" or getattr(layer, "pad_values", 0.0) == 0.0
    return (isinstance(layer, NEGATABLE) and zero_padded and isinstance(quantizer, LAB)
            and quantizer.pairing == "channel")


def _folded_lab(config: dict, labs: dict[str, LAB], negated: bool) -> dict:
    """The serialized FoldedLAB replacing the serialized LAB ``config``, keeping its functional-graph keys."""
    lab = labs[config["config"]["name"]]
    folded = FoldedLAB(kernel_size=lab.kernel_size, beta=float(tf.convert_to_tensor(lab.beta)), negated=negated,
                       name=lab.name)
    return {**config, **tf.keras.utils.serialize_keras_object(folded)}


def _fold_config(config, labs: dict[str, LAB], negated_layers: set[str]):
    """The model config with each foldable LAB replaced by a FoldedLAB (negated inside ``negated_layers``)."""
    if isinstance(config, list):
        return [_fold_config(item, labs, negated_layers) for item in config]
    if not isinstance(config, dict):
        return config
    inner = config.get("config")
    if isinstance(inner, dict) and inner.get("name") in negated_layers:
        inner = {**inner, "input_quantizer": _folded_lab(inner["input_quantizer"], labs, negated=True)}
        return {**config, "config": inner}
    if config.get("class_name") == "LAB" and labs[config["config"]["name"]].pairing == "channel":
        return _folded_lab(config, labs, negated=False)
    return {key: _fold_config(value, labs, negated_layers) for key, value in config.items()}


def _negated_kernel(layer) -> np.ndarray:
    """``-q(W)``: the layer's quantized kernel, negated (exact, also where the latent weight is 0)."""
    with lq.context.quantized_scope(True):
        return -layer.kernel.numpy()


def _folded_values(layer: tf.keras.layers.Layer) -> list:
    """``layer.get_weights()`` with each channel-pairing LAB's weights replaced by its folded kernel and bias (and,
    for a negated fold, the layer's kernel by its negated quantized kernel)."""
    negated = _negates(layer)
    owner = {w.ref(): sub for sub in layer._flatten_layers() if isinstance(sub, LAB) and sub.pairing == "channel"
             for w in sub.weights}
    values, done = [], set()
    for weight in layer.weights:
        lab = owner.get(weight.ref())
        if negated and weight is layer.kernel:
            values.append(_negated_kernel(layer))
        elif lab is None:
            values.append(weight.numpy())
        elif id(lab) not in done:
            done.add(id(lab))
            values.extend(lab.folded_weights(negated=negated))
    return values


def _copy_weights(source: tf.keras.Model, target: tf.keras.Model) -> None:
    for old, new in zip(source.layers, target.layers, strict=True):
        if isinstance(old, tf.keras.Model):
            _copy_weights(old, new)
        else:
            new.set_weights(_folded_values(old))


def fold(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of ``model`` in which every LAB layer is replaced by its folded form (`FoldedLAB`).

    The folded model gives the same outputs as the original on any input (LAB's tie rule is kept). Inside a binary
    conv or dense layer that pads with zeros, the fold computes ``-LAB(x)`` with the sign form LCE fuses directly
    (``where(z >= 0, 1, -1)`` on the negated difference) and negates the layer's quantized kernel, so the layer's
    output is unchanged; elsewhere (standalone LAB, one-padded convs) it keeps ``where(z > 0, 1, -1)``, which LCE
    converts with an extra comparison op. LAB layers with
    ``pairing="reference"`` compare responses of different channels and cannot be folded into one depthwise conv:
    they are copied as they are, with a warning. Works for functional and Sequential models (anything with
    ``get_config``), including nested ones. A folded layer's latent kernel is its quantized kernel, so fine-tuning
    a folded model starts from the binary weights.
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
    negated_layers = {layer.name for layer in model.submodules if _negates(layer)}
    folded = model.__class__.from_config(_fold_config(config, labs, negated_layers))
    _copy_weights(model, folded)
    return folded
