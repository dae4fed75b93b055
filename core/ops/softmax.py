"""SOFTMAX with int8 input (over the last axis), int8 or int16 output.

As TFLite Micro's CalculateSoftmaxParams for int8 input:

* the int8 output must have zero point -128 and scale exactly 1/256 (float32);
  the int16 output zero point -32768 and a scale within 0.1% of 1/65536;
* PreprocessSoftmaxScaling(double(beta), double(input_scale), 5):
  ``min(beta * input_scale * 2**26, 2**31 - 1)`` in double, quantized with
  QuantizeMultiplierGreaterThanOne (TFLM aborts unless it is > 1);
* diff_min = -floor(31 * 2**26 / 2**input_left_shift) (CalculateInputRadius).

The input zero point cancels out (only differences to the row maximum matter).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator
from ..quant import quantize_multiplier
from .base import InPlace, KernelCall, lowering, unsupported

_SCALED_DIFF_INTEGER_BITS = 5


def softmax_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLM computes them, or ValueError."""
    real = float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - _SCALED_DIFF_INTEGER_BITS))
    real = min(real, float((1 << 31) - 1))
    if not real > 1.0:
        raise ValueError(f"beta * input_scale * 2^26 = {real} is not > 1")
    multiplier, left_shift = quantize_multiplier(real)
    if left_shift < 0:
        raise ValueError(f"negative input left shift {left_shift}")
    # CalculateInputRadius(5, left_shift, 31), exact in double.
    radius = (((1 << _SCALED_DIFF_INTEGER_BITS) - 1) << (31 - _SCALED_DIFF_INTEGER_BITS)) >> left_shift
    return multiplier, left_shift, -radius


@lowering("SOFTMAX")
def lower_softmax(op: Operator, graph: Graph) -> KernelCall:
    if len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] < 0 or op.outputs[0] < 0:
        raise unsupported(op, graph, "SOFTMAX needs exactly one input and one output")
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if x.dtype != "int8" or y.dtype not in ("int8", "int16"):
        raise unsupported(
            op, graph, f"SOFTMAX supports int8 input with int8 or int16 output only (got {x.dtype} -> {y.dtype})"
        )
    for role, t in (("input", x), ("output", y)):
        if t.quant is None:
            raise unsupported(op, graph, f"SOFTMAX {role} tensor '{t.name}' is not quantized")
        if t.quant.per_channel:
            raise unsupported(op, graph, f"SOFTMAX {role} tensor '{t.name}' must be quantized per tensor")
    if len(x.shape) < 1 or x.size != y.size or x.shape[-1] != (y.shape[-1] if y.shape else 1):
        raise unsupported(op, graph, f"SOFTMAX output shape {list(y.shape)} differs from input {list(x.shape)}")
    if x.size <= 0:
        raise unsupported(op, graph, "SOFTMAX of an empty tensor is not supported")

    out_scale = np.float32(y.quant.scalar_scale)
    out_zp = y.quant.scalar_zero_point
    if y.dtype == "int8":
        if out_zp != -128 or out_scale != np.float32(1.0) / np.float32(256.0):
            raise unsupported(
                op,
                graph,
                f"SOFTMAX int8 output needs scale 1/256 and zero point -128 (got {float(out_scale)}, {out_zp})",
            )
        function = "utvm_softmax_s8"
    else:
        target = np.float32(1.0) / np.float32(65536.0)
        delta = out_scale - target if out_scale > target else target - out_scale
        if out_zp != -32768 or delta > np.float32(0.001) * np.float32(1.0) / np.float32(65536.0):
            raise unsupported(
                op,
                graph,
                f"SOFTMAX int16 output needs scale 1/65536 and zero point -32768 (got {float(out_scale)}, {out_zp})",
            )
        function = "utvm_softmax_s8_s16"

    beta = float(op.options.get("beta", 1.0))
    try:
        multiplier, left_shift, diff_min = softmax_scaling(beta, x.quant.scalar_scale)
    except ValueError as e:
        raise unsupported(op, graph, f"SOFTMAX beta {beta} with input scale {x.quant.scalar_scale}: {e}") from None

    depth = int(x.shape[-1])
    return KernelCall(
        function=function,
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/softmax.h",
        sources=["kernels/softmax.c"],
        params_type="utvm_softmax_params",
        params={
            "outer_size": x.size // depth,
            "depth": depth,
            "input_multiplier": multiplier,
            "input_left_shift": left_shift,
            "diff_min": diff_min,
        },
        inplace=InPlace() if y.dtype == "int8" else None,
    )
