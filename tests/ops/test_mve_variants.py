"""The Armv8.1-M MVE (Helium) kernel variants, bit-exact with TFLite Micro.

The operator grids of tests/ops/ (convolution, depthwise convolution, fully
connected, ADD/SUB, pooling), plus cases aimed at the variants' own paths
(requantization shifts of every kind, odd pixel counts, rows shorter than a
vector, planes split into bands, lines shorter than 4), are compiled for the
Cortex-M55 board mps3-an547, whose target has the "mve" feature, so the MVE
variants replace the reference kernels.

- On the board (QEMU 7.2 emulates MVE): the single-operator models of a grid
  are merged into one model with many independent operators, so that one
  firmware image covers the grid; it runs to its end through the
  baremetal_cmsis standalone flow and every output must equal TFLite Micro's.
  About 10 s per grid.
- On the host: the same models with the variants' portable bodies, which read
  the same compile-time layouts (reordered weights, folded biases, schedules).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.frontend.model_builder import ModelBuilder
from utvm.frontend.tflite_reader import read_tflite

from . import test_conv, test_elementwise, test_fully_connected, test_pooling
from .support import assert_same, merge_models, random_tensor, requires_arm_tools, requires_tflm, run_on_board

pytestmark = requires_tflm

BOARD = "mps3-an547"
#: What the board's target_info says (features dsp, mve...), for compiling without the platform installed.
M55_TARGET = {"cpu": "cortex-m55", "features": ["dsp", "fpu", "mve", "mve.fp"], "board": BOARD}


#: One case: the model's bytes, a function drawing its inputs, and whether its operator must get an MVE kernel.
Item = tuple[bytes, Callable[[np.random.Generator], list[np.ndarray]], bool]


# --------------------------------------------------------------------------- merging models




# --------------------------------------------------------------------------- the grids


def _window_item(case: test_conv.Case) -> Item:
    model, shape, (lo, hi) = test_conv.build(case)
    if case.kind == "CONV_2D":
        uses_mve = case.groups == 1  # grouped convolution keeps the reference kernel
    else:
        # One gather holds at most 16 taps; one input channel goes to the convolution kernel.
        uses_mve = case.kh * case.kw <= 16 or case.cin == 1
    return model, lambda rng: [rng.integers(lo, hi + 1, size=shape).astype(np.int8)], uses_mve


def _fc_item(case: test_fully_connected.Case) -> Item:
    model, shape, (lo, hi) = test_fully_connected.build(case)
    return model, lambda rng: [rng.integers(lo, hi + 1, size=shape).astype(np.int8)], True


def _elementwise_item(case: test_elementwise.Case) -> Item:
    model = test_elementwise.build(case)
    shapes = [case.shape1] + ([] if case.const2 else [case.shape2])
    same_shapes = math.prod(case.shape1) == math.prod(case.shape2) == math.prod(case.out_shape)  # no broadcast
    uses_mve = case.opcode in ("ADD", "SUB") and case.dtype == "int8" and same_shapes
    return model, lambda rng: [random_tensor(rng, s, case.dtype) for s in shapes], uses_mve


def _pool_item(case: test_pooling.Case) -> Item:
    model = test_pooling.build(case)
    uses_mve = case.opcode == "MAX_POOL_2D" or case.filter[0] * case.filter[1] <= 256
    return model, lambda rng: next(test_pooling.pool_inputs(case, rng)), uses_mve


def _multiplier_model(kind: str, multipliers: Sequence[float], seed: int) -> Item:
    """A convolution whose per-channel real multipliers are exactly ``multipliers``.

    Input and output scales are 1 and the weight scales are the multipliers,
    so the requantization meets shifts of every kind: 0 (multipliers in
    [0.5, 1)), left shifts (> 1) and right shifts (< 0.5). Small weights and
    inputs near the zero point keep the outputs inside the int8 range.
    """
    rng = np.random.default_rng(seed)
    c = len(multipliers)
    mb = ModelBuilder(f"{kind.lower()}_multipliers")
    shape = (1, 6, 9, c) if kind == "DEPTHWISE_CONV_2D" else (1, 5, 7, 16)
    x = mb.input("x", shape, "int8", scale=1.0, zero_point=3)
    scales = [float(np.float32(m)) for m in multipliers]
    if kind == "DEPTHWISE_CONV_2D":
        w = mb.const("w", rng.integers(-3, 4, size=(1, 3, 3, c)).astype(np.int8), scale=scales, zero_point=0, axis=3)
        options = dict(depth_multiplier=1)
    elif kind == "CONV_2D":
        w = mb.const("w", rng.integers(-3, 4, size=(c, 1, 1, 16)).astype(np.int8), scale=scales, zero_point=0, axis=0)
        options = {}
    else:
        raise ValueError(kind)
    b = mb.const("b", rng.integers(-20, 21, size=c).astype(np.int32), scale=scales, zero_point=0)
    out_shape = (1, 6, 9, c) if kind == "DEPTHWISE_CONV_2D" else (1, 5, 7, c)
    y = mb.tensor("y", out_shape, "int8", scale=1.0, zero_point=-2)
    mb.op(kind, [x, w, b], [y], padding="SAME", stride_h=1, stride_w=1, dilation_h_factor=1, dilation_w_factor=1,
          fused_activation_function="NONE", **options)
    mb.output(y)
    return mb.build(), lambda r: [r.integers(-2, 9, size=shape).astype(np.int8)], True


def _rounding_ties_model(multipliers: Sequence[float], extra: Sequence[float] = (), per_multiplier: int = 8) -> Item:
    """A fully connected layer whose outputs are the biases requantized at rounding ties.

    The weights are zero, so each row's accumulator is its bias; the biases are
    chosen so that srdhm(bias, multiplier) sits exactly half way between two
    multiples of 2^right (the second rounding's tie), half of them negative:
    there rounding half away from zero (the reference) and half up (a bare
    VRSHL) differ. Rows cycle through the per-channel multipliers. ``extra``
    adds one row (bias 1000) per multiplier without ties, to steer the
    kernel's requantization form: one in [0.5, 1) (no right shift) or above 1
    (a left shift) makes the layer take the general form instead of the fast.
    """
    from utvm.quant import quantize_multiplier, saturating_rounding_doubling_high_mul

    scales, biases = [], []
    for real in multipliers:
        m, shift = quantize_multiplier(float(np.float32(real)))
        right = -shift
        if m == 0 or right <= 0:
            continue
        found = []
        for k in range(1, 100):
            for sign in (1, -1):
                target = sign * (k * 2**right + 2 ** (right - 1))
                b0 = (target * 2**31) // m
                for b in range(b0 - 4, b0 + 5):
                    if abs(b) < 2**31 - 1 and int(saturating_rounding_doubling_high_mul(np.array([b]), m)[0]) == target:
                        found.append(b)
                        break
            if len(found) >= per_multiplier:
                break
        scales += [float(np.float32(real))] * len(found)
        biases += found
    for real in extra:
        scales.append(float(np.float32(real)))
        biases.append(1000)
    units = len(biases)
    mb = ModelBuilder("fc_ties")
    x = mb.input("x", (1, 16), "int8", scale=1.0, zero_point=-7)
    w = mb.const("w", np.zeros((units, 16), np.int8), scale=scales, zero_point=0, axis=0)
    b = mb.const("b", np.asarray(biases, np.int32), scale=scales, zero_point=0)
    y = mb.tensor("y", (1, units), "int8", scale=1.0, zero_point=0)
    mb.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="NONE", keep_num_dims=False,
          weights_format="DEFAULT")
    mb.output(y)
    return mb.build(), lambda r: [r.integers(-128, 128, size=(1, 16)).astype(np.int8)], True


#: Every kind of requantization shift: 0, left 1..2, right 1..20, and one that flushes the multiplier to 0.
MULTIPLIERS = [0.75, 0.5, 0.999, 1.5, 3.0, 0.25, 2.0**-20, 0.6, 0.1, 1.0 / 3.0, 0.9, 2.5]

#: Multipliers for the rounding-tie rows (those below 0.5 have ties).
TIES = MULTIPLIERS + [0.3, 0.01, 1e-3, 2.0**-9 * 1.7]

C = test_conv.C
D = test_conv.D
F = test_fully_connected.F


def _grids() -> dict[str, list[Item]]:
    conv_extra = [
        replace(C, h=7, w=9, cin=16, cout=20, act="RELU"),  # 3x3 over 16 channels, odd pixel count
        replace(C, h=5, w=5, cin=64, cout=8, act="RELU6", seed=1),  # k = 576
        replace(C, h=5, w=7, cin=32, cout=12, kh=1, kw=1),  # 1x1 in place, odd pixel count
        replace(C, h=6, w=6, cin=8, cout=16, kh=1, kw=1, act="RELU"),  # 1x1 in place, k < 16
        replace(C, h=9, w=9, cin=24, cout=6, kh=1, kw=1, stride=(2, 2), padding="VALID"),  # strided 1x1
        replace(C, h=49, w=10, cin=1, cout=64, kh=10, kw=4, stride=(2, 2), act="RELU", in_zp=83, out_zp=-128),
        replace(C, h=12, w=12, cin=3, cout=8, stride=(2, 2), act="RELU", per_channel=False),
        replace(C, h=2, w=6, cin=16, cout=4, stride=(2, 2), padding="SAME"),  # window below the image, no top pad
        replace(C, h=6, w=2, cin=3, cout=4, stride=(2, 2), padding="SAME", seed=2),  # the same along x
    ]
    dw_extra = [
        replace(D, h=25, w=5, cin=16, act="RELU"),  # tall and narrow: groups run along y
        replace(D, h=40, w=44, cin=4, act="RELU6"),  # the plane does not fit: bands
        replace(D, h=41, w=39, cin=3, stride=(2, 2), seed=3),  # bands, stride 2
        replace(D, h=30, w=30, cin=2, dm=3, seed=4),  # bands, depth multiplier
        replace(D, h=3, w=3, cin=16),  # lines of 3: predicated groups
        replace(D, h=2, w=6, cin=5, padding="VALID", kh=2, kw=2, act="RELU"),  # one line of 5
        replace(D, h=6, w=6, cin=128, act="RELU"),  # vww's late layers
        replace(D, h=6, w=6, cin=8, scale="big"),  # left shifts: the general group path
        replace(D, h=9, w=7, cin=4, kh=4, kw=4, padding="SAME"),  # 16 taps
        replace(D, h=7, w=7, cin=4, kh=5, kw=5),  # 25 taps: the reference kernel
        replace(D, h=9, w=8, cin=1, dm=5, kh=5, kw=4, stride=(2, 2), act="RELU"),  # one channel: as a convolution
    ]
    fc_extra = [
        replace(F, x_shape=(3, 8), units=7, act="RELU"),  # k < 16, batches: the last row is copied
        replace(F, x_shape=(1, 640), units=130, act="RELU", per_channel=True),
        replace(F, x_shape=(5, 40), units=3, w_zp=7, in_zp=-9),  # the weights' zero point, per batch
    ]
    elementwise_extra = [
        replace(test_elementwise.A, shape1=(1, 32, 32, 16), shape2=(1, 32, 32, 16), act="RELU"),
        replace(test_elementwise.S, shape1=(1, 5, 7, 3), shape2=(1, 5, 7, 3), z1=-128, z2=127, zo=-128),
        replace(test_elementwise.A, shape1=(7,), shape2=(7,), s1=1.0, s2=1.0, so=1.01 / 2**19),
    ]
    return {
        "conv": [_window_item(c) for c in test_conv.CONV_CASES + conv_extra]
        + [_multiplier_model("CONV_2D", MULTIPLIERS, 5)],
        "depthwise": [_window_item(c) for c in test_conv.DW_CASES + dw_extra]
        + [_multiplier_model("DEPTHWISE_CONV_2D", MULTIPLIERS, 6)],
        "fully_connected": [_fc_item(c) for c in test_fully_connected.FC_CASES + fc_extra]
        + [_rounding_ties_model(TIES), _rounding_ties_model(TIES, [0.75]), _rounding_ties_model(TIES, [1.5])],
        "elementwise": [_elementwise_item(c) for c in test_elementwise.CASES + elementwise_extra],
        "pooling": [_pool_item(c) for c in test_pooling.CASES],
    }


GRIDS = _grids()


def _grid(name: str, seed: int = 0) -> tuple[bytes, list[np.ndarray], int]:
    """The merged model of a grid, one set of inputs, and how many of its operators must use MVE kernels."""
    items = GRIDS[name]
    rng = np.random.default_rng(seed)
    inputs = [x for _, draw, _ in items for x in draw(rng)]
    return merge_models([model for model, _, _ in items], name), inputs, sum(uses for _, _, uses in items)


def _compile(model: bytes, mve_expected: int) -> utvm.CompiledModel:
    compiled = utvm.compile(model, name="grid", target=M55_TARGET)
    kernels = [op["kernel"] for op in compiled.metadata["operators"]]
    mve = [k for k in kernels if k.endswith("_mve")]
    assert len(mve) == mve_expected, f"{len(mve)} MVE kernels, {mve_expected} expected: {kernels}"
    return compiled


@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_portable_bodies_on_host(grid: str) -> None:
    """The variants' layouts, read by their portable bodies on the host, give TFLM's outputs."""
    from utvm.reference import tflm_run

    model, inputs, mve_expected = _grid(grid)
    got, _ = utvm.host.build(_compile(model, mve_expected)).run(inputs)
    want = tflm_run(model, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_same(g, w)


@requires_arm_tools
@pytest.mark.parametrize("grid", sorted(GRIDS))
def test_mve_kernels_on_cortex_m55(grid: str, tmp_path, tflm) -> None:
    """The MVE kernels under QEMU (mps3-an547, Cortex-M55) give TFLM's outputs, byte for byte."""
    model, inputs, mve_expected = _grid(grid, seed=1)
    run_on_board(_compile(model, mve_expected), BOARD, inputs, tflm(model, inputs), tmp_path)


def test_merged_model_is_the_models_side_by_side() -> None:
    """merge_models keeps every model's operator, tensors and I/O (TFLM runs the merge like the parts)."""
    from utvm.reference import tflm_run

    items = GRIDS["pooling"][:3] + GRIDS["fully_connected"][:2]
    rng = np.random.default_rng(0)
    parts = [draw(rng) for _, draw, _ in items]
    merged = merge_models([model for model, _, _ in items])
    want = [y for (model, _, _), xs in zip(items, parts) for y in tflm_run(model, xs)]
    got = tflm_run(merged, [x for xs in parts for x in xs])
    assert len(got) == len(want) == len(items)
    for g, w in zip(got, want):
        assert_same(g, w)
    assert math.prod(read_tflite(merged).tensors[0].shape) > 0
