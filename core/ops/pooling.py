"""AVERAGE_POOL_2D and MAX_POOL_2D on int8 NHWC tensors.

As TFLite Micro's PoolingPrepare: the output size and the top/left padding
come from ComputePaddingHeightWidth (dilation 1), which must agree with the
output tensor's shape; input and output must share the zero point and their
scales may differ by at most 1e-6 (TFLM's check, on the float32 difference);
the fused activation becomes a clamp (CalculateActivationRangeQuantized).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator, Tensor
from ..quant import activation_range
from .base import KernelCall, lowering, unsupported

_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")

_FUNCTIONS = {"AVERAGE_POOL_2D": "utvm_avg_pool_s8", "MAX_POOL_2D": "utvm_max_pool_s8"}


def _out_size_and_padding(padding: str, in_size: int, filter_size: int, stride: int) -> tuple[int, int]:
    """TFLite's ComputeOutSize and ComputePaddingWithOffset (dilation 1): (out, pad before)."""
    if padding == "SAME":
        out = (in_size + stride - 1) // stride
    else:
        out = (in_size + stride - filter_size) // stride
    total = max((out - 1) * stride + filter_size - in_size, 0)
    return out, total // 2


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, Tensor]:
    if len(op.inputs) != 1 or len(op.outputs) != 1 or op.inputs[0] < 0 or op.outputs[0] < 0:
        raise unsupported(op, graph, f"{op.opcode} needs exactly one input and one output")
    return graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]


@lowering("AVERAGE_POOL_2D", "MAX_POOL_2D")
def lower_pool(op: Operator, graph: Graph) -> KernelCall:
    x, y = _operands(op, graph)
    if x.dtype != "int8" or y.dtype != "int8":
        raise unsupported(op, graph, f"{op.opcode} supports int8 input and output only (got {x.dtype} -> {y.dtype})")
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise unsupported(op, graph, f"{op.opcode} needs 4-D NHWC input and output")
    for role, t in (("input", x), ("output", y)):
        if t.quant is None:
            raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' is not quantized")
        if t.quant.per_channel:
            raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' must be quantized per tensor")
    # TFLM: abs(input scale - output scale) in float32, then <= 1e-6 in double.
    scale_diff = float(abs(np.float32(x.quant.scalar_scale) - np.float32(y.quant.scalar_scale)))
    if scale_diff > 1.0e-6 or x.quant.scalar_zero_point != y.quant.scalar_zero_point:
        raise unsupported(
            op,
            graph,
            f"{op.opcode} needs the same scale and zero point on input and output "
            f"(input {x.quant.scalar_scale}, {x.quant.scalar_zero_point}; "
            f"output {y.quant.scalar_scale}, {y.quant.scalar_zero_point})",
        )

    opts = op.options
    padding = opts.get("padding", "SAME")
    if padding not in ("SAME", "VALID"):
        raise unsupported(op, graph, f"{op.opcode} padding {padding!r} is not supported (only SAME, VALID)")
    stride_h, stride_w = int(opts.get("stride_h", 0)), int(opts.get("stride_w", 0))
    filter_h, filter_w = int(opts.get("filter_height", 0)), int(opts.get("filter_width", 0))
    if min(stride_h, stride_w) <= 0 or min(filter_h, filter_w) <= 0:
        raise unsupported(
            op,
            graph,
            f"{op.opcode} needs positive strides and filter sizes "
            f"(stride {stride_h}x{stride_w}, filter {filter_h}x{filter_w})",
        )
    act = opts.get("fused_activation_function", "NONE")
    if act not in _ACTIVATIONS:
        raise unsupported(
            op, graph, f"{op.opcode} fused activation {act} is not supported (only {', '.join(_ACTIVATIONS)})"
        )

    batches, in_h, in_w, depth = x.shape
    out_h, pad_h = _out_size_and_padding(padding, in_h, filter_h, stride_h)
    out_w, pad_w = _out_size_and_padding(padding, in_w, filter_w, stride_w)
    if out_h <= 0 or out_w <= 0:
        raise unsupported(op, graph, f"{op.opcode} window {filter_h}x{filter_w} is larger than the input")
    expected = (batches, out_h, out_w, depth)
    if tuple(y.shape) != expected:
        raise unsupported(
            op, graph, f"{op.opcode} output shape {list(y.shape)} differs from the computed {list(expected)}"
        )
    if min(x.shape) <= 0:
        raise unsupported(op, graph, f"{op.opcode} has an empty input")
    act_min, act_max = activation_range(act, y.quant.scalar_scale, y.quant.scalar_zero_point, "int8")

    return KernelCall(
        function=_FUNCTIONS[op.opcode],
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/pooling.h",
        sources=["kernels/pooling.c"],
        params_type="utvm_pool_params",
        params={
            "batches": batches,
            "input_height": in_h,
            "input_width": in_w,
            "depth": depth,
            "output_height": out_h,
            "output_width": out_w,
            "stride_height": stride_h,
            "stride_width": stride_w,
            "filter_height": filter_h,
            "filter_width": filter_w,
            "padding_height": pad_h,
            "padding_width": pad_w,
            "activation_min": act_min,
            "activation_max": act_max,
        },
    )
