"""Armv8.1-M MVE (Helium) variants of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

Each variant takes the reference KernelCall (whose parameters are TFLite
Micro's, see conv.py) and prepares at compile time what the vector kernels in
core/runtime/src/kernels/mve/ read:

* weights reordered into the order the kernel streams them (16-byte chunks of
  4 output channels in turn, zero padded), followed per block of 4 channels
  by that block's bias and requantization parameters, so that one pointer
  walks everything with post-incrementing loads;
* the input offset folded into the bias: sum w * (x + off) = sum w * x +
  off * sum w, exact modulo 2^32 (as the reference's int32 accumulator), with
  the padding of the window read as the input zero point (x = -off) so that
  padded taps still add nothing;
* the requantization split into multiplier, left shift and negated right
  shift vectors (utvm/kernels/mve/mve_common.h).

A variant returns None where its kernel does not apply (non-constant weights,
grouped convolution, shapes the kernel does not cover), and the reference
kernel is used. A depthwise convolution over one input channel with a window
of more than 16 taps (micro_speech's) runs as the convolution it is. The stream holds int32 values as little-endian bytes: MVE
targets (Armv8.1-M) here are little-endian.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Operator
from .base import ConstArray, KernelCall, variant
from .conv import window_inplace
from .overlap import band_lag, channel_plane_lag, pair_lag

HEADER_DIR = "utvm/kernels/mve"
SOURCE_DIR = "kernels/mve"
#: The most stack the kernels may take for their input rows (im2col, padded copies), bytes.
MAX_STACK_ROWS = 2048


def wrap32(values: np.ndarray) -> np.ndarray:
    """int64 values reduced modulo 2^32 into int32 (the C accumulator's wrap)."""
    v = np.asarray(values, dtype=np.int64) & 0xFFFFFFFF
    return np.where(v >= 1 << 31, v - (1 << 32), v).astype(np.int32)


def round_up(n: int, m: int) -> int:
    return (n + m - 1) // m * m


def const_data(graph: Graph, t: int) -> np.ndarray | None:
    """A constant input's data, or None (absent or not constant)."""
    if t < 0:
        return None
    tensor = graph.tensors[t]
    return tensor.data if tensor.is_const else None


def constant_operands(graph: Graph, call: KernelCall) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(weights, bias or None) when both are constants, else None."""
    weights = const_data(graph, call.inputs[1])
    if weights is None or (call.inputs[2] >= 0 and const_data(graph, call.inputs[2]) is None):
        return None
    return weights, const_data(graph, call.inputs[2])


def channel_shifts(call: KernelCall, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) per channel, the per-tensor values repeated."""
    mult = np.asarray(call.params["multiplier"].data, dtype=np.int64)
    shift = np.asarray(call.params["shift"].data, dtype=np.int64)
    if not call.params["per_channel"]:
        mult, shift = np.repeat(mult[:1], channels), np.repeat(shift[:1], channels)
    return mult, shift


def gemm_stream(w: np.ndarray, bias: np.ndarray, call: KernelCall) -> tuple[np.ndarray, int, int, int]:
    """The GEMM core's stream (utvm/kernels/mve/gemm.h) for [channels, k] weights.

    Returns (bytes, k16, has_left, fast): ``fast`` when no channel shifts
    left, every channel shifts right by at least 1 and the activation range
    is all of int8 (the core's short requantization).
    """
    channels, k = w.shape
    c4, k16 = round_up(channels, 4), round_up(k, 16)
    padded = np.zeros((c4, k16), np.int8)
    padded[:channels, :k] = w
    # [block of 4 channels][chunk of 16][channel in block][16 bytes]
    blocks = padded.reshape(c4 // 4, 4, k16 // 16, 16).transpose(0, 2, 1, 3).reshape(c4 // 4, -1)
    mult, shift = channel_shifts(call, channels)
    has_left = int(bool(np.any(shift > 0)))
    params = [bias] + ([np.maximum(shift, 0)] if has_left else []) + [mult, np.minimum(shift, 0)]
    table = np.zeros((len(params), c4), np.int64)  # padded channels: all 0, their outputs are not stored
    for row, values in zip(table, params):
        row[:channels] = values
    # [block][parameter][4 lanes] as little-endian int32 bytes
    quant = wrap32(table.reshape(len(params), c4 // 4, 4).transpose(1, 0, 2)).astype("<i4")
    quant_bytes = quant.view(np.int8).reshape(c4 // 4, -1)
    p = call.params
    fast = int(not has_left and bool(np.all(shift < 0)) and (p["act_min"], p["act_max"]) == (-128, 127))
    return np.concatenate([blocks, quant_bytes], axis=1).reshape(-1), k16, has_left, fast


# --------------------------------------------------------------------------- FULLY_CONNECTED


@variant("FULLY_CONNECTED", "mve", "fully_connected_s8_mve")
def fully_connected_mve(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    operands = constant_operands(graph, call)
    if operands is None:
        return None
    weights, bias = operands
    rows, depth = int(p["output_depth"]), int(p["accum_depth"])
    bias = np.zeros(rows, np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    w = weights.reshape(rows, depth)
    input_offset, weights_offset = int(p["input_offset"]), int(p["weights_offset"])
    folded = bias + input_offset * w.astype(np.int64).sum(axis=1) + depth * weights_offset * input_offset
    stream, k16, has_left, fast = gemm_stream(w, folded, call)
    if k16 != depth and k16 > MAX_STACK_ROWS:
        return None  # the zero-padded copy of the input lives on the stack
    params: dict[str, object] = dict(
        batches=p["batches"], accum_depth=depth, output_depth=rows, k16=k16,
        weights_offset=weights_offset, output_offset=p["output_offset"],
        act_min=p["act_min"], act_max=p["act_max"], has_left=has_left,
        fast=fast if weights_offset == 0 else 0, stream=ConstArray("int8_t", stream),
    )
    return KernelCall(
        function="utvm_fully_connected_s8_mve",
        inputs=[call.inputs[0]],
        outputs=list(call.outputs),
        header=f"{HEADER_DIR}/fully_connected.h",
        sources=[f"{SOURCE_DIR}/fully_connected.c", f"{SOURCE_DIR}/gemm.c"],
        params_type="utvm_mve_fully_connected_params",
        params=params,
    )


# --------------------------------------------------------------------------- CONV_2D


@variant("CONV_2D", "mve", "conv_s8_mve")
def conv_mve(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    operands = constant_operands(graph, call)
    if operands is None or p["filter_c"] != p["input_c"]:
        return None  # grouped convolution: the reference kernel
    weights, bias = operands
    out_c = int(p["output_c"])
    return _conv_call(call, weights.reshape(out_c, -1), bias)


def _conv_call(call: KernelCall, w: np.ndarray, bias: np.ndarray | None) -> KernelCall | None:
    """The MVE convolution for [output_c, filter_h * filter_w * input_c] weights and the reference's geometry."""
    p = call.params
    out_c, k = w.shape
    bias = np.zeros(out_c, np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    folded = bias + int(p["input_offset"]) * w.astype(np.int64).sum(axis=1)
    stream, k16, has_left, fast = gemm_stream(w, folded, call)
    direct = p["filter_h"] == 1 and p["filter_w"] == 1 and p["pad_h"] == 0 and p["pad_w"] == 0
    if (not direct or k != k16) and 2 * k16 > MAX_STACK_ROWS:
        return None  # the im2col rows live on the stack
    params: dict[str, object] = {
        key: p[key]
        for key in (
            "batches", "input_h", "input_w", "input_c", "filter_h", "filter_w", "output_h", "output_w",
            "output_c", "stride_h", "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w",
        )
    }
    params.update(
        input_zero_point=-int(p["input_offset"]), k16=k16, im2col=0 if direct else 1,
        output_offset=p["output_offset"], act_min=p["act_min"], act_max=p["act_max"], has_left=has_left,
        fast=fast, stream=ConstArray("int8_t", stream),
    )
    return KernelCall(
        function="utvm_conv_s8_mve",
        inputs=[call.inputs[0]],
        outputs=list(call.outputs),
        header=f"{HEADER_DIR}/conv.h",
        sources=[f"{SOURCE_DIR}/conv.c", f"{SOURCE_DIR}/gemm.c"],
        params_type="utvm_mve_conv_params",
        params=params,
        inplace=window_inplace(pair_lag(p)),
    )


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D

#: The most stack the depthwise kernel's planar band may take, bytes.
MAX_PLANE_BYTES = 768


@variant("DEPTHWISE_CONV_2D", "mve", "depthwise_conv_s8_mve")
def depthwise_conv_mve(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    operands = constant_operands(graph, call)
    if operands is None:
        return None
    weights, bias = operands
    f_h, f_w, out_c = int(p["filter_h"]), int(p["filter_w"]), int(p["output_c"])
    if f_h * f_w > 16:
        if p["input_c"] != 1:
            return None  # one gather holds at most 16 taps
        # One input channel: a convolution with depth_multiplier output channels (micro_speech's first layer).
        return _conv_call(call, weights.reshape(f_h * f_w, out_c).T, bias)
    in_w, out_w, out_h = int(p["input_w"]), int(p["output_w"]), int(p["output_h"])
    sh, sw, dh, dw = int(p["stride_h"]), int(p["stride_w"]), int(p["dilation_h"]), int(p["dilation_w"])
    pad_w = int(p["pad_w"])
    right = max(0, (out_w - 1) * sw + (f_w - 1) * dw + 1 - in_w - pad_w)
    plane_w = pad_w + in_w + right
    offsets = [ty * dh * plane_w + tx * dw for ty in range(f_h) for tx in range(f_w)]
    if max(offsets) > 255:
        return None  # gather offsets are bytes
    geometry = None
    for rows in range(out_h, 0, -1):
        geometry = _depthwise_layout(rows, out_h, out_w, out_c, plane_w, sh, sw, (f_h - 1) * dh + 1)
        if geometry is not None:
            break
    if geometry is None:
        return None

    taps = weights.reshape(f_h * f_w, out_c).T.astype(np.int64)  # [oc][tap]
    bias = np.zeros(out_c, np.int64) if bias is None else bias.astype(np.int64).reshape(-1)
    folded = bias + int(p["input_offset"]) * taps.sum(axis=1)
    mult, shift = channel_shifts(call, out_c)
    records = np.zeros((out_c, 32), np.int8)
    records[:, : f_h * f_w] = taps
    quant = wrap32(np.stack([folded, mult, np.maximum(shift, 0), np.maximum(-shift, 0)], axis=1)).astype("<i4")
    records[:, 16:] = quant.view(np.int8).reshape(out_c, 16)
    params: dict[str, object] = {
        key: p[key]
        for key in (
            "batches", "input_h", "input_w", "input_c", "output_h", "output_w", "output_c", "depth_multiplier",
            "stride_h", "stride_w", "pad_h", "pad_w",
        )
    }
    params.update(
        input_zero_point=-int(p["input_offset"]), plane_w=plane_w, band_rows=geometry["band_rows"],
        plane_rows=geometry["plane_rows"], plane_bytes=geometry["plane_bytes"],
        lane_in=geometry["lane_in"], lane_out=geometry["lane_out"], lanes=geometry["lanes"],
        groups_full=geometry["groups_full"], groups_last=geometry["groups_last"],
        output_offset=p["output_offset"], act_min=p["act_min"], act_max=p["act_max"],
        offsets=ConstArray("uint8_t", np.asarray(offsets + [0] * (16 - len(offsets)), np.uint8)),
        stream=ConstArray("int8_t", records.reshape(-1)),
        schedule=ConstArray("int32_t", geometry["schedule"]),
    )
    return KernelCall(
        function="utvm_depthwise_conv_s8_mve",
        inputs=[call.inputs[0]],
        outputs=list(call.outputs),
        header=f"{HEADER_DIR}/depthwise_conv.h",
        sources=[f"{SOURCE_DIR}/depthwise_conv.c"],
        params_type="utvm_mve_depthwise_conv_params",
        params=params,
        inplace=window_inplace(_depthwise_lag(p, geometry["band_rows"])),
    )


def _depthwise_lag(p: dict, band_rows: int) -> int | None:
    """How far below its input the kernel's output may start (core/ops/overlap.py).

    The kernel works channel by channel inside a band, copying the channel's
    input rows into its plane before writing that channel's outputs: channel
    planes (with one output channel per input channel), else bands as units.
    """
    lag = channel_plane_lag(p, band_rows)
    return band_lag(p, band_rows) if lag is None else lag


def _depthwise_layout(
    band_rows: int, out_h: int, out_w: int, out_c: int, plane_w: int, sh: int, sw: int, window_h: int
) -> dict | None:
    """Bands of band_rows output rows: the plane's size and the group schedule, or None if it does not fit.

    Groups of 4 outputs run along x or along y, whichever gives fewer groups;
    a line whose length is not a multiple of 4 ends with a group overlapping
    the one before it, and lines shorter than 4 have one group that stores
    its first `lanes` outputs.
    """
    bands = [min(band_rows, out_h - y) for y in range(0, out_h, band_rows)]
    plane_rows = (band_rows - 1) * sh + window_h
    best = None
    for vertical in (0, 1):
        lane_in = sh * plane_w if vertical else sw
        lane_out = out_w * out_c if vertical else out_c
        line_in = sw if vertical else sh * plane_w
        line_out = out_c if vertical else out_w * out_c

        def groups(rows: int) -> list[tuple[int, int]]:
            length, lines = (rows, out_w) if vertical else (out_w, rows)
            starts = list(range(0, length - 3, 4))
            if length % 4 and length > 4:
                starts.append(length - 4)
            if length < 4:
                starts = [0]
            return [(line * line_in + k * lane_in, line * line_out + k * lane_out)
                    for line in range(lines) for k in starts]

        full = groups(band_rows)
        last = groups(bands[-1]) if bands[-1] != band_rows else []
        lengths = {b if vertical else out_w for b in bands}
        if min(lengths) >= 4:
            lanes = 4
        elif len(lengths) == 1:
            lanes = min(lengths)
        else:
            continue  # lines of different lengths below 4: not covered
        # Lanes past a short line read up to 3 * lane_in past the plane: room for them.
        plane_bytes = plane_rows * plane_w + (3 * lane_in if lanes < 4 else 0)
        if plane_bytes > MAX_PLANE_BYTES:
            continue
        cost = len(full) * (len(bands) - (1 if last else 0)) + len(last)
        if best is None or cost < best["cost"]:
            best = dict(
                cost=cost, lane_in=lane_in, lane_out=lane_out, lanes=lanes, plane_rows=plane_rows,
                plane_bytes=plane_bytes, band_rows=band_rows, groups_full=len(full), groups_last=len(last),
                schedule=np.asarray(full + last, np.int32).reshape(-1),
            )
    return best
