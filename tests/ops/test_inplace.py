"""Windowed kernels run in place: their output overlaps their input in the arena, ``lag`` bytes below it.

Two checks: the lags of core/ops/overlap.py against a byte-by-byte simulation
of the unit order they describe (the lag works, 16 bytes less does not), and
models whose convolutions read and write the arena (``behind_copies``) built
for the host with the reference, DSP and MVE kernels (their portable forms
walk the output in the same order as on the board): the planner overlaps
them, and every output is TFLM's; then the same models side by side on the
emulated Cortex-M4 (DSP kernels) and Cortex-M55 (MVE kernels).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.ops.base import lower
from utvm.ops.dsp import conv_units
from utvm.ops.overlap import LAG_ALIGNMENT, band_lag, channel_plane_lag, pair_lag, pixel_lag, units_lag
from utvm.frontend.tflite_reader import read_tflite

from . import test_conv
from .support import assert_same, behind_copies, merge_models, requires_arm_tools, requires_tflm, run_on_board

TARGETS = {
    "reference": "host",
    "dsp": {"cpu": "cortex-m4", "features": ["dsp"], "board": "inplace-test"},
    "mve": {"cpu": "cortex-m55", "features": ["dsp", "fpu", "mve", "mve.fp"], "board": "inplace-test"},
}

C = test_conv.Case(h=7, w=6, cin=8, cout=8)
D = replace(C, kind="DEPTHWISE_CONV_2D")
CASES = [
    C,  # 3x3 SAME, inside windows in pairs (DSP)
    replace(C, stride=(2, 2)),
    replace(C, kh=1, kw=1, cout=16),  # a growing pointwise convolution
    replace(C, kh=1, kw=1, cin=16, cout=8),
    replace(C, cin=3),  # DSP: im2col
    replace(C, kh=5, kw=5, h=9, w=8, padding="VALID"),
    replace(C, dilation=(2, 2), h=9),  # the reference kernel
    D,
    replace(D, stride=(2, 2), h=8, w=8),
    replace(D, kh=5, kw=5, h=9, w=9),
    replace(D, h=40, w=40),  # MVE: bands of rows (the plane of all 40 rows would not fit)
    replace(D, cin=4, dm=2),  # DSP: any depth multiplier, a byte a tap
    replace(D, cin=6),  # DSP: a last group of the last 4 channels
    replace(D, cin=1, dm=8, stride=(2, 2), h=9, w=9),  # DSP: one input channel, tap pairs
    replace(D, cin=1, dm=4, kh=5, kw=8, h=9, w=12),  # DSP: one input channel, 2 quads, border windows copied
]


def _params(case: test_conv.Case) -> dict:
    model, _, _ = test_conv.build(case)
    graph = read_tflite(model)
    return lower(graph.operators[0], graph).params


# --------------------------------------------------------------------------- the lags, simulated


def _window_bytes(p: dict, pixel: int) -> set[int]:
    """Every input byte the output pixel's window reads (all channels of its taps inside the image)."""
    oy, ox = divmod(pixel, p["output_w"])
    taken = set()
    for ky in range(p["filter_h"]):
        iy = oy * p["stride_h"] - p["pad_h"] + ky * p["dilation_h"]
        for kx in range(p["filter_w"]):
            ix = ox * p["stride_w"] - p["pad_w"] + kx * p["dilation_w"]
            if 0 <= iy < p["input_h"] and 0 <= ix < p["input_w"]:
                start = (iy * p["input_w"] + ix) * p["input_c"]
                taken.update(range(start, start + p["input_c"]))
    return taken


def _survives(p: dict, units: list[list[int]], lag: int) -> bool:
    """Whether every unit, writing all its output before reading its input, reads only unclobbered input.

    The output starts ``lag`` bytes before the input; clobbered holds input offsets already overwritten.
    """
    clobbered: set[int] = set()
    c = p["output_c"]
    for unit in units:
        for pixel in unit:
            clobbered.update(range(pixel * c - lag, (pixel + 1) * c - lag))
        if any(_window_bytes(p, pixel) & clobbered for pixel in unit):
            return False
    return True


def _pixels(p: dict) -> list[list[int]]:
    return [[k] for k in range(p["output_h"] * p["output_w"])]


def _pairs(p: dict) -> list[list[int]]:
    n = p["output_h"] * p["output_w"]
    return [list(range(k, min(k + 2, n))) for k in range(0, n, 2)]


def _bands(p: dict, rows: int) -> list[list[int]]:
    w, h = p["output_w"], p["output_h"]
    return [list(range(y * w, min(y + rows, h) * w)) for y in range(0, h, rows)]


ORDERS = {
    "pixel": (pixel_lag, _pixels),
    "pair": (pair_lag, _pairs),
    "band2": (lambda p: band_lag(p, 2), lambda p: _bands(p, 2)),
    "dsp_conv": (lambda p: units_lag(p, conv_units(p)), conv_units),
}


@pytest.mark.parametrize("order", sorted(ORDERS))
@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_lag_is_the_least_that_works(case: test_conv.Case, order: str) -> None:
    p = _params(case)
    lag_of, units_of = ORDERS[order]
    lag = lag_of(p)
    assert lag % LAG_ALIGNMENT == 0
    units = units_of(p)
    assert _survives(p, units, lag)
    assert not _survives(p, units, lag - LAG_ALIGNMENT)


PLANE_CASES = [c for c in CASES if c.kind == D.kind and c.dm == 1 and c.kh * c.kw <= 16]  # one gather: 16 taps


def _planes_survive(p: dict, rows: int, lag: int) -> bool:
    """Bands of ``rows`` output rows, one channel at a time: the band's input rows of the channel (the
    span its windows cover, inside the image) read, then the band's outputs of the channel written."""
    c_count, w_in, w_out = p["input_c"], p["input_w"], p["output_w"]
    window_h = (p["filter_h"] - 1) * p["dilation_h"] + 1
    clobbered: set[int] = set()
    for y0 in range(0, p["output_h"], rows):
        y1 = min(y0 + rows, p["output_h"])
        first = max(y0 * p["stride_h"] - p["pad_h"], 0)
        last = min((y1 - 1) * p["stride_h"] - p["pad_h"] + window_h, p["input_h"])
        for c in range(c_count):
            reads = {(y * w_in + x) * c_count + c for y in range(first, last) for x in range(w_in)}
            if reads & clobbered:
                return False
            clobbered.update((y * w_out + x) * c_count + c - lag for y in range(y0, y1) for x in range(w_out))
    return True


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
@pytest.mark.parametrize("case", PLANE_CASES, ids=lambda c: c.id())
def test_channel_plane_lag_is_the_least_that_works(case: test_conv.Case, rows: int) -> None:
    """The MVE depthwise kernel's order (bands, channel planes): the lag works, the next smaller lag
    that keeps channels and alignment does not."""
    p = _params(case)
    lag = channel_plane_lag(p, rows)
    step = math.lcm(p["input_c"], LAG_ALIGNMENT)
    assert lag % step == 0
    assert _planes_survive(p, rows, lag)
    assert lag == 0 or not _planes_survive(p, rows, lag - step)
    if rows >= p["output_h"]:
        assert lag == 0  # one band: every channel's outputs land on its own, already copied input


@pytest.mark.parametrize("case", PLANE_CASES, ids=lambda c: c.id())
def test_mve_depthwise_declares_its_channel_plane_lag(case: test_conv.Case) -> None:
    graph = read_tflite(test_conv.build(case)[0])
    call = lower(graph.operators[0], graph, ("mve",))
    assert call.inplace.lag == channel_plane_lag(_params(case), call.params["band_rows"])


def test_lag_of_a_same_size_window_is_two_pixels_and_a_row() -> None:
    """A 3x3 SAME window one pixel at a time: pixel (y, x) writes up to (y, x + 1) and next reads (y - 1, x - 1)."""
    p = _params(replace(D, h=25, w=5, cin=64))
    assert pixel_lag(p) == (5 + 2) * 64


def test_batches_are_not_run_in_place() -> None:
    p = _params(replace(C, n=2))
    assert pixel_lag(p) is None and pair_lag(p) is None and band_lag(p, 2) is None


# --------------------------------------------------------------------------- models in place, on the host


def _in_place(case: test_conv.Case, isa: str) -> bool:
    """Whether the kernel for ``case`` can overlap its output with its input: all but the MVE depthwise
    kernel with a depth multiplier (a band's outputs of every channel land on input still to be read)."""
    return not (isa == "mve" and case.kind == D.kind and case.dm != 1 and case.kh * case.kw <= 16)


@requires_tflm
@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_in_place_convolutions_match_tflm(case: test_conv.Case, target: str, tflm) -> None:
    model, x_shape, (lo, hi) = test_conv.build(case)
    wrapped = behind_copies(model)
    compiled = utvm.compile(wrapped, name="inplace", target=TARGETS[target])
    conv = compiled.metadata["operators"][1]
    if _in_place(case, "mve" if target == "mve" else "other"):
        assert "in_place_lag" in conv, f"{conv['kernel']} did not run in place"
        y_bytes = compiled.metadata["outputs"][0]["bytes"]
        x_bytes = int(np.prod(x_shape))
        assert compiled.metadata["memory"]["arena_bytes"] < x_bytes + y_bytes + 2 * LAG_ALIGNMENT
    else:
        assert "in_place_lag" not in conv
    runner = utvm.host.build(compiled)
    rng = np.random.default_rng(case.seed + 3)
    for _ in range(2):
        x = rng.integers(lo, hi + 1, size=x_shape).astype(np.int8)
        got, _ = runner.run([x])
        assert_same(got[0], tflm(wrapped, [x])[0])


@requires_tflm
@requires_arm_tools
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_in_place_convolutions_on_the_board(board: str, tmp_path, tflm) -> None:
    from utvm.cli_project import fetch_target

    built = [test_conv.build(case) for case in CASES]
    model = merge_models([behind_copies(m) for m, _, _ in built], "inplace")
    compiled = utvm.compile(model, name="inplace", target=fetch_target("baremetal_cmsis", board))
    convs = [op for op in compiled.metadata["operators"] if op["opcode"] != "MAX_POOL_2D"]
    isa = "mve" if board == "mps3-an547" else "dsp"
    assert [("in_place_lag" in op) for op in convs] == [_in_place(case, isa) for case in CASES], convs
    rng = np.random.default_rng(11)
    xs = [rng.integers(lo, hi + 1, size=shape).astype(np.int8) for _, shape, (lo, hi) in built]
    run_on_board(compiled, board, xs, tflm(model, xs), tmp_path)
