"""PAD and PADV2: frame the input with a constant value.

As TFLite Micro's pad_common.cc / reference pad.h (both opcodes share one
kernel there, with an optional third ``constant_values`` input):

* float32, int8, int16, int32 tensors of up to 5 dimensions; ``paddings`` is
  a constant int32 tensor with one (before, after) pair per axis, and the
  output shape must be the padded input shape;
* the pad value is ``constant_values`` when given (a constant scalar of the
  input's type; for int8 it must share the output's scale and zero point),
  otherwise the output zero point for int8 and 0 for the other types (int16
  pads with 0 even if its zero point is not 0);
* values are copied unchanged: TFLM does not requantize between input and
  output.

Negative paddings are refused (TFLM's loop would not crop, it would shift).
The kernel gets the padding per axis after merging every axis without
padding into the axis outside it, so a typical NHWC pad is a loop over rows.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator
from .base import KernelCall, lowering, unsupported
from .strided_slice import check_dtype, const_int32, elem_size, operands

_TYPES = ("float32", "int8", "int16", "int32")
_MAX_DIMS = 5  # reference_ops::PadKernelMaxDimensionCount()


def _pad_value(op: Operator, graph: Graph) -> int:
    """The pad value as the kernel's int32 field (a float32 as its bits)."""
    x, y = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if len(op.inputs) < 3:
        if x.dtype == "int8":
            zp = y.quant.scalar_zero_point if y.quant is not None else 0
            if not -128 <= zp <= 127:
                raise unsupported(op, graph, f"{op.opcode} output zero point {zp} is outside int8")
            return zp
        return 0
    c = graph.tensors[op.inputs[2]]
    if not c.is_const:
        raise unsupported(
            op, graph, f"{op.opcode} needs a constant constant_values tensor ('{c.name}' is computed at run time)"
        )
    if c.dtype != x.dtype:
        raise unsupported(
            op, graph, f"{op.opcode} constant_values type {c.dtype} differs from the input type {x.dtype}"
        )
    if c.size != 1:
        raise unsupported(op, graph, f"{op.opcode} constant_values must hold one value, not {c.size}")
    if x.dtype == "int8":
        yq = (y.quant.scalar_scale, y.quant.scalar_zero_point) if y.quant is not None else (0.0, 0)
        cq = (c.quant.scalar_scale, c.quant.scalar_zero_point) if c.quant is not None else (0.0, 0)
        if yq != cq:
            raise unsupported(
                op, graph,
                f"{op.opcode} constant_values quantization (scale {cq[0]}, zero point {cq[1]}) differs from the "
                f"output's (scale {yq[0]}, zero point {yq[1]})",
            )
    value = np.asarray(c.data).reshape(-1)[:1]
    if x.dtype == "float32":
        return int(value.astype(np.float32).view(np.int32)[0])
    return int(value[0])


@lowering("PAD", "PADV2")
def lower_pad(op: Operator, graph: Graph) -> KernelCall:
    (x, pad_t, *_), y = operands(op, graph, (2, 3), "input, paddings, optional constant_values")
    check_dtype(op, graph, x, y, _TYPES)
    rank = len(x.shape)
    if rank > _MAX_DIMS:
        raise unsupported(op, graph, f"{op.opcode} supports inputs of up to {_MAX_DIMS} dimensions, not {rank}")
    if len(y.shape) != rank:
        raise unsupported(op, graph, f"{op.opcode} output rank {len(y.shape)} differs from the input rank {rank}")
    paddings = const_int32(op, graph, pad_t, "paddings", rank=None)
    if paddings.size != 2 * rank:
        raise unsupported(
            op, graph, f"{op.opcode} paddings has {paddings.size} values for a {rank}-D input (needs [{rank}, 2])"
        )
    pairs = [(int(paddings[2 * d]), int(paddings[2 * d + 1])) for d in range(rank)]
    if any(b < 0 or a < 0 for b, a in pairs):
        raise unsupported(op, graph, f"{op.opcode} negative paddings {pairs} are not supported")
    expected = [int(n) + b + a for n, (b, a) in zip(x.shape, pairs)]
    if list(y.shape) != expected:
        raise unsupported(op, graph, f"{op.opcode} output shape {list(y.shape)} is not the padded shape {expected}")
    pad_value = _pad_value(op, graph)

    # (output size, before, after) per axis; an axis without padding is merged
    # into the axis outside it, and size-1 axes without padding are dropped.
    dims: list[tuple[int, int, int]] = []
    for n, (b, a) in zip(expected, pairs):
        if b == 0 and a == 0:
            if n == 1:
                continue
            if dims:
                on, ob, oa = dims[-1]
                dims[-1] = (on * n, ob * n, oa * n)
                continue
        dims.append((n, b, a))
    if any(n == 0 for n in expected):
        dims = [(0, 0, 0)]
    dims = [(1, 0, 0)] * (_MAX_DIMS - len(dims)) + dims
    return KernelCall(
        function="utvm_pad",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/pad.h",
        sources=["kernels/pad.c"],
        params_type="utvm_pad_params",
        params={
            "elem_size": elem_size(x.dtype),
            "pad_value": pad_value,
            "shape": tuple(n for n, _, _ in dims),
            "before": tuple(b for _, b, _ in dims),
            "after": tuple(a for _, _, a in dims),
        },
    )
