"""Reading converted graphs: a TFLite flatbuffer's operators, the Keras layers behind them, one operator cut out.

Shared by the conversion checks (`lab.deploy`), the host timing (`lab.timing`) and the device logs (`lab.oplogs`):
the op names they look for, the columns of an op profile, the flatbuffer schema. No TensorFlow: LCE's generated
schema module and the ``flatbuffers`` package are all it reads with.
"""
from __future__ import annotations

import copy

import flatbuffers
import pandas as pd

__all__ = ["BINARY_CONV_OP", "COMPARISON_OPS", "PROFILE_COLUMNS", "layer_of", "op_list", "compared_quantizes",
           "unpack", "single_op_flatbuffer"]

BINARY_CONV_OP = "LceBconv2d"
# TFLite ops that compare or select: none may sit between a folded LAB's depthwise conv and its LceQuantize
COMPARISON_OPS = frozenset({"GREATER", "GREATER_EQUAL", "LESS", "LESS_EQUAL", "EQUAL", "NOT_EQUAL", "SELECT",
                            "SELECT_V2", "LOGICAL_NOT", "LOGICAL_AND", "LOGICAL_OR"})
# The columns of an op profile, host (`lab.timing.op_profile`) or device (`lab.oplogs.read_log`).
PROFILE_COLUMNS = ["run_order", "node_type", "avg_ms", "percent", "name", "layer"]
_TFLITE_IDENTIFIER = b"TFL3"


def _schema():
    """LCE's generated TFLite flatbuffer schema (imported late: it is a large module)."""
    from larq_compute_engine.mlir.python import tflite_schema

    return tflite_schema


def _op_names(model) -> list[str]:
    """Operator-code index -> name (custom code for LCE ops, builtin name otherwise)."""
    schema = _schema()
    builtin = {value: key for key, value in vars(schema.BuiltinOperator).items() if not key.startswith("_")}
    return [code.customCode.decode() if code.customCode
            else builtin[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in model.operatorCodes]


def unpack(flatbuffer: bytes):
    """The flatbuffer as LCE's schema object tree (a ``ModelT``)."""
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
    model = unpack(flatbuffer)
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
    model = unpack(flatbuffer)
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


def single_op_flatbuffer(model, index: int) -> bytes:
    """A flatbuffer holding only operator ``index`` of ``model`` (an unpacked ``ModelT``, `unpack`): its constant
    inputs keep their buffers, its other inputs become graph inputs, its outputs graph outputs."""
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
