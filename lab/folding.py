"""Deployment form of a trained model: every LAB folded into one depthwise conv followed by a sign."""
from __future__ import annotations

import warnings

import tensorflow as tf

from lab.quantizers import LAB, FoldedLAB

__all__ = ["fold"]


def _lab_layers(model: tf.keras.Model) -> dict[str, LAB]:
    """Every LAB in the model (nested in quantized layers or sub-models), by name."""
    labs = {}
    for module in model.submodules:
        if isinstance(module, LAB):
            if module.name in labs and labs[module.name] is not module:
                raise ValueError(f"model has two LAB layers named {module.name!r}; fold needs unique names")
            labs[module.name] = module
    return labs


def _fold_config(config, labs: dict[str, LAB]):
    """The model config with each foldable LAB's serialized config replaced by a FoldedLAB one."""
    if isinstance(config, list):
        return [_fold_config(item, labs) for item in config]
    if not isinstance(config, dict):
        return config
    if config.get("class_name") == "LAB":
        lab = labs[config["config"]["name"]]
        if lab.pairing == "channel":
            folded = FoldedLAB(kernel_size=lab.kernel_size, beta=float(tf.convert_to_tensor(lab.beta)),
                               name=lab.name)
            # keep the functional-graph keys (name, inbound_nodes) of a top-level LAB layer
            return {**config, **tf.keras.utils.serialize_keras_object(folded)}
    return {key: _fold_config(value, labs) for key, value in config.items()}


def _folded_values(layer: tf.keras.layers.Layer) -> list:
    """``layer.get_weights()`` with each channel-pairing LAB's weights replaced by its folded kernel and bias."""
    owner = {w.ref(): sub for sub in layer._flatten_layers() if isinstance(sub, LAB) and sub.pairing == "channel"
             for w in sub.weights}
    values, done = [], set()
    for weight in layer.weights:
        lab = owner.get(weight.ref())
        if lab is None:
            values.append(weight.numpy())
        elif id(lab) not in done:
            done.add(id(lab))
            values.extend(lab.folded_weights())
    return values


def _copy_weights(source: tf.keras.Model, target: tf.keras.Model) -> None:
    for old, new in zip(source.layers, target.layers, strict=True):
        if isinstance(old, tf.keras.Model):
            _copy_weights(old, new)
        else:
            new.set_weights(_folded_values(old))


def fold(model: tf.keras.Model) -> tf.keras.Model:
    """A copy of ``model`` in which every LAB layer is replaced by its folded form (`FoldedLAB`).

    The folded model gives the same outputs as the original on any input (the tie rule is kept: a zero difference
    gives -1). LAB layers with ``pairing="reference"`` compare responses of different channels and cannot be
    folded into one depthwise conv: they are copied as they are, with a warning. Works for functional and
    Sequential models (anything with ``get_config``), including nested ones.
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
    folded = model.__class__.from_config(_fold_config(config, labs))
    _copy_weights(model, folded)
    return folded
