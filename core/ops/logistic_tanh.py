"""LOGISTIC and TANH on int8 tensors (gemmlowp fixed point, as TFLite Micro).

TFLite Micro's int8 path is not a lookup table: Prepare computes, in double,
``q, input_left_shift = frexp(double(input_scale) * 2**27)`` and
``input_multiplier = round(q * 2**31)`` (no renormalisation, unlike
QuantizeMultiplier) and ``input_range_radius = floor(15 * 2**27 / 2**input_left_shift)``
(CalculateInputRadius(4, shift, 31)); Eval saturates outside the radius and
otherwise evaluates gemmlowp's logistic / tanh on a Q4.27 value.

The output quantization is fixed by the arithmetic: LOGISTIC requires output
zero point -128 (TFLM's only check) and writes sigmoid in units of 1/256;
TANH checks nothing and writes tanh in units of 1/128 with zero point 0. The
output tensor's scale is ignored by TFLM, and so here.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Operator
from .base import InPlace, KernelCall, lowering, unsupported

_INPUT_INTEGER_BITS = 4


def logistic_tanh_params(input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, input_range_radius) as TFLM's Prepare, or ValueError."""
    real = float(np.float32(input_scale)) * float(1 << (31 - _INPUT_INTEGER_BITS))
    q, shift = math.frexp(real)
    multiplier = int(math.floor(q * (1 << 31) + 0.5))  # TfLiteRound of a positive value
    if multiplier >= 1 << 31:
        raise ValueError("the input multiplier does not fit in int32")
    if shift < 0 or shift > 62:
        raise ValueError(f"input left shift {shift} is out of the range TFLM computes with")
    radius = (((1 << _INPUT_INTEGER_BITS) - 1) << (31 - _INPUT_INTEGER_BITS)) >> shift
    # With shift >= 31 the radius is 0 and the multiplier is never used.
    return multiplier, min(shift, 31), radius


@lowering("LOGISTIC", "TANH")
def lower_logistic_tanh(op: Operator, graph: Graph) -> KernelCall:
    if len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] < 0 or op.outputs[0] < 0:
        raise unsupported(op, graph, f"{op.opcode} needs exactly one input and one output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.dtype != "int8" or y.dtype != "int8":
        raise unsupported(op, graph, f"{op.opcode} supports int8 input and output only (got {x.dtype} -> {y.dtype})")
    if x.quant is None or x.quant.per_channel:
        raise unsupported(op, graph, f"{op.opcode} input tensor '{x.name}' must be quantized per tensor")
    if not x.quant.scalar_scale > 0.0:
        raise unsupported(op, graph, f"{op.opcode} input tensor '{x.name}' has scale {x.quant.scalar_scale}")
    if op.opcode == "LOGISTIC":
        if y.quant is None or y.quant.per_channel or y.quant.scalar_zero_point != -128:
            raise unsupported(op, graph, "LOGISTIC int8 output needs zero point -128")
    if x.size != y.size:
        raise unsupported(op, graph, f"{op.opcode} output shape {list(y.shape)} differs from input {list(x.shape)}")
    try:
        multiplier, shift, radius = logistic_tanh_params(x.quant.scalar_scale)
    except ValueError as e:
        raise unsupported(op, graph, f"{op.opcode} input scale {x.quant.scalar_scale}: {e}") from None
    return KernelCall(
        function="utvm_logistic_s8" if op.opcode == "LOGISTIC" else "utvm_tanh_s8",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/logistic_tanh.h",
        sources=["kernels/logistic_tanh.c"],
        params_type="utvm_logistic_tanh_params",
        params={
            "size": x.size,
            "input_zero_point": x.quant.scalar_zero_point,
            "input_range_radius": radius,
            "input_multiplier": multiplier,
            "input_left_shift": shift,
        },
        inplace=InPlace(),
    )
