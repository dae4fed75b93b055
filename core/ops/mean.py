"""MEAN of an int8 tensor over constant axes.

TFLite Micro has one int8 MEAN path for every axis set (reference
QuantizedMeanOrSum; the 4-D axes-{1,2} special case is float only):

* Prepare: ``QuantizeMultiplier(double(input_scale) / double(output_scale))``;
* Eval: sum the int8 values of each output element in int32, subtract
  ``input_zero_point * n`` (n = number of reduced elements), and fold 1/n into
  the multiplier: ``s = min(floor(log2 n), 32, 31 + shift)``,
  ``multiplier = (int64(multiplier) << s) / n``, ``shift -= s``; then
  MultiplyByQuantizedMultiplier, add the output zero point, saturate.

Axes may be negative and may repeat (TFLM's ResolveAxis); keep_dims only
changes the output shape. Since n is static, the adjusted multiplier is
computed here and the kernel only sums and requantizes.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator
from ..quant import quantize_multiplier
from .base import KernelCall, lowering, unsupported

#: The kernel's UTVM_MEAN_MAX_DIMS.
MAX_DIMS = 8


def _to_int32(v: int) -> int:
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def mean_multiplier(input_scale: float, output_scale: float, num_elements: int) -> tuple[int, int]:
    """TFLM's requantization multiplier and shift of an int8 MEAN over ``num_elements`` values."""
    real = float(np.float32(input_scale)) / float(np.float32(output_scale))
    multiplier, shift = quantize_multiplier(real)
    s = num_elements.bit_length() - 1  # 63 - CountLeadingZeros(uint64 n)
    s = min(s, 32, 31 + shift)
    multiplier = (multiplier << s) // num_elements  # multiplier >= 0: floor is C's truncation
    return int(multiplier), int(shift - s)


def _merge(dims: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    """Drop size-1 axes and merge neighbouring axes of the same kind (kept / reduced)."""
    merged: list[tuple[int, bool]] = []
    for size, reduced in dims:
        if size == 1:
            continue
        if merged and merged[-1][1] == reduced:
            merged[-1] = (merged[-1][0] * size, reduced)
        else:
            merged.append((size, reduced))
    return merged


@lowering("MEAN")
def lower_mean(op: Operator, graph: Graph) -> KernelCall:
    if len(op.inputs) != 2 or len(op.outputs) != 1 or min(op.inputs + op.outputs) < 0:
        raise unsupported(op, graph, "MEAN needs two inputs (data, axes) and one output")
    x, axes_t, y = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]], graph.tensors[op.outputs[0]]
    if x.dtype != "int8" or y.dtype != "int8":
        raise unsupported(op, graph, f"MEAN supports int8 input and output only (got {x.dtype} -> {y.dtype})")
    for role, t in (("input", x), ("output", y)):
        if t.quant is None:
            raise unsupported(op, graph, f"MEAN {role} tensor '{t.name}' is not quantized")
        if t.quant.per_channel:
            raise unsupported(op, graph, f"MEAN {role} tensor '{t.name}' must be quantized per tensor")
        if not t.quant.scalar_scale > 0.0:
            raise unsupported(op, graph, f"MEAN {role} tensor '{t.name}' has scale {t.quant.scalar_scale}")
    if axes_t.dtype != "int32":
        raise unsupported(op, graph, f"MEAN axes must be int32 (got {axes_t.dtype})")
    if not axes_t.is_const:
        raise unsupported(op, graph, "MEAN axes must be a constant tensor")

    rank = len(x.shape)
    if rank == 0:
        raise unsupported(op, graph, "MEAN of a scalar is not supported")
    if any(d <= 0 for d in x.shape):
        raise unsupported(op, graph, "MEAN of an empty tensor is not supported")
    if rank > MAX_DIMS:
        raise unsupported(op, graph, f"MEAN supports inputs of rank <= {MAX_DIMS} (got {rank})")
    resolved: list[int] = []
    for a in np.asarray(axes_t.data).reshape(-1).tolist():
        axis = a + rank if a < 0 else a
        if not 0 <= axis < rank:
            raise unsupported(op, graph, f"MEAN axis {a} is out of range for a rank-{rank} input")
        if axis not in resolved:
            resolved.append(axis)

    kept_shape = [d for i, d in enumerate(x.shape) if i not in resolved]
    num_outputs = int(np.prod(kept_shape, dtype=np.int64))
    num_elements = int(np.prod([x.shape[i] for i in resolved], dtype=np.int64))
    if y.size != num_outputs:
        raise unsupported(
            op, graph, f"MEAN output has {y.size} elements, but reducing axes {resolved} leaves {num_outputs}"
        )

    # Axis sizes and strides in input elements, merged.
    dims = _merge([(d, i in resolved) for i, d in enumerate(x.shape)])
    strides = []
    stride = 1
    for size, _ in reversed(dims):
        strides.append(stride)
        stride *= size
    strides.reverse()
    kept = [(size, st) for (size, red), st in zip(dims, strides) if not red]
    reduced = [(size, st) for (size, red), st in zip(dims, strides) if red]

    def pad(values: list[int]) -> tuple[int, ...]:
        return tuple(values) + (0,) * (MAX_DIMS - len(values))

    multiplier, shift = mean_multiplier(x.quant.scalar_scale, y.quant.scalar_scale, num_elements)
    return KernelCall(
        function="utvm_mean_s8",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/mean.h",
        sources=["kernels/mean.c"],
        params_type="utvm_mean_params",
        params={
            "num_kept": len(kept),
            "kept_dims": pad([k[0] for k in kept]),
            "kept_strides": pad([k[1] for k in kept]),
            "num_reduced": len(reduced),
            "reduced_dims": pad([r[0] for r in reduced]),
            "reduced_strides": pad([r[1] for r in reduced]),
            "sum_offset": _to_int32(-x.quant.scalar_zero_point * num_elements),
            "multiplier": multiplier,
            "shift": shift,
            "output_zero_point": y.quant.scalar_zero_point,
        },
    )
