"""Read a .tflite flatbuffer into the graph IR.

Every structural problem (a truncated file, an index out of range, a buffer
whose size disagrees with its tensor's shape) raises ModelError with a message
that says what is wrong; no other exception escapes :func:`read_tflite`.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import tflite

from ..errors import ModelError
from ..ir import Graph, Operator, Quant, Tensor
from . import schema

#: Ranks and sizes beyond these are not microcontroller models; refusing them
#: early keeps a corrupted shape from turning into a huge allocation.
MAX_RANK = 8
MAX_TENSOR_ELEMENTS = 1 << 28


def read_tflite(data: bytes, name: str = "model") -> Graph:
    """Parse ``data`` (the bytes of a .tflite file) into a :class:`Graph`.

    Only the first subgraph is read; models with more are refused.
    """
    if len(data) < 8:
        raise ModelError(f"not a TFLite model: {len(data)} bytes is too short for a flatbuffer")
    if data[4:8] != b"TFL3":
        raise ModelError("not a TFLite model: the file identifier at bytes 4..8 is not 'TFL3'")
    try:
        return _read(bytes(data), name)
    except ModelError:
        raise
    except RecursionError as exc:
        raise ModelError(f"malformed TFLite model: {exc}") from None
    except Exception as exc:  # the flatbuffer accessors fail in many ways on corrupt input
        raise ModelError(f"malformed TFLite model: {type(exc).__name__}: {exc}") from None


def _read(buf: bytes, name: str) -> Graph:
    model = tflite.Model.GetRootAs(buf, 0)
    n_subgraphs = model.SubgraphsLength()
    if n_subgraphs < 1:
        raise ModelError("malformed TFLite model: it has no subgraph")
    if n_subgraphs > 1:
        raise ModelError(
            f"unsupported model: it has {n_subgraphs} subgraphs (control flow); only single-subgraph models compile"
        )
    sg = model.Subgraphs(0)
    buffers = [model.Buffers(i) for i in range(model.BuffersLength())]
    opcodes = [_opcode_name(model.OperatorCodes(i), i) for i in range(model.OperatorCodesLength())]

    tensors = [_read_tensor(sg.Tensors(i), i, buffers, buf) for i in range(sg.TensorsLength())]
    n = len(tensors)

    def check_index(i: int, where: str) -> int:
        i = int(i)
        if i < -1 or i >= n:
            raise ModelError(f"malformed TFLite model: {where} refers to tensor {i}, but there are {n} tensors")
        return i

    operators = []
    for k in range(sg.OperatorsLength()):
        op = sg.Operators(k)
        idx = op.OpcodeIndex()
        if idx >= len(opcodes):
            raise ModelError(
                f"malformed TFLite model: operator {k} uses opcode index {idx}, but there are {len(opcodes)}"
            )
        ins = [check_index(i, f"operator {k} input") for i in _int_vector(op.InputsAsNumpy())]
        outs = [check_index(i, f"operator {k} output") for i in _int_vector(op.OutputsAsNumpy())]
        if any(o < 0 for o in outs):
            raise ModelError(f"malformed TFLite model: operator {k} has an absent output")
        operators.append(Operator(k, opcodes[idx], ins, outs, _read_options(op)))

    inputs = [check_index(i, "subgraph input") for i in _int_vector(sg.InputsAsNumpy())]
    outputs = [check_index(i, "subgraph output") for i in _int_vector(sg.OutputsAsNumpy())]
    if not inputs or not outputs or min(inputs + outputs) < 0:
        raise ModelError("malformed TFLite model: the subgraph must have inputs and outputs")
    description = model.Description()
    graph = Graph(
        name=name,
        tensors=tensors,
        operators=operators,
        inputs=inputs,
        outputs=outputs,
        description=description.decode("utf-8", "replace") if description else "",
    )
    _check_dataflow(graph)
    return graph


def _int_vector(v: Any) -> list[int]:
    # The generated accessors return 0 for an absent vector.
    if isinstance(v, int):
        return []
    return [int(x) for x in v]


def _opcode_name(code: Any, i: int) -> str:
    # Old files fill only the deprecated int8 field; new ones may leave it at
    # PLACEHOLDER_FOR_GREATER_OP_CODES (127). The larger of the two is the op.
    builtin = max(int(code.DeprecatedBuiltinCode()), int(code.BuiltinCode()))
    if builtin == tflite.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        return "CUSTOM:" + (custom.decode("utf-8", "replace") if custom else "?")
    name = schema.BUILTIN_OPERATOR_NAMES.get(builtin)
    if name is None:
        raise ModelError(f"malformed TFLite model: operator code {i} has unknown builtin code {builtin}")
    return name


def _read_tensor(t: Any, i: int, buffers: list, buf: bytes) -> Tensor:
    raw_name = t.Name()
    name = raw_name.decode("utf-8", "replace") if raw_name else f"tensor_{i}"
    ttype = t.Type()
    dtype = schema.TENSOR_TYPE_TO_DTYPE.get(ttype)
    if dtype is None:
        type_name = {v: k for k, v in vars(tflite.TensorType).items() if isinstance(v, int)}.get(ttype, ttype)
        raise ModelError(f"unsupported tensor type {type_name} for tensor {i} '{name}'")
    shape = tuple(_int_vector(t.ShapeAsNumpy()))
    if len(shape) > MAX_RANK or any(d < 0 for d in shape):
        raise ModelError(f"malformed TFLite model: tensor {i} '{name}' has shape {list(shape)}")
    size = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if size > MAX_TENSOR_ELEMENTS:
        raise ModelError(f"tensor {i} '{name}' has {size} elements, more than any microcontroller model holds")

    data = None
    b = t.Buffer()
    if b >= len(buffers):
        raise ModelError(f"malformed TFLite model: tensor {i} '{name}' uses buffer {b}, but there are {len(buffers)}")
    if b > 0:
        raw = _buffer_bytes(buffers[b], buf)
        # An empty data vector is "no data", except for a tensor of zero elements
        # (an empty axis list, say), which is then an empty constant.
        if raw is not None and (len(raw) > 0 or size == 0):
            itemsize = np.dtype(dtype).itemsize
            if len(raw) != size * itemsize:
                raise ModelError(
                    f"malformed TFLite model: tensor {i} '{name}' of shape {list(shape)} {dtype} needs "
                    f"{size * itemsize} bytes, but its buffer {b} has {len(raw)}"
                )
            data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    return Tensor(i, name, shape, dtype, _read_quant(t.Quantization(), len(shape)), data)


def _buffer_bytes(b: Any, buf: bytes) -> bytes | None:
    offset, size = int(b.Offset()), int(b.Size())
    if offset > 1:  # data stored after the flatbuffer (models over 2 GB)
        if offset + size > len(buf):
            raise ModelError("malformed TFLite model: a buffer lies past the end of the file")
        return buf[offset : offset + size]
    data = b.DataAsNumpy()
    if isinstance(data, int):
        return None
    return data.tobytes()


def _read_quant(q: Any, rank: int) -> Quant | None:
    if q is None:
        return None
    scale = q.ScaleAsNumpy()
    zp = q.ZeroPointAsNumpy()
    if isinstance(scale, int) or scale.size == 0:
        return None
    scale = np.asarray(scale, dtype=np.float32).copy()
    zp = np.zeros(scale.size, dtype=np.int64) if isinstance(zp, int) or zp.size == 0 else zp.astype(np.int64)
    if zp.size == 1 and scale.size > 1:
        zp = np.repeat(zp, scale.size)
    if zp.size != scale.size:
        raise ModelError(f"malformed TFLite model: {scale.size} scales but {zp.size} zero points")
    axis = int(q.QuantizedDimension())
    # Some converters write quantized_dimension=3 on 1-D bias tensors; the only
    # axis a per-channel 1-D tensor can have is 0, which is what TFLM uses.
    if rank <= 1 or axis >= rank:
        axis = 0
    return Quant(scale=scale, zero_point=zp, axis=axis)


def _read_options(op: Any) -> dict[str, Any]:
    type_code = op.BuiltinOptionsType()
    if type_code == 0:
        return {}
    type_name = schema.BUILTIN_OPTIONS_NAMES.get(type_code)
    if type_name is None:
        raise ModelError(f"malformed TFLite model: unknown builtin options type {type_code}")
    table = op.BuiltinOptions()
    if table is None:
        return {}
    cls = getattr(tflite, type_name)
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    result: dict[str, Any] = {}
    for accessor in schema.option_accessors(cls):
        method = getattr(opts, accessor)
        key = schema.camel_to_snake(accessor)
        if len(inspect.signature(method).parameters) == 1:  # vector field: Foo(j)
            result[key] = _int_vector(getattr(opts, accessor + "AsNumpy")())
            continue
        value = method()
        if key in schema.ENUM_FIELDS:
            value = schema.ENUM_FIELDS[key].get(value, value)
        result[key] = value
    return result


def _check_dataflow(graph: Graph) -> None:
    """Every operator input must be a constant, a graph input, or produced earlier."""
    available = set(graph.inputs) | {t.index for t in graph.tensors if t.is_const}
    for op in graph.operators:
        for i in op.inputs:
            if i >= 0 and i not in available:
                raise ModelError(
                    f"malformed TFLite model: {graph.describe_op(op)} reads tensor {i}, "
                    "which no earlier operator produces"
                )
        available.update(op.outputs)
    for o in graph.outputs:
        if o not in available:
            raise ModelError(f"malformed TFLite model: output tensor {o} is never produced")
