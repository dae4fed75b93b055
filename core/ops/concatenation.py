"""CONCATENATION along any axis of 1 to 10 inputs, as TFLite Micro does it.

TFLM's concatenation.cc accepts float32, int8, int16, int32, int64 and bool
tensors of up to 6 dimensions, at most 10 inputs, and no fused activation.
It never requantizes: every int8 input must have exactly the output's scale
and zero point (int16 ones zero point 0), and the kernel copies blocks of
bytes: for each index of the axes before ``axis``, input 0's block, input
1's block, ... The block sizes are computed here.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator, Tensor
from .base import KernelCall, lowering, unsupported
from .strided_slice import check_not_empty, elem_size

_TYPES = ("float32", "int8", "int16", "int32", "int64", "bool")
_MAX_INPUTS = 10  # concatenation.cc: kMaxInputNum
_MAX_DIMS = 6  # RuntimeShape::kMaxSmallSize


def _quant(t: Tensor) -> tuple[float, int]:
    """(scale, zero point) as TFLM's TfLiteQuantizationParams holds them (0, 0 when absent)."""
    if t.quant is None:
        return 0.0, 0
    return t.quant.scalar_scale, t.quant.scalar_zero_point


@lowering("CONCATENATION")
def lower_concatenation(op: Operator, graph: Graph) -> KernelCall:
    if not 1 <= len(op.inputs) <= _MAX_INPUTS or len(op.outputs) != 1:
        raise unsupported(
            op, graph, f"CONCATENATION needs 1 to {_MAX_INPUTS} inputs and 1 output (got {len(op.inputs)} inputs)"
        )
    if any(i < 0 for i in op.inputs) or op.outputs[0] < 0:
        raise unsupported(op, graph, "CONCATENATION has an absent input or output tensor")
    act = op.options.get("fused_activation_function", "NONE") or "NONE"
    if act != "NONE":
        raise unsupported(
            op, graph, f"CONCATENATION fused activation {act} is not supported (TFLite Micro allows NONE only)"
        )
    xs = [graph.tensors[i] for i in op.inputs]
    y = graph.tensors[op.outputs[0]]
    check_not_empty(op, graph, y)
    if y.dtype not in _TYPES:
        raise unsupported(
            op, graph, f"CONCATENATION does not support {y.dtype} tensors (TFLite Micro supports {', '.join(_TYPES)})"
        )
    rank = len(y.shape)
    if rank == 0 or rank > _MAX_DIMS:
        raise unsupported(op, graph, f"CONCATENATION supports 1-D to {_MAX_DIMS}-D tensors, not {rank}-D")
    axis = int(op.options.get("axis", 0) or 0)
    if axis < 0:
        axis += rank
    if not 0 <= axis < rank:
        raise unsupported(op, graph, f"CONCATENATION axis {op.options.get('axis')} is outside a {rank}-D output")
    y_quant = _quant(y)
    total = 0
    for k, x in enumerate(xs):
        if x.dtype != y.dtype:
            raise unsupported(
                op, graph, f"CONCATENATION input {k} type {x.dtype} differs from the output type {y.dtype}"
            )
        if len(x.shape) != rank or any(x.shape[d] != y.shape[d] for d in range(rank) if d != axis):
            raise unsupported(
                op, graph, f"CONCATENATION input {k} shape {list(x.shape)} does not match the output {list(y.shape)} "
                f"outside axis {axis}",
            )
        total += x.shape[axis]
        if y.dtype == "int8" and _quant(x) != y_quant:
            raise unsupported(
                op, graph,
                f"CONCATENATION int8 input {k} quantization (scale {_quant(x)[0]}, zero point {_quant(x)[1]}) differs "
                f"from the output's (scale {y_quant[0]}, zero point {y_quant[1]}); TFLite Micro does not requantize",
            )
        if y.dtype == "int16" and _quant(x)[1] != 0:
            raise unsupported(op, graph, f"CONCATENATION int16 input {k} must have zero point 0")
    if y.dtype == "int16" and y_quant[1] != 0:
        raise unsupported(op, graph, "CONCATENATION int16 output must have zero point 0")
    if total != y.shape[axis]:
        raise unsupported(
            op, graph, f"CONCATENATION inputs add up to {total} along axis {axis}, the output has {y.shape[axis]}"
        )
    if y.nbytes > (1 << 31) - 1:
        raise unsupported(op, graph, "CONCATENATION output too large (over 2^31 bytes)")
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    inner = int(np.prod(y.shape[axis + 1 :], dtype=np.int64)) * elem_size(y.dtype)
    return KernelCall(
        function="utvm_concatenation",
        inputs=list(op.inputs),
        outputs=[op.outputs[0]],
        header="utvm/kernels/concatenation.h",
        sources=["kernels/concatenation.c"],
        params_type="utvm_concatenation_params",
        params={
            "outer": outer,
            "num_inputs": len(xs),
            "copy_bytes": tuple(int(x.shape[axis]) * inner for x in xs),
        },
        inputs_as_array=True,
    )
