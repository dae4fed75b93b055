"""How far a windowed kernel's output must start before its input to run in place.

A kernel that walks its output in order and reads only input near the output
it is writing can share memory with its input: the output starts ``lag`` bytes
*before* the input (its bytes then overwrite input nobody reads any more). The
kernel is seen as a sequence of *units* (a pixel, a pair of pixels, a band of
rows...) in execution order; a unit may read and write in any order inside
itself. What it writes must stay below every input byte still to be read, its
own included:

    lag >= write_end[u] - min(read_start[v] for v >= u)     for every unit u

with both measured in bytes from the start of their tensor. The smallest such
lag, rounded up to the arena alignment, is what a lowering declares in
:class:`~utvm.ops.base.InPlace`; it may be negative (an output that shrinks
fast enough may start after its input does). The planner then places the
output exactly ``lag`` bytes below the input, or apart from it.

The geometry is the reference conv/depthwise params dict (core/ops/conv.py).
Batches other than 1 are not handled (None).
"""

from __future__ import annotations

from math import gcd
from typing import Mapping

import numpy as np

#: Lags are multiples of this, so every tensor stays aligned in the arena.
LAG_ALIGNMENT = 16

_NO_READ = np.iinfo(np.int64).max


def window_read_starts(p: Mapping[str, int]) -> np.ndarray:
    """The first input byte each output pixel's window reads (raster order), or a huge value if none."""
    oy = np.arange(p["output_h"], dtype=np.int64)
    ox = np.arange(p["output_w"], dtype=np.int64)

    def first_inside(pos: np.ndarray, stride: int, pad: int, dil: int, taps: int, size: int) -> np.ndarray:
        start = pos * stride - pad
        skip = np.where(start < 0, (-start + dil - 1) // dil, 0)
        first = start + skip * dil
        return np.where((skip < taps) & (first < size), first, -1)

    iy = first_inside(oy, p["stride_h"], p["pad_h"], p["dilation_h"], p["filter_h"], p["input_h"])
    ix = first_inside(ox, p["stride_w"], p["pad_w"], p["dilation_w"], p["filter_w"], p["input_w"])
    reads = (iy[:, None] * p["input_w"] + ix[None, :]) * p["input_c"]
    inside = (iy[:, None] >= 0) & (ix[None, :] >= 0)
    return np.where(inside, reads, _NO_READ).reshape(-1)


def lag_of_units(write_ends: np.ndarray, read_starts: np.ndarray) -> int:
    """The smallest aligned lag for units with these write ends and read starts (execution order)."""
    w = np.asarray(write_ends, dtype=np.int64)
    r = np.minimum.accumulate(np.asarray(read_starts, dtype=np.int64)[::-1])[::-1]
    need = int(np.max(w - np.minimum(r, w.max())))
    return -((-need) // LAG_ALIGNMENT) * LAG_ALIGNMENT


def _units(p: Mapping[str, int], groups: list[np.ndarray]) -> int:
    """The lag of units that each write and read the output pixels listed in one array of ``groups``."""
    reads = window_read_starts(p)
    out_c = p["output_c"]
    write_ends = [(int(g.max()) + 1) * out_c for g in groups]
    read_starts = [int(reads[g].min()) for g in groups]
    return lag_of_units(np.array(write_ends), np.array(read_starts))


def pixel_lag(p: Mapping[str, int]) -> int | None:
    """One output pixel at a time, in raster order (the reference kernels, the DSP depthwise)."""
    if p["batches"] != 1:
        return None
    reads = window_read_starts(p)
    pixels = np.arange(reads.size, dtype=np.int64)
    return lag_of_units((pixels + 1) * p["output_c"], reads)


def pair_lag(p: Mapping[str, int]) -> int | None:
    """Two output pixels at a time (the last one alone when their number is odd), in raster order."""
    if p["batches"] != 1:
        return None
    n = p["output_h"] * p["output_w"]
    return _units(p, [np.arange(k, min(k + 2, n)) for k in range(0, n, 2)])


def band_lag(p: Mapping[str, int], rows: int) -> int | None:
    """Bands of ``rows`` output rows at a time, top to bottom."""
    if p["batches"] != 1:
        return None
    w = p["output_w"]
    h = p["output_h"]
    return _units(p, [np.arange(y * w, min(y + rows, h) * w) for y in range(0, h, rows)])


def units_lag(p: Mapping[str, int], groups: list[list[int]]) -> int | None:
    """Units given as lists of output pixels, in execution order (kernels with their own order)."""
    if p["batches"] != 1:
        return None
    return _units(p, [np.asarray(g, dtype=np.int64) for g in groups])


def channel_plane_lag(p: Mapping[str, int], rows: int) -> int | None:
    """Bands of ``rows`` output rows, each one channel at a time, for one output channel per input channel.

    Inside a band a channel's input rows are all read before that channel's
    outputs are written (a depthwise kernel copying the channel's plane). A
    lag that is a multiple of the channel count puts every output byte on an
    input byte of its own channel, so what matters is only that no later band
    reads it: the least such lag (also a multiple of the alignment). None for
    other channel counts or batches.
    """
    if p["batches"] != 1 or p["output_c"] != p["input_c"]:
        return None
    c, w_in, h_in, w_out, h_out = p["input_c"], p["input_w"], p["input_h"], p["output_w"], p["output_h"]
    window_h = (p["filter_h"] - 1) * p["dilation_h"] + 1
    last_band = np.full(h_in, -1)  # the last band reading each input row
    for band, y0 in enumerate(range(0, h_out, rows)):
        y1 = min(y0 + rows, h_out) - 1
        lo = max(y0 * p["stride_h"] - p["pad_h"], 0)
        hi = min(y1 * p["stride_h"] - p["pad_h"] + window_h - 1, h_in - 1)
        if lo <= hi:
            last_band[lo : hi + 1] = band
    pixels = np.arange(h_out * w_out)
    out_band = pixels // w_out // rows
    step = LAG_ALIGNMENT // gcd(c, LAG_ALIGNMENT)  # pixels, so that the lag is a multiple of both
    for k in range(0, pixels.size + step, step):
        under = pixels - k  # the input pixel each output pixel lands on
        inside = under >= 0
        if np.all(last_band[under[inside] // w_in] <= out_band[inside]):
            return k * c
    return None
