"""The Armv7E-M / Armv8-M DSP variants (core/ops/dsp.py, kernels/dsp/): bit-exact with TFLite Micro.

Three layers of evidence:

- the compile-time arithmetic: the fast requantization the variants prove
  exact (``fast_quant``) is checked against MultiplyByQuantizedMultiplier on
  random accumulators within the proven bounds, with a Python model of the
  kernel's instructions;
- the kernels' C on the host: the portable form of the DSP helpers (the same
  results as the instructions) on a grid of single-operator models compiled
  for a DSP target, each compared with TFLM;
- the kernels on an emulated Cortex-M4 (mps2-an386, QEMU, the
  baremetal_cmsis standalone flow): the grid merged into one model per
  operator family (every case an independent operator with its own input and
  output), built with arm-none-eabi-gcc -O2, so the assembly inner loops and
  the real SMLAD/SXTB16/SMMLAR run; the image compares every output with
  TFLM's. UTVM_DSP_BOARDS="mps2-an386 mps2-an500 mps2-an505" adds the M7 and
  M33. About 25 s for the M4.
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

import utvm
import utvm.host
from utvm.ops import dsp
from utvm.quant import multiply_by_quantized_multiplier

from . import test_conv, test_elementwise, test_fully_connected, test_pooling
from .support import assert_same, merge_models, requires_arm_tools, requires_tflm, run_on_board

#: A target with the DSP extension, as a platform's target_info describes one.
DSP_TARGET = {"cpu": "cortex-m4", "features": ["dsp"], "board": "dsp-test"}

C = test_conv.Case(in_zp=-128, out_zp=-128)
D = test_conv.Case(kind="DEPTHWISE_CONV_2D", cin=8, in_zp=-128, out_zp=-128)
F = test_fully_connected.Case(in_zp=-128)
A = test_elementwise.Case()
P = test_pooling.Case(shape=(1, 8, 8, 4))
M = test_pooling.Case(opcode="MAX_POOL_2D", shape=(1, 8, 8, 8), zero_point=-128)

# Every case here takes a DSP kernel (checked); the paths each exercises are named.
CONV_CASES = [
    # in place (input_c % 4 == 0): pairs of inside windows, border windows one at a time
    replace(C, kh=1, kw=1, h=5, w=5, cin=16, cout=16, act="RELU"),  # 25 positions: pairs across rows, one left
    replace(C, kh=1, kw=1, h=3, w=3, cin=4, cout=7, in_zp=5, out_zp=-3),  # 1 slice, odd channel count
    replace(C, kh=1, kw=1, h=4, w=4, cin=12, cout=5, stride=(2, 2), padding="VALID"),  # 3 slices (odd)
    replace(C, kh=3, kw=3, h=8, w=8, cin=16, cout=16),  # resnet: 3 segments, SAME borders
    replace(C, kh=3, kw=3, h=9, w=7, cin=8, cout=6, stride=(2, 2), act="RELU6"),  # clamped form
    replace(C, kh=3, kw=3, h=6, w=6, cin=4, cout=3, padding="VALID", in_zp=7, out_zp=9),
    replace(C, kh=5, kw=2, h=7, w=6, cin=8, cout=4, stride=(1, 2), act="RELU_N1_TO_1"),
    replace(C, kh=3, kw=3, h=1, w=1, cin=8, cout=2),  # only border
    replace(C, n=2, kh=3, kw=3, h=5, w=4, cin=4, cout=4),
    replace(C, n=2, kh=3, kw=3, h=5, w=5, cin=8, cout=6, act="RELU"),  # 9 inside windows a batch: one left
    replace(C, kh=1, kw=1, h=4, w=5, cin=8, cout=9, per_channel=False),
    replace(C, kh=3, kw=3, h=5, w=5, cin=8, cout=4, bias=False, in_zp=3),
    replace(C, kh=1, kw=1, h=4, w=4, cin=8, cout=6, scale="tiny"),  # bias ~2**30: constant channels
    replace(C, kh=1, kw=1, h=4, w=4, cin=8, cout=6, scale="flush"),  # multipliers 0
    replace(C, kh=3, kw=3, h=6, w=6, cin=8, cout=10, scale="wide"),
    # im2col (input_c % 4 != 0): columns on the stack, zero point in the padding
    replace(C, h=25, w=10, cin=1, cout=16, kh=10, kw=4, stride=(2, 2), act="RELU", in_zp=83),  # kws conv0
    replace(C, h=12, w=12, cin=3, cout=8, stride=(2, 2), act="RELU"),  # vww conv0 (no top/left padding)
    replace(C, h=8, w=8, cin=3, cout=16, act="RELU"),  # resnet conv0
    replace(C, h=5, w=7, cin=5, cout=3, kh=2, kw=2, padding="VALID", act="RELU6", in_zp=-5),
    replace(C, n=2, h=4, w=3, cin=2, cout=5, act="RELU_N1_TO_1", in_zp=20, out_zp=4),
    replace(C, n=2, h=3, w=3, cin=3, cout=4, in_zp=-7),  # 9 positions a batch: the last column alone
]

DW_CASES = [
    replace(D, h=9, w=5, cin=16, act="RELU"),  # kws-like: 3 x 3 rows of 3 and rows of 2 at the edges
    replace(D, h=8, w=8, cin=8, stride=(2, 2), padding="SAME"),  # vww stride 2
    replace(D, h=6, w=6, cin=4, padding="VALID", in_zp=5, out_zp=-7, act="RELU6"),
    replace(D, h=2, w=2, cin=8),  # every window cut on two sides
    replace(D, h=1, w=3, cin=4),  # one row: windows of 1 row
    replace(D, h=5, w=1, cin=4),  # one column: generic path (windows 1 wide)
    replace(D, h=7, w=6, cin=12, kh=5, kw=5, act="RELU_N1_TO_1"),  # generic path
    replace(D, h=7, w=6, cin=8, kh=3, kw=1, stride=(2, 1)),
    replace(D, n=2, h=4, w=4, cin=8, per_channel=False),
    replace(D, h=5, w=5, cin=8, bias=False, in_zp=9),
    replace(D, h=5, w=5, cin=8, scale="tiny"),
    replace(D, h=5, w=5, cin=16, scale="wide"),
    # channels % 4 != 0 (_tail): a last group of the last 4 channels
    replace(D, h=7, w=7, cin=6),  # 3 x 3
    replace(D, h=6, w=5, cin=7, stride=(2, 2), act="RELU", in_zp=4),
    replace(D, h=7, w=5, cin=5, kh=5, kw=5, act="RELU6"),  # generic path
    # one input channel, a depth multiplier (_c1): SMLAD on tap pairs
    replace(D, h=49, w=40, cin=1, dm=8, kh=10, kw=8, stride=(2, 2)),  # micro_speech: 2 quads, border copies
    replace(D, h=15, w=15, cin=1, dm=8, stride=(2, 2), padding="VALID", in_zp=1),  # person_detect: 3 rows of 1 quad
    replace(D, h=9, w=7, cin=1, dm=8, in_zp=7),  # SAME: rows cut, columns cut, last row's over-read copied
    replace(D, h=9, w=11, cin=1, dm=6, kh=5, kw=9, stride=(1, 2), act="RELU6"),  # 3 quads, a padded group, clamped
    replace(D, h=6, w=3, cin=1, dm=3, kw=2),  # rows narrower than a quad; only a padded group
    replace(D, h=5, w=2, cin=1, dm=4, kh=4, kw=4, padding="SAME", out_zp=5),  # every quad cut on both sides
    replace(D, n=2, h=5, w=6, cin=1, dm=5, scale="wide"),
    replace(D, h=6, w=6, cin=1),  # depth multiplier 1, one channel
    # any other depth multiplier, 2 or 3 channels (_mult): a byte a tap, groups of 4 or 2 channels
    replace(D, h=7, w=7, cin=2, dm=2, in_zp=9),
    replace(D, h=7, w=6, cin=3, dm=5, act="RELU_N1_TO_1"),
    replace(D, n=2, h=5, w=6, cin=2, dm=3, stride=(2, 2), bias=False),
    replace(D, h=6, w=6, cin=3, kh=5, kw=2, per_channel=False),  # 3 channels, depth multiplier 1
]

FC_CASES = [
    replace(F, x_shape=(1, 64), units=12, act="RELU"),  # 2 groups of 6
    replace(F, x_shape=(1, 40), units=13),  # 10 slices (even), one row left
    replace(F, x_shape=(1, 28), units=17, act="RELU6", in_zp=3),  # 7 slices (odd), 5 rows left
    replace(F, x_shape=(1, 18), units=7),  # depth % 4 == 2: tail
    replace(F, x_shape=(1, 3), units=6),  # depth < 4: the tail only
    replace(F, x_shape=(1, 4), units=1),
    replace(F, x_shape=(3, 20), units=8, act="RELU_N1_TO_1"),  # batches
    replace(F, x_shape=(1, 32), units=10, per_channel=True),  # per-row quantization
    replace(F, x_shape=(1, 16), units=6, bias=False),
    replace(F, x_shape=(1, 16), units=6, scale="tiny"),
    replace(F, x_shape=(1, 16), units=6, scale="flush"),
]

ADD_CASES = [
    A,
    replace(A, act="RELU", shape1=(1, 5, 3, 4), shape2=(1, 5, 3, 4)),
    replace(A, act="RELU6", z1=-128, z2=127, zo=-128),
    replace(A, opcode="SUB", act="RELU_N1_TO_1"),
    replace(A, opcode="SUB", s1=0.5, s2=0.001, so=0.4),
    replace(A, s1=0.001, s2=0.002, so=0.0001, shape1=(2, 3, 7), shape2=(2, 3, 7)),
    replace(A, const2=True),
]

POOL_CASES = [
    P,
    replace(P, shape=(1, 25, 5, 8), filter=(25, 5), stride=(25, 5)),  # kws: the whole image
    replace(P, shape=(1, 7, 6, 4), filter=(3, 3), stride=(2, 2), padding="SAME", activation="RELU6"),
    replace(P, shape=(2, 5, 5, 12), filter=(2, 3), stride=(1, 2), padding="SAME", activation="RELU_N1_TO_1",
            zero_point=100),
    replace(P, shape=(1, 16, 16, 4), filter=(15, 17), stride=(1, 1), padding="SAME"),  # 255 elements at most
]

MAX_POOL_CASES = [
    M,  # 2 x 2 windows
    replace(M, shape=(1, 7, 9, 12), filter=(3, 3), padding="SAME", activation="RELU6", zero_point=-20),
    replace(M, shape=(2, 5, 5, 6), filter=(2, 2), stride=(1, 1), padding="SAME", activation="RELU6"),  # tail
    replace(M, shape=(1, 6, 7, 5), filter=(3, 2), stride=(2, 1), activation="RELU_N1_TO_1", zero_point=3),
    replace(M, shape=(1, 4, 6, 4), filter=(4, 6), stride=(1, 1)),  # the whole image
    replace(M, shape=(1, 3, 3, 7), filter=(1, 1), stride=(1, 1), zero_point=127),
]


# --------------------------------------------------------------------------- cases as models


def _conv(case):
    model, x_shape, (lo, hi) = test_conv.build(case)
    return model, [(x_shape, lo, hi)]


def _fc(case):
    model, x_shape, (lo, hi) = test_fully_connected.build(case)
    return model, [(x_shape, lo, hi)]


def _add(case):
    shapes = [case.shape1] + ([] if case.const2 else [case.shape2])
    return test_elementwise.build(case), [(s, -128, 127) for s in shapes]


def _pool(case):
    return test_pooling.build(case), [(case.shape, -128, 127)]


FAMILIES = {
    "conv": (CONV_CASES, _conv, "utvm_dsp_conv_s8"),
    "depthwise": (DW_CASES, _conv, "utvm_dsp_depthwise_conv_s8"),
    "fully_connected": (FC_CASES, _fc, "utvm_dsp_fully_connected_s8"),
    "add": (ADD_CASES, _add, "utvm_dsp_add_s8"),
    "avg_pool": (POOL_CASES, _pool, "utvm_dsp_avg_pool_s8"),
    "max_pool": (MAX_POOL_CASES, _pool, "utvm_dsp_max_pool_s8"),
}

ALL = [(family, case) for family, (cases, _, _) in FAMILIES.items() for case in cases]


def _inputs(specs, rng: np.random.Generator) -> list[np.ndarray]:
    """Random inputs in each input's range, the range's ends in the first two elements."""
    xs = []
    for shape, lo, hi in specs:
        x = rng.integers(lo, hi + 1, size=shape).astype(np.int8)
        x.reshape(-1)[:2] = [lo, hi]
        xs.append(x)
    return xs




# --------------------------------------------------------------------------- the compile-time arithmetic


def _fast_form(acc: np.ndarray, triple: np.ndarray) -> np.ndarray:
    """utvm_dsp_requantize, instruction by instruction, in int64 (checking nothing wraps in int32)."""
    m, rnd, s = (int(v) for v in triple)
    a = acc.astype(np.int64) * 2
    assert m == 0 or np.all(np.abs(a) < 2**31), "the doubled accumulator must not wrap"
    t = rnd + ((a * m + 2**31) >> 32)  # SMMLAR
    t = t + np.where(acc < 0, -1, 0)
    assert np.all(np.abs(t) < 2**31)
    return t >> s


@pytest.mark.parametrize("seed", range(40))
def test_fast_requantization_is_multiply_by_quantized_multiplier(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 8
    mults = rng.integers(1 << 30, 1 << 31, size=n)
    mults[0] = 0 if seed % 5 == 0 else mults[0]
    shifts = rng.integers(-20 if seed % 2 else -31, 3 if seed % 3 == 0 else 0, size=n)  # some left shifts
    offset = int(rng.integers(-128, 128))
    span = int(2 ** rng.uniform(4, 31))
    lo = rng.integers(-span, span, size=n)
    hi = lo + rng.integers(0, span, size=n)
    quant = dsp.fast_quant(mults, shifts, offset, (lo, hi))
    if quant is None:
        return  # not provable: the variant keeps the reference kernel
    for c in range(n):
        acc = np.concatenate([rng.integers(lo[c], hi[c] + 1, size=4000), [lo[c], hi[c]]]).astype(np.int64)
        want = multiply_by_quantized_multiplier(acc, int(mults[c]), int(shifts[c])) + offset
        got = _fast_form(acc, quant.triples[c])
        np.testing.assert_array_equal(got, want, err_msg=f"channel {c}: {quant.triples[c]}")


def test_fast_requantization_rounding_ties() -> None:
    """Accumulators whose product lands exactly on both roundings' halfway points."""
    for shift in (-1, -2, -5, -13):
        m = 1 << 30  # real multiplier 0.5 * 2**shift
        acc = np.arange(-5000, 5000, dtype=np.int64)
        quant = dsp.fast_quant(np.array([m]), np.array([shift]), -3, (acc[:1], acc[-1:]))
        assert quant is not None
        want = multiply_by_quantized_multiplier(acc, m, shift) - 3
        np.testing.assert_array_equal(_fast_form(acc, quant.triples[0]), want)


def test_unprovable_requantization_is_refused() -> None:
    big = np.array([1 << 30]), np.array([-10])
    assert dsp.fast_quant(*big, 0, (np.array([-(1 << 30)]), np.array([1 << 30]))) is None  # doubled overflows
    assert dsp.fast_quant(np.array([1 << 30]), np.array([0]), 0, (np.array([-5]), np.array([5]))) is None  # shift 0
    assert dsp.fast_quant(np.array([1 << 30]), np.array([2]), 0, (np.array([-5]), np.array([5]))) is None  # scale > 1
    # |round| + |x| could leave int32: a large offset times 2^shift.
    assert dsp.fast_quant(np.array([1 << 30]), np.array([-25]), -128, (np.array([-(1 << 29)]), np.array([1 << 29]))) is None


def test_constant_channel_round_term() -> None:
    """A channel whose output is the same for every accumulator: multiplier 0, the value in round."""
    quant = dsp.fast_quant(np.array([1 << 30]), np.array([-20]), 7, (np.array([-100]), np.array([100])))
    assert quant is not None and quant.triples[0][0] == 0
    acc = np.arange(-100, 101, dtype=np.int64)
    np.testing.assert_array_equal(_fast_form(acc, quant.triples[0]), np.full(acc.shape, 7))


def test_weight_layouts() -> None:
    w = (np.arange(7 * 14, dtype=np.int64) - 49).astype(np.int8).reshape(7, 14)  # 7 rows, depth 14
    conv = dsp.conv_weights_layout(w, 16)
    # Pair 0, slice 1: channel 0's bytes 4..7, then channel 1's.
    assert conv[8:16].tolist() == w[0, 4:8].tolist() + w[1, 4:8].tolist()
    # The odd last channel, padded with zeros to 16.
    assert conv[-16:].tolist() == w[6].tolist() + [0, 0]
    fc = dsp.fc_weights_layout(w)
    assert fc[:24].reshape(6, 4).tolist() == w[:6, :4].tolist()  # slice 0 of the six rows of group 0
    assert fc[-16:].tolist() == w[6].tolist() + [0, 0]
    dw = dsp.depthwise_weights_layout(np.arange(16, dtype=np.int8).reshape(2, 8))  # 2 taps, 8 channels
    assert dw[:8].tolist() == [0, 2, 1, 3, 8, 10, 9, 11]  # group 0: tap 0 then tap 1, as (c0, c2, c1, c3)
    tail = dsp.depthwise_weights_layout(np.arange(12, dtype=np.int8).reshape(2, 6))  # 6 channels: 0-3, 2-5
    assert tail.reshape(2, 2, 4).tolist() == [[[0, 2, 1, 3], [6, 8, 7, 9]], [[2, 4, 3, 5], [8, 10, 9, 11]]]
    w1 = (np.arange(3 * 5 * 6) - 40).astype(np.int8).reshape(15, 6)  # one input channel: 3 x 5 taps, 6 channels
    c1 = dsp.depthwise_c1_weights_layout(w1, 3, 5).reshape(2, 3, 2, 4, 4)  # group, row, quad, channel, taps
    taps = w1.reshape(3, 5, 6)
    assert c1[0, 1, 0, 2].tolist() == taps[1, [0, 2, 1, 3], 2].tolist()  # row 1, quad 0, channel 2: t0 t2 t1 t3
    assert c1[1, 2, 1, 1].tolist() == [taps[2, 4, 5], 0, 0, 0]  # the last quad: tap 4 only; channel 5
    assert not c1[1, :, :, 2:].any()  # channels 6 and 7: padding
    assert dsp.depthwise_mult_order(2, 3).tolist() == [0, 1, 2, -1, 3, 4, 5, -1]
    assert dsp.depthwise_mult_order(3, 1).tolist() == [0, -1, 1, -1, 2, -1]  # groups of 2


def test_variants_follow_the_target_features() -> None:
    model, _ = _conv(CONV_CASES[0])
    kernels = lambda target: [o["kernel"] for o in utvm.compile(model, target=target).metadata["operators"]]
    assert kernels(DSP_TARGET) == ["utvm_dsp_conv_s8_full"]
    assert kernels({"cpu": "cortex-m3", "features": []}) == ["utvm_conv_s8"]
    assert kernels("host") == ["utvm_conv_s8"]


def test_cases_take_the_dsp_kernels() -> None:
    for family, (cases, make, kernel) in FAMILIES.items():
        for case in cases:
            model, _ = make(case)
            got = utvm.compile(model, target=DSP_TARGET).metadata["operators"][0]["kernel"]
            assert got.startswith(kernel), f"{family} {case.id()}: {got}"


# --------------------------------------------------------------------------- on the host


@requires_tflm
@pytest.mark.parametrize("family, case", ALL, ids=[f"{f}-{c.id()}" for f, c in ALL])
def test_portable_form_matches_tflm(family: str, case, tflm) -> None:
    model, specs = FAMILIES[family][1](case)
    runner = utvm.host.build(utvm.compile(model, name="dsp_case", target=DSP_TARGET))
    rng = np.random.default_rng(case.seed + 17)
    for _ in range(2):
        xs = _inputs(specs, rng)
        got, _ = runner.run(xs)
        want = tflm(model, xs)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w)


def test_depthwise_kernels_by_shape() -> None:
    """Depth multiplier 1: groups of 4 channels (a last group of the last 4 for a tail); one input channel:
    tap pairs (_c1; the kernel for any depth multiplier when its window copy would be over 512 bytes);
    the rest: a byte a tap (_mult)."""
    cases = [
        (replace(D, cin=8), "utvm_dsp_depthwise_conv_s8_full"),
        (replace(D, cin=6), "utvm_dsp_depthwise_conv_s8_tail_full"),
        (replace(D, cin=6, act="RELU6"), "utvm_dsp_depthwise_conv_s8_tail"),
        (replace(D, cin=1, dm=8), "utvm_dsp_depthwise_conv_s8_c1_full"),
        (replace(D, cin=1), "utvm_dsp_depthwise_conv_s8_c1_full"),
        (replace(D, cin=1, dm=2, kh=40, kw=16, h=40, w=16), "utvm_dsp_depthwise_conv_s8_mult_full"),
        (replace(D, cin=2, dm=2), "utvm_dsp_depthwise_conv_s8_mult_full"),
        (replace(D, cin=3), "utvm_dsp_depthwise_conv_s8_mult_full"),
    ]
    for case, kernel in cases:
        model, _ = _conv(case)
        assert utvm.compile(model, target=DSP_TARGET).metadata["operators"][0]["kernel"] == kernel, case.id()


def test_models_fall_back_where_no_variant_applies() -> None:
    """Grouped, dilated, weights' zero point, broadcast, MAX_POOL with fewer than 4 channels, an effective
    scale of 1 or more (no right shift to round with): the reference kernels."""
    cases = [
        (_conv, replace(C, kh=3, kw=3, h=5, w=5, cin=8, cout=4, scale="big"), "utvm_conv_s8"),
        (_conv, replace(D, h=5, w=5, cin=8, scale="big"), "utvm_depthwise_conv_s8"),
        (_conv, replace(D, h=5, w=5, cin=1, dm=8, scale="big"), "utvm_depthwise_conv_s8"),
        (_fc, replace(F, x_shape=(1, 16), units=6, scale="big"), "utvm_fully_connected_s8"),
        (_conv, replace(C, cin=4, cout=6, groups=2), "utvm_conv_s8"),
        (_conv, replace(C, cin=8, dilation=(2, 2)), "utvm_conv_s8"),
        (_conv, replace(D, cin=8, dilation=(2, 2)), "utvm_depthwise_conv_s8"),
        (_conv, replace(C, cin=3, kh=11, kw=11, h=12, w=12), "utvm_conv_s8"),  # column over 256 bytes
        (_fc, replace(F, w_zp=3), "utvm_fully_connected_s8"),
        (_add, replace(A, shape2=(1, 1, 1, 8)), "utvm_add_s8"),
        (_pool, replace(P, opcode="MAX_POOL_2D", shape=(1, 8, 8, 3)), "utvm_max_pool_s8"),
        (_pool, replace(P, shape=(1, 8, 8, 3)), "utvm_avg_pool_s8"),
    ]
    for make, case, kernel in cases:
        model, _ = make(case)
        assert utvm.compile(model, target=DSP_TARGET).metadata["operators"][0]["kernel"] == kernel, case.id()


# --------------------------------------------------------------------------- on the emulated Cortex-M


def _boards() -> list[str]:
    return os.environ.get("UTVM_DSP_BOARDS", "mps2-an386").split()


@requires_tflm
@requires_arm_tools
@pytest.mark.parametrize("board", _boards())
@pytest.mark.parametrize("family", list(FAMILIES))
def test_kernels_on_the_board_match_tflm(family: str, board: str, tmp_path, tflm) -> None:
    from utvm.cli_project import fetch_target

    cases, make, kernel = FAMILIES[family]
    parts = [make(case) for case in cases]
    model = merge_models([m for m, _ in parts], f"dsp_{family}")
    target = fetch_target("baremetal_cmsis", board)
    assert "dsp" in target["features"]
    compiled = utvm.compile(model, name=f"dsp_{family}", target=target)
    used = {o["kernel"] for o in compiled.metadata["operators"]}
    assert all(k.startswith(kernel) for k in used), used
    rng = np.random.default_rng(5)
    xs = [x for _, specs in parts for x in _inputs(specs, rng)]
    run_on_board(compiled, board, xs, tflm(model, xs), tmp_path)
