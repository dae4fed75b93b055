"""What the reader and the writer share about the TFLite flatbuffer schema.

Names come from the ``tflite`` package's generated enums, so nothing here
restates numeric codes by hand.
"""

from __future__ import annotations

import re

import tflite


def _enum_names(enum_cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum_cls).items() if not k.startswith("_") and isinstance(v, int)}


BUILTIN_OPERATOR_NAMES = _enum_names(tflite.BuiltinOperator)
BUILTIN_OPERATOR_CODES = {v: k for k, v in BUILTIN_OPERATOR_NAMES.items()}
BUILTIN_OPTIONS_NAMES = _enum_names(tflite.BuiltinOptions)
BUILTIN_OPTIONS_CODES = {v: k for k, v in BUILTIN_OPTIONS_NAMES.items()}

TENSOR_TYPE_TO_DTYPE = {
    tflite.TensorType.FLOAT32: "float32",
    tflite.TensorType.INT8: "int8",
    tflite.TensorType.UINT8: "uint8",
    tflite.TensorType.INT16: "int16",
    tflite.TensorType.INT32: "int32",
    tflite.TensorType.INT64: "int64",
    tflite.TensorType.BOOL: "bool",
}
DTYPE_TO_TENSOR_TYPE = {v: k for k, v in TENSOR_TYPE_TO_DTYPE.items()}

#: Option fields whose integer value is an enum, with the enum's names.
ENUM_FIELDS = {
    "padding": _enum_names(tflite.Padding),
    "fused_activation_function": _enum_names(tflite.ActivationFunctionType),
    "weights_format": _enum_names(tflite.FullyConnectedOptionsWeightsFormat),
}

#: The builtin options table each opcode the writer can emit carries.
OPTIONS_TYPE_OF_OPCODE = {
    "CONV_2D": "Conv2DOptions",
    "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions",
    "AVERAGE_POOL_2D": "Pool2DOptions",
    "MAX_POOL_2D": "Pool2DOptions",
    "ADD": "AddOptions",
    "SUB": "SubOptions",
    "MUL": "MulOptions",
    "RESHAPE": "ReshapeOptions",
    "SQUEEZE": "SqueezeOptions",
    "SOFTMAX": "SoftmaxOptions",
    "PAD": "PadOptions",
    "MEAN": "ReducerOptions",
    "CONCATENATION": "ConcatenationOptions",
    "TRANSPOSE": "TransposeOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "STRIDED_SLICE": "StridedSliceOptions",
    "QUANTIZE": "QuantizeOptions",
    "DEQUANTIZE": "DequantizeOptions",
}


def camel_to_snake(name: str) -> str:
    """``DilationHFactor`` -> ``dilation_h_factor``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def option_accessors(options_cls: type) -> list[str]:
    """The scalar and vector field accessors of a generated options class."""
    skip_suffixes = ("AsNumpy", "IsNone", "Length", "BufferHasIdentifier")
    names = []
    for name in dir(options_cls):
        if name.startswith("_") or name in ("Init", "GetRootAs") or name.startswith("GetRootAs"):
            continue
        if name.endswith(skip_suffixes):
            continue
        names.append(name)
    return names
