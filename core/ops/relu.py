"""Standalone RELU and RELU6 on int8 and int16 tensors.

As in TFLite Micro:

* RELU (CalculateReluOpData) requantizes from the input to the output
  quantization with QuantizeMultiplier(double(float(s_in / s_out))) -- the
  ratio is taken in float -- and clamps to [max(qmin, zp_out), qmax].
* RELU6 (Relu6Prepare) does not requantize at all: it clamps the input to the
  input's quantized 0 and 6 (``round(6.0f / s_in) + zp_in`` clamped to the
  type) and stores the raw value, ignoring the output's quantization.
* int16 needs zero points 0 for RELU (TFLite's Prepare refuses others).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Operator, Tensor
from ..quant import quantize_multiplier
from .base import InPlace, KernelCall, lowering, unsupported
from .elementwise import per_tensor_quant

HEADER = "utvm/kernels/relu.h"
SOURCES = ["kernels/relu.c"]


def _round_half_away(x: float) -> int:
    """std::round."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, Tensor]:
    if len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] < 0 or op.outputs[0] < 0:
        raise unsupported(op, graph, f"{op.opcode} needs one input and one output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.dtype not in ("int8", "int16") or y.dtype != x.dtype:
        raise unsupported(
            op, graph, f"{op.opcode} supports int8 and int16 tensors of one type only (got {x.dtype} -> {y.dtype})"
        )
    if x.size != y.size:
        raise unsupported(op, graph, f"{op.opcode} input and output sizes differ ({x.size} vs {y.size})")
    return x, y


@lowering("RELU")
def lower_relu(op: Operator, graph: Graph) -> KernelCall:
    x, y = _operands(op, graph)
    s_in, z_in = per_tensor_quant(op, graph, x, "input")
    s_out, z_out = per_tensor_quant(op, graph, y, "output")
    if x.dtype == "int16" and (z_in, z_out) != (0, 0):
        raise unsupported(op, graph, "RELU with int16 tensors needs zero points 0")
    info = np.iinfo(y.dtype)
    multiplier, shift = quantize_multiplier(float(np.float32(s_in) / np.float32(s_out)))
    params = {
        "size": x.size,
        "input_offset": z_in,
        "output_offset": z_out,
        "multiplier": multiplier,
        "shift": shift,
        # roundf(0.0f / scale) is 0.
        "act_min": max(int(info.min), z_out),
        "act_max": int(info.max),
    }
    suffix = "s8" if x.dtype == "int8" else "s16"
    return KernelCall(
        function=f"utvm_relu_{suffix}",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header=HEADER,
        sources=list(SOURCES),
        params_type="utvm_relu_params",
        params=params,
        inplace=InPlace(),
    )


@lowering("RELU6")
def lower_relu6(op: Operator, graph: Graph) -> KernelCall:
    x, y = _operands(op, graph)
    s_in, z_in = per_tensor_quant(op, graph, x, "input")
    info = np.iinfo(x.dtype)
    # FloatToQuantizedType<T>(6.0f, scale, zero_point): round(6.0f / scale) + zp, clamped.
    q = float(np.float32(6.0) / np.float32(s_in))
    if q >= 2.0**31 - 2.0**16:
        raise unsupported(op, graph, f"RELU6 input scale {s_in} is too small to represent 6")
    six = min(max(_round_half_away(q) + z_in, int(info.min)), int(info.max))
    params = {"size": x.size, "lower": z_in, "upper": six}
    suffix = "s8" if x.dtype == "int8" else "s16"
    return KernelCall(
        function=f"utvm_relu6_{suffix}",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header=HEADER,
        sources=list(SOURCES),
        params_type="utvm_relu6_params",
        params=params,
        inplace=InPlace(),
    )
