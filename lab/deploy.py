"""Conversion with Larq Compute Engine (LCE), checked, and the two model sizes of a converted network.

LCE turns a binarizer into ``LceQuantize -> LceBconv2d`` only when the binarizer ends in ``tf.where(c, 1., -1.)``
(or ``larq.math.sign``) with nothing in between; otherwise it *silently* keeps a float ``CONV_2D``. `convert`
therefore reads the op list back from the flatbuffer (`lab.tflite.op_list`) and refuses a model whose binary
convolutions did not all become ``LceBconv2d``, or in which a comparison or select op (which LCE keeps, e.g.
``GREATER`` for ``x > 0``) sits between a folded LAB's depthwise conv and its ``LceQuantize``.

Timing the converted graphs is `lab.timing`'s; the edge-latency study over the paper's networks is `lab.edge`'s.
"""
from __future__ import annotations

import contextlib

import larq as lq
import tensorflow as tf

import lab
from lab import validate
from lab.quantizers import LAB, FoldedLAB
from lab.tflite import BINARY_CONV_OP, compared_quantizes, layer_of, op_list

__all__ = ["METHODS", "ConversionError", "binary_conv_layers", "build_network", "convert", "sizes"]

METHODS = ("graphdef", "saved_model")  # LCE conversion paths, see `convert`


class ConversionError(RuntimeError):
    """LCE converted a model but did not turn every binary convolution into an ``LceBconv2d``, or left a comparison
    op before the ``LceQuantize`` of a folded LAB."""


def _binarizes(quantizer) -> bool:
    return getattr(quantizer, "precision", None) == 1


def binary_conv_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The larq ``QuantConv2D`` layers of ``model`` (nested ones included) whose input *and* kernel quantizers
    binarize: the layers LCE must turn into ``LceBconv2d``."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, lq.layers.QuantConv2D)
            and _binarizes(layer.input_quantizer) and _binarizes(layer.kernel_quantizer)]


def build_network(network: str, *, binarizer: str = "sign", lab_blocks=None, fold: bool = True,
                  input_shape=(224, 224, 3), width: float = 1.0, num_classes: int = 1000) -> tf.keras.Model:
    """``network`` (`lab.models.build`) as it is deployed: ``binarizer`` in the stages of ``lab_blocks``, LAB folded
    by `lab.fold` unless ``fold=False``. Weights are freshly initialised: size and latency do not depend on them."""
    from lab import models

    model = models.build(network, binarizer=binarizer, lab_blocks=lab_blocks if binarizer != "sign" else None,
                         input_shape=tuple(input_shape), num_classes=num_classes, width=width)
    return lab.fold(model) if fold and binarizer == "lab" else model


def _check_folded_labs(model: tf.keras.Model, flatbuffer: bytes) -> None:
    """Raise `ConversionError` naming the layer where, in a model with folded LAB layers, a comparison op sits between
    a depthwise conv and its ``LceQuantize``, unless that layer keeps LAB's strict rule on purpose (an unfolded LAB
    or a ``FoldedLAB(strict=True)``)."""
    if not any(isinstance(m, FoldedLAB) and not m.strict for m in model.submodules):
        return
    strict = {name for layer in binary_conv_layers(model)
              if isinstance(layer.input_quantizer, LAB)
              or isinstance(layer.input_quantizer, FoldedLAB) and layer.input_quantizer.strict
              for name in (layer.name, layer.input_quantizer.name)}
    refused = [(name, between) for name, between in compared_quantizes(flatbuffer)
               if not strict & set(name.replace(";", "/").split("/"))]
    if refused:
        listing = "\n".join(f"  {layer_of(name)}: DEPTHWISE_CONV_2D -> {' -> '.join(between)} -> LceQuantize"
                            for name, between in refused)
        raise ConversionError(
            f"{len(refused)} folded LAB layer(s) kept a comparison op before LceQuantize (a slow extra op; the "
            "fold must end in tf.where(z >= 0, 1., -1.), the sign LCE fuses):\n" + listing)


@contextlib.contextmanager
def _constant_binary_kernels(model: tf.keras.Model):
    """While active, every binary conv of ``model`` reads its kernel as a constant: its kernel quantizer applied
    once, here. Traced inside, the graph holds the quantized filter itself, which LCE packs into an ``LceBconv2d``.
    Otherwise the quantizer is left for the converter's constant folding, which skips large tensors, so
    XNOR-Net's 6x6x256x4096 layer would stay a float conv (a 288 MB file instead of 4.5 MB)."""
    kernels = [layer.kernel for layer in binary_conv_layers(model)]
    quantizers = [kernel.quantizer for kernel in kernels]
    try:
        for kernel, quantizer in zip(kernels, quantizers):
            value = tf.constant(quantizer(tf.convert_to_tensor(kernel.latent_variable)))
            kernel.quantizer = lambda _, value=value: value
        yield model
    finally:
        for kernel, quantizer in zip(kernels, quantizers):
            kernel.quantizer = quantizer


def _graphdef_flatbuffer(model: tf.keras.Model) -> bytes:
    """LCE's graph-def conversion path (the one ``convert_keras_model`` falls back to): trace the model at batch 1
    (binary kernels as constants), freeze its variables, convert. It skips the SavedModel export, which retraces
    every layer and takes 4-6x longer for the same graph."""
    from larq_compute_engine.mlir._tf_tfl_flatbuffer import convert_graphdef_to_tflite_flatbuffer
    from tensorflow.core.framework.types_pb2 import DataType
    from tensorflow.lite.python.util import get_tensor_name
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec((1, *t.shape[1:]), t.dtype) for t in model.inputs]
    func = tf.function(lambda *x: model(list(x) if len(x) > 1 else x[0], training=False))
    with _constant_binary_kernels(model):
        traced = func.get_concrete_function(*specs)
    frozen = convert_variables_to_constants_v2(traced, lower_control_flow=False)
    inputs = [t for t in frozen.inputs if t.dtype != tf.resource]
    return convert_graphdef_to_tflite_flatbuffer(
        frozen.graph.as_graph_def().SerializeToString(), [get_tensor_name(t) for t in inputs],
        [DataType.Name(t.dtype.as_datatype_enum) for t in inputs], [t.shape.as_list() for t in inputs],
        [get_tensor_name(t) for t in frozen.outputs], False, "arm", None)


def convert(model: tf.keras.Model, *, fold: bool = True, method: str = "graphdef") -> bytes:
    """Convert ``model`` with LCE, after folding every LAB into its deployment form unless ``fold=False``.

    ``method="graphdef"`` converts the frozen graph (fast); ``"saved_model"`` goes through
    ``larq_compute_engine.convert_keras_model`` (SavedModel export first, 4-6x slower). Both give the same ops.

    Raises `ConversionError` (with the op list) when the converted graph has fewer ``LceBconv2d`` ops than the
    model has binary convolutions: LCE kept some of them as float convolutions; and (naming the layers) when a
    comparison or select op sits between a folded LAB's depthwise conv and its ``LceQuantize``. An unfolded LAB
    (``fold=False``) or a ``FoldedLAB(strict=True)`` keeps its ``GREATER`` op on purpose.
    """
    validate.require(isinstance(fold, bool), "fold", "True or False", fold)
    validate.choice("method", method, METHODS)
    if fold and any(isinstance(module, LAB) for module in model.submodules):
        model = lab.fold(model)
    if method == "graphdef":
        flatbuffer = _graphdef_flatbuffer(model)
    else:
        import larq_compute_engine as lce

        flatbuffer = lce.convert_keras_model(model)
    expected = len(binary_conv_layers(model))
    ops = op_list(flatbuffer)
    found = int((ops["node_type"] == BINARY_CONV_OP).sum())
    if found != expected:
        listing = "\n".join(f"  {row.run_order:3d} {row.node_type:<20} {row.layer}" for row in ops.itertuples())
        raise ConversionError(
            f"LCE made {found} {BINARY_CONV_OP} op(s) for {expected} binary convolution(s): the rest became float "
            "ops. A binarizer must end in tf.where(cond, 1., -1.) (or larq.math.sign) directly before the "
            f"convolution. Converted ops:\n{listing}")
    _check_folded_labs(model, flatbuffer)
    return flatbuffer


def sizes(model: tf.keras.Model, flatbuffer: bytes) -> dict[str, float]:
    """Two model sizes in MiB: ``tflite_file_mb``, the converted file, and ``deployed_size_mb``, the weights of
    ``model`` with binary weights at 1 bit and everything else at 32 bit (`lab.models.summary`, as larq counts).

    They differ most for XNOR-Net, whose dense layers LCE keeps at 32 bit in the file. Pass the model that was
    converted (the folded one when LAB was folded).
    """
    from lab.models import summary

    return {"tflite_file_mb": len(flatbuffer) / 2**20, "deployed_size_mb": float(summary(model)["deployed_size_mb"])}
