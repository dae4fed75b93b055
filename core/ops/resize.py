"""RESIZE_NEAREST_NEIGHBOR: NHWC, any output size, both corner conventions.

TFLite Micro (resize_nearest_neighbor.cc, reference GetNearestNeighbor)
picks source row/column ``i`` of output row/column ``o`` in *float*::

    scale = (align_corners && out > 1) ? float(in - 1) / float(out - 1)
                                       : float(in) / float(out)
    v = align_corners ? int(round((o + offset) * scale))   # half away from 0
                      : int(floor((o + offset) * scale))
    i = min(v, in - 1); if half_pixel_centers: i = max(i, 0)

with ``offset`` 0.5f for half_pixel_centers, else 0. Both depend on the
static shapes only, so they are evaluated here in float32 and the kernel gets
tables of byte offsets. It supports float32, int8 and int16 4-D tensors with a
constant int32 ``size`` of 2 values, copies values unchanged (no
requantization), and ``align_corners`` and ``half_pixel_centers`` together
as TFLM computes them.
"""

from __future__ import annotations

import math

import numpy as np

from ..ir import Graph, Operator
from .base import ConstArray, KernelCall, lowering, unsupported
from .strided_slice import check_dtype, const_int32, elem_size, operands

_TYPES = ("float32", "int8", "int16")


def _round_half_away(v: float) -> float:
    """TfLiteRound (std::round) of an exactly representable value."""
    f = math.floor(abs(v))
    r = f + 1.0 if abs(v) - f >= 0.5 else f
    return math.copysign(r, v)


def nearest_indices(in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool) -> list[int]:
    """GetNearestNeighbor for every output position, in TFLM's float32 arithmetic."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(f32(in_size - 1) / f32(out_size - 1))
    else:
        scale = f32(f32(in_size) / f32(out_size))
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    result = []
    for o in range(out_size):
        v = float(f32(f32(f32(o) + offset) * scale))  # exact float32 value
        picked = int(_round_half_away(v)) if align_corners else int(math.floor(v))
        picked = min(picked, in_size - 1)
        if half_pixel_centers:
            picked = max(0, picked)
        result.append(picked)
    return result


@lowering("RESIZE_NEAREST_NEIGHBOR")
def lower_resize_nearest_neighbor(op: Operator, graph: Graph) -> KernelCall:
    (x, size_t), y = operands(op, graph, (2,), "input, size")
    check_dtype(op, graph, x, y, _TYPES)
    if len(x.shape) != 4:
        raise unsupported(op, graph, f"RESIZE_NEAREST_NEIGHBOR needs a 4-D (NHWC) input, not {len(x.shape)}-D")
    size = const_int32(op, graph, size_t, "size")
    if size.size != 2:
        raise unsupported(
            op, graph, f"RESIZE_NEAREST_NEIGHBOR size must hold 2 values (height, width), not {size.size}"
        )
    out_h, out_w = int(size[0]), int(size[1])
    if out_h <= 0 or out_w <= 0:
        raise unsupported(op, graph, f"RESIZE_NEAREST_NEIGHBOR size {[out_h, out_w]} must be positive")
    n, in_h, in_w, c = (int(d) for d in x.shape)
    if list(y.shape) != [n, out_h, out_w, c]:
        raise unsupported(
            op, graph, f"RESIZE_NEAREST_NEIGHBOR output shape {list(y.shape)} is not {[n, out_h, out_w, c]}"
        )
    align = bool(op.options.get("align_corners", False))
    half = bool(op.options.get("half_pixel_centers", False))
    pixel = c * elem_size(x.dtype)
    ys = nearest_indices(in_h, out_h, align, half)
    xs = nearest_indices(in_w, out_w, align, half)
    return KernelCall(
        function="utvm_resize_nearest",
        inputs=[op.inputs[0]],
        outputs=[op.outputs[0]],
        header="utvm/kernels/resize.h",
        sources=["kernels/resize.c"],
        params_type="utvm_resize_nearest_params",
        params={
            "batches": n,
            "out_height": out_h,
            "out_width": out_w,
            "pixel_bytes": pixel,
            "batch_bytes": in_h * in_w * pixel,
            "y_offset": ConstArray("int32_t", np.asarray([i * in_w * pixel for i in ys], dtype=np.int32)),
            "x_offset": ConstArray("int32_t", np.asarray([i * pixel for i in xs], dtype=np.int32)),
        },
    )
