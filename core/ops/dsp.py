"""Variants for cores with the Armv7E-M / Armv8-M DSP extension (feature "dsp").

Each variant takes the reference KernelCall of an operator (core/ops/conv.py,
...) and returns a call of a kernel in core/runtime/src/kernels/dsp/ with
everything that can be precomputed done here, or None where the kernel does
not apply (the reference kernel then runs). Outputs stay bit-exact with the
reference; what the compiler proves or prepares:

* Requantization in 4 instructions plus an SSAT (see utvm/kernels/dsp/dsp.h),
  the output offset folded into its round term: exact while the accumulator
  is bounded, so the range of every channel's accumulator over all possible
  int8 inputs is computed from its weights and bias, and the variant is used
  only where the fast form provably equals TFLM's for the whole range. A
  channel whose output is the same over its range (dead channels: tiny
  scale, huge bias) becomes a constant.
* Weights reordered into the order the kernel reads them: SMLAD takes int16
  pairs, SXTB16 makes them from bytes 0 and 2 (and, rotated, 1 and 3) of a
  word. When the input is extended the same way (fully connected, conv) the
  two permutations cancel and the bytes stay in their natural order inside a
  word; the words of several output channels are interleaved so that one
  pointer walks them all. Depthwise weights (few) are stored as int16 pairs
  (c0, c2), (c1, c3): SMLABB/SMLATT take them as they are. With one input
  channel (a depth multiplier making all the output channels, as in the
  first layer of micro_speech and person_detect) a window row is consecutive
  bytes: SXTAB16 makes tap pairs of them, and the weights are int16 tap
  pairs of each channel for SMLAD.
* The input offset folded into the bias where the kernel multiplies the raw
  input: bias + input_offset * sum(weights), exact in wrapping int32
  (windows inside the input; on the border the kernels add the offset to
  each input with SXTAB16, at no cost, and skip the padded taps).
* ADD/SUB: each input's rescaling (offset, shift by 20, multiply, round) is a
  256-entry table, computed here with the reference arithmetic.
* Channel counts that are not a multiple of 4 (depthwise, MAX_POOL): the last
  group of 4 is the last 4 channels, recomputing to the same values those it
  shares with the group before, so every word read stays inside its pixel.

Where a variant returns None the reference kernel runs: grouped or dilated
convolutions, fully connected weights with a zero point, broadcasting
ADD/SUB, MAX_POOL with fewer than 4 channels, an effective output scale of 1
or more (no right shift), and any layer whose requantization cannot be
proven exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Operator
from ..quant import multiply_by_quantized_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul
from .base import ConstArray, KernelCall, variant
from .conv import window_inplace
from .overlap import pair_lag, pixel_lag, units_lag

INT32_MAX = (1 << 31) - 1

__all__ = ["FastQuant", "fast_quant", "accumulator_bounds"]


def _wrap32(x: np.ndarray) -> np.ndarray:
    """int64 values wrapped to int32, as C's unsigned arithmetic does."""
    x = np.asarray(x, dtype=np.int64)
    return (((x + (1 << 31)) % (1 << 32)) - (1 << 31)).astype(np.int32)


def accumulator_bounds(
    weights: np.ndarray, bias: np.ndarray | None, input_offset: int, skippable: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest accumulator of each output channel over every int8 input.

    ``weights`` is [channels, taps]: the accumulator is bias + sum over taps of
    w * (x + input_offset) with x in [-128, 127]; with ``skippable`` any tap
    may also contribute 0 (a padded position).
    """
    w = np.asarray(weights, dtype=np.int64)
    lo_x, hi_x = -128 + input_offset, 127 + input_offset
    a, b = w * lo_x, w * hi_x
    hi, lo = np.maximum(a, b), np.minimum(a, b)
    if skippable:
        hi, lo = np.maximum(hi, 0), np.minimum(lo, 0)
    base = np.zeros(w.shape[0], dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    return base + lo.sum(axis=1), base + hi.sum(axis=1)


@dataclass
class FastQuant:
    """Per-channel {multiplier, round, shift} triples for utvm_dsp_requantize."""

    triples: np.ndarray  # [channels, 3] int32

    def params(self) -> dict[str, object]:
        """``quant`` (one triple when all channels share it) and ``quant_stride``."""
        t = self.triples
        if (t == t[:1]).all():
            return dict(quant_stride=0, quant=ConstArray("int32_t", t[:1].reshape(-1).copy()))
        return dict(quant_stride=3, quant=ConstArray("int32_t", t.reshape(-1).copy()))


def fast_quant(
    multipliers: np.ndarray, shifts: np.ndarray, output_offset: int, bounds: tuple[np.ndarray, np.ndarray]
) -> FastQuant | None:
    """The fast requantization of channels whose accumulators lie within ``bounds`` (lo, hi), or None.

    Each channel gets {multiplier, round, shift} for utvm_dsp_requantize
    (utvm/kernels/dsp/dsp.h), the output offset folded into round. A channel
    whose result is the same for every accumulator within its bounds
    (MultiplyByQuantizedMultiplier is monotonic) becomes a constant:
    multiplier 0, shift 1, round 2 * (result + offset) + 1. For the others it
    must be provable that the fast form equals MultiplyByQuantizedMultiplier
    plus the offset for every accumulator within the bounds; None where it is
    not for some channel: a left shift (an effective scale of 1 or more: no
    right shift to round with), an accumulator whose double could overflow,
    or a sum that could leave int32.
    """
    lo_acc, hi_acc = (np.asarray(b, dtype=np.int64).reshape(-1) for b in bounds)
    n = len(lo_acc)
    m = np.asarray(multipliers, dtype=np.int64).reshape(-1)
    s = np.asarray(shifts, dtype=np.int64).reshape(-1)
    if m.size == 1 and n > 1:
        m, s = np.repeat(m, n), np.repeat(s, n)
    rows: list[tuple[int, int, int]] = []
    for c in range(n):
        mult, shift = int(m[c]), int(s[c])
        lo, hi = int(lo_acc[c]), int(hi_acc[c])
        bound = max(abs(lo), abs(hi))
        if mult < 0:
            return None
        if bound << max(shift, 0) <= INT32_MAX:
            ends = multiply_by_quantized_multiplier(np.array([lo, hi]), mult, shift)
            if ends[0] == ends[1]:
                rows.append((0, 2 * (int(ends[0]) + output_offset) + 1, 1))  # a constant
                continue
        if shift >= 0 or 2 * bound > INT32_MAX:
            return None
        right = -shift
        x_bound = (bound * mult + (1 << 30)) >> 31
        rnd = (1 << (right - 1)) + (output_offset << right)
        if x_bound + abs(rnd) + 1 > INT32_MAX:
            return None
        rows.append((mult, rnd, right))
    return FastQuant(triples=np.asarray(rows, dtype=np.int64).reshape(n, 3).astype(np.int32))


def _const(graph: Graph, index: int) -> np.ndarray | None:
    if index < 0:
        return None
    t = graph.tensors[index]
    return None if t.data is None else np.asarray(t.data)


def _act_suffix(params: dict) -> str:
    return "_full" if params["act_min"] == -128 and params["act_max"] == 127 else ""


# --------------------------------------------------------------------------- FULLY_CONNECTED


#: Output rows the fully connected kernel computes together.
FC_ROWS = 6


def fc_weights_layout(w: np.ndarray) -> np.ndarray:
    """[rows, depth] int8 -> the order utvm_dsp_fully_connected_s8 reads (utvm/kernels/dsp/fully_connected.h)."""
    rows, depth = w.shape
    padded = -(-depth // 4) * 4
    wp = np.zeros((rows, padded), dtype=np.int8)
    wp[:, :depth] = w
    groups = rows // FC_ROWS
    parts = []
    if groups:
        g = wp[: groups * FC_ROWS].reshape(groups, FC_ROWS, padded // 4, 4).transpose(0, 2, 1, 3)
        parts.append(g.reshape(-1))
    parts.append(wp[groups * FC_ROWS :].reshape(-1))
    return np.concatenate(parts).astype(np.int8)


@variant("FULLY_CONNECTED", "dsp", "fully_connected_s8_dsp")
def fully_connected_dsp(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    if p["weights_offset"] != 0:
        return None
    w = _const(graph, call.inputs[1])
    if w is None or (call.inputs[2] >= 0 and _const(graph, call.inputs[2]) is None):
        return None
    rows, depth = p["output_depth"], p["accum_depth"]
    w = w.reshape(rows, depth).astype(np.int64)
    bias = _const(graph, call.inputs[2])
    bias = np.zeros(rows, dtype=np.int64) if bias is None else bias.reshape(-1).astype(np.int64)
    quant = fast_quant(p["multiplier"].data, p["shift"].data, p["output_offset"],
                       accumulator_bounds(w, bias, p["input_offset"], skippable=False))
    if quant is None:
        return None
    folded = _wrap32(bias + p["input_offset"] * w.sum(axis=1))
    params: dict[str, object] = dict(
        batches=p["batches"], accum_depth=depth, output_depth=rows,
        act_min=p["act_min"], act_max=p["act_max"],
    )
    q = quant.params()
    params["quant_stride"] = q["quant_stride"]
    params["weights"] = ConstArray("int8_t", fc_weights_layout(w.astype(np.int8)))
    params["bias"] = ConstArray("int32_t", folded)
    params["quant"] = q["quant"]
    return KernelCall(
        function="utvm_dsp_fully_connected_s8" + _act_suffix(p),
        inputs=[call.inputs[0]],
        outputs=list(call.outputs),
        header="utvm/kernels/dsp/fully_connected.h",
        sources=["kernels/dsp/fully_connected.c"],
        params_type="utvm_dsp_fully_connected_params",
        params=params,
    )


# --------------------------------------------------------------------------- CONV_2D

#: Largest window (filter_h * filter_w * input_c, padded to 4) the im2col kernel copies: its two
#: columns live on the stack.
IM2COL_MAX_DEPTH = 256


def conv_weights_layout(w: np.ndarray, depth: int) -> np.ndarray:
    """[channels, K] int8 -> the order utvm_dsp_conv_s8 reads: K padded with zeros to ``depth``, channel
    pairs interleaved by 4-byte slices, an odd last channel as it is (utvm/kernels/dsp/conv.h)."""
    n, k = w.shape
    wp = np.zeros((n, depth), dtype=np.int8)
    wp[:, :k] = w
    pairs = n // 2
    parts = []
    if pairs:
        parts.append(wp[: 2 * pairs].reshape(pairs, 2, depth // 4, 4).transpose(0, 2, 1, 3).reshape(-1))
    parts.append(wp[2 * pairs :].reshape(-1))
    return np.concatenate(parts).astype(np.int8)


def conv_records(folded: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """Per channel pair {folded bias 2p, 2p+1, triple 2p, triple 2p+1}; an odd last channel {bias, triple}."""
    n = len(folded)
    pairs = n // 2
    parts = []
    if pairs:
        b = np.asarray(folded[: 2 * pairs], dtype=np.int64).reshape(pairs, 2)
        q = np.asarray(triples[: 2 * pairs], dtype=np.int64).reshape(pairs, 6)
        parts.append(np.concatenate([b, q], axis=1).reshape(-1))
    if n % 2:
        parts.append(np.concatenate([[int(folded[-1])], np.asarray(triples[-1], dtype=np.int64)]))
    return np.concatenate(parts).astype(np.int32)


def _requant_inputs(p: dict, w2d: np.ndarray, bias: np.ndarray | None, skippable: bool) -> FastQuant | None:
    return fast_quant(p["multiplier"].data, p["shift"].data, p["output_offset"],
                      accumulator_bounds(w2d, bias, p["input_offset"], skippable))


@variant("CONV_2D", "dsp", "conv_s8_dsp")
def conv_dsp(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    if p["filter_c"] != p["input_c"] or p["dilation_h"] != 1 or p["dilation_w"] != 1:
        return None
    w = _const(graph, call.inputs[1])
    if w is None or (call.inputs[2] >= 0 and _const(graph, call.inputs[2]) is None):
        return None
    out_c, in_c = p["output_c"], p["input_c"]
    w2d = w.reshape(out_c, -1).astype(np.int64)
    k = w2d.shape[1]
    depth = -(-k // 4) * 4
    in_place = in_c % 4 == 0
    if not in_place and depth > IM2COL_MAX_DEPTH:
        return None
    bias = _const(graph, call.inputs[2])
    bias = np.zeros(out_c, dtype=np.int64) if bias is None else bias.reshape(-1).astype(np.int64)
    padded = p["pad_h"] > 0 or p["pad_w"] > 0 or _window_overhangs(p)
    quant = _requant_inputs(p, w2d, bias, skippable=padded)
    if quant is None:
        return None
    folded = _wrap32(bias + p["input_offset"] * w2d.sum(axis=1))
    params: dict[str, object] = dict(
        batches=p["batches"], input_h=p["input_h"], input_w=p["input_w"], input_c=in_c,
        filter_h=p["filter_h"], filter_w=p["filter_w"],
        output_h=p["output_h"], output_w=p["output_w"], output_c=out_c,
        stride_h=p["stride_h"], stride_w=p["stride_w"], pad_h=p["pad_h"], pad_w=p["pad_w"],
        depth=depth, input_offset=p["input_offset"],
        act_min=p["act_min"], act_max=p["act_max"],
        weights=ConstArray("int8_t", conv_weights_layout(w2d.astype(np.int8), depth)),
        records=ConstArray("int32_t", conv_records(folded, quant.triples)),
        bias=ConstArray("int32_t", _wrap32(bias)),
    )
    return KernelCall(
        function=("utvm_dsp_conv_s8" if in_place else "utvm_dsp_conv_s8_im2col") + _act_suffix(p),
        inputs=[call.inputs[0]],
        outputs=list(call.outputs),
        header="utvm/kernels/dsp/conv.h",
        sources=["kernels/dsp/conv.c"],
        params_type="utvm_dsp_conv_params",
        params=params,
        inplace=window_inplace(units_lag(p, conv_units(p)) if in_place else pair_lag(p)),
    )


def conv_units(p: dict) -> list[list[int]]:
    """The output pixels of utvm_dsp_conv_s8 in the groups it computes them, in order.

    Windows inside the input go in pairs (a pending one waits for the next
    inside one, across border pixels and rows); border windows go alone.
    """
    units: list[list[int]] = []
    pending: int | None = None
    for pos in range(p["output_h"] * p["output_w"]):
        iy0 = pos // p["output_w"] * p["stride_h"] - p["pad_h"]
        ix0 = pos % p["output_w"] * p["stride_w"] - p["pad_w"]
        if 0 <= iy0 <= p["input_h"] - p["filter_h"] and 0 <= ix0 <= p["input_w"] - p["filter_w"]:
            if pending is None:
                pending = pos
            else:
                units.append([pending, pos])
                pending = None
        else:
            units.append([pos])
    if pending is not None:
        units.append([pending])
    return units


def _window_overhangs(p: dict) -> bool:
    """Whether some window reaches past the bottom or right edge of the input (SAME padding's extra row)."""
    last_y = (p["output_h"] - 1) * p["stride_h"] - p["pad_h"] + (p["filter_h"] - 1) * p["dilation_h"]
    last_x = (p["output_w"] - 1) * p["stride_w"] - p["pad_w"] + (p["filter_w"] - 1) * p["dilation_w"]
    return last_y >= p["input_h"] or last_x >= p["input_w"]


# --------------------------------------------------------------------------- DEPTHWISE_CONV_2D

#: Largest window copy (filter_h * 4 * ceil(filter_w / 4) bytes) the one-input-channel depthwise kernel keeps
#: on its stack; larger filters take the kernel for any depth multiplier.
DW_C1_MAX_WINDOW = 512


def depthwise_weights_layout(w: np.ndarray) -> np.ndarray:
    """[taps, channels] int8 (channels >= 4) -> int16 per group of 4 channels, per tap (c0, c2, c1, c3), the
    last group the last 4 channels when channels % 4 != 0 (utvm/kernels/dsp/depthwise_conv.h)."""
    taps, ch = w.shape
    cols = depthwise_channel_groups(ch)
    g = w.astype(np.int16)[:, cols].reshape(taps, -1, 4)[:, :, [0, 2, 1, 3]]
    return g.transpose(1, 0, 2).reshape(-1)


def depthwise_channel_groups(ch: int) -> np.ndarray:
    """The channels of utvm_dsp_depthwise_conv_s8's groups of 4, in order (the last 4 again for a tail)."""
    cols = list(range(ch - ch % 4))
    if ch % 4:
        cols += list(range(ch - 4, ch))
    return np.asarray(cols, dtype=np.int64)


def depthwise_c1_weights_layout(w: np.ndarray, filter_h: int, filter_w: int) -> np.ndarray:
    """[taps, channels] int8 of a one-input-channel depthwise -> the int16 order of utvm_dsp_depthwise_conv_s8_c1:
    per group of 4 channels (zeros past the last), per filter row, per quad of 4 taps (zeros past filter_w),
    per channel, (t0, t2, t1, t3)."""
    taps, ch = w.shape
    quads = -(-filter_w // 4)
    groups = -(-ch // 4)
    full = np.zeros((filter_h, 4 * quads, 4 * groups), dtype=np.int16)
    full[:, :filter_w, :ch] = w.reshape(filter_h, filter_w, ch)
    # [row, quad, tap in quad, group, channel] -> [group, row, quad, channel, tap in quad as t0 t2 t1 t3]
    g = full.reshape(filter_h, quads, 4, groups, 4)[:, :, [0, 2, 1, 3]]
    return g.transpose(3, 0, 1, 4, 2).reshape(-1)


def depthwise_mult_group(dm: int) -> int:
    """Output channels per group of utvm_dsp_depthwise_conv_s8_mult: 4, or 2 for depth multipliers 1 and 2."""
    return 4 if dm > 2 else 2


def depthwise_mult_order(in_c: int, dm: int) -> np.ndarray:
    """The output channel of each lane of utvm_dsp_depthwise_conv_s8_mult's groups, in order; -1 for padding."""
    group = depthwise_mult_group(dm)
    per_ic = -(-dm // group) * group
    lanes = np.arange(per_ic)
    return np.concatenate([np.where(lanes < dm, ic * dm + lanes, -1) for ic in range(in_c)])


def _lanes(values: np.ndarray, order: np.ndarray, pad) -> np.ndarray:
    """values[order] along the first axis, ``pad`` where order is -1."""
    out = np.asarray(values)[np.maximum(order, 0)].copy()
    out[order < 0] = pad
    return out


@variant("DEPTHWISE_CONV_2D", "dsp", "depthwise_conv_s8_dsp")
def depthwise_conv_dsp(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    ch, in_c, dm = p["output_c"], p["input_c"], p["depth_multiplier"]
    if p["dilation_h"] != 1 or p["dilation_w"] != 1:
        return None
    w = _const(graph, call.inputs[1])
    if w is None or (call.inputs[2] >= 0 and _const(graph, call.inputs[2]) is None):
        return None
    taps = p["filter_h"] * p["filter_w"]
    w2d = w.reshape(taps, ch).astype(np.int64)
    bias = _const(graph, call.inputs[2])
    bias = np.zeros(ch, dtype=np.int64) if bias is None else bias.reshape(-1).astype(np.int64)
    quant = _requant_inputs(p, w2d.T, bias, skippable=True)
    if quant is None:
        return None
    triples = quant.triples.astype(np.int64)
    w8 = w2d.astype(np.int8)
    span = 4 * -(-p["filter_w"] // 4)
    group = 4
    if in_c == 1 and p["filter_h"] * span <= DW_C1_MAX_WINDOW:
        kind = "_c1"
        weights = depthwise_c1_weights_layout(w8, p["filter_h"], p["filter_w"])
        order = np.arange(-(-ch // 4) * 4)
        order[order >= ch] = -1
    elif dm == 1 and ch >= 4:
        kind = "" if ch % 4 == 0 else "_tail"
        weights = depthwise_weights_layout(w8)
        order = depthwise_channel_groups(ch)
    else:
        kind = "_mult"
        group = depthwise_mult_group(dm)
        order = depthwise_mult_order(in_c, dm)
        weights = _lanes(w8.T, order, 0).astype(np.int16).T.reshape(taps, -1, group)  # [taps, groups, lanes]
        weights = weights.transpose(1, 0, 2).reshape(-1)
    params: dict[str, object] = dict(
        batches=p["batches"], input_h=p["input_h"], input_w=p["input_w"], channels=ch,
        filter_h=p["filter_h"], filter_w=p["filter_w"], output_h=p["output_h"], output_w=p["output_w"],
        stride_h=p["stride_h"], stride_w=p["stride_w"], pad_h=p["pad_h"], pad_w=p["pad_w"],
        input_offset=p["input_offset"],
        act_min=p["act_min"], act_max=p["act_max"],
        weights=ConstArray("int16_t", np.asarray(weights, dtype=np.int16)),
    )
    lane_bias = _wrap32(_lanes(bias, order, 0)).astype(np.int64)
    lane_quant = _lanes(triples, order, (0, 1, 1))
    if kind in ("", "_tail"):
        params_type = "utvm_dsp_depthwise_conv_params"
        params["bias"] = ConstArray("int32_t", lane_bias.astype(np.int32))
        params["quant"] = ConstArray("int32_t", lane_quant.astype(np.int32).reshape(-1))
    else:  # per group {its biases, their triples}
        params_type = "utvm_dsp_depthwise_mult_params"
        params.update(input_c=in_c, depth_multiplier=dm, group=group)
        records = np.concatenate([lane_bias.reshape(-1, group), lane_quant.reshape(-1, 3 * group)], axis=1)
        params["records"] = ConstArray("int32_t", records.reshape(-1).astype(np.int32))
    return KernelCall(
        function="utvm_dsp_depthwise_conv_s8" + kind + _act_suffix(p),
        inputs=[call.inputs[0]],
        outputs=list(call.outputs),
        header="utvm/kernels/dsp/depthwise_conv.h",
        sources=["kernels/dsp/depthwise_conv.c"],
        params_type=params_type,
        params=params,
        inplace=window_inplace(pixel_lag(p)),  # all three walk the output pixel by pixel
    )


# --------------------------------------------------------------------------- ADD, SUB


def addsub_table(offset: int, left_shift: int, multiplier: int, shift: int) -> np.ndarray:
    """rdbpot(srdhm((x + offset) << left_shift, multiplier), -shift) for x = -128 .. 127 (AddFunc's input half)."""
    x = np.arange(-128, 128, dtype=np.int64)
    shifted = (x + offset) * (1 << left_shift)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), -shift)


@variant("ADD", "dsp", "add_s8_dsp")
@variant("SUB", "dsp", "sub_s8_dsp")
def addsub_dsp(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    if call.function not in ("utvm_add_s8", "utvm_sub_s8") or p["broadcast"]:
        return None
    t1 = addsub_table(p["input1_offset"], p["left_shift"], p["input1_multiplier"], p["input1_shift"])
    t2 = addsub_table(p["input2_offset"], p["left_shift"], p["input2_multiplier"], p["input2_shift"])
    if call.function == "utvm_sub_s8":
        t2 = -t2
    raw_lo, raw_hi = int(t1.min() + t2.min()), int(t1.max() + t2.max())
    if max(abs(raw_lo), abs(raw_hi), int(np.abs(t1).max()), int(np.abs(t2).max())) > INT32_MAX:
        return None
    quant = fast_quant(np.array([p["output_multiplier"]]), np.array([p["output_shift"]]), p["output_offset"],
                       (np.array([raw_lo]), np.array([raw_hi])))
    if quant is None:
        return None
    m, rnd, shift = (int(v) for v in quant.triples[0])
    params: dict[str, object] = dict(
        size=p["size"], multiplier=m, round=rnd, shift=shift,
        act_min=p["act_min"], act_max=p["act_max"],
        table1=ConstArray("int32_t", t1.astype(np.int32)),
        table2=ConstArray("int32_t", t2.astype(np.int32)),
    )
    return KernelCall(
        function="utvm_dsp_add_s8" + _act_suffix(p),
        inputs=list(call.inputs),
        outputs=list(call.outputs),
        header="utvm/kernels/dsp/elementwise.h",
        sources=["kernels/dsp/elementwise.c"],
        params_type="utvm_dsp_add_params",
        params=params,
        inplace=call.inplace,
    )


# --------------------------------------------------------------------------- AVERAGE_POOL_2D


@variant("AVERAGE_POOL_2D", "dsp", "avg_pool_s8_dsp")
def avg_pool_dsp(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    if call.function != "utvm_avg_pool_s8" or p["depth"] % 4 or p["filter_height"] * p["filter_width"] > 255:
        return None
    return _pool_call(call, "utvm_dsp_avg_pool_s8")


def _pool_call(call: KernelCall, function: str) -> KernelCall:
    """The reference pooling call with ``function`` (kernels/dsp/pooling.c) instead: same parameters."""
    return KernelCall(
        function=function,
        inputs=list(call.inputs),
        outputs=list(call.outputs),
        header="utvm/kernels/dsp/pooling.h",
        sources=["kernels/dsp/pooling.c"],
        params_type=call.params_type,
        params=dict(call.params),
        inplace=call.inplace,
    )


# --------------------------------------------------------------------------- MAX_POOL_2D


@variant("MAX_POOL_2D", "dsp", "max_pool_s8_dsp")
def max_pool_dsp(op: Operator, graph: Graph, call: KernelCall) -> KernelCall | None:
    p = call.params
    if call.function != "utvm_max_pool_s8" or p["depth"] < 4:
        return None
    full = p["activation_min"] == -128 and p["activation_max"] == 127
    return _pool_call(call, "utvm_dsp_max_pool_s8" + ("_full" if full else ""))

