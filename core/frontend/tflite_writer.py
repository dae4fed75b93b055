"""Write the graph IR as a .tflite flatbuffer (schema version 3).

Used to make the demo model and the single-operator test models; the files it
writes load in TFLite Micro. Options are written generically from
``Operator.options`` (the same snake_case keys the reader produces).
"""

from __future__ import annotations

import inspect
import flatbuffers
import numpy as np
import tflite

from ..ir import Graph, Operator, Tensor
from . import schema

SCHEMA_VERSION = 3


def write_tflite(graph: Graph) -> bytes:
    """Serialize ``graph`` to the bytes of a .tflite file."""
    b = flatbuffers.Builder(1024)

    # Buffer 0 is the empty sentinel; each constant tensor gets its own buffer.
    buffer_data: list[bytes | None] = [None]
    tensor_buffer: dict[int, int] = {}
    for t in graph.tensors:
        if t.is_const:
            tensor_buffer[t.index] = len(buffer_data)
            buffer_data.append(np.ascontiguousarray(t.data, dtype=np.dtype(t.dtype).newbyteorder("<")).tobytes())

    opcode_names = sorted({op.opcode for op in graph.operators}, key=lambda n: schema.BUILTIN_OPERATOR_CODES[n])
    opcode_index = {name: i for i, name in enumerate(opcode_names)}

    buffers = [_buffer(b, data) for data in buffer_data]
    tensors = [_tensor(b, t, tensor_buffer.get(t.index, 0)) for t in graph.tensors]
    operators = [_operator(b, op, opcode_index[op.opcode]) for op in graph.operators]
    opcodes = [_opcode(b, name) for name in opcode_names]

    name = b.CreateString(graph.name)
    tflite.SubGraphStartTensorsVector(b, len(tensors))
    tensors_vec = _end_offsets(b, tensors)
    inputs_vec = _int_vector(b, graph.inputs)
    outputs_vec = _int_vector(b, graph.outputs)
    tflite.SubGraphStartOperatorsVector(b, len(operators))
    operators_vec = _end_offsets(b, operators)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tensors_vec)
    tflite.SubGraphAddInputs(b, inputs_vec)
    tflite.SubGraphAddOutputs(b, outputs_vec)
    tflite.SubGraphAddOperators(b, operators_vec)
    tflite.SubGraphAddName(b, name)
    subgraph = tflite.SubGraphEnd(b)

    description = b.CreateString(graph.description or "utvm")
    tflite.ModelStartOperatorCodesVector(b, len(opcodes))
    opcodes_vec = _end_offsets(b, opcodes)
    tflite.ModelStartSubgraphsVector(b, 1)
    subgraphs_vec = _end_offsets(b, [subgraph])
    tflite.ModelStartBuffersVector(b, len(buffers))
    buffers_vec = _end_offsets(b, buffers)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, SCHEMA_VERSION)
    tflite.ModelAddOperatorCodes(b, opcodes_vec)
    tflite.ModelAddSubgraphs(b, subgraphs_vec)
    tflite.ModelAddDescription(b, description)
    tflite.ModelAddBuffers(b, buffers_vec)
    model = tflite.ModelEnd(b)
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def _end_offsets(b: flatbuffers.Builder, offsets: list[int]) -> int:
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _int_vector(b: flatbuffers.Builder, values: list[int]) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependInt32(int(v))
    return b.EndVector()


def _buffer(b: flatbuffers.Builder, data: bytes | None) -> int:
    if data is None:
        tflite.BufferStart(b)
        return tflite.BufferEnd(b)
    b.StartVector(1, len(data), 16)
    b.head = b.head - len(data)
    b.Bytes[b.head : b.head + len(data)] = data
    vec = b.EndVector()
    tflite.BufferStart(b)
    tflite.BufferAddData(b, vec)
    return tflite.BufferEnd(b)


def _float_vector(b: flatbuffers.Builder, values: np.ndarray) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _int64_vector(b: flatbuffers.Builder, values: np.ndarray) -> int:
    b.StartVector(8, len(values), 8)
    for v in reversed(values):
        b.PrependInt64(int(v))
    return b.EndVector()


def _tensor(b: flatbuffers.Builder, t: Tensor, buffer_index: int) -> int:
    name = b.CreateString(t.name)
    shape = _int_vector(b, list(t.shape))
    quant = None
    if t.quant is not None:
        scale = _float_vector(b, t.quant.scale)
        zp = _int64_vector(b, t.quant.zero_point)
        tflite.QuantizationParametersStart(b)
        tflite.QuantizationParametersAddScale(b, scale)
        tflite.QuantizationParametersAddZeroPoint(b, zp)
        tflite.QuantizationParametersAddQuantizedDimension(b, t.quant.axis)
        quant = tflite.QuantizationParametersEnd(b)
    tflite.TensorStart(b)
    tflite.TensorAddShape(b, shape)
    tflite.TensorAddType(b, schema.DTYPE_TO_TENSOR_TYPE[t.dtype])
    tflite.TensorAddBuffer(b, buffer_index)
    tflite.TensorAddName(b, name)
    if quant is not None:
        tflite.TensorAddQuantization(b, quant)
    return tflite.TensorEnd(b)


def _opcode(b: flatbuffers.Builder, name: str) -> int:
    code = schema.BUILTIN_OPERATOR_CODES[name]
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, tflite.BuiltinOperator.PLACEHOLDER_FOR_GREATER_OP_CODES))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    return tflite.OperatorCodeEnd(b)


def _options(b: flatbuffers.Builder, op: Operator) -> tuple[int, int]:
    """Write the operator's builtin options table; returns (type code, offset)."""
    type_name = op.options.get("__options_type__") or schema.OPTIONS_TYPE_OF_OPCODE.get(op.opcode)
    if type_name is None or not op.options:
        return 0, 0
    cls = getattr(tflite, type_name)
    accessors = {schema.camel_to_snake(a): a for a in schema.option_accessors(cls)}
    unknown = set(op.options) - set(accessors) - {"__options_type__"}
    if unknown:
        raise ValueError(f"{type_name} has no field(s) {sorted(unknown)}; fields are {sorted(accessors)}")
    module = type_name
    vectors: dict[str, int] = {}
    for key, value in op.options.items():
        if key == "__options_type__":
            continue
        accessor = accessors[key]
        if len(inspect.signature(getattr(cls, accessor)).parameters) == 2:  # vector field: Foo(self, j)
            values = list(value)
            getattr(tflite, f"{module}Start{accessor}Vector")(b, len(values))
            for v in reversed(values):
                b.PrependInt32(int(v))
            vectors[key] = b.EndVector()
    getattr(tflite, f"{module}Start")(b)
    for key, value in op.options.items():
        if key == "__options_type__":
            continue
        accessor = accessors[key]
        if key in vectors:
            value = vectors[key]
        elif key in schema.ENUM_FIELDS and isinstance(value, str):
            value = {v: k for k, v in schema.ENUM_FIELDS[key].items()}[value]
        getattr(tflite, f"{module}Add{accessor}")(b, value)
    return schema.BUILTIN_OPTIONS_CODES[type_name], getattr(tflite, f"{module}End")(b)


def _operator(b: flatbuffers.Builder, op: Operator, opcode_index: int) -> int:
    options_type, options = _options(b, op)
    inputs = _int_vector(b, op.inputs)
    outputs = _int_vector(b, op.outputs)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, opcode_index)
    tflite.OperatorAddInputs(b, inputs)
    tflite.OperatorAddOutputs(b, outputs)
    if options_type:
        tflite.OperatorAddBuiltinOptionsType(b, options_type)
        tflite.OperatorAddBuiltinOptions(b, options)
    return tflite.OperatorEnd(b)

