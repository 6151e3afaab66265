"""Where the binary layers of a model are, how many parameters it has and how large it is once deployed."""
from __future__ import annotations


import larq as lq
import tensorflow as tf

from lab.models.common import parse_binconv_name


def _is_binary(quantizer) -> bool:
    return getattr(quantizer, "precision", None) == 1


def is_binary_layer(layer: tf.keras.layers.Layer) -> bool:
    """Whether ``layer`` is a larq conv/dense layer with 1-bit inputs and 1-bit weights."""
    return (isinstance(layer, (lq.layers.QuantConv2D, lq.layers.QuantDense))
            and _is_binary(layer.input_quantizer) and _is_binary(layer.kernel_quantizer))


def binary_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The binary conv/dense layers of ``model``: ordered by (stage, block, index) when all are named
    ``stage{s}_block{b}_binconv{i}`` (as `lab.models` names them), else in the model's layer order."""
    layers = [layer for layer in model.layers if is_binary_layer(layer)]
    if all(parse_binconv_name(layer.name) for layer in layers):
        layers.sort(key=lambda layer: parse_binconv_name(layer.name))
    return layers


def stage_of(layer: tf.keras.layers.Layer) -> int:
    """The stage (from 1) of a binary layer named ``stage{s}_block{b}_binconv{i}``."""
    position = parse_binconv_name(layer.name)
    if position is None:
        raise ValueError(f"layer must be named stage{{s}}_block{{b}}_binconv{{i}}, got {layer.name!r}")
    return position[0]


def _deployed_float_params(layer: tf.keras.layers.Layer) -> int:
    """Full-precision parameters ``layer`` keeps when deployed: BN folds into a scale and a shift per channel (as
    larq's summary and LCE count it); a binary layer's kernel is left out (it is 1-bit)."""
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        return 2 * int(layer.moving_mean.shape[-1])
    kernel = layer.kernel if is_binary_layer(layer) else None
    return sum(w.shape.num_elements() for w in layer.weights if w is not kernel)


def summary(model: tf.keras.Model) -> dict:
    """Parameter counts and deployed size of ``model``.

    Keys: ``total_params`` (every weight, as ``model.count_params()``), ``binary_params`` (the kernels of the binary
    layers), ``float_params`` (the rest), ``binarizer_params`` (weights inside the binary layers' input quantizers,
    e.g. LAB's depthwise kernels and biases: full precision) and ``deployed_size_mb``: binary kernels at 1 bit,
    everything else at 32 bit with each BN folded into 2 values per channel, in MiB (2**20 bytes, as larq's summary).
    """
    binary = binary_layers(model)
    binary_params = sum(layer.kernel.shape.num_elements() for layer in binary)
    float_bits = 32 * sum(_deployed_float_params(layer) for layer in model.layers)
    quantizers = [layer.input_quantizer for layer in binary if isinstance(layer.input_quantizer, tf.keras.layers.Layer)]
    total = model.count_params()
    return {
        "total_params": total,
        "binary_params": binary_params,
        "float_params": total - binary_params,
        "binarizer_params": sum(q.count_params() for q in quantizers if q.built),
        "deployed_size_mb": (binary_params + float_bits) / 8 / 2**20,
    }
