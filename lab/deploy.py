"""Deployment with Larq Compute Engine (LCE): checked conversion, model sizes, host latency and a host op profile.

LCE turns a binarizer into ``LceQuantize -> LceBconv2d`` only when the binarizer ends in ``tf.where(c, 1., -1.)``
(or ``larq.math.sign``) with nothing in between; otherwise it *silently* keeps a float ``CONV_2D``. `convert`
therefore reads the op list back from the flatbuffer and refuses a model whose binary convolutions did not all
become ``LceBconv2d``, or in which a comparison or select op (which LCE keeps, e.g. ``GREATER`` for ``x > 0``) sits
between a folded LAB's depthwise conv and its ``LceQuantize``.

Timings come from LCE's Python interpreter on this machine: they are *host* figures (LCE's x86 kernels are
portable C++, not the ARM kernels of a phone or a Jetson); every figure carries the host it was measured on.
The host op profile times each operator of the converted graph on its own (see `op_profile`); on-device op
profiles come from ``lce_benchmark_model`` logs (`lab.oplogs`).
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Mapping

import flatbuffers
import larq as lq
import numpy as np
import pandas as pd
import tensorflow as tf

import lab
from lab import paper, presets, provenance, validate
from lab.paper import table_a
from lab.quantizers import LAB, FoldedLAB

__all__ = [
    "BINARY_CONV_OP", "COMPARISON_OPS", "METHODS", "ConversionError", "binary_conv_layers", "layer_of", "op_list",
    "compared_quantizes", "convert", "sizes",
    "compare_latency", "latency", "host", "op_profile", "PROFILE_COLUMNS", "VARIANTS", "VARIANT_LABELS",
    "build_network", "build_variant", "measure_network", "with_paper", "lab_over_sign", "edge_latency",
]

BINARY_CONV_OP = "LceBconv2d"
# TFLite ops that compare or select: none may sit between a folded LAB's depthwise conv and its LceQuantize
COMPARISON_OPS = frozenset({"GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL", "NOT_EQUAL", "SELECT",
                            "SELECT_V2", "LOGICAL_NOT", "LOGICAL_AND", "LOGICAL_OR"})
METHODS = ("graphdef", "saved_model")  # LCE conversion paths, see `convert`
PROFILE_COLUMNS = ["run_order", "node_type", "avg_ms", "percent", "name", "layer"]
_TFLITE_IDENTIFIER = b"TFL3"


class ConversionError(RuntimeError):
    """LCE converted a model but did not turn every binary convolution into an ``LceBconv2d``, or left a comparison
    op before the ``LceQuantize`` of a folded LAB."""


def _schema():
    """LCE's generated TFLite flatbuffer schema (imported late: it is a large module)."""
    from larq_compute_engine.mlir.python import tflite_schema

    return tflite_schema


def _binarizes(quantizer) -> bool:
    return getattr(quantizer, "precision", None) == 1


def binary_conv_layers(model: tf.keras.Model) -> list[tf.keras.layers.Layer]:
    """The larq ``QuantConv2D`` layers of ``model`` (nested ones included) whose input *and* kernel quantizers
    binarize: the layers LCE must turn into ``LceBconv2d``."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, lq.layers.QuantConv2D)
            and _binarizes(layer.input_quantizer) and _binarizes(layer.kernel_quantizer)]


def _op_names(model) -> list[str]:
    """Operator-code index -> name (custom code for LCE ops, builtin name otherwise)."""
    schema = _schema()
    builtin = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    return [code.customCode.decode() if code.customCode
            else builtin[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in model.operatorCodes]


def _unpack(flatbuffer: bytes):
    schema = _schema()
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))


def layer_of(tensor_name: str) -> str:
    """The Keras layer(s) behind a TFLite tensor name, e.g. ``model/b1/QuantConv2D;model/bn1/FusedBatchNormV3``
    -> ``b1+bn1``. The converter truncates long names; fragments without a layer are dropped."""
    layers = []
    for part in tensor_name.split(";"):
        pieces = part.split("/")
        if len(pieces) >= 3 and pieces[1] not in layers:
            layers.append(pieces[1])
    return "+".join(layers) or tensor_name


def op_list(flatbuffer: bytes) -> pd.DataFrame:
    """The operators of the main graph in run order: ``run_order``, ``node_type``, ``name`` (output tensor),
    ``layer`` (the Keras layer(s) it came from) and ``output_shape``."""
    model = _unpack(flatbuffer)
    names = _op_names(model)
    graph = model.subgraphs[0]
    rows = []
    for index, op in enumerate(graph.operators):
        out = graph.tensors[op.outputs[0]]
        name = out.name.decode()
        rows.append({"run_order": index, "node_type": names[op.opcodeIndex], "name": name,
                     "layer": layer_of(name), "output_shape": tuple(int(d) for d in out.shape)})
    return pd.DataFrame(rows, columns=["run_order", "node_type", "name", "layer", "output_shape"])


def compared_quantizes(flatbuffer: bytes) -> list[tuple[str, list[str]]]:
    """Every ``LceQuantize`` that a depthwise conv feeds through comparison or select ops (`COMPARISON_OPS`): its
    output tensor name and those ops, nearest the depthwise conv first. An unfolded LAB gives ``GREATER``; a folded
    one nothing."""
    model = _unpack(flatbuffer)
    names = _op_names(model)
    graph = model.subgraphs[0]
    producer = {int(t): op for op in graph.operators for t in op.outputs}
    found = []
    for op in graph.operators:
        if names[op.opcodeIndex] != "LceQuantize":
            continue
        between, source = [], producer.get(int(op.inputs[0]))
        while source is not None and names[source.opcodeIndex] in COMPARISON_OPS:
            between.insert(0, names[source.opcodeIndex])
            variable = [int(t) for t in source.inputs if t >= 0 and int(t) in producer]
            source = producer[variable[0]] if variable else None
        if between and source is not None and names[source.opcodeIndex] == "DEPTHWISE_CONV_2D":
            found.append((graph.tensors[op.outputs[0]].name.decode(), between))
    return found


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
    if not isinstance(fold, bool):
        raise ValueError(f"fold must be True or False, got {fold!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
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


def host(*, threads: int, indirect_bgemm: bool, xnnpack: bool = False) -> dict[str, Any]:
    """The setting a host figure was measured with: CPU, core count, interpreter threads, LCE's bconv kernel and
    whether TFLite's XNNPACK delegate ran the float ops."""
    machine = provenance.device()
    return {"host_cpu": machine["cpu"], "host_cores": machine["cpu_count"], "threads": threads,
            "bconv_kernel": "indirect BGEMM" if indirect_bgemm else "LCE default", "xnnpack": xnnpack}


def _check_timing(threads, runs, warmup, min_seconds: float = 0.0) -> None:
    validate.integer("threads", threads, 1)
    validate.integer("runs", runs, 1)
    validate.integer("warmup", warmup, 0)
    validate.number("min_seconds", min_seconds, 0)


def _interpreter(flatbuffer: bytes, threads: int, indirect_bgemm: bool, xnnpack: bool = False):
    from larq_compute_engine.tflite.python.interpreter import Interpreter

    return Interpreter(flatbuffer, num_threads=threads, use_reference_bconv=False,
                       use_indirect_bgemm=indirect_bgemm, use_xnnpack=xnnpack)


def _random_inputs(interpreter, seed: int = 0) -> list[np.ndarray]:
    """One random input per model input, in the interpreter's shapes and types (bitpacked tensors are int32)."""
    rng = np.random.default_rng(seed)
    inputs = []
    for shape, dtype in zip(interpreter.input_shapes, interpreter.input_types):
        dtype = np.dtype(dtype)
        if dtype == np.bool_:
            inputs.append(rng.random(shape) > 0.5)
        elif np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            inputs.append(rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True))
        else:
            inputs.append(rng.standard_normal(shape).astype(dtype))
    return inputs


def _times_ms(interpreter, inputs, runs: int, warmup: int) -> np.ndarray:
    """Wall time of ``runs`` single-example inferences (after ``warmup`` untimed ones), in ms."""
    for _ in range(warmup):
        interpreter.predict(inputs)
    times = np.empty(runs)
    for i in range(runs):
        start = time.perf_counter()
        interpreter.predict(inputs)
        times[i] = time.perf_counter() - start
    return times * 1e3


def compare_latency(flatbuffers: Mapping[str, bytes], *, threads: int = 1, runs: int = 20, warmup: int = 3,
                    indirect_bgemm: bool = True, min_seconds: float = 0.0,
                    xnnpack: bool = False) -> dict[str, dict[str, Any]]:
    """`latency` of several models measured side by side: their timed runs interleave (one run of each in
    turn), so a change in machine load between them affects all alike. Keys as in ``flatbuffers``."""
    _check_timing(threads, runs, warmup, min_seconds)
    interpreters = {key: _interpreter(fb, threads, indirect_bgemm, xnnpack) for key, fb in flatbuffers.items()}
    inputs = {key: _random_inputs(it) for key, it in interpreters.items()}
    for key, interpreter in interpreters.items():
        _times_ms(interpreter, inputs[key], warmup, 0)
    if min_seconds:  # one timed round tells how many rounds fill min_seconds
        round_ms = sum(_times_ms(it, inputs[key], 1, 0)[0] for key, it in interpreters.items())
        runs = max(runs, math.ceil(min_seconds * 1e3 / round_ms))
    times = {key: np.empty(runs) for key in interpreters}
    for i in range(runs):
        for key, interpreter in interpreters.items():
            times[key][i] = _times_ms(interpreter, inputs[key], 1, 0)[0]
    setting = host(threads=threads, indirect_bgemm=indirect_bgemm, xnnpack=xnnpack)
    return {key: {**_spread(t), "runs": runs, "warmup": warmup, **setting} for key, t in times.items()}


def _spread(times: np.ndarray) -> dict[str, float]:
    q1, q3 = np.percentile(times, [25, 75])
    return {"median_ms": float(np.median(times)), "mean_ms": float(times.mean()), "std_ms": float(times.std()),
            "iqr_ms": float(q3 - q1), "min_ms": float(times.min()), "max_ms": float(times.max())}


def latency(flatbuffer: bytes, *, threads: int = 1, runs: int = 20, warmup: int = 3,
            indirect_bgemm: bool = True, min_seconds: float = 0.0) -> dict[str, Any]:
    """Host latency of one inference (batch 1) through LCE's interpreter.

    Returns the median, mean, standard deviation, interquartile range, min and max over ``runs`` timed runs
    (in ms; more when ``runs`` take less than ``min_seconds`` in all), the run counts and the host setting
    (`host`). ``indirect_bgemm=True`` selects LCE's indirect BGEMM
    bconv kernel, 5-6x faster than the default one on x86: the representative host setting.
    """
    return compare_latency({"model": flatbuffer}, threads=threads, runs=runs, warmup=warmup,
                           indirect_bgemm=indirect_bgemm, min_seconds=min_seconds)["model"]


def _single_op_flatbuffer(model, index: int) -> bytes:
    """A flatbuffer holding only operator ``index`` of ``model`` (an unpacked ``ModelT``): its constant inputs
    keep their buffers, its other inputs become graph inputs, its outputs graph outputs."""
    schema = _schema()
    graph = model.subgraphs[0]
    op = copy.copy(graph.operators[index])
    used = [int(t) for t in (*op.inputs, *op.outputs) if t >= 0]
    keep = list(dict.fromkeys(used))
    remap = {old: new for new, old in enumerate(keep)}
    buffers, tensors, inputs = [schema.BufferT()], [], []  # buffer 0 is the empty sentinel
    for old in keep:
        tensor = copy.copy(graph.tensors[old])
        data = model.buffers[tensor.buffer].data if tensor.buffer else None
        if data is not None and len(data):
            buffers.append(model.buffers[tensor.buffer])
            tensor.buffer = len(buffers) - 1
        else:
            tensor.buffer = 0
            if old not in op.outputs:
                inputs.append(remap[old])
        tensors.append(tensor)
    op.inputs = [remap[int(t)] if t >= 0 else -1 for t in op.inputs]
    op.outputs = [remap[int(t)] for t in op.outputs]
    sub = schema.SubGraphT()
    sub.tensors, sub.operators, sub.inputs, sub.outputs = tensors, [op], inputs, list(op.outputs)
    single = schema.ModelT()
    single.version, single.description = model.version, model.description
    single.operatorCodes, single.subgraphs, single.buffers = model.operatorCodes, [sub], buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(single.Pack(builder), file_identifier=_TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def op_profile(flatbuffer: bytes, *, threads: int = 1, runs: int = 10, warmup: int = 2,
               indirect_bgemm: bool = True, progress: bool = False) -> pd.DataFrame:
    """Host op profile: each operator of the converted graph cut out into a one-op flatbuffer (same tensor shapes,
    same constants, same fused options) and timed on its own through LCE's interpreter.

    LCE's Python interpreter has no per-op timer, so this stands in for on-device op profiling, with the same
    columns as `lab.oplogs.read_log`: ``run_order``, ``node_type``, ``avg_ms`` (median of ``runs``), ``percent``
    (of the summed op times), ``name`` (output tensor) and ``layer``. The sum includes one interpreter call
    overhead per op, so it is a little above the whole-model `latency`.
    """
    _check_timing(threads, runs, warmup)
    ops = op_list(flatbuffer)
    model = _unpack(flatbuffer)
    avg = []
    for index in range(len(ops)):
        interpreter = _interpreter(_single_op_flatbuffer(model, index), threads, indirect_bgemm)
        avg.append(float(np.median(_times_ms(interpreter, _random_inputs(interpreter, seed=index), runs, warmup))))
        if progress:
            print(f"\rop profile: {index + 1}/{len(ops)} ops", end="", flush=True)
    if progress:
        print()
    profile = ops.assign(avg_ms=avg)
    profile["percent"] = 100.0 * profile["avg_ms"] / profile["avg_ms"].sum()
    return profile[PROFILE_COLUMNS]



# Deployment variants of a network: (binarizer, fold LAB before converting).
VARIANTS = {"sign": ("sign", False), "lab": ("lab", False), "lab_folded": ("lab", True)}
VARIANT_LABELS = {"sign": "sign", "lab": "LAB (unfolded)", "lab_folded": "LAB (folded)"}
def build_network(network: str, *, binarizer: str = "sign", lab_blocks=None, fold: bool = True,
                  input_shape=(224, 224, 3), width: float = 1.0, num_classes: int = 1000) -> tf.keras.Model:
    """``network`` (`lab.models.build`) with ``binarizer`` in the stages of ``lab_blocks``, LAB folded by `lab.fold`
    unless ``fold=False``. Weights are freshly initialised: size and latency do not depend on their values."""
    from lab import models

    model = models.build(network, binarizer=binarizer, lab_blocks=lab_blocks if binarizer != "sign" else None,
                         input_shape=tuple(input_shape), num_classes=num_classes, width=width)
    return lab.fold(model) if fold and binarizer == "lab" else model


def build_variant(network: str, *, variant: str, lab_blocks=None, input_shape=(224, 224, 3), width: float = 1.0,
                  num_classes: int = 1000) -> tf.keras.Model:
    """``network`` as deployment variant ``variant``: "sign", "lab" or "lab_folded" (`build_network`)."""
    validate.choice("variant", variant, VARIANTS)
    binarizer, fold = VARIANTS[variant]
    return build_network(network, binarizer=binarizer, lab_blocks=lab_blocks, fold=fold, input_shape=input_shape,
                         width=width, num_classes=num_classes)


def convert_variant(network: str, *, variant: str, lab_blocks=None, input_shape=(224, 224, 3), width: float = 1.0,
                    num_classes: int = 1000) -> tuple[bytes, dict[str, Any]]:
    """`build_variant` converted with LCE: its flatbuffer and its table row (network, variant label, `sizes`)."""
    model = build_variant(network, variant=variant, lab_blocks=lab_blocks, input_shape=input_shape, width=width,
                          num_classes=num_classes)
    flatbuffer = convert(model, fold=False)
    return flatbuffer, {"network": network, "variant": VARIANT_LABELS[variant], **sizes(model, flatbuffer)}


def time_variants(converted: Mapping[str, tuple[bytes, dict]], *, threads: int = 1, runs: int = 20, warmup: int = 3,
                  indirect_bgemm: bool = True, xnnpack: bool = False) -> pd.DataFrame:
    """The rows of `convert_variant` results (by variant) with their latencies measured side by side
    (`compare_latency`) and the host setting."""
    timings = compare_latency({v: fb for v, (fb, _) in converted.items()}, threads=threads, runs=runs,
                              warmup=warmup, indirect_bgemm=indirect_bgemm, xnnpack=xnnpack)
    return pd.DataFrame([{**row, **timings[v]} for v, (_, row) in converted.items()])


def measure_network(network: str, *, variants=tuple(VARIANTS), lab_blocks=None, input_shape=(224, 224, 3),
                    width: float = 1.0, num_classes: int = 1000, threads: int = 1, runs: int = 20, warmup: int = 3,
                    indirect_bgemm: bool = True) -> tuple[dict[str, bytes], pd.DataFrame]:
    """Convert each variant of ``network`` (`convert_variant`) and measure them side by side (`time_variants`).

    Returns the flatbuffers by variant and one row per variant: network, variant (its label), ``tflite_file_mb``,
    ``deployed_size_mb`` (`sizes`), the latency figures and the host setting.
    """
    variants = validate.choices("variants", variants, VARIANTS)
    _check_timing(threads, runs, warmup)
    converted = {v: convert_variant(network, variant=v, lab_blocks=lab_blocks, input_shape=input_shape, width=width,
                                    num_classes=num_classes) for v in variants}
    table = time_variants(converted, threads=threads, runs=runs, warmup=warmup, indirect_bgemm=indirect_bgemm)
    return {v: fb for v, (fb, _) in converted.items()}, table


def with_paper(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (rows of `measure_network`) with the paper's model size and Jetson Xavier NX latency beside each
    sign / LAB row of the four paper networks (empty elsewhere)."""
    paper = table_a()[["model", "binarizer", "size_mb", "latency_ms"]].rename(columns={
        "model": "network", "size_mb": "size_mb_paper", "latency_ms": "latency_ms_jetson_xavier_nx_paper"})
    binarizer = table["variant"].map({label: VARIANTS[v][0] for v, label in VARIANT_LABELS.items()})
    return table.assign(binarizer=binarizer).merge(paper, on=["network", "binarizer"], how="left").drop(
        columns="binarizer")


def lab_over_sign(table: pd.DataFrame, column: str = "median_ms") -> pd.DataFrame:
    """Per network, ``column`` of each LAB variant divided by that of sign (and the paper's ratio, when known)."""
    wide = table.pivot(index="network", columns="variant", values=column)
    ratios = pd.DataFrame({f"{label} / sign": wide[label] / wide["sign"]
                           for v, label in VARIANT_LABELS.items() if v != "sign" and label in wide})
    paper = table_a().pivot(index="model", columns="binarizer", values="latency_ms")
    ratios["paper LAB / sign (Jetson Xavier NX, paper)"] = (paper["lab"] / paper["sign"]).reindex(ratios.index)
    return ratios.reset_index()


def _convert_all(p: Mapping[str, Any], lab_blocks) -> dict[tuple[str, str], tuple[bytes, dict]]:
    """Every (network, variant) of the study converted at ``p``'s input size and width (1000 classes): its
    flatbuffer and table row. Graphs come from `lab.deployment`'s cache, shared with Tables A and B (a graph still
    fresh there is not converted again); the others are converted in ``p["jobs"]`` processes, with progress."""
    from lab import deployment

    where = deployment.Shape((p["input_size"], p["input_size"], 3), float(p["width"]), 1000)
    graphs = {(n, v): deployment.Graph(n, VARIANTS[v][0], lab_blocks if VARIANTS[v][0] == "lab" else None,
                                       fold=VARIANTS[v][1])
              for n in p["networks"] for v in p["variants"]}
    sizes = deployment.convert_all(list(graphs.values()), where, jobs=p["jobs"])
    return {(n, v): (deployment.graph_path(g, where).read_bytes(),
                     {"network": n, "variant": VARIANT_LABELS[v], **sizes[g]}) for (n, v), g in graphs.items()}


def _resolve(preset: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's ``edge`` settings (`lab.presets.Edge`, its ``jobs``) updated by the non-None ``overrides``, checked before any work starts."""
    settings = presets.load(preset)
    p = {**dataclasses.asdict(settings.edge), "jobs": settings.jobs,
         **{k: v for k, v in overrides.items() if v is not None}}
    p["networks"] = validate.choices("networks", p["networks"], paper.MODELS)
    p["variants"] = validate.choices("variants", p.get("variants", list(VARIANTS)), VARIANTS)
    validate.integer("input_size", p["input_size"], presets.MIN_INPUT_SIDE)
    validate.number("width", p["width"], 0, 4, strict=True)
    _check_timing(p["threads"], p["runs"], p["warmup"])
    validate.integer("profile_runs", p["profile_runs"], 1)
    validate.integer("jobs", p["jobs"], 1)
    if p.get("device_logs") is not None:
        p["device_logs"] = provenance.REPO_ROOT / p["device_logs"]  # relative paths: from the repository root
    if p.get("device_logs") is not None and not p["device_logs"].is_dir():
        raise ValueError(f"device_logs must be a folder of lce_benchmark_model logs, got {p['device_logs']!r}")
    return p


def edge_latency(*, preset: str, networks=None, variants=None, lab_blocks=None, input_size=None, width=None,
                 threads: int = 1, runs=None, profile_runs=None, indirect_bgemm: bool = True, device_logs=None,
                 jobs=None, out: str | Path | None = None) -> dict[str, Any]:
    """The edge-latency study: every network x variant converted, sized, timed on the host and op-profiled.

    None arguments take the preset's value (``edge:``, `lab.presets.Edge`; ``jobs``: the preset's ``jobs:``). The
    graphs come first: from `lab.deployment`'s cache shared with the tables (sign and folded LAB at 224x224x3 are
    usually there already) or built and converted in ``jobs`` processes (`_convert_all`); then each network's
    variants are timed one network at a time, with nothing else running. Writes under ``out`` (default
    ``<results>/<preset>/edge_latency/``) the ``.tflite`` graphs, ``benchmark.sh`` to profile them on a device
    (`lab.oplogs.benchmark_script`), and the tables ``deployment`` (sizes and host latency, paper beside),
    ``lab_over_sign`` and ``host_op_profile`` (plus ``device_op_profile`` read from ``device_logs``).
    Returns those tables and the parameters used.
    """
    from lab import oplogs

    p = _resolve(preset, dict(networks=networks, variants=variants, input_size=input_size, width=width,
                              threads=threads, runs=runs, profile_runs=profile_runs, device_logs=device_logs,
                              jobs=jobs))
    p.update(preset=preset, lab_blocks=lab_blocks, indirect_bgemm=indirect_bgemm)
    out = Path(out) if out is not None else provenance.results_root() / preset / "edge_latency"
    out.mkdir(parents=True, exist_ok=True)
    converted = _convert_all(p, lab_blocks)
    tables, profiles, graphs = [], [], []
    for i, network in enumerate(p["networks"], 1):
        print(f"[{i}/{len(p['networks'])}] {network}: timing {', '.join(p['variants'])}", flush=True)
        mine = {v: converted[network, v] for v in p["variants"]}
        tables.append(time_variants(mine, threads=threads, runs=p["runs"], warmup=p["warmup"],
                                    indirect_bgemm=indirect_bgemm))
        for variant, (flatbuffer, _) in mine.items():
            graphs.append(f"{network}_{variant}.tflite")
            (out / graphs[-1]).write_bytes(flatbuffer)
            profile = op_profile(flatbuffer, threads=threads, runs=p["profile_runs"], indirect_bgemm=indirect_bgemm)
            profiles.append(profile.assign(model=f"{network} {VARIANT_LABELS[variant]}"))
    (out / "benchmark.sh").write_text(oplogs.benchmark_script(graphs, threads=[threads]))
    result = {"deployment": with_paper(pd.concat(tables, ignore_index=True)),
              "host_op_profile": pd.concat(profiles, ignore_index=True)}
    result["lab_over_sign"] = (lab_over_sign(result["deployment"]) if "sign" in p["variants"] and len(p["variants"]) > 1
                               else pd.DataFrame())
    if p.get("device_logs") is not None:
        result["device_op_profile"] = oplogs.read_logs(p["device_logs"])
    for name, table in result.items():
        if not table.empty:
            provenance.write_table(table, out / name, p)
    return {**result, "params": p, "out": out}
