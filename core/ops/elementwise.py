"""ADD, SUB and MUL: int8 and int16, fused activations, numpy broadcasting up to rank 6.

Parameters are precomputed as TFLite Micro's Prepare does, including its
mixed float/double arithmetic:

* ADD (CalculateOpDataAdd): ``left_shift`` 20 (int8) or 15 (int16);
  ``twice_max_input_scale = 2 * double(max(s1, s2))``; input multipliers
  ``double(s_i) / twice_max``; output multiplier
  ``twice_max / (2**left_shift * double(s_out))``, all in double.
* SUB (CalculateOpDataSub): the same formulas evaluated in *float* and only
  then widened to double, so its multipliers can differ from ADD's in the
  last bit.
* MUL (CalculateOpDataMul): ``double(s1) * double(s2) / double(s_out)``
  through QuantizeMultiplier (a shift of either sign); int16 needs all zero
  points 0.

ADD and SUB quantize every multiplier with QuantizeMultiplierSmallerThanOneExp,
which aborts TFLite Micro when the output multiplier is not below one (an
output scale below ``2 * max_input_scale / 2**20``); such models are refused.
The broadcast is collapsed here into at most six dimensions with per-input
strides (see utvm/kernels/elementwise.h).
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Operator, Tensor
from ..quant import activation_range, quantize_multiplier
from .base import InPlace, KernelCall, lowering, unsupported

MAX_RANK = 6

_ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")
_ACT_BOUNDS = {"RELU": (0.0,), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}

HEADER = "utvm/kernels/elementwise.h"
SOURCES = ["kernels/elementwise.c"]


# --------------------------------------------------------------------------- shared helpers


def per_tensor_quant(op: Operator, graph: Graph, t: Tensor, role: str) -> tuple[float, int]:
    """(scale as float32, zero point) of a per-tensor quantized tensor, or raise."""
    if t.quant is None or t.quant.scale.size == 0:
        raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' is not quantized")
    if t.quant.per_channel:
        raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' must be quantized per tensor")
    scale = t.quant.scalar_scale
    if not (scale > 0.0 and math.isfinite(scale)):
        raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' has scale {scale}")
    zp = int(t.quant.zero_point[0]) if t.quant.zero_point.size else 0
    info = np.iinfo(t.dtype) if t.dtype in ("int8", "uint8", "int16", "int32") else None
    if info is not None and not int(info.min) <= zp <= int(info.max):
        raise unsupported(op, graph, f"{op.opcode} {role} tensor '{t.name}' has zero point {zp} out of {t.dtype} range")
    return scale, zp


def fused_activation_range(op: Operator, graph: Graph, y: Tensor) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for the op's fused activation, or raise."""
    act = op.options.get("fused_activation_function", "NONE")
    if act not in _ACTIVATIONS:
        raise unsupported(
            op, graph, f"{op.opcode} fused activation {act} is not supported (only {', '.join(_ACTIVATIONS)})"
        )
    scale, zp = per_tensor_quant(op, graph, y, "output")
    for bound in _ACT_BOUNDS.get(act, ()):
        # TFLite's Quantize() refuses a bound whose quantized value overflows int32.
        q = abs(float(np.float32(bound) / np.float32(scale)))
        if q >= 2.0**31:
            raise unsupported(op, graph, f"{op.opcode} fused {act} does not fit the output scale {scale}")
    lo, hi = activation_range(act, scale, zp, y.dtype)
    return int(lo), int(hi)


def _quantize_below_one(op: Operator, graph: Graph, real: float, what: str) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp, refusing what makes TFLite Micro abort."""
    if not (0.0 < real < 1.0):
        raise unsupported(op, graph, f"{op.opcode} {what} multiplier {real!r} is not in (0, 1)")
    multiplier, shift = quantize_multiplier(real)
    if shift > 0:
        raise unsupported(op, graph, f"{op.opcode} {what} multiplier {real!r} rounds up to 1")
    return multiplier, shift


def broadcast_layout(
    op: Operator, graph: Graph, shape1: tuple[int, ...], shape2: tuple[int, ...], out_shape: tuple[int, ...]
) -> tuple[bool, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Collapse the broadcast of two inputs onto the output.

    Returns ``(broadcast, shape, stride1, stride2)``, the last three padded
    at the front to MAX_RANK (extent 1, stride 0).
    """
    rank = max(len(shape1), len(shape2), len(out_shape))
    if rank > MAX_RANK:
        raise unsupported(op, graph, f"{op.opcode} supports tensors of rank up to {MAX_RANK} (got {rank})")
    e1 = (1,) * (rank - len(shape1)) + tuple(shape1)
    e2 = (1,) * (rank - len(shape2)) + tuple(shape2)
    eo = (1,) * (rank - len(out_shape)) + tuple(out_shape)
    for d in range(rank):
        a, b, o = e1[d], e2[d], eo[d]
        if min(a, b, o) <= 0:
            raise unsupported(op, graph, f"{op.opcode} with an empty tensor is not supported")
        if a != b and a != 1 and b != 1:
            raise unsupported(op, graph, f"{op.opcode} input shapes {list(shape1)} and {list(shape2)} do not broadcast")
        if o != max(a, b):
            raise unsupported(
                op,
                graph,
                f"{op.opcode} output shape {list(out_shape)} is not the broadcast of "
                f"{list(shape1)} and {list(shape2)}",
            )
    pad = (1,) * MAX_RANK, (0,) * MAX_RANK, (0,) * MAX_RANK
    if e1 == e2:
        return False, *pad

    # (extent, input1 broadcast, input2 broadcast) per non-trivial dimension, merged
    # where neighbours have the same pattern.
    dims: list[list] = []
    for a, b, o in zip(e1, e2, eo):
        if o == 1:
            continue
        pattern = (a == 1, b == 1)
        if dims and (dims[-1][1], dims[-1][2]) == pattern:
            dims[-1][0] *= o
        else:
            dims.append([o, pattern[0], pattern[1]])

    def strides(which: int) -> list[int]:
        out, acc = [], 1
        for extent, *bcast in reversed(dims):
            if bcast[which]:
                out.append(0)
            else:
                out.append(acc)
                acc *= extent
        return out[::-1]

    s1, s2 = strides(0), strides(1)
    n = len(dims)
    shape = (1,) * (MAX_RANK - n) + tuple(d[0] for d in dims)
    return (
        True,
        shape,
        (0,) * (MAX_RANK - n) + tuple(s1),
        (0,) * (MAX_RANK - n) + tuple(s2),
    )


# --------------------------------------------------------------------------- ADD / SUB / MUL


def _operands(op: Operator, graph: Graph) -> tuple[Tensor, Tensor, Tensor]:
    if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs + op.outputs) < 0:
        raise unsupported(op, graph, f"{op.opcode} needs two inputs and one output")
    x1, x2 = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    if y.dtype not in ("int8", "int16"):
        raise unsupported(op, graph, f"{op.opcode} supports int8 and int16 tensors only (output is {y.dtype})")
    if x1.dtype != y.dtype or x2.dtype != y.dtype:
        raise unsupported(
            op, graph, f"{op.opcode} needs inputs and output of one type (got {x1.dtype}, {x2.dtype} -> {y.dtype})"
        )
    return x1, x2, y


@lowering("ADD", "SUB", "MUL")
def lower_elementwise(op: Operator, graph: Graph) -> KernelCall:
    x1, x2, y = _operands(op, graph)
    s1, z1 = per_tensor_quant(op, graph, x1, "input1")
    s2, z2 = per_tensor_quant(op, graph, x2, "input2")
    so, zo = per_tensor_quant(op, graph, y, "output")
    act_min, act_max = fused_activation_range(op, graph, y)
    broadcast, shape, stride1, stride2 = broadcast_layout(op, graph, x1.shape, x2.shape, y.shape)
    suffix = "s8" if y.dtype == "int8" else "s16"
    layout = {
        "size": y.size,
        "broadcast": int(broadcast),
        "shape": shape,
        "stride1": stride1,
        "stride2": stride2,
    }

    if op.opcode == "MUL":
        if y.dtype == "int16" and (z1, z2, zo) != (0, 0, 0):
            raise unsupported(op, graph, "MUL with int16 tensors needs zero points 0")
        multiplier, shift = quantize_multiplier(float(s1) * float(s2) / float(so))
        params = dict(
            layout,
            input1_offset=-z1,
            input2_offset=-z2,
            output_offset=zo,
            output_multiplier=multiplier,
            output_shift=shift,
            act_min=act_min,
            act_max=act_max,
        )
        function, params_type = f"utvm_mul_{suffix}", "utvm_mul_params"
    else:
        left_shift = 20 if y.dtype == "int8" else 15
        if op.opcode == "ADD":
            twice_max = 2.0 * float(max(s1, s2))
            real1 = float(s1) / twice_max
            real2 = float(s2) / twice_max
            real_out = twice_max / (float(1 << left_shift) * float(so))
        else:  # SUB: the same in float32
            f1, f2, fo = np.float32(s1), np.float32(s2), np.float32(so)
            twice_max_f = np.float32(2.0) * max(f1, f2)
            real1 = float(np.float32(f1 / twice_max_f))
            real2 = float(np.float32(f2 / twice_max_f))
            real_out = float(np.float32(twice_max_f / (np.float32(1 << left_shift) * fo)))
        m1, sh1 = _quantize_below_one(op, graph, real1, "input1")
        m2, sh2 = _quantize_below_one(op, graph, real2, "input2")
        mo, sho = _quantize_below_one(op, graph, real_out, "output")
        params = dict(
            layout,
            left_shift=left_shift,
            input1_offset=-z1,
            input1_multiplier=m1,
            input1_shift=sh1,
            input2_offset=-z2,
            input2_multiplier=m2,
            input2_shift=sh2,
            output_offset=zo,
            output_multiplier=mo,
            output_shift=sho,
            act_min=act_min,
            act_max=act_max,
        )
        function = f"utvm_{op.opcode.lower()}_{suffix}"
        params_type = "utvm_add_params"

    # The output may overwrite an input that has the output's shape.
    rank = len(y.shape)
    inplace = None
    for pos, x in enumerate((x1, x2)):
        if len(x.shape) <= rank and (1,) * (rank - len(x.shape)) + tuple(x.shape) == tuple(y.shape):
            inplace = InPlace(input=pos)
            break

    return KernelCall(
        function=function,
        inputs=[op.inputs[0], op.inputs[1]],
        outputs=[op.outputs[0]],
        header=HEADER,
        sources=list(SOURCES),
        params_type=params_type,
        params=params,
        inplace=inplace,
    )
